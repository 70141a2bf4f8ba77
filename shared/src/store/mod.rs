//! Storage back ends behind the ports.
//!
//! Both back ends speak the same single-table model ([`table::Table`]: items under a partition and
//! sort key, conditional writes, expiry, a sparse index of active connections), and one adapter,
//! [`TableStore`], maps the domain onto it. So the keys, the conditions and the expiry rules are
//! written once, and the contract suite proves both back ends honour them.
//!
//! - AWS: [`dynamodb::DynamoTable`] and [`secrets_manager::SecretsManager`].
//! - Embedded: [`sqlite::SqliteTable`] and [`local_secrets::LocalSecrets`], one SQLite file.

pub mod dynamodb;
pub mod keyfile;
pub mod keys;
pub mod local_secrets;
mod repo;
pub mod secrets_manager;
pub mod sqlite;
pub mod table;

pub use repo::TableStore;

use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};

/// Describes an AWS SDK failure by the service's error code and message, or by the kind of
/// transport failure: never by the request, which may carry a secret.
pub(crate) fn aws_error_reason<E: ProvideErrorMetadata, R>(e: &SdkError<E, R>) -> String {
    match e {
        SdkError::ServiceError(_) => format!(
            "{}: {}",
            e.code().unwrap_or("error"),
            e.message().unwrap_or_default()
        ),
        SdkError::TimeoutError(_) => "timed out".into(),
        SdkError::DispatchFailure(_) => "could not reach the service".into(),
        SdkError::ResponseError(_) => "unreadable response".into(),
        _ => "request could not be built".into(),
    }
}
