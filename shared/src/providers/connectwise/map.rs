//! Mapping: catalog products, companies, a company's agreements and an agreement's additions
//! as catalogs; the checks behind linking a plan or an organization; and reading many links in
//! bulk: records by `id in (...)` lists split to fit the URL, additions once per distinct
//! agreement (ConnectWise lists them only per agreement).

use std::collections::{BTreeSet, HashMap};

use async_trait::async_trait;
use futures::{StreamExt, TryStreamExt, stream};
use serde::de::DeserializeOwned;

use super::{
    ConnectwiseIntegration,
    client::{Client, MAX_CONDITIONS},
    wire::{self, Addition, Agreement, CatalogItem, Company},
};
use crate::{
    domain::{FieldError, OrgTarget, PlanTarget},
    ports::{self, CatalogPage, CatalogQuery, Mapper, Session, VendorError},
};

/// The fields seat sync and the link checks read of an addition.
pub const ADDITION_FIELDS: &str =
    "id,product/id,quantity,agreementStatus,cancelledDate,agreementId";
const AGREEMENT_FIELDS: &str = "id,name,company/id,agreementStatus,cancelledFlag";
const COMPANY_FIELDS: &str = "id,name,identifier,deletedFlag";
const CATALOG_FIELDS: &str = "id,identifier,description,inactiveFlag";

/// A ConnectWise record with an id.
pub trait Record: DeserializeOwned + Send {
    /// Its id.
    fn id(&self) -> i64;
}

impl Record for Company {
    fn id(&self) -> i64 {
        self.id
    }
}

impl Record for Agreement {
    fn id(&self) -> i64 {
        self.id
    }
}

impl Record for CatalogItem {
    fn id(&self) -> i64 {
        self.id
    }
}

/// The records of `path` with these ids, in as few calls as the URL length allows.
pub async fn by_ids<T: Record>(
    client: &Client<'_>,
    path: &str,
    ids: &[i64],
    fields: &str,
    concurrency: usize,
) -> Result<HashMap<i64, T>, VendorError> {
    let distinct: Vec<i64> = ids
        .iter()
        .copied()
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let pages: Vec<Vec<T>> = stream::iter(wire::in_lists("id", &distinct, MAX_CONDITIONS))
        .map(
            |conditions| async move { client.list_all::<T>(path, Some(&conditions), fields).await },
        )
        .buffer_unordered(concurrency.max(1))
        .try_collect()
        .await?;
    Ok(pages.into_iter().flatten().map(|r| (r.id(), r)).collect())
}

/// Every addition of these agreements, by (agreement, addition): one read per distinct
/// agreement, however many organizations share it.
pub async fn additions_of(
    client: &Client<'_>,
    agreements: impl IntoIterator<Item = i64>,
    concurrency: usize,
) -> Result<HashMap<(i64, i64), Addition>, VendorError> {
    let distinct: BTreeSet<i64> = agreements.into_iter().collect();
    let per_agreement: Vec<(i64, Vec<Addition>)> = stream::iter(distinct)
        .map(|agreement| async move {
            let path = format!("finance/agreements/{agreement}/additions");
            let rows = client
                .list_all::<Addition>(&path, None, ADDITION_FIELDS)
                .await?;
            Ok::<_, VendorError>((agreement, rows))
        })
        .buffer_unordered(concurrency.max(1))
        .try_collect()
        .await?;
    Ok(per_agreement
        .into_iter()
        .flat_map(|(agreement, rows)| rows.into_iter().map(move |a| ((agreement, a.id), a)))
        .collect())
}

/// The (company, agreement, addition) of a ConnectWise link.
pub fn link_of(target: &OrgTarget) -> Option<(i64, i64, i64)> {
    match *target {
        OrgTarget::Connectwise {
            company_id,
            agreement_id,
            addition_id,
        } => Some((company_id, agreement_id, addition_id)),
        _ => None,
    }
}

fn product_of(target: &PlanTarget) -> Option<i64> {
    match *target {
        PlanTarget::Connectwise { product_id } => Some(product_id),
        _ => None,
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

/// `name contains "..."`-style search, refused when it holds what a condition cannot quote.
fn search(query: &CatalogQuery, fields: &[&str]) -> Result<Option<String>, VendorError> {
    let Some(text) = query
        .search
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
    else {
        return Ok(None);
    };
    let quoted = wire::quoted(text).ok_or_else(|| {
        VendorError::invalid("search", "must not contain double quotes or backslashes")
    })?;
    let any: Vec<String> = fields
        .iter()
        .map(|f| format!("{f} contains {quoted}"))
        .collect();
    Ok(Some(format!("({})", any.join(" or "))))
}

fn item(id: i64, name: String, active: bool, parent_id: Option<i64>) -> ports::CatalogItem {
    ports::CatalogItem {
        id,
        name,
        active,
        parent_id,
        service_id: None,
    }
}

fn required(parent: Option<i64>, field: &str, what: &str) -> Result<i64, VendorError> {
    parent.ok_or_else(|| VendorError::invalid(field, format!("is required to list {what}")))
}

#[async_trait]
impl Mapper for ConnectwiseIntegration {
    fn kinds(&self) -> &'static [&'static str] {
        &["products", "companies", "agreements", "additions"]
    }

    fn maps_plans(&self) -> bool {
        true
    }

    async fn catalog(
        &self,
        session: &Session,
        kind: &str,
        query: &CatalogQuery,
    ) -> Result<CatalogPage, VendorError> {
        let page = page_no(query)?;
        let client = self.client(session).await?;
        let mut conditions: Vec<String> = Vec::new();
        let (path, fields, order) = match kind {
            "products" => {
                conditions.push("inactiveFlag=false".into());
                conditions.extend(search(query, &["identifier", "description"])?);
                (
                    "procurement/catalog".to_owned(),
                    CATALOG_FIELDS,
                    "identifier asc",
                )
            }
            "companies" => {
                conditions.push("deletedFlag=false".into());
                conditions.extend(search(query, &["name", "identifier"])?);
                ("company/companies".to_owned(), COMPANY_FIELDS, "name asc")
            }
            "agreements" => {
                let company = required(query.parent, "company_id", "a company's agreements")?;
                conditions.push(format!("company/id={company}"));
                conditions.extend(search(query, &["name"])?);
                (
                    "finance/agreements".to_owned(),
                    AGREEMENT_FIELDS,
                    "name asc",
                )
            }
            "additions" => {
                let agreement = required(query.parent, "agreement_id", "an agreement's additions")?;
                (
                    format!("finance/agreements/{agreement}/additions"),
                    "id,product/id,product/identifier,quantity,agreementStatus,cancelledDate,agreementId",
                    "id asc",
                )
            }
            other => {
                return Err(VendorError::invalid(
                    "kind",
                    format!("unknown catalog {other:?}"),
                ));
            }
        };
        let mut params: Vec<(&str, String)> =
            vec![("fields", fields.to_owned()), ("orderBy", order.to_owned())];
        if !conditions.is_empty() {
            params.push(("conditions", conditions.join(" and ")));
        }
        let items: Vec<ports::CatalogItem>;
        let more;
        match kind {
            "products" => {
                let (rows, m) = client
                    .page::<CatalogItem>(&path, &params, page, query.limit)
                    .await?;
                more = m;
                items = rows
                    .into_iter()
                    .map(|c| item(c.id, c.label(), !c.inactive_flag.unwrap_or(false), None))
                    .collect();
            }
            "companies" => {
                let (rows, m) = client
                    .page::<Company>(&path, &params, page, query.limit)
                    .await?;
                more = m;
                items = rows
                    .into_iter()
                    .map(|c| {
                        let name = c.name.clone().or(c.identifier.clone()).unwrap_or_default();
                        item(c.id, name, !c.deleted_flag.unwrap_or(false), None)
                    })
                    .collect();
            }
            "agreements" => {
                let (rows, m) = client
                    .page::<Agreement>(&path, &params, page, query.limit)
                    .await?;
                more = m;
                items = rows
                    .into_iter()
                    .map(|a| {
                        let name = a
                            .name
                            .clone()
                            .unwrap_or_else(|| format!("agreement {}", a.id));
                        item(a.id, name, a.usable(), a.company_id())
                    })
                    .collect();
            }
            _ => {
                let (rows, m) = client
                    .page::<Addition>(&path, &params, page, query.limit)
                    .await?;
                more = m;
                items =
                    rows.into_iter()
                        .map(|a| {
                            let product = a.product.as_ref();
                            let name = format!(
                                "{} × {}",
                                product.and_then(|p| p.identifier.clone()).unwrap_or_else(
                                    || format!("product {}", a.product_id().unwrap_or(0))
                                ),
                                a.seats()
                            );
                            ports::CatalogItem {
                                service_id: a.product_id(),
                                ..item(a.id, name, a.usable(), query.parent)
                            }
                        })
                        .collect();
            }
        }
        Ok(CatalogPage {
            items,
            next: more.then(|| (page + 1).to_string()),
        })
    }

    async fn check_plan(&self, session: &Session, target: &PlanTarget) -> Result<(), VendorError> {
        let product_id = product_of(target).ok_or_else(super::not_connectwise_target)?;
        let product: Option<CatalogItem> = self
            .client(session)
            .await?
            .get(
                &format!("procurement/catalog/{product_id}"),
                &[("fields", CATALOG_FIELDS.to_owned())],
            )
            .await?;
        match product {
            None => Err(VendorError::invalid(
                "product_id",
                format!("ConnectWise has no catalog product {product_id}"),
            )),
            Some(p) if p.inactive_flag.unwrap_or(false) => Err(VendorError::invalid(
                "product_id",
                format!("catalog product {product_id} ({}) is inactive", p.label()),
            )),
            Some(_) => Ok(()),
        }
    }

    async fn check_org(
        &self,
        session: &Session,
        target: &OrgTarget,
        plan: Option<&PlanTarget>,
    ) -> Result<(), VendorError> {
        let (company_id, agreement_id, addition_id) =
            link_of(target).ok_or_else(super::not_connectwise_target)?;
        let client = self.client(session).await?;
        let (company_path, agreement_path, addition_path) = (
            format!("company/companies/{company_id}"),
            format!("finance/agreements/{agreement_id}"),
            format!("finance/agreements/{agreement_id}/additions/{addition_id}"),
        );
        let fields = |f: &str| [("fields", f.to_owned())];
        let (company_fields, agreement_fields, addition_fields) = (
            fields(COMPANY_FIELDS),
            fields(AGREEMENT_FIELDS),
            fields(ADDITION_FIELDS),
        );
        let (company, agreement, addition) = tokio::try_join!(
            client.get::<Company>(&company_path, &company_fields),
            client.get::<Agreement>(&agreement_path, &agreement_fields),
            client.get::<Addition>(&addition_path, &addition_fields),
        )?;
        let mut errors = Vec::new();
        match &company {
            None => errors.push(FieldError::new(
                "company_id",
                format!("ConnectWise has no company {company_id}"),
            )),
            Some(c) if c.deleted_flag.unwrap_or(false) => errors.push(FieldError::new(
                "company_id",
                format!("company {company_id} is deleted"),
            )),
            Some(_) => {}
        }
        match &agreement {
            None => errors.push(FieldError::new(
                "agreement_id",
                format!("ConnectWise has no agreement {agreement_id}"),
            )),
            Some(a) if a.company_id() != Some(company_id) => errors.push(FieldError::new(
                "agreement_id",
                format!(
                    "agreement {agreement_id} belongs to {}, not company {company_id}",
                    a.company_id()
                        .map_or("no company".to_owned(), |c| format!("company {c}"))
                ),
            )),
            Some(a) if !a.usable() => errors.push(FieldError::new(
                "agreement_id",
                format!(
                    "agreement {agreement_id} is {}",
                    a.agreement_status
                        .as_deref()
                        .filter(|s| !s.eq_ignore_ascii_case("active"))
                        .unwrap_or("cancelled")
                        .to_ascii_lowercase()
                ),
            )),
            Some(_) => {}
        }
        match &addition {
            None => errors.push(FieldError::new(
                "addition_id",
                format!("agreement {agreement_id} has no addition {addition_id}"),
            )),
            Some(a) if a.agreement_id.is_some_and(|id| id != agreement_id) => {
                errors.push(FieldError::new(
                    "addition_id",
                    format!("addition {addition_id} is not agreement {agreement_id}'s"),
                ))
            }
            Some(a) if !a.usable() => errors.push(FieldError::new(
                "addition_id",
                format!("addition {addition_id} is cancelled"),
            )),
            Some(a) => {
                if let Some(wanted) = plan.and_then(product_of)
                    && a.product_id() != Some(wanted)
                {
                    errors.push(FieldError::new(
                        "addition_id",
                        format!(
                            "addition {addition_id} sells product {}, but the organization's plan maps to product {wanted}",
                            a.product_id().map_or("none".to_owned(), |p| p.to_string())
                        ),
                    ));
                }
            }
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(VendorError::Invalid {
                detail: "the ConnectWise company, agreement and addition do not fit together"
                    .into(),
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
        let links: Vec<(i64, i64, i64)> = orgs.iter().filter_map(link_of).collect();
        let products: Vec<i64> = plans.iter().filter_map(product_of).collect();
        let companies: Vec<i64> = links.iter().map(|l| l.0).collect();
        let agreements: Vec<i64> = links.iter().map(|l| l.1).collect();
        let client = self.client(session).await?;
        let n = self.options.concurrency;
        let (products, companies, agreements_found, additions) = tokio::try_join!(
            by_ids::<CatalogItem>(&client, "procurement/catalog", &products, CATALOG_FIELDS, n),
            by_ids::<Company>(&client, "company/companies", &companies, COMPANY_FIELDS, n),
            by_ids::<Agreement>(
                &client,
                "finance/agreements",
                &agreements,
                AGREEMENT_FIELDS,
                n
            ),
            additions_of(&client, agreements.iter().copied(), n),
        )?;
        let plans_broken = plans
            .iter()
            .map(|t| {
                product_of(t).is_none_or(|id| {
                    products
                        .get(&id)
                        .is_none_or(|p| p.inactive_flag.unwrap_or(false))
                })
            })
            .collect();
        let orgs_broken = orgs
            .iter()
            .map(|t| {
                let Some((company, agreement, addition)) = link_of(t) else {
                    return true;
                };
                companies
                    .get(&company)
                    .is_none_or(|c| c.deleted_flag.unwrap_or(false))
                    || agreements_found
                        .get(&agreement)
                        .is_none_or(|a| !a.usable() || a.company_id() != Some(company))
                    || additions
                        .get(&(agreement, addition))
                        .is_none_or(|a| !a.usable())
            })
            .collect();
        Ok((plans_broken, orgs_broken))
    }
}
