//! Certificate verification stays on for every outbound client: the vendor clients and the AWS
//! SDK's client refuse a server whose certificate no public root issued, and send it nothing.
//! A client that trusts the issuing CA reaches the same server, so the refusal is the trust
//! decision and not a broken server.

use std::sync::{
    Arc,
    atomic::{AtomicUsize, Ordering},
};

use aws_config::{BehaviorVersion, retry::RetryConfig};
use aws_sdk_dynamodb::config::{Credentials, Region};
use rustls::{
    ServerConfig,
    crypto::aws_lc_rs,
    pki_types::{CertificateDer, PrivateKeyDer, pem::PemObject},
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A certificate for localhost from a private CA, both made for this test only.
const CA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/tls/test-ca.crt");
const CERT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/tls/localhost.crt");
const KEY: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/tls/localhost.key");

/// An HTTPS server with the privately issued certificate; counts requests past the handshake.
async fn private_ca_server() -> (u16, Arc<AtomicUsize>) {
    let cert = CertificateDer::from_pem_file(CERT).expect("test certificate");
    let key = PrivateKeyDer::from_pem_file(KEY).expect("test key");
    let config = ServerConfig::builder_with_provider(Arc::new(aws_lc_rs::default_provider()))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![cert], key)
        .expect("server config");
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let requests = Arc::new(AtomicUsize::new(0));
    let seen = requests.clone();
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                return;
            };
            let (acceptor, seen) = (acceptor.clone(), seen.clone());
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let mut buf = [0u8; 4096];
                if matches!(tls.read(&mut buf).await, Ok(n) if n > 0) {
                    seen.fetch_add(1, Ordering::SeqCst);
                    let _ = tls
                        .write_all(
                            b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok",
                        )
                        .await;
                    let _ = tls.shutdown().await;
                }
            });
        }
    });
    (port, requests)
}

#[tokio::test]
async fn vendor_clients_refuse_an_untrusted_certificate() {
    let (port, requests) = private_ca_server().await;
    let url = format!("https://localhost:{port}/api/authinfo");

    let ours = shared::providers::http::client(std::time::Duration::from_secs(5));
    let refused = ours
        .get(&url)
        .send()
        .await
        .expect_err("untrusted certificate");
    assert!(refused.is_connect(), "{refused:?}");
    assert_eq!(requests.load(Ordering::SeqCst), 0, "nothing was sent");

    let trusting = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(&std::fs::read(CA).unwrap()).unwrap())
        .no_proxy()
        .build()
        .unwrap();
    let answer = trusting.get(&url).send().await.expect("the server works");
    assert_eq!(answer.status(), 200);
    assert_eq!(requests.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn the_aws_client_refuses_an_untrusted_certificate() {
    let (port, requests) = private_ca_server().await;
    let sdk = aws_config::defaults(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .endpoint_url(format!("https://localhost:{port}"))
        .credentials_provider(Credentials::new("testing", "testing", None, None, "test"))
        .retry_config(RetryConfig::disabled())
        .http_client(shared::sdk_http::client())
        .load()
        .await;
    let err = aws_sdk_dynamodb::Client::new(&sdk)
        .list_tables()
        .send()
        .await
        .expect_err("untrusted certificate");
    let aws_sdk_dynamodb::error::SdkError::DispatchFailure(failure) = &err else {
        panic!("refused before any answer: {err:?}");
    };
    assert!(failure.is_io(), "{err:?}");
    assert_eq!(requests.load(Ordering::SeqCst), 0, "nothing was sent");
}
