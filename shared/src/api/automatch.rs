//! `POST .../org-mappings/auto-match`: link platform organizations to vendor organizations by
//! name, where the best match is unique, never touching an existing link.

use std::collections::HashSet;

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use serde::{Deserialize, Serialize};

use super::{
    ApiError,
    audit::{self, NOTHING},
    body, vendor,
};
use crate::{
    app::App,
    domain::{
        AuditAction, ImportFilter, ImportKind, OrgId, OrgMapping, Provider, TenantId,
        matching::{Candidate, MatchOutcome, auto_match},
    },
    ports::{CatalogQuery, Expect, Mapper, Session, StoreError, VendorError},
};

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct AutoMatchBody {
    /// Suggest without writing.
    #[serde(default)]
    dry_run: bool,
}

#[derive(Serialize)]
struct Matched {
    org_id: OrgId,
    name: String,
    organization_id: i64,
    organization_name: String,
    distance: usize,
}

#[derive(Serialize)]
struct Linked {
    org_id: OrgId,
    name: Option<String>,
}

#[derive(Serialize)]
struct Ambiguous {
    org_id: OrgId,
    name: String,
    candidates: Vec<Candidate>,
}

#[derive(Serialize)]
struct Unmatched {
    org_id: OrgId,
    name: String,
}

#[derive(Serialize)]
struct Report {
    dry_run: bool,
    /// Linked now (or, on a dry run, what would be).
    matched: Vec<Matched>,
    already_linked: Vec<Linked>,
    ambiguous: Vec<Ambiguous>,
    unmatched: Vec<Unmatched>,
}

pub(super) async fn auto_match_orgs(
    app: &App,
    tenant: &TenantId,
    provider: Provider,
    req: &Request<Bytes>,
) -> Result<Response<Bytes>, ApiError> {
    let mapper = vendor::capability(app, provider, "organization auto-match", |i| i.mapper())?;
    let (kind, target_of) = mapper.match_target().ok_or_else(|| {
        ApiError::NotFound(format!(
            "{} has no organization auto-match",
            provider.display_name()
        ))
    })?;
    let options: AutoMatchBody = if req.body().is_empty() {
        AutoMatchBody::default()
    } else {
        body::json(req)?
    };
    let session = vendor::open(app, tenant, provider).await?;

    let vendor_orgs = match imported_customers(app, tenant, provider).await? {
        Some(customers) => customers,
        None => match catalog(mapper, &session, kind).await {
            Ok(orgs) => orgs,
            Err(e) => return Err(vendor::failed(app, &session, e).await),
        },
    };

    let existing = app.store.list_org_mappings(tenant, provider).await?;
    let linked_orgs: HashSet<&OrgId> = existing.iter().map(|m| &m.org_id).collect();
    // Vendor organizations already linked to someone are not offered again.
    let free: Vec<(i64, String)> = vendor_orgs
        .into_iter()
        .filter(|(id, _)| !existing.iter().any(|m| m.target.company_id() == *id))
        .collect();

    let mut report = Report {
        dry_run: options.dry_run,
        matched: Vec::new(),
        already_linked: Vec::new(),
        ambiguous: Vec::new(),
        unmatched: Vec::new(),
    };
    let mut unlinked = Vec::new();
    let mut cursor = None;
    loop {
        let page = app
            .store
            .list_organizations(tenant, cursor.as_ref(), 500)
            .await?;
        for org in page.items {
            if linked_orgs.contains(&org.id) {
                report.already_linked.push(Linked {
                    org_id: org.id,
                    name: Some(org.name),
                });
            } else {
                unlinked.push((org.id, org.name));
            }
        }
        match page.next {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }

    for ((org_id, name), (_, outcome)) in unlinked.iter().zip(auto_match(&unlinked, &free)) {
        match outcome {
            MatchOutcome::Matched(c) => {
                if !options.dry_run {
                    let mapping = OrgMapping {
                        org_id: org_id.clone(),
                        target: target_of(c.id),
                        updated_at: app.clock.now(),
                        version: 0,
                    };
                    // Never overwrite: a link made meanwhile wins and is reported as such.
                    match app
                        .store
                        .put_org_mapping(tenant, &mapping, Expect::Absent)
                        .await
                    {
                        Ok(_) => {}
                        Err(StoreError::Conflict(_)) => {
                            report.already_linked.push(Linked {
                                org_id: org_id.clone(),
                                name: Some(name.clone()),
                            });
                            continue;
                        }
                        Err(e) => return Err(e.into()),
                    }
                }
                report.matched.push(Matched {
                    org_id: org_id.clone(),
                    name: name.clone(),
                    organization_id: c.id,
                    organization_name: c.name,
                    distance: c.distance,
                });
            }
            MatchOutcome::Ambiguous(candidates) => report.ambiguous.push(Ambiguous {
                org_id: org_id.clone(),
                name: name.clone(),
                candidates,
            }),
            MatchOutcome::Unmatched => report.unmatched.push(Unmatched {
                org_id: org_id.clone(),
                name: name.clone(),
            }),
        }
    }
    if !options.dry_run {
        tracing::info!(tenant = %tenant, provider = %provider, linked = report.matched.len(), "organizations auto-matched");
        if !report.matched.is_empty() {
            let links: serde_json::Map<String, serde_json::Value> = report
                .matched
                .iter()
                .map(|m| (m.org_id.to_string(), serde_json::json!(m.organization_id)))
                .collect();
            let action = AuditAction::AutoMatch;
            audit::record(app, tenant, Some(provider), action, None, &NOTHING, &links).await;
        }
    }
    Ok(body::respond(StatusCode::OK, &report))
}

/// Where a provider imports its customers (Autotask), the imported ones are the candidates:
/// no vendor call, and a Lead never matches. `None` for providers without that import.
async fn imported_customers(
    app: &App,
    tenant: &TenantId,
    provider: Provider,
) -> Result<Option<Vec<(i64, String)>>, ApiError> {
    let imports_customers = app
        .integrations
        .get(provider)
        .and_then(|i| i.importer())
        .is_some_and(|i| i.import_kinds().contains(&ImportKind::Customers));
    if !imports_customers {
        return Ok(None);
    }
    let active = ImportFilter {
        active: Some(true),
        ..ImportFilter::default()
    };
    let mut customers = Vec::new();
    app.store
        .each_imported(tenant, provider, ImportKind::Customers, &active, &mut |r| {
            if let Some(name) = r.name() {
                customers.push((r.id, name.to_owned()));
            }
        })
        .await?;
    Ok(Some(customers))
}

/// Every organization of the vendor's catalog `kind`.
async fn catalog(
    mapper: &dyn Mapper,
    session: &Session,
    kind: &str,
) -> Result<Vec<(i64, String)>, VendorError> {
    let mut orgs = Vec::new();
    let mut after = None;
    loop {
        let query = CatalogQuery {
            search: None,
            parent: None,
            after: after.clone(),
            limit: 500,
        };
        let page = mapper.catalog(session, kind, &query).await?;
        orgs.extend(page.items.into_iter().map(|i| (i.id, i.name)));
        match page.next {
            Some(next) => after = Some(next),
            None => return Ok(orgs),
        }
    }
}
