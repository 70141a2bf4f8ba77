//! Every key of the single table (DESIGN.md section 4), built in one place. Tenant data always
//! lives under `TENANT#{tenant}`, so no query for one tenant can reach another's items.

use ulid::Ulid;

use crate::{
    domain::{ImportKind, OrgId, PlanId, Provider, TenantId},
    ports::LeaseKind,
};

/// Partition of every item of `tenant`.
pub fn tenant_pk(tenant: &TenantId) -> String {
    format!("TENANT#{tenant}")
}

/// The tenant encoded in a tenant partition key.
pub fn tenant_of_pk(pk: &str) -> Option<&str> {
    pk.strip_prefix("TENANT#")
}

/// Connection item.
pub fn connection_sk(provider: Provider) -> String {
    format!("CONN#{provider}")
}

/// Prefix of every connection item.
pub const CONNECTION_PREFIX: &str = "CONN#";

/// Configuration item.
pub fn configuration_sk(provider: Provider) -> String {
    format!("CONFIG#{provider}")
}

/// Platform plan item.
pub fn plan_sk(plan: &PlanId) -> String {
    format!("PLAN#{plan}")
}

/// Prefix of every plan item.
pub const PLAN_PREFIX: &str = "PLAN#";

/// Platform organization item.
pub fn org_sk(org: &OrgId) -> String {
    format!("ORG#{org}")
}

/// Prefix of every organization item.
pub const ORG_PREFIX: &str = "ORG#";

/// Plan mapping item.
pub fn plan_mapping_sk(provider: Provider, plan: &PlanId) -> String {
    format!("PLANMAP#{provider}#{plan}")
}

/// Prefix of a provider's plan mappings.
pub fn plan_mapping_prefix(provider: Provider) -> String {
    format!("PLANMAP#{provider}#")
}

/// Organization mapping item.
pub fn org_mapping_sk(provider: Provider, org: &OrgId) -> String {
    format!("ORGMAP#{provider}#{org}")
}

/// Prefix of a provider's organization mappings.
pub fn org_mapping_prefix(provider: Provider) -> String {
    format!("ORGMAP#{provider}#")
}

/// Sync run item; ULIDs sort by time, so a descending query lists newest first.
pub fn run_sk(provider: Provider, id: Ulid) -> String {
    format!("RUN#{provider}#{id}")
}

/// Prefix of a provider's runs.
pub fn run_prefix(provider: Provider) -> String {
    format!("RUN#{provider}#")
}

/// Journal item of a seat change in flight.
pub fn intent_sk(provider: Provider, org: &OrgId) -> String {
    format!("JOURNAL#{provider}#{org}")
}

/// Prefix of a provider's journal.
pub fn intent_prefix(provider: Provider) -> String {
    format!("JOURNAL#{provider}#")
}

/// Ticket opened for an alert's dedupe key (keys never hold `#`: alerts are validated).
pub fn ticket_sk(provider: Provider, dedupe_key: &str) -> String {
    format!("TICKET#{provider}#{dedupe_key}")
}

/// Repeats of an alert counted since the ticket was last posted to (an atomic counter, apart
/// from the ticket record so that counting never races the raise that holds the record).
pub fn ticket_repeats_sk(provider: Provider, dedupe_key: &str) -> String {
    format!("REPEATS#{provider}#{dedupe_key}")
}

/// Refused connect attempts in the clock hour starting at `hour` (unix seconds). Not among
/// [`provider_data_prefixes`]: a revoke must not reset the count.
pub fn connect_attempts_sk(provider: Provider, hour: i64) -> String {
    format!("ATTEMPTS#{provider}#{hour}")
}

/// An audit record; its ULID orders the trail. Not among [`provider_data_prefixes`]: the
/// trail outlives a revoke.
pub fn audit_sk(id: ulid::Ulid) -> String {
    format!("{AUDIT_PREFIX}{id}")
}

/// Prefix of a tenant's audit trail.
pub const AUDIT_PREFIX: &str = "AUDIT#";

/// An `Idempotency-Key`'s record, by the key's hash (keys are the client's text).
pub fn idempotency_sk(key_hash: &str) -> String {
    format!("IDEMP#{key_hash}")
}

/// The partition of a tenant's imported records of one provider and kind.
pub fn import_pk(tenant: &TenantId, provider: Provider, kind: ImportKind) -> String {
    format!("TENANT#{tenant}#IMPORT#{provider}#{}", kind.as_str())
}

/// An imported record: by company, then id, so one company's records list together. The
/// separator is URL-safe because the listing's cursor is this key.
pub fn imported_sk(company_id: i64, id: i64) -> String {
    format!("{company_id:020}.{id:020}")
}

/// Prefix of one company's imported records.
pub fn imported_company_prefix(company_id: i64) -> String {
    format!("{company_id:020}.")
}

/// Where the import of one kind stands.
pub fn import_state_sk(provider: Provider, kind: ImportKind) -> String {
    format!("IMPORTSTATE#{provider}#{}", kind.as_str())
}

/// A pending OAuth consent; outside every tenant partition, since the callback knows only the
/// state.
pub fn consent_pk(state_hash: &str) -> String {
    format!("OAUTH#{state_hash}")
}

/// The state hash of a consent item's partition key.
pub fn state_hash_of_pk(pk: &str) -> Option<&str> {
    pk.strip_prefix("OAUTH#")
}

/// Sort key of consent items.
pub const CONSENT_SK: &str = "OAUTH";

/// An imported asset of a platform organization.
pub fn asset_sk(source: Provider, org: &OrgId, device_id: i64) -> String {
    format!("IMPORT#{source}#asset#{org}#{device_id:020}")
}

/// Prefix of one organization's assets from one source.
pub fn asset_prefix(source: Provider, org: &OrgId) -> String {
    format!("IMPORT#{source}#asset#{org}#")
}

/// Every sort-key prefix that holds a provider's data, removed on revoke. The connection item is
/// deleted before these; a feature that stores per-provider data adds its prefix here.
pub fn provider_data_prefixes(provider: Provider) -> Vec<String> {
    [
        "CONFIG",
        "PLANMAP",
        "ORGMAP",
        "RUN",
        "TICKET",
        "REPEATS",
        "IMPORT",
        "IMPORTSTATE",
        "JOURNAL",
    ]
    .iter()
    .map(|kind| {
        if *kind == "CONFIG" {
            configuration_sk(provider)
        } else {
            format!("{kind}#{provider}#")
        }
    })
    .collect()
}

/// Lease partition of one connection; outside the tenant partition so it never lists with data.
pub fn lease_pk(tenant: &TenantId, provider: Provider) -> String {
    format!("LEASE#{tenant}#{provider}")
}

/// Sort key of a lease of one kind.
pub fn lease_sk(kind: LeaseKind) -> &'static str {
    match kind {
        LeaseKind::Run => "LEASE",
        LeaseKind::TokenRefresh => "LEASE#refresh",
    }
}

/// Partition of the sparse active-connections index.
pub const ACTIVE_CONNECTIONS: &str = "ACTIVE#CONN";

/// Partition of the same index holding pending consents, for the sweep of abandoned ones.
pub const PENDING_CONSENTS: &str = "PENDING#OAUTH";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_cannot_bleed_into_other_providers_or_tenants() {
        // `#` terminates every variable part, and ids may not contain it.
        assert!(
            !plan_mapping_sk(Provider::Halopsa, &PlanId::new("x").unwrap())
                .starts_with(&plan_mapping_prefix(Provider::Autotask))
        );
        assert_ne!(
            tenant_pk(&TenantId::new("a").unwrap()),
            tenant_pk(&TenantId::new("ab").unwrap())
        );
        assert_eq!(
            provider_data_prefixes(Provider::Ninjaone)[0],
            "CONFIG#ninjaone"
        );
        assert!(provider_data_prefixes(Provider::Ninjaone).contains(&"ORGMAP#ninjaone#".into()));
    }
}
