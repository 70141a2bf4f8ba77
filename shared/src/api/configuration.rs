//! The configuration form: live choices, save (checked against them), read, reset.

use bytes::Bytes;
use http::{HeaderValue, Request, Response, StatusCode, header};
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
    domain::{AuditAction, Configuration, FieldError, Provider, ProviderSettings, TenantId},
    ports::Choice,
};

fn with_etag(mut response: Response<Bytes>, config: &Configuration) -> Response<Bytes> {
    response.headers_mut().insert(
        header::ETAG,
        HeaderValue::from_str(&format!("\"{}\"", config.version)).expect("digits are valid"),
    );
    response
}

pub(super) async fn get(
    app: &App,
    tenant: &TenantId,
    provider: Provider,
) -> Result<Response<Bytes>, ApiError> {
    vendor::capability(app, provider, "configuration", |i| i.configurator())?;
    vendor::open(app, tenant, provider).await?;
    match app.store.get_configuration(tenant, provider).await? {
        Some(config) => Ok(with_etag(body::respond(StatusCode::OK, &config), &config)),
        None => Err(ApiError::NotFound(format!(
            "{} is connected but not configured yet",
            provider.display_name()
        ))),
    }
}

pub(super) async fn put(
    app: &App,
    tenant: &TenantId,
    provider: Provider,
    req: &Request<Bytes>,
) -> Result<Response<Bytes>, ApiError> {
    let configurator = vendor::capability(app, provider, "configuration", |i| i.configurator())?;
    let settings = match provider {
        Provider::Autotask => ProviderSettings::Autotask(body::json(req)?),
        Provider::Halopsa => ProviderSettings::Halopsa(body::json(req)?),
        Provider::Ninjaone => ProviderSettings::Ninjaone(body::json(req)?),
        Provider::Connectwise => ProviderSettings::Connectwise(body::json(req)?),
    };
    settings.validate().map_err(ApiError::Validation)?;
    let expect = vendor::if_match(req)?;
    let session = vendor::open(app, tenant, provider).await?;
    let mut missing = Vec::new();
    for (field, other) in settings.relies_on() {
        if app.store.get_connection(tenant, other).await?.is_none() {
            missing.push(FieldError::new(
                field,
                format!("{} is not connected", other.display_name()),
            ));
        }
    }
    if !missing.is_empty() {
        return Err(ApiError::Validation(missing));
    }
    if let Err(e) = configurator.check(&session, &settings).await {
        return Err(vendor::failed(app, &session, e).await);
    }
    let before = app.store.get_configuration(tenant, provider).await?;
    let config = app
        .store
        .put_configuration(tenant, &settings, expect)
        .await
        .map_err(vendor::stale(expect))?;
    let action = AuditAction::Configure;
    audit::record(app, tenant, Some(provider), action, None, &before, &config).await;
    Ok(with_etag(body::respond(StatusCode::OK, &config), &config))
}

/// "Revoke all ticket mapping" / "Reset Integration Configuration": the connection stays.
pub(super) async fn delete(
    app: &App,
    tenant: &TenantId,
    provider: Provider,
) -> Result<Response<Bytes>, ApiError> {
    vendor::capability(app, provider, "configuration", |i| i.configurator())?;
    let before = app.store.get_configuration(tenant, provider).await?;
    app.store.delete_configuration(tenant, provider).await?;
    if before.is_some() {
        let action = AuditAction::ResetConfiguration;
        audit::record(app, tenant, Some(provider), action, None, &before, &NOTHING).await;
    }
    Ok(body::no_content())
}

#[derive(Serialize)]
struct Options {
    items: Vec<Choice>,
}

/// `?parent=` narrows a dependent list to one parent's choices (Halo: an SLA's priorities).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct OptionsQuery {
    parent: Option<i64>,
}

pub(super) async fn options(
    app: &App,
    tenant: &TenantId,
    provider: Provider,
    params: &Params,
    req: &Request<Bytes>,
) -> Result<Response<Bytes>, ApiError> {
    let configurator =
        vendor::capability(app, provider, "configuration options", |i| i.configurator())?;
    let list = params.get("list").unwrap_or_default();
    if !configurator.lists().contains(&list) {
        return Err(ApiError::NotFound(format!(
            "{} has no option list {list:?}; lists: {}",
            provider.display_name(),
            configurator.lists().join(", ")
        )));
    }
    let query: OptionsQuery = body::query(req)?;
    body::query_ids(&[("parent", query.parent)])?;
    let session = vendor::open(app, tenant, provider).await?;
    match configurator.options(&session, list, query.parent).await {
        Ok(mut items) => {
            if let Some(parent) = query.parent {
                items.retain(|c| c.parent == Some(parent));
            }
            Ok(body::respond(StatusCode::OK, &Options { items }))
        }
        Err(e) => Err(vendor::failed(app, &session, e).await),
    }
}
