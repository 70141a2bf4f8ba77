//! Links from the platform's plans and organizations to vendor entities, one item per link.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::{
    FieldError, OrgId, PlanId, Provider,
    validation::{check_required_vendor_id, check_vendor_id},
};

/// What a plan maps to: an Autotask Service, or a ConnectWise catalog product.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "provider", rename_all = "lowercase")]
pub enum PlanTarget {
    /// An Autotask Service.
    Autotask {
        /// Services entity id.
        service_id: i64,
    },
    /// A ConnectWise procurement catalog product, sold as agreement additions.
    Connectwise {
        /// Catalog item id.
        product_id: i64,
    },
}

impl PlanTarget {
    /// The provider of the target.
    pub fn provider(&self) -> Provider {
        match self {
            PlanTarget::Autotask { .. } => Provider::Autotask,
            PlanTarget::Connectwise { .. } => Provider::Connectwise,
        }
    }
}

/// A plan linked to a vendor entity.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlanMapping {
    /// The platform plan.
    pub plan_id: PlanId,
    /// The vendor side.
    pub target: PlanTarget,
    /// Last change.
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
    /// Optimistic-concurrency version, set by the store.
    #[serde(default)]
    pub version: u64,
}

/// What an organization maps to at each provider.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "provider", rename_all = "lowercase")]
pub enum OrgTarget {
    /// Autotask: Company + Recurring Service contract + Contract Service (seed 000), or the
    /// company alone: a link for imports and tickets that seat sync skips (seed 004).
    Autotask {
        /// Companies entity id.
        company_id: i64,
        /// Contracts entity id (Recurring Service, of that company).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        contract_id: Option<i64>,
        /// ContractServices entity id (of that contract).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        contract_service_id: Option<i64>,
    },
    /// HaloPSA: Customer + Software Licence (seed 001).
    Halopsa {
        /// Client id.
        customer_id: i64,
        /// Software licence id (of that customer).
        licence_id: i64,
    },
    /// NinjaOne: organization (seed 003).
    Ninjaone {
        /// Organization id.
        organization_id: i64,
    },
    /// ConnectWise PSA: company + agreement + the addition that carries the seats.
    Connectwise {
        /// Company id.
        company_id: i64,
        /// Agreement id (of that company).
        agreement_id: i64,
        /// Addition id (of that agreement).
        addition_id: i64,
    },
}

impl OrgTarget {
    /// The vendor's own record of the organization (Autotask company, Halo customer, NinjaOne
    /// organization): what imported records name as their company.
    pub fn company_id(&self) -> i64 {
        match self {
            OrgTarget::Autotask { company_id, .. } => *company_id,
            OrgTarget::Halopsa { customer_id, .. } => *customer_id,
            OrgTarget::Ninjaone { organization_id } => *organization_id,
            OrgTarget::Connectwise { company_id, .. } => *company_id,
        }
    }

    /// Whether seat sync has somewhere to write seats: an Autotask link without its contract
    /// service does not.
    pub fn syncs_seats(&self) -> bool {
        match self {
            OrgTarget::Autotask {
                contract_service_id,
                ..
            } => contract_service_id.is_some(),
            OrgTarget::Halopsa { .. }
            | OrgTarget::Ninjaone { .. }
            | OrgTarget::Connectwise { .. } => true,
        }
    }

    /// The provider of the target.
    pub fn provider(&self) -> Provider {
        match self {
            OrgTarget::Autotask { .. } => Provider::Autotask,
            OrgTarget::Halopsa { .. } => Provider::Halopsa,
            OrgTarget::Ninjaone { .. } => Provider::Ninjaone,
            OrgTarget::Connectwise { .. } => Provider::Connectwise,
        }
    }

    /// Checks the shape; whether the entities exist and belong together is the provider's check.
    pub fn validate(&self) -> Result<(), Vec<FieldError>> {
        let mut errors = Vec::new();
        match *self {
            OrgTarget::Autotask {
                company_id,
                contract_id,
                contract_service_id,
            } => {
                check_required_vendor_id("company_id", company_id, &mut errors);
                check_vendor_id("contract_id", contract_id, &mut errors);
                check_vendor_id("contract_service_id", contract_service_id, &mut errors);
                // A contract without the service that carries the seats, or the reverse, links
                // nothing seat sync could write.
                match (contract_id, contract_service_id) {
                    (Some(_), None) => errors.push(FieldError::new(
                        "contract_service_id",
                        "is required with contract_id (a company alone is a link too)",
                    )),
                    (None, Some(_)) => errors.push(FieldError::new(
                        "contract_id",
                        "is required with contract_service_id (a company alone is a link too)",
                    )),
                    _ => {}
                }
            }
            OrgTarget::Halopsa {
                customer_id,
                licence_id,
            } => {
                check_required_vendor_id("customer_id", customer_id, &mut errors);
                check_required_vendor_id("licence_id", licence_id, &mut errors);
            }
            OrgTarget::Ninjaone { organization_id } => {
                check_required_vendor_id("organization_id", organization_id, &mut errors);
            }
            OrgTarget::Connectwise {
                company_id,
                agreement_id,
                addition_id,
            } => {
                check_required_vendor_id("company_id", company_id, &mut errors);
                check_required_vendor_id("agreement_id", agreement_id, &mut errors);
                check_required_vendor_id("addition_id", addition_id, &mut errors);
            }
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors)
        }
    }
}

/// An organization linked to vendor entities.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrgMapping {
    /// The platform organization.
    pub org_id: OrgId,
    /// The vendor side.
    pub target: OrgTarget,
    /// Last change.
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
    /// Optimistic-concurrency version, set by the store.
    #[serde(default)]
    pub version: u64,
}
