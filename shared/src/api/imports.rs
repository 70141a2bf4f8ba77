//! `GET /v1/integrations/{provider}/imports/{kind}`: what an import brought in, by company,
//! filtered by company, linked organization and active flag, a page at a time.

use bytes::Bytes;
use http::{Request, Response};
use serde::Deserialize;

use super::{
    ApiError, App, body,
    platform::{listing, page_limit},
    routes::Params,
};
use crate::{
    domain::{ImportFilter, ImportKind, OrgId, Provider, TenantId},
    ports::Cursor,
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
    let filter = ImportFilter {
        company_id: query.company_id,
        org_id: query.org_id,
        active: query.active,
    };
    let after = query.after.map(Cursor);
    Ok(listing(
        app.store
            .list_imported(tenant, provider, kind, &filter, after.as_ref(), limit)
            .await?,
    ))
}
