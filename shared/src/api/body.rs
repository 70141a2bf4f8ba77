//! Reading requests (JSON bodies, query strings, path ids) and writing JSON responses.

use bytes::Bytes;
use http::{Request, Response, StatusCode, header};
use serde::{Deserialize, Serialize, de::DeserializeOwned};

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
    let mut value = serde_json::Value::deserialize(&mut de).map_err(|e| ApiError::BadRequest {
        detail: format!("the body is not JSON: {e}"),
        errors: vec![FieldError::new("body", e.to_string())],
    })?;
    de.end()
        .map_err(|_| ApiError::bad_field("body", "unexpected data after the JSON value"))?;
    whole_numbers(&mut value);
    serde_path_to_error::deserialize(value).map_err(|e| {
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
    })
}

/// JSON has one number type: `25.0` is the integer 25 to JSON Schema (and to JavaScript), so
/// it is one to us. Fractions stay fractions and are refused where an integer is expected.
fn whole_numbers(value: &mut serde_json::Value) {
    use serde_json::Value;
    match value {
        Value::Number(n) if n.is_f64() => {
            let f = n.as_f64().unwrap_or(f64::NAN);
            // Exactly representable whole numbers only (|f| < 2^53).
            if f.fract() == 0.0 && f.abs() < 9_007_199_254_740_992.0 {
                *value = Value::from(f as i64);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(whole_numbers),
        Value::Object(fields) => fields.values_mut().for_each(whole_numbers),
        _ => {}
    }
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

/// Checks vendor ids of a query (`?company_id=`): vendors number their records from 1, so 0
/// or less names nothing and is refused, naming the parameter.
pub fn query_ids(ids: &[(&str, Option<i64>)]) -> Result<(), ApiError> {
    let mut errors = Vec::new();
    for (name, id) in ids {
        crate::domain::check_vendor_id(name, *id, &mut errors);
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(ApiError::Validation(errors))
    }
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
