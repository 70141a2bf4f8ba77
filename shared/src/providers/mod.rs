//! Vendor clients and their capability implementations. Each speaks its vendor's wire format
//! with hand-written serde structs and keeps vendor quirks at this edge.

pub mod autotask;
pub mod http;

use std::{sync::Arc, time::Duration};

use crate::{
    app::Integrations,
    config::{ConfigError, Settings},
};

/// Every integration this build has, configured from the deployment settings.
pub fn integrations(
    settings: &Settings,
    autotask_code: autotask::IntegrationCode,
) -> Result<Integrations, ConfigError> {
    let v = &settings.vendors;
    let autotask = autotask::AutotaskIntegration::new(autotask::AutotaskOptions {
        zone_lookup_url: v.autotask_zone_lookup_url.clone(),
        allow_loopback: v.allow_loopback,
        per_endpoint: v.autotask_concurrency,
        hourly_budget: v.autotask_hourly_budget,
        timeout: Duration::from_secs(v.timeout_secs),
        integration_code: autotask_code,
    })
    .map_err(|e| ConfigError {
        var: "AUTOTASK_ZONE_LOOKUP_URL",
        problem: e.to_string(),
    })?;
    Ok(Integrations::default().with(Arc::new(autotask)))
}
