//! Opportunities from the platform (seed 004): created on the linked company with the
//! configured owner and stage, an active status and every field Autotask requires; found
//! again by our reference when a create's answer was lost (opportunities have no external
//! id, so the reference rides in the description).

use async_trait::async_trait;
use serde::Deserialize;
use serde_json::{Value, json};
use time::{Duration, OffsetDateTime};

use super::{AutotaskIntegration, configure::choices, naive, not_autotask, today};
use crate::{
    domain::{OpportunityRequest, OrgTarget, ProviderSettings, ticket_reference},
    ports::{OpportunityDesk, Session, VendorError},
};

/// The status Autotask calls "Active" (1 where the label is not found).
const ACTIVE: i64 = 1;
/// Days to the projected close when the platform gives none.
const DEFAULT_CLOSE_IN_DAYS: i64 = 30;
/// Probability sent with a new opportunity (Autotask requires one).
const PROBABILITY: i64 = 50;

#[derive(Deserialize)]
struct Opportunity {
    id: i64,
    #[serde(default)]
    status: Option<Value>,
}

impl AutotaskIntegration {
    /// The database's "Active" opportunity status.
    async fn active_status(&self, session: &Session) -> Result<i64, VendorError> {
        Ok(choices(
            &self.entity_fields(session, "Opportunities").await?,
            "status",
        )
        .into_iter()
        .find(|c| c.label.eq_ignore_ascii_case("active"))
        .map_or(ACTIVE, |c| c.id))
    }
}

/// The line that carries our reference in the description.
fn reference_line(request: &OpportunityRequest) -> String {
    format!(
        "Raised by the platform, reference {}",
        ticket_reference(&request.dedupe_key)
    )
}

#[async_trait]
impl OpportunityDesk for AutotaskIntegration {
    async fn is_open(&self, session: &Session, opportunity_id: i64) -> Result<bool, VendorError> {
        let active = self.active_status(session).await?;
        let found: Option<Opportunity> = self
            .client(session)
            .await?
            .get("Opportunities", opportunity_id)
            .await?;
        Ok(found.is_some_and(|o| {
            o.status
                .as_ref()
                .and_then(|s| s.as_i64().or_else(|| s.as_str()?.parse().ok()))
                == Some(active)
        }))
    }

    async fn find_open(
        &self,
        session: &Session,
        target: &OrgTarget,
        request: &OpportunityRequest,
    ) -> Result<Option<i64>, VendorError> {
        let active = self.active_status(session).await?;
        let filter = json!([
            {"op": "eq", "field": "companyID", "value": target.company_id()},
            {"op": "eq", "field": "status", "value": active},
            {"op": "contains", "field": "description", "value": ticket_reference(&request.dedupe_key)},
        ]);
        let found: Vec<Opportunity> = self
            .client(session)
            .await?
            .query_page("Opportunities", filter, 1)
            .await?;
        Ok(found.first().map(|o| o.id))
    }

    async fn create(
        &self,
        session: &Session,
        target: &OrgTarget,
        settings: &ProviderSettings,
        request: &OpportunityRequest,
    ) -> Result<i64, VendorError> {
        let (OrgTarget::Autotask { company_id, .. }, ProviderSettings::Autotask(s)) =
            (target, settings)
        else {
            return Err(not_autotask());
        };
        let start = today();
        let close = request.close_date().map_or_else(
            || start + Duration::days(DEFAULT_CLOSE_IN_DAYS),
            |d| OffsetDateTime::new_utc(d, time::Time::MIDNIGHT),
        );
        let description = match &request.description {
            Some(text) if !text.trim().is_empty() => {
                format!("{text}\n\n{}", reference_line(request))
            }
            _ => reference_line(request),
        };
        let amount = request.amount.unwrap_or(0.0);
        let body = json!({
            "companyID": company_id,
            "title": request.title,
            "description": description,
            "ownerResourceID": s.opportunity_owner,
            "stage": s.opportunity_stage,
            "status": self.active_status(session).await?,
            "probability": PROBABILITY,
            "amount": amount,
            "cost": 0,
            "projectedCloseDate": naive(close),
            "startDate": naive(start),
            "useQuoteTotals": false,
        });
        self.client(session)
            .await?
            .create("Opportunities", &body)
            .await
    }
}
