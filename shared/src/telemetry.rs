//! Logging: JSON lines through `tracing`, as CloudWatch Logs Insights likes them.

use tracing_subscriber::{EnvFilter, fmt};

/// Installs the JSON subscriber once (`RUST_LOG` filters, default `info`). Safe to call twice.
pub fn init_json() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let _ = fmt()
        .json()
        .flatten_event(true)
        .with_current_span(false)
        .with_target(false)
        .with_env_filter(filter)
        .try_init();
}
