//! A platform alert becomes one ticket in the mapped company; repeats while it is open become
//! notes, and repeats inside the storm window are counted and told with the next note; once
//! the ticket is complete, the next alert opens a new ticket.
//!
//! Raises of one dedupe key run side by side (many Lambdas, events delivered more than once),
//! so nothing here is decided by read-then-write: the stored [`TicketRecord`] is claimed with
//! a conditional write before the vendor is asked, and repeats are counted by atomic adds (see
//! `domain/ticket.rs` for the rules).

use std::time::{Duration, Instant};

use serde::Serialize;
use ulid::Ulid;

use super::{JobError, session};
use crate::{
    app::App,
    domain::{Alert, OrgMapping, Provider, Repeats, TenantId, TicketRecord, TicketStep},
    metrics::{self, Metric},
    ports::{Expect, Session, StoreError, TicketDesk},
    providers::http::backoff,
};

/// How long a raise may hold a dedupe key while it talks to the vendor. It covers a vendor
/// call that times out and its retries; a raise that died lets go when this lapses.
const CLAIM_TTL: time::Duration = time::Duration::minutes(3);
/// How long a raise waits for another to open the first ticket of a key, or keeps retrying
/// conditional writes that lose to other raises, before answering "try again".
pub(super) const PATIENCE: Duration = Duration::from_secs(20);

/// What happened to an alert.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum TicketAction {
    /// A new ticket.
    Opened,
    /// A note on the open ticket.
    Noted,
    /// Counted on the open ticket; the next note tells it (an alert storm).
    Coalesced,
}

/// The ticket an alert landed on.
#[derive(Clone, Debug, Serialize)]
pub struct TicketOutcome {
    /// The vendor's ticket id.
    pub ticket_id: i64,
    /// Opened, noted or coalesced.
    pub action: TicketAction,
}

/// Raises `alert` at `provider`.
pub async fn raise(
    app: &App,
    tenant: &TenantId,
    provider: Provider,
    alert: &Alert,
) -> Result<TicketOutcome, JobError> {
    let outcome = raise_for_tenant(app, tenant, provider, alert);
    let outcome = crate::context::for_tenant(tenant, outcome).await?;
    let action = match outcome.action {
        TicketAction::Opened => "opened",
        TicketAction::Noted => "noted",
        TicketAction::Coalesced => "coalesced",
    };
    metrics::count(
        Metric::Tickets,
        &[("vendor", provider.as_str()), ("outcome", action)],
        1,
    );
    Ok(outcome)
}

async fn raise_for_tenant(
    app: &App,
    tenant: &TenantId,
    provider: Provider,
    alert: &Alert,
) -> Result<TicketOutcome, JobError> {
    alert.validate().map_err(JobError::Invalid)?;
    let desk = app
        .integrations
        .get(provider)
        .and_then(|i| i.ticket_desk())
        .ok_or_else(|| {
            JobError::Unsupported(format!("{} has no tickets", provider.display_name()))
        })?;
    let connection = session::usable_connection(app, tenant, provider).await?;
    let mapping = session::org_mapping(app, tenant, provider, &alert.org_id).await?;
    let config = app
        .store
        .get_configuration(tenant, provider)
        .await?
        .filter(|c| c.settings.tickets_ready())
        .ok_or_else(|| {
            JobError::Precondition(format!(
                "choose the ticket defaults in the {} configuration first",
                provider.display_name()
            ))
        })?;
    let key = Key {
        app,
        tenant,
        provider,
        dedupe_key: &alert.dedupe_key,
        window: time::Duration::seconds(
            i64::try_from(app.settings.ticket_storm_window_secs).unwrap_or(i64::MAX),
        ),
        counts_repeats: true,
    };
    let claimed = match key.claim_or_coalesce().await? {
        Claimed::Coalesced(outcome) => return Ok(outcome),
        Claimed::Held(record) => record,
    };
    let holder = claimed
        .claim
        .as_ref()
        .map(|c| c.holder.clone())
        .unwrap_or_default();
    let work = async {
        let repeats = app
            .store
            .get_repeats(tenant, provider, &alert.dedupe_key)
            .await?;
        let session = session::with_credentials(app, tenant, connection).await?;
        let known = Known {
            ticket_id: claimed.ticket_id,
            posted_at: claimed.posted_at,
            repeats: &repeats,
        };
        let post = post(
            app,
            &session,
            desk,
            &mapping,
            &config.settings,
            known,
            alert,
        )
        .await?;
        Ok::<_, JobError>((post, repeats))
    }
    .await;
    match work {
        Ok((post, repeats)) => {
            let now = app.clock.now();
            key.settle(&holder, |fresh| match post.action {
                TicketAction::Noted => fresh.noted(now),
                _ => fresh.opened(post.ticket_id, now),
            })
            .await?;
            // The note told these (or a new ticket starts over); those counted meanwhile stay
            // for the next note.
            app.store
                .forget_repeats(tenant, provider, &alert.dedupe_key, repeats.count)
                .await?;
            Ok(TicketOutcome {
                ticket_id: post.ticket_id,
                action: post.action,
            })
        }
        Err(e) => {
            if let Err(release) = key.settle(&holder, TicketRecord::released).await {
                tracing::warn!(error = %release, "could not release a ticket claim; it lapses by itself");
            }
            Err(e)
        }
    }
}

/// The outcome of the claim loop.
pub(super) enum Claimed {
    /// The repeat was counted on the record.
    Coalesced(TicketOutcome),
    /// This raise holds the claim on the record (as stored).
    Held(TicketRecord),
}

/// One dedupe key's record: of an alert's ticket, or of an opportunity (see
/// `jobs/opportunities.rs`), which claim it the same way.
pub(super) struct Key<'a> {
    pub(super) app: &'a App,
    pub(super) tenant: &'a TenantId,
    pub(super) provider: Provider,
    pub(super) dedupe_key: &'a str,
    /// Repeats within this long of the last post are coalesced.
    pub(super) window: time::Duration,
    /// Whether coalesced repeats are counted for the next note (tickets; an opportunity has
    /// no notes).
    pub(super) counts_repeats: bool,
}

impl Key<'_> {
    async fn read(&self) -> Result<Option<TicketRecord>, StoreError> {
        self.app
            .store
            .get_ticket(self.tenant, self.provider, self.dedupe_key)
            .await
    }

    async fn write(
        &self,
        record: &TicketRecord,
        expect: Expect,
    ) -> Result<TicketRecord, StoreError> {
        self.app
            .store
            .put_ticket(self.tenant, self.provider, record, expect)
            .await
    }

    /// Counts the raise as a repeat, or claims the record for it; waits while another raise
    /// opens the key's first ticket.
    pub(super) async fn claim_or_coalesce(&self) -> Result<Claimed, JobError> {
        let window = self.window;
        let holder = Ulid::new().to_string();
        let started = Instant::now();
        let mut attempt = 0;
        loop {
            let now = self.app.clock.now();
            let stored = self.read().await?;
            let written = match (TicketRecord::step(stored.as_ref(), now, window), stored) {
                (TicketStep::Coalesce, Some(record)) => {
                    let counted = if self.counts_repeats {
                        self.app
                            .store
                            .count_repeat(self.tenant, self.provider, self.dedupe_key, now)
                            .await
                            .map(|_| ())
                    } else {
                        Ok(())
                    };
                    counted.map(|()| {
                        Claimed::Coalesced(TicketOutcome {
                            ticket_id: record.ticket_id.unwrap_or_default(),
                            action: TicketAction::Coalesced,
                        })
                    })
                }
                (TicketStep::Claim, None) => {
                    let record =
                        TicketRecord::claimed_new(self.dedupe_key, &holder, now, CLAIM_TTL);
                    self.write(&record, Expect::Absent).await.map(Claimed::Held)
                }
                (TicketStep::Claim, Some(record)) => {
                    let claimed = record.claimed_by(&holder, now, CLAIM_TTL);
                    self.write(&claimed, Expect::Version(record.version))
                        .await
                        .map(Claimed::Held)
                }
                (TicketStep::Wait, _) | (TicketStep::Coalesce, None) => Err(StoreError::Conflict(
                    "another raise is opening the ticket".into(),
                )),
            };
            match written {
                Ok(claimed) => return Ok(claimed),
                Err(StoreError::Conflict(_)) if started.elapsed() < PATIENCE => {
                    tokio::time::sleep(retry_pause(attempt)).await;
                    attempt += 1;
                }
                Err(StoreError::Conflict(_)) => return Err(JobError::KeyInFlight),
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// Applies `change` to the record as stored now and gives the claim back, unless the claim
    /// lapsed and another raise took it (then that raise owns the record).
    pub(super) async fn settle(
        &self,
        holder: &str,
        change: impl Fn(&TicketRecord) -> TicketRecord,
    ) -> Result<(), JobError> {
        let started = Instant::now();
        let mut attempt = 0;
        loop {
            let Some(fresh) = self.read().await? else {
                // Revoked meanwhile: nothing to record.
                return Ok(());
            };
            if !fresh.is_claimed_by(holder) {
                tracing::warn!(
                    provider = %self.provider,
                    "a ticket claim lapsed before its raise finished; the next raise adopts the ticket"
                );
                return Ok(());
            }
            match self
                .write(&change(&fresh), Expect::Version(fresh.version))
                .await
            {
                Ok(_) => return Ok(()),
                Err(StoreError::Conflict(_)) if started.elapsed() < PATIENCE => {
                    tokio::time::sleep(retry_pause(attempt)).await;
                    attempt += 1;
                }
                Err(e) => return Err(e.into()),
            }
        }
    }
}

/// A jittered pause after losing a conditional write, so raises that lost together do not
/// retry together.
pub(super) fn retry_pause(attempt: u32) -> Duration {
    backoff(
        attempt,
        Duration::from_millis(5),
        Duration::from_millis(250),
    )
}

/// What the claim holder knows of the key: its ticket, when the vendor last heard of it, and
/// the repeats counted since.
struct Known<'a> {
    ticket_id: Option<i64>,
    posted_at: Option<time::OffsetDateTime>,
    repeats: &'a Repeats,
}

/// What the claim holder told the vendor.
struct Post {
    ticket_id: i64,
    action: TicketAction,
}

/// Adds a note to the claimed record's ticket while it is open (telling the repeats counted
/// since the last post), or opens a new ticket.
async fn post(
    app: &App,
    session: &Session,
    desk: &dyn TicketDesk,
    mapping: &OrgMapping,
    settings: &crate::domain::ProviderSettings,
    known: Known<'_>,
    alert: &Alert,
) -> Result<Post, JobError> {
    let vendor = |e| async { session::vendor_failed(app, session, e).await };
    if let Some(ticket_id) = known.ticket_id {
        match desk.is_open(session, ticket_id).await {
            Ok(true) => {
                let note = match known.repeats.summary(known.posted_at) {
                    Some(summary) => Alert {
                        description: format!("{}\n\n{summary}", alert.description),
                        ..alert.clone()
                    },
                    None => alert.clone(),
                };
                return match desk.add_note(session, ticket_id, &note).await {
                    Ok(()) => Ok(Post {
                        ticket_id,
                        action: TicketAction::Noted,
                    }),
                    Err(e) => Err(vendor(e).await),
                };
            }
            Ok(false) => {}
            Err(e) => return Err(vendor(e).await),
        }
    }
    // A create whose answer was lost left an open ticket with our key: adopt it, not a twin.
    let ticket_id = match desk.find_open(session, &alert.dedupe_key).await {
        Ok(Some(id)) => id,
        Ok(None) => match desk.open(session, &mapping.target, settings, alert).await {
            Ok(id) => id,
            Err(e) => return Err(vendor(e).await),
        },
        Err(e) => return Err(vendor(e).await),
    };
    Ok(Post {
        ticket_id,
        action: TicketAction::Opened,
    })
}
