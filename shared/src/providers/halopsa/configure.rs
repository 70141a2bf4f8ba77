//! The configuration form's live lists (ticket types, SLAs, the priorities of each SLA,
//! statuses), cached per connection, and checking a saved configuration against them.

use std::{
    collections::{HashMap, HashSet},
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use async_trait::async_trait;

use super::{
    HaloIntegration,
    wire::{Priority, Sla, Status, TicketType},
};
use crate::{
    domain::{FieldError, HaloSettings, ProviderSettings, TenantId},
    ports::{Choice, Configurator, Session, VendorError},
};

/// How long lists are trusted before they are read again.
const LIST_TTL: Duration = Duration::from_secs(15 * 60);

const LISTS: [&str; 4] = ["ticket_types", "slas", "priorities", "statuses"];

/// A list's choices and when they were read.
type Cached = (Instant, Arc<Vec<Choice>>);

/// Lists per connection.
#[derive(Default)]
pub struct ListCache(Mutex<HashMap<(TenantId, &'static str), Cached>>);

impl ListCache {
    fn get(&self, tenant: &TenantId, list: &'static str) -> Option<Arc<Vec<Choice>>> {
        let cache = self.0.lock().expect("list cache lock");
        let (at, choices) = cache.get(&(tenant.clone(), list))?;
        (at.elapsed() < LIST_TTL).then(|| choices.clone())
    }

    fn put(&self, tenant: &TenantId, list: &'static str, choices: Arc<Vec<Choice>>) {
        self.0
            .lock()
            .expect("list cache lock")
            .insert((tenant.clone(), list), (Instant::now(), choices));
    }

    /// Drops a connection's lists (after revoke or re-connect).
    pub fn forget(&self, tenant: &TenantId) {
        self.0
            .lock()
            .expect("list cache lock")
            .retain(|(t, _), _| t != tenant);
    }
}

fn choice(id: i64, label: String, parent: Option<i64>) -> Choice {
    Choice {
        id,
        label,
        is_default: false,
        parent,
    }
}

impl HaloIntegration {
    async fn list(&self, session: &Session, list: &str) -> Result<Arc<Vec<Choice>>, VendorError> {
        let list: &'static str = LISTS
            .into_iter()
            .find(|l| *l == list)
            .ok_or_else(|| VendorError::invalid("list", format!("unknown list {list:?}")))?;
        if let Some(cached) = self.lists.get(&session.tenant, list) {
            return Ok(cached);
        }
        let client = self.client(session)?;
        let choices: Vec<Choice> = match list {
            // A ticket type's parent is the SLA its tickets get by default, so the form can
            // offer that SLA's priorities.
            "ticket_types" => client
                .list::<TicketType>("TicketType", &[("showall", "true".into())])
                .await?
                .0
                .into_iter()
                .filter(|t| t.visible != Some(false))
                .map(|t| choice(t.id, t.name, t.default_sla))
                .collect(),
            "slas" => client
                .list::<Sla>("SLA", &[])
                .await?
                .0
                .into_iter()
                .map(|s| choice(s.id, s.name, None))
                .collect(),
            "priorities" => {
                let mut seen = HashSet::new();
                client
                    .list::<Priority>("Priority", &[])
                    .await?
                    .0
                    .into_iter()
                    .filter(|p| !p.ishidden && seen.insert((p.slaid, p.priorityid)))
                    .map(|p| choice(p.priorityid, p.name, p.slaid))
                    .collect()
            }
            _ => client
                .list::<Status>("Status", &[("excludeclosed", "true".into())])
                .await?
                .0
                .into_iter()
                .map(|s| choice(s.id, s.name, None))
                .collect(),
        };
        let choices = Arc::new(choices);
        self.lists.put(&session.tenant, list, choices.clone());
        Ok(choices)
    }
}

#[async_trait]
impl Configurator for HaloIntegration {
    fn lists(&self) -> &'static [&'static str] {
        &LISTS
    }

    async fn options(
        &self,
        session: &Session,
        list: &str,
        _parent: Option<i64>,
    ) -> Result<Vec<Choice>, VendorError> {
        Ok(self.list(session, list).await?.as_ref().clone())
    }

    async fn check(
        &self,
        session: &Session,
        settings: &ProviderSettings,
    ) -> Result<(), VendorError> {
        let ProviderSettings::Halopsa(s) = settings else {
            return Err(super::not_halo_target());
        };
        let HaloSettings {
            ticket_type_id,
            sla_id,
            priority_id,
            status_id,
            ..
        } = s;
        let (types, slas, priorities, statuses) = tokio::try_join!(
            self.list(session, "ticket_types"),
            self.list(session, "slas"),
            self.list(session, "priorities"),
            self.list(session, "statuses"),
        )?;
        let mut errors = Vec::new();
        let mut require =
            |field: &str, value: &Option<i64>, list: &[Choice], name: &str| match value {
                None => {
                    errors.push(FieldError::new(field, "is required"));
                    false
                }
                Some(v) if !list.iter().any(|c| c.id == *v) => {
                    errors.push(FieldError::new(
                        field,
                        format!("{v} is not an active {name} in HaloPSA"),
                    ));
                    false
                }
                Some(_) => true,
            };
        require("ticket_type_id", ticket_type_id, &types, "ticket type");
        let sla_ok = require("sla_id", sla_id, &slas, "SLA");
        if let (true, Some(sla), Some(priority)) = (sla_ok, sla_id, priority_id) {
            let of_sla: Vec<&Choice> = priorities
                .iter()
                .filter(|p| p.parent == Some(*sla))
                .collect();
            if !of_sla.iter().any(|p| p.id == *priority) {
                let offered: Vec<String> = of_sla
                    .iter()
                    .map(|p| format!("{} ({})", p.id, p.label))
                    .collect();
                errors.push(FieldError::new(
                    "priority_id",
                    format!(
                        "{priority} is not a priority of SLA {sla}; its priorities are: {}",
                        if offered.is_empty() {
                            "none".to_owned()
                        } else {
                            offered.join(", ")
                        }
                    ),
                ));
            }
        } else if priority_id.is_none() {
            errors.push(FieldError::new("priority_id", "is required"));
        }
        if let Some(status) = status_id
            && !statuses.iter().any(|c| c.id == *status)
        {
            errors.push(FieldError::new(
                "status_id",
                format!("{status} is not an open ticket status in HaloPSA"),
            ));
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(VendorError::Invalid {
                detail: "the configuration does not match HaloPSA's lists".into(),
                errors,
                vendor_message: None,
            })
        }
    }
}
