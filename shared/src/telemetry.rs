//! Logging: JSON lines through `tracing`, as CloudWatch Logs Insights likes them.
//!
//! `RUST_LOG` is read as `target=level` directives (a [`Targets`] filter), not as an
//! `EnvFilter`: span and field directives are not worth the regex engine and its Unicode tables
//! that every cold start would map and relocate. Release builds also leave out `trace` events
//! at compile time (the `release_max_level_debug` features in the workspace manifest): the AWS
//! SDK logs whole HTTP responses at that level, and no setting in production should be able to
//! send a secret's value to CloudWatch.

use tracing_subscriber::{filter::LevelFilter, filter::Targets, fmt, prelude::*};

/// Installs the JSON subscriber once (`RUST_LOG` filters, default `info`). Safe to call twice.
pub fn init_json() {
    let spec = std::env::var("RUST_LOG").ok();
    let (filter, valid) = log_filter(spec.as_deref());
    let installed = fmt()
        .json()
        .flatten_event(true)
        // The request span's request_id rides on every line of its request or job.
        .with_current_span(true)
        .with_span_list(false)
        .with_target(false)
        .finish()
        .with(filter)
        .try_init()
        .is_ok();
    if installed && !valid {
        tracing::warn!("RUST_LOG is not a list of target=level directives; logging at info");
    }
}

/// The filter `RUST_LOG` asks for (`info`, `shared=debug,aws_smithy_runtime=warn`), and whether
/// it could be read; unset, empty or unreadable means `info`.
fn log_filter(spec: Option<&str>) -> (Targets, bool) {
    let default = || Targets::new().with_default(LevelFilter::INFO);
    match spec.map(str::trim).filter(|s| !s.is_empty()) {
        None => (default(), true),
        Some(spec) => match spec.parse::<Targets>() {
            Ok(targets) => (targets, true),
            Err(_) => (default(), false),
        },
    }
}

#[cfg(test)]
mod tests {
    use tracing::Level;

    use super::log_filter;

    #[test]
    fn unset_or_empty_logs_info_and_above() {
        for spec in [None, Some(""), Some("  ")] {
            let (filter, valid) = log_filter(spec);
            assert!(valid);
            assert!(filter.would_enable("shared::jobs", &Level::INFO));
            assert!(!filter.would_enable("shared::jobs", &Level::DEBUG));
        }
    }

    #[test]
    fn directives_set_levels_per_target() {
        let (filter, valid) = log_filter(Some("warn,shared=debug"));
        assert!(valid);
        assert!(filter.would_enable("shared::providers::autotask", &Level::DEBUG));
        assert!(!filter.would_enable("aws_smithy_runtime", &Level::INFO));
        assert!(filter.would_enable("aws_smithy_runtime", &Level::WARN));
    }

    #[test]
    fn an_unreadable_filter_falls_back_to_info() {
        let (filter, valid) = log_filter(Some("shared=loud"));
        assert!(!valid);
        assert!(filter.would_enable("shared", &Level::INFO));
        assert!(!filter.would_enable("shared", &Level::DEBUG));
    }
}
