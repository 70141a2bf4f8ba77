//! Why a job could not do its work.

use crate::{
    domain::{FieldError, Provider},
    ports::{QueueError, SecretError, StoreError, VendorError},
};

/// A job failed as a whole (item failures are recorded on the run instead).
#[derive(Debug, thiserror::Error)]
pub enum JobError {
    /// The partner has not connected the provider (or revoked it).
    #[error("{} is not connected", .0.display_name())]
    NotConnected(Provider),
    /// The vendor refused the stored credentials; the partner must connect again.
    #[error("{} needs to be connected again: {}", .0.display_name(), .1)]
    NeedsReconnect(Provider, String),
    /// The vendor refused an access token before its expiry and a new one is stored: the same
    /// work, tried again with a new session, uses it.
    #[error("{} refused its access token before it expired; a new one was issued: try again", .0.display_name())]
    TokenRenewed(Provider),
    /// Something the partner must set up first (configuration, a plan mapping).
    #[error("{0}")]
    Precondition(String),
    /// The request is wrong.
    #[error("the request is not valid")]
    Invalid(Vec<FieldError>),
    /// This build cannot do it for this provider.
    #[error("{0}")]
    Unsupported(String),
    /// Another run holds the connection's lease.
    #[error("another run is in progress for this connection")]
    Busy,
    /// Other raises of the same alert kept the ticket record busy for longer than a raise
    /// waits (the vendor is slow to open its ticket); trying again shortly finds it.
    #[error("another request with this dedupe key is being answered; try again shortly")]
    KeyInFlight,
    /// No such run.
    #[error("no such run")]
    RunNotFound,
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The secret store failed.
    #[error(transparent)]
    Secrets(#[from] SecretError),
    /// The vendor failed.
    #[error(transparent)]
    Vendor(#[from] VendorError),
    /// The run queue failed.
    #[error(transparent)]
    Queue(#[from] QueueError),
}

impl JobError {
    /// Whether trying the same work again later may succeed (queue redelivery).
    pub fn is_retryable(&self) -> bool {
        match self {
            JobError::Busy
            | JobError::KeyInFlight
            | JobError::TokenRenewed(_)
            | JobError::Store(StoreError::Unavailable(_))
            | JobError::Secrets(SecretError::Unavailable { .. })
            | JobError::Queue(_) => true,
            JobError::Vendor(e) => matches!(
                e,
                VendorError::Throttled { .. } | VendorError::Unreachable { .. }
            ),
            _ => false,
        }
    }
}
