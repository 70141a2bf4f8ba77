//! The local stand-in for SQS: runs go to a task in this process.

use std::time::Duration;

use async_trait::async_trait;
use shared::{
    app::App,
    context,
    jobs::{JobError, runs},
    metrics,
    ports::{QueueError, RunQueue, RunRequest},
};
use tokio::sync::mpsc;

/// Sends runs to the worker task.
pub struct InProcessQueue {
    tx: mpsc::UnboundedSender<RunRequest>,
}

#[async_trait]
impl RunQueue for InProcessQueue {
    async fn enqueue(&self, request: &RunRequest, delay: Duration) -> Result<(), QueueError> {
        if delay.is_zero() {
            return self
                .tx
                .send(request.clone())
                .map_err(|_| QueueError("the local worker has stopped".into()));
        }
        // Like an SQS delay: the request becomes visible later.
        let (tx, request) = (self.tx.clone(), request.clone());
        tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            let _ = tx.send(request);
        });
        Ok(())
    }
}

/// A queue and the receiving end for [`spawn_worker`].
pub fn channel() -> (InProcessQueue, mpsc::UnboundedReceiver<RunRequest>) {
    let (tx, rx) = mpsc::unbounded_channel();
    (InProcessQueue { tx }, rx)
}

/// Executes queued runs, each in its own task (the lease keeps one per connection).
pub fn spawn_worker(app: App, mut rx: mpsc::UnboundedReceiver<RunRequest>) {
    tokio::spawn(async move {
        while let Some(request) = rx.recv().await {
            let app = app.clone();
            let id = context::new_request_id();
            tokio::spawn(context::with_request_id(
                id,
                metrics::published(async move {
                    match runs::execute(&app, &request).await {
                        Ok(_) => {}
                        Err(JobError::Busy) => {
                            if let Err(e) = runs::fail_busy(&app, &request).await {
                                tracing::warn!(error = %e, "could not record a skipped run");
                            }
                        }
                        Err(e) => {
                            tracing::info!(tenant = %request.tenant, provider = %request.provider, error = %e, "run not done")
                        }
                    }
                }),
            ));
        }
    });
}
