//! The partner's world in our words: tenants, providers, connections, configuration, the
//! platform's plans and organizations, mappings onto vendor entities, and sync runs.
//!
//! Nothing here knows about AWS, HTTP clients or Lambda.

mod alert;
mod asset;
mod audit;
mod configuration;
mod connection;
mod consent;
mod credentials;
mod idempotency;
mod ids;
mod import;
mod mapping;
pub mod matching;
mod opportunity;
mod platform;
mod provider;
mod sync_run;
mod ticket;
mod validation;

pub use alert::{Alert, ticket_reference};
pub use asset::{Asset, AssetFields, VendorDevice};
pub use audit::{AuditAction, AuditRecord, Change, diff};
pub use configuration::{
    AssetSourceChoice, AutotaskSettings, Configuration, ConnectwiseSettings,
    DEFAULT_OPPORTUNITY_STATUSES, DEFAULT_TICKET_HISTORY_DAYS, HaloSettings,
    MAX_TICKET_HISTORY_DAYS, NinjaSettings, ProviderSettings,
};
pub use connection::{Connection, ConnectionStatus, NinjaRegion, VendorInstance};
pub use consent::{CONSENT_TTL, ConsentSecrets, PendingConsent, pkce_challenge, state_hash};
pub use credentials::{
    AutotaskCredentials, ConnectRequest, ConnectwiseCredentials, HaloCredentials, NinjaCredentials,
};
pub use idempotency::{
    IDEMPOTENCY_IN_FLIGHT, IDEMPOTENCY_TTL, IdempotencyRecord, IdempotentStep, StoredResponse,
};
pub use ids::{InvalidId, OrgId, PlanId, TenantId};
pub use import::{
    ChunkPlace, DEFAULT_CUSTOMER_TYPES, FULL_PASS_EVERY, IMPORT_OVERLAP, ImportFilter, ImportKind,
    ImportResume, ImportState, ImportedRecord, NewCustomer,
};
pub use mapping::{OrgMapping, OrgTarget, PlanMapping, PlanTarget};
pub use opportunity::{
    MAX_OPPORTUNITY_AMOUNT, MAX_OPPORTUNITY_TITLE, OpportunityAction, OpportunityOutcome,
    OpportunityRequest,
};
pub use platform::{Organization, Plan};
pub use provider::{Provider, ProviderKind, UnknownProvider};
pub use sync_run::{ItemError, SeatIntent, SyncCounts, SyncKind, SyncRun, SyncStatus, SyncTrigger};
pub use ticket::{Repeats, TicketClaim, TicketRecord, TicketStep};
pub use validation::FieldError;
pub(crate) use validation::check_vendor_id;
