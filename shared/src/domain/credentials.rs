//! What a partner types into a provider's Connect form. Secret parts stay wrapped.

use secrecy::SecretString;
use serde::Deserialize;

/// Autotask: the API-only user's username (key) and secret. Our integration code is ours.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AutotaskCredentials {
    /// The API user's username, an e-mail-like key.
    pub username: String,
    /// The API user's secret.
    pub secret: SecretString,
}

/// HaloPSA: site, client credentials and, for hosted instances, the tenant.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HaloCredentials {
    /// `https://partner.halopsa.com`
    pub site_url: String,
    /// API application client id.
    pub client_id: String,
    /// API application client secret.
    pub client_secret: SecretString,
    /// Hosted tenant name.
    #[serde(default)]
    pub tenant: Option<String>,
}

/// NinjaOne: region and the partner's API application.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NinjaCredentials {
    /// One of the fixed regions.
    pub region: super::NinjaRegion,
    /// OAuth client id.
    pub client_id: String,
    /// OAuth client secret.
    pub client_secret: SecretString,
}

/// ConnectWise PSA: the site, the login company and an API member's key pair. The `clientId`
/// is ours (deployment configuration), never the partner's.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConnectwiseCredentials {
    /// `na.myconnectwise.net`, its `api-` form, or an on-premise host.
    pub site: String,
    /// The company id typed at ConnectWise's login (not the display name).
    pub company_id: String,
    /// The API member's public key.
    pub public_key: String,
    /// The API member's private key.
    pub private_key: SecretString,
}

/// What a Connect form sent, by provider.
#[derive(Debug)]
pub enum ConnectRequest {
    /// Autotask.
    Autotask(AutotaskCredentials),
    /// HaloPSA.
    Halopsa(HaloCredentials),
    /// NinjaOne.
    Ninjaone(NinjaCredentials),
    /// ConnectWise PSA.
    Connectwise(ConnectwiseCredentials),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_output_redacts_secrets() {
        let creds: AutotaskCredentials =
            serde_json::from_str(r#"{"username": "api@msp.example", "secret": "s3cr3t-value"}"#)
                .unwrap();
        let request = ConnectRequest::Autotask(creds);
        let shown = format!("{request:?}");
        assert!(shown.contains("api@msp.example"));
        assert!(!shown.contains("s3cr3t-value"), "{shown}");
        let halo: HaloCredentials = serde_json::from_str(
            r#"{"site_url": "https://x.halopsa.com", "client_id": "id", "client_secret": "halo-s3cr3t"}"#,
        )
        .unwrap();
        assert!(!format!("{halo:?}").contains("halo-s3cr3t"));
        let cw: ConnectwiseCredentials = serde_json::from_str(
            r#"{"site": "na.myconnectwise.net", "company_id": "acme", "public_key": "pub", "private_key": "cw-s3cr3t"}"#,
        )
        .unwrap();
        assert!(!format!("{cw:?}").contains("cw-s3cr3t"));
    }
}
