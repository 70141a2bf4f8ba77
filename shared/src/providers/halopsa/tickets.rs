//! Tickets for platform alerts: one ticket per open alert, repeats as private actions (notes).
//! The ticket's details carry the alert's reference so a retry can find a ticket whose create
//! answer was lost.

use async_trait::async_trait;
use serde_json::json;

use super::{HaloIntegration, wire::Ticket};
use crate::{
    domain::{Alert, OrgTarget, ProviderSettings, ticket_reference},
    ports::{Session, TicketDesk, VendorError},
    providers::http::Call,
};

fn details(alert: &Alert) -> String {
    let reference = ticket_reference(&alert.dedupe_key);
    if alert.description.is_empty() {
        format!("Reference: {reference}")
    } else {
        format!("{}\n\nReference: {reference}", alert.description)
    }
}

#[async_trait]
impl TicketDesk for HaloIntegration {
    async fn is_open(&self, session: &Session, ticket_id: i64) -> Result<bool, VendorError> {
        let ticket: Option<Ticket> = self
            .client(session)?
            .get(&format!("Tickets/{ticket_id}"), &[])
            .await?;
        Ok(ticket.is_some_and(|t| t.is_open()))
    }

    async fn find_open(
        &self,
        session: &Session,
        dedupe_key: &str,
    ) -> Result<Option<i64>, VendorError> {
        let reference = ticket_reference(dedupe_key);
        let client = self.client(session)?;
        // `search_details` carries the text to look for in the details (the spec's per-field
        // search); Halo's matching is its own, so each candidate is checked here too, reading
        // the ticket when the list row leaves the details out.
        let (tickets, _) = client
            .list::<Ticket>(
                "Tickets",
                &[
                    ("open_only", "true".into()),
                    ("search_details", reference.clone()),
                    ("count", "5".into()),
                ],
            )
            .await?;
        for ticket in tickets.into_iter().filter(Ticket::is_open) {
            let details = match ticket.details {
                Some(details) => Some(details),
                None => client
                    .get::<Ticket>(&format!("Tickets/{}", ticket.id), &[])
                    .await?
                    .and_then(|t| t.details),
            };
            if details.is_some_and(|d| d.contains(&reference)) {
                return Ok(Some(ticket.id));
            }
        }
        Ok(None)
    }

    async fn open(
        &self,
        session: &Session,
        target: &OrgTarget,
        settings: &ProviderSettings,
        alert: &Alert,
    ) -> Result<i64, VendorError> {
        let (OrgTarget::Halopsa { customer_id, .. }, ProviderSettings::Halopsa(s)) =
            (target, settings)
        else {
            return Err(super::not_halo_target());
        };
        let mut record = json!({
            "client_id": customer_id,
            "tickettype_id": s.ticket_type_id,
            "sla_id": s.sla_id,
            "priority_id": s.priority_id,
            "summary": alert.title,
            "details": details(alert),
        });
        if let Some(status) = s.status_id {
            record["status_id"] = json!(status);
        }
        let created: Ticket = self
            .client(session)?
            .post("Tickets", record, Call::Create)
            .await?;
        Ok(created.id)
    }

    async fn add_note(
        &self,
        session: &Session,
        ticket_id: i64,
        alert: &Alert,
    ) -> Result<(), VendorError> {
        let note = if alert.description.is_empty() {
            alert.title.clone()
        } else {
            format!("{}\n\n{}", alert.title, alert.description)
        };
        self.client(session)?
            .post::<serde_json::Value>(
                "Actions",
                json!({
                    "ticket_id": ticket_id,
                    "outcome": "Private Note",
                    "note": note,
                    "hiddenfromuser": true,
                }),
                Call::Create,
            )
            .await
            .map(|_| ())
    }
}
