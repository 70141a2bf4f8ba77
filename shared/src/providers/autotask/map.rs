//! Mapping: the catalog (Services, Companies, Recurring Service contracts, Contract Services),
//! plans to Services, organizations to Company + contract + Contract Service, checked in bulk.

use std::collections::HashMap;

use async_trait::async_trait;
use serde_json::{Value, json};

use super::{
    AutotaskIntegration, not_autotask,
    wire::{Company, Contract, ContractService, RECURRING_SERVICE, Service},
};
use crate::{
    domain::{FieldError, OrgTarget, PlanTarget},
    ports::{CatalogItem, CatalogPage, CatalogQuery, Mapper, MatchTarget, Session, VendorError},
};

fn page_filter(
    base: Vec<Value>,
    query: &CatalogQuery,
    name_field: &str,
) -> Result<Vec<Value>, VendorError> {
    let mut filter = base;
    let after: i64 = match &query.after {
        Some(a) => a
            .parse()
            .map_err(|_| VendorError::invalid("after", "is not a cursor from this listing"))?,
        None => 0,
    };
    filter.push(json!({"op": "gt", "field": "id", "value": after}));
    if let Some(search) = query.search.as_deref().filter(|s| !s.trim().is_empty()) {
        filter.push(json!({"op": "contains", "field": name_field, "value": search.trim()}));
    }
    Ok(filter)
}

fn page_of(items: Vec<CatalogItem>, limit: usize) -> CatalogPage {
    let next = (items.len() >= limit)
        .then(|| items.last().map(|i| i.id.to_string()))
        .flatten();
    CatalogPage { items, next }
}

#[async_trait]
impl Mapper for AutotaskIntegration {
    fn kinds(&self) -> &'static [&'static str] {
        &["services", "companies", "contracts", "contract-services"]
    }

    fn maps_plans(&self) -> bool {
        true
    }

    /// Auto-match links a company alone; the contract comes with a full mapping.
    fn match_target(&self) -> Option<MatchTarget> {
        Some(("companies", |company_id| OrgTarget::Autotask {
            company_id,
            contract_id: None,
            contract_service_id: None,
        }))
    }

    async fn catalog(
        &self,
        session: &Session,
        kind: &str,
        query: &CatalogQuery,
    ) -> Result<CatalogPage, VendorError> {
        let limit = query.limit;
        match kind {
            "services" => {
                let filter = page_filter(
                    vec![json!({"op": "eq", "field": "isActive", "value": true})],
                    query,
                    "name",
                )?;
                let rows: Vec<Service> = self
                    .client(session)
                    .await?
                    .query_page("Services", Value::Array(filter), limit)
                    .await?;
                Ok(page_of(
                    rows.into_iter()
                        .map(|s| CatalogItem {
                            id: s.id,
                            name: s.name,
                            active: s.is_active,
                            parent_id: None,
                            service_id: None,
                        })
                        .collect(),
                    limit,
                ))
            }
            "companies" => {
                let filter = page_filter(
                    vec![json!({"op": "eq", "field": "isActive", "value": true})],
                    query,
                    "companyName",
                )?;
                let rows: Vec<Company> = self
                    .client(session)
                    .await?
                    .query_page("Companies", Value::Array(filter), limit)
                    .await?;
                Ok(page_of(
                    rows.into_iter()
                        .map(|c| CatalogItem {
                            id: c.id,
                            name: c.company_name,
                            active: c.is_active,
                            parent_id: None,
                            service_id: None,
                        })
                        .collect(),
                    limit,
                ))
            }
            "contracts" => {
                let company = query.parent.ok_or_else(|| {
                    VendorError::invalid("company_id", "is required to list a company's contracts")
                })?;
                let filter = page_filter(
                    vec![
                        json!({"op": "eq", "field": "companyID", "value": company}),
                        json!({"op": "eq", "field": "contractType", "value": RECURRING_SERVICE}),
                    ],
                    query,
                    "contractName",
                )?;
                let rows: Vec<Contract> = self
                    .client(session)
                    .await?
                    .query_page("Contracts", Value::Array(filter), limit)
                    .await?;
                Ok(page_of(
                    rows.into_iter()
                        .map(|c| CatalogItem {
                            id: c.id,
                            name: c.contract_name,
                            active: c.status == Some(1),
                            parent_id: Some(c.company_id),
                            service_id: None,
                        })
                        .collect(),
                    limit,
                ))
            }
            "contract-services" => {
                let contract = query.parent.ok_or_else(|| {
                    VendorError::invalid("contract_id", "is required to list a contract's services")
                })?;
                let filter = page_filter(
                    vec![json!({"op": "eq", "field": "contractID", "value": contract})],
                    query,
                    "invoiceDescription",
                )?;
                let c = self.client(session).await?;
                {
                    let rows: Vec<ContractService> = c
                        .query_page("ContractServices", Value::Array(filter), limit)
                        .await?;
                    let ids: Vec<i64> = rows.iter().map(|r| r.service_id).collect();
                    let services: HashMap<i64, Service> = c
                        .query_in::<Service>("Services", "id", &ids, &[])
                        .await?
                        .into_iter()
                        .map(|s| (s.id, s))
                        .collect();
                    Ok(page_of(
                        rows.into_iter()
                            .map(|r| {
                                let service = services.get(&r.service_id);
                                CatalogItem {
                                    id: r.id,
                                    name: service
                                        .map(|s| s.name.clone())
                                        .or(r.invoice_description)
                                        .unwrap_or_else(|| format!("Service {}", r.service_id)),
                                    active: service.is_some_and(|s| s.is_active),
                                    parent_id: Some(r.contract_id),
                                    service_id: Some(r.service_id),
                                }
                            })
                            .collect(),
                        limit,
                    ))
                }
            }
            other => Err(VendorError::invalid(
                "kind",
                format!("unknown catalog {other:?}"),
            )),
        }
    }

    async fn check_plan(&self, session: &Session, target: &PlanTarget) -> Result<(), VendorError> {
        let PlanTarget::Autotask { service_id } = *target else {
            return Err(VendorError::invalid(
                "plan_id",
                "is not mapped to an Autotask service",
            ));
        };
        let service: Option<Service> = self
            .client(session)
            .await?
            .get("Services", service_id)
            .await?;
        match service {
            None => Err(VendorError::invalid(
                "service_id",
                format!("Autotask has no Service {service_id}"),
            )),
            Some(s) if !s.is_active => Err(VendorError::invalid(
                "service_id",
                format!("Service {service_id} ({}) is inactive", s.name),
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
        let OrgTarget::Autotask {
            company_id,
            contract_id,
            contract_service_id,
        } = *target
        else {
            return Err(not_autotask());
        };
        let c = self.client(session).await?;
        let company = c.get::<Company>("Companies", company_id).await?;
        let mut errors = Vec::new();
        match company {
            None => errors.push(FieldError::new(
                "company_id",
                format!("Autotask has no company {company_id}"),
            )),
            Some(c) if !c.is_active => errors.push(FieldError::new(
                "company_id",
                format!("company {company_id} ({}) is inactive", c.company_name),
            )),
            Some(_) => {}
        }
        // A company-only link (validated: both or neither) stops here.
        if let (Some(contract_id), Some(contract_service_id)) = (contract_id, contract_service_id) {
            let (contract, contract_service) = tokio::try_join!(
                c.get::<Contract>("Contracts", contract_id),
                c.get::<ContractService>("ContractServices", contract_service_id),
            )?;
            check_contract(
                &mut errors,
                company_id,
                (contract_id, contract.as_ref()),
                (contract_service_id, contract_service.as_ref()),
                plan,
            );
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(VendorError::Invalid {
                detail: "the Autotask entities do not fit together".into(),
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
        let service_ids: Vec<i64> = plans.iter().filter_map(service_of).collect();
        let links: Vec<(i64, Option<i64>, Option<i64>)> = orgs
            .iter()
            .filter_map(|t| match *t {
                OrgTarget::Autotask {
                    company_id,
                    contract_id,
                    contract_service_id,
                } => Some((company_id, contract_id, contract_service_id)),
                _ => None,
            })
            .collect();
        let companies: Vec<i64> = links.iter().map(|t| t.0).collect();
        let contracts: Vec<i64> = links.iter().filter_map(|t| t.1).collect();
        let contract_services: Vec<i64> = links.iter().filter_map(|t| t.2).collect();
        let c = self.client(session).await?;
        let none = |v: &Vec<i64>| v.is_empty();
        let (services, companies, contracts, contract_services) = tokio::try_join!(
            async {
                if none(&service_ids) {
                    Ok(vec![])
                } else {
                    c.query_in::<Service>("Services", "id", &service_ids, &[])
                        .await
                }
            },
            async {
                if none(&companies) {
                    Ok(vec![])
                } else {
                    c.query_in::<Company>("Companies", "id", &companies, &[])
                        .await
                }
            },
            async {
                if none(&contracts) {
                    Ok(vec![])
                } else {
                    c.query_in::<Contract>("Contracts", "id", &contracts, &[])
                        .await
                }
            },
            async {
                if none(&contract_services) {
                    Ok(vec![])
                } else {
                    c.query_in::<ContractService>("ContractServices", "id", &contract_services, &[])
                        .await
                }
            },
        )?;
        let active_services: HashMap<i64, bool> =
            services.iter().map(|s| (s.id, s.is_active)).collect();
        let active_companies: HashMap<i64, bool> =
            companies.iter().map(|c| (c.id, c.is_active)).collect();
        let contract_of: HashMap<i64, &Contract> = contracts.iter().map(|c| (c.id, c)).collect();
        let cs_of: HashMap<i64, &ContractService> =
            contract_services.iter().map(|c| (c.id, c)).collect();
        let plans_broken = plans
            .iter()
            .map(|t| {
                service_of(t).is_none_or(|id| !active_services.get(&id).copied().unwrap_or(false))
            })
            .collect();
        let orgs_broken = orgs
            .iter()
            .map(|t| match *t {
                OrgTarget::Autotask {
                    company_id,
                    contract_id,
                    contract_service_id,
                } => {
                    let contract_broken = match (contract_id, contract_service_id) {
                        (Some(contract_id), Some(contract_service_id)) => {
                            contract_of
                                .get(&contract_id)
                                .is_none_or(|c| c.company_id != company_id)
                                || cs_of
                                    .get(&contract_service_id)
                                    .is_none_or(|cs| cs.contract_id != contract_id)
                        }
                        _ => false,
                    };
                    !active_companies.get(&company_id).copied().unwrap_or(false) || contract_broken
                }
                _ => true,
            })
            .collect();
        Ok((plans_broken, orgs_broken))
    }
}

/// The contract and contract service of a seat link: the company's Recurring Service contract,
/// and a service of that contract that sells the plan's Service.
fn check_contract(
    errors: &mut Vec<FieldError>,
    company_id: i64,
    (contract_id, contract): (i64, Option<&Contract>),
    (contract_service_id, contract_service): (i64, Option<&ContractService>),
    plan: Option<&PlanTarget>,
) {
    match contract {
        None => errors.push(FieldError::new(
            "contract_id",
            format!("Autotask has no contract {contract_id}"),
        )),
        Some(c) if c.company_id != company_id => errors.push(FieldError::new(
            "contract_id",
            format!(
                "contract {contract_id} belongs to company {}, not {company_id}",
                c.company_id
            ),
        )),
        Some(c) if c.contract_type != Some(RECURRING_SERVICE) => errors.push(FieldError::new(
            "contract_id",
            format!("contract {contract_id} is not a Recurring Service contract"),
        )),
        Some(_) => {}
    }
    match contract_service {
        None => errors.push(FieldError::new(
            "contract_service_id",
            format!("Autotask has no contract service {contract_service_id}"),
        )),
        Some(cs) if cs.contract_id != contract_id => errors.push(FieldError::new(
            "contract_service_id",
            format!(
                "contract service {contract_service_id} belongs to contract {}, not {contract_id}",
                cs.contract_id
            ),
        )),
        Some(cs) => {
            if let Some(PlanTarget::Autotask { service_id }) = plan
                && cs.service_id != *service_id
            {
                errors.push(FieldError::new(
                        "contract_service_id",
                        format!(
                            "contract service {contract_service_id} sells Service {}, but the organization's plan maps to Service {service_id}",
                            cs.service_id
                        ),
                    ));
            }
        }
    }
}

/// The Autotask service a plan maps to.
fn service_of(target: &PlanTarget) -> Option<i64> {
    match *target {
        PlanTarget::Autotask { service_id } => Some(service_id),
        _ => None,
    }
}
