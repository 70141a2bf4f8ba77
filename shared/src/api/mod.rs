//! The HTTP API: one router from `http::Request` to `http::Response`, served by every Lambda
//! (each its own share of the routes) and by the local runner (all of them).

mod attempts;
mod audit;
mod auth;
mod automatch;
mod body;
mod capabilities;
mod configuration;
mod connect;
mod idempotency;
mod imports;
mod integrations;
mod mapping;
mod oauth;
mod openapi;
mod platform;
mod problem;
mod revoke;
mod routes;
mod sync;
mod vendor;

use std::time::Instant;

use bytes::Bytes;
use http::{Request, Response};

pub use auth::{AuthContext, Claims};
pub use body::field_of_serde_message;
pub use capabilities::provider_routes;
pub use openapi::document as openapi_document;
pub use problem::{ApiError, MAX_BODY_BYTES};
pub use routes::{Access, Function, Op, ROUTES, Route, Scope};

pub use crate::app::App;
use crate::{context, domain::Provider};

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
        match &caller {
            Some(c) => {
                let on_behalf = context::Caller {
                    tenant: c.tenant.clone(),
                    actor: c.subject.clone(),
                };
                // Boxed: every handler's future is a variant of this one, too large for the
                // 2 MiB stacks of the runner's worker threads in debug builds.
                let work = Box::pin(dispatch(app, route, &params, caller.as_ref(), &req));
                let answer = async { work.await.unwrap_or_else(ApiError::into_response) };
                let work = async {
                    if req.method() == http::Method::POST {
                        idempotency::once(app, &c.tenant, &req, answer).await
                    } else {
                        Ok(answer.await)
                    }
                };
                context::with_caller(on_behalf, work).await
            }
            None => Box::pin(dispatch(app, route, &params, None, &req)).await,
        }
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
    if route.path.contains("{provider}") {
        capabilities::require(app, provider()?, route.op)?;
    }
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
        Op::Connect => connect::connect(app, tenant()?, provider()?, req).await,
        Op::GetConfiguration => configuration::get(app, tenant()?, provider()?).await,
        Op::PutConfiguration => configuration::put(app, tenant()?, provider()?, req).await,
        Op::DeleteConfiguration => configuration::delete(app, tenant()?, provider()?).await,
        Op::Options => configuration::options(app, tenant()?, provider()?, params, req).await,
        Op::Catalog => mapping::catalog(app, tenant()?, provider()?, params, req).await,
        Op::ListPlanMappings => mapping::list_plans(app, tenant()?, provider()?).await,
        Op::PutPlanMapping => mapping::put_plan(app, tenant()?, provider()?, params, req).await,
        Op::DeletePlanMapping => mapping::delete_plan(app, tenant()?, provider()?, params).await,
        Op::ListOrgMappings => mapping::list_orgs(app, tenant()?, provider()?).await,
        Op::PutOrgMapping => mapping::put_org(app, tenant()?, provider()?, params, req).await,
        Op::DeleteOrgMapping => mapping::delete_org(app, tenant()?, provider()?, params).await,
        Op::StartSync => sync::start(app, tenant()?, provider()?, req).await,
        Op::ListSyncRuns => sync::list(app, tenant()?, provider()?, req).await,
        Op::GetSyncRun => sync::get(app, tenant()?, provider()?, params).await,
        Op::RaiseTicket => sync::ticket(app, tenant()?, provider()?, req).await,
        Op::RaiseOpportunity => sync::opportunity(app, tenant()?, provider()?, req).await,
        Op::ListAssets => platform::list_assets(app, tenant()?, params).await,
        Op::AutoMatch => automatch::auto_match_orgs(app, tenant()?, provider()?, req).await,
        Op::ListAudit => audit::list(app, tenant()?, req).await,
        Op::ListImports => imports::list(app, tenant()?, provider()?, params, req).await,
        Op::OauthCallback => {
            let provider = provider()?;
            let consent = vendor::capability(app, provider, "OAuth consent", |i| i.consent())?;
            oauth::callback(app, provider, consent, req).await
        }
    }
}
