//! Tickets for platform alerts: one ticket per open alert on the mapped company with the
//! configured board, status, type, priority and source; repeats as internal notes. Our
//! reference rides in `externalXRef`, so a retry finds a ticket whose create answer was lost.
//! A ticket is closed by its `closedFlag` or by a status of its board that closes tickets.

use async_trait::async_trait;
use serde_json::{Value, json};

use super::{
    ConnectwiseIntegration,
    map::link_of,
    wire::{self, Ticket},
};
use crate::{
    domain::OrgTarget,
    domain::{Alert, ProviderSettings, ticket_reference},
    ports::{Session, TicketDesk, VendorError},
    providers::http::Call,
};

/// ConnectWise's longest summary.
const MAX_SUMMARY: usize = 100;
const TICKET_FIELDS: &str = "id,closedFlag,status/id,board/id,externalXRef";

/// Text for a JSON body: ConnectWise does not take control characters (line breaks included)
/// in JSON strings, so they become spaces.
fn plain(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

impl ConnectwiseIntegration {
    /// Whether a ticket read from ConnectWise is still open.
    async fn open_now(&self, session: &Session, ticket: &Ticket) -> Result<bool, VendorError> {
        if ticket.closed_flag.unwrap_or(false) {
            return Ok(false);
        }
        let (Some(board), Some(status)) = (
            ticket.board.as_ref().and_then(|b| b.id),
            ticket.status.as_ref().and_then(|s| s.id),
        ) else {
            return Ok(true);
        };
        let statuses = self.entries(session, "statuses", Some(board)).await?;
        Ok(!statuses.iter().any(|e| e.choice.id == status && e.closed))
    }
}

#[async_trait]
impl TicketDesk for ConnectwiseIntegration {
    async fn is_open(&self, session: &Session, ticket_id: i64) -> Result<bool, VendorError> {
        let ticket: Option<Ticket> = self
            .client(session)
            .await?
            .get(
                &format!("service/tickets/{ticket_id}"),
                &[("fields", TICKET_FIELDS.to_owned())],
            )
            .await?;
        match ticket {
            None => Ok(false),
            Some(t) => self.open_now(session, &t).await,
        }
    }

    async fn find_open(
        &self,
        session: &Session,
        dedupe_key: &str,
    ) -> Result<Option<i64>, VendorError> {
        let reference = ticket_reference(dedupe_key);
        let quoted = wire::quoted(&reference).expect("references are hex");
        let (tickets, _) = self
            .client(session)
            .await?
            .page::<Ticket>(
                "service/tickets",
                &[
                    (
                        "conditions",
                        format!("externalXRef={quoted} and closedFlag=false"),
                    ),
                    ("fields", TICKET_FIELDS.to_owned()),
                ],
                1,
                5,
            )
            .await?;
        for ticket in tickets {
            if ticket.external_x_ref.as_deref() == Some(reference.as_str())
                && self.open_now(session, &ticket).await?
            {
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
        let (Some((company_id, ..)), ProviderSettings::Connectwise(s)) =
            (link_of(target), settings)
        else {
            return Err(super::not_connectwise_target());
        };
        let reference = ticket_reference(&alert.dedupe_key);
        let summary: String = plain(&alert.title).chars().take(MAX_SUMMARY).collect();
        let description = if alert.description.is_empty() {
            format!("Reference: {reference}")
        } else {
            format!("{} Reference: {reference}", plain(&alert.description))
        };
        let reference_to = |id: Option<i64>| id.map(|id| json!({ "id": id }));
        let mut record = json!({
            "summary": summary,
            "company": {"id": company_id},
            "board": reference_to(s.board_id),
            "status": reference_to(s.status_id),
            "priority": reference_to(s.priority_id),
            "externalXRef": reference,
            "initialDescription": description,
        });
        if let Some(t) = reference_to(s.type_id) {
            record["type"] = t;
        }
        if let Some(src) = reference_to(s.source_id) {
            record["source"] = src;
        }
        let created: Ticket = self
            .client(session)
            .await?
            .post("service/tickets", &record, Call::Create)
            .await?;
        Ok(created.id)
    }

    async fn add_note(
        &self,
        session: &Session,
        ticket_id: i64,
        alert: &Alert,
    ) -> Result<(), VendorError> {
        let text = if alert.description.is_empty() {
            plain(&alert.title)
        } else {
            format!("{} {}", plain(&alert.title), plain(&alert.description))
        };
        // An internal note: it says the alert happened again without mailing the customer.
        self.client(session)
            .await?
            .post::<Value>(
                &format!("service/tickets/{ticket_id}/notes"),
                &json!({
                    "text": text,
                    "internalAnalysisFlag": true,
                    "detailDescriptionFlag": false,
                    "resolutionFlag": false,
                    "processNotifications": false,
                }),
                Call::Create,
            )
            .await
            .map(|_| ())
    }
}
