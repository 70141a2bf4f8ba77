//! Development tokens: HS256 JWTs carrying the same claims API Gateway's authorizer would pass.

use std::path::Path;

use http::HeaderValue;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde_json::{Map, Value};
use shared::{api::Claims, config::ClaimNames, store::keyfile};

use crate::SetupError;

/// Issuer of runner tokens; tokens from elsewhere are refused.
const ISSUER: &str = "msp-integrations-local";

/// How long a printed token lasts.
const LIFETIME_SECS: i64 = 12 * 3600;

/// The data directory's signing key.
pub struct TokenKey {
    encoding: EncodingKey,
    decoding: DecodingKey,
    claims: ClaimNames,
}

/// A token was missing its scheme, malformed, badly signed or expired.
#[derive(Debug, thiserror::Error)]
#[error("invalid token")]
pub struct InvalidToken;

impl TokenKey {
    /// Loads `token.key` from the data directory, creating it (mode 0600) on first run.
    pub fn open(data_dir: &Path, claims: &ClaimNames) -> Result<Self, SetupError> {
        let key = keyfile::load_or_create(&data_dir.join("token.key"), 32)
            .map_err(|e| SetupError(format!("token key: {e}")))?;
        Ok(Self {
            encoding: EncodingKey::from_secret(&key),
            decoding: DecodingKey::from_secret(&key),
            claims: claims.clone(),
        })
    }

    /// Signs a token for `tenant` with `role`, valid for twelve hours.
    pub fn mint(&self, tenant: &str, role: &str) -> String {
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        let mut claims = Map::new();
        claims.insert("iss".into(), ISSUER.into());
        claims.insert("sub".into(), format!("local-user@{tenant}").into());
        claims.insert("iat".into(), now.into());
        claims.insert("exp".into(), (now + LIFETIME_SECS).into());
        claims.insert(self.claims.tenant.clone(), tenant.into());
        claims.insert(self.claims.role.clone(), role.into());
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .expect("HS256 signing cannot fail")
    }

    /// Verifies an `Authorization: Bearer …` header and returns its claims, flattened to
    /// strings as API Gateway does.
    pub fn verify_header(&self, value: &HeaderValue) -> Result<Claims, InvalidToken> {
        let token = value
            .to_str()
            .ok()
            .and_then(|v| v.strip_prefix("Bearer "))
            .ok_or(InvalidToken)?;
        self.verify(token.trim())
    }

    /// Verifies a token and returns its claims.
    pub fn verify(&self, token: &str) -> Result<Claims, InvalidToken> {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_issuer(&[ISSUER]);
        validation.set_required_spec_claims(&["exp", "iss"]);
        let data = jsonwebtoken::decode::<Map<String, Value>>(token, &self.decoding, &validation)
            .map_err(|_| InvalidToken)?;
        Ok(data
            .claims
            .into_iter()
            .map(|(k, v)| {
                let text = match v {
                    Value::String(s) => s,
                    Value::Array(items) => format!(
                        "[{}]",
                        items
                            .iter()
                            .map(|i| i.as_str().map_or_else(|| i.to_string(), str::to_owned))
                            .collect::<Vec<_>>()
                            .join(" ")
                    ),
                    other => other.to_string(),
                };
                (k, text)
            })
            .collect())
    }
}
