//! The AWS run queue: SQS, with batched sends and per-message delays.

use std::time::Duration;

use async_trait::async_trait;
use aws_config::SdkConfig;
use aws_sdk_sqs::{Client, types::SendMessageBatchRequestEntry};

use crate::{
    aws::LazyClient,
    ports::{QueueError, RunQueue, RunRequest},
};

/// SQS allows at most 15 minutes of delay and 10 messages per batch.
const MAX_DELAY: Duration = Duration::from_secs(900);
const BATCH: usize = 10;

/// Runs as SQS messages for the `sync` function.
#[derive(Clone, Debug)]
pub struct SqsQueue {
    client: LazyClient<Client>,
    url: String,
}

impl SqsQueue {
    /// Sends to the queue at `url` through SQS as `sdk` configures it (the client is built once
    /// per cold start, on the first send).
    pub fn new(sdk: &SdkConfig, url: impl Into<String>) -> Self {
        Self {
            client: LazyClient::new(sdk, Client::new),
            url: url.into(),
        }
    }
}

fn delay_secs(delay: Duration) -> i32 {
    delay.min(MAX_DELAY).as_secs() as i32
}

fn body(request: &RunRequest) -> String {
    serde_json::to_string(request).expect("run requests serialize")
}

fn queue_error<E: aws_sdk_sqs::error::ProvideErrorMetadata, R>(
    e: &aws_sdk_sqs::error::SdkError<E, R>,
) -> QueueError {
    QueueError(format!("sqs: {}", crate::store::aws_error_reason(e)))
}

#[async_trait]
impl RunQueue for SqsQueue {
    async fn enqueue(&self, request: &RunRequest, delay: Duration) -> Result<(), QueueError> {
        self.client
            .get()
            .send_message()
            .queue_url(&self.url)
            .message_body(body(request))
            .delay_seconds(delay_secs(delay))
            .send()
            .await
            .map(|_| ())
            .map_err(|e| queue_error(&e))
    }

    async fn enqueue_all(&self, requests: &[(RunRequest, Duration)]) -> Result<usize, QueueError> {
        let mut sent = 0;
        for chunk in requests.chunks(BATCH) {
            let entries = chunk
                .iter()
                .enumerate()
                .map(|(i, (request, delay))| {
                    SendMessageBatchRequestEntry::builder()
                        .id(i.to_string())
                        .message_body(body(request))
                        .delay_seconds(delay_secs(*delay))
                        .build()
                        .expect("batch entries are complete")
                })
                .collect::<Vec<_>>();
            let out = self
                .client
                .get()
                .send_message_batch()
                .queue_url(&self.url)
                .set_entries(Some(entries))
                .send()
                .await
                .map_err(|e| queue_error(&e))?;
            if let Some(failed) = out.failed().first() {
                return Err(QueueError(format!(
                    "sqs refused {} of a batch: {}",
                    out.failed().len(),
                    failed.message().unwrap_or(failed.code())
                )));
            }
            sent += chunk.len();
        }
        Ok(sent)
    }
}
