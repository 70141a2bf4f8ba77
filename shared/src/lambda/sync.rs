//! The `sync` function: "sync now" and run status over HTTP, the hourly EventBridge schedule
//! (fan-out to SQS), the SQS worker (partial batch failures), and platform events.

use aws_lambda_events::{
    apigw::ApiGatewayV2httpResponse,
    encodings::Body as EventBody,
    event::{
        eventbridge::EventBridgeEvent,
        sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent, SqsMessage},
    },
};
use futures::future::join_all;
use lambda_runtime::{Diagnostic, LambdaEvent, service_fn};
use serde_json::Value;

use crate::{
    api::{Function, Scope},
    app::App,
    aws, context,
    jobs::{JobError, dispatch, events, runs},
    metrics,
    ports::RunRequest,
    telemetry,
};

/// Why the function failed an invocation, classified for retries and metrics.
#[derive(Debug, thiserror::Error)]
pub enum SyncFailure {
    /// Trying again later may work (the invocation is retried by its source).
    #[error("{0}")]
    Retryable(String),
    /// Trying again will not help.
    #[error("{0}")]
    NonRetryable(String),
}

impl From<JobError> for SyncFailure {
    fn from(e: JobError) -> Self {
        if e.is_retryable() {
            SyncFailure::Retryable(e.to_string())
        } else {
            SyncFailure::NonRetryable(e.to_string())
        }
    }
}

impl From<SyncFailure> for Diagnostic {
    fn from(e: SyncFailure) -> Diagnostic {
        let (error_type, error_message) = match e {
            SyncFailure::Retryable(m) => ("Retryable", m),
            SyncFailure::NonRetryable(m) => ("NonRetryable", m),
        };
        Diagnostic {
            error_type: error_type.into(),
            error_message,
        }
    }
}

/// Runs the `sync` function.
pub async fn run() -> Result<(), super::Error> {
    telemetry::init_json();
    let app = aws::app_from_env().await.inspect_err(|e| {
        tracing::error!(error = %e, "configuration error");
    })?;
    let app = &app;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        let work = metrics::published(async {
            super::count_cold_start(Function::Sync.name());
            handle(app, event.payload).await
        });
        context::with_request_id(event.context.request_id, work)
            .await
            .map_err(Diagnostic::from)
    }))
    .await
}

/// Answers one invocation, whatever its source.
pub async fn handle(app: &App, payload: Value) -> Result<Value, SyncFailure> {
    if payload.get("Records").is_some() {
        let event: SqsEvent = serde_json::from_value(payload)
            .map_err(|e| SyncFailure::NonRetryable(format!("not an SQS event: {e}")))?;
        let response = sqs_batch(app, event).await;
        return Ok(serde_json::to_value(response).expect("responses serialize"));
    }
    if payload.get("detail-type").is_some() {
        let event: EventBridgeEvent<Value> = serde_json::from_value(payload)
            .map_err(|e| SyncFailure::NonRetryable(format!("not an EventBridge event: {e}")))?;
        return eventbridge(app, event).await;
    }
    if payload.get("requestContext").is_some() {
        let request = lambda_http::request::from_str(&payload.to_string())
            .map_err(|e| SyncFailure::NonRetryable(format!("not an API Gateway event: {e}")))?;
        let response = super::handle(app, Scope::Only(Function::Sync), request).await;
        return Ok(http_response(response));
    }
    Err(SyncFailure::NonRetryable("unrecognised event".into()))
}

fn http_response(response: lambda_http::Response<lambda_http::Body>) -> Value {
    let (parts, body) = response.into_parts();
    let mut out = ApiGatewayV2httpResponse::default();
    out.status_code = i64::from(parts.status.as_u16());
    out.headers = parts.headers;
    out.body = match body {
        lambda_http::Body::Empty => None,
        lambda_http::Body::Text(t) => Some(EventBody::Text(t)),
        lambda_http::Body::Binary(b) => Some(EventBody::Binary(b)),
        _ => None,
    };
    serde_json::to_value(out).expect("responses serialize")
}

async fn eventbridge(app: &App, event: EventBridgeEvent<Value>) -> Result<Value, SyncFailure> {
    let detail_type = event.detail_type.as_str();
    let parse = |what: &str| SyncFailure::NonRetryable(format!("malformed {what} event"));
    let outcome = match detail_type {
        "Scheduled Event" => {
            let summary = dispatch::scheduled(app).await?;
            tracing::info!(
                connections = summary.connections,
                messages = summary.messages,
                pages = summary.pages,
                abandoned_consents = summary.abandoned_consents,
                "scheduled syncs dispatched"
            );
            return Ok(serde_json::to_value(summary).expect("summaries serialize"));
        }
        "Organization Seats Changed" => {
            let detail: events::SeatsChanged =
                serde_json::from_value(event.detail).map_err(|_| parse(detail_type))?;
            events::seats_changed(app, &detail).await?
        }
        "Alert Raised" => {
            let detail: events::AlertRaised =
                serde_json::from_value(event.detail).map_err(|_| parse(detail_type))?;
            invalid_skipped("alert", events::alert_raised(app, &detail).await)?
        }
        "Opportunity Raised" => {
            let detail: events::OpportunityRaised =
                serde_json::from_value(event.detail).map_err(|_| parse(detail_type))?;
            invalid_skipped(
                "opportunity",
                events::opportunity_raised(app, &detail).await,
            )?
        }
        other => {
            return Err(SyncFailure::NonRetryable(format!(
                "unknown event {other:?}"
            )));
        }
    };
    match &outcome.skipped {
        Some(reason) => {
            tracing::info!(event = detail_type, reason = %reason, "platform event skipped")
        }
        None => tracing::info!(
            event = detail_type,
            acted = outcome.acted.len(),
            "platform event handled"
        ),
    }
    Ok(serde_json::to_value(outcome).expect("outcomes serialize"))
}

/// What became of one queue message.
enum Message {
    Done,
    /// Acknowledged without work: busy connection, nothing to sync, not connected any more.
    Skipped(String),
    /// Reported as a batch item failure: SQS delivers it again, then dead-letters it.
    Failed(String),
}

async fn message(app: &App, record: &SqsMessage) -> Message {
    let Some(body) = record.body.as_deref() else {
        return Message::Failed("empty message".into());
    };
    let request: RunRequest = match serde_json::from_str(body) {
        Ok(r) => r,
        Err(e) => return Message::Failed(format!("malformed run request: {e}")),
    };
    match runs::execute(app, &request).await {
        Ok(_) => Message::Done,
        Err(JobError::Busy) => {
            if let Err(e) = runs::fail_busy(app, &request).await {
                return Message::Failed(e.to_string());
            }
            Message::Skipped("another run holds the connection's lease".into())
        }
        Err(e) if e.is_retryable() => Message::Failed(e.to_string()),
        Err(e) => Message::Skipped(e.to_string()),
    }
}

/// A bad alert or opportunity (a key with '#', an empty title) is the platform's bug, not
/// ours: acknowledged as skipped, never retried.
fn invalid_skipped(
    what: &str,
    outcome: Result<events::EventOutcome, JobError>,
) -> Result<events::EventOutcome, JobError> {
    match outcome {
        Err(JobError::Invalid(errors)) => Ok(events::EventOutcome {
            acted: Vec::new(),
            skipped: Some(format!(
                "invalid {what}: {}",
                errors
                    .iter()
                    .map(|e| format!("{}: {}", e.field, e.message))
                    .collect::<Vec<_>>()
                    .join("; ")
            )),
        }),
        other => other,
    }
}

/// Runs every message of a batch side by side (the lease keeps one run per connection) and
/// reports only the failed ones, so SQS redelivers just those (`ReportBatchItemFailures`).
pub async fn sqs_batch(app: &App, event: SqsEvent) -> SqsBatchResponse {
    let outcomes = join_all(event.records.iter().map(|r| message(app, r))).await;
    let mut response = SqsBatchResponse::default();
    let (mut done, mut skipped) = (0, 0);
    for (record, outcome) in event.records.iter().zip(outcomes) {
        let id = record.message_id.clone().unwrap_or_default();
        match outcome {
            Message::Done => done += 1,
            Message::Skipped(reason) => {
                skipped += 1;
                tracing::info!(message = %id, reason = %reason, "run skipped");
            }
            Message::Failed(reason) => {
                tracing::warn!(message = %id, reason = %reason, "run failed; SQS will deliver it again");
                let mut failure = BatchItemFailure::default();
                failure.item_identifier = id;
                response.batch_item_failures.push(failure);
            }
        }
    }
    tracing::info!(
        done,
        skipped,
        failed = response.batch_item_failures.len(),
        "queue batch processed"
    );
    response
}
