//! Seat sync: units through ContractServiceAdjustments (a signed delta that cannot be read
//! back), so the current units are read first and the intent journaled before the write.

use std::collections::HashMap;

use async_trait::async_trait;
use serde_json::json;

use super::{AutotaskIntegration, naive, not_autotask, today, wire::ContractServiceUnit};
use crate::{
    domain::OrgTarget,
    ports::{SeatSync, Session, VendorError},
};

/// Runs smaller than this skip the threshold check: it would be a tenth of their calls.
const PREFLIGHT_FROM: usize = 50;

#[async_trait]
impl SeatSync for AutotaskIntegration {
    async fn preflight(
        &self,
        session: &Session,
        planned_calls: usize,
    ) -> Result<usize, VendorError> {
        if planned_calls < PREFLIGHT_FROM {
            return Ok(self.options.per_endpoint);
        }
        // The database's 10,000 an hour are shared with the partner's other tools: slow down
        // when they are busy, and do not start a run that would push the database over.
        let t = self.client(session).await?.threshold().await?;
        let limit = t.external_request_threshold.max(1);
        let after = t.current_timeframe_request_count + planned_calls as u64;
        if after * 10 > limit * 9 {
            return Err(VendorError::Throttled {
                detail: format!(
                    "Autotask's hourly threshold for this database is at {} of {limit}; this run needs about {planned_calls} calls, so it waits",
                    t.current_timeframe_request_count
                ),
                retry_after_secs: 600,
            });
        }
        Ok(if after * 4 > limit * 3 {
            1
        } else {
            self.options.per_endpoint
        })
    }

    async fn current_seats(
        &self,
        session: &Session,
        targets: &[OrgTarget],
    ) -> Result<Vec<Option<u32>>, VendorError> {
        let ids: Vec<i64> = targets
            .iter()
            .filter_map(|t| match t {
                OrgTarget::Autotask {
                    contract_service_id,
                    ..
                } => *contract_service_id,
                _ => None,
            })
            .collect();
        let day = today();
        let (start_of_day, end_of_day) = (naive(day), naive(day + time::Duration::seconds(86_399)));
        let rows: Vec<ContractServiceUnit> = self
            .client(session)
            .await?
            .query_in(
                "ContractServiceUnits",
                "contractServiceID",
                &ids,
                &[
                    json!({"op": "lte", "field": "startDate", "value": end_of_day}),
                    json!({"op": "gte", "field": "endDate", "value": start_of_day}),
                ],
            )
            .await?;
        // An adjustment within a period splits it; the row that started last is today's.
        let mut current: HashMap<i64, (String, f64)> = HashMap::new();
        for row in rows {
            let entry = current
                .entry(row.contract_service_id)
                .or_insert_with(|| (row.start_date.clone(), row.units));
            if row.start_date >= entry.0 {
                *entry = (row.start_date, row.units);
            }
        }
        Ok(targets
            .iter()
            .map(|t| match t {
                OrgTarget::Autotask {
                    contract_service_id,
                    ..
                } => contract_service_id
                    .and_then(|id| current.get(&id))
                    .map(|(_, units)| units.round().max(0.0) as u32),
                _ => None,
            })
            .collect())
    }

    async fn set_seats(
        &self,
        session: &Session,
        target: &OrgTarget,
        current: u32,
        wanted: u32,
    ) -> Result<(), VendorError> {
        let OrgTarget::Autotask {
            contract_id: Some(contract_id),
            contract_service_id: Some(contract_service_id),
            ..
        } = *target
        else {
            return Err(not_autotask());
        };
        let delta = i64::from(wanted) - i64::from(current);
        if delta == 0 {
            return Ok(());
        }
        let body = json!({
            "contractID": contract_id,
            "contractServiceID": contract_service_id,
            "effectiveDate": naive(today()),
            "unitChange": delta,
        });
        self.client(session)
            .await?
            .create(
                &format!("Contracts/{contract_id}/ServiceAdjustments"),
                &body,
            )
            .await
            .map(|_| ())
    }
}
