//! A platform alert becomes one ticket in the mapped company; repeats while it is open become
//! notes; once it is complete, the next alert opens a new ticket.

use serde::Serialize;

use super::{JobError, session};
use crate::{
    app::App,
    domain::{Alert, FieldError, Provider, TenantId, TicketRecord},
    ports::Session,
};

/// What happened to an alert.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum TicketAction {
    /// A new ticket.
    Opened,
    /// A note on the open ticket.
    Noted,
}

/// The ticket an alert landed on.
#[derive(Clone, Debug, Serialize)]
pub struct TicketOutcome {
    /// The vendor's ticket id.
    pub ticket_id: i64,
    /// Opened or noted.
    pub action: TicketAction,
}

/// Raises `alert` at `provider`.
pub async fn raise(
    app: &App,
    tenant: &TenantId,
    provider: Provider,
    alert: &Alert,
) -> Result<TicketOutcome, JobError> {
    alert.validate().map_err(JobError::Invalid)?;
    let desk = app
        .integrations
        .get(provider)
        .and_then(|i| i.ticket_desk())
        .ok_or_else(|| {
            JobError::Unsupported(format!(
                "{} has no tickets in this build",
                provider.display_name()
            ))
        })?;
    let session = session::open(app, tenant, provider).await?;
    let mapping = app
        .store
        .get_org_mapping(tenant, provider, &alert.org_id)
        .await?
        .ok_or_else(|| {
            JobError::Invalid(vec![FieldError::new(
                "org_id",
                format!(
                    "organization {} is not mapped to {}",
                    alert.org_id,
                    provider.display_name()
                ),
            )])
        })?;
    let config = app
        .store
        .get_configuration(tenant, provider)
        .await?
        .filter(|c| c.settings.tickets_ready())
        .ok_or_else(|| {
            JobError::Precondition(format!(
                "choose the ticket defaults in the {} configuration first",
                provider.display_name()
            ))
        })?;
    let vendor = |e| async { session::vendor_failed(app, &session, e).await };
    let mut record = app
        .store
        .get_ticket(tenant, provider, &alert.dedupe_key)
        .await?;
    if let Some(r) = &record {
        match desk.is_open(&session, r.ticket_id).await {
            Ok(true) => return note(app, &session, desk, r.clone(), alert).await,
            Ok(false) => record = None,
            Err(e) => return Err(vendor(e).await),
        }
    }
    // A create whose answer was lost left an open ticket with our key: adopt it, not a twin.
    let ticket_id = match desk.find_open(&session, &alert.dedupe_key).await {
        Ok(Some(id)) => id,
        Ok(None) => match desk
            .open(&session, &mapping.target, &config.settings, alert)
            .await
        {
            Ok(id) => id,
            Err(e) => return Err(vendor(e).await),
        },
        Err(e) => return Err(vendor(e).await),
    };
    debug_assert!(record.is_none());
    app.store
        .put_ticket(
            tenant,
            provider,
            &TicketRecord {
                dedupe_key: alert.dedupe_key.clone(),
                ticket_id,
                opened_at: app.clock.now(),
                notes: 0,
            },
        )
        .await?;
    Ok(TicketOutcome {
        ticket_id,
        action: TicketAction::Opened,
    })
}

async fn note(
    app: &App,
    session: &Session,
    desk: &dyn crate::ports::TicketDesk,
    mut record: TicketRecord,
    alert: &Alert,
) -> Result<TicketOutcome, JobError> {
    if let Err(e) = desk.add_note(session, record.ticket_id, alert).await {
        return Err(session::vendor_failed(app, session, e).await);
    }
    record.notes += 1;
    app.store
        .put_ticket(&session.tenant, session.connection.provider(), &record)
        .await?;
    Ok(TicketOutcome {
        ticket_id: record.ticket_id,
        action: TicketAction::Noted,
    })
}
