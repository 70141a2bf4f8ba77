//! The ticket an alert's dedupe key is on, and the claim that lets one raise at a time talk to
//! the vendor about it.
//!
//! Concurrent raises of one key are the normal case (an outage trips many checks at once, and
//! events arrive more than once). So the stored record decides: a raise either counts itself as
//! a repeat (inside the storm window, or while another raise holds the claim on an existing
//! ticket), waits (another raise is opening the first ticket), or claims the record with a
//! conditional write and only then asks the vendor. Repeats are counted apart from the record,
//! by atomic adds, so a storm of them never races the raise that holds the claim.

use serde::{Deserialize, Serialize};
use time::{Duration, OffsetDateTime};

/// The ticket opened for a platform alert's dedupe key.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TicketRecord {
    /// The alert's dedupe key.
    pub dedupe_key: String,
    /// The vendor's ticket id; `None` while the first raise is still opening it.
    #[serde(default)]
    pub ticket_id: Option<i64>,
    /// When it was opened (or first claimed).
    #[serde(with = "time::serde::rfc3339")]
    pub opened_at: OffsetDateTime,
    /// Notes added for repeats.
    #[serde(default)]
    pub notes: u32,
    /// When the vendor last heard of the alert: the ticket opened or a note added.
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub posted_at: Option<OffsetDateTime>,
    /// The raise that is talking to the vendor about this key, if any.
    #[serde(default)]
    pub claim: Option<TicketClaim>,
    /// Optimistic-concurrency version (from the store, not the body).
    #[serde(skip)]
    pub version: u64,
}

/// A raise's exclusive right, until `expires_at`, to ask the vendor about one dedupe key. It
/// lapses by itself, so a raise that died mid-call blocks nobody for long.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TicketClaim {
    /// Who holds it (random per raise).
    pub holder: String,
    /// When it lapses.
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
}

/// Repeats of an alert counted since its ticket was last posted to, not yet told the vendor.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Repeats {
    /// How many (kept by the store as an atomic counter, not in the body).
    #[serde(skip)]
    pub count: u32,
    /// When the latest arrived.
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub last_at: Option<OffsetDateTime>,
}

impl Repeats {
    /// The line a note adds about these repeats, counted since `since`, if there were any.
    pub fn summary(&self, since: Option<OffsetDateTime>) -> Option<String> {
        if self.count == 0 {
            return None;
        }
        let fmt = |t: Option<OffsetDateTime>| {
            t.and_then(|t| {
                t.format(&time::format_description::well_known::Rfc3339)
                    .ok()
            })
        };
        let times = if self.count == 1 { "time" } else { "times" };
        let mut line = format!("This alert occurred {} more {times}", self.count);
        if let Some(since) = fmt(since) {
            line.push_str(&format!(" since {since}"));
        }
        if let Some(last) = fmt(self.last_at) {
            line.push_str(&format!(", the last at {last}"));
        }
        line.push('.');
        Some(line)
    }
}

/// What a raise does next, judged on the stored record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TicketStep {
    /// Count the repeat on the record; the vendor hears of it with the next note.
    Coalesce,
    /// Claim the record, then ask the vendor (open a ticket or add a note).
    Claim,
    /// Another raise is opening the first ticket for this key: wait for it.
    Wait,
}

impl TicketRecord {
    /// What a raise at `now` does, with repeats inside `window` of the last post coalesced.
    pub fn step(record: Option<&Self>, now: OffsetDateTime, window: Duration) -> TicketStep {
        let Some(record) = record else {
            return TicketStep::Claim;
        };
        let claimed = record.claim.as_ref().is_some_and(|c| c.expires_at > now);
        match record.ticket_id {
            None if claimed => TicketStep::Wait,
            None => TicketStep::Claim,
            Some(_) if claimed => TicketStep::Coalesce,
            Some(_) if record.posted_at.is_some_and(|at| now < at + window) => TicketStep::Coalesce,
            Some(_) => TicketStep::Claim,
        }
    }

    /// A record for a key never seen, claimed by `holder`.
    pub fn claimed_new(dedupe_key: &str, holder: &str, now: OffsetDateTime, ttl: Duration) -> Self {
        Self {
            dedupe_key: dedupe_key.to_owned(),
            ticket_id: None,
            opened_at: now,
            notes: 0,
            posted_at: None,
            claim: None,
            version: 0,
        }
        .claimed_by(holder, now, ttl)
    }

    /// This record, claimed by `holder` until `now + ttl`.
    pub fn claimed_by(&self, holder: &str, now: OffsetDateTime, ttl: Duration) -> Self {
        Self {
            claim: Some(TicketClaim {
                holder: holder.to_owned(),
                expires_at: now + ttl,
            }),
            ..self.clone()
        }
    }

    /// Whether `holder` still holds the claim.
    pub fn is_claimed_by(&self, holder: &str) -> bool {
        self.claim.as_ref().is_some_and(|c| c.holder == holder)
    }

    /// The record after its holder added a note at `now`. Releases the claim.
    pub fn noted(&self, now: OffsetDateTime) -> Self {
        Self {
            notes: self.notes.saturating_add(1),
            posted_at: Some(now),
            claim: None,
            ..self.clone()
        }
    }

    /// The record after its holder opened (or adopted) `ticket_id` at `now`. Releases the claim.
    pub fn opened(&self, ticket_id: i64, now: OffsetDateTime) -> Self {
        Self {
            ticket_id: Some(ticket_id),
            opened_at: now,
            notes: 0,
            posted_at: Some(now),
            claim: None,
            ..self.clone()
        }
    }

    /// The record with the claim given back (the vendor call failed).
    pub fn released(&self) -> Self {
        Self {
            claim: None,
            ..self.clone()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: i64) -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp(1_800_000_000 + secs).unwrap()
    }

    const WINDOW: Duration = Duration::minutes(10);
    const TTL: Duration = Duration::minutes(2);

    fn open_ticket(posted: i64) -> TicketRecord {
        TicketRecord::claimed_new("k", "a", at(0), TTL).opened(42, at(posted))
    }

    #[test]
    fn a_new_key_is_claimed_and_waited_for_until_the_claim_lapses() {
        assert_eq!(TicketRecord::step(None, at(0), WINDOW), TicketStep::Claim);
        let claimed = TicketRecord::claimed_new("k", "a", at(0), TTL);
        assert_eq!(
            TicketRecord::step(Some(&claimed), at(1), WINDOW),
            TicketStep::Wait
        );
        assert_eq!(
            TicketRecord::step(Some(&claimed), at(120), WINDOW),
            TicketStep::Claim,
            "a claim whose holder died lapses"
        );
    }

    #[test]
    fn repeats_inside_the_window_or_during_a_claim_are_coalesced() {
        let open = open_ticket(0);
        assert_eq!(
            TicketRecord::step(Some(&open), at(599), WINDOW),
            TicketStep::Coalesce
        );
        assert_eq!(
            TicketRecord::step(Some(&open), at(600), WINDOW),
            TicketStep::Claim
        );
        let busy = open.claimed_by("b", at(600), TTL);
        assert_eq!(
            TicketRecord::step(Some(&busy), at(601), WINDOW),
            TicketStep::Coalesce
        );
        assert_eq!(
            TicketRecord::step(Some(&open), at(1), Duration::ZERO),
            TicketStep::Claim,
            "a zero window posts every repeat"
        );
    }

    #[test]
    fn a_note_tells_how_many_repeats_since_the_last_post_and_when() {
        let r = open_ticket(0);
        assert_eq!(Repeats::default().summary(r.posted_at), None);
        let repeats = Repeats {
            count: 5,
            last_at: Some(at(5)),
        };
        let summary = repeats.summary(r.posted_at).unwrap();
        assert_eq!(
            summary,
            "This alert occurred 5 more times since 2027-01-15T08:00:00Z, the last at 2027-01-15T08:00:05Z."
        );
        let one = Repeats {
            count: 1,
            last_at: None,
        };
        assert_eq!(
            one.summary(None).unwrap(),
            "This alert occurred 1 more time."
        );
        let noted = r.claimed_by("b", at(700), TTL).noted(at(703));
        assert_eq!(
            (noted.notes, noted.claim.clone(), noted.posted_at),
            (1, None, Some(at(703)))
        );
    }

    #[test]
    fn a_new_ticket_starts_over() {
        let r = open_ticket(0).claimed_by("b", at(10), TTL).noted(at(11));
        let reopened = r.claimed_by("c", at(900), TTL).opened(43, at(901));
        assert_eq!(
            (reopened.ticket_id, reopened.notes, reopened.posted_at),
            (Some(43), 0, Some(at(901)))
        );
        assert!(!reopened.is_claimed_by("c"));
    }

    #[test]
    fn records_stored_before_the_claim_existed_still_read() {
        let old =
            r#"{"dedupe_key":"k","ticket_id":7,"opened_at":"2026-01-01T00:00:00Z","notes":2}"#;
        let r: TicketRecord = serde_json::from_str(old).unwrap();
        assert_eq!((r.ticket_id, r.notes, r.claim.clone()), (Some(7), 2, None));
        assert_eq!(
            TicketRecord::step(Some(&r), at(0), WINDOW),
            TicketStep::Claim
        );
    }
}
