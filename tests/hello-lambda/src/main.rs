//! The smallest useful Lambda: answers every event with a greeting. The cold-start benchmark
//! measures the six functions against it.
//!
//! By default it runs on tokio's multi-thread runtime, exactly as `#[tokio::main]` in the
//! `lambda_runtime` examples does: that is the benchmark's baseline. With
//! `HELLO_RUNTIME=current_thread` it runs on the single-threaded runtime the functions use, so
//! the benchmark can also show what the functions cost over the same runtime.

use lambda_runtime::{Error, LambdaEvent, service_fn};
use serde_json::{Value, json};

fn main() -> Result<(), Error> {
    let current_thread = std::env::var_os("HELLO_RUNTIME").is_some_and(|v| v == "current_thread");
    let mut runtime = if current_thread {
        tokio::runtime::Builder::new_current_thread()
    } else {
        tokio::runtime::Builder::new_multi_thread()
    };
    runtime
        .enable_all()
        .build()?
        .block_on(lambda_runtime::run(service_fn(
            |_: LambdaEvent<Value>| async { Ok::<_, Error>(json!({ "hello": "world" })) },
        )))
}
