//! NinjaOne's JSON: bare arrays paged by `after`, epoch seconds as (fractional) numbers, and
//! detailed devices whose parts are all optional.

use serde::Deserialize;

use crate::domain::AssetFields;

/// The token endpoint's answer.
#[derive(Deserialize)]
pub struct Token {
    /// Bearer token.
    pub access_token: String,
    /// Lifetime in seconds.
    #[serde(default)]
    pub expires_in: Option<f64>,
    /// A new refresh token (rotation); absent keeps the old one.
    #[serde(default)]
    pub refresh_token: Option<String>,
}

/// An OAuth error answer.
#[derive(Deserialize)]
pub struct OAuthError {
    /// Error code (`invalid_grant`, `invalid_client`, ...).
    pub error: String,
    /// Words, when given.
    #[serde(default)]
    pub error_description: Option<String>,
}

/// An organization.
#[derive(Debug, Deserialize)]
pub struct Organization {
    /// Id.
    pub id: i64,
    /// Name.
    #[serde(default)]
    pub name: String,
}

/// A device role (`/v2/roles`).
#[derive(Debug, Deserialize)]
pub struct Role {
    /// Id.
    pub id: i64,
}

/// A location (`/v2/locations`).
#[derive(Debug, Deserialize)]
pub struct Location {
    /// Id.
    pub id: i64,
    /// Name.
    #[serde(default)]
    pub name: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct System {
    serial_number: Option<String>,
    bios_serial_number: Option<String>,
    manufacturer: Option<String>,
    model: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
struct Os {
    name: Option<String>,
}

#[derive(Debug, Deserialize)]
struct Named {
    name: Option<String>,
}

#[derive(Debug, Deserialize)]
struct Volume {
    capacity: Option<f64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Warranty {
    start_date: Option<f64>,
    end_date: Option<f64>,
}

#[derive(Debug, Default, Deserialize)]
struct References {
    warranty: Option<Warranty>,
}

/// A device from `devices-detailed` (agent devices carry os/system/volumes; others do not).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Device {
    /// Id.
    pub id: i64,
    /// The organization it belongs to.
    pub organization_id: i64,
    #[serde(default)]
    location_id: Option<i64>,
    #[serde(default)]
    node_role_id: Option<i64>,
    #[serde(default)]
    system_name: Option<String>,
    #[serde(default)]
    dns_name: Option<String>,
    #[serde(default)]
    system: Option<System>,
    #[serde(default)]
    os: Option<Os>,
    #[serde(default)]
    processors: Vec<Named>,
    #[serde(default)]
    volumes: Vec<Volume>,
    #[serde(default)]
    references: Option<References>,
}

/// `YYYY-MM-DD` of epoch seconds.
fn date(epoch: Option<f64>) -> Option<String> {
    let at = time::OffsetDateTime::from_unix_timestamp(epoch?.floor() as i64).ok()?;
    Some(at.date().to_string())
}

fn text(v: Option<&String>) -> Option<String> {
    v.map(|s| s.trim().to_owned()).filter(|s| !s.is_empty())
}

impl Device {
    /// The device's role, if any.
    pub fn role_id(&self) -> Option<i64> {
        self.node_role_id
    }

    /// The location this device is at, if any.
    pub fn location_id(&self) -> Option<i64> {
        self.location_id
    }

    /// Seed 003's field mapping; missing parts are simply absent.
    pub fn asset_fields(&self, location_name: Option<String>, role_known: bool) -> AssetFields {
        let system = self.system.as_ref();
        let warranty = self.references.as_ref().and_then(|r| r.warranty.as_ref());
        AssetFields {
            serial_number: text(system.and_then(|s| s.serial_number.as_ref()))
                .or_else(|| text(system.and_then(|s| s.bios_serial_number.as_ref()))),
            name: text(self.system_name.as_ref()).or_else(|| text(self.dns_name.as_ref())),
            warranty_expire: date(warranty.and_then(|w| w.end_date)),
            details: String::new(),
            type_id: self.node_role_id.filter(|_| role_known),
            storage: self
                .volumes
                .first()
                .and_then(|v| v.capacity)
                .map(|c| c.max(0.0) as u64),
            location_name,
            manufacturer: text(system.and_then(|s| s.manufacturer.as_ref())),
            model_number: text(system.and_then(|s| s.model.as_ref())),
            os: text(self.os.as_ref().and_then(|o| o.name.as_ref())),
            purchase_date: date(warranty.and_then(|w| w.start_date)),
            processor_model: text(self.processors.first().and_then(|p| p.name.as_ref())),
            replace_date: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn seed_003_field_mapping() {
        let d: Device = serde_json::from_value(json!({
            "id": 7, "organizationId": 2, "locationId": 5, "nodeRoleId": 11,
            "systemName": "SRV-01", "dnsName": "srv-01.acme.local",
            "system": {"serialNumber": " ABC123 ", "manufacturer": "Dell Inc.", "model": "PowerEdge R650"},
            "os": {"name": "Windows Server 2022"},
            "processors": [{"name": "Xeon Silver 4314"}],
            "volumes": [{"capacity": 512110190592.0}, {"capacity": 1.0}],
            "references": {"warranty": {"startDate": 1672531200.5, "endDate": 1767225600}}
        }))
        .unwrap();
        let f = d.asset_fields(Some("HQ".into()), true);
        assert_eq!(f.serial_number.as_deref(), Some("ABC123"));
        assert_eq!(f.name.as_deref(), Some("SRV-01"));
        assert_eq!(f.purchase_date.as_deref(), Some("2023-01-01"));
        assert_eq!(f.warranty_expire.as_deref(), Some("2026-01-01"));
        assert_eq!((f.type_id, f.storage), (Some(11), Some(512_110_190_592)));
        assert_eq!(f.processor_model.as_deref(), Some("Xeon Silver 4314"));
        assert_eq!(f.replace_date, None);
        let json = serde_json::to_value(&f).unwrap();
        assert_eq!(json["TypeId"], 11);
        assert_eq!(json["warrantyExpire"], "2026-01-01");
        assert_eq!(json["details"], "");
    }

    #[test]
    fn missing_parts_are_fine() {
        let d: Device =
            serde_json::from_value(json!({"id": 8, "organizationId": 2, "dnsName": "printer"}))
                .unwrap();
        let f = d.asset_fields(None, false);
        assert_eq!(f.name.as_deref(), Some("printer"));
        assert_eq!(
            (f.storage, f.warranty_expire, f.type_id),
            (None, None, None)
        );
    }
}
