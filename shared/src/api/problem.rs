//! Every failure as an `application/problem+json` response (RFC 9457).

use bytes::Bytes;
use http::{HeaderValue, Method, Response, StatusCode, header};
use serde::Serialize;

use crate::{
    domain::FieldError,
    jobs::JobError,
    ports::{SecretError, StoreError, VendorError},
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
    /// A concurrent change won, or the state does not allow it.
    #[error("{0}")]
    Conflict(String),
    /// An `If-Match` version is stale.
    #[error("{0}")]
    PreconditionFailed(String),
    /// Too many attempts the vendor refused; try again after `retry_after` seconds.
    #[error("{detail}")]
    TooManyAttempts {
        /// What was refused and until when.
        detail: String,
        /// Seconds until the attempts are counted afresh.
        retry_after: u64,
    },
    /// This deployment lacks a setting the route needs (`PORTAL_URL`, `PUBLIC_API_URL`).
    #[error("{0}")]
    NotConfigured(String),
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The secret store failed.
    #[error(transparent)]
    Secrets(#[from] SecretError),
    /// The vendor said no or could not be reached.
    #[error(transparent)]
    Vendor(#[from] VendorError),
    /// A job could not run.
    #[error(transparent)]
    Job(#[from] JobError),
}

/// How an error is shown.
struct Shape {
    status: StatusCode,
    detail: String,
    errors: Vec<FieldError>,
    vendor_message: Option<String>,
    retry_after: Option<u64>,
}

impl Shape {
    fn new(status: StatusCode, detail: impl Into<String>) -> Self {
        Self {
            status,
            detail: detail.into(),
            errors: Vec::new(),
            vendor_message: None,
            retry_after: None,
        }
    }
}

fn store_shape(e: &StoreError) -> Shape {
    match e {
        StoreError::Conflict(m) => Shape::new(StatusCode::CONFLICT, m.clone()),
        StoreError::BadCursor => {
            let mut s = Shape::new(StatusCode::BAD_REQUEST, e.to_string());
            s.errors.push(FieldError::new(
                "after",
                "is not a cursor from this listing",
            ));
            s
        }
        StoreError::Unavailable(_) => {
            let mut s = Shape::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "storage is unavailable right now; try again shortly",
            );
            s.retry_after = Some(5);
            s
        }
        StoreError::Corrupt(_) => Shape::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "an internal error occurred; it has been logged",
        ),
    }
}

fn secret_shape(e: &SecretError) -> Shape {
    match e {
        SecretError::Unavailable { .. } => {
            let mut s = Shape::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "the secret store is unavailable right now; try again shortly",
            );
            s.retry_after = Some(5);
            s
        }
        SecretError::Corrupt { .. } => Shape::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "an internal error occurred; it has been logged",
        ),
    }
}

fn vendor_shape(e: &VendorError) -> Shape {
    let mut s = match e {
        VendorError::Invalid { detail, errors, .. } => {
            let mut s = Shape::new(StatusCode::UNPROCESSABLE_ENTITY, detail.clone());
            s.errors = errors.clone();
            s
        }
        VendorError::CredentialsRejected { detail, field, .. } => {
            let mut s = Shape::new(StatusCode::UNPROCESSABLE_ENTITY, detail.clone());
            s.errors.push(FieldError::new(*field, detail.clone()));
            s
        }
        VendorError::PermissionDenied { detail, .. } => {
            Shape::new(StatusCode::UNPROCESSABLE_ENTITY, detail.clone())
        }
        VendorError::Refused { vendor_message } => Shape::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            format!("the vendor refused: {vendor_message}"),
        ),
        VendorError::IntegrationRefused { detail, .. } | VendorError::Unreachable { detail } => {
            Shape::new(StatusCode::BAD_GATEWAY, detail.clone())
        }
        VendorError::Throttled {
            detail,
            retry_after_secs,
        } => {
            let mut s = Shape::new(StatusCode::SERVICE_UNAVAILABLE, detail.clone());
            s.retry_after = Some(*retry_after_secs);
            s
        }
        VendorError::OutcomeUnknown { detail } => {
            Shape::new(StatusCode::GATEWAY_TIMEOUT, detail.clone())
        }
    };
    s.vendor_message = e.vendor_message().map(str::to_owned);
    s
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

    fn shape(&self) -> Shape {
        match self {
            ApiError::BadRequest { detail, errors } => {
                let mut s = Shape::new(StatusCode::BAD_REQUEST, detail.clone());
                s.errors = errors.clone();
                s
            }
            ApiError::Validation(errors) => {
                let mut s = Shape::new(StatusCode::UNPROCESSABLE_ENTITY, self.to_string());
                s.errors = errors.clone();
                s
            }
            ApiError::TooManyAttempts {
                detail,
                retry_after,
            } => {
                let mut s = Shape::new(StatusCode::TOO_MANY_REQUESTS, detail.clone());
                s.retry_after = Some(*retry_after);
                s
            }
            ApiError::Store(e) => store_shape(e),
            ApiError::Secrets(e) => secret_shape(e),
            ApiError::Vendor(e) => vendor_shape(e),
            ApiError::Job(e) => match e {
                JobError::Store(e) => store_shape(e),
                JobError::Secrets(e) => secret_shape(e),
                JobError::Vendor(e) => vendor_shape(e),
                JobError::Invalid(errors) => {
                    let mut s =
                        Shape::new(StatusCode::UNPROCESSABLE_ENTITY, "the request is not valid");
                    s.errors = errors.clone();
                    s
                }
                JobError::NotConnected(_)
                | JobError::NeedsReconnect(..)
                | JobError::Precondition(_)
                | JobError::Busy => Shape::new(StatusCode::CONFLICT, e.to_string()),
                JobError::Unsupported(_) => Shape::new(StatusCode::NOT_FOUND, e.to_string()),
                JobError::RunNotFound => Shape::new(StatusCode::NOT_FOUND, e.to_string()),
                JobError::KeyInFlight => {
                    let mut s = Shape::new(StatusCode::SERVICE_UNAVAILABLE, e.to_string());
                    s.retry_after = Some(2);
                    s
                }
                JobError::TokenRenewed(_) => {
                    let mut s = Shape::new(StatusCode::SERVICE_UNAVAILABLE, e.to_string());
                    s.retry_after = Some(1);
                    s
                }
                JobError::Queue(_) => {
                    let mut s = Shape::new(
                        StatusCode::SERVICE_UNAVAILABLE,
                        "the run queue is unavailable; try again shortly",
                    );
                    s.retry_after = Some(5);
                    s
                }
            },
            other => Shape::new(
                match other {
                    ApiError::Unauthenticated => StatusCode::UNAUTHORIZED,
                    ApiError::Forbidden => StatusCode::FORBIDDEN,
                    ApiError::NotFound(_) => StatusCode::NOT_FOUND,
                    ApiError::MethodNotAllowed { .. } => StatusCode::METHOD_NOT_ALLOWED,
                    ApiError::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
                    ApiError::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
                    ApiError::Conflict(_) => StatusCode::CONFLICT,
                    ApiError::PreconditionFailed(_) => StatusCode::PRECONDITION_FAILED,
                    _ => StatusCode::SERVICE_UNAVAILABLE,
                },
                other.to_string(),
            ),
        }
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        self.shape().status
    }

    /// The problem+json response.
    pub fn into_response(self) -> Response<Bytes> {
        let shape = self.shape();
        let status = shape.status;
        if status.is_server_error() {
            tracing::error!(error = %self, status = status.as_u16(), "request failed");
        }
        let body = Problem {
            r#type: format!("/problems/{}", slug(status)),
            title: status.canonical_reason().unwrap_or("Error"),
            status: status.as_u16(),
            detail: shape.detail,
            errors: shape.errors,
            vendor_message: shape.vendor_message,
            request_id: crate::context::request_id(),
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
        if let Some(secs) = shape.retry_after {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        response
    }
}

/// Short, stable name of the problem type (the last segment of `type`).
fn slug(status: StatusCode) -> &'static str {
    match status {
        StatusCode::UNAUTHORIZED => "unauthenticated",
        StatusCode::FORBIDDEN => "forbidden",
        StatusCode::NOT_FOUND => "not-found",
        StatusCode::METHOD_NOT_ALLOWED => "method-not-allowed",
        StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupported-media-type",
        StatusCode::PAYLOAD_TOO_LARGE => "payload-too-large",
        StatusCode::BAD_REQUEST => "bad-request",
        StatusCode::UNPROCESSABLE_ENTITY => "validation",
        StatusCode::CONFLICT => "conflict",
        StatusCode::PRECONDITION_FAILED => "stale-version",
        StatusCode::TOO_MANY_REQUESTS => "too-many-attempts",
        StatusCode::BAD_GATEWAY => "vendor-unavailable",
        StatusCode::GATEWAY_TIMEOUT => "vendor-timeout",
        StatusCode::SERVICE_UNAVAILABLE => "unavailable",
        _ => "internal",
    }
}

/// RFC 9457 body, with field-level `errors` and the vendor's own words.
#[derive(Serialize)]
struct Problem {
    r#type: String,
    title: &'static str,
    status: u16,
    detail: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    errors: Vec<FieldError>,
    #[serde(skip_serializing_if = "Option::is_none")]
    vendor_message: Option<String>,
    /// The request's id, as the logs carry it: what a partner quotes to support.
    #[serde(skip_serializing_if = "Option::is_none")]
    request_id: Option<String>,
}
