//! The demo database and the sandbox's write operations.

use std::collections::HashMap;

use axum::{http::StatusCode, response::Response};
use serde_json::{Value, json};
use time::{Date, Duration, OffsetDateTime};

use super::{State, errors, ok, stamp_text};

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
            "contractType": 7, "contractCategory": 7, "status": 1,
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
    s.insert("Contracts", json!({"id": break_fix, "companyID": umbrella, "contractName": "Umbrella Break/Fix", "contractType": 1, "contractCategory": 3, "status": 1}));
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
    for (company, name) in companies.clone() {
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
    let owner = s.add_resources();
    for (company, name) in companies {
        let acme = name.starts_with("Acme");
        // Two workstations and a server each; Acme also a switch (type 3) and a printer of a
        // retired type (4).
        let mut assets = vec![(1, "WS-01"), (1, "WS-02"), (2, "SRV-01")];
        if acme {
            assets.extend([(3, "SW-CORE"), (4, "PRN-LOBBY")]);
        }
        for (kind, title) in assets {
            let id = s.next_id();
            s.insert("ConfigurationItems", json!({
                "id": id, "companyID": company, "configurationItemType": kind, "isActive": true,
                "referenceTitle": format!("{} {title}", name.split_whitespace().next().unwrap_or("")),
                "serialNumber": format!("SN{id}"), "warrantyExpirationDate": "2028-06-30T00:00:00",
                "installDate": "2025-01-15T00:00:00",
            }));
        }
        // An open ticket and one completed long ago; Acme also one completed last week.
        let open = s.next_id();
        s.insert("Tickets", json!({"id": open, "companyID": company, "title": format!("{name}: VPN drops"), "status": 8, "priority": 2, "queueID": 29_682_833, "ticketType": 2, "ticketNumber": format!("T20260301.{:04}", open % 10_000)}));
        let old = s.next_id();
        s.insert("Tickets", json!({"id": old, "companyID": company, "title": format!("{name}: new laptop"), "status": 5, "priority": 3, "queueID": 29_682_833, "ticketType": 1, "ticketNumber": format!("T20260102.{:04}", old % 10_000)}));
        if acme {
            let recent = s.next_id();
            let week_ago = stamp_text(OffsetDateTime::now_utc() - Duration::days(7));
            s.insert("Tickets", json!({"id": recent, "companyID": company, "title": "Acme Dental: printer jam", "status": 5, "priority": 2, "queueID": 29_682_833, "ticketType": 1, "ticketNumber": format!("T20261129.{:04}", recent % 10_000), "createDate": week_ago, "lastTrackedModificationDateTime": week_ago, "lastActivityDate": week_ago}));
        }
        // An active opportunity each; Acme also a lost one.
        let mut opportunities = vec![(1, "Backup expansion")];
        if acme {
            opportunities.push((2, "Phone system"));
        }
        for (status, title) in opportunities {
            let id = s.next_id();
            s.insert("Opportunities", json!({
                "id": id, "companyID": company, "title": format!("{name}: {title}"), "status": status,
                "stage": 29_682_770, "amount": 4800.0, "probability": 50, "ownerResourceID": owner,
                "projectedCloseDate": "2027-01-31T00:00:00", "createDate": "2026-10-01T00:00:00",
            }));
        }
        if acme {
            let block = s.next_id();
            s.insert("Contracts", json!({"id": block, "companyID": company, "contractName": "Acme Software Block Hours", "contractType": 4, "contractCategory": 16, "status": 1}));
        }
    }
    s
}

/// How much a database for imports holds: per customer, of each kind.
#[derive(Clone, Copy, Debug)]
pub struct Volumes {
    /// Customers (a lead is added per ten).
    pub customers: usize,
    /// Contacts per customer.
    pub contacts: usize,
    /// Locations per customer.
    pub locations: usize,
    /// Configuration items per customer.
    pub assets: usize,
    /// Tickets per customer (open ones; the history window keeps them all).
    pub tickets: usize,
    /// Opportunities per customer (active).
    pub opportunities: usize,
    /// Contracts per customer.
    pub agreements: usize,
}

impl State {
    /// The resources of the demo database: two who may own opportunities, an inactive one,
    /// our API user and another integration's; returns the first (Pamela Pierce).
    pub fn add_resources(&mut self) -> i64 {
        let first_id = self.next_id + 1;
        for (first, last, active, license, user) in [
            ("Pamela", "Pierce", true, 1, "pamela.pierce"),
            ("Sam", "Lee", true, 2, "sam.lee"),
            ("Olga", "Old", false, 2, "olga.old"),
            ("API", "Demo", true, 7, DEMO_USERNAME),
            ("Integration", "Bot", true, 7, "bot@vendor.example"),
        ] {
            let id = self.next_id();
            self.insert(
                "Resources",
                json!({"id": id, "firstName": first, "lastName": last, "isActive": active,
                    "licenseType": license, "userName": user, "email": if user.contains('@') { user.to_owned() } else { format!("{user}@sandbox-msp.example") },
                    "resourceType": "Employee"}),
            );
        }
        for (id, name, active) in [
            (1, "Workstation", true),
            (2, "Server", true),
            (3, "Network Device", true),
            (4, "Printer (retired)", false),
        ] {
            self.insert(
                "ConfigurationItemTypes",
                json!({"id": id, "name": name, "isActive": active}),
            );
        }
        first_id
    }

    /// Adds `volumes` of import data: customers with their records, and a lead per ten
    /// customers.
    pub fn add_import_data(&mut self, volumes: &Volumes) {
        let _ = self.add_resources();
        for n in 0..volumes.customers {
            let company = self.next_id();
            self.insert(
                "Companies",
                json!({"id": company, "companyName": format!("Customer {n:05}"), "companyType": 1, "isActive": true}),
            );
            if n % 10 == 9 {
                let lead = self.next_id();
                self.insert(
                    "Companies",
                    json!({"id": lead, "companyName": format!("Lead {n:05}"), "companyType": 2, "isActive": true}),
                );
            }
            for i in 0..volumes.contacts {
                let id = self.next_id();
                self.insert("Contacts", json!({"id": id, "companyID": company, "firstName": format!("Person{i}"), "lastName": format!("C{n}"), "emailAddress": format!("p{i}@c{n}.example"), "isActive": 1}));
            }
            for i in 0..volumes.locations {
                let id = self.next_id();
                self.insert("CompanyLocations", json!({"id": id, "companyID": company, "name": format!("Site {i}"), "isPrimary": i == 0, "isActive": true}));
            }
            for i in 0..volumes.assets {
                let id = self.next_id();
                self.insert("ConfigurationItems", json!({"id": id, "companyID": company, "configurationItemType": 1 + (i % 2) as i64, "isActive": true, "referenceTitle": format!("Device {i}"), "serialNumber": format!("SN{id}")}));
            }
            for i in 0..volumes.tickets {
                let id = self.next_id();
                self.insert("Tickets", json!({"id": id, "companyID": company, "title": format!("Ticket {i}"), "status": 1, "priority": 2, "queueID": 29_682_833, "ticketType": 1}));
            }
            for i in 0..volumes.opportunities {
                let id = self.next_id();
                self.insert("Opportunities", json!({"id": id, "companyID": company, "title": format!("Opportunity {i}"), "status": 1, "stage": 29_682_770, "amount": 1000.0}));
            }
            for i in 0..volumes.agreements {
                let id = self.next_id();
                self.insert("Contracts", json!({"id": id, "companyID": company, "contractName": format!("Agreement {i}"), "contractType": 7, "contractCategory": 7, "status": 1}));
            }
        }
    }
}

/// A picklist field as `entityInformation/fields` returns it; `(value, label, active)`.
fn picklist(name: &str, values: &[(i64, &str, bool)]) -> Value {
    json!({
        "name": name, "dataType": "integer", "isPickList": true, "isRequired": true,
        "picklistValues": values.iter().enumerate().map(|(i, (v, label, active))| json!({
            "value": v.to_string(), "label": label, "isDefaultValue": i == 0,
            "sortOrder": i, "isActive": active, "isSystem": true, "parentValue": null,
        })).collect::<Vec<_>>(),
    })
}

/// `{Entity}/entityInformation/fields` of the entities whose picklists we read. A
/// configuration item's type is not a picklist here: its values are the
/// `ConfigurationItemTypes` entity.
pub fn entity_fields() -> HashMap<&'static str, Value> {
    let active = |values: &[(i64, &'static str)]| -> Vec<(i64, &'static str, bool)> {
        values.iter().map(|(v, l)| (*v, *l, true)).collect()
    };
    HashMap::from([
        (
            "Tickets",
            json!({ "fields": [
                picklist("ticketType", &active(&[(1, "Service Request"), (2, "Incident"), (3, "Problem"), (4, "Change Request"), (5, "Alert")])),
                picklist("priority", &active(&[(2, "Medium"), (1, "High"), (3, "Low"), (4, "Critical")])),
                picklist("queueID", &active(&[(29_682_833, "Client Portal"), (29_683_481, "Post Sale"), (29_683_482, "Monitoring Alert")])),
                picklist("status", &active(&[(1, "New"), (5, "Complete"), (7, "Waiting Customer"), (8, "In Progress")])),
                picklist("serviceLevelAgreementID", &active(&[(1, "Standard SLA"), (2, "Premium SLA")])),
                {"name": "title", "dataType": "string", "isPickList": false, "isRequired": true},
            ]}),
        ),
        (
            "Companies",
            json!({ "fields": [picklist("companyType", &active(&[(1, "Customer"), (2, "Lead"), (3, "Prospect"), (4, "Dead"), (5, "Cancelation"), (6, "Vendor"), (7, "Partner")]))]}),
        ),
        (
            "Opportunities",
            json!({ "fields": [
                picklist("stage", &[(29_682_770, "Stage 1 First Contact", true), (29_682_771, "Stage 2 Needs Analysis", true), (29_682_772, "Stage 3 Proposal", true), (29_682_773, "Old Stage (retired)", false)]),
                picklist("status", &active(&[(0, "Not Ready To Buy"), (1, "Active"), (2, "Lost"), (3, "Closed"), (4, "Implemented")])),
            ]}),
        ),
        (
            "Contracts",
            json!({ "fields": [
                picklist("contractType", &active(&[(1, "Time & Materials"), (3, "Fixed Price"), (4, "Block Hours"), (6, "Retainer"), (7, "Recurring Service")])),
                picklist("contractCategory", &[(3, "Standard", true), (7, "IT:Managed Services", true), (16, "SW:Block Hour", true), (20, "Legacy (retired)", false)]),
                picklist("status", &active(&[(0, "Inactive"), (1, "Active")])),
            ]}),
        ),
        (
            "Resources",
            json!({ "fields": [picklist("licenseType", &active(&[(1, "Administrator"), (2, "Full"), (7, "API User (system)")]))]}),
        ),
        (
            "ConfigurationItems",
            json!({ "fields": [{"name": "configurationItemType", "dataType": "integer", "isPickList": false, "isRequired": true}]}),
        ),
    ])
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
    let now = stamp_text(OffsetDateTime::now_utc());
    for stamp in [
        "createDate",
        "lastTrackedModificationDateTime",
        "lastActivityDate",
    ] {
        ticket[stamp] = json!(now);
    }
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

/// `POST Opportunities`, with the fields Autotask requires and its checks of the owner and
/// the stage.
pub fn create_opportunity(s: &mut State, body: &Value) -> Response {
    let fail = |m: &str| errors(StatusCode::INTERNAL_SERVER_ERROR, &[m]);
    let required = [
        "companyID",
        "title",
        "ownerResourceID",
        "stage",
        "status",
        "projectedCloseDate",
        "probability",
        "amount",
        "cost",
        "useQuoteTotals",
    ];
    if let Some(missing) = required
        .iter()
        .find(|f| super::filter::field(body, f).is_none_or(Value::is_null))
    {
        return fail(&format!("{missing} is required.; on record number [0]."));
    }
    let company = int(body, "companyID").unwrap_or_default();
    if !s.entities["Companies"].contains_key(&company) {
        return fail("companyID does not reference an existing company.");
    }
    let owner = int(body, "ownerResourceID").unwrap_or_default();
    let may_own = s.entities["Resources"]
        .get(&owner)
        .is_some_and(|r| r["isActive"] == json!(true) && r["licenseType"] != json!(7));
    if !may_own {
        return fail(
            "ownerResourceID: the resource is inactive or an API user and cannot own opportunities.",
        );
    }
    let stage = int(body, "stage").unwrap_or_default();
    let stage_active = s.entity_fields["Opportunities"]["fields"][0]["picklistValues"]
        .as_array()
        .is_some_and(|values| {
            values
                .iter()
                .any(|v| v["value"] == json!(stage.to_string()) && v["isActive"] == json!(true))
        });
    if !stage_active {
        return fail("stage: Value does not exist or is inactive in the picklist.");
    }
    let probability = int(body, "probability").unwrap_or(-1);
    if !(0..=100).contains(&probability) {
        return fail("probability must be between 0 and 100.");
    }
    let id = s.next_id();
    let mut opportunity = body.clone();
    opportunity["id"] = json!(id);
    let now = stamp_text(OffsetDateTime::now_utc());
    opportunity["createDate"] = json!(now);
    opportunity["lastActivity"] = json!(now);
    s.insert("Opportunities", opportunity);
    s.writes += 1;
    ok(json!({ "itemId": id }))
}
