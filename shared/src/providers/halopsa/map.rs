//! Mapping: customers and their software licences as catalogs, the checks behind "Connect"
//! on the Manage Connection page, and reading many records in as few calls as Halo allows.

use std::collections::{HashMap, HashSet};

use async_trait::async_trait;
use futures::{StreamExt, TryStreamExt, stream};
use serde::de::DeserializeOwned;

use super::{
    HaloIntegration, PAGE,
    client::Client,
    wire::{self, Licence},
};
use crate::{
    domain::{FieldError, OrgTarget, PlanTarget},
    ports::{CatalogItem, CatalogPage, CatalogQuery, Mapper, Session, VendorError},
};

/// A Halo record with an id.
pub trait Record: DeserializeOwned + Send {
    /// Its id.
    fn id(&self) -> i64;
}

impl Record for wire::Client {
    fn id(&self) -> i64 {
        self.id
    }
}

impl Record for Licence {
    fn id(&self) -> i64 {
        self.id
    }
}

/// Up to this many records are read one by one before listing pages is considered.
const ONE_BY_ONE: usize = 3;

/// The records of `path` with the given ids, in as few calls as possible: one by one when
/// there are few, otherwise the first page, then whichever is cheaper for the rest (the
/// remaining pages, or the missing ids one by one).
pub async fn read_many<T: Record>(
    client: &Client<'_>,
    path: &str,
    ids: &[i64],
    concurrency: usize,
) -> Result<HashMap<i64, T>, VendorError> {
    let wanted: HashSet<i64> = ids.iter().copied().collect();
    let mut found: HashMap<i64, T> = HashMap::new();
    let mut missing: Vec<i64> = wanted.iter().copied().collect();
    if wanted.len() > ONE_BY_ONE {
        let (first, total) = client.page::<T>(path, &[], 1, PAGE).await?;
        let full_page = first.len() >= PAGE;
        keep(&mut found, &wanted, first);
        missing.retain(|id| !found.contains_key(id));
        let pages = match total {
            Some(total) => (total as usize).div_ceil(PAGE),
            // Without a total, assume one more page if this one was full.
            None if full_page => 2,
            None => 1,
        };
        if missing.is_empty() || pages <= 1 {
            return Ok(found);
        }
        if pages - 1 < missing.len() {
            let rest: Vec<Vec<T>> = stream::iter(2..=pages as u64)
                .map(|page| async move {
                    Ok::<_, VendorError>(client.page::<T>(path, &[], page, PAGE).await?.0)
                })
                .buffer_unordered(concurrency.max(1))
                .try_collect()
                .await?;
            for page in rest {
                keep(&mut found, &wanted, page);
            }
            return Ok(found);
        }
    }
    let one_by_one: Vec<Option<T>> = stream::iter(missing)
        .map(|id| async move { client.get::<T>(&format!("{path}/{id}"), &[]).await })
        .buffer_unordered(concurrency.max(1))
        .try_collect()
        .await?;
    keep(&mut found, &wanted, one_by_one.into_iter().flatten());
    Ok(found)
}

fn keep<T: Record>(
    found: &mut HashMap<i64, T>,
    wanted: &HashSet<i64>,
    records: impl IntoIterator<Item = T>,
) {
    for r in records {
        if wanted.contains(&r.id()) {
            found.insert(r.id(), r);
        }
    }
}

/// A catalog cursor is the next page number.
fn page_no(query: &CatalogQuery) -> Result<u64, VendorError> {
    match &query.after {
        None => Ok(1),
        Some(a) => a
            .parse::<u64>()
            .ok()
            .filter(|n| *n >= 2)
            .ok_or_else(|| VendorError::invalid("after", "is not a cursor from this listing")),
    }
}

fn page_of(items: Vec<CatalogItem>, page: u64, limit: usize, total: Option<u64>) -> CatalogPage {
    let more = match total {
        Some(total) => page * (limit as u64) < total,
        None => items.len() >= limit,
    };
    CatalogPage {
        items,
        next: more.then(|| (page + 1).to_string()),
    }
}

#[async_trait]
impl Mapper for HaloIntegration {
    fn kinds(&self) -> &'static [&'static str] {
        &["customers", "licences"]
    }

    fn maps_plans(&self) -> bool {
        false
    }

    async fn catalog(
        &self,
        session: &Session,
        kind: &str,
        query: &CatalogQuery,
    ) -> Result<CatalogPage, VendorError> {
        let page = page_no(query)?;
        let client = self.client(session)?;
        let mut filters: Vec<(&str, String)> = Vec::new();
        if let Some(search) = query
            .search
            .as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
        {
            filters.push(("search", search.to_owned()));
        }
        match kind {
            "customers" => {
                filters.push(("includeinactive", "false".into()));
                let (rows, total) = client
                    .page::<wire::Client>("Client", &filters, page, query.limit)
                    .await?;
                let items = rows
                    .into_iter()
                    .map(|c| CatalogItem {
                        id: c.id,
                        name: c.name,
                        active: !c.inactive,
                        parent_id: None,
                        service_id: None,
                    })
                    .collect();
                Ok(page_of(items, page, query.limit, total))
            }
            "licences" => {
                let customer = query.parent.ok_or_else(|| {
                    VendorError::invalid(
                        "customer_id",
                        "is required to list a customer's software licences",
                    )
                })?;
                filters.push(("client_id", customer.to_string()));
                let (rows, total) = client
                    .page::<Licence>("SoftwareLicence", &filters, page, query.limit)
                    .await?;
                let items = rows
                    .into_iter()
                    .filter(|l| l.client_id == Some(customer))
                    .map(|l| CatalogItem {
                        id: l.id,
                        active: l.usable(),
                        name: l.name,
                        parent_id: l.client_id,
                        service_id: None,
                    })
                    .collect();
                Ok(page_of(items, page, query.limit, total))
            }
            other => Err(VendorError::invalid(
                "kind",
                format!("unknown catalog {other:?}"),
            )),
        }
    }

    async fn check_plan(
        &self,
        _session: &Session,
        _target: &PlanTarget,
    ) -> Result<(), VendorError> {
        Err(VendorError::invalid(
            "plan_id",
            "HaloPSA maps organizations only, not plans",
        ))
    }

    async fn check_org(
        &self,
        session: &Session,
        target: &OrgTarget,
        _plan: Option<&PlanTarget>,
    ) -> Result<(), VendorError> {
        let OrgTarget::Halopsa {
            customer_id,
            licence_id,
        } = *target
        else {
            return Err(super::not_halo_target());
        };
        let client = self.client(session)?;
        let (customer_path, licence_path) = (
            format!("Client/{customer_id}"),
            format!("SoftwareLicence/{licence_id}"),
        );
        let (customer, licence) = tokio::try_join!(
            client.get::<wire::Client>(&customer_path, &[]),
            client.get::<Licence>(&licence_path, &[]),
        )?;
        let mut errors = Vec::new();
        match &customer {
            None => errors.push(FieldError::new(
                "customer_id",
                format!("HaloPSA has no customer {customer_id}"),
            )),
            Some(c) if c.inactive => errors.push(FieldError::new(
                "customer_id",
                format!("customer {customer_id} ({}) is inactive", c.name),
            )),
            Some(_) => {}
        }
        match &licence {
            None => errors.push(FieldError::new(
                "licence_id",
                format!("HaloPSA has no software licence {licence_id}"),
            )),
            Some(l) if l.client_id != Some(customer_id) => errors.push(FieldError::new(
                "licence_id",
                format!(
                    "software licence {licence_id} ({}) belongs to {}, not customer {customer_id}",
                    l.name,
                    l.client_id
                        .map_or("no customer".to_owned(), |c| format!("customer {c}"))
                ),
            )),
            Some(l) if !l.usable() => errors.push(FieldError::new(
                "licence_id",
                format!(
                    "software licence {licence_id} ({}) is inactive or deleted",
                    l.name
                ),
            )),
            Some(_) => {}
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(VendorError::Invalid {
                detail: "the HaloPSA customer and software licence do not fit together".into(),
                errors,
                vendor_message: None,
            })
        }
    }

    async fn broken(
        &self,
        session: &Session,
        plans: &[PlanTarget],
        orgs: &[OrgTarget],
    ) -> Result<(Vec<bool>, Vec<bool>), VendorError> {
        let pairs: Vec<(i64, i64)> = orgs
            .iter()
            .filter_map(|t| match *t {
                OrgTarget::Halopsa {
                    customer_id,
                    licence_id,
                } => Some((customer_id, licence_id)),
                _ => None,
            })
            .collect();
        let customers: Vec<i64> = pairs.iter().map(|p| p.0).collect();
        let licences: Vec<i64> = pairs.iter().map(|p| p.1).collect();
        let client = self.client(session)?;
        let concurrency = self.options.concurrency;
        let (customers, licences) = tokio::try_join!(
            read_many::<wire::Client>(&client, "Client", &customers, concurrency),
            read_many::<Licence>(&client, "SoftwareLicence", &licences, concurrency),
        )?;
        let orgs_broken = orgs
            .iter()
            .map(|t| match *t {
                OrgTarget::Halopsa {
                    customer_id,
                    licence_id,
                } => {
                    customers.get(&customer_id).is_none_or(|c| c.inactive)
                        || licences
                            .get(&licence_id)
                            .is_none_or(|l| !l.usable() || l.client_id != Some(customer_id))
                }
                _ => true,
            })
            .collect();
        Ok((vec![true; plans.len()], orgs_broken))
    }
}
