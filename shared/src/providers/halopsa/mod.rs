//! HaloPSA: connect with an API application's client credentials on a partner-given site (the
//! address policy keeps that from reaching our own network), ticket defaults from live lists,
//! organizations to Customer + Software Licence, seats as the licence's absolute `count`, and
//! tickets with actions for platform alerts.

mod client;
mod configure;
mod connect;
mod map;
mod seats;
mod tickets;
mod wire;

use std::{
    collections::HashMap,
    sync::{Arc, Mutex, OnceLock},
    time::Duration,
};

use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use url::Url;

use client::{Client, Connection, Endpoint};
use configure::ListCache;

use super::{address::AddressPolicy, http};
use crate::{
    domain::{Provider, TenantId, VendorInstance},
    ports::{
        Configurator, Connector, Integration, Mapper, SeatSync, Session, TicketDesk, VendorError,
    },
};

/// Records per page when listing (customers, licences).
pub const PAGE: usize = 500;

/// Deployment settings of the HaloPSA integration.
pub struct HaloOptions {
    /// Which partner-given addresses may be called.
    pub policy: AddressPolicy,
    /// Calls per rolling window per connection (Halo hosted allows 300 per 5 minutes, shared
    /// with the partner's other tools).
    pub window_budget: u32,
    /// The rolling window.
    pub window: Duration,
    /// Calls in flight per connection.
    pub concurrency: usize,
    /// Per-request timeout.
    pub timeout: Duration,
}

/// The HaloPSA integration. Built once per cold start; per-connection state (budget, token,
/// cached lists) lives in maps keyed by tenant.
pub struct HaloIntegration {
    /// Built on first use, with the address policy as its resolver.
    http: OnceLock<reqwest::Client>,
    options: HaloOptions,
    connections: Mutex<HashMap<TenantId, Arc<Connection>>>,
    lists: ListCache,
}

/// What we keep in the partner's secret.
#[derive(Deserialize, Serialize)]
struct StoredCredentials {
    client_id: String,
    client_secret: String,
}

impl HaloIntegration {
    /// Builds the integration.
    pub fn new(options: HaloOptions) -> Self {
        Self {
            http: OnceLock::new(),
            options,
            connections: Mutex::default(),
            lists: ListCache::default(),
        }
    }

    fn http(&self) -> &reqwest::Client {
        self.http.get_or_init(|| {
            http::builder(self.options.timeout)
                .dns_resolver(Arc::new(self.options.policy.clone()))
                .build()
                .expect("the HTTP client builds with static settings")
        })
    }

    fn new_connection(&self) -> Connection {
        Connection::new(
            self.options.window_budget,
            self.options.window,
            self.options.concurrency,
        )
    }

    fn connection_for(&self, tenant: &TenantId) -> Arc<Connection> {
        self.connections
            .lock()
            .expect("connections lock")
            .entry(tenant.clone())
            .or_insert_with(|| Arc::new(self.new_connection()))
            .clone()
    }

    /// A client for the session's connection, with the credentials from its stored secret.
    fn client(&self, session: &Session) -> Result<Client<'_>, VendorError> {
        let VendorInstance::Halopsa {
            site_url,
            tenant,
            auth_url,
        } = &session.connection.instance
        else {
            return Err(not_halo_target());
        };
        let stored: StoredCredentials = serde_json::from_str(session.credentials.expose_secret())
            .map_err(|_| VendorError::CredentialsRejected {
            detail: "the stored HaloPSA credentials are unreadable; connect again".into(),
            field: "client_secret",
            vendor_message: None,
        })?;
        // Stored addresses passed the policy at connect; checking the form again is cheap.
        let site = self
            .options
            .policy
            .base_url(site_url, &[])
            .map_err(|e| VendorError::Unreachable { detail: e.0 })?;
        let auth = Url::parse(auth_url).map_err(|_| VendorError::Unreachable {
            detail: "the stored HaloPSA authorisation server is not a URL; connect again".into(),
        })?;
        Ok(Client {
            http: self.http(),
            conn: self.connection_for(&session.tenant),
            endpoint: Endpoint {
                site,
                token_url: token_url(&auth, tenant.as_deref()),
                client_id: stored.client_id,
                client_secret: SecretString::from(stored.client_secret),
            },
        })
    }
}

/// `{auth server}/token`, with `?tenant=` for hosted instances.
fn token_url(auth: &Url, tenant: Option<&str>) -> Url {
    let mut url = auth.clone();
    let path = format!("{}/token", url.path().trim_end_matches('/'));
    url.set_path(&path);
    url.set_query(None);
    if let Some(t) = tenant {
        url.query_pairs_mut().append_pair("tenant", t);
    }
    url
}

fn not_halo_target() -> VendorError {
    VendorError::Unreachable {
        detail: "not a HaloPSA target".into(),
    }
}

impl Integration for HaloIntegration {
    fn provider(&self) -> Provider {
        Provider::Halopsa
    }
    fn connector(&self) -> Option<&dyn Connector> {
        Some(self)
    }
    fn configurator(&self) -> Option<&dyn Configurator> {
        Some(self)
    }
    fn mapper(&self) -> Option<&dyn Mapper> {
        Some(self)
    }
    fn seat_sync(&self) -> Option<&dyn SeatSync> {
        Some(self)
    }
    fn ticket_desk(&self) -> Option<&dyn TicketDesk> {
        Some(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_urls() {
        let auth = Url::parse("https://acme.halopsa.com/auth/").unwrap();
        assert_eq!(
            token_url(&auth, None).as_str(),
            "https://acme.halopsa.com/auth/token"
        );
        let trial = Url::parse("https://uk-trial.halopsa.com").unwrap();
        assert_eq!(
            token_url(&trial, Some("Tenant 123")).as_str(),
            "https://uk-trial.halopsa.com/token?tenant=Tenant+123"
        );
    }
}
