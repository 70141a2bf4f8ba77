//! Autotask PSA: connect with an API-only user, ticket, import and opportunity defaults from
//! live picklists, plans to Services, organizations to Company + Recurring Service contract +
//! Contract Service (or the company alone), seats through ContractServiceAdjustments, tickets
//! for platform alerts, imports of the partner's customers and their records, and
//! opportunities from the platform.

mod client;
mod configure;
mod connect;
mod imports;
mod map;
mod opportunities;
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

use super::{DeploymentSecret, http};
use crate::{
    domain::{Provider, TenantId, VendorInstance},
    ports::{
        Configurator, Connector, Importer, Integration, Mapper, OpportunityDesk, SeatSync, Session,
        TicketDesk, VendorError,
    },
};

/// How long picklists are trusted before they are read again.
const PICKLIST_TTL: Duration = Duration::from_secs(15 * 60);

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
    /// Our integration code (the `ApiIntegrationCode` header).
    pub integration_code: DeploymentSecret,
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
    fields: Mutex<HashMap<(TenantId, &'static str), Arc<FieldsSlot>>>,
}

/// An entity's field metadata (picklists) for one connection, and when it was read. Behind
/// an async lock, so slices of an import that all need it at once read it once.
type FieldsSlot = tokio::sync::Mutex<Option<(Instant, Arc<Vec<FieldInfo>>)>>;

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
            .get_or_try_init(|| {
                self.options
                    .integration_code
                    .resolve("Autotask integration code")
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
        self.entity_fields(session, "Tickets").await
    }

    /// `entity`'s field metadata (its picklists), read at most once per [`PICKLIST_TTL`].
    async fn entity_fields(
        &self,
        session: &Session,
        entity: &'static str,
    ) -> Result<Arc<Vec<FieldInfo>>, VendorError> {
        let slot = self
            .fields
            .lock()
            .expect("fields lock")
            .entry((session.tenant.clone(), entity))
            .or_default()
            .clone();
        let mut cached = slot.lock().await;
        if let Some((at, fields)) = cached.as_ref()
            && at.elapsed() < PICKLIST_TTL
        {
            return Ok(fields.clone());
        }
        let client = self.client(session).await?;
        let mut fields = client
            .get_json::<Fields>(&format!("{entity}/entityInformation/fields"))
            .await?
            .fields;
        if entity == "ConfigurationItems" {
            asset_types(&client, &mut fields).await?;
        }
        let fields = Arc::new(fields);
        *cached = Some((Instant::now(), fields.clone()));
        Ok(fields)
    }

    /// The username of the session's API user.
    fn username(&self, session: &Session) -> Option<String> {
        serde_json::from_str::<StoredCredentials>(session.credentials.expose_secret())
            .ok()
            .map(|c| c.username)
    }

    /// Forgets everything cached for `tenant` (a new connection may be another database).
    fn forget_cached(&self, tenant: &TenantId) {
        self.fields
            .lock()
            .expect("fields lock")
            .retain(|(t, _), _| t != tenant);
    }
}

/// A configuration item's type is an id of the `ConfigurationItemTypes` entity; whether the
/// field is also a picklist is not documented. Where it is not, the entity's rows (inactive
/// ones too, for the labels of old records) become its picklist, so one lookup serves both.
async fn asset_types(client: &Client<'_>, fields: &mut Vec<FieldInfo>) -> Result<(), VendorError> {
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct AssetType {
        id: i64,
        #[serde(default)]
        name: String,
        #[serde(default)]
        is_active: bool,
    }
    let has_picklist = fields.iter().any(|f| {
        f.name.eq_ignore_ascii_case(ASSET_TYPE)
            && f.picklist_values.as_ref().is_some_and(|v| !v.is_empty())
    });
    if has_picklist {
        return Ok(());
    }
    let types: Vec<AssetType> = client
        .query(
            "ConfigurationItemTypes",
            serde_json::json!([{"op": "gt", "field": "id", "value": 0}]),
        )
        .await?;
    fields.retain(|f| !f.name.eq_ignore_ascii_case(ASSET_TYPE));
    fields.push(FieldInfo {
        name: ASSET_TYPE.into(),
        picklist_values: Some(
            types
                .into_iter()
                .map(|t| wire::PicklistValue {
                    value: t.id.to_string(),
                    label: t.name,
                    is_default_value: false,
                    is_active: t.is_active,
                    parent_value: None,
                })
                .collect(),
        ),
    });
    Ok(())
}

/// The configuration item field naming its type.
const ASSET_TYPE: &str = "configurationItemType";

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
    fn opportunity_desk(&self) -> Option<&dyn OpportunityDesk> {
        Some(self)
    }
}
