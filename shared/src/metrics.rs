//! CloudWatch metrics in Embedded Metric Format (EMF): counts gathered while one invocation or
//! request runs, then written as JSON lines to stdout, which Lambda sends to CloudWatch Logs
//! and CloudWatch turns into metrics. The local runner prints the same lines.
//!
//! Dimensions stay low-cardinality (vendor, kind, outcome, status class, reason); the tenant
//! is a property of the line (searchable in Logs Insights), never a dimension.

use std::{
    collections::BTreeMap,
    future::Future,
    sync::{Arc, Mutex},
};

use serde_json::{Map, Value, json};

use crate::context;

/// The namespace every metric is published under.
pub const NAMESPACE: &str = "MspIntegrations";

/// What is counted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Metric {
    /// Sync runs finished, by `kind` (`seats`, `assets`...) and `outcome`.
    Runs,
    /// Calls to a vendor, by `vendor` and `status_class` (`2xx`...`5xx`, `transport`).
    VendorCalls,
    /// Calls a vendor throttled or our budget held back, by `vendor` and `reason` (`429`,
    /// `threshold`, `thread_limit`, `budget`).
    VendorThrottles,
    /// Calls tried again after a failure or a wait, by `vendor`.
    VendorRetries,
    /// Access tokens renewed with a refresh token, by `vendor`.
    TokenRefreshes,
    /// Renewals the vendor refused (the partner must connect again), by `vendor`.
    RefusedRenewals,
    /// Seat counts changed at a vendor, by `vendor`.
    SeatChanges,
    /// Alerts that became a ticket, a note, or a counted repeat, by `vendor` and `outcome`.
    Tickets,
    /// Opportunities raised by the platform, by `vendor` and `outcome` (`created`, `existing`).
    Opportunities,
    /// Records imported from a vendor, by `vendor` and `kind`.
    RecordsImported,
    /// Function cold starts, by `kind` (the function).
    ColdStarts,
}

impl Metric {
    /// The metric's name in CloudWatch.
    pub fn name(self) -> &'static str {
        match self {
            Metric::Runs => "Runs",
            Metric::VendorCalls => "VendorCalls",
            Metric::VendorThrottles => "VendorThrottles",
            Metric::VendorRetries => "VendorRetries",
            Metric::TokenRefreshes => "TokenRefreshes",
            Metric::RefusedRenewals => "RefusedRenewals",
            Metric::SeatChanges => "SeatChanges",
            Metric::Tickets => "Tickets",
            Metric::Opportunities => "Opportunities",
            Metric::RecordsImported => "RecordsImported",
            Metric::ColdStarts => "ColdStarts",
        }
    }
}

/// One counter: the metric, its dimensions, and the tenant property.
type Key = (Metric, Vec<(&'static str, String)>, Option<String>);

/// The counts of one invocation or request.
#[derive(Clone, Default)]
pub struct Recorder(Arc<Mutex<BTreeMap<Key, u64>>>);

tokio::task_local! {
    static RECORDER: Recorder;
}

/// Adds `n` to `metric` with `dimensions`, on the recorder of the work running now (nothing
/// outside [`recorded`]). The tenant, if the work has one, rides along as a property.
pub fn count(metric: Metric, dimensions: &[(&'static str, &str)], n: u64) {
    if n == 0 {
        return;
    }
    let _ = RECORDER.try_with(|recorder| {
        let tenant = context::caller().map(|c| c.tenant.to_string());
        let dims = dimensions
            .iter()
            .map(|(k, v)| (*k, (*v).to_owned()))
            .collect();
        *recorder
            .0
            .lock()
            .expect("metrics lock")
            .entry((metric, dims, tenant))
            .or_default() += n;
    });
}

/// Runs `work` with a fresh recorder; returns its output and its counts as EMF documents.
pub async fn recorded<F: Future>(work: F) -> (F::Output, Vec<Value>) {
    let recorder = Recorder::default();
    let output = RECORDER.scope(recorder.clone(), work).await;
    let counts = std::mem::take(&mut *recorder.0.lock().expect("metrics lock"));
    (output, emf(counts))
}

/// Runs `work` with a fresh recorder and prints its EMF lines to stdout.
pub async fn published<F: Future>(work: F) -> F::Output {
    let (output, lines) = recorded(work).await;
    for line in lines {
        println!("{line}");
    }
    output
}

/// One EMF document per counter.
fn emf(counts: BTreeMap<Key, u64>) -> Vec<Value> {
    let timestamp = time::OffsetDateTime::now_utc().unix_timestamp() * 1000;
    let request_id = context::request_id();
    counts
        .into_iter()
        .map(|((metric, dims, tenant), n)| {
            let mut doc = Map::new();
            doc.insert(
                "_aws".into(),
                json!({
                    "Timestamp": timestamp,
                    "CloudWatchMetrics": [{
                        "Namespace": NAMESPACE,
                        // Each count is published twice: by its dimensions, and as the
                        // metric's total (the empty set), which the alarms watch.
                        "Dimensions": [dims.iter().map(|(k, _)| *k).collect::<Vec<_>>(), Vec::<&str>::new()],
                        "Metrics": [{"Name": metric.name(), "Unit": "Count"}],
                    }],
                }),
            );
            for (k, v) in dims {
                doc.insert(k.into(), Value::String(v));
            }
            doc.insert(metric.name().into(), json!(n));
            if let Some(t) = tenant {
                doc.insert("tenant".into(), Value::String(t));
            }
            if let Some(id) = &request_id {
                doc.insert("request_id".into(), Value::String(id.clone()));
            }
            Value::Object(doc)
        })
        .collect()
}

/// The `status_class` dimension of an HTTP status.
pub fn status_class(status: u16) -> &'static str {
    match status {
        200..=299 => "2xx",
        300..=399 => "3xx",
        400..=499 => "4xx",
        _ => "5xx",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn counts_become_emf_documents_with_the_tenant_as_a_property() {
        count(Metric::VendorCalls, &[("vendor", "autotask")], 1);
        let ((), docs) = recorded(async {
            let caller = context::Caller {
                tenant: crate::domain::TenantId::new("acme").unwrap(),
                actor: None,
            };
            context::with_caller(caller, async {
                for _ in 0..3 {
                    count(
                        Metric::VendorCalls,
                        &[("vendor", "autotask"), ("status_class", "2xx")],
                        1,
                    );
                }
                count(
                    Metric::Tickets,
                    &[("vendor", "halopsa"), ("outcome", "opened")],
                    1,
                );
            })
            .await;
        })
        .await;
        assert_eq!(docs.len(), 2);
        let calls = &docs[0];
        assert_eq!(calls["VendorCalls"], 3);
        assert_eq!(calls["vendor"], "autotask");
        assert_eq!(calls["tenant"], "acme");
        let directive = &calls["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(directive["Namespace"], NAMESPACE);
        assert_eq!(
            directive["Dimensions"],
            json!([["vendor", "status_class"], []])
        );
        assert_eq!(directive["Metrics"][0]["Name"], "VendorCalls");
        assert_eq!(docs[1]["Tickets"], 1);
    }

    #[test]
    fn status_classes() {
        assert_eq!(
            [200, 302, 429, 503].map(status_class),
            ["2xx", "3xx", "4xx", "5xx"]
        );
    }
}
