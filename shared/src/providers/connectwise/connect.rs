//! Connecting: turn the site the partner typed into the API origin (cloud web hosts become
//! their `api-` hosts; on-premise hosts pass the address policy), find the codebase with
//! `login/companyinfo`, prove the keys with `system/info`, and check the security role can
//! read what the integration needs, naming the module it lacks.

use std::sync::Arc;

use async_trait::async_trait;
use secrecy::{ExposeSecret, SecretString};
use serde_json::Value;
use url::Url;

use super::{
    ConnectwiseIntegration, StoredCredentials,
    client::{Client, CompanyInfoError, Endpoint, company_info, throttled},
};
use crate::{
    domain::{ConnectRequest, FieldError, TenantId, VendorInstance},
    ports::{Connected, Connector, VendorError},
    providers::{address::refused_by_policy, http::transport_error},
};

/// Domains of ConnectWise's cloud: a web host there (`na.myconnectwise.net`) has an API host
/// (`api-na.myconnectwise.net`), and cloud requests must use it.
const CLOUD_DOMAINS: [&str; 2] = [".myconnectwise.net", ".connectwisedev.com"];

/// What the security role must allow, one cheap read each.
const PROBES: [&str; 5] = [
    "company/companies",
    "finance/agreements",
    "procurement/catalog",
    "service/boards",
    "service/tickets",
];

fn field(name: &str, message: impl Into<String>) -> VendorError {
    VendorError::invalid(name, message)
}

/// The API origin for what the partner typed in `site`: a cloud host (web or API form) becomes
/// `https://api-{region}.{domain}`; anything else must pass the address policy as typed.
pub fn api_origin(
    site: &str,
    policy: &crate::providers::address::AddressPolicy,
) -> Result<Url, String> {
    let site = site.trim();
    if site.is_empty() {
        return Err("is required: your ConnectWise site, for example na.myconnectwise.net".into());
    }
    let with_scheme = if site.contains("://") {
        site.to_owned()
    } else {
        format!("https://{site}")
    };
    let parsed = Url::parse(&with_scheme).map_err(|_| "is not a host name".to_owned())?;
    let host = parsed.host_str().unwrap_or_default().to_ascii_lowercase();
    if let Some(domain) = CLOUD_DOMAINS.iter().find(|d| host.ends_with(*d)) {
        let label = &host[..host.len() - domain.len()];
        let region = label.strip_prefix("api-").unwrap_or(label);
        if region.is_empty() || region.contains('.') || parsed.port().is_some() {
            return Err(format!(
                "{host} is not a ConnectWise cloud site (na, eu, au, aus or za{domain})"
            ));
        }
        // Pasted web addresses carry paths (`/v4_6_release/services/...`); the host is
        // all that counts in the cloud.
        return Url::parse(&format!("https://api-{region}{domain}/"))
            .map_err(|_| "is not a host name".to_owned());
    }
    let mut origin = policy.base_url(&with_scheme, &[]).map_err(|e| e.0)?;
    origin.set_path("/");
    Ok(origin)
}

impl ConnectwiseIntegration {
    /// The codebase, and the company id as ConnectWise spells it: whether the Basic
    /// credentials' company is case-sensitive is unconfirmed, so they use ConnectWise's own
    /// spelling.
    async fn codebase(
        &self,
        origin: &Url,
        company_id: &str,
    ) -> Result<(String, String), VendorError> {
        let host = origin.host_str().unwrap_or("the site").to_owned();
        match company_info(self.http(), origin, company_id).await {
            Ok(Some(info)) => {
                let spelled = info
                    .company_id
                    .filter(|c| c.eq_ignore_ascii_case(company_id))
                    .unwrap_or_else(|| company_id.to_owned());
                Ok((info.codebase.expect("checked by company_info"), spelled))
            }
            Ok(None) => Err(field(
                "company_id",
                format!(
                    "ConnectWise at {host} has no company {company_id:?}: use the company id you type at ConnectWise's login, not the company's display name"
                ),
            )),
            Err(CompanyInfoError::Throttled(wait)) => Err(throttled(wait)),
            Err(CompanyInfoError::NotConnectwise) => Err(field(
                "site",
                format!(
                    "{host} does not look like a ConnectWise PSA site (login/companyinfo did not answer)"
                ),
            )),
            Err(CompanyInfoError::Transport(e)) if refused_by_policy(&e) => Err(field(
                "site",
                format!("{host} is not a public internet address"),
            )),
            Err(CompanyInfoError::Transport(e)) if e.is_timeout() => {
                Err(VendorError::Unreachable {
                    detail: format!("ConnectWise at {host} did not answer in time"),
                })
            }
            Err(CompanyInfoError::Transport(e)) => {
                Err(match transport_error(&e, "ConnectWise", false) {
                    VendorError::Unreachable { .. } => VendorError::Unreachable {
                        detail: format!(
                            "ConnectWise at {host} could not be reached: check the site"
                        ),
                    },
                    other => other,
                })
            }
        }
    }
}

#[async_trait]
impl Connector for ConnectwiseIntegration {
    async fn connect(
        &self,
        _tenant: &TenantId,
        request: ConnectRequest,
    ) -> Result<Connected, VendorError> {
        let ConnectRequest::Connectwise(creds) = request else {
            return Err(super::not_connectwise_target());
        };
        let company_id = creds.company_id.trim().to_owned();
        let public_key = creds.public_key.trim().to_owned();
        let mut errors = Vec::new();
        if company_id.is_empty()
            || company_id.chars().count() > 50
            || company_id
                .chars()
                .any(|c| c.is_control() || c.is_whitespace() || matches!(c, '/' | '\\' | '+' | ':'))
        {
            errors.push(FieldError::new(
                "company_id",
                "must be the company id you type at ConnectWise's login (one word)",
            ));
        }
        // The Basic credentials are `company+public:private`: a `:` in the public key would
        // move the split.
        if public_key.is_empty()
            || public_key.chars().count() > 100
            || public_key
                .chars()
                .any(|c| c.is_control() || c.is_whitespace() || c == ':')
        {
            errors.push(FieldError::new(
                "public_key",
                "must be the API member's public key",
            ));
        }
        let private = creds.private_key.expose_secret();
        if private.is_empty()
            || private.chars().count() > 200
            || private.chars().any(char::is_control)
        {
            errors.push(FieldError::new(
                "private_key",
                "must be the API member's private key",
            ));
        }
        let origin = api_origin(&creds.site, &self.options.policy);
        if let Err(e) = &origin {
            errors.push(FieldError::new("site", e.clone()));
        }
        if !errors.is_empty() {
            return Err(VendorError::Invalid {
                detail: "the ConnectWise connection details are incomplete or not allowed".into(),
                errors,
                vendor_message: None,
            });
        }
        let origin = origin.expect("checked above");
        self.options
            .policy
            .check_resolves(&origin)
            .await
            .map_err(|e| field("site", e.0))?;
        // Our clientId first: without it nothing below can work, and it is not the partner's
        // to fix.
        let client_id = self.client_id().await?;
        let (codebase, company_id) = self.codebase(&origin, &company_id).await?;
        // A fresh connection: a budget or codebase of earlier keys must not prove these.
        let client = Client {
            http: self.http(),
            conn: Arc::new(self.new_connection()),
            endpoint: Endpoint {
                origin: origin.clone(),
                company_id: company_id.clone(),
                codebase: codebase.clone(),
                public_key: public_key.clone(),
                private_key: creds.private_key.clone(),
                client_id,
            },
        };
        client
            .get::<Value>("system/info", &[])
            .await?
            .ok_or_else(|| {
                field(
                    "site",
                    "ConnectWise answered login/companyinfo but has no API at its codebase",
                )
            })?;
        let one = [("pageSize", "1".to_owned()), ("fields", "id".to_owned())];
        // A 403 on any of them names the module the role lacks.
        futures::future::try_join_all(PROBES.map(|path| client.get::<Value>(path, &one))).await?;
        let stored = StoredCredentials {
            public_key,
            private_key: creds.private_key.expose_secret().to_owned(),
        };
        Ok(Connected {
            instance: VendorInstance::Connectwise {
                site: origin.as_str().trim_end_matches('/').to_owned(),
                company_id,
                codebase,
            },
            secret: SecretString::from(
                serde_json::to_string(&stored).expect("credentials serialize"),
            ),
        })
    }

    fn same_instance(&self, old: &VendorInstance, new: &VendorInstance) -> bool {
        match (old, new) {
            (
                VendorInstance::Connectwise {
                    site: a,
                    company_id: ca,
                    ..
                },
                VendorInstance::Connectwise {
                    site: b,
                    company_id: cb,
                    ..
                },
            ) => a.eq_ignore_ascii_case(b) && ca.eq_ignore_ascii_case(cb),
            _ => false,
        }
    }

    fn forget(&self, tenant: &TenantId) {
        self.connections
            .lock()
            .expect("connections lock")
            .remove(tenant);
        self.lists.forget(tenant);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::providers::address::{AddressPolicy, Table};

    fn policy() -> AddressPolicy {
        Table::policy(&[
            ("api-na.myconnectwise.net", &["52.20.1.10"]),
            ("api-eu.myconnectwise.net", &["52.20.1.11"]),
            ("api-aus.myconnectwise.net", &["52.20.1.12"]),
            ("api-staging.connectwisedev.com", &["52.20.1.13"]),
            ("cw.partner.example", &["52.56.10.20"]),
            ("intranet.partner.example", &["10.1.2.3"]),
            ("split.partner.example", &["52.56.10.21", "192.168.1.9"]),
            ("metadata.partner.example", &["169.254.169.254"]),
        ])
    }

    /// The address policy table, as HaloPSA's site URL has it, plus the cloud host mapping.
    #[tokio::test]
    async fn sites_table() {
        let p = policy();
        let cases: &[(&str, Option<&str>)] = &[
            (
                "na.myconnectwise.net",
                Some("https://api-na.myconnectwise.net/"),
            ),
            (
                "api-na.myconnectwise.net",
                Some("https://api-na.myconnectwise.net/"),
            ),
            (
                "EU.myconnectwise.net",
                Some("https://api-eu.myconnectwise.net/"),
            ),
            (
                "https://aus.myconnectwise.net/v4_6_release/services/system_io/",
                Some("https://api-aus.myconnectwise.net/"),
            ),
            (
                "staging.connectwisedev.com",
                Some("https://api-staging.connectwisedev.com/"),
            ),
            ("cw.partner.example", Some("https://cw.partner.example/")),
            (
                "https://cw.partner.example/",
                Some("https://cw.partner.example/"),
            ),
            (
                "cw.partner.example:443",
                Some("https://cw.partner.example/"),
            ),
            ("http://cw.partner.example", None),
            ("cw.partner.example:8443", None),
            ("https://cw.partner.example/v4_6_release", None),
            ("https://cw.partner.example/?x=1", None),
            ("https://user:pw@cw.partner.example", None),
            ("a.b.myconnectwise.net", None),
            ("myconnectwise.net", None),
            ("na.myconnectwise.net:8080", None),
            ("127.0.0.1", None),
            ("10.0.0.5", None),
            ("169.254.169.254", None),
            ("[::1]", None),
            ("localhost", None),
            ("intranet.partner.example", None),
            ("split.partner.example", None),
            ("metadata.partner.example", None),
            ("unknown.partner.example", None),
            ("", None),
        ];
        for (raw, expected) in cases {
            let result = match api_origin(raw, &p) {
                Ok(url) => p.check_resolves(&url).await.map(|_| url).map_err(|e| e.0),
                Err(e) => Err(e),
            };
            assert_eq!(
                result.as_ref().ok().map(Url::as_str),
                *expected,
                "{raw}: {result:?}"
            );
        }
    }
}
