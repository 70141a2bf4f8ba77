//! Seat sync: a licence's `count` is an absolute quantity, so a write simply sets it, and
//! repeating a write changes nothing.

use async_trait::async_trait;
use serde_json::json;

use super::{HaloIntegration, map::read_many, wire::Licence};
use crate::{
    domain::OrgTarget,
    ports::{SeatSync, Session, VendorError},
    providers::http::Call,
};

fn licence_of(target: &OrgTarget) -> Option<(i64, i64)> {
    match *target {
        OrgTarget::Halopsa {
            customer_id,
            licence_id,
        } => Some((customer_id, licence_id)),
        _ => None,
    }
}

#[async_trait]
impl SeatSync for HaloIntegration {
    async fn preflight(
        &self,
        _session: &Session,
        _planned_calls: usize,
    ) -> Result<usize, VendorError> {
        // The rolling-window budget paces the run; this bounds what is in flight.
        Ok(self.options.concurrency)
    }

    async fn current_seats(
        &self,
        session: &Session,
        targets: &[OrgTarget],
    ) -> Result<Vec<Option<u32>>, VendorError> {
        let ids: Vec<i64> = targets.iter().filter_map(licence_of).map(|t| t.1).collect();
        let client = self.client(session)?;
        let licences =
            read_many::<Licence>(&client, "SoftwareLicence", &ids, self.options.concurrency)
                .await?;
        Ok(targets
            .iter()
            .map(|t| {
                let (customer, licence) = licence_of(t)?;
                let l = licences.get(&licence)?;
                (l.usable() && l.client_id == Some(customer))
                    .then(|| l.count.unwrap_or(0).clamp(0, i64::from(u32::MAX)) as u32)
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
        let (customer_id, licence_id) = licence_of(target).ok_or_else(super::not_halo_target)?;
        if current == wanted {
            return Ok(());
        }
        let saved: Licence = self
            .client(session)?
            .post(
                "SoftwareLicence",
                json!({"id": licence_id, "client_id": customer_id, "count": wanted}),
                Call::IdempotentWrite,
            )
            .await?;
        if saved.count != Some(i64::from(wanted)) {
            return Err(VendorError::Refused {
                vendor_message: format!(
                    "HaloPSA saved software licence {licence_id} with count {} instead of {wanted}",
                    saved.count.map_or("none".to_owned(), |c| c.to_string())
                ),
            });
        }
        Ok(())
    }
}
