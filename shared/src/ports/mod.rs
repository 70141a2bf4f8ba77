//! The narrow capabilities the domain and the API need from the outside world.
//!
//! Handlers take the narrowest trait they use; [`Store`] bundles the storage ones for wiring.

mod clock;
mod secrets;
mod store;

pub use clock::{Clock, SystemClock};
pub use secrets::{SecretError, SecretName, Secrets};
pub use store::{
    ConfigurationStore, ConnectionStore, Cursor, Expect, Lease, LeaseStore, MappingStore, Page,
    PlatformStore, Store, StoreError, SyncRunStore,
};
