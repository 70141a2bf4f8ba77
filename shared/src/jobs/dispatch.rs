//! The hourly fan-out: every active connection becomes one queued run request, delayed by a
//! stable per-tenant offset so a partner's runs start at the same minute every hour and the
//! whole platform's load is spread.

use std::time::Duration;

use serde::Serialize;
use sha2::{Digest, Sha256};

use super::{JobError, consent};
use crate::{
    app::App,
    domain::{SyncTrigger, TenantId},
    ports::RunRequest,
};

/// Active connections read per index page.
pub const PAGE: usize = 500;
/// The spread window. SQS delays messages by at most 15 minutes.
pub const WINDOW: Duration = Duration::from_secs(900);

/// What one fan-out did.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct DispatchSummary {
    /// Active connections found.
    pub connections: usize,
    /// Run requests queued.
    pub messages: usize,
    /// Index pages read.
    pub pages: usize,
    /// Client credentials of abandoned consents deleted (see [`consent::sweep_abandoned`]).
    pub abandoned_consents: usize,
}

/// The tenant's stable delay within [`WINDOW`].
pub fn offset(tenant: &TenantId) -> Duration {
    let digest = Sha256::digest(tenant.as_str().as_bytes());
    let n = u64::from_be_bytes(digest[..8].try_into().expect("8 bytes"));
    Duration::from_secs(n % WINDOW.as_secs())
}

/// Sweeps abandoned consents, then queues one scheduled run request per active connection, a
/// page at a time.
pub async fn scheduled(app: &App) -> Result<DispatchSummary, JobError> {
    let mut summary = DispatchSummary::default();
    // The fan-out matters more than the sweep: a failed sweep is tried again next hour.
    match consent::sweep_abandoned(app).await {
        Ok(n) => summary.abandoned_consents = n,
        Err(e) => tracing::warn!(error = %e, "the sweep of abandoned consents failed"),
    }
    let queue = app
        .queue
        .as_ref()
        .ok_or_else(|| JobError::Unsupported("no run queue is configured (QUEUE_URL)".into()))?;
    let mut after = None;
    loop {
        let page = app
            .store
            .list_active_connections(after.as_ref(), PAGE)
            .await?;
        summary.pages += 1;
        summary.connections += page.items.len();
        let requests: Vec<(RunRequest, Duration)> = page
            .items
            .into_iter()
            .map(|(tenant, connection)| {
                let delay = offset(&tenant);
                (
                    RunRequest {
                        tenant,
                        provider: connection.provider(),
                        run_id: None,
                        trigger: SyncTrigger::Schedule,
                        org: None,
                    },
                    delay,
                )
            })
            .collect();
        summary.messages += queue.enqueue_all(&requests).await?;
        match page.next {
            Some(next) => after = Some(next),
            None => return Ok(summary),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_are_stable_and_spread() {
        let a = TenantId::new("acme").unwrap();
        assert_eq!(offset(&a), offset(&a));
        let distinct: std::collections::HashSet<_> = (0..200)
            .map(|i| offset(&TenantId::new(format!("t{i}")).unwrap()).as_secs() / 60)
            .collect();
        assert!(
            distinct.len() >= 14,
            "200 tenants land in most of the 15 minutes: {}",
            distinct.len()
        );
        assert!((0..200).all(|i| offset(&TenantId::new(format!("t{i}")).unwrap()) < WINDOW));
    }
}
