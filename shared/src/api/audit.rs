//! The audit trail: every change a partner makes is recorded with who made it (the token's
//! `sub`), from which request, and each changed field's old and new values; `GET /v1/audit`
//! reads it back. Records outlive a revoke and expire after `AUDIT_RETENTION_DAYS`.

use std::sync::Mutex;

use bytes::Bytes;
use http::{Request, Response};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use ulid::{Generator, Ulid};

use super::{
    ApiError, App, body,
    platform::{listing, page_limit},
};
use crate::{
    context,
    domain::{AuditAction, AuditRecord, Provider, TenantId, diff},
    ports::Cursor,
};

/// Records a change: `old` and `new` are the record before and after (`null` for none). The
/// change is already made, so a failure to record it is logged, not returned.
pub(super) async fn record(
    app: &App,
    tenant: &TenantId,
    provider: Option<Provider>,
    action: AuditAction,
    target: Option<&str>,
    old: &impl Serialize,
    new: &impl Serialize,
) {
    let (old, new) = (
        serde_json::to_value(old).unwrap_or(Value::Null),
        serde_json::to_value(new).unwrap_or(Value::Null),
    );
    let changes = diff(&old, &new);
    let now = app.clock.now();
    let entry = AuditRecord {
        id: next_id(),
        at: now,
        actor: context::caller()
            .and_then(|c| c.actor)
            .unwrap_or_else(|| "unknown".into()),
        provider,
        action,
        target: target.map(str::to_owned),
        changes,
        request_id: context::request_id(),
    };
    let retention = time::Duration::days(i64::from(app.settings.audit_retention_days));
    if let Err(e) = app.store.put_audit(tenant, &entry, now + retention).await {
        tracing::error!(error = %e, action = ?action, "could not record an audit entry");
    }
}

/// A new record id, after every id this process made before: ULIDs made in the same
/// millisecond are otherwise ordered at random, and the trail lists by id.
fn next_id() -> Ulid {
    static IDS: Mutex<Generator> = Mutex::new(Generator::new());
    let mut ids = IDS.lock().unwrap_or_else(|e| e.into_inner());
    ids.generate().unwrap_or_else(|_| Ulid::new())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AuditQuery {
    provider: Option<Provider>,
    after: Option<String>,
    limit: Option<usize>,
}

/// `GET /v1/audit?provider=&after=&limit=`: the tenant's trail, newest first.
pub(super) async fn list(
    app: &App,
    tenant: &TenantId,
    req: &Request<Bytes>,
) -> Result<Response<Bytes>, ApiError> {
    let query: AuditQuery = body::query(req)?;
    let limit = page_limit(query.limit)?;
    let after = query.after.map(Cursor);
    Ok(listing(
        app.store
            .list_audit(tenant, query.provider, after.as_ref(), limit)
            .await?,
    ))
}

/// `null`, for the side of a change where there was nothing.
pub(super) const NOTHING: Value = Value::Null;
