//! Reading requests (JSON bodies, query strings, path ids) and writing JSON responses.

use bytes::Bytes;
use http::{Request, Response, StatusCode, header};
use serde::{Serialize, de::DeserializeOwned};

use super::{ApiError, MAX_BODY_BYTES, routes::Params};
use crate::domain::FieldError;

/// Parses the JSON body into `T` (whose fields deny unknown names), naming the field at fault.
pub fn json<T: DeserializeOwned>(req: &Request<Bytes>) -> Result<T, ApiError> {
    let body = req.body();
    if body.len() > MAX_BODY_BYTES {
        return Err(ApiError::PayloadTooLarge);
    }
    let is_json = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|v| v.trim().to_ascii_lowercase())
        .is_some_and(|v| v == "application/json" || v.ends_with("+json"));
    if !is_json {
        return Err(ApiError::UnsupportedMediaType);
    }
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::bad_field("body", "a JSON object is required"));
    }
    let mut de = serde_json::Deserializer::from_slice(body);
    let value = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        let field = if path == "." || path.is_empty() {
            field_of_serde_message(&inner.to_string()).unwrap_or_else(|| "body".into())
        } else {
            path
        };
        ApiError::BadRequest {
            detail: format!("the body is not valid: {field}: {inner}"),
            errors: vec![FieldError::new(field, inner.to_string())],
        }
    })?;
    de.end()
        .map_err(|_| ApiError::bad_field("body", "unexpected data after the JSON value"))?;
    Ok(value)
}

/// serde names an unknown or missing field only in its message ("unknown field `x`,
/// expected ...", "missing field `x`").
pub fn field_of_serde_message(message: &str) -> Option<String> {
    let rest = message
        .strip_prefix("unknown field `")
        .or_else(|| message.strip_prefix("missing field `"))?;
    Some(rest.split('`').next()?.to_owned())
}

/// Parses the query string into `T` (whose fields deny unknown names).
pub fn query<T: DeserializeOwned>(req: &Request<Bytes>) -> Result<T, ApiError> {
    serde_urlencoded::from_str(req.uri().query().unwrap_or_default()).map_err(|e| {
        let message = e.to_string();
        let field = field_of_serde_message(&message).unwrap_or_else(|| "query".into());
        ApiError::bad_field(&field, message)
    })
}

/// A path capture parsed with `parse`, or a 400 naming the parameter.
pub fn path_param<T, E: std::fmt::Display>(
    params: &Params,
    name: &str,
    parse: impl FnOnce(&str) -> Result<T, E>,
) -> Result<T, ApiError> {
    let raw = params.get(name).unwrap_or_default();
    parse(raw).map_err(|e| ApiError::bad_field(name, e.to_string()))
}

/// A JSON response.
pub fn respond<T: Serialize>(status: StatusCode, value: &T) -> Response<Bytes> {
    Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Bytes::from(
            serde_json::to_vec(value).expect("responses serialize"),
        ))
        .expect("valid response")
}

/// An empty 204.
pub fn no_content() -> Response<Bytes> {
    Response::builder()
        .status(StatusCode::NO_CONTENT)
        .body(Bytes::new())
        .expect("valid response")
}
