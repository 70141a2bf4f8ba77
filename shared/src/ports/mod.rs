//! The narrow capabilities the domain and the API need from the outside world.
//!
//! Handlers take the narrowest trait they use; [`Store`] bundles the storage ones for wiring.

mod clock;
mod queue;
mod secrets;
mod store;
mod vendor;

pub use clock::{Clock, SystemClock};
pub use queue::{QueueError, RunQueue, RunRequest};
pub use secrets::{SecretError, SecretName, Secrets};
pub use store::{
    AssetStore, AttemptStore, AuditStore, ConfigurationStore, ConnectionStore, ConsentStore,
    Cursor, Expect, IdempotencyStore, ImportStore, JournalStore, Lease, LeaseKind, LeaseStore,
    MappingStore, Page, PlatformStore, Store, StoreError, SyncRunStore, TicketStore,
};
pub use vendor::{
    AssetSource, COMPANIES_PER_QUERY, CatalogItem, CatalogPage, CatalogQuery, Choice, Configurator,
    Connected, Connector, Consent, ConsentStart, Deletions, ImportPage, ImportQuery, Importer,
    Integration, Mapper, MatchTarget, OpportunityDesk, SeatSync, Session, TicketDesk, TokenRefresh,
    VendorError, VendorRecord,
};
