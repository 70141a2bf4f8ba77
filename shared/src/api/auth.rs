//! Who is calling: the tenant and whether they are its admin, read from verified JWT claims.
//!
//! On AWS, API Gateway's JWT authorizer verifies the token and passes its claims in the request
//! context; the local runner verifies its own HS256 tokens and passes the same claims. Either way
//! the tenant comes only from there, never from the path or the body.

use std::collections::HashMap;

use super::ApiError;
use crate::{config::ClaimNames, domain::TenantId};

/// Verified claims, as API Gateway flattens them: every value a string.
pub type Claims = HashMap<String, String>;

/// The caller.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuthContext {
    /// The partner the caller belongs to.
    pub tenant: TenantId,
    /// Whether the caller holds the partner's admin role.
    pub is_admin: bool,
    /// The user: the token's `sub` claim, if it has one.
    pub subject: Option<String>,
}

impl AuthContext {
    /// Reads the caller from claims; a missing or malformed tenant claim is unauthenticated.
    pub fn from_claims(claims: &Claims, names: &ClaimNames) -> Result<Self, ApiError> {
        let tenant = claims
            .get(&names.tenant)
            .and_then(|t| TenantId::new(t.as_str()).ok())
            .ok_or(ApiError::Unauthenticated)?;
        let is_admin = claims
            .get(&names.role)
            .is_some_and(|roles| role_values(roles).any(|r| r == names.admin_role));
        let subject = claims.get("sub").filter(|s| !s.is_empty()).cloned();
        Ok(Self {
            tenant,
            is_admin,
            subject,
        })
    }
}

/// Splits a role claim into its values. API Gateway passes array claims as `[a b]`; other
/// issuers send `a,b` or a single value.
fn role_values(claim: &str) -> impl Iterator<Item = &str> {
    claim
        .trim_matches(|c| c == '[' || c == ']')
        .split(|c: char| c == ',' || c.is_whitespace())
        .map(|r| r.trim_matches('"'))
        .filter(|r| !r.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(pairs: &[(&str, &str)]) -> Claims {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn admin_from_any_role_shape() {
        let names = ClaimNames::default();
        for role in ["admin", "[viewer admin]", "viewer,admin", "[\"admin\"]"] {
            let ctx =
                AuthContext::from_claims(&claims(&[("tenant_id", "t1"), ("role", role)]), &names)
                    .unwrap();
            assert!(ctx.is_admin, "{role}");
        }
        let ctx = AuthContext::from_claims(
            &claims(&[("tenant_id", "t1"), ("role", "administrator")]),
            &names,
        )
        .unwrap();
        assert!(!ctx.is_admin);
    }

    #[test]
    fn no_tenant_no_entry() {
        let names = ClaimNames::default();
        assert!(AuthContext::from_claims(&claims(&[("role", "admin")]), &names).is_err());
        assert!(
            AuthContext::from_claims(&claims(&[("tenant_id", "a#b")]), &names).is_err(),
            "a tenant that could break out of its key prefix is refused"
        );
    }
}
