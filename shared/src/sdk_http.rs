//! The AWS SDK's HTTP client: reqwest with the vendor clients' settings and [`crate::tls`].
//!
//! The SDK's own client loads the system's root certificates for every service client it builds
//! (DynamoDB, Secrets Manager, SQS), which was most of a function's cold start. The SDK's
//! requests are small JSON documents, so request bodies are buffered here.

use std::time::Duration;

use aws_smithy_runtime_api::client::{
    http::{
        HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpClient,
        SharedHttpConnector,
    },
    orchestrator::{HttpRequest, HttpResponse},
    result::ConnectorError,
    runtime_components::RuntimeComponents,
};
use aws_smithy_types::body::SdkBody;

/// How long one AWS call may take when the SDK sets no read timeout.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// Builds the HTTP client for `SdkConfig` (once per cold start; it holds the connection pool).
pub fn client() -> SharedHttpClient {
    SharedHttpClient::new(SdkHttpClient {
        client: crate::providers::http::client(DEFAULT_TIMEOUT),
    })
}

#[derive(Clone, Debug)]
struct SdkHttpClient {
    client: reqwest::Client,
}

impl HttpClient for SdkHttpClient {
    fn http_connector(
        &self,
        settings: &HttpConnectorSettings,
        _components: &RuntimeComponents,
    ) -> SharedHttpConnector {
        SharedHttpConnector::new(SdkConnector {
            client: self.client.clone(),
            timeout: settings.read_timeout(),
        })
    }
}

#[derive(Clone, Debug)]
struct SdkConnector {
    client: reqwest::Client,
    timeout: Option<Duration>,
}

impl HttpConnector for SdkConnector {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        let connector = self.clone();
        HttpConnectorFuture::new(async move { connector.send(request).await })
    }
}

impl SdkConnector {
    async fn send(self, request: HttpRequest) -> Result<HttpResponse, ConnectorError> {
        let request = request
            .try_into_http1x()
            .map_err(|e| ConnectorError::user(e.into()))?;
        let (parts, body) = request.into_parts();
        let body = body
            .bytes()
            .map(bytes::Bytes::copy_from_slice)
            .ok_or_else(|| {
                ConnectorError::user(
                    "the AWS request body is a stream; only buffered bodies are sent".into(),
                )
            })?;
        let mut request = reqwest::Request::try_from(http::Request::from_parts(parts, body))
            .map_err(|e| ConnectorError::user(e.without_url().into()))?;
        if let Some(timeout) = self.timeout {
            *request.timeout_mut() = Some(timeout);
        }
        let response = self
            .client
            .execute(request)
            .await
            .map_err(connector_error)?;
        // The body stays a stream: the SDK logs the response before reading it, and a stream's
        // Debug shows no content (a secret's value, for one).
        let answer = http::Response::<reqwest::Body>::from(response).map(SdkBody::from_body_1_x);
        HttpResponse::try_from(answer).map_err(|e| ConnectorError::other(e.into(), None))
    }
}

/// Timeouts and transport failures are retryable for the SDK; anything else is not.
fn connector_error(e: reqwest::Error) -> ConnectorError {
    let timeout = e.is_timeout();
    let transport = e.is_connect() || e.is_request() || e.is_body();
    let e = Box::new(e.without_url());
    if timeout {
        ConnectorError::timeout(e)
    } else if transport {
        ConnectorError::io(e)
    } else {
        ConnectorError::other(e, None)
    }
}
