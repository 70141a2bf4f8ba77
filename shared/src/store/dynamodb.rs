//! The AWS back end of the single table: DynamoDB with conditional writes, TTL, and a sparse GSI
//! that lists only active connections.

use std::collections::HashMap;

use async_trait::async_trait;
use aws_sdk_dynamodb::{
    Client,
    error::{ProvideErrorMetadata, SdkError},
    types::{
        AttributeDefinition, AttributeValue, BillingMode, DeleteRequest, GlobalSecondaryIndex,
        KeySchemaElement, KeyType, Projection, ProjectionType, PutRequest, ReturnValue,
        ScalarAttributeType, TimeToLiveSpecification, WriteRequest,
    },
};

use super::table::{Condition, Item, ItemPage, Query, Table};
use crate::ports::StoreError;

/// Attribute names. Short, and fixed: the SAM template declares the same ones.
pub mod attr {
    /// Partition key.
    pub const PK: &str = "pk";
    /// Sort key.
    pub const SK: &str = "sk";
    /// Optimistic-concurrency version.
    pub const VERSION: &str = "v";
    /// Expiry (epoch seconds), the table's TTL attribute.
    pub const EXPIRES_AT: &str = "expires_at";
    /// Lease holder.
    pub const OWNER: &str = "owner";
    /// Partition key of the sparse active-connections index; absent on everything else.
    pub const ACTIVE: &str = "active";
    /// The item's JSON document.
    pub const BODY: &str = "body";
}

/// Most writes one BatchWriteItem takes.
const BATCH_WRITE_MAX: usize = 25;
/// Rounds of a batch (first included) before unprocessed items fail it.
const BATCH_WRITE_ATTEMPTS: u32 = 8;

/// Name of the sparse index of active connections.
pub const ACTIVE_INDEX: &str = "active-connections";

/// The single table in DynamoDB.
#[derive(Clone, Debug)]
pub struct DynamoTable {
    client: Client,
    table_name: String,
}

impl DynamoTable {
    /// Uses `table_name` through `client` (built once per cold start).
    pub fn new(client: Client, table_name: impl Into<String>) -> Self {
        Self {
            client,
            table_name: table_name.into(),
        }
    }

    /// Creates the table as `infra/template.yaml` declares it (keys, GSI, TTL). For tests and
    /// for development accounts; production tables come from the template.
    pub async fn create_table(&self) -> Result<(), StoreError> {
        let key = |name: &str, kind| {
            KeySchemaElement::builder()
                .attribute_name(name)
                .key_type(kind)
                .build()
                .expect("key schema is complete")
        };
        let string_attr = |name: &str| {
            AttributeDefinition::builder()
                .attribute_name(name)
                .attribute_type(ScalarAttributeType::S)
                .build()
                .expect("attribute definition is complete")
        };
        self.client
            .create_table()
            .table_name(&self.table_name)
            .billing_mode(BillingMode::PayPerRequest)
            .attribute_definitions(string_attr(attr::PK))
            .attribute_definitions(string_attr(attr::SK))
            .attribute_definitions(string_attr(attr::ACTIVE))
            .key_schema(key(attr::PK, KeyType::Hash))
            .key_schema(key(attr::SK, KeyType::Range))
            .global_secondary_indexes(
                GlobalSecondaryIndex::builder()
                    .index_name(ACTIVE_INDEX)
                    .key_schema(key(attr::ACTIVE, KeyType::Hash))
                    .key_schema(key(attr::PK, KeyType::Range))
                    .projection(
                        Projection::builder()
                            .projection_type(ProjectionType::All)
                            .build(),
                    )
                    .build()
                    .expect("index is complete"),
            )
            .send()
            .await
            .map_err(sdk_error)?;
        self.client
            .update_time_to_live()
            .table_name(&self.table_name)
            .time_to_live_specification(
                TimeToLiveSpecification::builder()
                    .attribute_name(attr::EXPIRES_AT)
                    .enabled(true)
                    .build()
                    .expect("ttl specification is complete"),
            )
            .send()
            .await
            .map_err(sdk_error)?;
        Ok(())
    }
}

/// Maps SDK failures: a failed condition is a conflict; anything else is unavailability,
/// described by the service's error code (never by request contents).
fn sdk_error<E: ProvideErrorMetadata, R>(e: SdkError<E, R>) -> StoreError {
    if e.code() == Some("ConditionalCheckFailedException") {
        return StoreError::Conflict("condition failed".into());
    }
    StoreError::Unavailable(format!("dynamodb: {}", super::aws_error_reason(&e)))
}

fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

fn n(v: impl ToString) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

fn key(pk: &str, sk: &str) -> HashMap<String, AttributeValue> {
    HashMap::from([(attr::PK.into(), s(pk)), (attr::SK.into(), s(sk))])
}

fn to_attributes(item: Item) -> HashMap<String, AttributeValue> {
    let mut map = key(&item.pk, &item.sk);
    map.insert(attr::VERSION.into(), n(item.version));
    map.insert(attr::BODY.into(), s(item.body));
    if let Some(t) = item.expires_at {
        map.insert(attr::EXPIRES_AT.into(), n(t));
    }
    if let Some(o) = item.owner {
        map.insert(attr::OWNER.into(), s(o));
    }
    if let Some(a) = item.active {
        map.insert(attr::ACTIVE.into(), s(a));
    }
    map
}

fn from_attributes(map: &HashMap<String, AttributeValue>) -> Result<Item, StoreError> {
    let text = |name: &str| map.get(name).and_then(|v| v.as_s().ok()).cloned();
    let number = |name: &str| {
        map.get(name)
            .and_then(|v| v.as_n().ok())
            .and_then(|n| n.parse::<i64>().ok())
    };
    let corrupt = |what: &str| StoreError::Corrupt(format!("dynamodb item without {what}"));
    Ok(Item {
        pk: text(attr::PK).ok_or_else(|| corrupt("pk"))?,
        sk: text(attr::SK).ok_or_else(|| corrupt("sk"))?,
        version: number(attr::VERSION).ok_or_else(|| corrupt("version"))? as u64,
        expires_at: number(attr::EXPIRES_AT),
        owner: text(attr::OWNER),
        active: text(attr::ACTIVE),
        body: text(attr::BODY).ok_or_else(|| corrupt("body"))?,
    })
}

/// A condition as a DynamoDB expression, with its names and values.
struct Expression {
    text: String,
    names: HashMap<String, String>,
    values: HashMap<String, AttributeValue>,
}

fn expression(condition: &Condition, now: i64) -> Option<Expression> {
    let names = |pairs: &[(&str, &str)]| {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    };
    match condition {
        Condition::Always => None,
        Condition::AbsentOrExpired => Some(Expression {
            text: "attribute_not_exists(#pk) OR #exp <= :now".into(),
            names: names(&[("#pk", attr::PK), ("#exp", attr::EXPIRES_AT)]),
            values: HashMap::from([(":now".into(), n(now))]),
        }),
        Condition::Version(v) => Some(Expression {
            text: "#v = :v".into(),
            names: names(&[("#v", attr::VERSION)]),
            values: HashMap::from([(":v".into(), n(v))]),
        }),
        Condition::Owner(o) => Some(Expression {
            text: "#owner = :owner".into(),
            names: names(&[("#owner", attr::OWNER)]),
            values: HashMap::from([(":owner".into(), s(o.clone()))]),
        }),
    }
}

fn live(item: Item, now: i64) -> Option<Item> {
    (!item.is_expired(now)).then_some(item)
}

fn last_key(map: Option<&HashMap<String, AttributeValue>>) -> Option<(String, String)> {
    let map = map?;
    let get = |k: &str| map.get(k).and_then(|v| v.as_s().ok()).cloned();
    Some((get(attr::PK)?, get(attr::SK)?))
}

#[async_trait]
impl Table for DynamoTable {
    async fn get(&self, pk: &str, sk: &str, now: i64) -> Result<Option<Item>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table_name)
            .set_key(Some(key(pk, sk)))
            .consistent_read(true)
            .send()
            .await
            .map_err(sdk_error)?;
        match out.item() {
            Some(map) => Ok(live(from_attributes(map)?, now)),
            None => Ok(None),
        }
    }

    async fn put(&self, item: Item, condition: Condition, now: i64) -> Result<(), StoreError> {
        let mut request = self
            .client
            .put_item()
            .table_name(&self.table_name)
            .set_item(Some(to_attributes(item)));
        if let Some(e) = expression(&condition, now) {
            request = request
                .condition_expression(e.text)
                .set_expression_attribute_names(Some(e.names))
                .set_expression_attribute_values(Some(e.values));
        }
        request.send().await.map_err(sdk_error)?;
        Ok(())
    }

    async fn delete(
        &self,
        pk: &str,
        sk: &str,
        condition: Condition,
        now: i64,
    ) -> Result<Option<Item>, StoreError> {
        let mut request = self
            .client
            .delete_item()
            .table_name(&self.table_name)
            .set_key(Some(key(pk, sk)))
            .return_values(ReturnValue::AllOld);
        if let Some(e) = expression(&condition, now) {
            request = request
                .condition_expression(e.text)
                .set_expression_attribute_names(Some(e.names))
                .set_expression_attribute_values(Some(e.values));
        }
        let out = request.send().await.map_err(sdk_error)?;
        match out.attributes() {
            Some(map) if !map.is_empty() => Ok(live(from_attributes(map)?, now)),
            _ => Ok(None),
        }
    }

    async fn add(
        &self,
        pk: &str,
        sk: &str,
        delta: i64,
        body: Option<String>,
        expires_at: Option<i64>,
    ) -> Result<i64, StoreError> {
        let mut set = match body {
            Some(_) => "#body = :body".to_owned(),
            None => "#body = if_not_exists(#body, :body)".to_owned(),
        };
        let mut request = self
            .client
            .update_item()
            .table_name(&self.table_name)
            .set_key(Some(key(pk, sk)))
            .expression_attribute_names("#v", attr::VERSION)
            .expression_attribute_names("#body", attr::BODY)
            .expression_attribute_values(":d", n(delta))
            .expression_attribute_values(":body", s(body.unwrap_or_else(|| "{}".into())))
            .return_values(ReturnValue::UpdatedNew);
        if let Some(at) = expires_at {
            set.push_str(", #exp = :exp");
            request = request
                .expression_attribute_names("#exp", attr::EXPIRES_AT)
                .expression_attribute_values(":exp", n(at));
        }
        let out = request
            .update_expression(format!("ADD #v :d SET {set}"))
            .send()
            .await
            .map_err(sdk_error)?;
        out.attributes()
            .and_then(|a| a.get(attr::VERSION))
            .and_then(|v| v.as_n().ok())
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| StoreError::Corrupt(format!("dynamodb counter {sk} without a count")))
    }

    async fn write_batch(
        &self,
        puts: Vec<Item>,
        deletes: Vec<(String, String)>,
    ) -> Result<(), StoreError> {
        let requests: Vec<WriteRequest> = puts
            .into_iter()
            .map(|item| {
                WriteRequest::builder()
                    .put_request(
                        PutRequest::builder()
                            .set_item(Some(to_attributes(item)))
                            .build()
                            .expect("a put request has its item"),
                    )
                    .build()
            })
            .chain(deletes.into_iter().map(|(pk, sk)| {
                WriteRequest::builder()
                    .delete_request(
                        DeleteRequest::builder()
                            .set_key(Some(key(&pk, &sk)))
                            .build()
                            .expect("a delete request has its key"),
                    )
                    .build()
            }))
            .collect();
        for chunk in requests.chunks(BATCH_WRITE_MAX) {
            let mut pending = chunk.to_vec();
            let mut attempt = 0;
            // Throttled items come back unprocessed: send those again, backing off.
            while !pending.is_empty() {
                if attempt > 0 {
                    tokio::time::sleep(crate::providers::http::backoff(
                        attempt,
                        std::time::Duration::from_millis(50),
                        std::time::Duration::from_secs(5),
                    ))
                    .await;
                }
                if attempt >= BATCH_WRITE_ATTEMPTS {
                    return Err(StoreError::Unavailable(format!(
                        "dynamodb: {} batched writes still unprocessed after {attempt} attempts",
                        pending.len()
                    )));
                }
                attempt += 1;
                let out = self
                    .client
                    .batch_write_item()
                    .request_items(&self.table_name, pending)
                    .send()
                    .await
                    .map_err(sdk_error)?;
                pending = out
                    .unprocessed_items()
                    .and_then(|u| u.get(&self.table_name))
                    .cloned()
                    .unwrap_or_default();
            }
        }
        Ok(())
    }

    async fn query(&self, query: Query<'_>, now: i64) -> Result<ItemPage, StoreError> {
        let mut request = self
            .client
            .query()
            .table_name(&self.table_name)
            .consistent_read(true)
            .filter_expression("attribute_not_exists(#exp) OR #exp > :now")
            .expression_attribute_names("#pk", attr::PK)
            .expression_attribute_names("#exp", attr::EXPIRES_AT)
            .expression_attribute_values(":pk", s(query.pk))
            .expression_attribute_values(":now", n(now))
            .scan_index_forward(!query.descending)
            .limit(query.limit.min(i32::MAX as usize) as i32);
        // DynamoDB refuses an empty begins_with: a whole partition is the key alone.
        request = if query.sk_prefix.is_empty() {
            request.key_condition_expression("#pk = :pk")
        } else {
            request
                .key_condition_expression("#pk = :pk AND begins_with(#sk, :prefix)")
                .expression_attribute_names("#sk", attr::SK)
                .expression_attribute_values(":prefix", s(query.sk_prefix))
        };
        if let Some(after) = query.after {
            request = request.set_exclusive_start_key(Some(key(query.pk, after)));
        }
        let out = request.send().await.map_err(sdk_error)?;
        Ok(ItemPage {
            items: out
                .items()
                .iter()
                .map(from_attributes)
                .collect::<Result<_, _>>()?,
            last_key: last_key(out.last_evaluated_key()),
        })
    }

    async fn query_active(
        &self,
        active: &str,
        after: Option<(&str, &str)>,
        limit: usize,
        now: i64,
    ) -> Result<ItemPage, StoreError> {
        let mut request = self
            .client
            .query()
            .table_name(&self.table_name)
            .index_name(ACTIVE_INDEX)
            .key_condition_expression("#active = :active")
            .filter_expression("attribute_not_exists(#exp) OR #exp > :now")
            .expression_attribute_names("#active", attr::ACTIVE)
            .expression_attribute_names("#exp", attr::EXPIRES_AT)
            .expression_attribute_values(":active", s(active))
            .expression_attribute_values(":now", n(now))
            .limit(limit.min(i32::MAX as usize) as i32);
        if let Some((pk, sk)) = after {
            let mut start = key(pk, sk);
            start.insert(attr::ACTIVE.into(), s(active));
            request = request.set_exclusive_start_key(Some(start));
        }
        let out = request.send().await.map_err(sdk_error)?;
        Ok(ItemPage {
            items: out
                .items()
                .iter()
                .map(from_attributes)
                .collect::<Result<_, _>>()?,
            last_key: last_key(out.last_evaluated_key()),
        })
    }
}
