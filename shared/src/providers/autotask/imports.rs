//! Imports (seed 004): the partner's customers (Companies of the chosen types) and their
//! contacts, locations, configuration items, tickets, opportunities and contracts: id-ordered
//! pages of 500 with only the fields kept, picklist values with their labels, and on later
//! passes only what changed since the last one (by the change stamps each entity has;
//! locations have none, so every pass reads them all: a few per customer). Deleted tickets
//! come from Autotask's deletion log.

use async_trait::async_trait;
use serde::Deserialize;
use serde_json::{Map, Value, json};
use time::{Duration, OffsetDateTime, PrimitiveDateTime, macros::format_description};

use super::{AutotaskIntegration, PAGE, complete_status, configure::picklist, naive};
use crate::{
    domain::{AssetFields, ImportKind, ImportedRecord, ProviderSettings},
    ports::{Deletions, ImportPage, ImportQuery, Importer, Session, VendorError, VendorRecord},
};

/// What "active" means for an entity.
#[derive(Clone, Copy)]
enum Active {
    /// A flag field (a boolean, or 0/1 on Contacts).
    Flag(&'static str),
    /// Not in the "Complete" ticket status.
    Open,
    /// In this status (1 is "Active" for opportunities and contracts).
    Status(i64),
}

/// How one kind is read: the entity, the field naming its company, what makes it active, the
/// change stamps, the fields kept, and the picklist fields among them that get labels.
struct Entity {
    name: &'static str,
    company_field: &'static str,
    active: Active,
    stamps: &'static [&'static str],
    fields: &'static [&'static str],
    labelled: &'static [&'static str],
}

const CUSTOMERS: Entity = Entity {
    name: "Companies",
    company_field: "id",
    active: Active::Flag("isActive"),
    // Activity (a note, a ticket) does not move the tracked stamp: either counts as a change.
    stamps: &["lastTrackedModifiedDateTime", "lastActivityDate"],
    fields: &[
        "companyName",
        "companyType",
        "companyNumber",
        "phone",
        "webAddress",
        "city",
        "state",
        "countryID",
    ],
    labelled: &["companyType"],
};

const CONTACTS: Entity = Entity {
    name: "Contacts",
    company_field: "companyID",
    // An integer 0/1 on Contacts, a boolean elsewhere.
    active: Active::Flag("isActive"),
    stamps: &["lastModifiedDate", "lastActivityDate"],
    fields: &[
        "firstName",
        "lastName",
        "title",
        "emailAddress",
        "phone",
        "mobilePhone",
        "primaryContact",
    ],
    labelled: &[],
};

const LOCATIONS: Entity = Entity {
    name: "CompanyLocations",
    company_field: "companyID",
    active: Active::Flag("isActive"),
    stamps: &[],
    fields: &[
        "name",
        "isPrimary",
        "address1",
        "address2",
        "city",
        "state",
        "postalCode",
        "countryID",
        "phone",
    ],
    labelled: &[],
};

const ASSETS: Entity = Entity {
    name: "ConfigurationItems",
    company_field: "companyID",
    active: Active::Flag("isActive"),
    stamps: &["lastModifiedTime"],
    fields: &[
        "referenceTitle",
        "referenceNumber",
        "serialNumber",
        "configurationItemType",
        "productID",
        "companyLocationID",
        "installDate",
        "warrantyExpirationDate",
        "rmmDeviceUID",
    ],
    labelled: &["configurationItemType"],
};

const TICKETS: Entity = Entity {
    name: "Tickets",
    company_field: "companyID",
    active: Active::Open,
    stamps: &["lastTrackedModificationDateTime", "lastActivityDate"],
    fields: &[
        "ticketNumber",
        "title",
        "status",
        "priority",
        "queueID",
        "ticketType",
        "createDate",
        "completedDate",
        "dueDateTime",
        "assignedResourceID",
    ],
    labelled: &["status", "priority", "queueID", "ticketType"],
};

const OPPORTUNITIES: Entity = Entity {
    name: "Opportunities",
    company_field: "companyID",
    active: Active::Status(1),
    stamps: &["lastActivity"],
    fields: &[
        "title",
        "stage",
        "status",
        "amount",
        "probability",
        "projectedCloseDate",
        "ownerResourceID",
        "createDate",
    ],
    labelled: &["stage", "status"],
};

const AGREEMENTS: Entity = Entity {
    name: "Contracts",
    company_field: "companyID",
    active: Active::Status(1),
    // Not in the 2020 specification; read live by a peer's mirror.
    stamps: &["lastModifiedDateTime"],
    fields: &[
        "contractName",
        "contractNumber",
        "contractType",
        "contractCategory",
        "status",
        "startDate",
        "endDate",
    ],
    labelled: &["contractType", "contractCategory", "status"],
};

fn entity(kind: ImportKind) -> &'static Entity {
    match kind {
        ImportKind::Customers => &CUSTOMERS,
        ImportKind::Contacts => &CONTACTS,
        ImportKind::Locations => &LOCATIONS,
        ImportKind::Assets => &ASSETS,
        ImportKind::Tickets => &TICKETS,
        ImportKind::Opportunities => &OPPORTUNITIES,
        ImportKind::Agreements => &AGREEMENTS,
    }
}

/// `DeletedTicketLogs`.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct DeletedTicket {
    id: i64,
    #[serde(rename = "ticketID")]
    ticket_id: i64,
}

/// A picklist field's labels by value.
type Labels = Vec<(&'static str, Vec<(i64, String)>)>;

#[async_trait]
impl Importer for AutotaskIntegration {
    fn import_kinds(&self) -> &'static [ImportKind] {
        &ImportKind::ALL
    }

    fn pages_in_flight(&self) -> usize {
        self.options.per_endpoint
    }

    async fn import_page(
        &self,
        session: &Session,
        query: &ImportQuery<'_>,
    ) -> Result<ImportPage, VendorError> {
        let ProviderSettings::Autotask(settings) = query.settings else {
            return Err(super::not_autotask());
        };
        let entity = entity(query.kind);
        let metadata = if entity.labelled.is_empty() {
            None
        } else {
            Some(self.entity_fields(session, entity.name).await?)
        };
        let labels: Labels = entity
            .labelled
            .iter()
            .map(|field| {
                let values = metadata
                    .as_deref()
                    .map(|m| picklist(m, field, true))
                    .unwrap_or_default();
                (
                    *field,
                    values.into_iter().map(|c| (c.id, c.label)).collect(),
                )
            })
            .collect();
        let complete = metadata.as_deref().map_or(5, |m| complete_status(m));
        let in_list =
            |field: &str, values: &[i64]| json!({"op": "in", "field": field, "value": values});
        let mut filter = Vec::new();
        match (query.kind, query.companies) {
            (ImportKind::Customers, _) => {
                filter.push(in_list("companyType", &settings.customer_types));
            }
            (_, Some([])) => return Ok(ImportPage::default()),
            (_, Some(companies)) => filter.push(in_list("companyID", companies)),
            (_, None) => {}
        }
        match query.kind {
            ImportKind::Assets if !settings.asset_types.is_empty() => {
                filter.push(in_list("configurationItemType", &settings.asset_types));
            }
            ImportKind::Tickets => {
                // The open ones, and the others created or changed within the window.
                let window =
                    naive(query.now - Duration::days(i64::from(settings.ticket_history_days)));
                filter.push(json!({"op": "or", "items": [
                    {"op": "noteq", "field": "status", "value": complete},
                    {"op": "gte", "field": "createDate", "value": window},
                    {"op": "gte", "field": "lastTrackedModificationDateTime", "value": window},
                ]}));
            }
            ImportKind::Opportunities => {
                filter.push(in_list("status", &settings.opportunity_statuses));
            }
            ImportKind::Agreements => {
                if !settings.contract_types.is_empty() {
                    filter.push(in_list("contractType", &settings.contract_types));
                }
                if !settings.contract_categories.is_empty() {
                    filter.push(in_list("contractCategory", &settings.contract_categories));
                }
            }
            _ => {}
        }
        if let Some(since) = query.since.filter(|_| !entity.stamps.is_empty()) {
            let since = naive(since);
            let changed: Vec<Value> = entity
                .stamps
                .iter()
                .map(|stamp| json!({"op": "gte", "field": stamp, "value": since}))
                .collect();
            filter.push(json!({"op": "or", "items": changed}));
        }
        // Every page asks for ids after the last one: Autotask answers in id order.
        filter.push(json!({"op": "gt", "field": "id", "value": query.after.unwrap_or(0)}));
        let mut include = vec!["id", entity.company_field];
        if let Active::Flag(flag) = entity.active {
            include.push(flag);
        }
        include.extend(entity.stamps);
        include.extend(entity.fields);
        include.sort_unstable();
        include.dedup();
        let (rows, more): (Vec<Map<String, Value>>, bool) = self
            .client(session)
            .await?
            .query_page_of(entity.name, Value::Array(filter), PAGE, &include)
            .await?;
        let records = rows
            .into_iter()
            .filter_map(|row| record(entity, row, &labels, complete))
            .collect();
        Ok(ImportPage { records, more })
    }

    fn as_asset(&self, record: &ImportedRecord) -> Option<AssetFields> {
        if record.kind != ImportKind::Assets {
            return None;
        }
        let text = |f: &str| record.fields.get(f).and_then(Value::as_str);
        // Dates come as midnight stamps; the platform's asset fields are plain dates.
        let date = |f: &str| text(f).map(|d| d.chars().take(10).collect());
        Some(AssetFields {
            serial_number: text("serialNumber").map(str::to_owned),
            name: text("referenceTitle").map(str::to_owned),
            warranty_expire: date("warrantyExpirationDate"),
            details: String::new(),
            type_id: record.fields.get("configurationItemType").and_then(number),
            storage: None,
            location_name: None,
            manufacturer: None,
            model_number: None,
            os: None,
            purchase_date: date("installDate"),
            processor_model: None,
            replace_date: None,
        })
    }

    async fn deletions(
        &self,
        session: &Session,
        kind: ImportKind,
        position: Option<i64>,
    ) -> Result<Option<Deletions>, VendorError> {
        if kind != ImportKind::Tickets {
            return Ok(None);
        }
        let filter = json!([{"op": "gt", "field": "id", "value": position.unwrap_or(0)}]);
        let read = self
            .client(session)
            .await?
            .query_page_of::<DeletedTicket>("DeletedTicketLogs", filter, PAGE, &["id", "ticketID"])
            .await;
        match read {
            Ok((rows, more)) => Ok(Some(Deletions {
                position: rows.iter().map(|r| r.id).max().or(position),
                ids: rows.iter().map(|r| r.ticket_id).collect(),
                more,
            })),
            // The log needs admin-level access the API user may lack: the weekly full pass
            // then finds deleted tickets instead.
            Err(VendorError::Refused { vendor_message })
            | Err(VendorError::PermissionDenied {
                vendor_message: Some(vendor_message),
                ..
            }) => {
                tracing::warn!(vendor_message = %vendor_message, "Autotask's deleted ticket log is not readable; deleted tickets go at the weekly full pass");
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }
}

/// A row as a record: its id, company, active flag and newest stamp, and the fields kept,
/// each picklist value followed by its label (`status` 8, `statusLabel` "In Progress").
fn record(
    entity: &Entity,
    row: Map<String, Value>,
    labels: &Labels,
    complete: i64,
) -> Option<VendorRecord> {
    let id = row.get("id")?.as_i64()?;
    let company_id = row.get(entity.company_field)?.as_i64()?;
    let status = row.get("status").and_then(number);
    let active = match entity.active {
        Active::Flag(flag) => match row.get(flag) {
            Some(Value::Bool(b)) => *b,
            Some(Value::Number(n)) => n.as_i64() != Some(0),
            _ => true,
        },
        Active::Open => status != Some(complete),
        Active::Status(active) => status == Some(active),
    };
    let modified_at = entity
        .stamps
        .iter()
        .filter_map(|s| row.get(*s).and_then(Value::as_str).and_then(parse_stamp))
        .max();
    let mut fields = Map::new();
    for field in entity.fields {
        let Some(value) = row.get(*field) else {
            continue;
        };
        // Without "View Protected Data" Autotask masks values; a mask is not a value.
        if value.as_str() == Some("*****") {
            continue;
        }
        fields.insert((*field).to_owned(), value.clone());
        let label = labels
            .iter()
            .find(|(f, _)| f == field)
            .and_then(|(_, values)| {
                let v = number(value)?;
                values
                    .iter()
                    .find(|(id, _)| *id == v)
                    .map(|(_, l)| l.clone())
            });
        if let Some(label) = label {
            fields.insert(format!("{field}Label"), Value::String(label));
        }
    }
    Some(VendorRecord {
        id,
        company_id,
        active,
        modified_at,
        fields,
    })
}

/// A picklist value as a number (Autotask sends some as strings).
fn number(value: &Value) -> Option<i64> {
    value
        .as_i64()
        .or_else(|| value.as_str().and_then(|s| s.trim().parse().ok()))
}

/// Autotask's stamps: UTC, with or without fractions or a `Z`.
fn parse_stamp(text: &str) -> Option<OffsetDateTime> {
    let text = text.trim_end_matches('Z');
    let whole = text.split('.').next()?;
    PrimitiveDateTime::parse(
        whole,
        format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]"),
    )
    .ok()
    .map(PrimitiveDateTime::assume_utc)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stamps_parse_in_every_form_autotask_sends() {
        for text in [
            "2016-03-30T13:10:35.563",
            "2016-03-30T13:10:35",
            "2016-03-30T13:10:35.000Z",
        ] {
            assert_eq!(
                parse_stamp(text).map(|t| t.unix_timestamp()),
                Some(1_459_343_435),
                "{text}"
            );
        }
        assert_eq!(parse_stamp("yesterday"), None);
    }

    #[test]
    fn rows_become_records_with_the_newest_stamp_and_the_kept_fields() {
        let row = json!({"id": 7, "companyID": 1004, "isActive": 0, "firstName": "Ana",
            "lastModifiedDate": "2026-01-01T00:00:00", "lastActivityDate": "2026-02-01T00:00:00.5",
            "secretField": "not kept"});
        let record = record(&CONTACTS, row.as_object().unwrap().clone(), &Vec::new(), 5).unwrap();
        assert_eq!(
            (record.id, record.company_id, record.active),
            (7, 1004, false)
        );
        assert_eq!(record.modified_at, parse_stamp("2026-02-01T00:00:00"));
        assert_eq!(record.fields.len(), 1);
    }

    #[test]
    fn picklist_values_get_their_labels_and_tickets_are_active_until_complete() {
        let labels: Labels = vec![(
            "status",
            vec![(5, "Complete".into()), (8, "In Progress".into())],
        )];
        let row = |status: i64| {
            json!({"id": 9, "companyID": 1004, "status": status, "title": "Printer",
                "serialNumber": "*****"})
            .as_object()
            .unwrap()
            .clone()
        };
        let open = record(&TICKETS, row(8), &labels, 5).unwrap();
        assert!(open.active);
        assert_eq!(open.fields["statusLabel"], "In Progress");
        assert!(!record(&TICKETS, row(5), &labels, 5).unwrap().active);
        let masked = record(&ASSETS, row(1), &Vec::new(), 5).unwrap();
        assert!(!masked.fields.contains_key("serialNumber"));
    }
}
