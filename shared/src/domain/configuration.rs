//! What the partner chose on the configuration form of each provider.
//!
//! Shapes are checked here; whether a chosen value exists in the vendor's live picklists is the
//! provider's job, since only the vendor knows.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::{FieldError, Provider, validation::check_vendor_id};

/// Autotask: seat sync and the defaults of tickets opened for platform alerts (seed 000).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AutotaskSettings {
    /// "Sync seat quantity to PSA".
    #[serde(default)]
    pub sync_seat_quantity: bool,
    /// Ticket type picklist value.
    pub ticket_type: Option<i64>,
    /// Service level agreement picklist value.
    pub sla: Option<i64>,
    /// Priority picklist value.
    pub priority: Option<i64>,
    /// Queue picklist value.
    pub queue: Option<i64>,
    /// Status picklist value for new tickets.
    pub status: Option<i64>,
}

/// HaloPSA: seat sync and ticket defaults (seed 001). Priorities belong to the chosen SLA.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HaloSettings {
    /// "Sync seat quantity".
    #[serde(default)]
    pub sync_seat_quantity: bool,
    /// Ticket type id.
    pub ticket_type_id: Option<i64>,
    /// SLA id.
    pub sla_id: Option<i64>,
    /// Priority id, one of the chosen SLA's priorities.
    pub priority_id: Option<i64>,
    /// Status id for new tickets.
    pub status_id: Option<i64>,
}

/// NinjaOne: what the scheduled import brings in (seed 003).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NinjaSettings {
    /// Import devices of linked organizations as assets on every scheduled run.
    #[serde(default = "default_true")]
    pub import_assets: bool,
}

fn default_true() -> bool {
    true
}

impl Default for NinjaSettings {
    fn default() -> Self {
        Self {
            import_assets: true,
        }
    }
}

/// The settings of one provider, tagged with the provider so a stored item says what it is.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "provider", rename_all = "lowercase")]
pub enum ProviderSettings {
    /// Autotask settings.
    Autotask(AutotaskSettings),
    /// HaloPSA settings.
    Halopsa(HaloSettings),
    /// NinjaOne settings.
    Ninjaone(NinjaSettings),
}

impl ProviderSettings {
    /// The provider these settings are for.
    pub fn provider(&self) -> Provider {
        match self {
            ProviderSettings::Autotask(_) => Provider::Autotask,
            ProviderSettings::Halopsa(_) => Provider::Halopsa,
            ProviderSettings::Ninjaone(_) => Provider::Ninjaone,
        }
    }

    /// Checks the shape: every id that is set is a plausible vendor id, and the fields a ticket
    /// needs come together (a priority without its SLA means nothing in Halo).
    pub fn validate(&self) -> Result<(), Vec<FieldError>> {
        let mut errors = Vec::new();
        match self {
            ProviderSettings::Autotask(s) => {
                let ticket_fields = [
                    ("ticket_type", s.ticket_type),
                    ("sla", s.sla),
                    ("priority", s.priority),
                    ("queue", s.queue),
                    ("status", s.status),
                ];
                for (field, value) in ticket_fields {
                    check_vendor_id(field, value, &mut errors);
                }
                // All five or none: a partner who only syncs seats or imports saves no ticket
                // defaults; half of them would open tickets Autotask refuses.
                if ticket_fields.iter().any(|(_, v)| v.is_some()) {
                    for (field, value) in ticket_fields {
                        if value.is_none() {
                            errors.push(FieldError::new(
                                field,
                                "is required with the other ticket defaults (ticket_type, sla, priority, queue and status come together)",
                            ));
                        }
                    }
                }
            }
            ProviderSettings::Halopsa(s) => {
                for (field, value) in [
                    ("ticket_type_id", s.ticket_type_id),
                    ("sla_id", s.sla_id),
                    ("priority_id", s.priority_id),
                    ("status_id", s.status_id),
                ] {
                    check_vendor_id(field, value, &mut errors);
                }
                if s.priority_id.is_some() && s.sla_id.is_none() {
                    errors.push(FieldError::new(
                        "sla_id",
                        "is required with priority_id: Halo priorities belong to an SLA",
                    ));
                }
            }
            ProviderSettings::Ninjaone(_) => {}
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors)
        }
    }

    /// Whether the partner turned on "sync seat quantity".
    pub fn sync_seats(&self) -> bool {
        match self {
            ProviderSettings::Autotask(s) => s.sync_seat_quantity,
            ProviderSettings::Halopsa(s) => s.sync_seat_quantity,
            ProviderSettings::Ninjaone(_) => false,
        }
    }

    /// Whether everything a ticket for a platform alert needs has been chosen.
    pub fn tickets_ready(&self) -> bool {
        match self {
            ProviderSettings::Autotask(s) => {
                s.ticket_type.is_some()
                    && s.priority.is_some()
                    && s.queue.is_some()
                    && s.status.is_some()
            }
            ProviderSettings::Halopsa(s) => s.ticket_type_id.is_some() && s.priority_id.is_some(),
            ProviderSettings::Ninjaone(_) => false,
        }
    }
}

/// A provider's stored configuration.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Configuration {
    /// The partner's choices.
    pub settings: ProviderSettings,
    /// When they were last saved.
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
    /// Optimistic-concurrency version, set by the store.
    #[serde(default)]
    pub version: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn halo_priority_needs_its_sla() {
        let s = ProviderSettings::Halopsa(HaloSettings {
            priority_id: Some(3),
            ..Default::default()
        });
        let errors = s.validate().unwrap_err();
        assert_eq!(errors[0].field, "sla_id");
    }

    #[test]
    fn ids_must_be_positive() {
        let s = ProviderSettings::Autotask(AutotaskSettings {
            queue: Some(0),
            ..Default::default()
        });
        assert_eq!(s.validate().unwrap_err()[0].field, "queue");
    }

    #[test]
    fn autotask_ticket_defaults_come_all_or_none() {
        let none = ProviderSettings::Autotask(AutotaskSettings {
            sync_seat_quantity: true,
            ..Default::default()
        });
        assert_eq!(none.validate(), Ok(()));
        let some = ProviderSettings::Autotask(AutotaskSettings {
            queue: Some(29_683_482),
            priority: Some(1),
            ..Default::default()
        });
        let fields: Vec<String> = some
            .validate()
            .unwrap_err()
            .into_iter()
            .map(|e| e.field)
            .collect();
        assert_eq!(fields, ["ticket_type", "sla", "status"]);
    }

    #[test]
    fn tagged_by_provider() {
        let s = ProviderSettings::Ninjaone(NinjaSettings::default());
        let json = serde_json::to_value(&s).unwrap();
        assert_eq!(json["provider"], "ninjaone");
        assert_eq!(s.provider(), Provider::Ninjaone);
    }
}
