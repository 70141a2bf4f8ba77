//! The HTTP API: one router from `http::Request` to `http::Response`, served by every Lambda
//! (each its own share of the routes) and by the local runner (all of them).

mod auth;
mod body;
mod integrations;
mod openapi;
mod platform;
mod problem;
mod revoke;
mod routes;

use std::{sync::Arc, time::Instant};

use bytes::Bytes;
use http::{Request, Response};

pub use auth::{AuthContext, Claims};
pub use openapi::document as openapi_document;
pub use problem::{ApiError, MAX_BODY_BYTES};
pub use routes::{Access, Function, Op, ROUTES, Route, Scope};

use crate::{
    config::Settings,
    domain::Provider,
    ports::{Clock, Secrets, Store},
};

/// What every handler works with; built once per cold start.
#[derive(Clone)]
pub struct App {
    /// Everything stored that is not a secret.
    pub store: Arc<dyn Store>,
    /// Partner credentials.
    pub secrets: Arc<dyn Secrets>,
    /// Time.
    pub clock: Arc<dyn Clock>,
    /// Deployment settings.
    pub settings: Arc<Settings>,
}

/// Answers one request. `claims` are the verified token's claims (`None` when the request
/// carried no token). Never fails: every error becomes a problem response.
pub async fn handle(
    app: &App,
    scope: Scope,
    req: Request<Bytes>,
    claims: Option<&Claims>,
) -> Response<Bytes> {
    let started = Instant::now();
    let method = req.method().clone();
    let mut route_path = "(unmatched)";
    let mut tenant = None;
    let result = async {
        let (route, params) = routes::find(scope, req.method(), req.uri().path())?;
        route_path = route.path;
        let caller = match (route.access, claims) {
            (Access::Public, _) => None,
            (_, None) => return Err(ApiError::Unauthenticated),
            (access, Some(claims)) => {
                let ctx = AuthContext::from_claims(claims, &app.settings.claims)?;
                tenant = Some(ctx.tenant.to_string());
                if access == Access::Admin && !ctx.is_admin {
                    return Err(ApiError::Forbidden);
                }
                Some(ctx)
            }
        };
        if req.body().len() > MAX_BODY_BYTES {
            return Err(ApiError::PayloadTooLarge);
        }
        dispatch(app, route, &params, caller.as_ref(), &req).await
    }
    .await;
    let response = result.unwrap_or_else(ApiError::into_response);
    // Route templates, never concrete paths or query strings: OAuth codes travel in queries.
    tracing::info!(
        method = %method,
        route = route_path,
        status = response.status().as_u16(),
        tenant = tenant.as_deref().unwrap_or("-"),
        duration_ms = started.elapsed().as_millis() as u64,
        "request"
    );
    response
}

async fn dispatch(
    app: &App,
    route: &Route,
    params: &routes::Params,
    caller: Option<&AuthContext>,
    req: &Request<Bytes>,
) -> Result<Response<Bytes>, ApiError> {
    let provider = || body::path_param(params, "provider", str::parse::<Provider>);
    // Public routes have no caller; every other route has one (checked in `handle`).
    let tenant = || caller.map(|c| &c.tenant).ok_or(ApiError::Unauthenticated);
    match route.op {
        Op::OpenApi => Ok(openapi::serve()),
        Op::ListIntegrations => integrations::list(app, tenant()?).await,
        Op::ListPlans => platform::list_plans(app, tenant()?, req).await,
        Op::GetPlan => platform::get_plan(app, tenant()?, params).await,
        Op::PutPlan => platform::put_plan(app, tenant()?, params, req).await,
        Op::ListOrganizations => platform::list_organizations(app, tenant()?, req).await,
        Op::GetOrganization => platform::get_organization(app, tenant()?, params).await,
        Op::PutOrganization => platform::put_organization(app, tenant()?, params, req).await,
        Op::Revoke => revoke::revoke(app, tenant()?, provider()?).await,
        Op::ListAssets => Err(not_yet("Asset import", None)),
        op => {
            let provider = provider()?;
            Err(not_yet(feature_name(op), Some(provider)))
        }
    }
}

/// Partner words for a provider feature whose vendor work has not landed.
fn feature_name(op: Op) -> &'static str {
    match op {
        Op::Connect => "connecting",
        Op::OauthCallback => "the OAuth callback",
        Op::GetConfiguration | Op::PutConfiguration | Op::DeleteConfiguration => "configuration",
        Op::Options => "configuration options",
        Op::Catalog => "the mapping catalog",
        Op::ListPlanMappings | Op::PutPlanMapping | Op::DeletePlanMapping => "plan mapping",
        Op::ListOrgMappings | Op::PutOrgMapping | Op::DeleteOrgMapping | Op::AutoMatch => {
            "organization mapping"
        }
        Op::StartSync | Op::ListSyncRuns | Op::GetSyncRun => "sync",
        Op::RaiseTicket => "tickets",
        _ => "this feature",
    }
}

fn not_yet(feature: &str, provider: Option<Provider>) -> ApiError {
    ApiError::NotImplemented(match provider {
        Some(p) => format!(
            "{} {feature} is not available in this build yet",
            p.display_name()
        ),
        None => format!("{feature} is not available in this build yet"),
    })
}
