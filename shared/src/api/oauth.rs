//! OAuth consent (NinjaOne): Connect returns the vendor's consent URL; the public callback
//! consumes the pending consent once, exchanges the code with the PKCE verifier, stores the
//! tokens, and sends the browser back to the portal's one fixed page. Every failure ends in
//! that same redirect with a short error code: no error page, no open redirect, and neither
//! the code nor a token is ever logged.

use bytes::Bytes;
use http::{Request, Response, StatusCode, header};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use url::Url;

use super::{ApiError, attempts::Attempt, audit, body};
use crate::{
    app::App,
    context,
    domain::{
        AuditAction, CONSENT_TTL, ConnectRequest, Connection, ConnectionStatus, ConsentSecrets,
        PendingConsent, Provider, TenantId, VendorInstance, state_hash,
    },
    jobs::consent::{PendingClient, discard_pending, pending_secret},
    ports::{Consent, Expect, SecretName},
};

/// Our fixed redirect URI for a provider: deployment configuration, registered by the partner
/// in their vendor app.
pub fn redirect_uri(app: &App, provider: Provider) -> Result<String, ApiError> {
    let base = app.settings.public_api_url.as_deref().ok_or_else(|| {
        ApiError::NotConfigured(
            "this deployment has no PUBLIC_API_URL, so it has no OAuth redirect URI".into(),
        )
    })?;
    Ok(format!(
        "{}/v1/oauth/{provider}/callback",
        base.trim_end_matches('/')
    ))
}

#[derive(Serialize)]
struct ConsentRequired {
    provider: Provider,
    status: &'static str,
    /// Send the partner's browser here.
    authorize_url: String,
    /// Register this in the vendor app.
    redirect_uri: String,
    #[serde(with = "time::serde::rfc3339")]
    expires_at: OffsetDateTime,
}

/// Connect for consent providers: store the client secret aside, record the pending consent
/// (hashed state, PKCE verifier, region, 10 minutes), and return the consent URL.
pub(super) async fn start(
    app: &App,
    tenant: &TenantId,
    provider: Provider,
    consent: &dyn Consent,
    request: ConnectRequest,
) -> Result<Response<Bytes>, ApiError> {
    let redirect = redirect_uri(app, provider)?;
    let secrets = ConsentSecrets::generate();
    let consent_hash = state_hash(&secrets.state);
    let started = consent.start(request, &secrets.state, &secrets.code_challenge, &redirect)?;
    let VendorInstance::Ninjaone { region } = started.instance else {
        return Err(ApiError::NotFound(format!(
            "{} has no OAuth consent",
            provider.display_name()
        )));
    };
    if let Some(existing) = app.store.get_connection(tenant, provider).await?
        && existing.instance != started.instance
    {
        return Err(ApiError::Conflict(format!(
            "this partner is connected to another {} instance; revoke that connection before connecting a different one",
            provider.display_name()
        )));
    }
    app.secrets
        .put(
            &pending_secret(app, tenant, provider),
            &PendingClient::seal(&consent_hash, &started.pending_secret),
        )
        .await?;
    let now = app.clock.now();
    let pending = PendingConsent {
        tenant: tenant.clone(),
        provider,
        region,
        code_verifier: secrets.code_verifier,
        created_at: now,
        expires_at: now + CONSENT_TTL,
        actor: crate::context::caller().and_then(|c| c.actor),
    };
    app.store.put_consent(&consent_hash, &pending).await?;
    tracing::info!(tenant = %tenant, provider = %provider, "consent started");
    let mut response = body::respond(
        StatusCode::ACCEPTED,
        &ConsentRequired {
            provider,
            status: "consent_required",
            authorize_url: started.authorize_url,
            redirect_uri: redirect,
            expires_at: pending.expires_at,
        },
    );
    // The consent URL carries the one-time state, which we store only hashed: no cache (and no
    // idempotency record) may keep it.
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        http::HeaderValue::from_static("no-store"),
    );
    Ok(response)
}

/// What the vendor's redirect carries. Unknown parameters (`iss`, ...) are ignored.
#[derive(Deserialize, Default)]
struct CallbackQuery {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
}

/// The portal page, with the outcome: `?connected=ninjaone` or `?error=...&provider=ninjaone`.
fn back_to_portal(portal: &Url, provider: Provider, outcome: Result<(), &str>) -> Response<Bytes> {
    let mut url = portal.clone();
    match outcome {
        Ok(()) => {
            url.query_pairs_mut()
                .append_pair("connected", provider.as_str());
        }
        Err(code) => {
            url.query_pairs_mut()
                .append_pair("error", code)
                .append_pair("provider", provider.as_str());
        }
    }
    Response::builder()
        .status(StatusCode::SEE_OTHER)
        .header(header::LOCATION, url.as_str())
        .header(header::CACHE_CONTROL, "no-store")
        .header("referrer-policy", "no-referrer")
        .body(Bytes::new())
        .expect("a valid response")
}

/// `GET /v1/oauth/{provider}/callback`.
pub(super) async fn callback(
    app: &App,
    provider: Provider,
    consent: &dyn Consent,
    req: &Request<Bytes>,
) -> Result<Response<Bytes>, ApiError> {
    let portal = app
        .settings
        .portal_url
        .as_deref()
        .and_then(|p| Url::parse(p).ok())
        .ok_or_else(|| {
            ApiError::NotConfigured(
                "this deployment has no PORTAL_URL to return the partner to".into(),
            )
        })?;
    let query: CallbackQuery =
        serde_urlencoded::from_str(req.uri().query().unwrap_or_default()).unwrap_or_default();
    let outcome = finish(app, provider, consent, query).await;
    if let Err(code) = &outcome {
        tracing::warn!(provider = %provider, outcome = code, "consent callback refused");
    }
    Ok(back_to_portal(&portal, provider, outcome))
}

async fn finish(
    app: &App,
    provider: Provider,
    consent: &dyn Consent,
    query: CallbackQuery,
) -> Result<(), &'static str> {
    let state = query
        .state
        .as_deref()
        .filter(|s| !s.is_empty() && s.len() <= 512)
        .ok_or("invalid_state")?;
    // Consumed before anything else: a state works once, whatever happens next.
    let consent_hash = state_hash(state);
    let pending = app
        .store
        .take_consent(&consent_hash)
        .await
        .map_err(|_| "temporarily_unavailable")?
        .ok_or("invalid_state")?;
    let outcome = complete(app, provider, consent, query, &pending, &consent_hash).await;
    if outcome.is_err() {
        // Denied, expired or failed: the consent is spent, and so are the client credentials
        // that waited for it.
        discard_pending(app, &pending, &consent_hash).await;
    }
    outcome
}

async fn complete(
    app: &App,
    provider: Provider,
    consent: &dyn Consent,
    query: CallbackQuery,
    pending: &PendingConsent,
    consent_hash: &str,
) -> Result<(), &'static str> {
    if pending.provider != provider || pending.expires_at <= app.clock.now() {
        return Err("invalid_state");
    }
    if let Some(error) = query.error {
        return Err(if error == "access_denied" {
            "access_denied"
        } else {
            "consent_failed"
        });
    }
    let code = query
        .code
        .filter(|c| !c.is_empty() && c.len() <= 2048)
        .ok_or("invalid_request")?;
    let tenant = &pending.tenant;
    let pending_name = pending_secret(app, tenant, provider);
    let client = app
        .secrets
        .get(&pending_name)
        .await
        .map_err(|_| "temporarily_unavailable")?
        .and_then(|stored| PendingClient::open(&stored))
        .filter(|p| p.consent == consent_hash)
        .ok_or("invalid_state")?
        .client;
    let instance = VendorInstance::Ninjaone {
        region: pending.region,
    };
    let redirect = redirect_uri(app, provider).map_err(|_| "not_configured")?;
    let tokens = consent
        .finish(&instance, &client, &code, &pending.code_verifier, &redirect)
        .await;
    let tokens = match tokens {
        Ok(tokens) => tokens,
        Err(e) => {
            tracing::warn!(tenant = %tenant, provider = %provider, error = %e, "code exchange failed");
            if matches!(e, crate::ports::VendorError::CredentialsRejected { .. })
                && let Err(count) = Attempt::new(app, tenant, provider).refused_now().await
            {
                tracing::warn!(error = %count, "could not count a refused connect attempt");
            }
            return Err("exchange_failed");
        }
    };
    let name = SecretName::for_connection(&app.settings.secrets_prefix, tenant, provider);
    app.secrets
        .put(&name, &tokens)
        .await
        .map_err(|_| "temporarily_unavailable")?;
    let existing = app
        .store
        .get_connection(tenant, provider)
        .await
        .map_err(|_| "temporarily_unavailable")?;
    let now = app.clock.now();
    let connection = Connection {
        status: ConnectionStatus::Connected,
        instance,
        secret_name: name.to_string(),
        connected_at: existing.as_ref().map_or(now, |c| c.connected_at),
        updated_at: now,
        last_error: None,
        version: 0,
    };
    let expect = existing
        .as_ref()
        .map_or(Expect::Absent, |c| Expect::Version(c.version));
    let stored = app
        .store
        .put_connection(tenant, &connection, expect)
        .await
        .map_err(|_| "temporarily_unavailable")?;
    // The callback carries no token: the user is the one who clicked Connect.
    let by = context::Caller {
        tenant: tenant.clone(),
        actor: pending.actor.clone(),
    };
    let action = if existing.is_some() {
        AuditAction::Reconnect
    } else {
        AuditAction::Connect
    };
    let entry = audit::record(
        app,
        tenant,
        Some(provider),
        action,
        None,
        &existing,
        &stored,
    );
    context::with_caller(by, entry).await;
    if let Err(e) = app.secrets.delete(&pending_name).await {
        tracing::warn!(error = %e, "could not delete the pending client secret");
    }
    tracing::info!(tenant = %tenant, provider = %provider, "connected");
    Ok(())
}
