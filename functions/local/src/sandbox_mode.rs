//! Sandbox mode: the runner starts sandbox vendors with demo data and points itself at them.

use secrecy::SecretString;
use serde_json::{Value, json};
use shared::{config::Settings, providers::autotask::IntegrationCode};

use sandbox::{autotask, halopsa};

/// The running sandbox vendors, kept alive as long as the runner.
pub struct Sandboxes {
    /// Autotask.
    pub autotask: autotask::Sandbox,
    /// HaloPSA.
    pub halopsa: halopsa::Sandbox,
}

impl Sandboxes {
    /// Starts every sandbox vendor with its demo data.
    pub async fn start() -> Self {
        Self {
            autotask: autotask::Sandbox::demo().await,
            halopsa: halopsa::Sandbox::demo().await,
        }
    }

    /// Points `settings` at the sandboxes; loopback vendors are allowed for them only.
    pub fn configure(&self, settings: &mut Settings) -> IntegrationCode {
        settings.vendors.autotask_zone_lookup_url = self.autotask.zone_lookup_url();
        settings.vendors.allow_loopback = true;
        IntegrationCode::Value(SecretString::from(autotask::DEMO_INTEGRATION_CODE))
    }

    /// What `GET /sandbox` answers: each vendor's base URL and demo credentials, keyed like the
    /// connect bodies.
    pub fn info(&self) -> Value {
        json!({
            "autotask": {
                "base_url": self.autotask.zone_lookup_url(),
                "username": autotask::DEMO_USERNAME,
                "secret": autotask::DEMO_SECRET,
            },
            "halopsa": {
                "site_url": self.halopsa.site_url(),
                "client_id": halopsa::DEMO_CLIENT_ID,
                "client_secret": halopsa::DEMO_CLIENT_SECRET,
            },
        })
    }
}
