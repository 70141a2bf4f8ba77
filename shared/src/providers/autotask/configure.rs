//! The configuration form: ticket defaults from Autotask's live picklists, each value checked
//! against them.

use async_trait::async_trait;

use super::{AutotaskIntegration, not_autotask, wire::FieldInfo};
use crate::{
    domain::{AutotaskSettings, FieldError, ProviderSettings},
    ports::{Choice, Configurator, Session, VendorError},
};

/// The lists `options/{list}` serves and the ticket field behind each.
const LISTS: [(&str, &str); 5] = [
    ("ticket_types", "ticketType"),
    ("slas", "serviceLevelAgreementID"),
    ("priorities", "priority"),
    ("queues", "queueID"),
    ("statuses", "status"),
];

pub(super) fn choices(fields: &[FieldInfo], field: &str) -> Vec<Choice> {
    fields
        .iter()
        .find(|f| f.name.eq_ignore_ascii_case(field))
        .and_then(|f| f.picklist_values.as_ref())
        .map(|values| {
            values
                .iter()
                .filter(|v| v.is_active)
                .filter_map(|v| {
                    Some(Choice {
                        id: v.value.trim().parse().ok()?,
                        label: v.label.clone(),
                        is_default: v.is_default_value,
                        parent: v.parent_value.as_deref().and_then(|p| p.parse().ok()),
                    })
                })
                .collect()
        })
        .unwrap_or_default()
}

#[async_trait]
impl Configurator for AutotaskIntegration {
    fn lists(&self) -> &'static [&'static str] {
        &["ticket_types", "slas", "priorities", "queues", "statuses"]
    }

    async fn options(&self, session: &Session, list: &str) -> Result<Vec<Choice>, VendorError> {
        let (_, field) = LISTS
            .iter()
            .find(|(name, _)| *name == list)
            .ok_or_else(|| VendorError::invalid("list", format!("unknown list {list:?}")))?;
        Ok(choices(&self.ticket_fields(session).await?, field))
    }

    async fn check(
        &self,
        session: &Session,
        settings: &ProviderSettings,
    ) -> Result<(), VendorError> {
        let ProviderSettings::Autotask(s) = settings else {
            return Err(not_autotask());
        };
        let fields = self.ticket_fields(session).await?;
        let AutotaskSettings {
            ticket_type,
            sla,
            priority,
            queue,
            status,
            ..
        } = s;
        let mut errors = Vec::new();
        for ((name, field), value) in LISTS
            .iter()
            .zip([ticket_type, sla, priority, queue, status])
        {
            let form_field = match *name {
                "ticket_types" => "ticket_type",
                "slas" => "sla",
                "priorities" => "priority",
                "queues" => "queue",
                _ => "status",
            };
            match value {
                // Absent ones are all absent (the shape check saw to it): no ticket defaults.
                None => {}
                Some(v) if !choices(&fields, field).iter().any(|c| c.id == *v) => {
                    errors.push(FieldError::new(
                        form_field,
                        format!("{v} is not an active choice in Autotask ({name})"),
                    ))
                }
                Some(_) => {}
            }
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(VendorError::Invalid {
                detail: "the configuration does not match Autotask's picklists".into(),
                errors,
                vendor_message: None,
            })
        }
    }
}
