//! Deployment settings, read once per cold start from the environment.

use std::env;

/// A setting is missing or malformed; names the environment variable.
#[derive(Debug, thiserror::Error)]
#[error("{var}: {problem}")]
pub struct ConfigError {
    /// The environment variable.
    pub var: &'static str,
    /// What is wrong with it.
    pub problem: String,
}

/// Which JWT claims carry the tenant and role (API Gateway's authorizer passes them through).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClaimNames {
    /// Claim holding the tenant id. `TENANT_CLAIM`, default `tenant_id`.
    pub tenant: String,
    /// Claim holding the user's role(s). `ROLE_CLAIM`, default `role`.
    pub role: String,
    /// Role value that may connect, configure, map, sync and revoke. `ADMIN_ROLE`, default `admin`.
    pub admin_role: String,
}

impl Default for ClaimNames {
    fn default() -> Self {
        Self {
            tenant: "tenant_id".into(),
            role: "role".into(),
            admin_role: "admin".into(),
        }
    }
}

/// Where the vendors are and whether non-public vendor hosts are allowed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VendorSettings {
    /// Autotask zone lookup base. `AUTOTASK_ZONE_LOOKUP_URL`.
    pub autotask_zone_lookup_url: String,
    /// NinjaOne base URL override (sandbox); `None` uses the region's host. `NINJAONE_BASE_URL`.
    pub ninjaone_base_url: Option<String>,
    /// Allow `http://` and loopback vendor hosts. `ALLOW_LOOPBACK_VENDORS=1`; only the local
    /// runner's sandbox mode sets it.
    pub allow_loopback: bool,
    /// Calls per hour one Autotask connection may make. `AUTOTASK_HOURLY_BUDGET`, default
    /// 5000: half the database's 10,000, the rest is the partner's other tools'.
    pub autotask_hourly_budget: u32,
    /// Concurrent calls per Autotask endpoint per connection. `AUTOTASK_CONCURRENCY`, 1 to 3.
    pub autotask_concurrency: usize,
    /// Calls one HaloPSA connection may make per rolling window. `HALOPSA_WINDOW_BUDGET`,
    /// default 200: two thirds of hosted Halo's 300 per 5 minutes, the rest is the partner's
    /// other tools'.
    pub halopsa_window_budget: u32,
    /// The rolling window of that budget, seconds. `HALOPSA_WINDOW_SECS`, default 300.
    pub halopsa_window_secs: u64,
    /// Concurrent calls per HaloPSA connection. `HALOPSA_CONCURRENCY`, 1 to 8, default 2.
    pub halopsa_concurrency: usize,
    /// Calls one ConnectWise connection may make per rolling minute.
    /// `CONNECTWISE_MINUTE_BUDGET`, default 400: well under the 1,000 a minute ConnectWise
    /// starts throttling at, the rest is the partner's other tools'.
    pub connectwise_minute_budget: u32,
    /// Concurrent calls per ConnectWise connection. `CONNECTWISE_CONCURRENCY`, 1 to 8,
    /// default 4.
    pub connectwise_concurrency: usize,
    /// Timeout of one vendor request, seconds. `VENDOR_TIMEOUT_SECS`, default 30.
    pub timeout_secs: u64,
}

impl Default for VendorSettings {
    fn default() -> Self {
        Self {
            autotask_zone_lookup_url: "https://webservices.autotask.net/ATServicesRest/".into(),
            ninjaone_base_url: None,
            allow_loopback: false,
            autotask_hourly_budget: 5000,
            autotask_concurrency: 3,
            halopsa_window_budget: 200,
            halopsa_window_secs: 300,
            halopsa_concurrency: 2,
            connectwise_minute_budget: 400,
            connectwise_concurrency: 4,
            timeout_secs: 30,
        }
    }
}

/// Everything configurable about a deployment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Settings {
    /// Prefix of every partner secret's name. `SECRETS_PREFIX`, default `msp-integrations`.
    pub secrets_prefix: String,
    /// Claim names.
    pub claims: ClaimNames,
    /// Vendor endpoints.
    pub vendors: VendorSettings,
    /// The portal page the OAuth callback redirects to. `PORTAL_URL`.
    pub portal_url: Option<String>,
    /// The API's public base URL; the OAuth redirect URI is
    /// `{PUBLIC_API_URL}/v1/oauth/{provider}/callback`. `PUBLIC_API_URL`.
    pub public_api_url: Option<String>,
    /// Repeats of an alert within this many seconds of the last ticket post are counted, not
    /// each posted; the next note tells them. `TICKET_STORM_WINDOW_SECS`, default 600 (0 posts
    /// every repeat).
    pub ticket_storm_window_secs: u64,
    /// Connect attempts whose credentials a vendor may refuse per tenant and provider in a
    /// clock hour; further attempts get a 429 until the hour ends (vendors lock an API user
    /// after repeated failed logins). `CONNECT_FAILURES_PER_HOUR`, default 5.
    pub connect_failures_per_hour: u32,
    /// Days the audit trail is kept. `AUDIT_RETENTION_DAYS`, default 365.
    pub audit_retention_days: u32,
    /// Seconds a run imports before it saves its place and continues in a queued run (the
    /// `sync` function times out at 900). `IMPORT_WORK_SECS`, default 720; 0 reads one page
    /// per run.
    pub import_work_secs: u64,
}

impl Default for Settings {
    /// What an empty environment gives.
    fn default() -> Self {
        Self::from_lookup(|_| None).expect("the defaults are valid")
    }
}

impl Settings {
    /// Defaults for a given secrets prefix.
    pub fn with_prefix(prefix: impl Into<String>) -> Self {
        Self {
            secrets_prefix: prefix.into(),
            ..Default::default()
        }
    }

    /// Reads the settings from the environment; unset variables take their defaults.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| env::var(name).ok())
    }

    /// Reads the settings through `lookup` (the environment, or a map in tests).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let get = |name: &str, default: &str| {
            lookup(name)
                .filter(|v| !v.trim().is_empty())
                .unwrap_or_else(|| default.to_owned())
        };
        let defaults = ClaimNames::default();
        let allow_loopback = match lookup("ALLOW_LOOPBACK_VENDORS").as_deref() {
            None | Some("") | Some("0") | Some("false") => false,
            Some("1") | Some("true") => true,
            Some(other) => {
                return Err(ConfigError {
                    var: "ALLOW_LOOPBACK_VENDORS",
                    problem: format!("expected 1 or 0, got {other:?}"),
                });
            }
        };
        let number =
            |var: &'static str, default: u64, range: std::ops::RangeInclusive<u64>| match lookup(
                var,
            )
            .filter(|v| !v.trim().is_empty())
            {
                None => Ok(default),
                Some(v) => v
                    .trim()
                    .parse::<u64>()
                    .ok()
                    .filter(|n| range.contains(n))
                    .ok_or_else(|| ConfigError {
                        var,
                        problem: format!(
                            "expected a number from {} to {}",
                            range.start(),
                            range.end()
                        ),
                    }),
            };
        let vendors = VendorSettings {
            autotask_zone_lookup_url: get(
                "AUTOTASK_ZONE_LOOKUP_URL",
                &VendorSettings::default().autotask_zone_lookup_url,
            ),
            ninjaone_base_url: lookup("NINJAONE_BASE_URL").filter(|v| !v.is_empty()),
            allow_loopback,
            autotask_hourly_budget: number("AUTOTASK_HOURLY_BUDGET", 5000, 1..=10_000)? as u32,
            autotask_concurrency: number("AUTOTASK_CONCURRENCY", 3, 1..=3)? as usize,
            halopsa_window_budget: number("HALOPSA_WINDOW_BUDGET", 200, 1..=100_000)? as u32,
            halopsa_window_secs: number("HALOPSA_WINDOW_SECS", 300, 1..=3600)?,
            halopsa_concurrency: number("HALOPSA_CONCURRENCY", 2, 1..=8)? as usize,
            connectwise_minute_budget: number("CONNECTWISE_MINUTE_BUDGET", 400, 1..=100_000)?
                as u32,
            connectwise_concurrency: number("CONNECTWISE_CONCURRENCY", 4, 1..=8)? as usize,
            timeout_secs: number("VENDOR_TIMEOUT_SECS", 30, 1..=300)?,
        };
        check_vendor_url(
            "AUTOTASK_ZONE_LOOKUP_URL",
            &vendors.autotask_zone_lookup_url,
            allow_loopback,
        )?;
        if let Some(url) = &vendors.ninjaone_base_url {
            check_vendor_url("NINJAONE_BASE_URL", url, allow_loopback)?;
        }
        // Where browsers are sent: absolute http(s) URLs, so no redirect is ever relative
        // or to another scheme.
        for var in ["PORTAL_URL", "PUBLIC_API_URL"] {
            if let Some(v) = lookup(var).filter(|v| !v.is_empty()) {
                let ok = url::Url::parse(&v).is_ok_and(|u| {
                    matches!(u.scheme(), "https" | "http")
                        && u.host().is_some()
                        && u.username().is_empty()
                });
                if !ok {
                    return Err(ConfigError {
                        var,
                        problem: "must be an absolute https:// URL".into(),
                    });
                }
            }
        }
        let secrets_prefix = get("SECRETS_PREFIX", "msp-integrations");
        if secrets_prefix.ends_with('/') || secrets_prefix.contains("//") {
            return Err(ConfigError {
                var: "SECRETS_PREFIX",
                problem: "must not end with '/' or contain '//'".into(),
            });
        }
        Ok(Self {
            secrets_prefix,
            claims: ClaimNames {
                tenant: get("TENANT_CLAIM", &defaults.tenant),
                role: get("ROLE_CLAIM", &defaults.role),
                admin_role: get("ADMIN_ROLE", &defaults.admin_role),
            },
            vendors,
            portal_url: lookup("PORTAL_URL").filter(|v| !v.is_empty()),
            public_api_url: lookup("PUBLIC_API_URL").filter(|v| !v.is_empty()),
            ticket_storm_window_secs: number("TICKET_STORM_WINDOW_SECS", 600, 0..=86_400)?,
            import_work_secs: number("IMPORT_WORK_SECS", 720, 0..=840)?,
            connect_failures_per_hour: number("CONNECT_FAILURES_PER_HOUR", 5, 1..=100)? as u32,
            audit_retention_days: number("AUDIT_RETENTION_DAYS", 365, 1..=3650)? as u32,
        })
    }
}

/// A configured vendor URL must be `https://` to a public-looking host, unless loopback vendors
/// are allowed (the local runner's sandbox).
fn check_vendor_url(var: &'static str, url: &str, allow_loopback: bool) -> Result<(), ConfigError> {
    let fail = |problem: &str| ConfigError {
        var,
        problem: problem.to_owned(),
    };
    let rest = if let Some(rest) = url.strip_prefix("https://") {
        rest
    } else if let Some(rest) = url.strip_prefix("http://") {
        if !allow_loopback {
            return Err(fail(
                "must use https:// (http:// only with ALLOW_LOOPBACK_VENDORS=1)",
            ));
        }
        rest
    } else {
        return Err(fail("must be an https:// URL"));
    };
    let authority = rest.split('/').next().unwrap_or_default();
    if authority.contains('@') {
        return Err(fail("must not carry credentials"));
    }
    let host = match authority.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or_default(),
        None => authority.split(':').next().unwrap_or_default(),
    };
    let loopback = host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    if host.is_empty() {
        return Err(fail("has no host"));
    }
    if loopback && !allow_loopback {
        return Err(fail(
            "points at a loopback host (allowed only with ALLOW_LOOPBACK_VENDORS=1)",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn settings(vars: &[(&str, &str)]) -> Result<Settings, ConfigError> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        Settings::from_lookup(|k| map.get(k).cloned())
    }

    #[test]
    fn defaults() {
        let s = settings(&[]).unwrap();
        assert_eq!(s.claims, ClaimNames::default());
        assert_eq!(s.secrets_prefix, "msp-integrations");
        assert!(!s.vendors.allow_loopback);
    }

    #[test]
    fn loopback_and_http_vendors_need_the_switch() {
        for url in [
            "http://127.0.0.1:9000/",
            "https://localhost/",
            "https://[::1]:8/",
        ] {
            let err = settings(&[("AUTOTASK_ZONE_LOOKUP_URL", url)]).unwrap_err();
            assert_eq!(err.var, "AUTOTASK_ZONE_LOOKUP_URL", "{url}");
            assert!(
                settings(&[
                    ("AUTOTASK_ZONE_LOOKUP_URL", url),
                    ("ALLOW_LOOPBACK_VENDORS", "1")
                ])
                .is_ok(),
                "{url}"
            );
        }
        assert!(settings(&[("NINJAONE_BASE_URL", "ftp://x")]).is_err());
        assert!(settings(&[("NINJAONE_BASE_URL", "https://user:pw@app.ninjarmm.com")]).is_err());
        assert!(settings(&[("ALLOW_LOOPBACK_VENDORS", "yes")]).is_err());
    }

    #[test]
    fn claim_names_are_configurable() {
        let s = settings(&[("TENANT_CLAIM", "custom:tenant"), ("ADMIN_ROLE", "owner")]).unwrap();
        assert_eq!(s.claims.tenant, "custom:tenant");
        assert_eq!(s.claims.admin_role, "owner");
        assert_eq!(s.claims.role, "role");
    }
}
