//! Connecting: check the site address, discover the authorisation server, get a token, and
//! prove the agent may read customers and software licences.

use std::sync::Arc;

use async_trait::async_trait;
use secrecy::{ExposeSecret, SecretString};
use serde_json::Value;
use url::{Host, Url};

use super::{
    HaloIntegration, StoredCredentials,
    client::{Client, Endpoint, not_halo},
    token_url,
    wire::AuthInfo,
};
use crate::{
    domain::{ConnectRequest, FieldError, TenantId, VendorInstance},
    ports::{Connected, Connector, VendorError},
    providers::{
        address::refused_by_policy,
        http::{CountedSend, retry_after, transport_error},
    },
};

/// Domains of Halo's hosted instances: an authorisation server there may differ from the site
/// (trial tenants authenticate at `uk-trial.halopsa.com`).
const HOSTED_DOMAINS: [&str; 3] = [".halopsa.com", ".haloitsm.com", ".haloservicedesk.com"];

fn field(name: &str, message: impl Into<String>) -> VendorError {
    VendorError::invalid(name, message)
}

impl HaloIntegration {
    /// Where the authorisation server is and the hosted tenant, from `/api/authinfo`; `{site}/auth`
    /// when the site does not say, or names a server we will not send the secret to.
    async fn discover(&self, site: &Url) -> Result<(Url, Option<String>), VendorError> {
        let fallback = site.join("auth").expect("a fixed path joins");
        let url = site.join("api/authinfo").expect("a fixed path joins");
        let response = self
            .http()
            .get(url)
            .send_counted("halopsa")
            .await
            .map_err(|e| unreachable_site(site, &e))?;
        let (status, headers) = (response.status(), response.headers().clone());
        if status.as_u16() == 429 {
            return Err(VendorError::Throttled {
                detail:
                    "HaloPSA is rate-limiting this instance; try connecting again in a few minutes"
                        .into(),
                retry_after_secs: retry_after(&headers).unwrap_or(60),
            });
        }
        let bytes = response
            .bytes()
            .await
            .map_err(|e| transport_error(&e, "HaloPSA", false))?;
        let info: AuthInfo = if status.is_success() {
            serde_json::from_slice(&bytes).unwrap_or_default()
        } else {
            AuthInfo::default()
        };
        let tenant = info.tenant_id.and_then(|t| match t {
            Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_owned()),
            _ => None,
        });
        let auth = match info.auth_url.as_deref().map(str::trim) {
            Some(raw) if !raw.is_empty() => match self.trusted_auth_server(site, raw).await {
                Some(url) => url,
                None => {
                    tracing::warn!(
                        "HaloPSA authinfo named an authorisation server outside the site and Halo's hosted domains; using {{site}}/auth"
                    );
                    fallback
                }
            },
            _ => fallback,
        };
        Ok((auth, tenant))
    }

    /// The authorisation server `raw`, if we may send the client secret there: the site's own
    /// host, or one of Halo's hosted domains, and allowed by the address policy.
    async fn trusted_auth_server(&self, site: &Url, raw: &str) -> Option<Url> {
        let url = Url::parse(raw).ok()?;
        let policy = &self.options.policy;
        let scheme_ok =
            url.scheme() == "https" || (policy.allow_loopback && url.scheme() == "http");
        if !scheme_ok
            || !url.username().is_empty()
            || url.password().is_some()
            || url.fragment().is_some()
        {
            return None;
        }
        let host = match url.host()? {
            Host::Domain(d) => d.to_ascii_lowercase(),
            _ => url.host_str()?.to_owned(),
        };
        let same_site = Some(host.as_str()) == site.host_str() && url.port() == site.port();
        let hosted = url.port().is_none() && HOSTED_DOMAINS.iter().any(|d| host.ends_with(d));
        if !(same_site || hosted) {
            return None;
        }
        policy.check_resolves(&url).await.ok()?;
        Some(url)
    }
}

fn unreachable_site(site: &Url, e: &reqwest::Error) -> VendorError {
    let host = site.host_str().unwrap_or("the site");
    // The address policy's resolver refuses non-public hosts at connection time.
    if refused_by_policy(e) {
        return field(
            "site_url",
            format!("{host} is not a public internet address"),
        );
    }
    if e.is_timeout() {
        VendorError::Unreachable {
            detail: format!("HaloPSA at {host} did not answer in time"),
        }
    } else {
        VendorError::Unreachable {
            detail: format!("HaloPSA at {host} could not be reached: check the site URL"),
        }
    }
}

#[async_trait]
impl Connector for HaloIntegration {
    async fn connect(
        &self,
        _tenant: &TenantId,
        request: ConnectRequest,
    ) -> Result<Connected, VendorError> {
        let ConnectRequest::Halopsa(creds) = request else {
            return Err(super::not_halo_target());
        };
        let client_id = creds.client_id.trim().to_owned();
        let hosted_tenant = creds
            .tenant
            .as_deref()
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .map(str::to_owned);
        let mut errors = Vec::new();
        if client_id.is_empty() || client_id.chars().count() > 200 {
            errors.push(FieldError::new(
                "client_id",
                "must be the API application's client ID",
            ));
        }
        if creds.client_secret.expose_secret().is_empty() {
            errors.push(FieldError::new("client_secret", "must not be empty"));
        }
        if hosted_tenant
            .as_deref()
            .is_some_and(|t| t.chars().count() > 100 || t.chars().any(|c| c.is_control()))
        {
            errors.push(FieldError::new(
                "tenant",
                "must be the tenant name Halo shows under API Details",
            ));
        }
        let site = self.options.policy.base_url(&creds.site_url, &["/api"]);
        if let Err(e) = &site {
            errors.push(FieldError::new("site_url", e.0.clone()));
        }
        if !errors.is_empty() {
            return Err(VendorError::Invalid {
                detail: "the HaloPSA connection details are incomplete or not allowed".into(),
                errors,
                vendor_message: None,
            });
        }
        let site = site.expect("checked above");
        self.options
            .policy
            .check_resolves(&site)
            .await
            .map_err(|e| field("site_url", e.0))?;
        let (auth, discovered_tenant) = self.discover(&site).await?;
        let hosted_tenant = hosted_tenant.or(discovered_tenant);
        // A fresh connection: a token cached for earlier credentials must not prove these.
        let client = Client {
            http: self.http(),
            conn: Arc::new(self.new_connection()),
            endpoint: Endpoint {
                site: site.clone(),
                token_url: token_url(&auth, hosted_tenant.as_deref()),
                client_id: client_id.clone(),
                client_secret: creds.client_secret.clone(),
            },
        };
        client.authenticate().await.map_err(|e| match e {
            VendorError::Unreachable { .. } => not_halo(),
            other => other,
        })?;
        // One call each proves the agent may read customers and software licences.
        let count = [("count", "1".to_owned())];
        tokio::try_join!(
            client.list::<Value>("Client", &count),
            client.list::<Value>("SoftwareLicence", &count),
        )?;
        let stored = StoredCredentials {
            client_id,
            client_secret: creds.client_secret.expose_secret().to_owned(),
        };
        Ok(Connected {
            instance: VendorInstance::Halopsa {
                site_url: site.as_str().trim_end_matches('/').to_owned(),
                tenant: hosted_tenant,
                auth_url: auth.as_str().trim_end_matches('/').to_owned(),
            },
            secret: SecretString::from(
                serde_json::to_string(&stored).expect("credentials serialize"),
            ),
        })
    }

    fn same_instance(&self, old: &VendorInstance, new: &VendorInstance) -> bool {
        match (old, new) {
            (
                VendorInstance::Halopsa {
                    site_url: a,
                    tenant: ta,
                    ..
                },
                VendorInstance::Halopsa {
                    site_url: b,
                    tenant: tb,
                    ..
                },
            ) => a.eq_ignore_ascii_case(b) && ta == tb,
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
