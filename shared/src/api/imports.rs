//! `GET /v1/integrations/{provider}/imports/{kind}`: what an import brought in, by company,
//! filtered by company, linked organization and active flag, a page at a time.

use std::collections::HashMap;

use bytes::Bytes;
use http::{Request, Response};
use serde::Deserialize;

use super::{
    ApiError, App, body,
    platform::{listing, page_limit},
    routes::Params,
};
use crate::{
    domain::{ImportFilter, ImportKind, ImportedRecord, OrgId, Provider, TenantId},
    ports::{Cursor, Page},
};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ImportsQuery {
    company_id: Option<i64>,
    org_id: Option<OrgId>,
    active: Option<bool>,
    after: Option<String>,
    limit: Option<usize>,
}

pub(super) async fn list(
    app: &App,
    tenant: &TenantId,
    provider: Provider,
    params: &Params,
    req: &Request<Bytes>,
) -> Result<Response<Bytes>, ApiError> {
    let kind = body::path_param(params, "kind", str::parse::<ImportKind>)?;
    let imports = app
        .integrations
        .get(provider)
        .and_then(|i| i.importer())
        .is_some_and(|i| i.import_kinds().contains(&kind));
    if !imports {
        return Err(ApiError::NotFound(format!(
            "{} has no {} import",
            provider.display_name(),
            kind.as_str()
        )));
    }
    let query: ImportsQuery = body::query(req)?;
    body::query_ids(&[("company_id", query.company_id)])?;
    let limit = page_limit(query.limit)?;
    // Links are read now, not when the records were imported: a company linked (or unlinked)
    // since shows its organization without another import.
    let links: HashMap<i64, OrgId> = app
        .store
        .list_org_mappings(tenant, provider)
        .await?
        .into_iter()
        .map(|m| (m.target.company_id(), m.org_id))
        .collect();
    let company_id = match &query.org_id {
        None => query.company_id,
        Some(org) => match links.iter().find(|(_, o)| *o == org).map(|(c, _)| *c) {
            Some(linked) if query.company_id.is_none_or(|c| c == linked) => Some(linked),
            // Not linked, or linked to another company than asked: nothing to list.
            _ => {
                let none: Page<ImportedRecord> = Page {
                    items: Vec::new(),
                    next: None,
                };
                return Ok(listing(none));
            }
        },
    };
    let filter = ImportFilter {
        company_id,
        active: query.active,
    };
    let after = query.after.map(Cursor);
    let mut page = app
        .store
        .list_imported(tenant, provider, kind, &filter, after.as_ref(), limit)
        .await?;
    for record in &mut page.items {
        record.org_id = links.get(&record.company_id).cloned();
    }
    Ok(listing(page))
}
