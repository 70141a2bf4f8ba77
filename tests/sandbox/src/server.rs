//! What every sandbox shares: a loopback listener and injectable faults.

use std::time::Duration;

use axum::Router;
use tokio::{net::TcpListener, task::JoinHandle};

/// What a fault does to a matching request.
#[derive(Clone, Debug)]
pub enum FaultKind {
    /// Answer with this status and JSON body (and `Retry-After`, if given) instead.
    Respond {
        /// HTTP status.
        status: u16,
        /// JSON body.
        body: serde_json::Value,
        /// `Retry-After` seconds.
        retry_after: Option<u64>,
    },
    /// Do the work, then hold the answer this long (the client times out after the change).
    DelayAfter(Duration),
    /// Hold the request this long before doing anything.
    DelayBefore(Duration),
}

/// A fault for requests whose `"METHOD /path"` ends with `matches`, `times` times.
#[derive(Clone, Debug)]
pub struct Fault {
    /// The end of `"METHOD /path"` (path without the query), e.g. `"POST /Tickets"`.
    pub matches: String,
    /// What happens.
    pub kind: FaultKind,
    /// How many matching requests it hits.
    pub times: usize,
}

impl Fault {
    /// A fault hitting the next matching request once.
    pub fn once(matches: impl Into<String>, kind: FaultKind) -> Self {
        Self {
            matches: matches.into(),
            kind,
            times: 1,
        }
    }
}

/// Takes the first fault matching `key`, spending one of its uses.
pub(crate) fn take_fault(faults: &mut Vec<Fault>, key: &str) -> Option<FaultKind> {
    let index = faults.iter().position(|f| key.ends_with(&f.matches))?;
    let fault = &mut faults[index];
    let kind = fault.kind.clone();
    fault.times -= 1;
    if fault.times == 0 {
        faults.remove(index);
    }
    Some(kind)
}

/// Serves `router` on a free loopback port; returns the base URL and the server task.
pub(crate) async fn serve(router: Router) -> (String, JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a loopback port is free");
    let addr = listener
        .local_addr()
        .expect("bound listener has an address");
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    (format!("http://{addr}"), task)
}
