//! `Idempotency-Key` on POST, as Powertools for AWS Lambda's idempotency utility records it: the
//! first request with a key runs and its successful answer is stored for 24 hours; a repeat
//! with the same body gets that answer again and does no work; the same key with another body
//! is a 422; a repeat while the first is still in flight is a 409. Keys are per tenant.
//!
//! A failed answer is not stored: the key is forgotten, so a retry runs the request again.

use std::future::Future;

use bytes::Bytes;
use http::{HeaderName, HeaderValue, Request, Response, StatusCode, header};
use sha2::{Digest, Sha256};

use super::{ApiError, App};
use crate::{
    domain::{
        FieldError, IDEMPOTENCY_IN_FLIGHT, IDEMPOTENCY_TTL, IdempotencyRecord, IdempotentStep,
        StoredResponse, TenantId,
    },
    ports::{Expect, StoreError},
};

/// The request header.
pub const HEADER: &str = "idempotency-key";

/// Longest key accepted.
const MAX_KEY: usize = 255;

/// Headers of an answer that a replay carries.
const REPLAYED_HEADERS: [HeaderName; 4] = [
    header::CONTENT_TYPE,
    header::LOCATION,
    header::ETAG,
    header::RETRY_AFTER,
];

/// Runs `work` once per key: the request's `Idempotency-Key`, if it has one, decides.
pub(super) async fn once<F>(
    app: &App,
    tenant: &TenantId,
    req: &Request<Bytes>,
    work: F,
) -> Result<Response<Bytes>, ApiError>
where
    F: Future<Output = Response<Bytes>>,
{
    let Some(key) = req.headers().get(HEADER) else {
        return Ok(work.await);
    };
    let key = key
        .to_str()
        .ok()
        .filter(|k| (1..=MAX_KEY).contains(&k.len()) && k.bytes().all(|b| b.is_ascii_graphic()))
        .ok_or_else(|| {
            ApiError::bad_field(
                "Idempotency-Key",
                format!("must be 1 to {MAX_KEY} visible ASCII characters"),
            )
        })?;
    let key_hash = hex::encode(Sha256::digest(key.as_bytes()));
    let fingerprint = fingerprint(req);
    let now = app.clock.now();
    let fresh = IdempotencyRecord {
        fingerprint: fingerprint.clone(),
        response: None,
        in_flight_until: now + IDEMPOTENCY_IN_FLIGHT,
        version: 0,
    };
    let store = &app.store;
    let expires_at = now + IDEMPOTENCY_TTL;
    let held = match store
        .put_idempotency(tenant, &key_hash, &fresh, Expect::Absent, expires_at)
        .await
    {
        Ok(held) => held,
        Err(StoreError::Conflict(_)) => {
            let stored = store.get_idempotency(tenant, &key_hash).await?;
            match stored
                .as_ref()
                .map(|s| (s.step(&fingerprint, now), s.version))
            {
                Some((IdempotentStep::Replay(answer), _)) => return Ok(replay(answer)),
                Some((IdempotentStep::Mismatch, _)) => {
                    return Err(ApiError::Validation(vec![FieldError::new(
                        "Idempotency-Key",
                        "was already used with another request; use a new key for a new request",
                    )]));
                }
                Some((IdempotentStep::InFlight, _)) => return Err(in_progress()),
                // The first request died holding the key (or it expired meanwhile): take over.
                Some((IdempotentStep::Run, version)) => store
                    .put_idempotency(
                        tenant,
                        &key_hash,
                        &fresh,
                        Expect::Version(version),
                        expires_at,
                    )
                    .await
                    .map_err(|_| in_progress())?,
                None => store
                    .put_idempotency(tenant, &key_hash, &fresh, Expect::Absent, expires_at)
                    .await
                    .map_err(|_| in_progress())?,
            }
        }
        Err(e) => return Err(e.into()),
    };
    let response = work.await;
    match stored(&response) {
        Some(answer) => {
            let done = IdempotencyRecord {
                response: Some(answer),
                ..held.clone()
            };
            let expect = Expect::Version(held.version);
            if let Err(e) = store
                .put_idempotency(tenant, &key_hash, &done, expect, expires_at)
                .await
            {
                // The work is done and answered; a retry finds the key in flight until it
                // lapses, then runs again (the operations themselves are safe to repeat).
                tracing::warn!(error = %e, "could not store an idempotent answer");
            }
        }
        None => {
            if let Err(e) = store.delete_idempotency(tenant, &key_hash).await {
                tracing::warn!(error = %e, "could not forget a failed request's Idempotency-Key");
            }
        }
    }
    Ok(response)
}

fn in_progress() -> ApiError {
    ApiError::Conflict(
        "a request with this Idempotency-Key is still in progress; retry once it has finished"
            .into(),
    )
}

/// The request a key stands for: method, path and query, body.
fn fingerprint(req: &Request<Bytes>) -> String {
    let mut hash = Sha256::new();
    hash.update(req.method().as_str());
    hash.update(b" ");
    hash.update(
        req.uri()
            .path_and_query()
            .map(|p| p.as_str())
            .unwrap_or_default(),
    );
    hash.update(b"\n");
    hash.update(req.body());
    hex::encode(hash.finalize())
}

/// A successful answer as stored; `None` for failures (not replayed), non-text bodies, and
/// answers marked `Cache-Control: no-store` (a consent URL's one-time state is kept only
/// hashed): a retry of those runs again.
fn stored(response: &Response<Bytes>) -> Option<StoredResponse> {
    let no_store = response
        .headers()
        .get(header::CACHE_CONTROL)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("no-store"));
    if !response.status().is_success() || no_store {
        return None;
    }
    let body = String::from_utf8(response.body().to_vec()).ok()?;
    let headers = REPLAYED_HEADERS
        .iter()
        .filter_map(|name| {
            let value = response.headers().get(name)?.to_str().ok()?;
            Some((name.as_str().to_owned(), value.to_owned()))
        })
        .collect();
    Some(StoredResponse {
        status: response.status().as_u16(),
        headers,
        body,
    })
}

fn replay(answer: StoredResponse) -> Response<Bytes> {
    let mut response = Response::builder()
        .status(StatusCode::from_u16(answer.status).unwrap_or(StatusCode::OK))
        .header("idempotent-replayed", "true");
    for (name, value) in &answer.headers {
        if let Ok(value) = HeaderValue::from_str(value) {
            response = response.header(name.as_str(), value);
        }
    }
    response
        .body(Bytes::from(answer.body))
        .expect("a stored answer is a valid response")
}
