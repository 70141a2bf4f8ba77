//! `GET /v1/openapi.json`: the API document, kept in YAML in `infra/` and served as JSON.

use std::sync::OnceLock;

use bytes::Bytes;
use http::{Response, StatusCode};

use super::body;

const SOURCE: &str = include_str!("../../../infra/openapi.yaml");

/// The parsed document; parsed on first use, not at cold start.
pub fn document() -> &'static serde_json::Value {
    static DOC: OnceLock<serde_json::Value> = OnceLock::new();
    DOC.get_or_init(|| {
        serde_yaml_ng::from_str(SOURCE).expect("infra/openapi.yaml is valid YAML (tested)")
    })
}

pub(super) fn serve() -> Response<Bytes> {
    body::respond(StatusCode::OK, document())
}
