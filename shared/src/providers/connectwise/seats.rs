//! Seat sync: an addition's `quantity` is absolute, so a write is a JSON Patch `replace` of it,
//! and repeating a write changes nothing. Additions are read once per distinct agreement.

use async_trait::async_trait;
use serde_json::json;

use super::{
    ConnectwiseIntegration,
    map::{additions_of, link_of},
    wire::Addition,
};
use crate::{
    domain::OrgTarget,
    ports::{SeatSync, Session, VendorError},
};

#[async_trait]
impl SeatSync for ConnectwiseIntegration {
    async fn preflight(
        &self,
        _session: &Session,
        _planned_calls: usize,
    ) -> Result<usize, VendorError> {
        // The rolling-minute budget paces the run; this bounds what is in flight.
        Ok(self.options.concurrency)
    }

    async fn current_seats(
        &self,
        session: &Session,
        targets: &[OrgTarget],
    ) -> Result<Vec<Option<u32>>, VendorError> {
        let links: Vec<(i64, i64, i64)> = targets.iter().filter_map(link_of).collect();
        let client = self.client(session).await?;
        let additions =
            additions_of(&client, links.iter().map(|l| l.1), self.options.concurrency).await?;
        Ok(targets
            .iter()
            .map(|t| {
                let (_, agreement, addition) = link_of(t)?;
                let a = additions.get(&(agreement, addition))?;
                a.usable().then(|| a.seats())
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
        let (_, agreement, addition) = link_of(target).ok_or_else(super::not_connectwise_target)?;
        if current == wanted {
            return Ok(());
        }
        let saved: Addition = self
            .client(session)
            .await?
            .patch(
                &format!("finance/agreements/{agreement}/additions/{addition}"),
                &[("quantity", json!(wanted))],
            )
            .await?;
        if saved.seats() != wanted {
            return Err(VendorError::Refused {
                vendor_message: format!(
                    "ConnectWise saved addition {addition} with quantity {} instead of {wanted}",
                    saved.quantity.map_or("none".to_owned(), |q| q.to_string())
                ),
            });
        }
        Ok(())
    }
}
