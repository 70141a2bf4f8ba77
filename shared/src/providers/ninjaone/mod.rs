//! NinjaOne: connect through NinjaOne's consent page (authorization code with PKCE, the
//! partner's own app), rotating refresh tokens, organizations to link platform organizations
//! to, and devices imported as assets (seed 003).

mod client;
mod wire;

use std::{
    collections::{HashMap, HashSet},
    sync::{Arc, Mutex, OnceLock},
    time::Duration,
};

use async_trait::async_trait;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use tokio::sync::Semaphore;
use url::Url;

use client::Client;
use wire::{Device, Location, Organization, Role};

use super::http::{self, CountedSend};
use crate::{
    domain::{
        ConnectRequest, FieldError, NinjaRegion, OrgTarget, PlanTarget, Provider, TenantId,
        VendorDevice, VendorInstance,
    },
    ports::{
        AssetSource, CatalogItem, CatalogPage, CatalogQuery, Consent, ConsentStart, Integration,
        Mapper, MatchTarget, Session, TokenRefresh, VendorError,
    },
};

/// NinjaOne's largest page.
pub const PAGE: usize = 1000;
/// Organizations per device filter (`organization in (...)`).
const ORGS_PER_FILTER: usize = 100;
/// An access token is renewed when it has less than this left.
const RENEW_BEFORE: i64 = 300;
/// What we ask the partner to approve: read-only monitoring data, and a refresh token.
const SCOPES: &str = "monitoring offline_access";

/// Deployment settings of the NinjaOne integration.
pub struct NinjaOptions {
    /// One base URL for every region (`NINJAONE_BASE_URL`, the sandbox); `None`: the regions'
    /// own hosts.
    pub base_url_override: Option<String>,
    /// Allow http and loopback hosts (sandbox only).
    pub allow_loopback: bool,
    /// Calls in flight per connection.
    pub concurrency: usize,
    /// Per-request timeout.
    pub timeout: Duration,
}

/// The NinjaOne integration, built once per cold start.
pub struct NinjaIntegration {
    http: OnceLock<reqwest::Client>,
    options: NinjaOptions,
    slots: Mutex<HashMap<TenantId, Arc<Semaphore>>>,
}

/// What the connection's secret holds; the tokens once the partner approved.
#[derive(Deserialize, Serialize)]
struct Stored {
    client_id: String,
    client_secret: String,
    #[serde(default)]
    refresh_token: Option<String>,
    #[serde(default)]
    access_token: Option<String>,
    /// Unix seconds.
    #[serde(default)]
    access_expires_at: Option<i64>,
}

impl Stored {
    fn read(secret: &SecretString) -> Result<Self, VendorError> {
        serde_json::from_str(secret.expose_secret()).map_err(|_| VendorError::CredentialsRejected {
            detail: "the stored NinjaOne credentials are unreadable; connect again".into(),
            field: "client_secret",
            vendor_message: None,
        })
    }

    fn secret(&self) -> SecretString {
        SecretString::from(serde_json::to_string(self).expect("credentials serialize"))
    }

    fn with_token(mut self, token: wire::Token) -> Self {
        let lifetime = token.expires_in.unwrap_or(3600.0).max(0.0) as i64;
        self.access_expires_at = Some(OffsetDateTime::now_utc().unix_timestamp() + lifetime);
        self.access_token = Some(token.access_token);
        // Rotation: a new refresh token replaces the old, which may already be spent.
        if let Some(r) = token.refresh_token {
            self.refresh_token = Some(r);
        }
        self
    }
}

/// A region's instance.
fn region_host(region: NinjaRegion) -> &'static str {
    match region {
        NinjaRegion::Us => "https://app.ninjarmm.com/",
        NinjaRegion::Us2 => "https://us2.ninjarmm.com/",
        NinjaRegion::Eu => "https://eu.ninjarmm.com/",
        NinjaRegion::Oc => "https://oc.ninjarmm.com/",
        NinjaRegion::Ca => "https://ca.ninjarmm.com/",
        NinjaRegion::Fed => "https://fed.ninjarmm.com/",
    }
}

fn not_ninja() -> VendorError {
    VendorError::Unreachable {
        detail: "not a NinjaOne target".into(),
    }
}

impl NinjaIntegration {
    /// Builds the integration.
    pub fn new(options: NinjaOptions) -> Self {
        Self {
            http: OnceLock::new(),
            options,
            slots: Mutex::default(),
        }
    }

    fn http(&self) -> &reqwest::Client {
        self.http.get_or_init(|| http::client(self.options.timeout))
    }

    /// The instance's base URL: the region's fixed host, never partner input.
    fn base(&self, instance: &VendorInstance) -> Result<Url, VendorError> {
        let VendorInstance::Ninjaone { region } = instance else {
            return Err(not_ninja());
        };
        let raw = self
            .options
            .base_url_override
            .as_deref()
            .unwrap_or_else(|| region_host(*region));
        let mut url = http::vendor_url(raw, self.options.allow_loopback)?;
        if !url.path().ends_with('/') {
            let path = format!("{}/", url.path());
            url.set_path(&path);
        }
        Ok(url)
    }

    fn client(&self, session: &Session) -> Result<Client<'_>, VendorError> {
        let stored = Stored::read(&session.credentials)?;
        let access_token = stored
            .access_token
            .ok_or_else(|| VendorError::Unreachable {
                detail: "the NinjaOne connection has no access token yet".into(),
            })?;
        let slots = self
            .slots
            .lock()
            .expect("slots lock")
            .entry(session.tenant.clone())
            .or_insert_with(|| Arc::new(Semaphore::new(self.options.concurrency.max(1))))
            .clone();
        Ok(Client {
            http: self.http(),
            base: self.base(&session.connection.instance)?,
            access_token: SecretString::from(access_token),
            slots,
        })
    }

    async fn organizations(&self, session: &Session) -> Result<Vec<Organization>, VendorError> {
        let mut orgs = self
            .client(session)?
            .all::<Organization>("organizations", &[], PAGE, |o| o.id)
            .await?;
        orgs.sort_by_key(|o| o.id);
        Ok(orgs)
    }
}

impl Integration for NinjaIntegration {
    fn provider(&self) -> Provider {
        Provider::Ninjaone
    }
    fn mapper(&self) -> Option<&dyn Mapper> {
        Some(self)
    }
    fn consent(&self) -> Option<&dyn Consent> {
        Some(self)
    }
    fn token_refresh(&self) -> Option<&dyn TokenRefresh> {
        Some(self)
    }
    fn asset_source(&self) -> Option<&dyn AssetSource> {
        Some(self)
    }
}

#[async_trait]
impl Consent for NinjaIntegration {
    fn start(
        &self,
        request: ConnectRequest,
        state: &str,
        code_challenge: &str,
        redirect_uri: &str,
    ) -> Result<ConsentStart, VendorError> {
        let ConnectRequest::Ninjaone(creds) = request else {
            return Err(not_ninja());
        };
        let client_id = creds.client_id.trim().to_owned();
        let mut errors = Vec::new();
        if client_id.is_empty() || client_id.chars().count() > 200 {
            errors.push(FieldError::new(
                "client_id",
                "must be the client ID of the partner's NinjaOne API app",
            ));
        }
        if creds.client_secret.expose_secret().is_empty() {
            errors.push(FieldError::new("client_secret", "must not be empty"));
        }
        if !errors.is_empty() {
            return Err(VendorError::Invalid {
                detail: "the NinjaOne connection details are incomplete".into(),
                errors,
                vendor_message: None,
            });
        }
        let instance = VendorInstance::Ninjaone {
            region: creds.region,
        };
        let mut url = self
            .base(&instance)?
            .join("ws/oauth/authorize")
            .expect("a fixed path joins");
        url.query_pairs_mut()
            .append_pair("response_type", "code")
            .append_pair("client_id", &client_id)
            .append_pair("redirect_uri", redirect_uri)
            .append_pair("scope", SCOPES)
            .append_pair("state", state)
            .append_pair("code_challenge", code_challenge)
            .append_pair("code_challenge_method", "S256");
        let pending = Stored {
            client_id,
            client_secret: creds.client_secret.expose_secret().to_owned(),
            refresh_token: None,
            access_token: None,
            access_expires_at: None,
        };
        Ok(ConsentStart {
            authorize_url: url.to_string(),
            instance,
            pending_secret: pending.secret(),
        })
    }

    async fn finish(
        &self,
        instance: &VendorInstance,
        pending_secret: &SecretString,
        code: &str,
        code_verifier: &str,
        redirect_uri: &str,
    ) -> Result<SecretString, VendorError> {
        let pending = Stored::read(pending_secret)?;
        let base = self.base(instance)?;
        let token = client::token(
            self.http(),
            &base,
            &[
                ("grant_type", "authorization_code"),
                ("code", code),
                ("redirect_uri", redirect_uri),
                ("client_id", &pending.client_id),
                ("client_secret", &pending.client_secret),
                ("code_verifier", code_verifier),
            ],
        )
        .await?;
        if token.refresh_token.is_none() {
            return Err(VendorError::IntegrationRefused {
                detail: "NinjaOne issued no refresh token: tick the Refresh Token grant type on the partner's API app".into(),
                vendor_message: None,
            });
        }
        let stored = pending.with_token(token);
        // One call proves the token reads organizations (scope and region right).
        let probe = Client {
            http: self.http(),
            base,
            access_token: SecretString::from(stored.access_token.clone().unwrap_or_default()),
            slots: Arc::new(Semaphore::new(1)),
        };
        probe
            .get::<Vec<Organization>>("organizations", &[("pageSize", "1".into())])
            .await?;
        Ok(stored.secret())
    }

    async fn revoke(&self, session: &Session) -> Result<(), VendorError> {
        let stored = Stored::read(&session.credentials)?;
        let Some(refresh) = stored.refresh_token.as_deref() else {
            return Ok(());
        };
        let url = self
            .base(&session.connection.instance)?
            .join("ws/oauth/revoke")
            .expect("a fixed path joins");
        let response = self
            .http()
            .post(url)
            .form(&[
                ("token", refresh),
                ("token_type_hint", "refresh_token"),
                ("client_id", &stored.client_id),
                ("client_secret", &stored.client_secret),
            ])
            .send_counted("ninjaone")
            .await
            .map_err(|e| http::transport_error(&e, "NinjaOne's revoke endpoint", false))?;
        if response.status().is_success() {
            Ok(())
        } else {
            Err(VendorError::Unreachable {
                detail: format!(
                    "NinjaOne's revoke endpoint answered HTTP {}",
                    response.status().as_u16()
                ),
            })
        }
    }
}

#[async_trait]
impl TokenRefresh for NinjaIntegration {
    fn needs_refresh(&self, credentials: &SecretString, now: OffsetDateTime) -> bool {
        Stored::read(credentials).is_ok_and(|s| {
            s.access_token.is_none()
                || s.access_expires_at
                    .is_none_or(|at| at - now.unix_timestamp() < RENEW_BEFORE)
        })
    }

    async fn refresh(
        &self,
        instance: &VendorInstance,
        credentials: &SecretString,
    ) -> Result<SecretString, VendorError> {
        let stored = Stored::read(credentials)?;
        let refresh =
            stored
                .refresh_token
                .clone()
                .ok_or_else(|| VendorError::CredentialsRejected {
                    detail: "the NinjaOne connection has no refresh token; connect again".into(),
                    field: "refresh_token",
                    vendor_message: None,
                })?;
        let token = client::token(
            self.http(),
            &self.base(instance)?,
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", &refresh),
                ("client_id", &stored.client_id),
                ("client_secret", &stored.client_secret),
            ],
        )
        .await?;
        Ok(stored.with_token(token).secret())
    }
}

#[async_trait]
impl Mapper for NinjaIntegration {
    fn kinds(&self) -> &'static [&'static str] {
        &["organizations"]
    }

    fn maps_plans(&self) -> bool {
        false
    }

    fn match_target(&self) -> Option<MatchTarget> {
        Some(("organizations", |organization_id| OrgTarget::Ninjaone {
            organization_id,
        }))
    }

    async fn catalog(
        &self,
        session: &Session,
        kind: &str,
        query: &CatalogQuery,
    ) -> Result<CatalogPage, VendorError> {
        if kind != "organizations" {
            return Err(VendorError::invalid(
                "kind",
                format!("unknown catalog {kind:?}"),
            ));
        }
        let after: i64 = match &query.after {
            None => 0,
            Some(a) => a
                .parse()
                .map_err(|_| VendorError::invalid("after", "is not a cursor from this listing"))?,
        };
        let search = query
            .search
            .as_deref()
            .map(|s| s.trim().to_lowercase())
            .filter(|s| !s.is_empty());
        // NinjaOne has no name filter: organizations are few, so read them all and page here.
        let mut items: Vec<CatalogItem> = self
            .organizations(session)
            .await?
            .into_iter()
            .filter(|o| o.id > after)
            .filter(|o| {
                search
                    .as_ref()
                    .is_none_or(|s| o.name.to_lowercase().contains(s))
            })
            .map(|o| CatalogItem {
                id: o.id,
                name: o.name,
                active: true,
                parent_id: None,
                service_id: None,
            })
            .collect();
        let more = items.len() > query.limit;
        items.truncate(query.limit);
        let next = more
            .then(|| items.last().map(|i| i.id.to_string()))
            .flatten();
        Ok(CatalogPage { items, next })
    }

    async fn check_plan(
        &self,
        _session: &Session,
        _target: &PlanTarget,
    ) -> Result<(), VendorError> {
        Err(VendorError::invalid(
            "plan_id",
            "NinjaOne links organizations only, not plans",
        ))
    }

    async fn check_org(
        &self,
        session: &Session,
        target: &OrgTarget,
        _plan: Option<&PlanTarget>,
    ) -> Result<(), VendorError> {
        let OrgTarget::Ninjaone { organization_id } = *target else {
            return Err(not_ninja());
        };
        let found: Option<Organization> = self
            .client(session)?
            .get(&format!("organization/{organization_id}"), &[])
            .await?;
        match found {
            Some(_) => Ok(()),
            None => Err(VendorError::invalid(
                "organization_id",
                format!("NinjaOne has no organization {organization_id}"),
            )),
        }
    }

    async fn broken(
        &self,
        session: &Session,
        plans: &[PlanTarget],
        orgs: &[OrgTarget],
    ) -> Result<(Vec<bool>, Vec<bool>), VendorError> {
        let known: HashSet<i64> = self
            .organizations(session)
            .await?
            .into_iter()
            .map(|o| o.id)
            .collect();
        let orgs_broken = orgs
            .iter()
            .map(|t| match t {
                OrgTarget::Ninjaone { organization_id } => !known.contains(organization_id),
                _ => true,
            })
            .collect();
        Ok((vec![true; plans.len()], orgs_broken))
    }
}

#[async_trait]
impl AssetSource for NinjaIntegration {
    async fn devices(
        &self,
        session: &Session,
        organizations: &[i64],
    ) -> Result<Vec<VendorDevice>, VendorError> {
        if organizations.is_empty() {
            return Ok(Vec::new());
        }
        let client = self.client(session)?;
        // Roles and locations once each, not per device.
        let (roles, locations) = tokio::try_join!(
            async {
                Ok::<_, VendorError>(
                    client
                        .get::<Vec<Role>>("roles", &[])
                        .await?
                        .unwrap_or_default(),
                )
            },
            client.all::<Location>("locations", &[], PAGE, |l| l.id),
        )?;
        let roles: HashSet<i64> = roles.into_iter().map(|r| r.id).collect();
        let locations: HashMap<i64, Option<String>> =
            locations.into_iter().map(|l| (l.id, l.name)).collect();
        let wanted: HashSet<i64> = organizations.iter().copied().collect();
        let mut sorted: Vec<i64> = wanted.iter().copied().collect();
        sorted.sort_unstable();
        let mut devices = Vec::new();
        for chunk in sorted.chunks(ORGS_PER_FILTER) {
            let ids: Vec<String> = chunk.iter().map(i64::to_string).collect();
            let filter = format!("organization in ({})", ids.join(","));
            let page: Vec<Device> = client
                .all(
                    "devices-detailed",
                    &[("df", filter), ("expand", "warranty".into())],
                    PAGE,
                    |d: &Device| d.id,
                )
                .await?;
            devices.extend(page);
        }
        Ok(devices
            .into_iter()
            .filter(|d| wanted.contains(&d.organization_id))
            .map(|d| {
                let location = d
                    .location_id()
                    .and_then(|l| locations.get(&l).cloned().flatten());
                let role_known = d.role_id().is_some_and(|r| roles.contains(&r));
                let fields = d.asset_fields(location, role_known);
                VendorDevice {
                    device_id: d.id,
                    organization_id: d.organization_id,
                    fields,
                }
            })
            .collect())
    }
}
