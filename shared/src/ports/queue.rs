//! Where sync runs wait for a worker: SQS on AWS, a task in the local runner.

use std::time::Duration;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use ulid::Ulid;

use crate::domain::{OrgId, Provider, SyncTrigger, TenantId};

/// One run to execute, as the queue carries it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunRequest {
    /// The partner.
    pub tenant: TenantId,
    /// The connection's provider.
    pub provider: Provider,
    /// The run record to execute; `None` when the worker creates it (scheduled and event
    /// runs, so fanning out writes no run records for connections that turn out busy).
    #[serde(default)]
    pub run_id: Option<Ulid>,
    /// Who asked.
    pub trigger: SyncTrigger,
    /// Only this organization (seat change events); `None` for all.
    #[serde(default)]
    pub org: Option<OrgId>,
}

/// The queue refused or failed to take a run.
#[derive(Debug, thiserror::Error)]
#[error("the run queue is unavailable: {0}")]
pub struct QueueError(pub String);

/// Hands runs to workers.
#[async_trait]
pub trait RunQueue: Send + Sync {
    /// Queues `request`, visible to workers after `delay`; returns once the queue holds it.
    async fn enqueue(&self, request: &RunRequest, delay: Duration) -> Result<(), QueueError>;

    /// Queues many requests; back ends that batch override it.
    async fn enqueue_all(&self, requests: &[(RunRequest, Duration)]) -> Result<usize, QueueError> {
        for (request, delay) in requests {
            self.enqueue(request, *delay).await?;
        }
        Ok(requests.len())
    }
}
