//! Where sync runs wait for a worker: SQS on AWS, a task in the local runner.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use ulid::Ulid;

use crate::domain::{OrgId, Provider, TenantId};

/// One run to execute, as the queue carries it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunRequest {
    /// The partner.
    pub tenant: TenantId,
    /// The connection's provider.
    pub provider: Provider,
    /// The run record to execute.
    pub run_id: Ulid,
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
    /// Queues `request`; returns once the queue holds it.
    async fn enqueue(&self, request: &RunRequest) -> Result<(), QueueError>;
}
