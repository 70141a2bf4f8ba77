//! Devices imported from an RMM as the platform's assets, with seed 003's field names.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::{OrgId, Provider};

/// One device as the vendor describes it, already in the platform's asset fields.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AssetFields {
    /// `system.serialNumber`.
    pub serial_number: Option<String>,
    /// `systemName`, else `dnsName`.
    pub name: Option<String>,
    /// Warranty end date (`YYYY-MM-DD`).
    pub warranty_expire: Option<String>,
    /// Always empty (seed 003).
    pub details: String,
    /// The device role id.
    #[serde(rename = "TypeId")]
    pub type_id: Option<i64>,
    /// `volumes[0].capacity`, bytes.
    pub storage: Option<u64>,
    /// The location's name.
    pub location_name: Option<String>,
    /// `system.manufacturer`.
    pub manufacturer: Option<String>,
    /// `system.model`.
    pub model_number: Option<String>,
    /// `os.name`.
    pub os: Option<String>,
    /// Warranty start date (`YYYY-MM-DD`).
    pub purchase_date: Option<String>,
    /// `processors[0].name`.
    pub processor_model: Option<String>,
    /// Always null (seed 003).
    pub replace_date: Option<String>,
}

/// A device at the vendor, with where it belongs there.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VendorDevice {
    /// The vendor's device id.
    pub device_id: i64,
    /// The vendor organization it belongs to.
    pub organization_id: i64,
    /// The asset fields.
    pub fields: AssetFields,
}

/// An imported asset of a platform organization.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Asset {
    /// Where it came from.
    pub source: Provider,
    /// The vendor's device id: imports upsert by it.
    pub device_id: i64,
    /// The platform organization.
    pub org_id: OrgId,
    /// The vendor organization.
    pub organization_id: i64,
    /// The asset fields.
    #[serde(flatten)]
    pub fields: AssetFields,
    /// Gone from the vendor since the last import.
    pub removed: bool,
    /// Last change.
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}
