//! The Autotask REST client: zone lookup (cached), credentials only to the zone's own origin,
//! at most N concurrent calls per endpoint, an hourly budget per connection, and retries that
//! honour `Retry-After` and never repeat a write whose outcome is unknown.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use bytes::Bytes;
use futures::{StreamExt, TryStreamExt, stream};
use http::{HeaderValue, Method, StatusCode};
use secrecy::{ExposeSecret, SecretString};
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use tokio::sync::Semaphore;
use url::Url;

use super::wire::{ErrorBody, ItemId, ItemResponse, QueryPage, Threshold, ZoneInfo};
use crate::{
    ports::VendorError,
    providers::{
        budget::RollingBudget,
        http::{
            CountedSend, backoff, count_retry, count_throttle, origin, receive, retry_after,
            transport_error, vendor_url,
        },
    },
};

/// The vendor's name in the metrics.
const VENDOR: &str = "autotask";

/// Autotask's page size, and the most ids we put in one `in` filter.
pub const PAGE: usize = 500;
/// Safety net against a vendor that never stops paging.
const MAX_PAGES: usize = 1_000;
/// Attempts per call (first try included).
const ATTEMPTS: u32 = 4;
/// Longest `Retry-After` we sleep through inside one call; longer ones fail the call.
const MAX_WAIT: Duration = Duration::from_secs(60);
/// How long a looked-up zone is trusted.
const ZONE_TTL: Duration = Duration::from_secs(24 * 3600);
/// The API version we speak. Pinned: `versioninformation` now also lists V2.0, which has no
/// zone lookup.
const VERSION: &str = "V1.0";

/// Per-connection limits, shared by every call for that connection in this process.
pub struct Limits {
    per_endpoint: usize,
    endpoints: Mutex<HashMap<String, Arc<Semaphore>>>,
    budget: RollingBudget,
}

impl Limits {
    /// `per_endpoint` concurrent calls per entity endpoint, `hourly` calls per rolling hour.
    pub fn new(per_endpoint: usize, hourly: u32) -> Self {
        Self {
            per_endpoint: per_endpoint.max(1),
            endpoints: Mutex::default(),
            budget: RollingBudget::new(hourly, Duration::from_secs(3600)),
        }
    }

    fn endpoint(&self, name: &str) -> Arc<Semaphore> {
        let mut map = self.endpoints.lock().expect("limits lock");
        map.entry(name.to_ascii_lowercase())
            .or_insert_with(|| Arc::new(Semaphore::new(self.per_endpoint)))
            .clone()
    }

    fn take(&self) -> Result<(), VendorError> {
        self.budget.try_take().map_err(|wait| VendorError::Throttled {
            detail: "this connection's hourly Autotask budget is spent; the partner's other tools keep their share".into(),
            retry_after_secs: wait.as_secs().max(1),
        })
    }
}

/// Zones looked up per username.
#[derive(Default)]
pub struct ZoneCache {
    entries: Mutex<HashMap<String, (ZoneInfo, Instant)>>,
}

impl ZoneCache {
    /// The zone of `username`, from the cache unless `fresh`.
    pub async fn lookup(
        &self,
        http: &reqwest::Client,
        lookup_base: &Url,
        username: &str,
        fresh: bool,
    ) -> Result<ZoneInfo, VendorError> {
        let key = username.to_ascii_lowercase();
        if !fresh
            && let Some((zone, at)) = self.entries.lock().expect("zone lock").get(&key)
            && at.elapsed() < ZONE_TTL
        {
            return Ok(zone.clone());
        }
        let mut url = lookup_base
            .join(&format!("{VERSION}/zoneInformation"))
            .map_err(|_| unreachable_msg("the zone lookup address is malformed"))?;
        url.query_pairs_mut().append_pair("user", username);
        let response = http
            .get(url)
            .send_counted(VENDOR)
            .await
            .map_err(|e| transport_error(&e, "Autotask's zone lookup", false))?;
        let status = response.status();
        let bytes = response
            .bytes()
            .await
            .map_err(|e| transport_error(&e, "Autotask's zone lookup", false))?;
        if status.is_success()
            && let Ok(zone) = serde_json::from_slice::<ZoneInfo>(&bytes)
        {
            self.entries
                .lock()
                .expect("zone lock")
                .insert(key, (zone.clone(), Instant::now()));
            return Ok(zone);
        }
        if status.is_server_error() && !matches!(status.as_u16(), 502..=504) || status == 404 {
            let vendor = serde_json::from_slice::<ErrorBody>(&bytes)
                .ok()
                .and_then(|e| e.message());
            return Err(VendorError::Invalid {
                detail:
                    "Autotask found no zone for this username: check the API user's username (key)"
                        .into(),
                errors: vec![crate::domain::FieldError::new(
                    "username",
                    "Autotask knows no API user with this username",
                )],
                vendor_message: vendor,
            });
        }
        Err(unreachable_msg(&format!(
            "Autotask's zone lookup answered HTTP {}",
            status.as_u16()
        )))
    }
}

fn unreachable_msg(detail: &str) -> VendorError {
    VendorError::Unreachable {
        detail: detail.to_owned(),
    }
}

/// Whether `url` is an Autotask zone (`https://webservices*.autotask.net`), or any host when
/// loopback vendors are allowed (the sandbox).
pub fn is_zone_url(url: &Url, allow_loopback: bool) -> bool {
    if allow_loopback {
        return true;
    }
    let host = url.host_str().unwrap_or_default().to_ascii_lowercase();
    url.scheme() == "https"
        && host
            .strip_suffix(".autotask.net")
            .and_then(|h| h.strip_prefix("webservices"))
            .is_some_and(|n| n.chars().all(|c| c.is_ascii_digit()))
}

/// As whom the client talks.
pub struct Credentials {
    /// API user.
    pub username: String,
    /// Its secret.
    pub secret: SecretString,
    /// Our vendor integration code.
    pub integration_code: SecretString,
}

/// One connection's client, made per request from shared parts.
pub struct Client<'a> {
    http: &'a reqwest::Client,
    zones: &'a ZoneCache,
    lookup_base: &'a Url,
    allow_loopback: bool,
    limits: Arc<Limits>,
    credentials: Credentials,
    base: Mutex<Url>,
}

impl<'a> Client<'a> {
    /// A client for the zone at `zone_url`.
    pub fn new(
        http: &'a reqwest::Client,
        zones: &'a ZoneCache,
        lookup_base: &'a Url,
        allow_loopback: bool,
        limits: Arc<Limits>,
        credentials: Credentials,
        zone_url: &str,
    ) -> Result<Self, VendorError> {
        Ok(Self {
            http,
            zones,
            lookup_base,
            allow_loopback,
            limits,
            credentials,
            base: Mutex::new(zone_base(zone_url, allow_loopback)?),
        })
    }

    /// The zone REST root in use (it changes after a zone move).
    pub fn zone_url(&self) -> String {
        self.base.lock().expect("base lock").to_string()
    }

    fn url(&self, path: &str) -> Url {
        let base = self.base.lock().expect("base lock").clone();
        base.join(&format!("{VERSION}/{path}"))
            .expect("paths we build are valid")
    }

    /// Reads one record; `None` when Autotask has none (404 or `"item": null`).
    pub async fn get<T: DeserializeOwned>(
        &self,
        entity: &str,
        id: i64,
    ) -> Result<Option<T>, VendorError> {
        let bytes = self
            .send(
                Method::GET,
                self.url(&format!("{entity}/{id}")),
                None,
                false,
            )
            .await?;
        match bytes {
            None => Ok(None),
            Some(b) => Ok(parse::<ItemResponse<T>>(&b)?.item),
        }
    }

    /// Reads a JSON document (metadata, threshold).
    pub async fn get_json<T: DeserializeOwned>(&self, path: &str) -> Result<T, VendorError> {
        let bytes = self.send(Method::GET, self.url(path), None, false).await?;
        parse(&bytes.ok_or_else(|| unreachable_msg("Autotask has no such resource"))?)
    }

    /// The database's request threshold and current usage.
    pub async fn threshold(&self) -> Result<Threshold, VendorError> {
        self.get_json("ThresholdInformation").await
    }

    /// Every record matching `filter`, following `nextPageUrl` (on the zone's origin only).
    pub async fn query<T: DeserializeOwned>(
        &self,
        entity: &str,
        filter: Value,
    ) -> Result<Vec<T>, VendorError> {
        let body = json!({ "filter": filter, "MaxRecords": PAGE });
        let mut url = self.url(&format!("{entity}/query"));
        let mut all = Vec::new();
        for _ in 0..MAX_PAGES {
            let bytes = self
                .send(Method::POST, url, Some(&body), false)
                .await?
                .ok_or_else(|| unreachable_msg("Autotask has no such entity"))?;
            let page: QueryPage<T> = parse(&bytes)?;
            all.extend(page.items);
            match page.page_details.and_then(|p| p.next_page_url) {
                Some(next) => url = self.same_origin(&next)?,
                None => return Ok(all),
            }
        }
        Err(unreachable_msg(
            "Autotask kept paging past the safety limit",
        ))
    }

    /// One page of at most `limit` records (the caller pages by `id gt`).
    pub async fn query_page<T: DeserializeOwned>(
        &self,
        entity: &str,
        filter: Value,
        limit: usize,
    ) -> Result<Vec<T>, VendorError> {
        Ok(self.query_page_of(entity, filter, limit, &[]).await?.0)
    }

    /// One page of at most `limit` records with only the `include`d fields (all when empty),
    /// and whether Autotask has more: imports read many records and keep a few of their
    /// fields.
    pub async fn query_page_of<T: DeserializeOwned>(
        &self,
        entity: &str,
        filter: Value,
        limit: usize,
        include: &[&str],
    ) -> Result<(Vec<T>, bool), VendorError> {
        let mut body = json!({ "filter": filter, "MaxRecords": limit.clamp(1, PAGE) });
        if !include.is_empty() {
            body["IncludeFields"] = json!(include);
        }
        let bytes = self
            .send(
                Method::POST,
                self.url(&format!("{entity}/query")),
                Some(&body),
                false,
            )
            .await?
            .ok_or_else(|| unreachable_msg("Autotask has no such entity"))?;
        let page = parse::<QueryPage<T>>(&bytes)?;
        // Autotask says whether a next page exists; without page details, a full page may
        // have one.
        let more = match &page.page_details {
            Some(details) => details.next_page_url.is_some(),
            None => page.items.len() >= limit.clamp(1, PAGE),
        };
        Ok((page.items, more))
    }

    /// Records whose `field` is one of `ids`, in chunks of [`PAGE`], `and` the `extra` filters;
    /// chunks run side by side up to the endpoint's concurrency.
    pub async fn query_in<T: DeserializeOwned + Send>(
        &self,
        entity: &str,
        field: &str,
        ids: &[i64],
        extra: &[Value],
    ) -> Result<Vec<T>, VendorError> {
        let mut unique: Vec<i64> = ids.to_vec();
        unique.sort_unstable();
        unique.dedup();
        let chunks: Vec<Vec<i64>> = unique.chunks(PAGE).map(<[i64]>::to_vec).collect();
        let pages: Vec<Vec<T>> = stream::iter(chunks)
            .map(|chunk| {
                let mut filter = vec![json!({"op": "in", "field": field, "value": chunk})];
                filter.extend(extra.iter().cloned());
                self.query::<T>(entity, Value::Array(filter))
            })
            .buffer_unordered(self.limits.per_endpoint)
            .try_collect()
            .await?;
        Ok(pages.into_iter().flatten().collect())
    }

    /// Creates a record (`POST {path}`) and returns its id. Never retried after a timeout:
    /// the caller re-reads instead.
    pub async fn create(&self, path: &str, body: &Value) -> Result<i64, VendorError> {
        let bytes = self
            .send(Method::POST, self.url(path), Some(body), true)
            .await?
            .ok_or_else(|| unreachable_msg("Autotask has no such entity"))?;
        Ok(parse::<ItemId>(&bytes)?.item_id)
    }

    fn same_origin(&self, next: &str) -> Result<Url, VendorError> {
        let url = Url::parse(next)
            .map_err(|_| unreachable_msg("Autotask sent a malformed nextPageUrl"))?;
        let base = self.base.lock().expect("base lock").clone();
        if origin(&url) != origin(&base) {
            return Err(unreachable_msg(
                "Autotask's nextPageUrl points at another host; credentials are not sent there",
            ));
        }
        Ok(url)
    }

    fn headers(&self) -> Result<Vec<(&'static str, HeaderValue)>, VendorError> {
        let value = |text: &str| {
            let mut v = HeaderValue::from_str(text).map_err(|_| {
                VendorError::invalid(
                    "username",
                    "contains characters Autotask headers cannot carry",
                )
            })?;
            v.set_sensitive(true);
            Ok::<_, VendorError>(v)
        };
        Ok(vec![
            (
                "ApiIntegrationCode",
                value(self.credentials.integration_code.expose_secret())?,
            ),
            ("UserName", value(&self.credentials.username)?),
            ("Secret", value(self.credentials.secret.expose_secret())?),
        ])
    }

    /// One call with retries. `Ok(None)` is a 404.
    async fn send(
        &self,
        method: Method,
        mut url: Url,
        body: Option<&Value>,
        write: bool,
    ) -> Result<Option<Bytes>, VendorError> {
        let endpoint = endpoint_of(&url);
        let semaphore = self.limits.endpoint(&endpoint);
        let mut relooked = false;
        let mut attempt = 0;
        loop {
            attempt += 1;
            if attempt > 1 {
                count_retry(VENDOR);
            }
            let last = attempt >= ATTEMPTS;
            self.limits
                .take()
                .inspect_err(|_| count_throttle(VENDOR, "budget"))?;
            let permit = semaphore
                .acquire()
                .await
                .expect("semaphores are never closed");
            let mut request = self.http.request(method.clone(), url.clone());
            // Credentials only to the zone's own origin.
            if origin(&url) == origin(&self.base.lock().expect("base lock")) {
                for (name, value) in self.headers()? {
                    request = request.header(name, value);
                }
            }
            if let Some(body) = body {
                request = request.json(body);
            }
            let received = receive(request, VENDOR).await;
            drop(permit);
            let (status, headers, bytes) = match received {
                Ok(received) => received,
                Err(e) => {
                    // A refused connection sent nothing, so even a write may be tried again.
                    if last || (write && !e.is_connect()) {
                        return Err(transport_error(&e, "Autotask", write));
                    }
                    tokio::time::sleep(backoff(
                        attempt,
                        Duration::from_millis(200),
                        Duration::from_secs(5),
                    ))
                    .await;
                    continue;
                }
            };
            let message = || {
                serde_json::from_slice::<ErrorBody>(&bytes)
                    .ok()
                    .and_then(|e| e.message())
            };
            match status {
                s if s.is_success() => return Ok(Some(bytes)),
                StatusCode::NOT_FOUND => return Ok(None),
                StatusCode::UNAUTHORIZED if !relooked => {
                    // A zone move answers 401 from the old zone: look the zone up again once.
                    relooked = true;
                    let zone = self
                        .zones
                        .lookup(
                            self.http,
                            self.lookup_base,
                            &self.credentials.username,
                            true,
                        )
                        .await?;
                    let new_base = zone_base(&zone.url, self.allow_loopback)?;
                    let moved = new_base != *self.base.lock().expect("base lock");
                    if moved {
                        let path = url.path().to_owned();
                        let old_root = self.base.lock().expect("base lock").path().to_owned();
                        let rest = path.strip_prefix(&old_root).unwrap_or(&path).to_owned();
                        url = new_base.join(&rest).expect("zone paths join");
                        url.set_query(None);
                        *self.base.lock().expect("base lock") = new_base;
                        attempt -= 1;
                        continue;
                    }
                    return Err(credentials_rejected(message()));
                }
                StatusCode::UNAUTHORIZED => return Err(credentials_rejected(message())),
                StatusCode::FORBIDDEN => {
                    return Err(VendorError::Refused {
                        vendor_message: message().unwrap_or_else(|| {
                            "Autotask refused: the API user's security level does not allow this".into()
                        }),
                    });
                }
                StatusCode::TOO_MANY_REQUESTS => {
                    count_throttle(VENDOR, "429");
                    let wait = retry_after(&headers).unwrap_or(60);
                    if last || Duration::from_secs(wait) > MAX_WAIT {
                        return Err(throttled(wait));
                    }
                    tokio::time::sleep(Duration::from_secs(wait)).await;
                }
                s if s == StatusCode::INTERNAL_SERVER_ERROR => {
                    let text = message().unwrap_or_else(|| "Autotask answered HTTP 500".into());
                    if !is_thread_or_threshold(&text) {
                        // Validation and business rules: retrying would not help.
                        return Err(VendorError::Refused {
                            vendor_message: text,
                        });
                    }
                    let reason = if text.contains("Itgenatr005") {
                        "thread_limit"
                    } else {
                        "threshold"
                    };
                    count_throttle(VENDOR, reason);
                    if last {
                        return Err(throttled(retry_after(&headers).unwrap_or(5)));
                    }
                    let wait = retry_after(&headers)
                        .map(Duration::from_secs)
                        .unwrap_or_else(|| {
                            backoff(attempt, Duration::from_millis(250), Duration::from_secs(10))
                        });
                    tokio::time::sleep(wait.min(MAX_WAIT)).await;
                }
                StatusCode::SERVICE_UNAVAILABLE
                | StatusCode::BAD_GATEWAY
                | StatusCode::GATEWAY_TIMEOUT => {
                    if write && status != StatusCode::SERVICE_UNAVAILABLE {
                        return Err(VendorError::OutcomeUnknown {
                            detail: format!(
                                "Autotask answered HTTP {} to a change; it may or may not have been applied",
                                status.as_u16()
                            ),
                        });
                    }
                    if last {
                        return Err(unreachable_msg(&format!(
                            "Autotask answered HTTP {}",
                            status.as_u16()
                        )));
                    }
                    let wait = retry_after(&headers)
                        .map(Duration::from_secs)
                        .unwrap_or_else(|| {
                            backoff(attempt, Duration::from_millis(250), Duration::from_secs(10))
                        });
                    tokio::time::sleep(wait.min(MAX_WAIT)).await;
                }
                other => {
                    return Err(VendorError::Refused {
                        vendor_message: message().unwrap_or_else(|| {
                            format!("Autotask answered HTTP {}", other.as_u16())
                        }),
                    });
                }
            }
        }
    }
}

/// The REST root of a zone, validated: an Autotask zone host (or the sandbox).
fn zone_base(zone_url: &str, allow_loopback: bool) -> Result<Url, VendorError> {
    let mut url = vendor_url(zone_url, allow_loopback)?;
    if !is_zone_url(&url, allow_loopback) {
        return Err(unreachable_msg(
            "Autotask's zone lookup named a host that is not an Autotask zone; refusing to send credentials",
        ));
    }
    if !url.path().ends_with('/') {
        let path = format!("{}/", url.path());
        url.set_path(&path);
    }
    Ok(url)
}

/// The entity a URL addresses (`.../V1.0/{Entity}/...`): Autotask limits threads per endpoint.
fn endpoint_of(url: &Url) -> String {
    let mut segments = url.path_segments().into_iter().flatten();
    segments
        .by_ref()
        .find(|s| s.eq_ignore_ascii_case(VERSION))
        .and_then(|_| segments.next())
        .unwrap_or("other")
        .to_owned()
}

fn is_thread_or_threshold(message: &str) -> bool {
    let m = message.to_ascii_lowercase();
    m.contains("itgenatr005") || m.contains("thread threshold") || m.contains("threshold")
}

fn throttled(wait: u64) -> VendorError {
    VendorError::Throttled {
        detail: "Autotask is throttling this database; try again later".into(),
        retry_after_secs: wait.max(1),
    }
}

fn credentials_rejected(vendor_message: Option<String>) -> VendorError {
    VendorError::CredentialsRejected {
        detail: "Autotask rejected the API user's secret".into(),
        field: "secret",
        vendor_message,
    }
}

fn parse<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, VendorError> {
    serde_json::from_slice(bytes).map_err(|e| VendorError::Unreachable {
        detail: format!("Autotask answered something unreadable: {e}"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zone_hosts() {
        let ok = Url::parse("https://webservices15.autotask.net/atservicesrest/").unwrap();
        let bad = Url::parse("https://webservices15.autotask.net.evil.example/").unwrap();
        let http = Url::parse("http://webservices1.autotask.net/").unwrap();
        assert!(is_zone_url(&ok, false));
        assert!(!is_zone_url(&bad, false));
        assert!(!is_zone_url(&http, false));
    }

    #[test]
    fn endpoints_are_entities() {
        let u = Url::parse("https://x/atservicesrest/V1.0/Contracts/5/ServiceAdjustments").unwrap();
        assert_eq!(endpoint_of(&u), "Contracts");
        let u = Url::parse("https://x/atservicesrest/v1.0/Companies/query/next?paging=1").unwrap();
        assert_eq!(endpoint_of(&u), "Companies");
    }

    #[test]
    fn thread_limit_messages_are_retryable() {
        assert!(is_thread_or_threshold(
            "Thread Threshold Exceeded - The Autotask API thread threshold of 3 threads has been exceeded (Itgenatr005)"
        ));
        assert!(!is_thread_or_threshold("dueDateTime is required."));
    }

    #[test]
    fn budget_runs_out() {
        let limits = Limits::new(3, 2);
        assert!(limits.take().is_ok());
        assert!(limits.take().is_ok());
        assert!(matches!(limits.take(), Err(VendorError::Throttled { .. })));
    }
}
