//! Connect attempts a vendor refused, counted per tenant and provider in each clock hour.
//!
//! Autotask locks an API user after repeated failed logins (seed 002), and every vendor's login
//! is a way to guess credentials. So past `CONNECT_FAILURES_PER_HOUR` refusals, Connect answers
//! 429 with `Retry-After` until the hour ends, without asking the vendor. An attempt reserves
//! its place with an atomic add before the vendor is asked, so concurrent attempts cannot
//! overshoot the limit; one that the vendor did not refuse gives its place back.

use time::{Duration, OffsetDateTime};

use super::ApiError;
use crate::{
    app::App,
    domain::{Provider, TenantId},
    ports::VendorError,
};

/// One connect attempt's place in its hour's count.
pub(super) struct Attempt<'a> {
    app: &'a App,
    tenant: &'a TenantId,
    provider: Provider,
    hour: OffsetDateTime,
}

impl<'a> Attempt<'a> {
    /// The attempt being made now.
    pub(super) fn new(app: &'a App, tenant: &'a TenantId, provider: Provider) -> Self {
        let now = app.clock.now().unix_timestamp();
        let hour = OffsetDateTime::from_unix_timestamp(now - now.rem_euclid(3600))
            .expect("a whole hour of a valid time is valid");
        Self {
            app,
            tenant,
            provider,
            hour,
        }
    }

    /// Takes a place for an attempt that will send credentials to the vendor, or refuses
    /// while the hour's refusals reached the limit.
    pub(super) async fn reserve(
        app: &'a App,
        tenant: &'a TenantId,
        provider: Provider,
    ) -> Result<Self, ApiError> {
        let attempt = Self::new(app, tenant, provider);
        let count = attempt.add(1).await?;
        if count > i64::from(app.settings.connect_failures_per_hour) {
            attempt.add(-1).await?;
            return Err(attempt.refused());
        }
        Ok(attempt)
    }

    /// Refuses while the hour's refusals reached the limit; takes no place (the vendor is not
    /// asked now: a consent's credentials are checked at its callback).
    pub(super) async fn check(
        app: &'a App,
        tenant: &'a TenantId,
        provider: Provider,
    ) -> Result<Self, ApiError> {
        let attempt = Self::new(app, tenant, provider);
        if attempt.add(0).await? >= i64::from(app.settings.connect_failures_per_hour) {
            return Err(attempt.refused());
        }
        Ok(attempt)
    }

    /// Settles a reserved attempt: it keeps its place only if the vendor refused credentials.
    pub(super) async fn settle<T>(self, outcome: &Result<T, VendorError>) -> Result<(), ApiError> {
        if !matches!(outcome, Err(e) if refused_credentials(e)) {
            self.add(-1).await?;
        }
        Ok(())
    }

    /// Counts a refusal found after the fact (a consent's code exchange).
    pub(super) async fn refused_now(self) -> Result<(), ApiError> {
        self.add(1).await.map(|_| ())
    }

    async fn add(&self, delta: i64) -> Result<i64, ApiError> {
        Ok(self
            .app
            .store
            .add_connect_attempts(self.tenant, self.provider, self.hour, delta)
            .await?)
    }

    fn refused(&self) -> ApiError {
        let next_hour = self.hour + Duration::hours(1);
        let wait = (next_hour - self.app.clock.now()).whole_seconds().max(1);
        ApiError::TooManyAttempts {
            detail: format!(
                "{} refused the credentials of {} connect attempts this hour; to keep the API user from being locked, try again after {}",
                self.provider.display_name(),
                self.app.settings.connect_failures_per_hour,
                next_hour
                    .format(&time::format_description::well_known::Rfc3339)
                    .unwrap_or_default()
            ),
            retry_after: u64::try_from(wait).unwrap_or(1),
        }
    }
}

/// Whether the vendor refused the partner's credentials (what locks an API user). Our own
/// integration being refused, or the vendor being down, is not the partner's attempt failing.
fn refused_credentials(e: &VendorError) -> bool {
    matches!(e, VendorError::CredentialsRejected { .. })
}
