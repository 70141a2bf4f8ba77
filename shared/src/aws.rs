//! Wiring for AWS: clients built once per cold start, behind the ports.

use std::sync::Arc;

use aws_config::{BehaviorVersion, SdkConfig};

use crate::{
    api::App,
    config::{ConfigError, Settings},
    ports::SystemClock,
    store::{TableStore, dynamodb::DynamoTable, secrets_manager::SecretsManager},
};

/// Builds the [`App`] over DynamoDB and Secrets Manager from an SDK configuration.
pub fn app(sdk: &SdkConfig, table_name: &str, settings: Settings) -> App {
    let clock = Arc::new(SystemClock);
    let table = DynamoTable::new(aws_sdk_dynamodb::Client::new(sdk), table_name);
    App {
        store: Arc::new(TableStore::new(table, clock.clone())),
        secrets: Arc::new(SecretsManager::new(aws_sdk_secretsmanager::Client::new(
            sdk,
        ))),
        clock,
        settings: Arc::new(settings),
    }
}

/// Builds the [`App`] from the Lambda environment (`TABLE_NAME` and [`Settings::from_env`]).
pub async fn app_from_env() -> Result<App, ConfigError> {
    let table_name = std::env::var("TABLE_NAME").map_err(|_| ConfigError {
        var: "TABLE_NAME",
        problem: "must name the DynamoDB table".into(),
    })?;
    let settings = Settings::from_env()?;
    let sdk = aws_config::load_defaults(BehaviorVersion::latest()).await;
    Ok(app(&sdk, &table_name, settings))
}
