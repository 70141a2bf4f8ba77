//! The sync engine: runs under a per-connection lease, seat sync with a journal so no delta is
//! sent twice, and tickets for platform alerts. Shared by every provider.

pub mod assets;
pub mod consent;
pub mod dispatch;
mod error;
pub mod events;
pub mod imports;
pub mod opportunities;
pub mod runs;
pub mod seats;
pub mod session;
pub mod tickets;

pub use error::JobError;
