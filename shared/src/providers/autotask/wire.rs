//! Autotask's wire format for the fields we use: camelCase with upper-case `ID` suffixes,
//! picklist values as strings, units as decimals. Unknown fields are ignored.

use serde::{Deserialize, Deserializer};

/// `GET zoneInformation?user=`.
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ZoneInfo {
    /// REST root of the zone.
    pub url: String,
    /// Web UI root.
    #[serde(default)]
    pub web_url: String,
    /// The partner's database id.
    pub ci: i64,
}

/// One page of a query.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct QueryPage<T> {
    /// Records.
    #[serde(default = "Vec::new")]
    pub items: Vec<T>,
    /// Paging.
    pub page_details: Option<PageDetails>,
}

/// Paging details of a query page.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PageDetails {
    /// Where the next page is, `null` on the last.
    pub next_page_url: Option<String>,
}

/// `GET {Entity}/{id}`.
#[derive(Debug, Deserialize)]
pub struct ItemResponse<T> {
    /// The record; `null` when there is none.
    pub item: Option<T>,
}

/// Create response.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ItemId {
    /// Id of the created record.
    pub item_id: i64,
}

/// `{"errors": [...]}`: strings, or objects with a `message`.
#[derive(Debug, Default, Deserialize)]
pub struct ErrorBody {
    /// The messages.
    #[serde(default)]
    pub errors: Vec<serde_json::Value>,
}

impl ErrorBody {
    /// The messages joined, as Autotask worded them.
    pub fn message(&self) -> Option<String> {
        let parts: Vec<String> = self
            .errors
            .iter()
            .filter_map(|e| match e {
                serde_json::Value::String(s) => Some(s.clone()),
                other => other
                    .get("message")
                    .and_then(|m| m.as_str())
                    .map(str::to_owned),
            })
            .collect();
        (!parts.is_empty()).then(|| parts.join("; "))
    }
}

/// Ids arrive as integers, sometimes as decimals.
fn id<'de, D: Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
    let v = f64::deserialize(d)?;
    Ok(v as i64)
}

fn opt_id<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    Ok(Option::<f64>::deserialize(d)?.map(|v| v as i64))
}

/// `Companies`.
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Company {
    /// Id.
    #[serde(deserialize_with = "id")]
    pub id: i64,
    /// Name.
    #[serde(default)]
    pub company_name: String,
    /// Active.
    #[serde(default = "yes")]
    pub is_active: bool,
}

fn yes() -> bool {
    true
}

/// `Contracts`.
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Contract {
    /// Id.
    #[serde(deserialize_with = "id")]
    pub id: i64,
    /// Owning company.
    #[serde(rename = "companyID", deserialize_with = "id")]
    pub company_id: i64,
    /// Name.
    #[serde(default)]
    pub contract_name: String,
    /// Contract type picklist value (7 = Recurring Service).
    #[serde(default, deserialize_with = "opt_id")]
    pub contract_type: Option<i64>,
    /// Status picklist value (1 = Active).
    #[serde(default, deserialize_with = "opt_id")]
    pub status: Option<i64>,
}

/// Contract type of recurring-service contracts, the only ones that carry seats.
pub const RECURRING_SERVICE: i64 = 7;

/// `Services`.
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Service {
    /// Id.
    #[serde(deserialize_with = "id")]
    pub id: i64,
    /// Name.
    #[serde(default)]
    pub name: String,
    /// Active.
    #[serde(default = "yes")]
    pub is_active: bool,
}

/// `ContractServices`.
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContractService {
    /// Id.
    #[serde(deserialize_with = "id")]
    pub id: i64,
    /// The contract.
    #[serde(rename = "contractID", deserialize_with = "id")]
    pub contract_id: i64,
    /// The Service sold.
    #[serde(rename = "serviceID", deserialize_with = "id")]
    pub service_id: i64,
    /// Invoice text, often the service's name.
    #[serde(default)]
    pub invoice_description: Option<String>,
}

/// `ContractServiceUnits`: one row per period and contract service.
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContractServiceUnit {
    /// The contract service.
    #[serde(rename = "contractServiceID", deserialize_with = "id")]
    pub contract_service_id: i64,
    /// Period start (naive UTC).
    pub start_date: String,
    /// Units in the period.
    #[serde(default)]
    pub units: f64,
}

/// `Tickets` (what we read back).
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Ticket {
    /// Id.
    #[serde(deserialize_with = "id")]
    pub id: i64,
    /// Status picklist value.
    #[serde(deserialize_with = "id")]
    pub status: i64,
}

/// `entityInformation/fields`.
#[derive(Clone, Debug, Deserialize)]
pub struct Fields {
    /// The entity's fields.
    pub fields: Vec<FieldInfo>,
}

/// One field's metadata.
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FieldInfo {
    /// Field name.
    pub name: String,
    /// Values, when a picklist.
    #[serde(default)]
    pub picklist_values: Option<Vec<PicklistValue>>,
}

/// One picklist value; `value` is a string on the wire.
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PicklistValue {
    /// The value, e.g. `"29683482"`.
    pub value: String,
    /// The label.
    pub label: String,
    /// Default choice.
    #[serde(default)]
    pub is_default_value: bool,
    /// Active.
    #[serde(default = "yes")]
    pub is_active: bool,
    /// Parent value for dependent lists.
    #[serde(default)]
    pub parent_value: Option<String>,
}

/// `ThresholdInformation`.
#[derive(Clone, Copy, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Threshold {
    /// Requests allowed per timeframe (10,000).
    pub external_request_threshold: u64,
    /// Requests made in the current timeframe, by every integration of the database.
    pub current_timeframe_request_count: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_autotask_shapes() {
        let page: QueryPage<Contract> = serde_json::from_str(
            r#"{"items":[{"id":5.0,"companyID":29683500,"contractName":"Managed","contractType":7,"status":1,"extra":true}],
                "pageDetails":{"count":1,"requestCount":500,"prevPageUrl":null,"nextPageUrl":null}}"#,
        )
        .unwrap();
        assert_eq!(page.items[0].company_id, 29_683_500);
        assert_eq!(page.items[0].contract_type, Some(RECURRING_SERVICE));
        let err: ErrorBody =
            serde_json::from_str(r#"{"errors":["dueDateTime is required.",{"message":"x"}]}"#)
                .unwrap();
        assert_eq!(err.message().unwrap(), "dueDateTime is required.; x");
    }
}
