//! Vendor clients and their capability implementations. Each speaks its vendor's wire format
//! with hand-written serde structs and keeps vendor quirks at this edge.

pub mod address;
pub mod autotask;
pub mod budget;
pub mod connectwise;
mod deployment;
pub mod halopsa;
pub mod http;
pub mod ninjaone;

pub use deployment::{DeploymentSecret, DeploymentSecrets};

use std::{sync::Arc, time::Duration};

use crate::{
    app::Integrations,
    config::{ConfigError, Settings},
};

/// Every integration this build has, configured from the deployment settings.
pub fn integrations(
    settings: &Settings,
    deployment: DeploymentSecrets,
) -> Result<Integrations, ConfigError> {
    let v = &settings.vendors;
    let autotask = autotask::AutotaskIntegration::new(autotask::AutotaskOptions {
        zone_lookup_url: v.autotask_zone_lookup_url.clone(),
        allow_loopback: v.allow_loopback,
        per_endpoint: v.autotask_concurrency,
        hourly_budget: v.autotask_hourly_budget,
        timeout: Duration::from_secs(v.timeout_secs),
        integration_code: deployment.autotask_integration_code,
    })
    .map_err(|e| ConfigError {
        var: "AUTOTASK_ZONE_LOOKUP_URL",
        problem: e.to_string(),
    })?;
    let halopsa = halopsa::HaloIntegration::new(halopsa::HaloOptions {
        policy: address::AddressPolicy::system(v.allow_loopback),
        window_budget: v.halopsa_window_budget,
        window: Duration::from_secs(v.halopsa_window_secs),
        concurrency: v.halopsa_concurrency,
        timeout: Duration::from_secs(v.timeout_secs),
    });
    let ninjaone = ninjaone::NinjaIntegration::new(ninjaone::NinjaOptions {
        base_url_override: v.ninjaone_base_url.clone(),
        allow_loopback: v.allow_loopback,
        concurrency: 2,
        timeout: Duration::from_secs(v.timeout_secs),
    });
    let connectwise = connectwise::ConnectwiseIntegration::new(connectwise::ConnectwiseOptions {
        policy: address::AddressPolicy::system(v.allow_loopback),
        client_id: deployment.connectwise_client_id,
        minute_budget: v.connectwise_minute_budget,
        concurrency: v.connectwise_concurrency,
        timeout: Duration::from_secs(v.timeout_secs),
    });
    Ok(Integrations::default()
        .with(Arc::new(autotask))
        .with(Arc::new(halopsa))
        .with(Arc::new(ninjaone))
        .with(Arc::new(connectwise)))
}
