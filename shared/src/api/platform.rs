//! The platform's side: plans and organizations, written by the platform or the partner.

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use serde::{Deserialize, Serialize};

use super::{
    ApiError, App, audit,
    body::{self, path_param},
    routes::Params,
};
use crate::{
    domain::{
        Asset, AuditAction, FieldError, ImportFilter, ImportKind, OrgId, Organization, Plan,
        PlanId, TenantId,
    },
    ports::{Cursor, Page},
};

/// Default and largest page of a listing.
const DEFAULT_LIMIT: usize = 100;
const MAX_LIMIT: usize = 500;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ListQuery {
    limit: Option<usize>,
    after: Option<String>,
}

impl ListQuery {
    fn read(req: &Request<Bytes>) -> Result<(usize, Option<Cursor>), ApiError> {
        let q: ListQuery = body::query(req)?;
        Ok((page_limit(q.limit)?, q.after.map(Cursor)))
    }
}

/// A listing's `limit`, checked, or the default.
pub(super) fn page_limit(limit: Option<usize>) -> Result<usize, ApiError> {
    let limit = limit.unwrap_or(DEFAULT_LIMIT);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(ApiError::bad_field(
            "limit",
            format!("must be between 1 and {MAX_LIMIT}"),
        ));
    }
    Ok(limit)
}

#[derive(Serialize)]
struct Listing<T> {
    items: Vec<T>,
    next: Option<String>,
}

/// A page as `{"items": [...], "next": cursor or null}`.
pub(super) fn listing<T: Serialize>(page: Page<T>) -> Response<Bytes> {
    body::respond(
        StatusCode::OK,
        &Listing {
            items: page.items,
            next: page.next.map(|c| c.0),
        },
    )
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PlanBody {
    name: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct OrganizationBody {
    name: String,
    #[serde(default)]
    plan_id: Option<PlanId>,
    seats: u32,
}

fn created_or_ok(existed: bool) -> StatusCode {
    if existed {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    }
}

pub(super) async fn list_plans(
    app: &App,
    tenant: &TenantId,
    req: &Request<Bytes>,
) -> Result<Response<Bytes>, ApiError> {
    let (limit, after) = ListQuery::read(req)?;
    Ok(listing(
        app.store.list_plans(tenant, after.as_ref(), limit).await?,
    ))
}

pub(super) async fn get_plan(
    app: &App,
    tenant: &TenantId,
    params: &Params,
) -> Result<Response<Bytes>, ApiError> {
    let id = path_param(params, "plan_id", |s| PlanId::new(s))?;
    match app.store.get_plan(tenant, &id).await? {
        Some(plan) => Ok(body::respond(StatusCode::OK, &plan)),
        None => Err(ApiError::NotFound(format!("no plan {id}"))),
    }
}

pub(super) async fn put_plan(
    app: &App,
    tenant: &TenantId,
    params: &Params,
    req: &Request<Bytes>,
) -> Result<Response<Bytes>, ApiError> {
    let id = path_param(params, "plan_id", |s| PlanId::new(s))?;
    let body: PlanBody = body::json(req)?;
    let plan = Plan {
        id,
        name: body.name.trim().to_owned(),
        updated_at: app.clock.now(),
    };
    plan.validate().map_err(ApiError::Validation)?;
    let before = app.store.get_plan(tenant, &plan.id).await?;
    app.store.put_plan(tenant, &plan).await?;
    let (action, target) = (AuditAction::PutPlan, Some(plan.id.as_str()));
    audit::record(app, tenant, None, action, target, &before, &plan).await;
    Ok(body::respond(created_or_ok(before.is_some()), &plan))
}

pub(super) async fn list_organizations(
    app: &App,
    tenant: &TenantId,
    req: &Request<Bytes>,
) -> Result<Response<Bytes>, ApiError> {
    let (limit, after) = ListQuery::read(req)?;
    Ok(listing(
        app.store
            .list_organizations(tenant, after.as_ref(), limit)
            .await?,
    ))
}

pub(super) async fn get_organization(
    app: &App,
    tenant: &TenantId,
    params: &Params,
) -> Result<Response<Bytes>, ApiError> {
    let id = path_param(params, "org_id", |s| OrgId::new(s))?;
    match app.store.get_organization(tenant, &id).await? {
        Some(org) => Ok(body::respond(StatusCode::OK, &org)),
        None => Err(ApiError::NotFound(format!("no organization {id}"))),
    }
}

pub(super) async fn put_organization(
    app: &App,
    tenant: &TenantId,
    params: &Params,
    req: &Request<Bytes>,
) -> Result<Response<Bytes>, ApiError> {
    let id = path_param(params, "org_id", |s| OrgId::new(s))?;
    let body: OrganizationBody = body::json(req)?;
    let org = Organization {
        id,
        name: body.name.trim().to_owned(),
        plan_id: body.plan_id,
        seats: body.seats,
        updated_at: app.clock.now(),
    };
    let mut errors = org.validate().err().unwrap_or_default();
    if let Some(plan) = &org.plan_id
        && app.store.get_plan(tenant, plan).await?.is_none()
    {
        errors.push(FieldError::new(
            "plan_id",
            format!("no plan {plan}: create it with PUT /v1/plans/{plan} first"),
        ));
    }
    if !errors.is_empty() {
        return Err(ApiError::Validation(errors));
    }
    let before = app.store.get_organization(tenant, &org.id).await?;
    app.store.put_organization(tenant, &org).await?;
    let (action, target) = (AuditAction::PutOrganization, Some(org.id.as_str()));
    audit::record(app, tenant, None, action, target, &before, &org).await;
    Ok(body::respond(created_or_ok(before.is_some()), &org))
}

#[derive(Serialize)]
struct Assets {
    items: Vec<Asset>,
}

/// `GET /v1/organizations/{org_id}/assets`: what every asset source imported for it (RMM
/// devices, PSA configuration items of the linked company), removed ones included (flagged).
/// Where the partner chose a primary source, only its assets show, unless it has none for
/// the organization.
pub(super) async fn list_assets(
    app: &App,
    tenant: &TenantId,
    params: &Params,
) -> Result<Response<Bytes>, ApiError> {
    let id = path_param(params, "org_id", |s| OrgId::new(s))?;
    if app.store.get_organization(tenant, &id).await?.is_none() {
        return Err(ApiError::NotFound(format!("no organization {id}")));
    }
    let mut items = Vec::new();
    let mut primary = None;
    for provider in crate::domain::Provider::ALL {
        let Some(integration) = app.integrations.get(provider) else {
            continue;
        };
        if integration.asset_source().is_some() {
            items.extend(app.store.list_assets(tenant, provider, &id).await?);
        }
        let Some(importer) = integration
            .importer()
            .filter(|i| i.import_kinds().contains(&ImportKind::Assets))
        else {
            continue;
        };
        if let Some(config) = app.store.get_configuration(tenant, provider).await? {
            primary = primary.or(config.settings.primary_asset_source());
        }
        if let Some(link) = app.store.get_org_mapping(tenant, provider, &id).await? {
            items.extend(imported_assets(app, tenant, importer, &link).await?);
        }
    }
    if let Some(primary) = primary
        && items.iter().any(|a| a.source == primary)
    {
        items.retain(|a| a.source == primary);
    }
    Ok(body::respond(StatusCode::OK, &Assets { items }))
}

/// The linked company's imported assets, as the platform's assets.
async fn imported_assets(
    app: &App,
    tenant: &TenantId,
    importer: &dyn crate::ports::Importer,
    link: &crate::domain::OrgMapping,
) -> Result<Vec<Asset>, ApiError> {
    let provider = link.target.provider();
    let filter = ImportFilter {
        company_id: Some(link.target.company_id()),
        active: None,
    };
    let mut out = Vec::new();
    app.store
        .each_imported(tenant, provider, ImportKind::Assets, &filter, &mut |r| {
            if let Some(fields) = importer.as_asset(&r) {
                out.push(Asset {
                    source: provider,
                    device_id: r.id,
                    org_id: link.org_id.clone(),
                    organization_id: r.company_id,
                    fields,
                    removed: !r.active,
                    updated_at: r.modified_at.unwrap_or(r.imported_at),
                });
            }
        })
        .await?;
    Ok(out)
}
