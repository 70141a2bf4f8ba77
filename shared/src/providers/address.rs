//! Which partner-given vendor addresses we may call. A partner types the HaloPSA site URL, so
//! that URL must never let anyone make this service call into its own network (SSRF): https on
//! the default port, no credentials, path, query or fragment, and a host that is and keeps
//! resolving to public addresses. The resolver below is installed in the HTTP client, so the
//! check holds for every connection, not only the first (DNS rebinding).

use std::{
    io,
    net::{IpAddr, Ipv4Addr, SocketAddr},
    sync::Arc,
};

use async_trait::async_trait;
use url::{Host, Url};

/// Resolves host names; the system resolver in production, a fixed table in tests.
#[async_trait]
pub trait Lookup: Send + Sync {
    /// Every address of `host`.
    async fn lookup(&self, host: &str, port: u16) -> io::Result<Vec<SocketAddr>>;
}

/// The operating system's resolver.
pub struct SystemLookup;

#[async_trait]
impl Lookup for SystemLookup {
    async fn lookup(&self, host: &str, port: u16) -> io::Result<Vec<SocketAddr>> {
        Ok(tokio::net::lookup_host((host, port)).await?.collect())
    }
}

/// Why an address is refused, in words for the partner.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Refused(pub String);

/// Whether an address is on the public internet: not loopback, private, link-local (cloud
/// metadata lives there), shared, documentation, multicast or otherwise reserved.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_public_v4(v4);
            }
            let s = v6.segments();
            // NAT64 (64:ff9b::/96) reaches the IPv4 address it embeds.
            if s[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
                let [a, b] = s[6].to_be_bytes();
                let [c, d] = s[7].to_be_bytes();
                return is_public_v4(Ipv4Addr::new(a, b, c, d));
            }
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (s[0] & 0xfe00) == 0xfc00 // unique local, incl. fd00:ec2::254 metadata
                || (s[0] & 0xffc0) == 0xfe80 // link-local
                || (s[0] == 0x2001 && s[1] == 0x0db8) // documentation
                || s[..6] == [0, 0, 0, 0, 0, 0]) // IPv4-compatible, deprecated
        }
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    !(ip.is_private()
        || ip.is_loopback()
        || ip.is_link_local()
        || ip.is_unspecified()
        || ip.is_broadcast()
        || ip.is_documentation()
        || ip.is_multicast()
        || a == 0
        || (a == 100 && (64..128).contains(&b)) // carrier-grade NAT
        || (a == 192 && b == 0 && c == 0) // IETF protocol assignments
        || (a == 198 && (b == 18 || b == 19)) // benchmarking
        || a >= 240)
}

/// Whether a failed request was refused by the policy's resolver (a host that resolves to a
/// non-public address), as opposed to a host that could not be reached.
pub fn refused_by_policy(e: &reqwest::Error) -> bool {
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        if s.to_string().contains(NOT_PUBLIC) {
            return true;
        }
        source = s.source();
    }
    false
}

/// The address policy of one deployment.
#[derive(Clone)]
pub struct AddressPolicy {
    /// `http://`, any port and loopback hosts allowed (the local runner's sandboxes only).
    /// Private and link-local addresses stay refused even then.
    pub allow_loopback: bool,
    /// How host names are resolved.
    pub lookup: Arc<dyn Lookup>,
}

impl AddressPolicy {
    /// The policy with the system resolver.
    pub fn system(allow_loopback: bool) -> Self {
        Self {
            allow_loopback,
            lookup: Arc::new(SystemLookup),
        }
    }

    fn allows(&self, ip: IpAddr) -> bool {
        is_public(ip) || (self.allow_loopback && ip.is_loopback())
    }

    /// Checks the form of a partner-given base URL (scheme, credentials, port, path, query,
    /// fragment) and an IP-literal host; returns it without a trailing slash. `extra_paths`
    /// are suffixes partners paste by habit (`/api`) and are dropped.
    pub fn base_url(&self, raw: &str, extra_paths: &[&str]) -> Result<Url, Refused> {
        let raw = raw.trim();
        let url = Url::parse(raw).map_err(|_| Refused("is not a URL".into()))?;
        match url.scheme() {
            "https" => {}
            "http" if self.allow_loopback => {}
            _ => return Err(Refused("must start with https://".into())),
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(Refused("must not contain a user name or password".into()));
        }
        if url.query().is_some() || url.fragment().is_some() {
            return Err(Refused("must not have a query or fragment".into()));
        }
        if url.port().is_some_and(|p| p != 443) && !self.allow_loopback {
            return Err(Refused("must use the standard https port".into()));
        }
        let path = url.path().trim_end_matches('/');
        if !path.is_empty()
            && !extra_paths
                .iter()
                .any(|extra| path.eq_ignore_ascii_case(extra))
        {
            return Err(Refused(
                "must be the site address only, without a path (for example https://yourcompany.halopsa.com)"
                    .into(),
            ));
        }
        match url.host() {
            None => return Err(Refused("has no host".into())),
            Some(Host::Ipv4(ip)) if !self.allows(IpAddr::V4(ip)) => {
                return Err(Refused(not_public(&ip.to_string())));
            }
            Some(Host::Ipv6(ip)) if !self.allows(IpAddr::V6(ip)) => {
                return Err(Refused(not_public(&ip.to_string())));
            }
            Some(Host::Domain(d))
                if d.eq_ignore_ascii_case("localhost") && !self.allow_loopback =>
            {
                return Err(Refused(not_public(d)));
            }
            _ => {}
        }
        let mut base = url;
        base.set_path("");
        Ok(base)
    }

    /// Resolves the URL's host and refuses it unless every address is allowed. Run before the
    /// first request so the partner gets a clear answer; the client's resolver enforces the
    /// same rule on every later connection.
    pub async fn check_resolves(&self, url: &Url) -> Result<(), Refused> {
        let Some(Host::Domain(host)) = url.host() else {
            return Ok(());
        };
        let port = url.port_or_known_default().unwrap_or(443);
        let addrs = self
            .lookup
            .lookup(host, port)
            .await
            .map_err(|_| Refused(format!("{host} could not be resolved")))?;
        self.filter(host, addrs).map(|_| ())
    }

    fn filter(&self, host: &str, addrs: Vec<SocketAddr>) -> Result<Vec<SocketAddr>, Refused> {
        if addrs.is_empty() {
            return Err(Refused(format!("{host} could not be resolved")));
        }
        if addrs.iter().any(|a| !self.allows(a.ip())) {
            return Err(Refused(not_public(host)));
        }
        Ok(addrs)
    }
}

/// What every refusal of a non-public host says.
const NOT_PUBLIC: &str = "is not a public internet address";

fn not_public(host: &str) -> String {
    format!("{host} {NOT_PUBLIC}; vendor sites must be reachable on the internet")
}

impl reqwest::dns::Resolve for AddressPolicy {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let policy = self.clone();
        Box::pin(async move {
            let host = name.as_str().to_owned();
            let addrs = policy.lookup.lookup(&host, 0).await?;
            let allowed = policy
                .filter(&host, addrs)
                .map_err(|e| Box::new(e) as Box<dyn std::error::Error + Send + Sync>)?;
            Ok(Box::new(allowed.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

/// A resolver for unit tests: names resolve from a table, anything else fails like an
/// unknown host.
#[cfg(test)]
pub(crate) struct Table(pub std::collections::HashMap<&'static str, Vec<IpAddr>>);

#[cfg(test)]
impl Table {
    /// A policy without loopback over `hosts`.
    pub(crate) fn policy(hosts: &[(&'static str, &[&str])]) -> AddressPolicy {
        let table = hosts
            .iter()
            .map(|(host, ips)| (*host, ips.iter().map(|ip| ip.parse().unwrap()).collect()))
            .collect();
        AddressPolicy {
            allow_loopback: false,
            lookup: Arc::new(Table(table)),
        }
    }
}

#[cfg(test)]
#[async_trait]
impl Lookup for Table {
    async fn lookup(&self, host: &str, port: u16) -> io::Result<Vec<SocketAddr>> {
        self.0
            .get(host)
            .map(|ips| ips.iter().map(|ip| SocketAddr::new(*ip, port)).collect())
            .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "unknown host"))
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn policy() -> AddressPolicy {
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        AddressPolicy {
            allow_loopback: false,
            lookup: Arc::new(Table(HashMap::from([
                ("acme.halopsa.com", vec![ip("52.56.10.20")]),
                ("intranet.partner.example", vec![ip("10.1.2.3")]),
                (
                    "split.partner.example",
                    vec![ip("52.56.10.21"), ip("192.168.1.9")],
                ),
                ("metadata.partner.example", vec![ip("169.254.169.254")]),
                ("v6.partner.example", vec![ip("fd00:ec2::254")]),
            ]))),
        }
    }

    #[tokio::test]
    async fn site_urls_table() {
        let p = policy();
        let cases: &[(&str, bool)] = &[
            ("https://acme.halopsa.com", true),
            ("https://acme.halopsa.com/", true),
            ("https://acme.halopsa.com/api", true),
            ("https://acme.halopsa.com:443", true),
            ("http://acme.halopsa.com", false),
            ("ftp://acme.halopsa.com", false),
            ("https://127.0.0.1", false),
            ("https://10.0.0.5", false),
            ("https://169.254.169.254", false),
            ("https://[::1]", false),
            ("https://[::ffff:10.0.0.1]", false),
            ("https://[fe80::1]", false),
            ("https://0.0.0.0", false),
            ("https://100.64.0.1", false),
            ("https://localhost", false),
            ("https://intranet.partner.example", false),
            ("https://split.partner.example", false),
            ("https://metadata.partner.example", false),
            ("https://v6.partner.example", false),
            ("https://unknown.partner.example", false),
            ("https://user:pw@acme.halopsa.com", false),
            ("https://acme.halopsa.com@10.0.0.5", false),
            ("https://acme.halopsa.com:8443", false),
            ("https://acme.halopsa.com:22", false),
            ("https://acme.halopsa.com/some/path", false),
            ("https://acme.halopsa.com/?x=1", false),
            ("https://acme.halopsa.com/#frag", false),
            ("acme.halopsa.com", false),
        ];
        for (raw, ok) in cases {
            let result = match p.base_url(raw, &["/api"]) {
                Ok(url) => p.check_resolves(&url).await.map(|_| url),
                Err(e) => Err(e),
            };
            assert_eq!(result.is_ok(), *ok, "{raw}: {result:?}");
        }
        assert_eq!(
            p.base_url("https://acme.halopsa.com/api/", &["/api"])
                .unwrap()
                .as_str(),
            "https://acme.halopsa.com/"
        );
    }

    #[test]
    fn public_addresses() {
        for ip in ["52.56.10.20", "2a05:d01c::1", "8.8.8.8"] {
            assert!(is_public(ip.parse().unwrap()), "{ip}");
        }
        for ip in [
            "172.16.0.1",
            "192.168.0.1",
            "127.0.0.2",
            "64:ff9b::a00:1",
            "198.18.0.1",
            "255.255.255.255",
            "::",
        ] {
            assert!(!is_public(ip.parse().unwrap()), "{ip}");
        }
    }

    #[tokio::test]
    async fn loopback_only_with_the_switch() {
        let mut p = policy();
        p.allow_loopback = true;
        assert!(p.base_url("http://127.0.0.1:8080", &[]).is_ok());
        assert!(p.base_url("https://10.0.0.5", &[]).is_err());
    }
}
