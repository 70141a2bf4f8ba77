//! ConnectWise PSA: connect with an API member's keys on a cloud or on-premise site (cloud web
//! hosts become their `api-` hosts; on-premise hosts pass the address policy), ticket defaults
//! from live board lists, plans to catalog products and organizations to company + agreement +
//! addition, seats as the addition's absolute `quantity` read once per agreement, and tickets
//! with internal notes for platform alerts.

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
use tokio::sync::OnceCell;

use client::{Client, Connection, Endpoint};
use configure::ListCache;

use super::{DeploymentSecret, address::AddressPolicy, http};
use crate::{
    domain::{Provider, TenantId, VendorInstance},
    ports::{
        Configurator, Connector, Integration, Mapper, SeatSync, Session, TicketDesk, VendorError,
    },
};

/// Deployment settings of the ConnectWise integration.
pub struct ConnectwiseOptions {
    /// Which partner-given on-premise addresses may be called.
    pub policy: AddressPolicy,
    /// Our clientId (`CONNECTWISE_CLIENT_ID_SECRET` or `CONNECTWISE_CLIENT_ID`).
    pub client_id: DeploymentSecret,
    /// Calls per rolling minute per connection, well under ConnectWise's 1,000.
    pub minute_budget: u32,
    /// Calls in flight per connection.
    pub concurrency: usize,
    /// Per-request timeout.
    pub timeout: Duration,
}

/// The ConnectWise integration. Built once per cold start; per-connection state (budget,
/// codebase, cached lists) lives in maps keyed by tenant.
pub struct ConnectwiseIntegration {
    /// Built on first use, with the address policy as its resolver.
    http: OnceLock<reqwest::Client>,
    options: ConnectwiseOptions,
    client_id: OnceCell<SecretString>,
    connections: Mutex<HashMap<TenantId, Arc<Connection>>>,
    lists: ListCache,
}

/// What we keep in the partner's secret.
#[derive(Deserialize, Serialize)]
struct StoredCredentials {
    public_key: String,
    private_key: String,
}

impl ConnectwiseIntegration {
    /// Builds the integration.
    pub fn new(options: ConnectwiseOptions) -> Self {
        Self {
            http: OnceLock::new(),
            options,
            client_id: OnceCell::new(),
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

    async fn client_id(&self) -> Result<SecretString, VendorError> {
        self.client_id
            .get_or_try_init(|| self.options.client_id.resolve("ConnectWise clientId"))
            .await
            .cloned()
    }

    fn new_connection(&self) -> Connection {
        Connection::new(self.options.minute_budget, self.options.concurrency)
    }

    fn connection_for(&self, tenant: &TenantId) -> Arc<Connection> {
        self.connections
            .lock()
            .expect("connections lock")
            .entry(tenant.clone())
            .or_insert_with(|| Arc::new(self.new_connection()))
            .clone()
    }

    /// A client for the session's connection, with the keys from its stored secret.
    async fn client(&self, session: &Session) -> Result<Client<'_>, VendorError> {
        let VendorInstance::Connectwise {
            site,
            company_id,
            codebase,
        } = &session.connection.instance
        else {
            return Err(not_connectwise_target());
        };
        let stored: StoredCredentials = serde_json::from_str(session.credentials.expose_secret())
            .map_err(|_| VendorError::CredentialsRejected {
            detail: "the stored ConnectWise keys are unreadable; connect again".into(),
            field: "private_key",
            vendor_message: None,
        })?;
        // Stored addresses passed the policy at connect; checking the form again is cheap.
        let origin = self
            .options
            .policy
            .base_url(site, &[])
            .map_err(|e| VendorError::Unreachable { detail: e.0 })?;
        Ok(Client {
            http: self.http(),
            conn: self.connection_for(&session.tenant),
            endpoint: Endpoint {
                origin,
                company_id: company_id.clone(),
                codebase: codebase.clone(),
                public_key: stored.public_key,
                private_key: SecretString::from(stored.private_key),
                client_id: self.client_id().await?,
            },
        })
    }
}

fn not_connectwise_target() -> VendorError {
    VendorError::Unreachable {
        detail: "not a ConnectWise target".into(),
    }
}

impl Integration for ConnectwiseIntegration {
    fn provider(&self) -> Provider {
        Provider::Connectwise
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
