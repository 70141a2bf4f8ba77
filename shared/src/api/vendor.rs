//! Helpers for routes that talk to a vendor: capabilities, sessions, `If-Match`.

use bytes::Bytes;
use http::{Request, header};

use super::ApiError;
use crate::{
    app::App,
    domain::{Provider, TenantId},
    jobs::session,
    ports::{Expect, Integration, Session, StoreError, VendorError},
};

/// The provider's capability `pick`, or a 404 saying the provider has no such feature.
pub(super) fn capability<'a, T: ?Sized>(
    app: &'a App,
    provider: Provider,
    feature: &str,
    pick: impl FnOnce(&'a dyn Integration) -> Option<&'a T>,
) -> Result<&'a T, ApiError> {
    app.integrations
        .get(provider)
        .and_then(pick)
        .ok_or_else(|| ApiError::NotFound(format!("{} has no {feature}", provider.display_name())))
}

/// The tenant's session with `provider` (409 when not connected or needing a re-connect).
pub(super) async fn open(
    app: &App,
    tenant: &TenantId,
    provider: Provider,
) -> Result<Session, ApiError> {
    Ok(session::open(app, tenant, provider).await?)
}

/// A vendor failure, after marking the connection when the vendor refused its credentials.
pub(super) async fn failed(app: &App, session: &Session, error: VendorError) -> ApiError {
    ApiError::Job(session::vendor_failed(app, session, error).await)
}

/// `If-Match: "3"` as an expected version; no header writes unconditionally.
pub(super) fn if_match(req: &Request<Bytes>) -> Result<Expect, ApiError> {
    let Some(value) = req.headers().get(header::IF_MATCH) else {
        return Ok(Expect::Any);
    };
    value
        .to_str()
        .ok()
        .map(|v| v.trim().trim_start_matches("W/").trim_matches('"'))
        .and_then(|v| v.parse().ok())
        .map(Expect::Version)
        .ok_or_else(|| {
            ApiError::bad_field("If-Match", "must be the version number a read returned")
        })
}

/// A lost `If-Match` race is 412; other conflicts stay 409.
pub(super) fn stale(expect: Expect) -> impl FnOnce(StoreError) -> ApiError {
    move |e| match (e, expect) {
        (StoreError::Conflict(m), Expect::Version(_)) => ApiError::PreconditionFailed(m),
        (e, _) => ApiError::Store(e),
    }
}
