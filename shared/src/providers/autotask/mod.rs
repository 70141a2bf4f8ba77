//! Autotask PSA: connect with an API-only user, ticket defaults from live picklists, plans to
//! Services, organizations to Company + Recurring Service contract + Contract Service, seats
//! through ContractServiceAdjustments, and tickets for platform alerts.

mod client;
mod configure;
mod connect;
mod imports;
mod map;
mod seats;
mod tickets;
mod wire;

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use time::{OffsetDateTime, macros::format_description};
use tokio::sync::OnceCell;
use url::Url;

use client::{Client, Credentials, ZoneCache};
pub use client::{Limits, PAGE};
use configure::choices;
use wire::{FieldInfo, Fields};

use super::http;
use crate::{
    domain::{Provider, TenantId, VendorInstance},
    ports::{
        Configurator, Connector, Importer, Integration, Mapper, SeatSync, SecretName, Secrets,
        Session, TicketDesk, VendorError,
    },
};

/// How long picklists are trusted before they are read again.
const PICKLIST_TTL: Duration = Duration::from_secs(15 * 60);

/// Where our vendor integration code (the `ApiIntegrationCode` header) comes from.
pub enum IntegrationCode {
    /// Given directly (local runner: `AUTOTASK_INTEGRATION_CODE`).
    Value(SecretString),
    /// Read once, on first use, from a deployment secret (Lambda).
    Secret {
        /// The secret's name.
        name: SecretName,
        /// Where to read it.
        secrets: Arc<dyn Secrets>,
    },
    /// Not configured: connecting is refused with a clear error.
    Missing,
}

/// Deployment settings of the Autotask integration.
pub struct AutotaskOptions {
    /// Zone lookup base (`AUTOTASK_ZONE_LOOKUP_URL`).
    pub zone_lookup_url: String,
    /// Allow http and loopback hosts (sandbox only).
    pub allow_loopback: bool,
    /// Concurrent calls per endpoint per connection (Autotask allows 3).
    pub per_endpoint: usize,
    /// Calls per hour per connection, well under the database's 10,000.
    pub hourly_budget: u32,
    /// Per-request timeout.
    pub timeout: Duration,
    /// Our integration code.
    pub integration_code: IntegrationCode,
}

/// The Autotask integration. Built once per cold start; per-connection state (limits,
/// picklists) lives in maps keyed by tenant.
pub struct AutotaskIntegration {
    /// Built on first use: most invocations never call Autotask, so cold starts skip TLS setup.
    http: std::sync::OnceLock<reqwest::Client>,
    zones: ZoneCache,
    lookup_base: Url,
    options: AutotaskOptions,
    code: OnceCell<SecretString>,
    limits: Mutex<HashMap<TenantId, Arc<Limits>>>,
    fields: Mutex<HashMap<TenantId, CachedFields>>,
}

/// Ticket field metadata of one connection and when it was read.
type CachedFields = (Instant, Arc<Vec<FieldInfo>>);

/// What we keep in the partner's secret.
#[derive(Deserialize, serde::Serialize)]
struct StoredCredentials {
    username: String,
    secret: String,
}

impl AutotaskIntegration {
    /// Builds the integration; fails if the zone lookup URL is unusable.
    pub fn new(options: AutotaskOptions) -> Result<Self, VendorError> {
        let mut lookup_base = http::vendor_url(&options.zone_lookup_url, options.allow_loopback)?;
        if !lookup_base.path().ends_with('/') {
            let path = format!("{}/", lookup_base.path());
            lookup_base.set_path(&path);
        }
        Ok(Self {
            http: std::sync::OnceLock::new(),
            zones: ZoneCache::default(),
            lookup_base,
            code: OnceCell::new(),
            limits: Mutex::default(),
            fields: Mutex::default(),
            options,
        })
    }

    fn http(&self) -> &reqwest::Client {
        self.http.get_or_init(|| http::client(self.options.timeout))
    }

    async fn integration_code(&self) -> Result<&SecretString, VendorError> {
        self.code
            .get_or_try_init(|| async {
                match &self.options.integration_code {
                    IntegrationCode::Value(v) => Ok(v.clone()),
                    IntegrationCode::Secret { name, secrets } => {
                        secrets.get(name).await.ok().flatten().ok_or_else(|| {
                            VendorError::IntegrationRefused {
                                detail:
                                    "this deployment's Autotask integration code could not be read"
                                        .into(),
                                vendor_message: None,
                            }
                        })
                    }
                    IntegrationCode::Missing => Err(VendorError::IntegrationRefused {
                        detail: "this deployment has no Autotask integration code configured"
                            .into(),
                        vendor_message: None,
                    }),
                }
            })
            .await
    }

    fn limits_for(&self, tenant: &TenantId) -> Arc<Limits> {
        self.limits
            .lock()
            .expect("limits lock")
            .entry(tenant.clone())
            .or_insert_with(|| {
                Arc::new(Limits::new(
                    self.options.per_endpoint,
                    self.options.hourly_budget,
                ))
            })
            .clone()
    }

    /// A client for the session's connection, with the credentials from its stored secret.
    async fn client(&self, session: &Session) -> Result<Client<'_>, VendorError> {
        let VendorInstance::Autotask { zone_url, .. } = &session.connection.instance else {
            return Err(not_autotask());
        };
        let stored: StoredCredentials = serde_json::from_str(session.credentials.expose_secret())
            .map_err(|_| VendorError::CredentialsRejected {
            detail: "the stored Autotask credentials are unreadable; connect again".into(),
            field: "secret",
            vendor_message: None,
        })?;
        Client::new(
            self.http(),
            &self.zones,
            &self.lookup_base,
            self.options.allow_loopback,
            self.limits_for(&session.tenant),
            Credentials {
                username: stored.username,
                secret: SecretString::from(stored.secret),
                integration_code: self.integration_code().await?.clone(),
            },
            zone_url,
        )
    }

    async fn ticket_fields(&self, session: &Session) -> Result<Arc<Vec<FieldInfo>>, VendorError> {
        if let Some((at, fields)) = self
            .fields
            .lock()
            .expect("fields lock")
            .get(&session.tenant)
            && at.elapsed() < PICKLIST_TTL
        {
            return Ok(fields.clone());
        }
        let fields = self
            .client(session)
            .await?
            .get_json::<Fields>("Tickets/entityInformation/fields")
            .await?;
        let fields = Arc::new(fields.fields);
        self.fields
            .lock()
            .expect("fields lock")
            .insert(session.tenant.clone(), (Instant::now(), fields.clone()));
        Ok(fields)
    }
}

/// The status value that means "Complete" (5 in every database we know; read, not assumed).
fn complete_status(fields: &[FieldInfo]) -> i64 {
    choices(fields, "status")
        .into_iter()
        .find(|c| c.label.eq_ignore_ascii_case("complete"))
        .map_or(5, |c| c.id)
}

fn today() -> OffsetDateTime {
    OffsetDateTime::now_utc().replace_time(time::Time::MIDNIGHT)
}

/// Autotask's naive-UTC timestamp form.
fn naive(at: OffsetDateTime) -> String {
    at.format(format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second]"
    ))
    .expect("formatting a date cannot fail")
}

fn not_autotask() -> VendorError {
    VendorError::Unreachable {
        detail: "not an Autotask target".into(),
    }
}

impl Integration for AutotaskIntegration {
    fn provider(&self) -> Provider {
        Provider::Autotask
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
    fn importer(&self) -> Option<&dyn Importer> {
        Some(self)
    }
}
