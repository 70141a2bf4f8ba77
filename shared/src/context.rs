//! What a request or job runs under: its request id (API Gateway's for HTTP, the Lambda's for
//! events, one of ours in the local runner) and, for a partner's request, who made it.
//!
//! Both are task-locals set where the work enters (the Lambda handlers, the local runner), so
//! every log line (through a tracing span), every problem response and every audit record of
//! that work can name them without threading them through each call. The functions spawn no
//! tasks on these paths (see `lambda/mod.rs`), so nothing runs outside its scope.

use std::future::Future;

use tracing::Instrument;

use crate::domain::TenantId;

tokio::task_local! {
    static REQUEST_ID: String;
    static CALLER: Caller;
}

/// The partner whose work is running, and the user who asked for it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Caller {
    /// The partner.
    pub tenant: TenantId,
    /// The user (the token's `sub` claim); `None` for work nobody asked for now (the schedule,
    /// a platform event, a queued run).
    pub actor: Option<String>,
}

/// Runs `work` under `request_id`: a `request` span carries it into every log line.
pub async fn with_request_id<F: Future>(request_id: String, work: F) -> F::Output {
    let span = tracing::info_span!("request", request_id = %request_id);
    REQUEST_ID.scope(request_id, work.instrument(span)).await
}

/// The id of the request or job running now, if any.
pub fn request_id() -> Option<String> {
    REQUEST_ID.try_with(Clone::clone).ok()
}

/// Runs `work` for `caller`.
pub async fn with_caller<F: Future>(caller: Caller, work: F) -> F::Output {
    CALLER.scope(caller, work).await
}

/// Runs `work` for `tenant`, keeping the user if the work running now is that tenant's.
pub async fn for_tenant<F: Future>(tenant: &TenantId, work: F) -> F::Output {
    let actor = caller()
        .filter(|c| &c.tenant == tenant)
        .and_then(|c| c.actor);
    let caller = Caller {
        tenant: tenant.clone(),
        actor,
    };
    with_caller(caller, work).await
}

/// Whose work is running now, if it is a partner's.
pub fn caller() -> Option<Caller> {
    CALLER.try_with(Clone::clone).ok()
}

/// A new id for work that arrives without one (the local runner's requests and runs).
pub fn new_request_id() -> String {
    ulid::Ulid::new().to_string().to_ascii_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn ids_and_callers_hold_inside_their_scope_only() {
        assert_eq!(request_id(), None);
        let inner = with_request_id("req-1".into(), async {
            let user = Caller {
                tenant: TenantId::new("acme").unwrap(),
                actor: Some("user-42".into()),
            };
            with_caller(user, async { (request_id(), caller()) }).await
        })
        .await;
        assert_eq!(inner.0.as_deref(), Some("req-1"));
        assert_eq!(inner.1.unwrap().actor.as_deref(), Some("user-42"));
        assert_eq!(caller(), None);
    }
}
