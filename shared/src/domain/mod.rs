//! The partner's world in our words: tenants, providers, connections, configuration, the
//! platform's plans and organizations, mappings onto vendor entities, and sync runs.
//!
//! Nothing here knows about AWS, HTTP clients or Lambda.

mod configuration;
mod connection;
mod ids;
mod mapping;
mod platform;
mod provider;
mod sync_run;
mod validation;

pub use configuration::{
    AutotaskSettings, Configuration, HaloSettings, NinjaSettings, ProviderSettings,
};
pub use connection::{Connection, ConnectionStatus, NinjaRegion, VendorInstance};
pub use ids::{InvalidId, OrgId, PlanId, TenantId};
pub use mapping::{OrgMapping, OrgTarget, PlanMapping, PlanTarget};
pub use platform::{Organization, Plan};
pub use provider::{Provider, ProviderKind, UnknownProvider};
pub use sync_run::{ItemError, SyncCounts, SyncKind, SyncRun, SyncStatus, SyncTrigger};
pub use validation::FieldError;
