//! A pending OAuth consent: what the callback needs to finish a connect the partner started,
//! stored under a hash of its `state` for ten minutes and consumed once.

use std::fmt;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;

use super::{NinjaRegion, Provider, TenantId};

/// How long a partner has to approve on the vendor's consent page.
pub const CONSENT_TTL: time::Duration = time::Duration::minutes(10);

/// A consent waiting for the vendor's redirect.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingConsent {
    /// The partner who started it.
    pub tenant: TenantId,
    /// The provider.
    pub provider: Provider,
    /// The vendor instance the code must come from (mix-up defence: one AS per region).
    pub region: NinjaRegion,
    /// The PKCE verifier; useless without the code and the partner's client secret.
    pub code_verifier: String,
    /// When the partner clicked Connect.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// When it lapses.
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
    /// The user who clicked Connect (the token's `sub`), for the audit trail of the
    /// connection the callback makes.
    #[serde(default)]
    pub actor: Option<String>,
}

impl fmt::Debug for PendingConsent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PendingConsent")
            .field("tenant", &self.tenant)
            .field("provider", &self.provider)
            .field("region", &self.region)
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

/// A fresh `state` (256 random bits) and PKCE pair (RFC 7636, S256).
pub struct ConsentSecrets {
    /// Sent to the vendor and back; only its hash is stored.
    pub state: String,
    /// Kept with the pending consent.
    pub code_verifier: String,
    /// Sent on the consent URL.
    pub code_challenge: String,
}

impl ConsentSecrets {
    /// New random values.
    pub fn generate() -> Self {
        let state = random_b64(32);
        let code_verifier = random_b64(32);
        let code_challenge = pkce_challenge(&code_verifier);
        Self {
            state,
            code_verifier,
            code_challenge,
        }
    }
}

fn random_b64(bytes: usize) -> String {
    use base64::Engine;
    let mut buf = vec![0u8; bytes];
    getrandom::fill(&mut buf).expect("the operating system provides randomness");
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(buf)
}

/// The S256 challenge of a verifier.
pub fn pkce_challenge(verifier: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

/// What the store keys a consent by: the state never rests anywhere in the clear.
pub fn state_hash(state: &str) -> String {
    hex::encode(Sha256::digest(state.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pkce_matches_rfc_7636_appendix_b() {
        assert_eq!(
            pkce_challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
    }

    #[test]
    fn states_are_long_random_and_hashed() {
        let a = ConsentSecrets::generate();
        let b = ConsentSecrets::generate();
        assert_ne!(a.state, b.state);
        assert_eq!(a.state.len(), 43, "256 bits in base64url");
        assert_eq!(state_hash(&a.state).len(), 64);
        assert_ne!(state_hash(&a.state), a.state);
    }
}
