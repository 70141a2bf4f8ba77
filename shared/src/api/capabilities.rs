//! What each provider offers, route by route. Routing answers a route a provider lacks with a
//! 404 saying so, and the API document is tested against the same rule, so the per-provider
//! paths it lists are exactly the ones that work.

use http::Method;

use super::{ApiError, Op, ROUTES};
use crate::{
    app::App,
    domain::{Provider, SyncKind},
    ports::Integration,
};

/// What `provider` syncs: seats (PSAs), assets (RMMs), and the imports it has.
pub(super) fn syncable_kinds(integration: &dyn Integration) -> Vec<SyncKind> {
    let mut kinds = Vec::new();
    if integration.seat_sync().is_some() {
        kinds.push(SyncKind::Seats);
    }
    if integration.asset_source().is_some() {
        kinds.push(SyncKind::Assets);
    }
    if let Some(importer) = integration.importer() {
        kinds.extend(importer.import_kinds().iter().map(|k| k.sync_kind()));
    }
    kinds
}

/// Whether `integration` offers `op`; `Err` says, in a sentence, what it lacks.
fn offers(integration: &dyn Integration, op: Op) -> Result<(), &'static str> {
    let mapper = integration.mapper();
    let ok = |has: bool, lack: &'static str| if has { Ok(()) } else { Err(lack) };
    match op {
        Op::Connect => ok(
            integration.connector().is_some() || integration.consent().is_some(),
            "has no way to connect",
        ),
        Op::OauthCallback => ok(
            integration.consent().is_some(),
            "has no OAuth consent: it connects with API credentials",
        ),
        Op::GetConfiguration | Op::PutConfiguration | Op::DeleteConfiguration | Op::Options => {
            ok(integration.configurator().is_some(), "has no configuration")
        }
        Op::Catalog | Op::ListOrgMappings | Op::PutOrgMapping | Op::DeleteOrgMapping => {
            ok(mapper.is_some(), "has no mapping")
        }
        Op::ListPlanMappings | Op::PutPlanMapping | Op::DeletePlanMapping => ok(
            mapper.is_some_and(|m| m.maps_plans()),
            "maps organizations only, not plans",
        ),
        Op::AutoMatch => ok(
            mapper.is_some_and(|m| m.match_target().is_some()),
            "has no organization auto-match: its links need more than a name, so organizations are mapped one by one",
        ),
        Op::StartSync | Op::ListSyncRuns | Op::GetSyncRun => ok(
            !syncable_kinds(integration).is_empty(),
            "has nothing to sync",
        ),
        Op::RaiseTicket => ok(integration.ticket_desk().is_some(), "has no tickets"),
        Op::RaiseOpportunity => ok(
            integration.opportunity_desk().is_some(),
            "has no opportunities",
        ),
        Op::ListImports => ok(integration.importer().is_some(), "has no imports"),
        _ => Ok(()),
    }
}

/// Refuses `op` on `provider` with a 404 when the provider does not offer it.
pub(super) fn require(app: &App, provider: Provider, op: Op) -> Result<(), ApiError> {
    let name = provider.display_name();
    let integration = app
        .integrations
        .get(provider)
        .ok_or_else(|| ApiError::NotFound(format!("{name} is not set up in this deployment")))?;
    offers(integration, op).map_err(|lack| ApiError::NotFound(format!("{name} {lack}")))
}

/// The concrete paths `provider` answers (`{provider}` filled in), with their methods: what
/// the API document must list for it.
pub fn provider_routes(app: &App, provider: Provider) -> Vec<(Method, String)> {
    let Some(integration) = app.integrations.get(provider) else {
        return Vec::new();
    };
    ROUTES
        .iter()
        .filter(|r| r.path.contains("{provider}") && offers(integration, r.op).is_ok())
        .map(|r| {
            let path = r.path.replace("{provider}", provider.as_str());
            (r.method.clone(), path)
        })
        .collect()
}
