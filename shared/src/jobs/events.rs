//! Platform events: a seat count changed, an alert or an opportunity was raised. Events about organizations no
//! connected PSA maps are acknowledged as skipped, never retried forever.

use serde::{Deserialize, Serialize};

use super::{JobError, opportunities, runs, tickets};
use crate::{
    app::App,
    domain::{
        Alert, ConnectionStatus, OpportunityRequest, OrgId, Organization, Provider, SyncTrigger,
        TenantId,
    },
    ports::RunRequest,
};

/// `detail` of "Organization Seats Changed".
#[derive(Clone, Debug, Deserialize)]
pub struct SeatsChanged {
    /// The partner.
    pub tenant_id: TenantId,
    /// The organization.
    pub org_id: OrgId,
    /// Its new seat count.
    pub seats: u32,
}

/// `detail` of "Alert Raised".
#[derive(Clone, Debug, Deserialize)]
pub struct AlertRaised {
    /// The partner.
    pub tenant_id: TenantId,
    /// The organization.
    pub org_id: OrgId,
    /// Stable key of the alert.
    pub dedupe_key: String,
    /// Ticket title.
    pub title: String,
    /// Ticket text.
    #[serde(default)]
    pub description: String,
}

/// `detail` of "Opportunity Raised": the partner, and the body of
/// `POST /v1/integrations/{provider}/opportunities`.
#[derive(Clone, Debug, Deserialize)]
pub struct OpportunityRaised {
    /// The partner.
    pub tenant_id: TenantId,
    /// The opportunity.
    #[serde(flatten)]
    pub opportunity: OpportunityRequest,
}

/// What an event led to, per provider.
#[derive(Clone, Debug, Serialize)]
pub struct EventOutcome {
    /// Providers acted on, with what was done.
    pub acted: Vec<(Provider, String)>,
    /// Why nothing was done, when nothing was.
    pub skipped: Option<String>,
}

impl EventOutcome {
    fn skipped(reason: impl Into<String>) -> Self {
        Self {
            acted: Vec::new(),
            skipped: Some(reason.into()),
        }
    }
}

/// Connected providers of the tenant that map `org`.
async fn mapped_providers(
    app: &App,
    tenant: &TenantId,
    org: &OrgId,
) -> Result<Vec<Provider>, JobError> {
    let mut providers = Vec::new();
    for connection in app.store.list_connections(tenant).await? {
        let provider = connection.provider();
        if connection.status == ConnectionStatus::Connected
            && app
                .store
                .get_org_mapping(tenant, provider, org)
                .await?
                .is_some()
        {
            providers.push(provider);
        }
    }
    Ok(providers)
}

/// Records the new seat count and syncs that one organization on every connected PSA that
/// maps it and has seat sync on.
pub async fn seats_changed(app: &App, event: &SeatsChanged) -> Result<EventOutcome, JobError> {
    let tenant = &event.tenant_id;
    let Some(org) = app.store.get_organization(tenant, &event.org_id).await? else {
        return Ok(EventOutcome::skipped(format!(
            "organization {} is not known here",
            event.org_id
        )));
    };
    if org.seats != event.seats {
        let updated = Organization {
            seats: event.seats,
            updated_at: app.clock.now(),
            ..org
        };
        app.store.put_organization(tenant, &updated).await?;
    }
    let mut outcome = EventOutcome {
        acted: Vec::new(),
        skipped: None,
    };
    for provider in mapped_providers(app, tenant, &event.org_id).await? {
        let seats_on = runs::seat_sync_on(app, tenant, provider).await?;
        if !seats_on {
            continue;
        }
        let request = RunRequest {
            tenant: tenant.clone(),
            provider,
            run_id: None,
            trigger: SyncTrigger::Event,
            org: Some(event.org_id.clone()),
        };
        let done = match &app.queue {
            Some(queue) => queue
                .enqueue(&request, std::time::Duration::ZERO)
                .await
                .map(|()| "queued".to_owned())?,
            None => match runs::execute(app, &request).await {
                Ok(run) => format!("run {} {:?}", run.id, run.status),
                Err(JobError::Busy) => {
                    "busy: the running sync picks the new count up next time".into()
                }
                Err(e) => return Err(e),
            },
        };
        outcome.acted.push((provider, done));
    }
    if outcome.acted.is_empty() {
        outcome.skipped = Some("no connected PSA maps this organization with seat sync on".into());
    }
    Ok(outcome)
}

/// Opens (or notes) a ticket on every connected PSA that maps the organization.
pub async fn alert_raised(app: &App, event: &AlertRaised) -> Result<EventOutcome, JobError> {
    let alert = Alert {
        org_id: event.org_id.clone(),
        dedupe_key: event.dedupe_key.clone(),
        title: event.title.clone(),
        description: event.description.clone(),
    };
    let mut outcome = EventOutcome {
        acted: Vec::new(),
        skipped: None,
    };
    for provider in mapped_providers(app, &event.tenant_id, &event.org_id).await? {
        if app
            .integrations
            .get(provider)
            .and_then(|i| i.ticket_desk())
            .is_none()
        {
            continue;
        }
        match tickets::raise(app, &event.tenant_id, provider, &alert).await {
            Ok(t) => outcome
                .acted
                .push((provider, format!("ticket {} {:?}", t.ticket_id, t.action))),
            // Not configured for tickets: nothing to retry.
            Err(JobError::Precondition(reason)) => {
                outcome.acted.push((provider, format!("skipped: {reason}")))
            }
            Err(e) => return Err(e),
        }
    }
    if outcome.acted.is_empty() {
        outcome.skipped = Some("no connected PSA maps this organization".into());
    }
    Ok(outcome)
}

/// Raises the opportunity on every connected PSA that links the organization and takes
/// opportunities.
pub async fn opportunity_raised(
    app: &App,
    event: &OpportunityRaised,
) -> Result<EventOutcome, JobError> {
    let request = &event.opportunity;
    let mut outcome = EventOutcome {
        acted: Vec::new(),
        skipped: None,
    };
    for provider in mapped_providers(app, &event.tenant_id, &request.org_id).await? {
        if app
            .integrations
            .get(provider)
            .and_then(|i| i.opportunity_desk())
            .is_none()
        {
            continue;
        }
        match opportunities::raise(app, &event.tenant_id, provider, request).await {
            Ok(o) => outcome.acted.push((
                provider,
                format!("opportunity {} {:?}", o.opportunity_id, o.action),
            )),
            // No owner or stage chosen: nothing to retry.
            Err(JobError::Precondition(reason)) => {
                outcome.acted.push((provider, format!("skipped: {reason}")))
            }
            Err(e) => return Err(e),
        }
    }
    if outcome.acted.is_empty() {
        outcome.skipped =
            Some("no connected PSA that takes opportunities links this organization".into());
    }
    Ok(outcome)
}
