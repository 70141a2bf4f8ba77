//! What every vendor client shares: one HTTP client per cold start, backoff with jitter,
//! `Retry-After`, origins, and the vendor-host policy.

use std::{future::Future, time::Duration};

use bytes::Bytes;
use http::{HeaderMap, StatusCode};
use url::Url;

use crate::{
    metrics::{self, Metric},
    ports::VendorError,
};

/// The HTTP client's settings (rustls with [`crate::tls`], no proxies from the environment, no
/// redirects, bounded timeouts); a provider may add a resolver before building. The AWS SDK's
/// client ([`crate::sdk_http`]) is built from the same settings.
pub fn builder(timeout: Duration) -> reqwest::ClientBuilder {
    reqwest::Client::builder()
        .tls_backend_preconfigured(crate::tls::client_config())
        .no_proxy()
        .connect_timeout(Duration::from_secs(5).min(timeout))
        .timeout(timeout)
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("msp-integrations/", env!("CARGO_PKG_VERSION")))
}

/// Builds the HTTP client with [`builder`]'s settings.
pub fn client(timeout: Duration) -> reqwest::Client {
    builder(timeout)
        .build()
        .expect("the HTTP client builds with static settings")
}

/// Sending a vendor request, counted in the metrics by its answer's status class.
pub trait CountedSend {
    /// Sends the request to `vendor` and counts the call.
    fn send_counted(
        self,
        vendor: &'static str,
    ) -> impl Future<Output = Result<reqwest::Response, reqwest::Error>> + Send;
}

impl CountedSend for reqwest::RequestBuilder {
    async fn send_counted(self, vendor: &'static str) -> Result<reqwest::Response, reqwest::Error> {
        let sent = self.send().await;
        let class = match &sent {
            Ok(response) => metrics::status_class(response.status().as_u16()),
            Err(_) => "transport",
        };
        metrics::count(
            Metric::VendorCalls,
            &[("vendor", vendor), ("status_class", class)],
            1,
        );
        sent
    }
}

/// A request's shape, for retries: reads may be repeated; of writes only the idempotent ones.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Call {
    /// A read.
    Read,
    /// A write that sets absolute values (Halo's `[{id, count}]`, a ConnectWise PATCH
    /// `replace`): repeating it changes nothing.
    IdempotentWrite,
    /// A create: never repeated once it may have reached the vendor.
    Create,
}

impl Call {
    /// Whether a request that failed in transport may be sent again: a refused connection
    /// sent nothing, so even a create may.
    pub fn may_resend(self, e: &reqwest::Error) -> bool {
        self != Call::Create || e.is_connect()
    }
}

/// Sends a counted request and reads the whole answer.
pub async fn receive(
    request: reqwest::RequestBuilder,
    vendor: &'static str,
) -> Result<(StatusCode, HeaderMap, Bytes), reqwest::Error> {
    let response = request.send_counted(vendor).await?;
    let (status, headers) = (response.status(), response.headers().clone());
    Ok((status, headers, response.bytes().await?))
}

/// Counts a call `vendor` throttled, or our budget held back, with the `reason`.
pub fn count_throttle(vendor: &'static str, reason: &'static str) {
    metrics::count(
        Metric::VendorThrottles,
        &[("vendor", vendor), ("reason", reason)],
        1,
    );
}

/// Counts a call to `vendor` tried again.
pub fn count_retry(vendor: &'static str) {
    metrics::count(Metric::VendorRetries, &[("vendor", vendor)], 1);
}

/// Seconds from a `Retry-After` header (seconds form), if any.
pub fn retry_after(headers: &HeaderMap) -> Option<u64> {
    headers
        .get(http::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// Exponential backoff with full jitter: a random wait in `[base, base * 2^attempt]`, capped.
pub fn backoff(attempt: u32, base: Duration, cap: Duration) -> Duration {
    let ceiling = base.saturating_mul(1u32 << attempt.min(16)).min(cap);
    let mut bytes = [0u8; 4];
    let _ = getrandom::fill(&mut bytes);
    let fraction = f64::from(u32::from_le_bytes(bytes)) / f64::from(u32::MAX);
    base + (ceiling.saturating_sub(base)).mul_f64(fraction)
}

/// Scheme, host and port of a URL: credentials go only to the origin they belong to.
pub fn origin(url: &Url) -> (String, String, Option<u16>) {
    (
        url.scheme().to_owned(),
        url.host_str().unwrap_or_default().to_ascii_lowercase(),
        url.port_or_known_default(),
    )
}

/// Parses a vendor URL the deployment or a vendor gave us and applies the host policy:
/// `https://` only unless `allow_loopback` (the sandbox), no credentials in the URL.
pub fn vendor_url(raw: &str, allow_loopback: bool) -> Result<Url, VendorError> {
    let url = Url::parse(raw).map_err(|_| VendorError::Unreachable {
        detail: "the vendor gave an address that is not a URL".into(),
    })?;
    let scheme_ok = url.scheme() == "https" || (allow_loopback && url.scheme() == "http");
    if !scheme_ok || !url.username().is_empty() || url.password().is_some() {
        return Err(VendorError::Unreachable {
            detail: format!(
                "refusing vendor address {}: not https",
                url.host_str().unwrap_or("?")
            ),
        });
    }
    Ok(url)
}

/// Maps a transport failure: before anything was sent it is unreachable; after, for a write,
/// the outcome is unknown.
pub fn transport_error(e: &reqwest::Error, vendor: &str, write: bool) -> VendorError {
    if e.is_timeout() && write {
        VendorError::OutcomeUnknown {
            detail: format!(
                "{vendor} did not answer in time; the change may or may not have been applied"
            ),
        }
    } else if e.is_timeout() {
        VendorError::Unreachable {
            detail: format!("{vendor} did not answer in time"),
        }
    } else {
        VendorError::Unreachable {
            detail: format!("{vendor} could not be reached"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_stays_in_bounds() {
        let base = Duration::from_millis(100);
        for attempt in 0..10 {
            let d = backoff(attempt, base, Duration::from_secs(5));
            assert!(d >= base && d <= Duration::from_secs(5), "{attempt}: {d:?}");
        }
    }

    #[test]
    fn origins_compare_scheme_host_and_port() {
        let a = Url::parse("https://webservices5.autotask.net/atservicesrest/").unwrap();
        let b = Url::parse("https://WEBSERVICES5.autotask.net:443/x").unwrap();
        let c = Url::parse("https://evil.example/atservicesrest/").unwrap();
        assert_eq!(origin(&a), origin(&b));
        assert_ne!(origin(&a), origin(&c));
    }

    #[test]
    fn vendor_urls_must_be_https() {
        assert!(vendor_url("http://127.0.0.1:9/", false).is_err());
        assert!(vendor_url("http://127.0.0.1:9/", true).is_ok());
        assert!(vendor_url("https://u:p@x.example/", true).is_err());
    }
}
