//! What the API and the sync engine need from a vendor, as narrow capabilities. A provider
//! implements the ones it supports; a route whose capability a provider lacks answers 501.

use async_trait::async_trait;
use secrecy::SecretString;
use serde::Serialize;

use crate::domain::{
    Alert, AssetFields, ConnectRequest, Connection, FieldError, ImportKind, ImportedRecord,
    OpportunityRequest, OrgTarget, PlanTarget, Provider, ProviderSettings, TenantId, VendorDevice,
    VendorInstance,
};

/// A vendor said no, or could not be asked. Variants say what the caller can do about it.
#[derive(Debug, thiserror::Error)]
pub enum VendorError {
    /// The partner's input is wrong; fields named, with the vendor's words where it gave any.
    #[error("{detail}")]
    Invalid {
        /// Summary.
        detail: String,
        /// Fields at fault.
        errors: Vec<FieldError>,
        /// The vendor's message, verbatim.
        vendor_message: Option<String>,
    },
    /// The vendor refused the partner's credentials: they must connect again.
    #[error("{detail}")]
    CredentialsRejected {
        /// Summary.
        detail: String,
        /// The credential field at fault (`username`, `secret`, ...).
        field: &'static str,
        /// The vendor's message.
        vendor_message: Option<String>,
    },
    /// The vendor refused *our* integration (integration code, app registration).
    #[error("{detail}")]
    IntegrationRefused {
        /// Summary.
        detail: String,
        /// The vendor's message.
        vendor_message: Option<String>,
    },
    /// The vendor's API user lacks a permission the integration needs (HaloPSA's 403): the
    /// partner fixes the user's role in the vendor, not the credentials.
    #[error("{detail}")]
    PermissionDenied {
        /// Summary naming what is missing.
        detail: String,
        /// The vendor's message.
        vendor_message: Option<String>,
    },
    /// The vendor refused an operation on business grounds (Autotask's 500 with `errors`).
    #[error("{vendor_message}")]
    Refused {
        /// The vendor's message.
        vendor_message: String,
    },
    /// Throttled by the vendor, or our own budget for the connection is spent.
    #[error("{detail}")]
    Throttled {
        /// Summary.
        detail: String,
        /// Seconds to wait.
        retry_after_secs: u64,
    },
    /// The vendor could not be reached or answered something we cannot read.
    #[error("{detail}")]
    Unreachable {
        /// Summary (never credentials).
        detail: String,
    },
    /// A write was sent but its result never arrived: it may or may not have happened.
    #[error("{detail}")]
    OutcomeUnknown {
        /// Summary.
        detail: String,
    },
}

impl VendorError {
    /// The vendor's own words, if any.
    pub fn vendor_message(&self) -> Option<&str> {
        match self {
            VendorError::Invalid { vendor_message, .. }
            | VendorError::CredentialsRejected { vendor_message, .. }
            | VendorError::IntegrationRefused { vendor_message, .. }
            | VendorError::PermissionDenied { vendor_message, .. } => vendor_message.as_deref(),
            VendorError::Refused { vendor_message } => Some(vendor_message),
            _ => None,
        }
    }

    /// An invalid-input error naming one field.
    pub fn invalid(field: &str, message: impl Into<String>) -> Self {
        let message = message.into();
        VendorError::Invalid {
            detail: format!("{field}: {message}"),
            errors: vec![FieldError::new(field, message)],
            vendor_message: None,
        }
    }
}

/// A connection ready to talk to its vendor: the stored record and the partner's credentials.
pub struct Session {
    /// The partner.
    pub tenant: TenantId,
    /// The stored connection.
    pub connection: Connection,
    /// The stored secret's value (provider-specific JSON).
    pub credentials: SecretString,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("tenant", &self.tenant)
            .field("provider", &self.connection.provider())
            .finish_non_exhaustive()
    }
}

/// A successful credential check: what to record and what to keep secret.
pub struct Connected {
    /// Where the partner's instance is.
    pub instance: VendorInstance,
    /// What to store in the secret (provider-specific JSON).
    pub secret: SecretString,
}

/// One choice of a configuration form.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Choice {
    /// The vendor's id.
    pub id: i64,
    /// What the partner sees.
    pub label: String,
    /// The vendor marks it as default.
    pub is_default: bool,
    /// For dependent lists (Halo priorities of an SLA): the parent's id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parent: Option<i64>,
}

/// A mapping candidate.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct CatalogItem {
    /// The vendor's id.
    pub id: i64,
    /// Display name.
    pub name: String,
    /// Active at the vendor.
    pub active: bool,
    /// The vendor entity it belongs to (the company of a contract, ...).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parent_id: Option<i64>,
    /// The Service a contract service sells.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service_id: Option<i64>,
}

/// What the portal asked of a catalog.
#[derive(Clone, Debug, Default)]
pub struct CatalogQuery {
    /// Name contains this.
    pub search: Option<String>,
    /// Parent entity (company of contracts, contract of contract services, customer of licences).
    pub parent: Option<i64>,
    /// Continue after this cursor.
    pub after: Option<String>,
    /// Page size.
    pub limit: usize,
}

/// One page of a catalog.
#[derive(Clone, Debug, Serialize)]
pub struct CatalogPage {
    /// Candidates.
    pub items: Vec<CatalogItem>,
    /// Cursor of the next page.
    pub next: Option<String>,
}

/// Checks credentials with the vendor.
#[async_trait]
pub trait Connector: Send + Sync {
    /// Proves the credentials with the vendor; nothing is stored here.
    async fn connect(
        &self,
        tenant: &TenantId,
        request: ConnectRequest,
    ) -> Result<Connected, VendorError>;

    /// Whether a re-connect may keep configuration and mappings (same vendor instance).
    fn same_instance(&self, old: &VendorInstance, new: &VendorInstance) -> bool;

    /// Forgets anything cached for the tenant (after revoke or re-connect).
    fn forget(&self, tenant: &TenantId);
}

/// Live choices for the configuration form, and checking a saved configuration against them.
#[async_trait]
pub trait Configurator: Send + Sync {
    /// The lists `options/{list}` serves.
    fn lists(&self) -> &'static [&'static str];
    /// One list's choices (cached per connection). `parent` is the record a dependent list
    /// belongs to (a ConnectWise board's statuses); lists that hold every parent's choices at
    /// once ignore it, and the API keeps the parent's.
    async fn options(
        &self,
        session: &Session,
        list: &str,
        parent: Option<i64>,
    ) -> Result<Vec<Choice>, VendorError>;
    /// Every value exists in its live list and the required fields are set.
    async fn check(
        &self,
        session: &Session,
        settings: &ProviderSettings,
    ) -> Result<(), VendorError>;
}

/// The catalog kind auto-match reads, and how a picked item becomes a link.
pub type MatchTarget = (&'static str, fn(i64) -> OrgTarget);

/// Mapping candidates and checks.
#[async_trait]
pub trait Mapper: Send + Sync {
    /// The kinds `catalog/{kind}` serves.
    fn kinds(&self) -> &'static [&'static str];
    /// One page of candidates.
    async fn catalog(
        &self,
        session: &Session,
        kind: &str,
        query: &CatalogQuery,
    ) -> Result<CatalogPage, VendorError>;
    /// Whether plans map at this provider at all.
    fn maps_plans(&self) -> bool;
    /// The catalog whose items an organization links to by name alone (auto-match), and the
    /// target a linked item makes; `None` where a link needs more than one pick.
    fn match_target(&self) -> Option<MatchTarget> {
        None
    }
    /// The plan target exists and is usable.
    async fn check_plan(&self, session: &Session, target: &PlanTarget) -> Result<(), VendorError>;
    /// The organization target exists and is consistent; `plan` is what the org's plan maps to.
    async fn check_org(
        &self,
        session: &Session,
        target: &OrgTarget,
        plan: Option<&PlanTarget>,
    ) -> Result<(), VendorError>;
    /// Which targets are broken (gone or inactive at the vendor), checked in bulk.
    async fn broken(
        &self,
        session: &Session,
        plans: &[PlanTarget],
        orgs: &[OrgTarget],
    ) -> Result<(Vec<bool>, Vec<bool>), VendorError>;
}

/// Reading and writing seat quantities.
#[async_trait]
pub trait SeatSync: Send + Sync {
    /// Before a run of about `planned_calls` vendor calls: how many calls may be in flight at
    /// once, or an error when the vendor's shared quota cannot take the run now.
    async fn preflight(
        &self,
        _session: &Session,
        _planned_calls: usize,
    ) -> Result<usize, VendorError> {
        Ok(usize::MAX)
    }
    /// Current seats of each target, in bulk; `None` where the vendor has no quantity.
    async fn current_seats(
        &self,
        session: &Session,
        targets: &[OrgTarget],
    ) -> Result<Vec<Option<u32>>, VendorError>;
    /// Moves a target from `current` to `wanted` seats. May be a delta at the vendor, so the
    /// caller journals first and re-reads after [`VendorError::OutcomeUnknown`].
    async fn set_seats(
        &self,
        session: &Session,
        target: &OrgTarget,
        current: u32,
        wanted: u32,
    ) -> Result<(), VendorError>;
}

/// Tickets for platform alerts.
#[async_trait]
pub trait TicketDesk: Send + Sync {
    /// Whether the ticket exists and is not complete.
    async fn is_open(&self, session: &Session, ticket_id: i64) -> Result<bool, VendorError>;
    /// An open ticket opened earlier for this dedupe key (found at the vendor, for retries
    /// whose first create timed out).
    async fn find_open(
        &self,
        session: &Session,
        dedupe_key: &str,
    ) -> Result<Option<i64>, VendorError>;
    /// Opens a ticket; returns its id.
    async fn open(
        &self,
        session: &Session,
        target: &OrgTarget,
        settings: &ProviderSettings,
        alert: &Alert,
    ) -> Result<i64, VendorError>;
    /// Adds a note to an open ticket.
    async fn add_note(
        &self,
        session: &Session,
        ticket_id: i64,
        alert: &Alert,
    ) -> Result<(), VendorError>;
}

/// Sales opportunities raised by the platform (seed 004).
#[async_trait]
pub trait OpportunityDesk: Send + Sync {
    /// Whether the opportunity exists and is still open (not won, lost or closed).
    async fn is_open(&self, session: &Session, opportunity_id: i64) -> Result<bool, VendorError>;
    /// An open opportunity created earlier for this dedupe key on the target's company (for
    /// retries whose first create timed out).
    async fn find_open(
        &self,
        session: &Session,
        target: &OrgTarget,
        request: &OpportunityRequest,
    ) -> Result<Option<i64>, VendorError>;
    /// Creates an opportunity with the configured owner and stage; returns its id.
    async fn create(
        &self,
        session: &Session,
        target: &OrgTarget,
        settings: &ProviderSettings,
        request: &OpportunityRequest,
    ) -> Result<i64, VendorError>;
}

/// Where to send the partner's browser to approve our access, and what to keep meanwhile.
pub struct ConsentStart {
    /// The vendor's consent page, with `state` and the PKCE challenge.
    pub authorize_url: String,
    /// Where the vendor instance is (recorded with the pending consent).
    pub instance: VendorInstance,
    /// The partner's client credentials, kept in a pending secret until the callback.
    pub pending_secret: SecretString,
}

/// Connecting through the vendor's OAuth consent page (authorization code with PKCE).
#[async_trait]
pub trait Consent: Send + Sync {
    /// Checks the Connect form and builds the consent URL; nothing is sent to the vendor.
    fn start(
        &self,
        request: ConnectRequest,
        state: &str,
        code_challenge: &str,
        redirect_uri: &str,
    ) -> Result<ConsentStart, VendorError>;
    /// Exchanges the code the vendor redirected back with for tokens.
    async fn finish(
        &self,
        instance: &VendorInstance,
        pending_secret: &SecretString,
        code: &str,
        code_verifier: &str,
        redirect_uri: &str,
    ) -> Result<SecretString, VendorError>;
    /// Revokes the refresh token at the vendor (best effort, on revoke).
    async fn revoke(&self, session: &Session) -> Result<(), VendorError>;
}

/// Access tokens that expire and a rotating refresh token, kept in the connection's secret.
#[async_trait]
pub trait TokenRefresh: Send + Sync {
    /// Whether the stored access token is missing or expires within a few minutes of `now`.
    fn needs_refresh(&self, credentials: &SecretString, now: time::OffsetDateTime) -> bool;
    /// Spends the refresh token; returns the secret to store (new access and refresh tokens)
    /// before anything uses them. `invalid_grant` is [`VendorError::CredentialsRejected`].
    async fn refresh(
        &self,
        instance: &VendorInstance,
        credentials: &SecretString,
    ) -> Result<SecretString, VendorError>;
}

/// Devices to import as assets.
#[async_trait]
pub trait AssetSource: Send + Sync {
    /// Every device of these vendor organizations, in the platform's asset fields.
    async fn devices(
        &self,
        session: &Session,
        organizations: &[i64],
    ) -> Result<Vec<VendorDevice>, VendorError>;
}

/// One provider's capabilities.
pub trait Integration: Send + Sync {
    /// Which provider.
    fn provider(&self) -> Provider;
    /// Credential checks.
    fn connector(&self) -> Option<&dyn Connector> {
        None
    }
    /// Configuration choices.
    fn configurator(&self) -> Option<&dyn Configurator> {
        None
    }
    /// Mapping.
    fn mapper(&self) -> Option<&dyn Mapper> {
        None
    }
    /// Seat quantities.
    fn seat_sync(&self) -> Option<&dyn SeatSync> {
        None
    }
    /// Tickets.
    fn ticket_desk(&self) -> Option<&dyn TicketDesk> {
        None
    }
    /// OAuth consent instead of a credential check.
    fn consent(&self) -> Option<&dyn Consent> {
        None
    }
    /// Refreshing expiring tokens.
    fn token_refresh(&self) -> Option<&dyn TokenRefresh> {
        None
    }
    /// Devices as assets.
    fn asset_source(&self) -> Option<&dyn AssetSource> {
        None
    }
    /// Imports of the partner's customers and their records (seed 004).
    fn importer(&self) -> Option<&dyn Importer> {
        None
    }
    /// Opportunities raised by the platform (seed 004).
    fn opportunity_desk(&self) -> Option<&dyn OpportunityDesk> {
        None
    }
}

/// Most companies one import query names (Autotask's `in` lists take 500).
pub const COMPANIES_PER_QUERY: usize = 500;

/// What one page of an import asks the vendor for.
#[derive(Clone, Debug)]
pub struct ImportQuery<'a> {
    /// The kind.
    pub kind: ImportKind,
    /// Only records changed since (a full pass when `None`).
    pub since: Option<time::OffsetDateTime>,
    /// Only ids after this one (pages are id-ordered).
    pub after: Option<i64>,
    /// For kinds that belong to customers: only these customers' records (at most
    /// [`COMPANIES_PER_QUERY`]), or any company's (`None`: a pass over what changed, whose
    /// records of other companies the caller drops).
    pub companies: Option<&'a [i64]>,
    /// The partner's choices (which company types are customers, which statuses, types and
    /// history to import); the provider's defaults when nothing is saved.
    pub settings: &'a ProviderSettings,
    /// Now, for windows such as the ticket history.
    pub now: time::OffsetDateTime,
}

/// Records the vendor logged as deleted, read from a position in its deletion log.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Deletions {
    /// The deleted records' ids.
    pub ids: Vec<i64>,
    /// The log position after this page (where the next read starts).
    pub position: Option<i64>,
    /// Whether more log entries follow.
    pub more: bool,
}

/// One record of an import, as the vendor has it.
#[derive(Clone, Debug, PartialEq)]
pub struct VendorRecord {
    /// The vendor's id.
    pub id: i64,
    /// Its company (its own id for a company).
    pub company_id: i64,
    /// Whether the vendor has it active.
    pub active: bool,
    /// The vendor's last change stamp, when it has one.
    pub modified_at: Option<time::OffsetDateTime>,
    /// The fields a partner reads.
    pub fields: serde_json::Map<String, serde_json::Value>,
}

/// A page of an import.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ImportPage {
    /// The records, in id order.
    pub records: Vec<VendorRecord>,
    /// Whether more come after the last one.
    pub more: bool,
}

/// Reads the records an import keeps, a page at a time.
#[async_trait]
pub trait Importer: Send + Sync {
    /// The kinds this provider imports.
    fn import_kinds(&self) -> &'static [ImportKind];
    /// How many pages an import may read at once (the vendor's concurrency per endpoint).
    fn pages_in_flight(&self) -> usize {
        1
    }
    /// One id-ordered page of what `query` asks for.
    async fn import_page(
        &self,
        session: &Session,
        query: &ImportQuery<'_>,
    ) -> Result<ImportPage, VendorError>;
    /// An imported record of the assets kind in the platform's asset fields (what
    /// `GET /v1/organizations/{org}/assets` shows); `None` for other kinds.
    fn as_asset(&self, _record: &ImportedRecord) -> Option<AssetFields> {
        None
    }
    /// A page of the vendor's deletion log of `kind` after `position`; `None` when the vendor
    /// keeps no such log (or the API user may not read it): the weekly full pass then finds
    /// what is gone.
    async fn deletions(
        &self,
        _session: &Session,
        _kind: ImportKind,
        _position: Option<i64>,
    ) -> Result<Option<Deletions>, VendorError> {
        Ok(None)
    }
}
