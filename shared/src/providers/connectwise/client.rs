//! The ConnectWise PSA REST client: Basic auth over `company+public:private` with our
//! `clientId` on every call, the API model version pinned in `Accept`, a rolling-minute budget
//! and bounded concurrency per connection, `Retry-After` on 429, forward-only paging that
//! follows `Link` only on our own origin, and one fresh `login/companyinfo` lookup when the
//! codebase path answers 404 (cloud upgrades move it).

use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

use base64::Engine;
use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use secrecy::{ExposeSecret, SecretString};
use serde::de::DeserializeOwned;
use serde_json::Value;
use tokio::sync::Semaphore;
use url::Url;

use super::wire::{CompanyInfo, ErrorBody};
use crate::{
    ports::VendorError,
    providers::{
        budget::RollingBudget,
        http::{
            Call, CountedSend, backoff, count_retry, count_throttle, origin, receive, retry_after,
            transport_error,
        },
    },
};

/// The vendor's name in the metrics.
pub const VENDOR: &str = "connectwise";
/// The API model version we speak; ConnectWise supports a superseded one for 12 months.
pub const MODEL_VERSION: &str = "2025.1";
/// ConnectWise's largest page.
pub const PAGE: usize = 1000;
/// ConnectWise documents about 2,000 characters per URL; conditions stay well under.
pub const MAX_CONDITIONS: usize = 1500;

/// Attempts per call (first try included).
const ATTEMPTS: u32 = 4;
/// Longest wait, for a `Retry-After` or for our own budget, inside one call.
pub const MAX_WAIT: Duration = Duration::from_secs(60);
/// When a 429 does not say how long (ConnectWise's own message says 30 seconds).
const THROTTLE_WAIT: u64 = 30;

/// What one connection shares across calls in this process.
pub struct Connection {
    budget: RollingBudget,
    slots: Semaphore,
    /// A codebase found after the stored one answered 404.
    codebase: Mutex<Option<String>>,
}

impl Connection {
    /// `per_minute` calls per rolling minute, `concurrency` in flight.
    pub fn new(per_minute: u32, concurrency: usize) -> Self {
        Self {
            budget: RollingBudget::new(per_minute, Duration::from_secs(60)),
            slots: Semaphore::new(concurrency.max(1)),
            codebase: Mutex::new(None),
        }
    }
}

/// Where a connection's ConnectWise lives and who it logs in as.
pub struct Endpoint {
    /// `https://api-na.myconnectwise.net/`: credentials go to this origin only.
    pub origin: Url,
    /// The login company.
    pub company_id: String,
    /// The codebase stored at connect.
    pub codebase: String,
    /// The API member's public key.
    pub public_key: String,
    /// The API member's private key.
    pub private_key: SecretString,
    /// Our clientId.
    pub client_id: SecretString,
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

/// `GET {origin}/login/companyinfo/{company}`, unauthenticated: `Ok(None)` when ConnectWise
/// answers `null` (no such company).
pub async fn company_info(
    http: &reqwest::Client,
    origin: &Url,
    company_id: &str,
) -> Result<Option<CompanyInfo>, CompanyInfoError> {
    let mut url = origin.clone();
    url.path_segments_mut()
        .map_err(|_| CompanyInfoError::NotConnectwise)?
        .pop_if_empty()
        .extend(["login", "companyinfo", company_id]);
    let response = http
        .get(url)
        .header(header::ACCEPT, "application/json")
        .send_counted(VENDOR)
        .await
        .map_err(CompanyInfoError::Transport)?;
    let (status, headers) = (response.status(), response.headers().clone());
    if status == StatusCode::TOO_MANY_REQUESTS {
        return Err(CompanyInfoError::Throttled(
            retry_after(&headers).unwrap_or(THROTTLE_WAIT),
        ));
    }
    let bytes = response
        .bytes()
        .await
        .map_err(CompanyInfoError::Transport)?;
    if !status.is_success() {
        return Err(CompanyInfoError::NotConnectwise);
    }
    match serde_json::from_slice::<Option<CompanyInfo>>(&bytes) {
        Ok(Some(info)) if info.codebase.as_deref().is_some_and(valid_codebase) => Ok(Some(info)),
        Ok(None) => Ok(None),
        _ => Err(CompanyInfoError::NotConnectwise),
    }
}

/// A codebase is one path segment ending in `/`: `v4_6_release/`, `v2025_1/`.
fn valid_codebase(c: &str) -> bool {
    let name = c.trim_end_matches('/');
    c.ends_with('/')
        && !name.is_empty()
        && name
            .chars()
            .all(|ch| ch.is_ascii_alphanumeric() || ch == '_')
}

/// Why `login/companyinfo` gave no codebase.
#[derive(Debug)]
pub enum CompanyInfoError {
    /// Nothing answered.
    Transport(reqwest::Error),
    /// Throttled, for this many seconds.
    Throttled(u64),
    /// Something answered, but not ConnectWise.
    NotConnectwise,
}

impl Client<'_> {
    fn codebase(&self) -> String {
        self.conn
            .codebase
            .lock()
            .expect("codebase lock")
            .clone()
            .unwrap_or_else(|| self.endpoint.codebase.clone())
    }

    fn url(&self, path: &str, query: &[(&str, String)]) -> Url {
        let mut url = self
            .endpoint
            .origin
            .join(&format!("{}apis/3.0/{path}", self.codebase()))
            .expect("paths we build are valid");
        if !query.is_empty() {
            url.query_pairs_mut().extend_pairs(query);
        }
        url
    }

    async fn spend(&self) -> Result<(), VendorError> {
        self.conn.budget.take(MAX_WAIT).await.map_err(|wait| {
            count_throttle(VENDOR, "budget");
            VendorError::Throttled {
                detail: "this connection's ConnectWise request budget is spent for now; the partner's other tools keep their share".into(),
                retry_after_secs: wait.as_secs().max(1),
            }
        })
    }

    fn authorization(&self) -> HeaderValue {
        let raw = format!(
            "{}+{}:{}",
            self.endpoint.company_id,
            self.endpoint.public_key,
            self.endpoint.private_key.expose_secret()
        );
        let mut value = HeaderValue::from_str(&format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(raw)
        ))
        .expect("base64 is a valid header value");
        value.set_sensitive(true);
        value
    }

    fn client_id(&self) -> Result<HeaderValue, VendorError> {
        let mut value =
            HeaderValue::from_str(self.endpoint.client_id.expose_secret()).map_err(|_| {
                VendorError::IntegrationRefused {
                    detail: "this deployment's ConnectWise clientId is not a valid header value"
                        .into(),
                    vendor_message: None,
                }
            })?;
        value.set_sensitive(true);
        Ok(value)
    }

    /// Looks the codebase up again; true when it moved (the caller retries on the new path).
    async fn refresh_codebase(&self) -> bool {
        let info = company_info(self.http, &self.endpoint.origin, &self.endpoint.company_id)
            .await
            .ok()
            .flatten();
        let Some(fresh) = info.and_then(|i| i.codebase) else {
            return false;
        };
        if fresh == self.codebase() {
            return false;
        }
        tracing::info!(codebase = %fresh, "ConnectWise moved this company's codebase; following it");
        *self.conn.codebase.lock().expect("codebase lock") = Some(fresh);
        true
    }

    /// `GET {path}`; `None` when ConnectWise has no such record.
    pub async fn get<T: DeserializeOwned>(
        &self,
        path: &str,
        query: &[(&str, String)],
    ) -> Result<Option<T>, VendorError> {
        match self
            .send(Method::GET, path, query, None, Call::Read, false)
            .await?
        {
            None => Ok(None),
            Some((bytes, _)) => parse(&bytes).map(Some),
        }
    }

    /// Every record of `path` matching `conditions`, with only `fields`, in forward-only pages
    /// of 1,000 (id order; `pageId` continues after the last id).
    pub async fn list_all<T: DeserializeOwned>(
        &self,
        path: &str,
        conditions: Option<&str>,
        fields: &str,
    ) -> Result<Vec<T>, VendorError> {
        let mut base: Vec<(&str, String)> = vec![
            ("fields", fields.to_owned()),
            ("pageSize", PAGE.to_string()),
        ];
        if let Some(c) = conditions {
            base.push(("conditions", c.to_owned()));
        }
        let mut out = Vec::new();
        let mut page_id: Option<String> = None;
        loop {
            let mut query = base.clone();
            if let Some(id) = &page_id {
                query.push(("pageId", id.clone()));
            }
            let Some((bytes, headers)) = self
                .send(Method::GET, path, &query, None, Call::Read, true)
                .await?
            else {
                return Ok(out);
            };
            let page: Vec<T> = parse(&bytes)?;
            let count = page.len();
            out.extend(page);
            match self.next_page_id(&headers, path)? {
                Some(next) if count > 0 && Some(&next) != page_id.as_ref() => page_id = Some(next),
                _ => return Ok(out),
            }
        }
    }

    /// One navigable page (1-based) of `path`; true when ConnectWise links a next one.
    pub async fn page<T: DeserializeOwned>(
        &self,
        path: &str,
        query: &[(&str, String)],
        page: u64,
        page_size: usize,
    ) -> Result<(Vec<T>, bool), VendorError> {
        let mut query = query.to_vec();
        query.extend([
            ("page", page.to_string()),
            ("pageSize", page_size.to_string()),
        ]);
        match self
            .send(Method::GET, path, &query, None, Call::Read, false)
            .await?
        {
            None => Ok((Vec::new(), false)),
            Some((bytes, headers)) => {
                let rows: Vec<T> = parse(&bytes)?;
                Ok((rows, link(&headers, "next").is_some()))
            }
        }
    }

    /// The `pageId` of the `Link` header's next page, which must be our own origin and path:
    /// a next URL elsewhere is never followed, and only its `pageId` is taken, so our own
    /// conditions stay on every page.
    fn next_page_id(&self, headers: &HeaderMap, path: &str) -> Result<Option<String>, VendorError> {
        let Some(next) = link(headers, "next") else {
            return Ok(None);
        };
        let next = Url::parse(&next)
            .ok()
            .filter(|u| {
                origin(u) == origin(&self.endpoint.origin)
                    && u.path()
                        .to_ascii_lowercase()
                        .ends_with(&format!("/apis/3.0/{path}").to_ascii_lowercase())
            })
            .ok_or_else(|| VendorError::Unreachable {
                detail:
                    "ConnectWise linked a next page outside this connection's API; not followed"
                        .into(),
            })?;
        Ok(next
            .query_pairs()
            .find(|(k, _)| k.eq_ignore_ascii_case("pageId"))
            .map(|(_, v)| v.into_owned()))
    }

    /// `POST {path}` with `body`; ConnectWise answers with the saved record.
    pub async fn post<T: DeserializeOwned>(
        &self,
        path: &str,
        body: &Value,
        call: Call,
    ) -> Result<T, VendorError> {
        let (bytes, _) = self
            .send(Method::POST, path, &[], Some(body), call, false)
            .await?
            .ok_or_else(|| not_found(path))?;
        parse(&bytes)
    }

    /// `PATCH {path}` with JSON Patch `replace` operations; answers the updated record.
    pub async fn patch<T: DeserializeOwned>(
        &self,
        path: &str,
        replace: &[(&str, Value)],
    ) -> Result<T, VendorError> {
        let ops: Vec<Value> = replace
            .iter()
            .map(|(p, v)| serde_json::json!({"op": "replace", "path": p, "value": v}))
            .collect();
        let (bytes, _) = self
            .send(
                Method::PATCH,
                path,
                &[],
                Some(&Value::Array(ops)),
                Call::IdempotentWrite,
                false,
            )
            .await?
            .ok_or_else(|| not_found(path))?;
        parse(&bytes)
    }

    /// One call with retries. `Ok(None)` is a 404 that is not a moved codebase.
    async fn send(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<&Value>,
        call: Call,
        forward_only: bool,
    ) -> Result<Option<(Bytes, HeaderMap)>, VendorError> {
        let mut refreshed = false;
        let mut attempt = 0;
        loop {
            attempt += 1;
            if attempt > 1 {
                count_retry(VENDOR);
            }
            let last = attempt >= ATTEMPTS;
            self.spend().await?;
            let permit = self
                .conn
                .slots
                .acquire()
                .await
                .expect("semaphores are never closed");
            let mut request = self
                .http
                .request(method.clone(), self.url(path, query))
                .header(header::AUTHORIZATION, self.authorization())
                .header("clientId", self.client_id()?)
                .header(
                    header::ACCEPT,
                    format!("application/vnd.connectwise.com+json; version={MODEL_VERSION}"),
                );
            if forward_only {
                request = request.header("pagination-type", "forward-only");
            }
            if let Some(body) = body {
                request = request.json(body);
            }
            let received = receive(request, VENDOR).await;
            drop(permit);
            let (status, headers, bytes) = match received {
                Ok(received) => received,
                Err(e) => {
                    if last || !call.may_resend(&e) {
                        return Err(transport_error(&e, "ConnectWise", call != Call::Read));
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
            let error: ErrorBody = serde_json::from_slice(&bytes).unwrap_or_default();
            let message = || error.text();
            if !status.is_success() && mentions_client_id(&error) {
                return Err(VendorError::IntegrationRefused {
                    detail: "ConnectWise refused this deployment's clientId; the platform's operators must renew it at the ConnectWise Developer Network".into(),
                    vendor_message: message(),
                });
            }
            match status {
                s if s.is_success() => return Ok(Some((bytes, headers))),
                StatusCode::NOT_FOUND => {
                    // A record that does not exist says so; anything else may be the old
                    // codebase of an upgraded cloud instance.
                    let record_missing = error.code.as_deref() == Some("NotFound");
                    if !record_missing && !refreshed && self.refresh_codebase().await {
                        refreshed = true;
                        attempt -= 1;
                        continue;
                    }
                    return Ok(None);
                }
                StatusCode::UNAUTHORIZED => {
                    return Err(VendorError::CredentialsRejected {
                        detail: "ConnectWise refused the API member's keys: check the company id and the public and private key, and that the API member is active".into(),
                        field: "private_key",
                        vendor_message: message(),
                    });
                }
                StatusCode::FORBIDDEN => return Err(forbidden(path, &method, message())),
                StatusCode::TOO_MANY_REQUESTS => {
                    count_throttle(VENDOR, "429");
                    let wait = retry_after(&headers).unwrap_or(THROTTLE_WAIT);
                    if last || Duration::from_secs(wait) > MAX_WAIT {
                        return Err(throttled(wait));
                    }
                    tracing::warn!(wait_secs = wait, "ConnectWise throttled a call; waiting");
                    tokio::time::sleep(Duration::from_secs(wait)).await;
                }
                s if s.is_server_error() => {
                    if call == Call::Create && s != StatusCode::SERVICE_UNAVAILABLE {
                        return Err(VendorError::OutcomeUnknown {
                            detail: format!(
                                "ConnectWise answered HTTP {} to a create; it may or may not have been applied",
                                s.as_u16()
                            ),
                        });
                    }
                    if last {
                        return Err(VendorError::Unreachable {
                            detail: format!("ConnectWise answered HTTP {}", s.as_u16()),
                        });
                    }
                    let wait = retry_after(&headers)
                        .map(Duration::from_secs)
                        .unwrap_or_else(|| {
                            backoff(attempt, Duration::from_millis(300), Duration::from_secs(10))
                        });
                    tokio::time::sleep(wait.min(MAX_WAIT)).await;
                }
                // 400 (never resent unchanged), 405, 409 and the rest: ConnectWise's words.
                other => {
                    return Err(VendorError::Refused {
                        vendor_message: message().unwrap_or_else(|| {
                            format!("ConnectWise answered HTTP {}", other.as_u16())
                        }),
                    });
                }
            }
        }
    }
}

/// Whether an error is about our clientId (its exact shape is undocumented; its message names
/// it).
fn mentions_client_id(error: &ErrorBody) -> bool {
    error
        .text()
        .is_some_and(|t| t.to_ascii_lowercase().contains("clientid"))
}

/// The security-role module a path needs, as ConnectWise's Security Roles screen names it.
pub fn module_for(path: &str, method: &Method) -> &'static str {
    let p = path.to_ascii_lowercase();
    let write = method != Method::GET;
    if p.starts_with("finance/agreements") && write {
        "Finance > Agreements: Edit (seat sync changes addition quantities)"
    } else if p.starts_with("finance/agreements") {
        "Finance > Agreements: Inquire"
    } else if p.starts_with("company/") {
        "Companies > Company Maintenance: Inquire"
    } else if p.starts_with("procurement/") {
        "Procurement > Product Catalog: Inquire"
    } else if p.starts_with("service/tickets") {
        "Service Desk > Service Tickets: Add, Edit and Inquire"
    } else if p.starts_with("service/") {
        "System > Table Setup: Inquire (service boards, statuses, types, priorities, sources)"
    } else {
        "System > System Info: Inquire"
    }
}

fn forbidden(path: &str, method: &Method, vendor_message: Option<String>) -> VendorError {
    VendorError::PermissionDenied {
        detail: format!(
            "the ConnectWise API member's security role lacks a permission: {}",
            module_for(path, method)
        ),
        vendor_message,
    }
}

/// The URL of `rel` in an RFC 8288 `Link` header.
fn link(headers: &HeaderMap, rel: &str) -> Option<String> {
    let raw = headers.get(header::LINK)?.to_str().ok()?;
    raw.split(',').find_map(|part| {
        let (target, params) = part.split_once(';')?;
        let is_rel = params.split(';').any(|p| {
            let p = p.trim();
            p.eq_ignore_ascii_case(&format!("rel=\"{rel}\""))
                || p.eq_ignore_ascii_case(&format!("rel={rel}"))
        });
        is_rel.then(|| {
            target
                .trim()
                .trim_start_matches('<')
                .trim_end_matches('>')
                .to_owned()
        })
    })
}

fn not_found(path: &str) -> VendorError {
    VendorError::Unreachable {
        detail: format!("ConnectWise has no {path} endpoint at this codebase"),
    }
}

/// ConnectWise is throttling this connection.
pub fn throttled(wait: u64) -> VendorError {
    VendorError::Throttled {
        detail: "ConnectWise is rate-limiting this instance (it throttles past about 1,000 requests a minute, shared with the partner's other tools); try again later".into(),
        retry_after_secs: wait.max(1),
    }
}

fn parse<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, VendorError> {
    serde_json::from_slice(bytes).map_err(|e| VendorError::Unreachable {
        detail: format!("ConnectWise answered something unreadable: {e}"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_by_rel() {
        let mut h = HeaderMap::new();
        h.insert(
            header::LINK,
            HeaderValue::from_static(
                "<https://api-na.myconnectwise.net/v4_6_release/apis/3.0/finance/agreements?pageSize=2&pageId=7>; rel=\"next\", <https://x/first>; rel=\"first\"",
            ),
        );
        assert!(link(&h, "next").unwrap().ends_with("pageId=7"));
        assert_eq!(link(&h, "first").as_deref(), Some("https://x/first"));
        assert_eq!(link(&h, "prev"), None);
    }

    #[test]
    fn modules_by_path() {
        assert!(module_for("finance/agreements/5/additions/7", &Method::PATCH).contains("Edit"));
        assert!(module_for("procurement/catalog", &Method::GET).contains("Product Catalog"));
        assert!(module_for("service/boards/1/statuses", &Method::GET).contains("Table Setup"));
    }

    #[test]
    fn codebases_are_one_segment() {
        assert!(valid_codebase("v4_6_release/"));
        assert!(valid_codebase("v2025_1/"));
        assert!(!valid_codebase("v2025_1"));
        assert!(!valid_codebase("../x/"));
        assert!(!valid_codebase("/"));
        assert!(!valid_codebase("../"));
    }
}
