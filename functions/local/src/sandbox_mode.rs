//! Sandbox mode: the runner starts sandbox vendors with demo data and points itself at them.

use secrecy::SecretString;
use serde_json::{Value, json};
use shared::{
    config::Settings,
    providers::{DeploymentSecret, DeploymentSecrets},
};

use sandbox::{autotask, connectwise, halopsa, ninjaone};

/// The running sandbox vendors, kept alive as long as the runner.
pub struct Sandboxes {
    /// Autotask.
    pub autotask: autotask::Sandbox,
    /// HaloPSA.
    pub halopsa: halopsa::Sandbox,
    /// NinjaOne.
    pub ninjaone: ninjaone::Sandbox,
    /// ConnectWise PSA.
    pub connectwise: connectwise::Sandbox,
}

impl Sandboxes {
    /// Starts every sandbox vendor with its demo data.
    pub async fn start() -> Self {
        Self {
            autotask: autotask::Sandbox::demo().await,
            halopsa: halopsa::Sandbox::demo().await,
            ninjaone: ninjaone::Sandbox::demo().await,
            connectwise: connectwise::Sandbox::demo().await,
        }
    }

    /// Points `settings` at the sandboxes; loopback vendors are allowed for them only. The
    /// sandbox NinjaOne app gets the runner's redirect URI registered, as a partner would.
    pub fn configure(&self, settings: &mut Settings) -> DeploymentSecrets {
        settings.vendors.autotask_zone_lookup_url = self.autotask.zone_lookup_url();
        settings.vendors.ninjaone_base_url = Some(self.ninjaone.base_url());
        settings.vendors.allow_loopback = true;
        if let Some(api) = &settings.public_api_url {
            let redirect = format!("{}/v1/oauth/ninjaone/callback", api.trim_end_matches('/'));
            self.ninjaone.with(|s| s.redirect_uris.push(redirect));
        }
        DeploymentSecrets {
            autotask_integration_code: DeploymentSecret::Value(SecretString::from(
                autotask::DEMO_INTEGRATION_CODE,
            )),
            connectwise_client_id: DeploymentSecret::Value(SecretString::from(
                connectwise::DEMO_CLIENT_ID,
            )),
        }
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
            "ninjaone": {
                "base_url": self.ninjaone.base_url(),
                "region": "us",
                "client_id": ninjaone::DEMO_CLIENT_ID,
                "client_secret": ninjaone::DEMO_CLIENT_SECRET,
            },
            "halopsa": {
                "site_url": self.halopsa.site_url(),
                "client_id": halopsa::DEMO_CLIENT_ID,
                "client_secret": halopsa::DEMO_CLIENT_SECRET,
            },
            "connectwise": {
                "site": self.connectwise.site(),
                "company_id": connectwise::DEMO_COMPANY,
                "public_key": connectwise::DEMO_PUBLIC_KEY,
                "private_key": connectwise::DEMO_PRIVATE_KEY,
            },
        })
    }
}
