//! The `configure` Lambda: wiring only; the routes live in `shared::api`.

// One event at a time per process: the single-threaded runtime (see `shared::lambda`).
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), shared::lambda::Error> {
    shared::lambda::run_http(shared::api::Function::Configure).await
}
