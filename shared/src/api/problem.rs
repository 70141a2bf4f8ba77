//! Every failure as an `application/problem+json` response (RFC 9457).

use bytes::Bytes;
use http::{HeaderValue, Method, Response, StatusCode, header};
use serde::Serialize;

use crate::{
    domain::FieldError,
    ports::{SecretError, StoreError},
};

/// Largest request body we read.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// Why a request failed, in the caller's terms.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// No token, or one we cannot verify or read a tenant from.
    #[error("a valid bearer token naming a tenant is required")]
    Unauthenticated,
    /// The token is valid but the user is not the partner's admin.
    #[error("this action needs the partner's admin role")]
    Forbidden,
    /// No such route or item.
    #[error("{0}")]
    NotFound(String),
    /// The route exists with other methods.
    #[error("this route does not accept {method}")]
    MethodNotAllowed {
        /// The method that was used.
        method: Method,
        /// The methods the route accepts.
        allow: Vec<Method>,
    },
    /// A body that is not JSON.
    #[error("request bodies must be sent as application/json")]
    UnsupportedMediaType,
    /// A body over [`MAX_BODY_BYTES`].
    #[error("the request body is larger than {MAX_BODY_BYTES} bytes")]
    PayloadTooLarge,
    /// Malformed input: not JSON, an unknown field, a wrong type, a bad path or query parameter.
    #[error("{detail}")]
    BadRequest {
        /// What is wrong overall.
        detail: String,
        /// The fields at fault.
        errors: Vec<FieldError>,
    },
    /// Well-formed input that breaks a rule.
    #[error("the request breaks {} rule(s)", .0.len())]
    Validation(Vec<FieldError>),
    /// A concurrent change won.
    #[error("{0}")]
    Conflict(String),
    /// The route's work has not landed in this build.
    #[error("{0}")]
    NotImplemented(String),
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The secret store failed.
    #[error(transparent)]
    Secrets(#[from] SecretError),
}

impl ApiError {
    /// A 400 naming one field.
    pub fn bad_field(field: &str, message: impl Into<String>) -> Self {
        let message = message.into();
        ApiError::BadRequest {
            detail: format!("{field}: {message}"),
            errors: vec![FieldError::new(field, message)],
        }
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::Unauthenticated => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed { .. } => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::BadRequest { .. } | ApiError::Store(StoreError::BadCursor) => {
                StatusCode::BAD_REQUEST
            }
            ApiError::Validation(_) => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::Conflict(_) | ApiError::Store(StoreError::Conflict(_)) => {
                StatusCode::CONFLICT
            }
            ApiError::NotImplemented(_) => StatusCode::NOT_IMPLEMENTED,
            ApiError::Store(StoreError::Unavailable(_))
            | ApiError::Secrets(SecretError::Unavailable { .. }) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Store(StoreError::Corrupt(_))
            | ApiError::Secrets(SecretError::Corrupt { .. }) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// Short, stable name of the problem type (the last segment of `type`).
    fn slug(&self) -> &'static str {
        match self.status() {
            StatusCode::UNAUTHORIZED => "unauthenticated",
            StatusCode::FORBIDDEN => "forbidden",
            StatusCode::NOT_FOUND => "not-found",
            StatusCode::METHOD_NOT_ALLOWED => "method-not-allowed",
            StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupported-media-type",
            StatusCode::PAYLOAD_TOO_LARGE => "payload-too-large",
            StatusCode::BAD_REQUEST => "bad-request",
            StatusCode::UNPROCESSABLE_ENTITY => "validation",
            StatusCode::CONFLICT => "conflict",
            StatusCode::NOT_IMPLEMENTED => "not-implemented",
            StatusCode::SERVICE_UNAVAILABLE => "unavailable",
            _ => "internal",
        }
    }

    /// What the caller is told. Internal failures are logged, not described.
    fn detail(&self) -> String {
        match self {
            ApiError::Store(StoreError::Conflict(m)) => m.clone(),
            ApiError::Store(StoreError::BadCursor) => self.to_string(),
            ApiError::Store(_) | ApiError::Secrets(_) => match self.status() {
                StatusCode::SERVICE_UNAVAILABLE => {
                    "storage is unavailable right now; try again shortly".into()
                }
                _ => "an internal error occurred; it has been logged".into(),
            },
            other => other.to_string(),
        }
    }

    fn field_errors(&self) -> &[FieldError] {
        match self {
            ApiError::BadRequest { errors, .. } | ApiError::Validation(errors) => errors,
            _ => &[],
        }
    }

    /// The problem+json response.
    pub fn into_response(self) -> Response<Bytes> {
        let status = self.status();
        if status.is_server_error() && status != StatusCode::NOT_IMPLEMENTED {
            tracing::error!(error = %self, status = status.as_u16(), "request failed");
        }
        let mut errors = self.field_errors().to_vec();
        if let ApiError::Store(StoreError::BadCursor) = self {
            errors.push(FieldError::new(
                "after",
                "is not a cursor from this listing",
            ));
        }
        let body = Problem {
            r#type: format!("/problems/{}", self.slug()),
            title: status.canonical_reason().unwrap_or("Error"),
            status: status.as_u16(),
            detail: self.detail(),
            errors,
        };
        let mut response = Response::builder()
            .status(status)
            .header(header::CONTENT_TYPE, "application/problem+json")
            .body(Bytes::from(
                serde_json::to_vec(&body).expect("problem serializes"),
            ))
            .expect("valid response");
        let headers = response.headers_mut();
        if let ApiError::MethodNotAllowed { allow, .. } = &self {
            let allow = allow
                .iter()
                .map(Method::as_str)
                .collect::<Vec<_>>()
                .join(", ");
            headers.insert(
                header::ALLOW,
                HeaderValue::from_str(&allow).expect("methods are valid header text"),
            );
        }
        if status == StatusCode::UNAUTHORIZED {
            headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        if status == StatusCode::SERVICE_UNAVAILABLE {
            headers.insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
        }
        response
    }
}

/// RFC 9457 body, with field-level `errors`.
#[derive(Serialize)]
struct Problem {
    r#type: String,
    title: &'static str,
    status: u16,
    detail: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    errors: Vec<FieldError>,
}
