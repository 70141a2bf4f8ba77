//! What the partner chose on the configuration form of each provider.
//!
//! Shapes are checked here; whether a chosen value exists in the vendor's live picklists is the
//! provider's job, since only the vendor knows.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::{
    DEFAULT_CUSTOMER_TYPES, FieldError, ImportKind, Provider, validation::check_vendor_id,
};

/// Autotask: seat sync, the defaults of tickets opened for platform alerts (seed 000), and the
/// defaults of imports and opportunities (seed 004).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
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
    /// "Default Opportunity Assignee": an active resource that is not an API user.
    #[serde(default)]
    pub opportunity_owner: Option<i64>,
    /// "Default Opportunity Stage" (`Opportunities.stage` picklist).
    #[serde(default)]
    pub opportunity_stage: Option<i64>,
    /// "Default Account Filter": the company types imported as customers.
    #[serde(default = "default_customer_types")]
    pub customer_types: Vec<i64>,
    /// "Default Import Opportunity Status": the statuses of opportunities imported.
    #[serde(default = "default_opportunity_statuses")]
    pub opportunity_statuses: Vec<i64>,
    /// Contract types of agreements imported; empty = all.
    #[serde(default)]
    pub contract_types: Vec<i64>,
    /// Contract categories of agreements imported; empty = all.
    #[serde(default)]
    pub contract_categories: Vec<i64>,
    /// Configuration item types imported as assets; empty = "Import All".
    #[serde(default)]
    pub asset_types: Vec<i64>,
    /// Whose assets the platform's organizations show.
    #[serde(default)]
    pub primary_asset_source: AssetSourceChoice,
    /// Tickets imported besides the open ones: those created or changed within these days.
    #[serde(default = "default_ticket_history_days")]
    pub ticket_history_days: u32,
    /// The imports every scheduled run repeats.
    #[serde(default)]
    pub scheduled_imports: Vec<ImportKind>,
}

/// Where a platform organization's assets come from when more than one vendor has them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AssetSourceChoice {
    /// Autotask's configuration items.
    #[default]
    Autotask,
    /// NinjaOne's devices (only when NinjaOne is connected).
    Ninjaone,
}

/// The "Active" opportunity status, imported until the partner chooses.
pub const DEFAULT_OPPORTUNITY_STATUSES: [i64; 1] = [1];
/// Days of closed-ticket history imported until the partner chooses.
pub const DEFAULT_TICKET_HISTORY_DAYS: u32 = 90;
/// The longest ticket history a partner may ask for (ten years).
pub const MAX_TICKET_HISTORY_DAYS: u32 = 3_650;

fn default_customer_types() -> Vec<i64> {
    DEFAULT_CUSTOMER_TYPES.to_vec()
}

fn default_opportunity_statuses() -> Vec<i64> {
    DEFAULT_OPPORTUNITY_STATUSES.to_vec()
}

fn default_ticket_history_days() -> u32 {
    DEFAULT_TICKET_HISTORY_DAYS
}

impl Default for AutotaskSettings {
    fn default() -> Self {
        Self {
            sync_seat_quantity: false,
            ticket_type: None,
            sla: None,
            priority: None,
            queue: None,
            status: None,
            opportunity_owner: None,
            opportunity_stage: None,
            customer_types: default_customer_types(),
            opportunity_statuses: default_opportunity_statuses(),
            contract_types: Vec::new(),
            contract_categories: Vec::new(),
            asset_types: Vec::new(),
            primary_asset_source: AssetSourceChoice::default(),
            ticket_history_days: DEFAULT_TICKET_HISTORY_DAYS,
            scheduled_imports: Vec::new(),
        }
    }
}

impl AutotaskSettings {
    /// Whether opportunities from the platform can be created: owner and stage are chosen.
    pub fn opportunities_ready(&self) -> bool {
        self.opportunity_owner.is_some() && self.opportunity_stage.is_some()
    }
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

/// ConnectWise PSA: seat sync and the defaults of tickets opened for platform alerts. Statuses
/// and types belong to a board.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConnectwiseSettings {
    /// "Sync seat quantity".
    #[serde(default)]
    pub sync_seat_quantity: bool,
    /// Service board id.
    #[serde(default)]
    pub board_id: Option<i64>,
    /// Status id, one of the board's statuses.
    #[serde(default)]
    pub status_id: Option<i64>,
    /// Ticket type id, one of the board's types (optional).
    #[serde(default)]
    pub type_id: Option<i64>,
    /// Priority id.
    #[serde(default)]
    pub priority_id: Option<i64>,
    /// Ticket source id (optional).
    #[serde(default)]
    pub source_id: Option<i64>,
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
    /// ConnectWise PSA settings.
    Connectwise(ConnectwiseSettings),
}

impl ProviderSettings {
    /// The provider these settings are for.
    pub fn provider(&self) -> Provider {
        match self {
            ProviderSettings::Autotask(_) => Provider::Autotask,
            ProviderSettings::Halopsa(_) => Provider::Halopsa,
            ProviderSettings::Ninjaone(_) => Provider::Ninjaone,
            ProviderSettings::Connectwise(_) => Provider::Connectwise,
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
                check_vendor_id("opportunity_owner", s.opportunity_owner, &mut errors);
                check_vendor_id("opportunity_stage", s.opportunity_stage, &mut errors);
                // Opportunity status 0 is "Not Ready To Buy": picklist values may be 0.
                for (field, values, may_be_empty, lowest) in [
                    ("customer_types", &s.customer_types, false, 1),
                    ("opportunity_statuses", &s.opportunity_statuses, false, 0),
                    ("contract_types", &s.contract_types, true, 1),
                    ("contract_categories", &s.contract_categories, true, 1),
                    ("asset_types", &s.asset_types, true, 1),
                ] {
                    check_id_list(field, values, may_be_empty, lowest, &mut errors);
                }
                if s.ticket_history_days > MAX_TICKET_HISTORY_DAYS {
                    errors.push(FieldError::new(
                        "ticket_history_days",
                        format!("must be at most {MAX_TICKET_HISTORY_DAYS}"),
                    ));
                }
                let mut kinds = s.scheduled_imports.clone();
                kinds.sort();
                kinds.dedup();
                if kinds.len() != s.scheduled_imports.len() {
                    errors.push(FieldError::new(
                        "scheduled_imports",
                        "names a kind more than once",
                    ));
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
            ProviderSettings::Connectwise(s) => {
                let optional = [("type_id", s.type_id), ("source_id", s.source_id)];
                let required = [
                    ("board_id", s.board_id),
                    ("status_id", s.status_id),
                    ("priority_id", s.priority_id),
                ];
                for (field, value) in required.iter().chain(&optional) {
                    check_vendor_id(field, *value, &mut errors);
                }
                // A partner who only syncs seats saves no ticket defaults; any of them needs
                // the board, its status and a priority, or ConnectWise would pick its own.
                if required.iter().chain(&optional).any(|(_, v)| v.is_some()) {
                    for (field, value) in required {
                        if value.is_none() {
                            errors.push(FieldError::new(
                                field,
                                "is required with the other ticket defaults (board_id, status_id and priority_id come together)",
                            ));
                        }
                    }
                }
            }
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors)
        }
    }

    /// The other providers these settings rely on being connected, by the field that does
    /// (Autotask's `primary_asset_source: ninjaone` shows NinjaOne's devices).
    pub fn relies_on(&self) -> Vec<(&'static str, Provider)> {
        match self {
            ProviderSettings::Autotask(s)
                if s.primary_asset_source == AssetSourceChoice::Ninjaone =>
            {
                vec![("primary_asset_source", Provider::Ninjaone)]
            }
            _ => Vec::new(),
        }
    }

    /// Whose assets the platform's organizations show, when the partner chose.
    pub fn primary_asset_source(&self) -> Option<Provider> {
        match self {
            ProviderSettings::Autotask(s) => Some(match s.primary_asset_source {
                AssetSourceChoice::Autotask => Provider::Autotask,
                AssetSourceChoice::Ninjaone => Provider::Ninjaone,
            }),
            _ => None,
        }
    }

    /// The imports every scheduled run repeats.
    pub fn scheduled_imports(&self) -> &[ImportKind] {
        match self {
            ProviderSettings::Autotask(s) => &s.scheduled_imports,
            _ => &[],
        }
    }

    /// The settings a provider has before the partner saves any.
    pub fn defaults(provider: Provider) -> Self {
        match provider {
            Provider::Autotask => ProviderSettings::Autotask(AutotaskSettings::default()),
            Provider::Halopsa => ProviderSettings::Halopsa(HaloSettings::default()),
            Provider::Ninjaone => ProviderSettings::Ninjaone(NinjaSettings::default()),
            Provider::Connectwise => ProviderSettings::Connectwise(ConnectwiseSettings::default()),
        }
    }

    /// Whether the partner turned on "sync seat quantity".
    pub fn sync_seats(&self) -> bool {
        match self {
            ProviderSettings::Autotask(s) => s.sync_seat_quantity,
            ProviderSettings::Halopsa(s) => s.sync_seat_quantity,
            ProviderSettings::Connectwise(s) => s.sync_seat_quantity,
            ProviderSettings::Ninjaone(_) => false,
        }
    }

    /// Whether everything an opportunity from the platform needs has been chosen.
    pub fn opportunities_ready(&self) -> bool {
        match self {
            ProviderSettings::Autotask(s) => s.opportunities_ready(),
            _ => false,
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
            ProviderSettings::Connectwise(s) => {
                s.board_id.is_some() && s.status_id.is_some() && s.priority_id.is_some()
            }
            ProviderSettings::Ninjaone(_) => false,
        }
    }
}

/// A list of vendor values: none below `lowest`, none twice, and not empty unless empty
/// means "all".
fn check_id_list(
    field: &str,
    values: &[i64],
    may_be_empty: bool,
    lowest: i64,
    errors: &mut Vec<FieldError>,
) {
    if values.is_empty() && !may_be_empty {
        errors.push(FieldError::new(field, "choose at least one"));
    }
    for (i, value) in values.iter().enumerate() {
        if *value < lowest {
            errors.push(FieldError::new(
                format!("{field}[{i}]"),
                format!("must be at least {lowest}"),
            ));
        }
        if values[..i].contains(value) {
            errors.push(FieldError::new(
                format!("{field}[{i}]"),
                format!("{value} is listed twice"),
            ));
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
