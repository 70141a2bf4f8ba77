//! A stand-in for Lambda's Runtime API on loopback: it hands one event to the function process
//! that asks for work and records when it asked and what it answered. The cold-start benchmark
//! times native binaries against it; the arm64 smoke run checks emulated ones' answers.

use std::{
    net::SocketAddr,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use axum::{
    Router,
    body::Bytes,
    extract::{Path, State},
    http::{HeaderMap, HeaderValue},
    routing::{get, post},
};
use tokio::{sync::Notify, task::JoinHandle};

/// The request id the stub gives its one invocation.
pub const REQUEST_ID: &str = "8476a536-e9f4-11e8-9739-2dfe598c3fcd";

/// What happened to the one invocation.
#[derive(Clone, Debug, Default)]
pub struct Exchange {
    /// When the process first asked for an invocation (its init was done).
    pub first_next: Option<Instant>,
    /// When it answered.
    pub answered: Option<Instant>,
    /// `response` or `error`, as the runtime posted it.
    pub outcome: Option<String>,
    /// The answer's body.
    pub answer: Vec<u8>,
}

#[derive(Default)]
struct Shared {
    exchange: Exchange,
    event: Vec<u8>,
    served: bool,
}

#[derive(Clone)]
struct Stub {
    shared: Arc<Mutex<Shared>>,
    done: Arc<Notify>,
}

/// A running stub with one event to hand out.
pub struct RuntimeApi {
    addr: SocketAddr,
    stub: Stub,
    server: JoinHandle<()>,
}

impl RuntimeApi {
    /// Serves `event` to the first process that asks, on a free loopback port.
    pub async fn start(event: Vec<u8>) -> Self {
        let stub = Stub {
            shared: Arc::new(Mutex::new(Shared {
                event,
                ..Default::default()
            })),
            done: Arc::new(Notify::new()),
        };
        let router = Router::new()
            .route("/2018-06-01/runtime/invocation/next", get(next))
            .route(
                "/2018-06-01/runtime/invocation/{id}/{outcome}",
                post(answer),
            )
            .with_state(stub.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("a loopback port");
        let addr = listener.local_addr().expect("a bound address");
        let server = tokio::spawn(async move {
            axum::serve(listener, router)
                .await
                .expect("the stub serves")
        });
        Self { addr, stub, server }
    }

    /// The environment Lambda gives a function process, pointing at this stub.
    pub fn lambda_env(&self) -> Vec<(String, String)> {
        [
            ("AWS_LAMBDA_RUNTIME_API", self.addr.to_string()),
            ("AWS_LAMBDA_FUNCTION_NAME", "stub".into()),
            ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256".into()),
            ("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST".into()),
            ("AWS_LAMBDA_LOG_STREAM_NAME", "stub".into()),
            ("AWS_LAMBDA_LOG_GROUP_NAME", "stub".into()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect()
    }

    /// Waits up to `timeout` for the answer; `None` if none came.
    pub async fn answered(&self, timeout: Duration) -> Option<Exchange> {
        let notified = self.stub.done.notified();
        if self.exchange().answered.is_none() {
            tokio::time::timeout(timeout, notified).await.ok()?;
        }
        Some(self.exchange())
    }

    /// What happened so far.
    pub fn exchange(&self) -> Exchange {
        self.stub.shared.lock().expect("stub lock").exchange.clone()
    }
}

impl Drop for RuntimeApi {
    fn drop(&mut self) {
        self.server.abort();
    }
}

async fn next(State(stub): State<Stub>) -> (HeaderMap, Bytes) {
    let event = {
        let mut shared = stub.shared.lock().expect("stub lock");
        shared.exchange.first_next.get_or_insert_with(Instant::now);
        if shared.served {
            None
        } else {
            shared.served = true;
            Some(shared.event.clone())
        }
    };
    let Some(event) = event else {
        // The runtime asks for the next invocation after answering: hold it; the process is
        // killed.
        std::future::pending::<()>().await;
        unreachable!()
    };
    let mut headers = HeaderMap::new();
    headers.insert(
        "lambda-runtime-aws-request-id",
        HeaderValue::from_static(REQUEST_ID),
    );
    headers.insert(
        "lambda-runtime-deadline-ms",
        HeaderValue::from_static("4102444800000"),
    );
    headers.insert(
        "lambda-runtime-invoked-function-arn",
        HeaderValue::from_static("arn:aws:lambda:us-east-1:123456789012:function:stub"),
    );
    headers.insert(
        "lambda-runtime-trace-id",
        HeaderValue::from_static(
            "Root=1-5bef4de7-ad49b0e87f6ef6c87fc2e700;Parent=9a9197af755a6419;Sampled=1",
        ),
    );
    (headers, Bytes::from(event))
}

async fn answer(
    State(stub): State<Stub>,
    Path((_, outcome)): Path<(String, String)>,
    body: Bytes,
) -> &'static str {
    {
        let mut shared = stub.shared.lock().expect("stub lock");
        let exchange = &mut shared.exchange;
        exchange.answered.get_or_insert_with(Instant::now);
        exchange.outcome = Some(outcome);
        exchange.answer = body.to_vec();
    }
    stub.done.notify_one();
    ""
}
