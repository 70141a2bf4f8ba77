//! The HaloPSA REST client: client-credentials tokens cached per connection until shortly
//! before they expire, a rolling-window budget and bounded concurrency per connection, and
//! retries that honour `Retry-After` (a minute when Halo does not say) and never repeat a
//! create whose outcome is unknown.

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use bytes::Bytes;
use http::{HeaderValue, Method, StatusCode, header};
use secrecy::{ExposeSecret, SecretString};
use serde::de::DeserializeOwned;
use serde_json::Value;
use tokio::sync::{Mutex as AsyncMutex, Semaphore};
use url::Url;

use super::wire::{self, OAuthError, Token};
use crate::{
    ports::VendorError,
    providers::{
        budget::RollingBudget,
        http::{
            Call, CountedSend, backoff, count_retry, count_throttle, receive, retry_after,
            transport_error,
        },
    },
};

/// The vendor's name in the metrics.
const VENDOR: &str = "halopsa";

/// Attempts per call (first try included).
const ATTEMPTS: u32 = 4;
/// Longest wait, for a `Retry-After` or for our own budget, inside one call.
pub const MAX_WAIT: Duration = Duration::from_secs(60);
/// Halo says nothing about when to come back after most 429s; its window rolls over 5 minutes,
/// so a short pause only earns another 429.
const THROTTLE_WAIT: u64 = 60;
/// A token is renewed this long before Halo says it expires.
const TOKEN_MARGIN: Duration = Duration::from_secs(120);

/// What one connection shares across calls in this process.
pub struct Connection {
    budget: RollingBudget,
    slots: Semaphore,
    token: AsyncMutex<Option<CachedToken>>,
}

struct CachedToken {
    value: SecretString,
    renew_at: Instant,
}

impl Connection {
    /// `limit` calls per `window`, `concurrency` in flight.
    pub fn new(limit: u32, window: Duration, concurrency: usize) -> Self {
        Self {
            budget: RollingBudget::new(limit, window),
            slots: Semaphore::new(concurrency.max(1)),
            token: AsyncMutex::new(None),
        }
    }
}

/// Where a connection's Halo lives and who it logs in as.
pub struct Endpoint {
    /// Site root, `https://acme.halopsa.com/`.
    pub site: Url,
    /// Token endpoint, `{auth server}/token`, with `?tenant=` for hosted instances.
    pub token_url: Url,
    /// API application client id.
    pub client_id: String,
    /// API application client secret.
    pub client_secret: SecretString,
}

/// One connection's client, made per request from shared parts.
pub struct Client<'a> {
    /// The HTTP client (with the address policy's resolver).
    pub http: &'a reqwest::Client,
    /// Shared per-connection state.
    pub conn: Arc<Connection>,
    /// Where and as whom.
    pub endpoint: Endpoint,
}

impl Client<'_> {
    fn api(&self, path: &str) -> Url {
        self.endpoint
            .site
            .join(&format!("api/{path}"))
            .expect("paths we build are valid")
    }

    async fn spend(&self) -> Result<(), VendorError> {
        self.conn
            .budget
            .take(MAX_WAIT)
            .await
            .map_err(|wait| {
                count_throttle(VENDOR, "budget");
                VendorError::Throttled {
                    detail: "this connection's HaloPSA request budget is spent for now; the partner's other tools keep their share".into(),
                    retry_after_secs: wait.as_secs().max(1),
                }
            })
    }

    /// A bearer token: the cached one, or a new one from the token endpoint.
    async fn token(&self, stale: Option<&SecretString>) -> Result<SecretString, VendorError> {
        let mut cached = self.conn.token.lock().await;
        if let Some(t) = cached.as_ref()
            && t.renew_at > Instant::now()
            && stale.is_none_or(|s| s.expose_secret() != t.value.expose_secret())
        {
            return Ok(t.value.clone());
        }
        let token = self.fetch_token().await?;
        let lifetime = Duration::from_secs(token.expires_in.unwrap_or(3600).max(0) as u64);
        // Short-lived tokens are renewed at 90% of their life instead.
        let margin = TOKEN_MARGIN.min(lifetime / 10);
        let value = SecretString::from(token.access_token);
        *cached = Some(CachedToken {
            value: value.clone(),
            renew_at: Instant::now() + lifetime.saturating_sub(margin),
        });
        Ok(value)
    }

    /// Gets a token now (connect's proof of the credentials); later calls reuse it.
    pub async fn authenticate(&self) -> Result<(), VendorError> {
        self.token(None).await.map(|_| ())
    }

    /// Asks the token endpoint for a client-credentials token.
    async fn fetch_token(&self) -> Result<Token, VendorError> {
        self.spend().await?;
        let form = [
            ("grant_type", "client_credentials"),
            ("client_id", self.endpoint.client_id.as_str()),
            ("client_secret", self.endpoint.client_secret.expose_secret()),
            ("scope", "all"),
        ];
        let response = self
            .http
            .post(self.endpoint.token_url.clone())
            .form(&form)
            .send_counted(VENDOR)
            .await
            .map_err(|e| transport_error(&e, "HaloPSA's authorisation server", false))?;
        let (status, headers) = (response.status(), response.headers().clone());
        let bytes = response
            .bytes()
            .await
            .map_err(|e| transport_error(&e, "HaloPSA's authorisation server", false))?;
        if status.is_success() {
            return serde_json::from_slice::<Token>(&bytes).map_err(|_| not_halo());
        }
        if status == StatusCode::TOO_MANY_REQUESTS {
            return Err(throttled(retry_after(&headers).unwrap_or(THROTTLE_WAIT)));
        }
        match serde_json::from_slice::<OAuthError>(&bytes) {
            Ok(e) => Err(oauth_error(e)),
            Err(_) if status == StatusCode::NOT_FOUND || status.is_success() => Err(not_halo()),
            Err(_) if status.is_server_error() => Err(VendorError::Unreachable {
                detail: format!(
                    "HaloPSA's authorisation server answered HTTP {}",
                    status.as_u16()
                ),
            }),
            Err(_) => Err(not_halo()),
        }
    }

    /// `GET /api/{path}`; `None` on 404.
    pub async fn get<T: DeserializeOwned>(
        &self,
        path: &str,
        query: &[(&str, String)],
    ) -> Result<Option<T>, VendorError> {
        let mut url = self.api(path);
        url.query_pairs_mut().extend_pairs(query);
        match self.send(Method::GET, url, None, Call::Read).await? {
            None => Ok(None),
            Some(bytes) => parse(&bytes).map(Some),
        }
    }

    /// A list endpoint (bare array or `{record_count, <plural>}`); `None` on 404.
    pub async fn list<T: DeserializeOwned>(
        &self,
        path: &str,
        query: &[(&str, String)],
    ) -> Result<(Vec<T>, Option<u64>), VendorError> {
        let body: Option<Value> = self.get(path, query).await?;
        match body {
            None => Ok((Vec::new(), Some(0))),
            Some(body) => wire::records(body).map_err(|e| VendorError::Unreachable {
                detail: format!("HaloPSA answered a list we cannot read: {e}"),
            }),
        }
    }

    /// One page (1-based) of a paged list, `page_size` records, with the total.
    pub async fn page<T: DeserializeOwned>(
        &self,
        path: &str,
        filters: &[(&str, String)],
        page_no: u64,
        page_size: usize,
    ) -> Result<(Vec<T>, Option<u64>), VendorError> {
        let mut query: Vec<(&str, String)> = filters.to_vec();
        query.extend([
            ("pageinate", "true".to_owned()),
            ("page_size", page_size.to_string()),
            ("page_no", page_no.to_string()),
        ]);
        self.list(path, &query).await
    }

    /// `POST /api/{path}` with `[record]`; Halo answers with the saved record.
    pub async fn post<T: DeserializeOwned>(
        &self,
        path: &str,
        record: Value,
        call: Call,
    ) -> Result<T, VendorError> {
        let body = Value::Array(vec![record]);
        let bytes = self
            .send(Method::POST, self.api(path), Some(&body), call)
            .await?
            .ok_or_else(|| VendorError::Unreachable {
                detail: format!("HaloPSA has no {path} endpoint"),
            })?;
        parse(&bytes)
    }

    /// One call with retries. `Ok(None)` is a 404.
    async fn send(
        &self,
        method: Method,
        url: Url,
        body: Option<&Value>,
        call: Call,
    ) -> Result<Option<Bytes>, VendorError> {
        let mut renewed: Option<SecretString> = None;
        let mut attempt = 0;
        loop {
            attempt += 1;
            if attempt > 1 {
                count_retry(VENDOR);
            }
            let last = attempt >= ATTEMPTS;
            let token = self.token(renewed.as_ref()).await?;
            self.spend().await?;
            let permit = self
                .conn
                .slots
                .acquire()
                .await
                .expect("semaphores are never closed");
            let mut bearer = HeaderValue::from_str(&format!("Bearer {}", token.expose_secret()))
                .map_err(|_| not_halo())?;
            bearer.set_sensitive(true);
            let mut request = self
                .http
                .request(method.clone(), url.clone())
                .header(header::AUTHORIZATION, bearer);
            if let Some(body) = body {
                request = request.json(body);
            }
            let received = receive(request, VENDOR).await;
            drop(permit);
            let (status, headers, bytes) = match received {
                Ok(received) => received,
                Err(e) => {
                    if last || !call.may_resend(&e) {
                        return Err(transport_error(&e, "HaloPSA", call != Call::Read));
                    }
                    tokio::time::sleep(backoff(
                        attempt,
                        Duration::from_millis(250),
                        Duration::from_secs(5),
                    ))
                    .await;
                    continue;
                }
            };
            let message = || wire::error_message(&bytes);
            match status {
                s if s.is_success() => return Ok(Some(bytes)),
                StatusCode::NOT_FOUND => return Ok(None),
                StatusCode::UNAUTHORIZED if renewed.is_none() => {
                    // Expired or revoked early: one new token, then give up.
                    renewed = Some(token);
                    attempt -= 1;
                }
                StatusCode::UNAUTHORIZED => {
                    return Err(VendorError::CredentialsRejected {
                        detail: "HaloPSA refused a fresh token: the API application or its agent may have been disabled".into(),
                        field: "client_id",
                        vendor_message: message(),
                    });
                }
                StatusCode::FORBIDDEN => return Err(forbidden(url.path(), message())),
                StatusCode::TOO_MANY_REQUESTS => {
                    count_throttle(VENDOR, "429");
                    let wait = retry_after(&headers).unwrap_or(THROTTLE_WAIT);
                    if last || Duration::from_secs(wait) > MAX_WAIT {
                        return Err(throttled(wait));
                    }
                    tracing::warn!(wait_secs = wait, "HaloPSA throttled a call; waiting");
                    tokio::time::sleep(Duration::from_secs(wait)).await;
                }
                StatusCode::BAD_REQUEST
                | StatusCode::CONFLICT
                | StatusCode::UNPROCESSABLE_ENTITY => {
                    return Err(VendorError::Refused {
                        vendor_message: message().unwrap_or_else(|| {
                            format!("HaloPSA answered HTTP {}", status.as_u16())
                        }),
                    });
                }
                s if s.is_server_error() => {
                    if call == Call::Create && s != StatusCode::SERVICE_UNAVAILABLE {
                        return Err(VendorError::OutcomeUnknown {
                            detail: format!(
                                "HaloPSA answered HTTP {} to a create; it may or may not have been applied",
                                s.as_u16()
                            ),
                        });
                    }
                    if last {
                        return Err(VendorError::Unreachable {
                            detail: format!("HaloPSA answered HTTP {}", s.as_u16()),
                        });
                    }
                    let wait = retry_after(&headers)
                        .map(Duration::from_secs)
                        .unwrap_or_else(|| {
                            backoff(attempt, Duration::from_millis(500), Duration::from_secs(10))
                        });
                    tokio::time::sleep(wait.min(MAX_WAIT)).await;
                }
                other => {
                    return Err(VendorError::Refused {
                        vendor_message: message()
                            .unwrap_or_else(|| format!("HaloPSA answered HTTP {}", other.as_u16())),
                    });
                }
            }
        }
    }
}

/// The permission a path needs, as Halo's role screen names it.
fn permission_for(path: &str) -> &'static str {
    let p = path.to_ascii_lowercase();
    if p.contains("softwarelicence") {
        "Software Licensing access level: Read and Modify"
    } else if p.contains("/client") {
        "Customers access level: Read Only or better"
    } else if p.contains("/tickets") || p.contains("/actions") {
        "Tickets access level: Read and Modify, and \"Can add new Tickets\""
    } else {
        "the permissions this integration's setup guide lists"
    }
}

fn forbidden(path: &str, vendor_message: Option<String>) -> VendorError {
    VendorError::PermissionDenied {
        detail: format!(
            "the HaloPSA API agent lacks a permission: give its role {}",
            permission_for(path)
        ),
        vendor_message,
    }
}

fn oauth_error(e: OAuthError) -> VendorError {
    let vendor_message = Some(match &e.error_description {
        Some(d) => format!("{}: {d}", e.error),
        None => e.error.clone(),
    });
    match e.error.as_str() {
        "invalid_client" => VendorError::CredentialsRejected {
            detail: "HaloPSA rejected the client ID or client secret (invalid_client): copy both again from Configuration > Integrations > HaloPSA API > View Applications".into(),
            field: "client_secret",
            vendor_message,
        },
        "unauthorized_client" | "unsupported_grant_type" => VendorError::CredentialsRejected {
            detail: "the HaloPSA application is not set to \"Client ID and Secret (Services)\" authentication".into(),
            field: "client_id",
            vendor_message,
        },
        "invalid_scope" => VendorError::PermissionDenied {
            detail: "the HaloPSA application does not grant the all:standard permissions".into(),
            vendor_message,
        },
        _ => VendorError::CredentialsRejected {
            detail: "HaloPSA refused the application's credentials".into(),
            field: "client_id",
            vendor_message,
        },
    }
}

/// The site answered, but not like a HaloPSA instance.
pub fn not_halo() -> VendorError {
    VendorError::invalid(
        "site_url",
        "does not look like a HaloPSA instance (no Halo API or authorisation server answered there)",
    )
}

fn throttled(wait: u64) -> VendorError {
    VendorError::Throttled {
        detail: "HaloPSA is rate-limiting this instance (about 300 requests per 5 minutes, shared with the partner's other tools); try again later".into(),
        retry_after_secs: wait.max(1),
    }
}

fn parse<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, VendorError> {
    serde_json::from_slice(bytes).map_err(|e| VendorError::Unreachable {
        detail: format!("HaloPSA answered something unreadable: {e}"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn oauth_errors_name_the_field() {
        let e = oauth_error(OAuthError {
            error: "invalid_client".into(),
            error_description: None,
        });
        assert!(matches!(
            e,
            VendorError::CredentialsRejected {
                field: "client_secret",
                ..
            }
        ));
    }

    #[test]
    fn forbidden_names_the_permission() {
        let e = forbidden("/api/SoftwareLicence", Some("Access denied".into()));
        assert!(e.to_string().contains("Software Licensing"), "{e}");
        assert_eq!(e.vendor_message(), Some("Access denied"));
    }
}
