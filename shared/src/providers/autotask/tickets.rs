//! Tickets for platform alerts: open one on the mapped company with the configured defaults,
//! add notes while it is open, find one whose create answer was lost by its external id.

use async_trait::async_trait;
use serde_json::json;
use time::{OffsetDateTime, format_description::well_known::Rfc3339};

use super::{AutotaskIntegration, complete_status, not_autotask, wire::Ticket};
use crate::{
    domain::{Alert, OrgTarget, ProviderSettings, ticket_reference},
    ports::{Session, TicketDesk, VendorError},
};

#[async_trait]
impl TicketDesk for AutotaskIntegration {
    async fn is_open(&self, session: &Session, ticket_id: i64) -> Result<bool, VendorError> {
        let complete = complete_status(&self.ticket_fields(session).await?);
        let ticket: Option<Ticket> = self
            .client(session)
            .await?
            .get("Tickets", ticket_id)
            .await?;
        Ok(ticket.is_some_and(|t| t.status != complete))
    }

    async fn find_open(
        &self,
        session: &Session,
        dedupe_key: &str,
    ) -> Result<Option<i64>, VendorError> {
        let complete = complete_status(&self.ticket_fields(session).await?);
        let filter = json!([
            {"op": "eq", "field": "externalID", "value": ticket_reference(dedupe_key)},
            {"op": "noteq", "field": "status", "value": complete},
        ]);
        let found: Vec<Ticket> = self
            .client(session)
            .await?
            .query_page("Tickets", filter, 1)
            .await?;
        Ok(found.first().map(|t| t.id))
    }

    async fn open(
        &self,
        session: &Session,
        target: &OrgTarget,
        settings: &ProviderSettings,
        alert: &Alert,
    ) -> Result<i64, VendorError> {
        let (
            OrgTarget::Autotask {
                company_id,
                contract_id,
                ..
            },
            ProviderSettings::Autotask(s),
        ) = (target, settings)
        else {
            return Err(not_autotask());
        };
        // Autotask requires a due date unless a ticket category supplies one: a day from now.
        let due = (OffsetDateTime::now_utc() + time::Duration::days(1))
            .replace_nanosecond(0)
            .expect("zero nanoseconds is valid")
            .format(&Rfc3339)
            .expect("formatting a date cannot fail");
        let body = json!({
            "companyID": company_id,
            "contractID": contract_id,
            "title": alert.title,
            "description": alert.description,
            "status": s.status,
            "priority": s.priority,
            "queueID": s.queue,
            "ticketType": s.ticket_type,
            "serviceLevelAgreementID": s.sla,
            "dueDateTime": due,
            "externalID": ticket_reference(&alert.dedupe_key),
        });
        self.client(session).await?.create("Tickets", &body).await
    }

    async fn add_note(
        &self,
        session: &Session,
        ticket_id: i64,
        alert: &Alert,
    ) -> Result<(), VendorError> {
        let body = json!({
            "ticketID": ticket_id,
            "title": alert.title,
            "description": if alert.description.is_empty() { &alert.title } else { &alert.description },
            "noteType": 1,
            "publish": 1,
        });
        self.client(session)
            .await?
            .create(&format!("Tickets/{ticket_id}/Notes"), &body)
            .await
            .map(|_| ())
    }
}
