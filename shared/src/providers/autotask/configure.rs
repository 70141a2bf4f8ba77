//! The configuration form: ticket defaults (seed 000) and import and opportunity defaults
//! (seed 004) from Autotask's live picklists and reference entities, each value checked
//! against them.

use async_trait::async_trait;
use serde::Deserialize;
use serde_json::json;

use super::{AutotaskIntegration, not_autotask, wire::FieldInfo};
use crate::{
    domain::{AutotaskSettings, FieldError, ProviderSettings},
    ports::{Choice, Configurator, Session, VendorError},
};

/// Where an option list comes from.
#[derive(Clone, Copy)]
enum Source {
    /// A picklist field of an entity.
    Picklist(&'static str, &'static str),
    /// Active resources that may own records (not API users).
    Owners,
}

/// The lists `options/{list}` serves, where each comes from, and the form field it fills.
const LISTS: [(&str, Source, &str); 12] = [
    (
        "ticket_types",
        Source::Picklist("Tickets", "ticketType"),
        "ticket_type",
    ),
    (
        "slas",
        Source::Picklist("Tickets", "serviceLevelAgreementID"),
        "sla",
    ),
    (
        "priorities",
        Source::Picklist("Tickets", "priority"),
        "priority",
    ),
    ("queues", Source::Picklist("Tickets", "queueID"), "queue"),
    ("statuses", Source::Picklist("Tickets", "status"), "status"),
    ("resources", Source::Owners, "opportunity_owner"),
    (
        "opportunity_stages",
        Source::Picklist("Opportunities", "stage"),
        "opportunity_stage",
    ),
    (
        "company_types",
        Source::Picklist("Companies", "companyType"),
        "customer_types",
    ),
    (
        "opportunity_statuses",
        Source::Picklist("Opportunities", "status"),
        "opportunity_statuses",
    ),
    (
        "contract_types",
        Source::Picklist("Contracts", "contractType"),
        "contract_types",
    ),
    (
        "contract_categories",
        Source::Picklist("Contracts", "contractCategory"),
        "contract_categories",
    ),
    (
        "asset_types",
        Source::Picklist("ConfigurationItems", "configurationItemType"),
        "asset_types",
    ),
];

/// The active choices of a picklist field.
pub(super) fn choices(fields: &[FieldInfo], field: &str) -> Vec<Choice> {
    picklist(fields, field, false)
}

/// A picklist field's values; inactive ones too when `all` (labels of old records).
pub(super) fn picklist(fields: &[FieldInfo], field: &str, all: bool) -> Vec<Choice> {
    fields
        .iter()
        .find(|f| f.name.eq_ignore_ascii_case(field))
        .and_then(|f| f.picklist_values.as_ref())
        .map(|values| {
            values
                .iter()
                .filter(|v| all || v.is_active)
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

/// `Resources`, the fields that tell who may own an opportunity.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Resource {
    id: i64,
    #[serde(default)]
    first_name: String,
    #[serde(default)]
    last_name: String,
    #[serde(default)]
    user_name: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    license_type: Option<serde_json::Value>,
}

impl AutotaskIntegration {
    /// The choices of one list.
    async fn list(&self, session: &Session, source: Source) -> Result<Vec<Choice>, VendorError> {
        match source {
            Source::Picklist(entity, field) => {
                Ok(choices(&self.entity_fields(session, entity).await?, field))
            }
            Source::Owners => self.owners(session).await,
        }
    }

    /// Active resources that are not API users: Autotask refuses an API user as an owner.
    /// Which license type marks an API user differs between readings of the documentation,
    /// so both count: a license type labelled as an API one, and the connection's own user.
    async fn owners(&self, session: &Session) -> Result<Vec<Choice>, VendorError> {
        let licenses = picklist(
            &self.entity_fields(session, "Resources").await?,
            "licenseType",
            true,
        );
        let api_licenses: Vec<i64> = licenses
            .iter()
            .filter(|l| l.label.to_ascii_lowercase().contains("api"))
            .map(|l| l.id)
            .collect();
        let ours = self.username(session).unwrap_or_default();
        let resources: Vec<Resource> = self
            .client(session)
            .await?
            .query(
                "Resources",
                json!([{"op": "eq", "field": "isActive", "value": true}]),
            )
            .await?;
        Ok(resources
            .into_iter()
            .filter(|r| {
                let license = r.license_type.as_ref().and_then(|v| {
                    v.as_i64()
                        .or_else(|| v.as_str().and_then(|s| s.trim().parse().ok()))
                });
                let is_ours = !ours.is_empty()
                    && (r.user_name.eq_ignore_ascii_case(&ours)
                        || r.email.eq_ignore_ascii_case(&ours));
                !license.is_some_and(|l| api_licenses.contains(&l)) && !is_ours
            })
            .map(|r| Choice {
                id: r.id,
                label: format!("{} {}", r.first_name, r.last_name)
                    .trim()
                    .to_owned(),
                is_default: false,
                parent: None,
            })
            .collect())
    }
}

/// What the form chose for a list's field: one value (none when unset), or a list.
enum Chosen<'a> {
    One(Option<i64>),
    Many(&'a [i64]),
}

impl Chosen<'_> {
    /// Each value chosen, with the path naming it in a refusal.
    fn values(&self, field: &str) -> Vec<(String, i64)> {
        match self {
            Chosen::One(v) => v.iter().map(|v| (field.to_owned(), *v)).collect(),
            Chosen::Many(vs) => vs
                .iter()
                .enumerate()
                .map(|(i, v)| (format!("{field}[{i}]"), *v))
                .collect(),
        }
    }
}

fn chosen<'a>(s: &'a AutotaskSettings, field: &str) -> Chosen<'a> {
    match field {
        "ticket_type" => Chosen::One(s.ticket_type),
        "sla" => Chosen::One(s.sla),
        "priority" => Chosen::One(s.priority),
        "queue" => Chosen::One(s.queue),
        "status" => Chosen::One(s.status),
        "opportunity_owner" => Chosen::One(s.opportunity_owner),
        "opportunity_stage" => Chosen::One(s.opportunity_stage),
        "customer_types" => Chosen::Many(&s.customer_types),
        "opportunity_statuses" => Chosen::Many(&s.opportunity_statuses),
        "contract_types" => Chosen::Many(&s.contract_types),
        "contract_categories" => Chosen::Many(&s.contract_categories),
        _ => Chosen::Many(&s.asset_types),
    }
}

/// The names of [`LISTS`], as `options/{list}` serves them.
static LIST_NAMES: std::sync::LazyLock<Vec<&'static str>> =
    std::sync::LazyLock::new(|| LISTS.iter().map(|(name, ..)| *name).collect());

#[async_trait]
impl Configurator for AutotaskIntegration {
    fn lists(&self) -> &'static [&'static str] {
        &LIST_NAMES
    }

    async fn options(
        &self,
        session: &Session,
        list: &str,
        _parent: Option<i64>,
    ) -> Result<Vec<Choice>, VendorError> {
        let (_, source, _) = LISTS
            .iter()
            .find(|(name, ..)| *name == list)
            .ok_or_else(|| VendorError::invalid("list", format!("unknown list {list:?}")))?;
        self.list(session, *source).await
    }

    async fn check(
        &self,
        session: &Session,
        settings: &ProviderSettings,
    ) -> Result<(), VendorError> {
        let ProviderSettings::Autotask(s) = settings else {
            return Err(not_autotask());
        };
        let mut errors = Vec::new();
        for (name, source, field) in LISTS {
            let values = chosen(s, field).values(field);
            // Unset ones are not asked about: no call for a list the partner left alone.
            if values.is_empty() {
                continue;
            }
            let offered = self.list(session, source).await?;
            for (at, value) in values {
                if offered.iter().any(|c| c.id == value) {
                    continue;
                }
                let why = match source {
                    Source::Owners => format!(
                        "{value} is not an active resource that may own opportunities (API users and inactive resources may not; see options/{name})"
                    ),
                    _ => format!("{value} is not an active choice in Autotask ({name})"),
                };
                errors.push(FieldError::new(at, why));
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
