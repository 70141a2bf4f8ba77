//! Imports (seed 004): the partner's customers (Companies of the chosen types), their contacts
//! and locations, id-ordered pages of 500 with only the fields kept, and on later passes only
//! what changed since the last one (by the change stamps each entity has; locations have none,
//! so every pass reads them all: a few per customer).

use async_trait::async_trait;
use serde_json::{Map, Value, json};
use time::{OffsetDateTime, PrimitiveDateTime, macros::format_description};

use super::{AutotaskIntegration, PAGE, naive};
use crate::{
    domain::ImportKind,
    ports::{ImportPage, ImportQuery, Importer, Session, VendorError, VendorRecord},
};

/// How one kind is read: the entity, the field naming its company, the active flag, the
/// change stamps, and the fields kept.
struct Entity {
    name: &'static str,
    company_field: &'static str,
    active_field: &'static str,
    stamps: &'static [&'static str],
    fields: &'static [&'static str],
}

const CUSTOMERS: Entity = Entity {
    name: "Companies",
    company_field: "id",
    active_field: "isActive",
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
};

const CONTACTS: Entity = Entity {
    name: "Contacts",
    company_field: "companyID",
    // An integer 0/1 on Contacts, a boolean elsewhere.
    active_field: "isActive",
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
};

const LOCATIONS: Entity = Entity {
    name: "CompanyLocations",
    company_field: "companyID",
    active_field: "isActive",
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
};

fn entity(kind: ImportKind) -> &'static Entity {
    match kind {
        ImportKind::Customers => &CUSTOMERS,
        ImportKind::Contacts => &CONTACTS,
        ImportKind::Locations => &LOCATIONS,
    }
}

#[async_trait]
impl Importer for AutotaskIntegration {
    fn import_kinds(&self) -> &'static [ImportKind] {
        &ImportKind::ALL
    }

    async fn import_page(
        &self,
        session: &Session,
        query: &ImportQuery<'_>,
    ) -> Result<ImportPage, VendorError> {
        let entity = entity(query.kind);
        let mut filter = Vec::new();
        match query.kind {
            ImportKind::Customers => filter
                .push(json!({"op": "in", "field": "companyType", "value": query.customer_types})),
            ImportKind::Contacts | ImportKind::Locations => {
                if query.companies.is_empty() {
                    return Ok(ImportPage::default());
                }
                filter.push(json!({"op": "in", "field": "companyID", "value": query.companies}));
            }
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
        let mut include = vec!["id", entity.company_field, entity.active_field];
        include.extend(entity.stamps);
        include.extend(entity.fields);
        include.dedup();
        let rows: Vec<Map<String, Value>> = self
            .client(session)
            .await?
            .query_page_of(entity.name, Value::Array(filter), PAGE, &include)
            .await?;
        let more = rows.len() == PAGE;
        let records = rows
            .into_iter()
            .filter_map(|row| record(entity, row))
            .collect();
        Ok(ImportPage { records, more })
    }
}

/// A row as a record: its id, company, active flag and newest stamp, and the fields kept.
fn record(entity: &Entity, row: Map<String, Value>) -> Option<VendorRecord> {
    let id = row.get("id")?.as_i64()?;
    let company_id = row.get(entity.company_field)?.as_i64()?;
    let active = match row.get(entity.active_field) {
        Some(Value::Bool(b)) => *b,
        Some(Value::Number(n)) => n.as_i64() != Some(0),
        _ => true,
    };
    let modified_at = entity
        .stamps
        .iter()
        .filter_map(|s| row.get(*s).and_then(Value::as_str).and_then(parse_stamp))
        .max();
    let fields = entity
        .fields
        .iter()
        .filter_map(|f| row.get(*f).map(|v| ((*f).to_owned(), v.clone())))
        .collect();
    Some(VendorRecord {
        id,
        company_id,
        active,
        modified_at,
        fields,
    })
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
        let record = record(&CONTACTS, row.as_object().unwrap().clone()).unwrap();
        assert_eq!(
            (record.id, record.company_id, record.active),
            (7, 1004, false)
        );
        assert_eq!(record.modified_at, parse_stamp("2026-02-01T00:00:00"));
        assert_eq!(record.fields.len(), 1);
    }
}
