//! The demo instance, its lists, and generated volumes for benchmarks.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::State;

/// The demo login company id.
pub const DEMO_COMPANY: &str = "msp_sandbox";
/// The demo API member's public key.
pub const DEMO_PUBLIC_KEY: &str = "sbxPublicKey7Q2";
/// The demo API member's private key.
pub const DEMO_PRIVATE_KEY: &str = "sbxPrivateKey-9vLm4Tq";
/// The clientId the sandbox accepts (the deployment's, never the partner's).
pub const DEMO_CLIENT_ID: &str = "5c1f9d2e-0b7a-4c8e-9a43-sandbox00cw";

pub(super) fn boards() -> Vec<Value> {
    vec![
        json!({"id": 1, "name": "Help Desk", "inactiveFlag": false, "projectFlag": false}),
        json!({"id": 2, "name": "Projects", "inactiveFlag": false, "projectFlag": true}),
        json!({"id": 3, "name": "Alerts", "inactiveFlag": false, "projectFlag": false}),
        json!({"id": 4, "name": "Old Desk", "inactiveFlag": true, "projectFlag": false}),
    ]
}

pub(super) fn statuses() -> BTreeMap<i64, Vec<Value>> {
    let status = |id: i64, name: &str, closed: bool, inactive: bool, default: bool| {
        json!({"id": id, "name": name, "closedStatus": closed, "inactive": inactive,
               "defaultFlag": default, "timeEntryNotAllowed": closed})
    };
    BTreeMap::from([
        (
            1,
            vec![
                status(1, "New", false, false, true),
                status(2, "In Progress", false, false, false),
                status(3, "Waiting on Customer", false, false, false),
                status(4, ">Closed", true, false, false),
                status(5, "Escalated (retired)", false, true, false),
            ],
        ),
        (2, vec![status(21, "Open", false, false, true)]),
        (
            3,
            vec![
                status(31, "New Alert", false, false, true),
                status(32, "Resolved", true, false, false),
            ],
        ),
        (4, vec![status(41, "New", false, false, true)]),
    ])
}

pub(super) fn types() -> BTreeMap<i64, Vec<Value>> {
    let ticket_type = |id: i64, name: &str, inactive: bool| json!({"id": id, "name": name, "inactiveFlag": inactive, "defaultFlag": false});
    BTreeMap::from([
        (
            1,
            vec![
                ticket_type(101, "Incident", false),
                ticket_type(102, "Service Request", false),
                ticket_type(103, "Legacy", true),
            ],
        ),
        (3, vec![ticket_type(301, "Monitoring Alert", false)]),
    ])
}

pub(super) fn priorities() -> Vec<Value> {
    vec![
        json!({"id": 1, "name": "Priority 1 - Emergency Response", "sortOrder": 1, "defaultFlag": false}),
        json!({"id": 2, "name": "Priority 2 - Quick Response", "sortOrder": 2, "defaultFlag": false}),
        json!({"id": 3, "name": "Priority 3 - Normal Response", "sortOrder": 3, "defaultFlag": true}),
    ]
}

pub(super) fn sources() -> Vec<Value> {
    vec![
        json!({"id": 1, "name": "Email", "defaultFlag": false}),
        json!({"id": 2, "name": "Portal", "defaultFlag": true}),
        json!({"id": 6, "name": "Monitoring", "defaultFlag": false}),
    ]
}

/// The demo instance: four companies (one deleted), the backup product (and an email one and
/// a retired one), agreements (one cancelled, one expired) and their additions.
pub(super) fn demo() -> State {
    let mut s = State::empty();
    let backup = s.add_product("BACKUP-SEAT", "Managed Backup - per seat", true);
    let email = s.add_product("EMAIL-SEC", "Email Security - per mailbox", true);
    let old = s.add_product("AV-LEGACY", "Legacy antivirus (retired)", false);
    let acme = s.add_company("Acme Corporation");
    let globex = s.add_company("Globex Inc.");
    let initech = s.add_company("Initech LLC");
    let umbrella = s.add_company("Umbrella Holdings");
    s.companies.get_mut(&umbrella).expect("just added")["deletedFlag"] = json!(true);
    let acme_ms = s.add_agreement(acme, "Acme - Managed Services", "Active");
    let acme_old = s.add_agreement(acme, "Acme - Break/Fix 2024", "Cancelled");
    let globex_ms = s.add_agreement(globex, "Globex - Managed Services", "Active");
    let initech_old = s.add_agreement(initech, "Initech - 2023 Plan", "Expired");
    s.add_addition(acme_ms, backup, 10, false);
    s.add_addition(acme_ms, email, 3, false);
    s.add_addition(acme_ms, backup, 4, true);
    s.add_addition(acme_old, backup, 2, false);
    s.add_addition(globex_ms, backup, 5, false);
    s.add_addition(globex_ms, old, 1, false);
    s.add_addition(initech_old, backup, 8, false);
    s
}

/// How big a generated instance is.
#[derive(Clone, Copy, Debug)]
pub struct SeatVolumes {
    /// Agreements (one company each).
    pub agreements: usize,
    /// Additions (organizations) per agreement, all selling the same product.
    pub additions_per_agreement: usize,
}

impl State {
    /// An instance of `volumes`: every addition sells one product and holds 10 seats. Returns
    /// the product and each (company, agreement, addition).
    pub fn seats(volumes: SeatVolumes) -> (Self, i64, Vec<(i64, i64, i64)>) {
        let mut s = State::empty();
        let product = s.add_product("SEAT", "Per seat", true);
        let mut links = Vec::new();
        for a in 0..volumes.agreements {
            let company = s.add_company(&format!("Customer {a:05}"));
            let agreement = s.add_agreement(company, "Managed Services", "Active");
            for _ in 0..volumes.additions_per_agreement {
                let addition = s.add_addition(agreement, product, 10, false);
                links.push((company, agreement, addition));
            }
        }
        (s, product, links)
    }
}
