//! The demo database and the sandbox's write operations.

use axum::{http::StatusCode, response::Response};
use serde_json::{Value, json};
use time::{Date, Duration, OffsetDateTime};

use super::{State, errors, ok};

/// The demo API user's username (key).
pub const DEMO_USERNAME: &str = "api-demo@sandbox-msp.example";
/// The demo API user's secret.
pub const DEMO_SECRET: &str = "sandbox-secret-0F3kq8";
/// The integration code the sandbox accepts (27 characters, like a real one).
pub const DEMO_INTEGRATION_CODE: &str = "SANDBOXINTEGRATIONCODE00001";

/// The Autotask entities behind one mapped organization.
#[derive(Clone, Copy, Debug)]
pub struct OrgFixture {
    /// Companies id.
    pub company_id: i64,
    /// Recurring Service contract id.
    pub contract_id: i64,
    /// ContractServices id.
    pub contract_service_id: i64,
}

fn stamp(d: Date) -> String {
    format!("{d}T00:00:00")
}

/// The billing period (calendar month) containing today.
fn this_month() -> (Date, Date) {
    let today = OffsetDateTime::now_utc().date();
    let first = today.replace_day(1).expect("day 1 exists");
    let next = if first.month() == time::Month::December {
        Date::from_calendar_date(first.year() + 1, time::Month::January, 1)
    } else {
        Date::from_calendar_date(first.year(), first.month().next(), 1)
    }
    .expect("valid date");
    (first, next - Duration::days(1))
}

impl State {
    /// Adds a Service.
    pub fn add_service(&mut self, name: &str, active: bool) -> i64 {
        let id = self.next_id();
        self.insert(
            "Services",
            json!({"id": id, "name": name, "isActive": active, "periodType": 2, "unitPrice": 4.5}),
        )
    }

    /// Adds a company with a Recurring Service contract selling `service_id` with `units`
    /// units this month.
    pub fn add_recurring_org(&mut self, name: &str, service_id: i64, units: i64) -> OrgFixture {
        let company_id = self.next_id();
        self.insert(
            "Companies",
            json!({"id": company_id, "companyName": name, "companyType": 1, "isActive": true}),
        );
        let contract_id = self.next_id();
        self.insert("Contracts", json!({
            "id": contract_id, "companyID": company_id, "contractName": format!("{name} Managed Services"),
            "contractType": 7, "status": 1,
        }));
        let contract_service_id = self.add_contract_service(contract_id, service_id, units);
        OrgFixture {
            company_id,
            contract_id,
            contract_service_id,
        }
    }

    /// Adds a contract service with `units` this month.
    pub fn add_contract_service(&mut self, contract_id: i64, service_id: i64, units: i64) -> i64 {
        let id = self.next_id();
        self.insert(
            "ContractServices",
            json!({"id": id, "contractID": contract_id, "serviceID": service_id, "unitPrice": 4.5}),
        );
        let (start, end) = this_month();
        let row = self.next_id();
        self.insert("ContractServiceUnits", json!({
            "id": row, "contractID": contract_id, "contractServiceID": id, "serviceID": service_id,
            "startDate": stamp(start), "endDate": stamp(end), "units": units as f64, "price": 4.5,
        }));
        id
    }
}

/// See [`State::demo`].
pub fn demo() -> State {
    let mut s = State::empty();
    let per_seat = s.add_service("Managed Backup - Per Seat", true);
    s.add_service("Managed Backup - Server", true);
    s.add_service("Legacy Backup (retired)", false);
    s.add_recurring_org("Acme Dental", per_seat, 10);
    s.add_recurring_org("Globex Corporation", per_seat, 5);
    s.add_recurring_org("Initech LLC", per_seat, 0);
    let umbrella = s.next_id();
    s.insert("Companies", json!({"id": umbrella, "companyName": "Umbrella Corp", "companyType": 1, "isActive": false}));
    let break_fix = s.next_id();
    s.insert("Contracts", json!({"id": break_fix, "companyID": umbrella, "contractName": "Umbrella Break/Fix", "contractType": 1, "status": 1}));
    // A prospect (company type 2, Lead): not a customer, so imports leave it and its people out.
    let lead = s.next_id();
    s.insert(
        "Companies",
        json!({"id": lead, "companyName": "Hooli Prospects", "companyType": 2, "isActive": true}),
    );
    let companies: Vec<(i64, String)> = s.entities["Companies"]
        .values()
        .map(|c| {
            (
                c["id"].as_i64().unwrap(),
                c["companyName"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let people = [("Ana", "Ruiz"), ("Ben", "Okafor"), ("Chen", "Li")];
    for (company, name) in companies.clone() {
        let sites: &[&str] = if name.starts_with("Acme") {
            &["Main Office", "Lab"]
        } else {
            &["Head Office"]
        };
        for (i, site) in sites.iter().enumerate() {
            let id = s.next_id();
            s.insert("CompanyLocations", json!({
                "id": id, "companyID": company, "name": site, "isPrimary": i == 0, "isActive": true,
                "address1": format!("{} Main Street", 100 + id), "city": "Springfield", "postalCode": "01101",
            }));
        }
    }
    for (company, name) in companies {
        let domain: String = name.split_whitespace().next().unwrap_or("x").to_lowercase();
        let count = if name.starts_with("Acme") { 3 } else { 1 };
        for (first, last) in people.iter().take(count) {
            let id = s.next_id();
            s.insert(
                "Contacts",
                json!({
                    "id": id, "companyID": company, "firstName": first, "lastName": last,
                    "emailAddress": format!("{}@{domain}.example", first.to_lowercase()),
                    "isActive": 1, "primaryContact": *first == "Ana",
                }),
            );
        }
    }
    s
}

/// Ticket picklists as `Tickets/entityInformation/fields` returns them.
pub fn ticket_fields() -> Value {
    let list = |name: &str, values: &[(i64, &str)]| {
        json!({
            "name": name, "dataType": "integer", "isPickList": true, "isRequired": true,
            "picklistValues": values.iter().enumerate().map(|(i, (v, label))| json!({
                "value": v.to_string(), "label": label, "isDefaultValue": i == 0,
                "sortOrder": i, "isActive": true, "isSystem": true, "parentValue": null,
            })).collect::<Vec<_>>(),
        })
    };
    json!({ "fields": [
        list("ticketType", &[(1, "Service Request"), (2, "Incident"), (3, "Problem"), (4, "Change Request"), (5, "Alert")]),
        list("priority", &[(2, "Medium"), (1, "High"), (3, "Low"), (4, "Critical")]),
        list("queueID", &[(29_682_833, "Client Portal"), (29_683_481, "Post Sale"), (29_683_482, "Monitoring Alert")]),
        list("status", &[(1, "New"), (5, "Complete"), (7, "Waiting Customer"), (8, "In Progress")]),
        list("serviceLevelAgreementID", &[(1, "Standard SLA"), (2, "Premium SLA")]),
        {"name": "title", "dataType": "string", "isPickList": false, "isRequired": true},
    ]})
}

fn int(body: &Value, name: &str) -> Option<i64> {
    super::filter::field(body, name).and_then(|v| v.as_i64().or_else(|| v.as_str()?.parse().ok()))
}

/// `POST Contracts/{id}/ServiceAdjustments`: moves the units of the period containing the
/// effective date, splitting the period when the date falls inside it.
pub fn adjust(s: &mut State, contract_id: i64, body: &Value) -> Response {
    let fail = |m: &str| errors(StatusCode::INTERNAL_SERVER_ERROR, &[m]);
    let Some(contract) = s.entities["Contracts"].get(&contract_id).cloned() else {
        return fail("ContractID does not reference an existing contract.");
    };
    if contract["contractType"].as_i64() != Some(7) {
        return fail("Contract must be a Recurring Service contract.");
    }
    let cs_id = int(body, "contractServiceID").or_else(|| {
        let service = int(body, "serviceID")?;
        s.entities["ContractServices"]
            .values()
            .find(|r| {
                r["contractID"].as_i64() == Some(contract_id)
                    && r["serviceID"].as_i64() == Some(service)
            })
            .and_then(|r| r["id"].as_i64())
    });
    let Some(cs_id) = cs_id.filter(|id| {
        s.entities["ContractServices"]
            .get(id)
            .is_some_and(|r| r["contractID"].as_i64() == Some(contract_id))
    }) else {
        return fail(
            "Either contractServiceID, or contractID and serviceID, must reference a service of the contract.",
        );
    };
    let Some(change) = int(body, "unitChange") else {
        return fail("unitChange is required.; on record number [0].");
    };
    let Some(effective) = super::filter::field(body, "effectiveDate")
        .and_then(Value::as_str)
        .map(|d| d[..d.len().min(10)].to_owned())
    else {
        return fail("effectiveDate is required.; on record number [0].");
    };
    let Ok(effective_date) = Date::parse(
        &effective,
        time::macros::format_description!("[year]-[month]-[day]"),
    ) else {
        return fail("effectiveDate is not a valid date.");
    };
    let row = s.entities["ContractServiceUnits"]
        .iter()
        .find(|(_, r)| {
            r["contractServiceID"].as_i64() == Some(cs_id)
                && super::date(&r["startDate"]) <= effective.as_str()
                && effective.as_str() <= super::date(&r["endDate"])
        })
        .map(|(id, r)| (*id, r.clone()));
    let Some((row_id, row)) = row else {
        return fail("The effective date is outside the contract's billing periods.");
    };
    let units = row["units"].as_f64().unwrap_or(0.0) as i64 + change;
    if units < 0 {
        return fail("The adjustment would make the units negative.");
    }
    if super::date(&row["startDate"]) == effective {
        s.entities
            .get_mut("ContractServiceUnits")
            .expect("entity exists")
            .get_mut(&row_id)
            .expect("row exists")["units"] = json!(units as f64);
    } else {
        let mut before = row.clone();
        before["endDate"] = json!(stamp(effective_date - Duration::days(1)));
        s.entities
            .get_mut("ContractServiceUnits")
            .expect("entity exists")
            .insert(row_id, before);
        let id = s.next_id();
        let mut after = row;
        after["id"] = json!(id);
        after["startDate"] = json!(stamp(effective_date));
        after["units"] = json!(units as f64);
        s.insert("ContractServiceUnits", after);
    }
    let id = s.next_id();
    s.insert("ContractServiceAdjustments", json!({"id": id, "contractID": contract_id, "contractServiceID": cs_id, "unitChange": change, "effectiveDate": stamp(effective_date)}));
    s.writes += 1;
    ok(json!({ "itemId": id }))
}

/// `POST Tickets`, with Autotask's required fields.
pub fn create_ticket(s: &mut State, body: &Value) -> Response {
    let missing: Vec<String> = ["companyID", "title", "status", "priority", "dueDateTime"]
        .iter()
        .filter(|f| super::filter::field(body, f).is_none_or(Value::is_null))
        .map(|f| format!("{f} is required.; on record number [0]."))
        .collect();
    if let Some(first) = missing.first() {
        return errors(StatusCode::INTERNAL_SERVER_ERROR, &[first]);
    }
    if int(body, "queueID").is_none() {
        return errors(
            StatusCode::INTERNAL_SERVER_ERROR,
            &["AssignedResourceID, AssignedResourceRoleID, and QueueID cannot all be empty."],
        );
    }
    let company = int(body, "companyID").unwrap_or_default();
    if !s.entities["Companies"].contains_key(&company) {
        return errors(
            StatusCode::INTERNAL_SERVER_ERROR,
            &["companyID does not reference an existing company."],
        );
    }
    let id = s.next_id();
    let mut ticket = body.clone();
    ticket["id"] = json!(id);
    ticket["ticketNumber"] = json!(format!("T20261122.{:04}", id % 10_000));
    s.insert("Tickets", ticket);
    s.writes += 1;
    ok(json!({ "itemId": id }))
}

/// `POST Tickets/{id}/Notes`.
pub fn create_note(s: &mut State, ticket_id: i64, body: &Value) -> Response {
    if !s.entities["Tickets"].contains_key(&ticket_id) {
        return errors(
            StatusCode::INTERNAL_SERVER_ERROR,
            &["ticketID does not reference an existing ticket."],
        );
    }
    if super::filter::field(body, "description")
        .and_then(Value::as_str)
        .is_none_or(str::is_empty)
    {
        return errors(
            StatusCode::INTERNAL_SERVER_ERROR,
            &["description is required.; on record number [0]."],
        );
    }
    let id = s.next_id();
    let mut note = body.clone();
    note["id"] = json!(id);
    note["ticketID"] = json!(ticket_id);
    s.insert("TicketNotes", note);
    s.writes += 1;
    ok(json!({ "itemId": id }))
}
