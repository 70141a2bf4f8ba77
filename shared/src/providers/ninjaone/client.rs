//! The NinjaOne REST client: the token endpoint, bearer calls with retries that honour
//! `Retry-After`, and `after`-cursor paging that follows every page.

use std::{sync::Arc, time::Duration};

use http::{HeaderValue, StatusCode, header};
use secrecy::{ExposeSecret, SecretString};
use serde::de::DeserializeOwned;
use tokio::sync::Semaphore;
use url::Url;

use super::wire::{OAuthError, Token};
use crate::{
    ports::VendorError,
    providers::http::{
        CountedSend, backoff, count_retry, count_throttle, retry_after, transport_error,
    },
};

/// The vendor's name in the metrics.
const VENDOR: &str = "ninjaone";

/// Attempts per call (first try included).
const ATTEMPTS: u32 = 4;
/// Longest `Retry-After` slept through inside one call.
const MAX_WAIT: Duration = Duration::from_secs(60);
/// Safety net against a vendor that never stops paging.
const MAX_PAGES: usize = 10_000;

/// Posts a form to the token endpoint.
pub async fn token(
    http: &reqwest::Client,
    base: &Url,
    form: &[(&str, &str)],
) -> Result<Token, VendorError> {
    let url = base.join("ws/oauth/token").expect("a fixed path joins");
    let response = http
        .post(url)
        .form(form)
        .send_counted(VENDOR)
        .await
        .map_err(|e| transport_error(&e, "NinjaOne's token endpoint", false))?;
    let (status, headers) = (response.status(), response.headers().clone());
    let bytes = response
        .bytes()
        .await
        .map_err(|e| transport_error(&e, "NinjaOne's token endpoint", false))?;
    if status.is_success() {
        return serde_json::from_slice(&bytes).map_err(|_| VendorError::Unreachable {
            detail: "NinjaOne's token endpoint answered something unreadable".into(),
        });
    }
    if status == StatusCode::TOO_MANY_REQUESTS {
        return Err(VendorError::Throttled {
            detail: "NinjaOne is rate-limiting the token endpoint".into(),
            retry_after_secs: retry_after(&headers).unwrap_or(60),
        });
    }
    match serde_json::from_slice::<OAuthError>(&bytes) {
        Ok(e) => Err(oauth_error(e)),
        Err(_) => Err(VendorError::Unreachable {
            detail: format!(
                "NinjaOne's token endpoint answered HTTP {}",
                status.as_u16()
            ),
        }),
    }
}

fn oauth_error(e: OAuthError) -> VendorError {
    let words = match &e.error_description {
        Some(d) => format!("{}: {d}", e.error),
        None => e.error.clone(),
    };
    let vendor_message = Some(words.clone());
    match e.error.as_str() {
        "invalid_grant" => VendorError::CredentialsRejected {
            detail: "NinjaOne no longer accepts this connection's refresh token; connect again to approve access".into(),
            field: "refresh_token",
            vendor_message,
        },
        "invalid_client" | "unauthorized_client" => VendorError::CredentialsRejected {
            detail: "NinjaOne rejected the client ID or secret".into(),
            field: "client_secret",
            vendor_message,
        },
        _ => VendorError::Refused {
            vendor_message: words,
        },
    }
}

/// One connection's API client, made per request.
pub struct Client<'a> {
    /// The HTTP client.
    pub http: &'a reqwest::Client,
    /// The instance's base URL.
    pub base: Url,
    /// A valid access token.
    pub access_token: SecretString,
    /// Calls in flight for this connection.
    pub slots: Arc<Semaphore>,
}

impl Client<'_> {
    /// `GET {base}/v2/{path}`; `None` on 404.
    pub async fn get<T: DeserializeOwned>(
        &self,
        path: &str,
        query: &[(&str, String)],
    ) -> Result<Option<T>, VendorError> {
        let mut url = self
            .base
            .join(&format!("v2/{path}"))
            .expect("paths we build are valid");
        if !query.is_empty() {
            url.query_pairs_mut().extend_pairs(query);
        }
        let mut bearer =
            HeaderValue::from_str(&format!("Bearer {}", self.access_token.expose_secret()))
                .map_err(|_| VendorError::Unreachable {
                    detail: "the stored NinjaOne access token is malformed".into(),
                })?;
        bearer.set_sensitive(true);
        let mut attempt = 0;
        loop {
            attempt += 1;
            if attempt > 1 {
                count_retry(VENDOR);
            }
            let last = attempt >= ATTEMPTS;
            let permit = self.slots.acquire().await.expect("never closed");
            let received = match self
                .http
                .get(url.clone())
                .header(header::AUTHORIZATION, bearer.clone())
                .send_counted(VENDOR)
                .await
            {
                Ok(r) => {
                    let (status, headers) = (r.status(), r.headers().clone());
                    r.bytes().await.map(|b| (status, headers, b))
                }
                Err(e) => Err(e),
            };
            drop(permit);
            let (status, headers, bytes) = match received {
                Ok(r) => r,
                Err(e) if last => return Err(transport_error(&e, "NinjaOne", false)),
                Err(_) => {
                    tokio::time::sleep(backoff(
                        attempt,
                        Duration::from_millis(250),
                        Duration::from_secs(5),
                    ))
                    .await;
                    continue;
                }
            };
            let message = || {
                let text = String::from_utf8_lossy(&bytes).trim().to_owned();
                (!text.is_empty()).then(|| text.chars().take(300).collect::<String>())
            };
            match status {
                s if s.is_success() => {
                    return serde_json::from_slice(&bytes).map(Some).map_err(|e| {
                        VendorError::Unreachable {
                            detail: format!("NinjaOne answered something unreadable: {e}"),
                        }
                    });
                }
                StatusCode::NOT_FOUND => return Ok(None),
                // The job layer renews the token and tries again (`session::vendor_failed`);
                // only a refused renewal asks the partner to reconnect.
                StatusCode::UNAUTHORIZED => {
                    return Err(VendorError::CredentialsRejected {
                        detail: "NinjaOne refused the access token".into(),
                        field: "access_token",
                        vendor_message: message(),
                    });
                }
                StatusCode::FORBIDDEN => {
                    return Err(VendorError::PermissionDenied {
                        detail: "NinjaOne refused: the app needs the monitoring scope and the approving user access to these organizations".into(),
                        vendor_message: message(),
                    });
                }
                StatusCode::TOO_MANY_REQUESTS => {
                    count_throttle(VENDOR, "429");
                    let wait = retry_after(&headers)
                        .map(Duration::from_secs)
                        .unwrap_or_else(|| {
                            backoff(attempt, Duration::from_secs(1), Duration::from_secs(30))
                        });
                    if last || wait > MAX_WAIT {
                        return Err(VendorError::Throttled {
                            detail: "NinjaOne is rate-limiting this instance".into(),
                            retry_after_secs: wait.as_secs().max(1),
                        });
                    }
                    tokio::time::sleep(wait).await;
                }
                s if s.is_server_error() && !last => {
                    tokio::time::sleep(backoff(
                        attempt,
                        Duration::from_millis(500),
                        Duration::from_secs(10),
                    ))
                    .await;
                }
                s if s.is_server_error() => {
                    return Err(VendorError::Unreachable {
                        detail: format!("NinjaOne answered HTTP {}", s.as_u16()),
                    });
                }
                other => {
                    return Err(VendorError::Refused {
                        vendor_message: message().unwrap_or_else(|| {
                            format!("NinjaOne answered HTTP {}", other.as_u16())
                        }),
                    });
                }
            }
        }
    }

    /// Every record of an `after`-paged list: pages of `page_size`, `after` = the largest id
    /// so far, until a short page.
    pub async fn all<T: DeserializeOwned>(
        &self,
        path: &str,
        query: &[(&str, String)],
        page_size: usize,
        id: impl Fn(&T) -> i64,
    ) -> Result<Vec<T>, VendorError> {
        let mut all: Vec<T> = Vec::new();
        let mut after: Option<i64> = None;
        for _ in 0..MAX_PAGES {
            let mut q = query.to_vec();
            q.push(("pageSize", page_size.to_string()));
            if let Some(a) = after {
                q.push(("after", a.to_string()));
            }
            let page: Vec<T> = self.get(path, &q).await?.unwrap_or_default();
            let short = page.len() < page_size;
            after = page.iter().map(&id).max().or(after);
            all.extend(page);
            if short {
                return Ok(all);
            }
        }
        Err(VendorError::Unreachable {
            detail: "NinjaOne kept paging past the safety limit".into(),
        })
    }
}
