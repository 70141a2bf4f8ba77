//! Autotask PSA: connect with an API-only user, ticket defaults from live picklists, plans to
//! Services, organizations to Company + Recurring Service contract + Contract Service, seats
//! through ContractServiceAdjustments, and tickets for platform alerts.

mod client;
mod wire;

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use async_trait::async_trait;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde_json::{Value, json};
use time::{OffsetDateTime, format_description::well_known::Rfc3339, macros::format_description};
use tokio::sync::OnceCell;
use url::Url;

use client::{Client, Credentials, ZoneCache};
pub use client::{Limits, PAGE};
use wire::{
    Company, Contract, ContractService, ContractServiceUnit, FieldInfo, Fields, RECURRING_SERVICE,
    Service, Ticket,
};

use super::http;
use crate::{
    domain::{
        Alert, AutotaskSettings, ConnectRequest, FieldError, OrgTarget, PlanTarget, Provider,
        ProviderSettings, TenantId, VendorInstance, ticket_reference,
    },
    ports::{
        CatalogItem, CatalogPage, CatalogQuery, Choice, Configurator, Connected, Connector,
        Integration, Mapper, SeatSync, SecretName, Secrets, Session, TicketDesk, VendorError,
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

/// The lists `options/{list}` serves and the ticket field behind each.
const LISTS: [(&str, &str); 5] = [
    ("ticket_types", "ticketType"),
    ("slas", "serviceLevelAgreementID"),
    ("priorities", "priority"),
    ("queues", "queueID"),
    ("statuses", "status"),
];

fn choices(fields: &[FieldInfo], field: &str) -> Vec<Choice> {
    fields
        .iter()
        .find(|f| f.name.eq_ignore_ascii_case(field))
        .and_then(|f| f.picklist_values.as_ref())
        .map(|values| {
            values
                .iter()
                .filter(|v| v.is_active)
                .filter_map(|v| {
                    Some(Choice {
                        id: v.value.trim().parse().ok()?,
                        label: v.label.clone(),
                        is_default: v.is_default_value,
                        parent: v.parent_value.as_deref().and_then(|p| p.parse().ok()),
                    })
                })
                .collect()
        })
        .unwrap_or_default()
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
}

#[async_trait]
impl Connector for AutotaskIntegration {
    async fn connect(
        &self,
        tenant: &TenantId,
        request: ConnectRequest,
    ) -> Result<Connected, VendorError> {
        let ConnectRequest::Autotask(creds) = request else {
            return Err(not_autotask());
        };
        let username = creds.username.trim().to_owned();
        let mut errors = Vec::new();
        if username.is_empty() || username.len() > 320 {
            errors.push(FieldError::new(
                "username",
                "must be the API user's username (key)",
            ));
        }
        if creds.secret.expose_secret().is_empty() {
            errors.push(FieldError::new("secret", "must not be empty"));
        }
        if !errors.is_empty() {
            return Err(VendorError::Invalid {
                detail: "the Autotask credentials are incomplete".into(),
                errors,
                vendor_message: None,
            });
        }
        let zone = self
            .zones
            .lookup(self.http(), &self.lookup_base, &username, true)
            .await?;
        let code = self.integration_code().await?;
        let client = Client::new(
            self.http(),
            &self.zones,
            &self.lookup_base,
            self.options.allow_loopback,
            self.limits_for(tenant),
            Credentials {
                username: username.clone(),
                secret: creds.secret.clone(),
                integration_code: code.clone(),
            },
            &zone.url,
        )?;
        // One authenticated call proves user, secret and integration code together.
        client.threshold().await.map_err(connect_error)?;
        let stored = StoredCredentials {
            username,
            secret: creds.secret.expose_secret().to_owned(),
        };
        Ok(Connected {
            instance: VendorInstance::Autotask {
                zone_url: client.zone_url(),
                web_url: zone.web_url,
                database_id: zone.ci,
            },
            secret: SecretString::from(
                serde_json::to_string(&stored).expect("credentials serialize"),
            ),
        })
    }

    fn same_instance(&self, old: &VendorInstance, new: &VendorInstance) -> bool {
        matches!(
            (old, new),
            (
                VendorInstance::Autotask { database_id: a, .. },
                VendorInstance::Autotask { database_id: b, .. }
            ) if a == b
        )
    }

    fn forget(&self, tenant: &TenantId) {
        self.limits.lock().expect("limits lock").remove(tenant);
        self.fields.lock().expect("fields lock").remove(tenant);
    }
}

/// Autotask words connect failures in 500s; turn them into something the partner can act on.
fn connect_error(e: VendorError) -> VendorError {
    let VendorError::Refused { vendor_message } = e else {
        return e;
    };
    let m = vendor_message.to_ascii_lowercase();
    let user = |detail: &str| VendorError::CredentialsRejected {
        detail: detail.into(),
        field: "username",
        vendor_message: Some(vendor_message.clone()),
    };
    if m.contains("integration code")
        || m.contains("tracking identifier")
        || m.contains("apiintegrationcode")
    {
        VendorError::IntegrationRefused {
            detail: "Autotask refused this platform's integration code; the API user must have this platform selected as its integration vendor".into(),
            vendor_message: Some(vendor_message),
        }
    } else if m.contains("locked") {
        user("the Autotask API user is locked: unlock it in Autotask (Admin > Resources/Users)")
    } else if m.contains("inactive") || m.contains("not active") {
        user("the Autotask API user is inactive: activate it in Autotask")
    } else if m.contains("user") {
        user("Autotask does not know this API user")
    } else {
        VendorError::Refused { vendor_message }
    }
}

#[async_trait]
impl Configurator for AutotaskIntegration {
    fn lists(&self) -> &'static [&'static str] {
        &["ticket_types", "slas", "priorities", "queues", "statuses"]
    }

    async fn options(&self, session: &Session, list: &str) -> Result<Vec<Choice>, VendorError> {
        let (_, field) = LISTS
            .iter()
            .find(|(name, _)| *name == list)
            .ok_or_else(|| VendorError::invalid("list", format!("unknown list {list:?}")))?;
        Ok(choices(&self.ticket_fields(session).await?, field))
    }

    async fn check(
        &self,
        session: &Session,
        settings: &ProviderSettings,
    ) -> Result<(), VendorError> {
        let ProviderSettings::Autotask(s) = settings else {
            return Err(not_autotask());
        };
        let fields = self.ticket_fields(session).await?;
        let AutotaskSettings {
            ticket_type,
            sla,
            priority,
            queue,
            status,
            ..
        } = s;
        let mut errors = Vec::new();
        for ((name, field), value) in LISTS
            .iter()
            .zip([ticket_type, sla, priority, queue, status])
        {
            let form_field = match *name {
                "ticket_types" => "ticket_type",
                "slas" => "sla",
                "priorities" => "priority",
                "queues" => "queue",
                _ => "status",
            };
            match value {
                None => errors.push(FieldError::new(form_field, "is required")),
                Some(v) if !choices(&fields, field).iter().any(|c| c.id == *v) => {
                    errors.push(FieldError::new(
                        form_field,
                        format!("{v} is not an active choice in Autotask ({name})"),
                    ))
                }
                Some(_) => {}
            }
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(VendorError::Invalid {
                detail: "the configuration does not match Autotask's picklists".into(),
                errors,
                vendor_message: None,
            })
        }
    }
}

fn page_filter(
    base: Vec<Value>,
    query: &CatalogQuery,
    name_field: &str,
) -> Result<Vec<Value>, VendorError> {
    let mut filter = base;
    let after: i64 = match &query.after {
        Some(a) => a
            .parse()
            .map_err(|_| VendorError::invalid("after", "is not a cursor from this listing"))?,
        None => 0,
    };
    filter.push(json!({"op": "gt", "field": "id", "value": after}));
    if let Some(search) = query.search.as_deref().filter(|s| !s.trim().is_empty()) {
        filter.push(json!({"op": "contains", "field": name_field, "value": search.trim()}));
    }
    Ok(filter)
}

fn page_of(items: Vec<CatalogItem>, limit: usize) -> CatalogPage {
    let next = (items.len() >= limit)
        .then(|| items.last().map(|i| i.id.to_string()))
        .flatten();
    CatalogPage { items, next }
}

#[async_trait]
impl Mapper for AutotaskIntegration {
    fn kinds(&self) -> &'static [&'static str] {
        &["services", "companies", "contracts", "contract-services"]
    }

    fn maps_plans(&self) -> bool {
        true
    }

    async fn catalog(
        &self,
        session: &Session,
        kind: &str,
        query: &CatalogQuery,
    ) -> Result<CatalogPage, VendorError> {
        let limit = query.limit;
        match kind {
            "services" => {
                let filter = page_filter(
                    vec![json!({"op": "eq", "field": "isActive", "value": true})],
                    query,
                    "name",
                )?;
                let rows: Vec<Service> = self
                    .client(session)
                    .await?
                    .query_page("Services", Value::Array(filter), limit)
                    .await?;
                Ok(page_of(
                    rows.into_iter()
                        .map(|s| CatalogItem {
                            id: s.id,
                            name: s.name,
                            active: s.is_active,
                            parent_id: None,
                            service_id: None,
                        })
                        .collect(),
                    limit,
                ))
            }
            "companies" => {
                let filter = page_filter(
                    vec![json!({"op": "eq", "field": "isActive", "value": true})],
                    query,
                    "companyName",
                )?;
                let rows: Vec<Company> = self
                    .client(session)
                    .await?
                    .query_page("Companies", Value::Array(filter), limit)
                    .await?;
                Ok(page_of(
                    rows.into_iter()
                        .map(|c| CatalogItem {
                            id: c.id,
                            name: c.company_name,
                            active: c.is_active,
                            parent_id: None,
                            service_id: None,
                        })
                        .collect(),
                    limit,
                ))
            }
            "contracts" => {
                let company = query.parent.ok_or_else(|| {
                    VendorError::invalid("company_id", "is required to list a company's contracts")
                })?;
                let filter = page_filter(
                    vec![
                        json!({"op": "eq", "field": "companyID", "value": company}),
                        json!({"op": "eq", "field": "contractType", "value": RECURRING_SERVICE}),
                    ],
                    query,
                    "contractName",
                )?;
                let rows: Vec<Contract> = self
                    .client(session)
                    .await?
                    .query_page("Contracts", Value::Array(filter), limit)
                    .await?;
                Ok(page_of(
                    rows.into_iter()
                        .map(|c| CatalogItem {
                            id: c.id,
                            name: c.contract_name,
                            active: c.status == Some(1),
                            parent_id: Some(c.company_id),
                            service_id: None,
                        })
                        .collect(),
                    limit,
                ))
            }
            "contract-services" => {
                let contract = query.parent.ok_or_else(|| {
                    VendorError::invalid("contract_id", "is required to list a contract's services")
                })?;
                let filter = page_filter(
                    vec![json!({"op": "eq", "field": "contractID", "value": contract})],
                    query,
                    "invoiceDescription",
                )?;
                let c = self.client(session).await?;
                {
                    let rows: Vec<ContractService> = c
                        .query_page("ContractServices", Value::Array(filter), limit)
                        .await?;
                    let ids: Vec<i64> = rows.iter().map(|r| r.service_id).collect();
                    let services: HashMap<i64, Service> = c
                        .query_in::<Service>("Services", "id", &ids, &[])
                        .await?
                        .into_iter()
                        .map(|s| (s.id, s))
                        .collect();
                    Ok(page_of(
                        rows.into_iter()
                            .map(|r| {
                                let service = services.get(&r.service_id);
                                CatalogItem {
                                    id: r.id,
                                    name: service
                                        .map(|s| s.name.clone())
                                        .or(r.invoice_description)
                                        .unwrap_or_else(|| format!("Service {}", r.service_id)),
                                    active: service.is_some_and(|s| s.is_active),
                                    parent_id: Some(r.contract_id),
                                    service_id: Some(r.service_id),
                                }
                            })
                            .collect(),
                        limit,
                    ))
                }
            }
            other => Err(VendorError::invalid(
                "kind",
                format!("unknown catalog {other:?}"),
            )),
        }
    }

    async fn check_plan(&self, session: &Session, target: &PlanTarget) -> Result<(), VendorError> {
        let PlanTarget::Autotask { service_id } = *target;
        let service: Option<Service> = self
            .client(session)
            .await?
            .get("Services", service_id)
            .await?;
        match service {
            None => Err(VendorError::invalid(
                "service_id",
                format!("Autotask has no Service {service_id}"),
            )),
            Some(s) if !s.is_active => Err(VendorError::invalid(
                "service_id",
                format!("Service {service_id} ({}) is inactive", s.name),
            )),
            Some(_) => Ok(()),
        }
    }

    async fn check_org(
        &self,
        session: &Session,
        target: &OrgTarget,
        plan: Option<&PlanTarget>,
    ) -> Result<(), VendorError> {
        let OrgTarget::Autotask {
            company_id,
            contract_id,
            contract_service_id,
        } = *target
        else {
            return Err(not_autotask());
        };
        let c = self.client(session).await?;
        let (company, contract, contract_service) = tokio::try_join!(
            c.get::<Company>("Companies", company_id),
            c.get::<Contract>("Contracts", contract_id),
            c.get::<ContractService>("ContractServices", contract_service_id),
        )?;
        let mut errors = Vec::new();
        match company {
            None => errors.push(FieldError::new(
                "company_id",
                format!("Autotask has no company {company_id}"),
            )),
            Some(c) if !c.is_active => errors.push(FieldError::new(
                "company_id",
                format!("company {company_id} ({}) is inactive", c.company_name),
            )),
            Some(_) => {}
        }
        match &contract {
            None => errors.push(FieldError::new(
                "contract_id",
                format!("Autotask has no contract {contract_id}"),
            )),
            Some(c) if c.company_id != company_id => errors.push(FieldError::new(
                "contract_id",
                format!(
                    "contract {contract_id} belongs to company {}, not {company_id}",
                    c.company_id
                ),
            )),
            Some(c) if c.contract_type != Some(RECURRING_SERVICE) => errors.push(FieldError::new(
                "contract_id",
                format!("contract {contract_id} is not a Recurring Service contract"),
            )),
            Some(_) => {}
        }
        match &contract_service {
            None => errors.push(FieldError::new(
                "contract_service_id",
                format!("Autotask has no contract service {contract_service_id}"),
            )),
            Some(cs) if cs.contract_id != contract_id => errors.push(FieldError::new(
                "contract_service_id",
                format!("contract service {contract_service_id} belongs to contract {}, not {contract_id}", cs.contract_id),
            )),
            Some(cs) => {
                if let Some(PlanTarget::Autotask { service_id }) = plan
                    && cs.service_id != *service_id
                {
                    errors.push(FieldError::new(
                        "contract_service_id",
                        format!(
                            "contract service {contract_service_id} sells Service {}, but the organization's plan maps to Service {service_id}",
                            cs.service_id
                        ),
                    ));
                }
            }
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(VendorError::Invalid {
                detail: "the Autotask entities do not fit together".into(),
                errors,
                vendor_message: None,
            })
        }
    }

    async fn broken(
        &self,
        session: &Session,
        plans: &[PlanTarget],
        orgs: &[OrgTarget],
    ) -> Result<(Vec<bool>, Vec<bool>), VendorError> {
        let service_ids: Vec<i64> = plans
            .iter()
            .map(|PlanTarget::Autotask { service_id }| *service_id)
            .collect();
        let triples: Vec<(i64, i64, i64)> = orgs
            .iter()
            .filter_map(|t| match *t {
                OrgTarget::Autotask {
                    company_id,
                    contract_id,
                    contract_service_id,
                } => Some((company_id, contract_id, contract_service_id)),
                _ => None,
            })
            .collect();
        let companies: Vec<i64> = triples.iter().map(|t| t.0).collect();
        let contracts: Vec<i64> = triples.iter().map(|t| t.1).collect();
        let contract_services: Vec<i64> = triples.iter().map(|t| t.2).collect();
        let c = self.client(session).await?;
        let none = |v: &Vec<i64>| v.is_empty();
        let (services, companies, contracts, contract_services) = tokio::try_join!(
            async {
                if none(&service_ids) {
                    Ok(vec![])
                } else {
                    c.query_in::<Service>("Services", "id", &service_ids, &[])
                        .await
                }
            },
            async {
                if none(&companies) {
                    Ok(vec![])
                } else {
                    c.query_in::<Company>("Companies", "id", &companies, &[])
                        .await
                }
            },
            async {
                if none(&contracts) {
                    Ok(vec![])
                } else {
                    c.query_in::<Contract>("Contracts", "id", &contracts, &[])
                        .await
                }
            },
            async {
                if none(&contract_services) {
                    Ok(vec![])
                } else {
                    c.query_in::<ContractService>("ContractServices", "id", &contract_services, &[])
                        .await
                }
            },
        )?;
        let active_services: HashMap<i64, bool> =
            services.iter().map(|s| (s.id, s.is_active)).collect();
        let active_companies: HashMap<i64, bool> =
            companies.iter().map(|c| (c.id, c.is_active)).collect();
        let contract_of: HashMap<i64, &Contract> = contracts.iter().map(|c| (c.id, c)).collect();
        let cs_of: HashMap<i64, &ContractService> =
            contract_services.iter().map(|c| (c.id, c)).collect();
        let plans_broken = plans
            .iter()
            .map(|PlanTarget::Autotask { service_id }| {
                !active_services.get(service_id).copied().unwrap_or(false)
            })
            .collect();
        let orgs_broken = orgs
            .iter()
            .map(|t| match *t {
                OrgTarget::Autotask {
                    company_id,
                    contract_id,
                    contract_service_id,
                } => {
                    !active_companies.get(&company_id).copied().unwrap_or(false)
                        || contract_of
                            .get(&contract_id)
                            .is_none_or(|c| c.company_id != company_id)
                        || cs_of
                            .get(&contract_service_id)
                            .is_none_or(|cs| cs.contract_id != contract_id)
                }
                _ => true,
            })
            .collect();
        Ok((plans_broken, orgs_broken))
    }
}

/// Runs smaller than this skip the threshold check: it would be a tenth of their calls.
const PREFLIGHT_FROM: usize = 50;

#[async_trait]
impl SeatSync for AutotaskIntegration {
    async fn preflight(
        &self,
        session: &Session,
        planned_calls: usize,
    ) -> Result<usize, VendorError> {
        if planned_calls < PREFLIGHT_FROM {
            return Ok(self.options.per_endpoint);
        }
        // The database's 10,000 an hour are shared with the partner's other tools: slow down
        // when they are busy, and do not start a run that would push the database over.
        let t = self.client(session).await?.threshold().await?;
        let limit = t.external_request_threshold.max(1);
        let after = t.current_timeframe_request_count + planned_calls as u64;
        if after * 10 > limit * 9 {
            return Err(VendorError::Throttled {
                detail: format!(
                    "Autotask's hourly threshold for this database is at {} of {limit}; this run needs about {planned_calls} calls, so it waits",
                    t.current_timeframe_request_count
                ),
                retry_after_secs: 600,
            });
        }
        Ok(if after * 4 > limit * 3 {
            1
        } else {
            self.options.per_endpoint
        })
    }

    async fn current_seats(
        &self,
        session: &Session,
        targets: &[OrgTarget],
    ) -> Result<Vec<Option<u32>>, VendorError> {
        let ids: Vec<i64> = targets
            .iter()
            .filter_map(|t| match t {
                OrgTarget::Autotask {
                    contract_service_id,
                    ..
                } => Some(*contract_service_id),
                _ => None,
            })
            .collect();
        let day = today();
        let (start_of_day, end_of_day) = (naive(day), naive(day + time::Duration::seconds(86_399)));
        let rows: Vec<ContractServiceUnit> = self
            .client(session)
            .await?
            .query_in(
                "ContractServiceUnits",
                "contractServiceID",
                &ids,
                &[
                    json!({"op": "lte", "field": "startDate", "value": end_of_day}),
                    json!({"op": "gte", "field": "endDate", "value": start_of_day}),
                ],
            )
            .await?;
        // An adjustment within a period splits it; the row that started last is today's.
        let mut current: HashMap<i64, (String, f64)> = HashMap::new();
        for row in rows {
            let entry = current
                .entry(row.contract_service_id)
                .or_insert_with(|| (row.start_date.clone(), row.units));
            if row.start_date >= entry.0 {
                *entry = (row.start_date, row.units);
            }
        }
        Ok(targets
            .iter()
            .map(|t| match t {
                OrgTarget::Autotask {
                    contract_service_id,
                    ..
                } => current
                    .get(contract_service_id)
                    .map(|(_, units)| units.round().max(0.0) as u32),
                _ => None,
            })
            .collect())
    }

    async fn set_seats(
        &self,
        session: &Session,
        target: &OrgTarget,
        current: u32,
        wanted: u32,
    ) -> Result<(), VendorError> {
        let OrgTarget::Autotask {
            contract_id,
            contract_service_id,
            ..
        } = *target
        else {
            return Err(not_autotask());
        };
        let delta = i64::from(wanted) - i64::from(current);
        if delta == 0 {
            return Ok(());
        }
        let body = json!({
            "contractID": contract_id,
            "contractServiceID": contract_service_id,
            "effectiveDate": naive(today()),
            "unitChange": delta,
        });
        self.client(session)
            .await?
            .create(
                &format!("Contracts/{contract_id}/ServiceAdjustments"),
                &body,
            )
            .await
            .map(|_| ())
    }
}

#[async_trait]
impl TicketDesk for AutotaskIntegration {
    async fn is_open(&self, session: &Session, ticket_id: i64) -> Result<bool, VendorError> {
        let complete = complete_status(&self.ticket_fields(session).await?);
        let ticket: Option<Ticket> = self
            .client(session)
            .await?
            .get("Tickets", ticket_id)
            .await?;
        Ok(ticket.is_some_and(|t| t.status != complete))
    }

    async fn find_open(
        &self,
        session: &Session,
        dedupe_key: &str,
    ) -> Result<Option<i64>, VendorError> {
        let complete = complete_status(&self.ticket_fields(session).await?);
        let filter = json!([
            {"op": "eq", "field": "externalID", "value": ticket_reference(dedupe_key)},
            {"op": "noteq", "field": "status", "value": complete},
        ]);
        let found: Vec<Ticket> = self
            .client(session)
            .await?
            .query_page("Tickets", filter, 1)
            .await?;
        Ok(found.first().map(|t| t.id))
    }

    async fn open(
        &self,
        session: &Session,
        target: &OrgTarget,
        settings: &ProviderSettings,
        alert: &Alert,
    ) -> Result<i64, VendorError> {
        let (
            OrgTarget::Autotask {
                company_id,
                contract_id,
                ..
            },
            ProviderSettings::Autotask(s),
        ) = (target, settings)
        else {
            return Err(not_autotask());
        };
        // Autotask requires a due date unless a ticket category supplies one: a day from now.
        let due = (OffsetDateTime::now_utc() + time::Duration::days(1))
            .replace_nanosecond(0)
            .expect("zero nanoseconds is valid")
            .format(&Rfc3339)
            .expect("formatting a date cannot fail");
        let body = json!({
            "companyID": company_id,
            "contractID": contract_id,
            "title": alert.title,
            "description": alert.description,
            "status": s.status,
            "priority": s.priority,
            "queueID": s.queue,
            "ticketType": s.ticket_type,
            "serviceLevelAgreementID": s.sla,
            "dueDateTime": due,
            "externalID": ticket_reference(&alert.dedupe_key),
        });
        self.client(session).await?.create("Tickets", &body).await
    }

    async fn add_note(
        &self,
        session: &Session,
        ticket_id: i64,
        alert: &Alert,
    ) -> Result<(), VendorError> {
        let body = json!({
            "ticketID": ticket_id,
            "title": alert.title,
            "description": if alert.description.is_empty() { &alert.title } else { &alert.description },
            "noteType": 1,
            "publish": 1,
        });
        self.client(session)
            .await?
            .create(&format!("Tickets/{ticket_id}/Notes"), &body)
            .await
            .map(|_| ())
    }
}
