//! An `Idempotency-Key`'s record: which request it was first used with, whether that request
//! is still in flight, and the answer it got, replayed to every retry for 24 hours.

use serde::{Deserialize, Serialize};
use time::{Duration, OffsetDateTime};

/// How long a key's answer is replayed.
pub const IDEMPOTENCY_TTL: Duration = Duration::hours(24);

/// How long a request may hold its key in flight; after that (the worker died) a retry runs
/// the request again. API Gateway answers within 30 seconds.
pub const IDEMPOTENCY_IN_FLIGHT: Duration = Duration::seconds(60);

/// What is stored for one key of one tenant.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdempotencyRecord {
    /// Hash of the request (method, path, body) the key was first used with.
    pub fingerprint: String,
    /// The answer, once there is one; `None` while the first request is in flight.
    pub response: Option<StoredResponse>,
    /// Until when the first request holds the key without an answer.
    #[serde(with = "time::serde::rfc3339")]
    pub in_flight_until: OffsetDateTime,
    /// Optimistic-concurrency version (from the store).
    #[serde(skip)]
    pub version: u64,
}

/// A successful answer, as replayed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredResponse {
    /// HTTP status.
    pub status: u16,
    /// The headers a client reads (content type, location, ETag, Retry-After).
    pub headers: Vec<(String, String)>,
    /// The body (the API's bodies are JSON text).
    pub body: String,
}

/// What a request carrying a key does, judged on what is stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum IdempotentStep {
    /// Run it: nothing is stored, or the first request died holding the key.
    Run,
    /// Answer what the first request got.
    Replay(StoredResponse),
    /// The first request is still in flight.
    InFlight,
    /// The key was first used with another request.
    Mismatch,
}

impl IdempotencyRecord {
    /// What a request with `fingerprint` does at `now`, given this stored record.
    pub fn step(&self, fingerprint: &str, now: OffsetDateTime) -> IdempotentStep {
        if self.fingerprint != fingerprint {
            return IdempotentStep::Mismatch;
        }
        match &self.response {
            Some(response) => IdempotentStep::Replay(response.clone()),
            None if self.in_flight_until > now => IdempotentStep::InFlight,
            None => IdempotentStep::Run,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: i64) -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp(1_800_000_000 + secs).unwrap()
    }

    #[test]
    fn a_key_replays_its_answer_refuses_other_requests_and_outlives_a_dead_first_request() {
        let mut record = IdempotencyRecord {
            fingerprint: "a".into(),
            response: None,
            in_flight_until: at(60),
            version: 1,
        };
        assert_eq!(record.step("a", at(1)), IdempotentStep::InFlight);
        assert_eq!(record.step("b", at(1)), IdempotentStep::Mismatch);
        assert_eq!(record.step("a", at(61)), IdempotentStep::Run);
        let answer = StoredResponse {
            status: 201,
            headers: vec![],
            body: "{}".into(),
        };
        record.response = Some(answer.clone());
        assert_eq!(record.step("a", at(2)), IdempotentStep::Replay(answer));
    }
}
