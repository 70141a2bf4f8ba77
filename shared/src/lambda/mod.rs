//! The Lambda side: API Gateway HTTP API (v2) events for the five HTTP functions, and every
//! event the `sync` function receives (HTTP, SQS, EventBridge) in [`sync`].
//!
//! The six functions run on tokio's current-thread runtime. Lambda hands a process one event at
//! a time, and everything we do concurrently within an event (vendor calls in flight, the
//! records of an SQS batch) is futures on one task, never a spawned one. A multi-thread
//! runtime would only add worker threads: two to start at every cold start (about 0.5 ms of a
//! 4 ms init in the cold-start benchmark) and cross-thread wake-ups on what is often a fraction
//! of a vCPU.

pub mod sync;

use std::{
    convert::Infallible,
    sync::atomic::{AtomicBool, Ordering},
};

use bytes::Bytes;
use lambda_http::{Body, Request, RequestExt, Response, request::RequestContext, service_fn};

use crate::{
    api::{self, App, Claims, Scope},
    aws, context,
    metrics::{self, Metric},
    telemetry,
};

/// The error type of a function's `main`.
pub type Error = lambda_http::Error;

/// Runs an HTTP function: JSON logs, the [`App`] built once, then requests until shutdown.
pub async fn run_http(function: api::Function) -> Result<(), Error> {
    telemetry::init_json();
    let app = aws::app_from_env().await.inspect_err(|e| {
        tracing::error!(error = %e, "configuration error");
    })?;
    let app = &app;
    lambda_http::run(service_fn(move |req: Request| async move {
        let answer = metrics::published(async {
            count_cold_start(function.name());
            handle(app, Scope::Only(function), req).await
        });
        Ok::<_, Infallible>(answer.await)
    }))
    .await
}

/// Counts the first invocation of this process as a cold start of `function`.
pub(crate) fn count_cold_start(function: &str) {
    static STARTED: AtomicBool = AtomicBool::new(false);
    if !STARTED.swap(true, Ordering::Relaxed) {
        metrics::count(Metric::ColdStarts, &[("kind", function)], 1);
    }
}

/// Answers one API Gateway request with `scope`'s routes, under API Gateway's request id.
pub async fn handle(app: &App, scope: Scope, req: Request) -> Response<Body> {
    let request_id = match req.request_context_ref() {
        Some(RequestContext::ApiGatewayV2(ctx)) => ctx.request_id.clone(),
        _ => None,
    }
    .or_else(context::request_id)
    .unwrap_or_else(context::new_request_id);
    context::with_request_id(request_id, answer(app, scope, req)).await
}

async fn answer(app: &App, scope: Scope, req: Request) -> Response<Body> {
    let claims = jwt_claims(&req);
    let (parts, body) = req.into_parts();
    let body = match body {
        Body::Empty => Bytes::new(),
        Body::Text(text) => Bytes::from(text),
        Body::Binary(bytes) => Bytes::from(bytes),
        _ => Bytes::new(),
    };
    let response = api::handle(
        app,
        scope,
        http::Request::from_parts(parts, body),
        claims.as_ref(),
    )
    .await;
    let (parts, body) = response.into_parts();
    let body = if body.is_empty() {
        Body::Empty
    } else {
        match String::from_utf8(body.to_vec()) {
            Ok(text) => Body::Text(text),
            Err(e) => Body::Binary(e.into_bytes()),
        }
    };
    Response::from_parts(parts, body)
}

/// The claims API Gateway's JWT authorizer verified, if the route had one.
fn jwt_claims(req: &Request) -> Option<Claims> {
    match req.request_context_ref()? {
        RequestContext::ApiGatewayV2(ctx) => ctx
            .authorizer
            .as_ref()?
            .jwt
            .as_ref()
            .map(|jwt| jwt.claims.clone()),
        _ => None,
    }
}
