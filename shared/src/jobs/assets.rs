//! Asset import: the devices of every linked vendor organization, upserted by device id as
//! the linked platform organization's assets; devices gone from the vendor are marked removed.

use std::collections::HashMap;

use super::{JobError, runs, session};
use crate::{
    app::App,
    domain::{Asset, OrgId, OrgTarget, SyncRun, VendorDevice},
    ports::Session,
};

/// Imports the session's devices, counting on `run`: `changed` for inserts, updates and
/// removals, `unchanged` for devices that are as stored.
pub async fn import(app: &App, session: &Session, run: &mut SyncRun) -> Result<(), JobError> {
    let (tenant, provider) = (&session.tenant, session.connection.provider());
    let source = app
        .integrations
        .get(provider)
        .and_then(|i| i.asset_source())
        .ok_or_else(|| {
            JobError::Unsupported(format!(
                "{} has no assets to import",
                provider.display_name()
            ))
        })?;
    let links: Vec<(OrgId, i64)> = app
        .store
        .list_org_mappings(tenant, provider)
        .await?
        .into_iter()
        .filter_map(|m| match m.target {
            OrgTarget::Ninjaone { organization_id } => Some((m.org_id, organization_id)),
            _ => None,
        })
        .collect();
    if links.is_empty() {
        return Ok(());
    }
    let vendor_orgs: Vec<i64> = links.iter().map(|(_, v)| *v).collect();
    let devices = match source.devices(session, &vendor_orgs).await {
        Ok(d) => d,
        Err(e) => return Err(session::vendor_failed(app, session, e).await),
    };
    let mut by_org: HashMap<i64, Vec<VendorDevice>> = HashMap::new();
    for d in devices {
        by_org.entry(d.organization_id).or_default().push(d);
    }
    let now = app.clock.now();
    for (org, vendor_org) in links {
        let stored: HashMap<i64, Asset> = app
            .store
            .list_assets(tenant, provider, &org)
            .await?
            .into_iter()
            .map(|a| (a.device_id, a))
            .collect();
        let current = by_org
            .get(&vendor_org)
            .map(Vec::as_slice)
            .unwrap_or_default();
        for device in current {
            run.counts.total += 1;
            let asset = Asset {
                source: provider,
                device_id: device.device_id,
                org_id: org.clone(),
                organization_id: vendor_org,
                fields: device.fields.clone(),
                removed: false,
                updated_at: now,
            };
            let same = stored.get(&device.device_id).is_some_and(|s| {
                !s.removed && s.fields == asset.fields && s.organization_id == vendor_org
            });
            if same {
                run.counts.unchanged += 1;
            } else {
                app.store.put_asset(tenant, &asset).await?;
                run.counts.changed += 1;
            }
            run.counts.done += 1;
        }
        for gone in stored
            .into_values()
            .filter(|a| !a.removed && !current.iter().any(|d| d.device_id == a.device_id))
        {
            run.counts.total += 1;
            run.counts.done += 1;
            run.counts.changed += 1;
            let removed = Asset {
                removed: true,
                updated_at: now,
                ..gone
            };
            app.store.put_asset(tenant, &removed).await?;
        }
        runs::save(app, tenant, run).await?;
    }
    Ok(())
}
