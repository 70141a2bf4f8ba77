//! The AWS back end of [`Secrets`]: one Secrets Manager secret per tenant and provider.

use async_trait::async_trait;
use aws_config::SdkConfig;
use aws_sdk_secretsmanager::{
    Client,
    error::{ProvideErrorMetadata, SdkError},
    types::Tag,
};
use secrecy::{ExposeSecret, SecretString};

use crate::{
    aws::LazyClient,
    ports::{SecretError, SecretName, Secrets},
};

/// Secrets Manager through a client built once per cold start, on first use.
#[derive(Clone, Debug)]
pub struct SecretsManager {
    client: LazyClient<Client>,
}

impl SecretsManager {
    /// Uses Secrets Manager as `sdk` configures it.
    pub fn new(sdk: &SdkConfig) -> Self {
        Self {
            client: LazyClient::new(sdk, Client::new),
        }
    }
}

/// Described by [`super::aws_error_reason`], which never echoes the request (it carries the secret).
fn unavailable<E: ProvideErrorMetadata, R>(name: &SecretName, e: &SdkError<E, R>) -> SecretError {
    SecretError::Unavailable {
        name: name.to_string(),
        reason: super::aws_error_reason(e),
    }
}

fn is_code<E: ProvideErrorMetadata, R>(e: &SdkError<E, R>, code: &str) -> bool {
    e.code() == Some(code)
}

#[async_trait]
impl Secrets for SecretsManager {
    async fn put(&self, name: &SecretName, value: &SecretString) -> Result<(), SecretError> {
        // Most puts replace an existing secret (re-connect, token rotation): try that first.
        let update = self
            .client
            .get()
            .put_secret_value()
            .secret_id(name.as_str())
            .secret_string(value.expose_secret())
            .send()
            .await;
        match update {
            Ok(_) => return Ok(()),
            Err(e) if is_code(&e, "ResourceNotFoundException") => {}
            Err(e) => return Err(unavailable(name, &e)),
        }
        // Tags let IAM conditions and the console say whose secret it is. Names are
        // `{prefix}/{tenant}/{provider}`, with `/pending` for a consent's client credentials.
        let connection = name
            .as_str()
            .strip_suffix("/pending")
            .unwrap_or(name.as_str());
        let mut parts = connection.rsplitn(3, '/');
        let provider = parts.next().unwrap_or_default();
        let tenant = parts.next().unwrap_or_default();
        let tag = |k: &str, v: &str| Tag::builder().key(k).value(v).build();
        self.client
            .get()
            .create_secret()
            .name(name.as_str())
            .secret_string(value.expose_secret())
            .tags(tag("tenant", tenant))
            .tags(tag("provider", provider))
            .send()
            .await
            .map(|_| ())
            .map_err(|e| unavailable(name, &e))
    }

    async fn get(&self, name: &SecretName) -> Result<Option<SecretString>, SecretError> {
        match self
            .client
            .get()
            .get_secret_value()
            .secret_id(name.as_str())
            .send()
            .await
        {
            Ok(out) => match out.secret_string {
                Some(value) => Ok(Some(SecretString::from(value))),
                None => Err(SecretError::Corrupt {
                    name: name.to_string(),
                    reason: "secret has no string value".into(),
                }),
            },
            Err(e) if is_code(&e, "ResourceNotFoundException") => Ok(None),
            // A secret scheduled for deletion reads as gone.
            Err(e) if is_code(&e, "InvalidRequestException") => Ok(None),
            Err(e) => Err(unavailable(name, &e)),
        }
    }

    async fn delete(&self, name: &SecretName) -> Result<(), SecretError> {
        match self
            .client
            .get()
            .delete_secret()
            .secret_id(name.as_str())
            .force_delete_without_recovery(true)
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if is_code(&e, "ResourceNotFoundException") => Ok(()),
            Err(e) => Err(unavailable(name, &e)),
        }
    }
}
