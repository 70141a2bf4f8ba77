//! One TLS client configuration for every outbound call: the vendors and AWS.
//!
//! The trust anchors are Mozilla's root programme compiled in (`webpki-roots`) rather than the
//! system bundle. Reading the system bundle meant decoding some 200 KB of PEM with a
//! constant-time base64 decoder and parsing every root once per SDK client, about 10 million
//! instructions of every cold start; the compiled-in anchors are already parsed. The roots move
//! with the crate, so a dependency update is also a trust-store update.

use std::sync::{Arc, LazyLock};

use rustls::{ClientConfig, RootCertStore, crypto::aws_lc_rs};

static CONFIG: LazyLock<ClientConfig> = LazyLock::new(|| {
    let roots = RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    ClientConfig::builder_with_provider(Arc::new(aws_lc_rs::default_provider()))
        .with_safe_default_protocol_versions()
        .expect("aws-lc-rs supports the default TLS versions")
        .with_root_certificates(roots)
        .with_no_client_auth()
});

/// The TLS configuration (TLS 1.2 and 1.3, aws-lc-rs, Mozilla's roots), built once per process.
pub fn client_config() -> ClientConfig {
    CONFIG.clone()
}
