//! The `sync` Lambda: HTTP "sync now" and run status, the hourly schedule, the SQS worker and
//! platform events. Wiring only; the work lives in `shared::lambda::sync`.

// One event at a time per process: the single-threaded runtime (see `shared::lambda`).
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), shared::lambda::Error> {
    shared::lambda::sync::run().await
}
