//! Wiring for AWS: clients built once per cold start, behind the ports.

use std::{
    fmt,
    sync::{Arc, OnceLock},
};

use aws_config::{BehaviorVersion, SdkConfig};
use secrecy::SecretString;

use crate::{
    app::App,
    config::{ConfigError, Settings},
    ports::{RunQueue, SecretName, Secrets, SystemClock},
    providers::{self, DeploymentSecret, DeploymentSecrets},
    queue::SqsQueue,
    store::{TableStore, dynamodb::DynamoTable, secrets_manager::SecretsManager},
};

/// Builds the [`App`] over DynamoDB and Secrets Manager from an SDK configuration.
/// `sources` say where our own vendor credentials (Autotask's integration code, ConnectWise's
/// clientId) come from.
/// With `queue_url`, sync runs go to SQS; without, they run in the request that asked.
pub fn app(
    sdk: &SdkConfig,
    table_name: &str,
    settings: Settings,
    sources: DeploymentSources,
    queue_url: Option<String>,
) -> Result<App, ConfigError> {
    let clock = Arc::new(SystemClock);
    let table = DynamoTable::new(aws_sdk_dynamodb::Client::new(sdk), table_name);
    let secrets: Arc<dyn Secrets> = Arc::new(SecretsManager::new(sdk));
    let deployment = DeploymentSecrets {
        autotask_integration_code: sources.autotask_integration_code.resolve_with(&secrets),
        connectwise_client_id: sources.connectwise_client_id.resolve_with(&secrets),
    };
    Ok(App {
        store: Arc::new(TableStore::new(table, clock.clone())),
        integrations: providers::integrations(&settings, deployment)?,
        secrets,
        clock,
        settings: Arc::new(settings),
        queue: queue_url.map(|url| Arc::new(SqsQueue::new(sdk, url)) as Arc<dyn RunQueue>),
    })
}

/// Where one of our own vendor credentials comes from on AWS.
pub enum SecretSource {
    /// `…_SECRET`: a Secrets Manager secret name, read on first use.
    Secret(String),
    /// The value itself (development accounts).
    Value(SecretString),
    /// Neither: connecting to that vendor is refused with a clear error.
    Missing,
}

impl SecretSource {
    /// Reads the source from `secret_var` (a secret's name) or `value_var` (the value).
    pub fn from_env(secret_var: &str, value_var: &str) -> Self {
        let var = |name| std::env::var(name).ok().filter(|v: &String| !v.is_empty());
        match (var(secret_var), var(value_var)) {
            (Some(name), _) => SecretSource::Secret(name),
            (None, Some(value)) => SecretSource::Value(SecretString::from(value)),
            (None, None) => SecretSource::Missing,
        }
    }

    fn resolve_with(self, secrets: &Arc<dyn Secrets>) -> DeploymentSecret {
        match self {
            SecretSource::Value(v) => DeploymentSecret::Value(v),
            SecretSource::Secret(name) => DeploymentSecret::Secret {
                name: SecretName::from_stored(name),
                secrets: secrets.clone(),
            },
            SecretSource::Missing => DeploymentSecret::Missing,
        }
    }
}

/// Where each of our own vendor credentials comes from on AWS.
pub struct DeploymentSources {
    /// `AUTOTASK_INTEGRATION_CODE_SECRET` or `AUTOTASK_INTEGRATION_CODE`.
    pub autotask_integration_code: SecretSource,
    /// `CONNECTWISE_CLIENT_ID_SECRET` or `CONNECTWISE_CLIENT_ID`.
    pub connectwise_client_id: SecretSource,
}

impl DeploymentSources {
    /// Reads every source from the environment.
    pub fn from_env() -> Self {
        Self {
            autotask_integration_code: SecretSource::from_env(
                "AUTOTASK_INTEGRATION_CODE_SECRET",
                "AUTOTASK_INTEGRATION_CODE",
            ),
            connectwise_client_id: SecretSource::from_env(
                "CONNECTWISE_CLIENT_ID_SECRET",
                "CONNECTWISE_CLIENT_ID",
            ),
        }
    }
}

impl From<SecretSource> for DeploymentSources {
    /// Autotask's integration code alone.
    fn from(autotask_integration_code: SecretSource) -> Self {
        Self {
            autotask_integration_code,
            connectwise_client_id: SecretSource::Missing,
        }
    }
}

/// Builds the [`App`] from the Lambda environment (`TABLE_NAME`, `QUEUE_URL` and
/// [`Settings::from_env`]).
pub async fn app_from_env() -> Result<App, ConfigError> {
    let table_name = std::env::var("TABLE_NAME").map_err(|_| ConfigError {
        var: "TABLE_NAME",
        problem: "must name the DynamoDB table".into(),
    })?;
    let settings = Settings::from_env()?;
    let mut loader =
        aws_config::defaults(BehaviorVersion::latest()).http_client(crate::sdk_http::client());
    // Lambda puts the execution role's credentials in the environment. Reading them directly
    // skips building the default chain's providers (IMDS, ECS, web identity),
    // which measured about 5 ms of every cold start.
    if ["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"]
        .iter()
        .all(|v| std::env::var_os(v).is_some_and(|v| !v.is_empty()))
    {
        loader = loader.credentials_provider(
            aws_config::environment::EnvironmentVariableCredentialsProvider::new(),
        );
    }
    // Lambda always sets AWS_REGION; taking it directly skips building the default region
    // chain and its IMDS client: two thirds of what loading the configuration cost.
    if let Some(region) = std::env::var("AWS_REGION").ok().filter(|v| !v.is_empty()) {
        loader = loader.region(aws_config::Region::new(region));
    }
    let sdk = loader.load().await;
    let queue_url = std::env::var("QUEUE_URL").ok().filter(|v| !v.is_empty());
    app(
        &sdk,
        &table_name,
        settings,
        DeploymentSources::from_env(),
        queue_url,
    )
}

/// An SDK client built on first use and kept for the life of the process.
///
/// Building a service client parses that service's endpoint rules (about half a million
/// instructions each), so an invocation that never calls the service does not pay for it: the
/// `sync` worker never sends to SQS, and listing integrations reads no secret.
#[derive(Clone)]
pub struct LazyClient<C> {
    sdk: SdkConfig,
    build: fn(&SdkConfig) -> C,
    client: OnceLock<C>,
}

impl<C> LazyClient<C> {
    /// Will build the client with `build` (a service's `Client::new`) from `sdk`.
    pub fn new(sdk: &SdkConfig, build: fn(&SdkConfig) -> C) -> Self {
        Self {
            sdk: sdk.clone(),
            build,
            client: OnceLock::new(),
        }
    }

    /// The client, built on the first call.
    pub fn get(&self) -> &C {
        self.client.get_or_init(|| (self.build)(&self.sdk))
    }
}

impl<C> fmt::Debug for LazyClient<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LazyClient")
            .field("built", &self.client.get().is_some())
            .finish_non_exhaustive()
    }
}
