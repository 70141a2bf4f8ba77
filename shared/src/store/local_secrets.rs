//! The embedded secret store: partner secrets encrypted at rest (XChaCha20-Poly1305) in the
//! SQLite file, under a key file created on first run with mode 0600.

use std::{
    path::Path,
    sync::{Arc, Mutex},
};

use async_trait::async_trait;
use chacha20poly1305::{
    KeyInit, XChaCha20Poly1305, XNonce,
    aead::{Aead, Payload},
};
use rusqlite::{Connection, OptionalExtension, params};
use secrecy::{ExposeSecret, SecretString};

use super::keyfile;
use crate::ports::{SecretError, SecretName, Secrets};

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS secrets (
    name       TEXT PRIMARY KEY,
    nonce      BLOB NOT NULL,
    ciphertext BLOB NOT NULL
);
";

/// Encrypted secrets in SQLite. Each value is bound to its name as associated data, so a row
/// copied under another name does not decrypt.
pub struct LocalSecrets {
    conn: Arc<Mutex<Connection>>,
    cipher: Arc<XChaCha20Poly1305>,
}

impl std::fmt::Debug for LocalSecrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LocalSecrets { .. }")
    }
}

fn setup_error(what: impl std::fmt::Display) -> SecretError {
    SecretError::Unavailable {
        name: "(local secret store)".into(),
        reason: what.to_string(),
    }
}

impl LocalSecrets {
    /// Opens the secrets table in the database at `db_path`, with the key at `key_path`
    /// (created, mode 0600, if missing).
    pub fn open(db_path: &Path, key_path: &Path) -> Result<Self, SecretError> {
        let key = keyfile::load_or_create(key_path, 32).map_err(setup_error)?;
        let conn = Connection::open(db_path).map_err(setup_error)?;
        Self::init(conn, &key)
    }

    /// A private in-memory store with a fresh key, for tests.
    pub fn in_memory() -> Result<Self, SecretError> {
        let mut key = [0u8; 32];
        getrandom::fill(&mut key).map_err(setup_error)?;
        Self::init(Connection::open_in_memory().map_err(setup_error)?, &key)
    }

    fn init(conn: Connection, key: &[u8]) -> Result<Self, SecretError> {
        conn.busy_timeout(std::time::Duration::from_secs(5))
            .map_err(setup_error)?;
        conn.execute_batch(SCHEMA).map_err(setup_error)?;
        let cipher = XChaCha20Poly1305::new_from_slice(key).map_err(setup_error)?;
        Ok(Self {
            conn: Arc::new(Mutex::new(conn)),
            cipher: Arc::new(cipher),
        })
    }

    async fn run<R, F>(&self, name: &SecretName, f: F) -> Result<R, SecretError>
    where
        R: Send + 'static,
        F: FnOnce(&Connection, &XChaCha20Poly1305) -> Result<R, String> + Send + 'static,
    {
        let (conn, cipher) = (Arc::clone(&self.conn), Arc::clone(&self.cipher));
        let unavailable = |reason: String| SecretError::Unavailable {
            name: name.to_string(),
            reason,
        };
        tokio::task::spawn_blocking(move || {
            let conn = conn.lock().map_err(|_| "connection poisoned".to_owned())?;
            f(&conn, &cipher)
        })
        .await
        .map_err(|e| unavailable(e.to_string()))?
        .map_err(unavailable)
    }
}

#[async_trait]
impl Secrets for LocalSecrets {
    async fn put(&self, name: &SecretName, value: &SecretString) -> Result<(), SecretError> {
        let mut nonce = [0u8; 24];
        getrandom::fill(&mut nonce).map_err(setup_error)?;
        let ciphertext = self
            .cipher
            .encrypt(
                XNonce::from_slice(&nonce),
                Payload {
                    msg: value.expose_secret().as_bytes(),
                    aad: name.as_str().as_bytes(),
                },
            )
            .map_err(|_| setup_error("encryption failed"))?;
        let key = name.as_str().to_owned();
        self.run(name, move |conn, _| {
            conn.execute(
                "INSERT OR REPLACE INTO secrets (name, nonce, ciphertext) VALUES (?1, ?2, ?3)",
                params![key, nonce.to_vec(), ciphertext],
            )
            .map(|_| ())
            .map_err(|e| e.to_string())
        })
        .await
    }

    async fn get(&self, name: &SecretName) -> Result<Option<SecretString>, SecretError> {
        let key = name.as_str().to_owned();
        let row = self
            .run(name, move |conn, _| {
                conn.query_row(
                    "SELECT nonce, ciphertext FROM secrets WHERE name = ?1",
                    params![key],
                    |r| Ok((r.get::<_, Vec<u8>>(0)?, r.get::<_, Vec<u8>>(1)?)),
                )
                .optional()
                .map_err(|e| e.to_string())
            })
            .await?;
        let Some((nonce, ciphertext)) = row else {
            return Ok(None);
        };
        let corrupt = |reason: &str| SecretError::Corrupt {
            name: name.to_string(),
            reason: reason.into(),
        };
        if nonce.len() != 24 {
            return Err(corrupt("bad nonce"));
        }
        let plain = self
            .cipher
            .decrypt(
                XNonce::from_slice(&nonce),
                Payload {
                    msg: &ciphertext,
                    aad: name.as_str().as_bytes(),
                },
            )
            .map_err(|_| corrupt("does not decrypt with this data directory's key"))?;
        let text = String::from_utf8(plain).map_err(|_| corrupt("not UTF-8"))?;
        Ok(Some(SecretString::from(text)))
    }

    async fn delete(&self, name: &SecretName) -> Result<(), SecretError> {
        let key = name.as_str().to_owned();
        self.run(name, move |conn, _| {
            conn.execute("DELETE FROM secrets WHERE name = ?1", params![key])
                .map(|_| ())
                .map_err(|e| e.to_string())
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn ciphertext_is_bound_to_its_name_and_not_plaintext() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("s.db");
        let secrets = LocalSecrets::open(&db, &dir.path().join("k")).unwrap();
        let a = SecretName::from_stored("p/t/autotask");
        secrets
            .put(&a, &SecretString::from("hunter2-very-secret"))
            .await
            .unwrap();
        let raw = std::fs::read(&db).unwrap();
        assert!(!raw.windows(19).any(|w| w == b"hunter2-very-secret"));

        // A row moved under another name fails authentication instead of decrypting.
        secrets
            .conn
            .lock()
            .unwrap()
            .execute(
                "INSERT INTO secrets (name, nonce, ciphertext) SELECT 'p/t/halopsa', nonce, ciphertext FROM secrets",
                [],
            )
            .unwrap();
        let moved = secrets.get(&SecretName::from_stored("p/t/halopsa")).await;
        assert!(matches!(moved, Err(SecretError::Corrupt { .. })));
    }
}
