//! Mapping: vendor catalogs, plan mappings and organization mappings, one row per link.

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use serde::{Deserialize, Serialize};

use super::{
    ApiError,
    audit::{self, NOTHING},
    body,
    routes::Params,
    vendor,
};
use crate::{
    app::App,
    domain::{
        AuditAction, FieldError, OrgId, OrgMapping, OrgTarget, PlanId, PlanMapping, PlanTarget,
        Provider, TenantId,
    },
    ports::{CatalogQuery, Mapper},
};

const DEFAULT_LIMIT: usize = 50;
const MAX_LIMIT: usize = 500;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CatalogParams {
    search: Option<String>,
    company_id: Option<i64>,
    contract_id: Option<i64>,
    customer_id: Option<i64>,
    agreement_id: Option<i64>,
    after: Option<String>,
    limit: Option<usize>,
}

pub(super) async fn catalog(
    app: &App,
    tenant: &TenantId,
    provider: Provider,
    params: &Params,
    req: &Request<Bytes>,
) -> Result<Response<Bytes>, ApiError> {
    let mapper = vendor::capability(app, provider, "the mapping catalog", |i| i.mapper())?;
    let kind = params.get("kind").unwrap_or_default();
    if !mapper.kinds().contains(&kind) {
        return Err(ApiError::NotFound(format!(
            "{} has no catalog {kind:?}; catalogs: {}",
            provider.display_name(),
            mapper.kinds().join(", ")
        )));
    }
    let q: CatalogParams = body::query(req)?;
    body::query_ids(&[
        ("company_id", q.company_id),
        ("contract_id", q.contract_id),
        ("customer_id", q.customer_id),
        ("agreement_id", q.agreement_id),
    ])?;
    let limit = q.limit.unwrap_or(DEFAULT_LIMIT);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(ApiError::bad_field(
            "limit",
            format!("must be between 1 and {MAX_LIMIT}"),
        ));
    }
    let query = CatalogQuery {
        search: q.search,
        parent: q
            .company_id
            .or(q.contract_id)
            .or(q.customer_id)
            .or(q.agreement_id),
        after: q.after,
        limit,
    };
    let session = vendor::open(app, tenant, provider).await?;
    match mapper.catalog(&session, kind, &query).await {
        Ok(page) => Ok(body::respond(StatusCode::OK, &page)),
        Err(e) => Err(vendor::failed(app, &session, e).await),
    }
}

/// A mapping row as the portal lists it: green check (`linked`) or `broken`.
#[derive(Serialize)]
struct Row<T> {
    #[serde(flatten)]
    mapping: T,
    /// Platform name of the plan or organization, when it still exists.
    name: Option<String>,
    /// `linked`, `broken` (gone or inactive at the vendor) or `unknown` (vendor unreachable).
    state: &'static str,
}

#[derive(Serialize)]
struct Rows<T> {
    items: Vec<Row<T>>,
    /// Why states are `unknown`, when they are.
    #[serde(skip_serializing_if = "Option::is_none")]
    state_error: Option<String>,
}

fn state(broken: Option<bool>) -> &'static str {
    match broken {
        Some(true) => "broken",
        Some(false) => "linked",
        None => "unknown",
    }
}

/// The mapper of a provider that maps plans (routing already refused the others).
fn plans_mapper(app: &App, provider: Provider) -> Result<&dyn Mapper, ApiError> {
    vendor::capability(app, provider, "plan mapping", |i| i.mapper())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AutotaskPlanBody {
    service_id: i64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ConnectwisePlanBody {
    product_id: i64,
}

fn plan_target(provider: Provider, req: &Request<Bytes>) -> Result<PlanTarget, ApiError> {
    Ok(match provider {
        Provider::Connectwise => {
            let b: ConnectwisePlanBody = body::json(req)?;
            PlanTarget::Connectwise {
                product_id: b.product_id,
            }
        }
        // Routing refuses plan mappings of providers that do not map plans.
        _ => {
            let b: AutotaskPlanBody = body::json(req)?;
            PlanTarget::Autotask {
                service_id: b.service_id,
            }
        }
    })
}

pub(super) async fn put_plan(
    app: &App,
    tenant: &TenantId,
    provider: Provider,
    params: &Params,
    req: &Request<Bytes>,
) -> Result<Response<Bytes>, ApiError> {
    let mapper = plans_mapper(app, provider)?;
    let plan_id = body::path_param(params, "plan_id", |s| PlanId::new(s))?;
    let target = plan_target(provider, req)?;
    let expect = vendor::if_match(req)?;
    if app.store.get_plan(tenant, &plan_id).await?.is_none() {
        return Err(ApiError::NotFound(format!(
            "no plan {plan_id}: create it with PUT /v1/plans/{plan_id} first"
        )));
    }
    let session = vendor::open(app, tenant, provider).await?;
    if let Err(e) = mapper.check_plan(&session, &target).await {
        return Err(vendor::failed(app, &session, e).await);
    }
    let before = app
        .store
        .get_plan_mapping(tenant, provider, &plan_id)
        .await?;
    let mapping = PlanMapping {
        plan_id,
        target,
        updated_at: app.clock.now(),
        version: 0,
    };
    let stored = app
        .store
        .put_plan_mapping(tenant, &mapping, expect)
        .await
        .map_err(vendor::stale(expect))?;
    let target = Some(stored.plan_id.as_str());
    let action = AuditAction::MapPlan;
    audit::record(
        app,
        tenant,
        Some(provider),
        action,
        target,
        &before,
        &stored,
    )
    .await;
    Ok(body::respond(StatusCode::OK, &stored))
}

pub(super) async fn delete_plan(
    app: &App,
    tenant: &TenantId,
    provider: Provider,
    params: &Params,
) -> Result<Response<Bytes>, ApiError> {
    plans_mapper(app, provider)?;
    let plan_id = body::path_param(params, "plan_id", |s| PlanId::new(s))?;
    let before = app
        .store
        .get_plan_mapping(tenant, provider, &plan_id)
        .await?;
    app.store
        .delete_plan_mapping(tenant, provider, &plan_id)
        .await?;
    if before.is_some() {
        let (action, target) = (AuditAction::UnlinkPlan, Some(plan_id.as_str()));
        audit::record(
            app,
            tenant,
            Some(provider),
            action,
            target,
            &before,
            &NOTHING,
        )
        .await;
    }
    Ok(body::no_content())
}

pub(super) async fn list_plans(
    app: &App,
    tenant: &TenantId,
    provider: Provider,
) -> Result<Response<Bytes>, ApiError> {
    let mapper = plans_mapper(app, provider)?;
    let session = vendor::open(app, tenant, provider).await?;
    let mappings = app.store.list_plan_mappings(tenant, provider).await?;
    let targets: Vec<PlanTarget> = mappings.iter().map(|m| m.target.clone()).collect();
    let (broken, state_error) = match mapper.broken(&session, &targets, &[]).await {
        Ok((plans, _)) => (plans.into_iter().map(Some).collect(), None),
        Err(e) => (
            vec![None; mappings.len()],
            Some(vendor::failed(app, &session, e).await.to_string()),
        ),
    };
    let mut items = Vec::with_capacity(mappings.len());
    for (mapping, broken) in mappings.into_iter().zip(broken) {
        let name = app
            .store
            .get_plan(tenant, &mapping.plan_id)
            .await?
            .map(|p| p.name);
        items.push(Row {
            mapping,
            name,
            state: state(broken),
        });
    }
    Ok(body::respond(StatusCode::OK, &Rows { items, state_error }))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AutotaskOrgBody {
    company_id: i64,
    contract_id: Option<i64>,
    contract_service_id: Option<i64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct HaloOrgBody {
    customer_id: i64,
    licence_id: i64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NinjaOrgBody {
    organization_id: i64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ConnectwiseOrgBody {
    company_id: i64,
    agreement_id: i64,
    addition_id: i64,
}

fn org_target(provider: Provider, req: &Request<Bytes>) -> Result<OrgTarget, ApiError> {
    Ok(match provider {
        Provider::Autotask => {
            let b: AutotaskOrgBody = body::json(req)?;
            OrgTarget::Autotask {
                company_id: b.company_id,
                contract_id: b.contract_id,
                contract_service_id: b.contract_service_id,
            }
        }
        Provider::Halopsa => {
            let b: HaloOrgBody = body::json(req)?;
            OrgTarget::Halopsa {
                customer_id: b.customer_id,
                licence_id: b.licence_id,
            }
        }
        Provider::Ninjaone => {
            let b: NinjaOrgBody = body::json(req)?;
            OrgTarget::Ninjaone {
                organization_id: b.organization_id,
            }
        }
        Provider::Connectwise => {
            let b: ConnectwiseOrgBody = body::json(req)?;
            OrgTarget::Connectwise {
                company_id: b.company_id,
                agreement_id: b.agreement_id,
                addition_id: b.addition_id,
            }
        }
    })
}

pub(super) async fn put_org(
    app: &App,
    tenant: &TenantId,
    provider: Provider,
    params: &Params,
    req: &Request<Bytes>,
) -> Result<Response<Bytes>, ApiError> {
    let mapper = vendor::capability(app, provider, "organization mapping", |i| i.mapper())?;
    let org_id = body::path_param(params, "org_id", |s| OrgId::new(s))?;
    let target = org_target(provider, req)?;
    target.validate().map_err(ApiError::Validation)?;
    let expect = vendor::if_match(req)?;
    let org = app
        .store
        .get_organization(tenant, &org_id)
        .await?
        .ok_or_else(|| {
            ApiError::NotFound(format!(
                "no organization {org_id}: create it with PUT /v1/organizations/{org_id} first"
            ))
        })?;
    // Where plans map (Autotask, ConnectWise), what carries the seats must sell what the org's
    // plan maps to; a company-only link carries no seats and needs no plan.
    let plan_target = if mapper.maps_plans() && target.syncs_seats() {
        let plan = org.plan_id.as_ref().ok_or_else(|| {
            ApiError::Validation(vec![FieldError::new(
                "plan_id",
                format!(
                    "organization {org_id} has no plan; give it a plan mapped at {} first",
                    provider.display_name()
                ),
            )])
        })?;
        let mapping = app
            .store
            .get_plan_mapping(tenant, provider, plan)
            .await?
            .ok_or_else(|| {
                ApiError::Validation(vec![FieldError::new(
                    "plan_id",
                    format!(
                        "plan {plan} is not mapped at {} yet; map the plan first",
                        provider.display_name()
                    ),
                )])
            })?;
        Some(mapping.target)
    } else {
        None
    };
    let session = vendor::open(app, tenant, provider).await?;
    if let Err(e) = mapper
        .check_org(&session, &target, plan_target.as_ref())
        .await
    {
        return Err(vendor::failed(app, &session, e).await);
    }
    let before = app.store.get_org_mapping(tenant, provider, &org_id).await?;
    let mapping = OrgMapping {
        org_id,
        target,
        updated_at: app.clock.now(),
        version: 0,
    };
    let stored = app
        .store
        .put_org_mapping(tenant, &mapping, expect)
        .await
        .map_err(vendor::stale(expect))?;
    let target = Some(stored.org_id.as_str());
    let action = AuditAction::MapOrganization;
    audit::record(
        app,
        tenant,
        Some(provider),
        action,
        target,
        &before,
        &stored,
    )
    .await;
    Ok(body::respond(StatusCode::OK, &stored))
}

pub(super) async fn delete_org(
    app: &App,
    tenant: &TenantId,
    provider: Provider,
    params: &Params,
) -> Result<Response<Bytes>, ApiError> {
    vendor::capability(app, provider, "organization mapping", |i| i.mapper())?;
    let org_id = body::path_param(params, "org_id", |s| OrgId::new(s))?;
    let before = app.store.get_org_mapping(tenant, provider, &org_id).await?;
    app.store
        .delete_org_mapping(tenant, provider, &org_id)
        .await?;
    if before.is_some() {
        let (action, target) = (AuditAction::UnlinkOrganization, Some(org_id.as_str()));
        audit::record(
            app,
            tenant,
            Some(provider),
            action,
            target,
            &before,
            &NOTHING,
        )
        .await;
    }
    Ok(body::no_content())
}

pub(super) async fn list_orgs(
    app: &App,
    tenant: &TenantId,
    provider: Provider,
) -> Result<Response<Bytes>, ApiError> {
    let mapper = vendor::capability(app, provider, "organization mapping", |i| i.mapper())?;
    let session = vendor::open(app, tenant, provider).await?;
    let mappings = app.store.list_org_mappings(tenant, provider).await?;
    let targets: Vec<OrgTarget> = mappings.iter().map(|m| m.target.clone()).collect();
    let (broken, state_error) = match mapper.broken(&session, &[], &targets).await {
        Ok((_, orgs)) => (orgs.into_iter().map(Some).collect(), None),
        Err(e) => (
            vec![None; mappings.len()],
            Some(vendor::failed(app, &session, e).await.to_string()),
        ),
    };
    let mut items = Vec::with_capacity(mappings.len());
    for (mapping, broken) in mappings.into_iter().zip(broken) {
        let name = app
            .store
            .get_organization(tenant, &mapping.org_id)
            .await?
            .map(|o| o.name);
        items.push(Row {
            mapping,
            name,
            state: state(broken),
        });
    }
    Ok(body::respond(StatusCode::OK, &Rows { items, state_error }))
}
