//! The API's one error type. Every failure, including extractor rejections, renders as
//! `{"error": {"code": "...", "message": "..."}}` with a fitting status; 500s are opaque to
//! the client and logged once, here.

use std::time::Duration;

use axum::{
    Json,
    extract::{
        FromRequest, FromRequestParts,
        multipart::MultipartError,
        rejection::{JsonRejection, PathRejection, QueryRejection},
    },
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use sea_orm::DbErr;
use serde::Serialize;

/// Handler results default to [`ApiError`].
pub type Result<T, E = ApiError> = std::result::Result<T, E>;

/// Everything a request can fail with.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The request is malformed; `code` names the problem for programs.
    #[error("{message}")]
    BadRequest {
        /// Stable, machine-readable reason.
        code: &'static str,
        /// What to fix, for people.
        message: String,
    },
    /// The request is well-formed but its content cannot be used (HTTP 422).
    #[error("{message}")]
    Unprocessable {
        /// Stable, machine-readable reason.
        code: &'static str,
        /// What to fix, for people.
        message: String,
    },
    /// No valid API key.
    #[error(
        "a valid API key is required: send `Authorization: Bearer <key>` (or sign in with POST /session)"
    )]
    Unauthorized,
    /// The key is valid but may not do this.
    #[error("{0}")]
    Forbidden(&'static str),
    /// A request authenticated by the session cookie changes something without the session's
    /// `X-CSRF-Token`.
    #[error(
        "this request needs the session's X-CSRF-Token header (from POST /session or GET /session)"
    )]
    CsrfFailed,
    /// Unknown id, or one that belongs to another client (the two are indistinguishable).
    #[error("{0} not found")]
    NotFound(&'static str),
    /// The resource's state does not allow the action (HTTP 409): cancelling a finished
    /// file, retrying one that is not COMPLETED with failures.
    #[error("{message}")]
    Conflict {
        /// Stable, machine-readable reason.
        code: &'static str,
        /// Why, for people.
        message: String,
    },
    /// No endpoint has this path.
    #[error("no endpoint at {0}")]
    UnknownPath(String),
    /// The endpoint exists but does not take this method (the `Allow` header lists those it
    /// takes).
    #[error("{method} is not allowed here")]
    MethodNotAllowed {
        /// The method used.
        method: String,
    },
    /// The upload is larger than allowed.
    #[error("the file is larger than the limit of {limit} bytes")]
    PayloadTooLarge {
        /// The configured limit.
        limit: u64,
    },
    /// A JSON body is larger than allowed (`MAX_JSON_BODY_BYTES`).
    #[error("the request body is too large")]
    BodyTooLarge,
    /// A job lists more domains than one file may hold.
    #[error("the job lists {count} domains; the limit is {limit} per file")]
    TooManyDomains {
        /// Entries in the request.
        count: usize,
        /// The configured limit.
        limit: usize,
    },
    /// The client has used up its request budget (token bucket, per api instance).
    #[error("too many requests; retry after {} s", retry_after_secs(*.retry_after))]
    RateLimited {
        /// When a request will be allowed again.
        retry_after: Duration,
    },
    /// The peer address has made too many failed authentications lately; its unknown keys are
    /// refused without a database query for a while.
    #[error("too many failed authentications from this address; retry after {} s", retry_after_secs(*.retry_after))]
    TooManyAuthFailures {
        /// When a key will be checked again.
        retry_after: Duration,
    },
    /// The client already has as many files waiting or running as allowed.
    #[error("{limit} files are already PENDING or PROCESSING; retry once some have finished")]
    TooManyFilesInFlight {
        /// The configured limit.
        limit: u64,
        /// A hint for when to try again.
        retry_after: Duration,
    },
    /// The client is already sending as many uploads as it may at once.
    #[error("{limit} uploads of this client are already in progress; retry once one has finished")]
    TooManyUploads {
        /// The configured limit (`MAX_UPLOADS_PER_CLIENT`).
        limit: usize,
        /// A hint for when to try again.
        retry_after: Duration,
    },
    /// The client already holds as many event streams open on this instance as it may.
    #[error("{limit} event streams of this client are already open; close one first")]
    TooManyStreams {
        /// The configured limit (`EVENTS_MAX_STREAMS_PER_CLIENT`).
        limit: usize,
        /// A hint for when to try again.
        retry_after: Duration,
    },
    /// The uploads in progress on this instance hold all the memory they may
    /// (`UPLOAD_BUFFER_BYTES`): the server's state, not the client's doing, hence 503.
    #[error("the server is receiving as many uploads as it can hold; retry in {} s", retry_after_secs(*.retry_after))]
    ServerBusy {
        /// A hint for when to try again.
        retry_after: Duration,
    },
    /// The response head was not ready in time.
    #[error("the request did not complete within {} s", after.as_secs_f64())]
    Timeout {
        /// The limit that was reached.
        after: Duration,
    },
    /// The upload is not CSV, TSV, JSON or NDJSON.
    #[error("{0}")]
    UnsupportedMediaType(String),
    /// S3 could not store an upload or a job's list: nothing was stored or recorded. The
    /// cause is logged, not returned.
    #[error("the file store is unavailable; nothing was stored, retry in {} s", retry_after_secs(*.retry_after))]
    StorageUnavailable {
        /// A hint for when to try again.
        retry_after: Duration,
        /// What S3 (or the way to it) answered.
        source: anyhow::Error,
    },
    /// Every on-demand icon lookup of this instance is taken (`ICON_LOOKUP_CONCURRENCY`).
    #[error("as many icon lookups as allowed are running; retry in {} s", retry_after_secs(*.retry_after))]
    LookupBusy {
        /// A hint for when to try again.
        retry_after: Duration,
    },
    /// An on-demand icon lookup did not finish within `ICON_LOOKUP_TIMEOUT_SECS`.
    #[error("the icon lookup did not finish within {} s", after.as_secs())]
    LookupTimeout {
        /// The limit that was reached.
        after: Duration,
    },
    /// A dependency is down (readiness).
    #[error("{0}")]
    Unavailable(String),
    /// A bug or an infrastructure failure; details are logged, not returned.
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

/// What a client is told to wait after S3 failed: long enough for a blip to pass.
pub const STORAGE_RETRY_AFTER: Duration = Duration::from_secs(5);

impl ApiError {
    /// A 503 for a failed S3 write, keeping the cause for the log.
    pub fn storage(source: anyhow::Error) -> Self {
        Self::StorageUnavailable {
            retry_after: STORAGE_RETRY_AFTER,
            source,
        }
    }

    /// A 400 with a code and a message.
    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::BadRequest {
            code,
            message: message.into(),
        }
    }

    fn status(&self) -> StatusCode {
        match self {
            Self::BadRequest { .. } => StatusCode::BAD_REQUEST,
            Self::Unauthorized => StatusCode::UNAUTHORIZED,
            Self::Forbidden(_) | Self::CsrfFailed => StatusCode::FORBIDDEN,
            Self::NotFound(_) | Self::UnknownPath(_) => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed { .. } => StatusCode::METHOD_NOT_ALLOWED,
            Self::Conflict { .. } => StatusCode::CONFLICT,
            Self::PayloadTooLarge { .. } | Self::BodyTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::TooManyDomains { .. } | Self::Unprocessable { .. } => {
                StatusCode::UNPROCESSABLE_ENTITY
            }
            Self::RateLimited { .. }
            | Self::TooManyAuthFailures { .. }
            | Self::TooManyFilesInFlight { .. }
            | Self::TooManyUploads { .. }
            | Self::TooManyStreams { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::Timeout { .. } => StatusCode::REQUEST_TIMEOUT,
            Self::LookupTimeout { .. } => StatusCode::GATEWAY_TIMEOUT,
            Self::Unavailable(_)
            | Self::ServerBusy { .. }
            | Self::StorageUnavailable { .. }
            | Self::LookupBusy { .. } => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn code(&self) -> &'static str {
        match self {
            Self::BadRequest { code, .. }
            | Self::Unprocessable { code, .. }
            | Self::Conflict { code, .. } => code,
            Self::Unauthorized => "unauthorized",
            Self::Forbidden(_) => "forbidden",
            Self::CsrfFailed => "csrf_failed",
            Self::NotFound(_) | Self::UnknownPath(_) => "not_found",
            Self::MethodNotAllowed { .. } => "method_not_allowed",
            Self::PayloadTooLarge { .. } | Self::BodyTooLarge => "payload_too_large",
            Self::UnsupportedMediaType(_) => "unsupported_media_type",
            Self::TooManyDomains { .. } => "too_many_domains",
            Self::RateLimited { .. } => "rate_limited",
            Self::TooManyAuthFailures { .. } => "too_many_auth_failures",
            Self::TooManyFilesInFlight { .. } => "too_many_files_in_flight",
            Self::TooManyUploads { .. } => "too_many_uploads",
            Self::TooManyStreams { .. } => "too_many_streams",
            Self::ServerBusy { .. } => "server_busy",
            Self::StorageUnavailable { .. } => "storage_unavailable",
            Self::Timeout { .. } => "request_timeout",
            Self::LookupBusy { .. } => "lookup_busy",
            Self::LookupTimeout { .. } => "lookup_timeout",
            Self::Unavailable(_) => "unavailable",
            Self::Internal(_) => "internal",
        }
    }

    /// How long the client should wait before retrying, for the `Retry-After` header.
    fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::RateLimited { retry_after }
            | Self::TooManyAuthFailures { retry_after }
            | Self::TooManyFilesInFlight { retry_after, .. }
            | Self::TooManyUploads { retry_after, .. }
            | Self::TooManyStreams { retry_after, .. }
            | Self::ServerBusy { retry_after }
            | Self::StorageUnavailable { retry_after, .. }
            | Self::LookupBusy { retry_after } => Some(*retry_after),
            _ => None,
        }
    }
}

/// The answer to a path no route matches: the JSON 404 instead of axum's empty one.
pub async fn unknown_path(uri: axum::http::Uri) -> ApiError {
    ApiError::UnknownPath(uri.path().to_owned())
}

/// The answer to a method a route does not take: the JSON 405 instead of axum's empty one.
pub async fn method_not_allowed(method: axum::http::Method) -> ApiError {
    ApiError::MethodNotAllowed {
        method: method.to_string(),
    }
}

/// `Retry-After` is in whole seconds: rounded up, so that a client waiting that long is let
/// in, and at least 1.
pub fn retry_after_secs(wait: Duration) -> u64 {
    let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    secs.max(1)
}

/// The JSON error body.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    /// The error.
    pub error: ErrorDetail,
}

/// Code and message of an error.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ErrorDetail {
    /// Stable, machine-readable reason.
    pub code: &'static str,
    /// Human-readable explanation.
    pub message: String,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        let message = match &self {
            Self::Internal(error) => {
                tracing::error!(error.message = %format!("{error:#}"), "request failed");
                "internal server error".to_owned()
            }
            Self::StorageUnavailable { source, .. } => {
                tracing::error!(error.message = %format!("{source:#}"), "S3 failed; answered 503");
                self.to_string()
            }
            other => other.to_string(),
        };
        let body = ErrorBody {
            error: ErrorDetail {
                code: self.code(),
                message,
            },
        };
        let mut response = (status, Json(body)).into_response();
        if status == StatusCode::UNAUTHORIZED {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        if let Some(wait) = self.retry_after() {
            response.headers_mut().insert(
                header::RETRY_AFTER,
                HeaderValue::from(retry_after_secs(wait)),
            );
        }
        response
    }
}

impl From<DbErr> for ApiError {
    fn from(error: DbErr) -> Self {
        match error {
            DbErr::RecordNotFound(_) => Self::NotFound("record"),
            other => Self::Internal(anyhow::Error::new(other).context("database error")),
        }
    }
}

impl From<JsonRejection> for ApiError {
    fn from(rejection: JsonRejection) -> Self {
        match rejection.status() {
            StatusCode::PAYLOAD_TOO_LARGE => Self::BodyTooLarge,
            StatusCode::UNSUPPORTED_MEDIA_TYPE => Self::UnsupportedMediaType(rejection.body_text()),
            _ => Self::bad_request("invalid_json", rejection.body_text()),
        }
    }
}

impl From<QueryRejection> for ApiError {
    fn from(rejection: QueryRejection) -> Self {
        Self::bad_request("invalid_query", rejection.body_text())
    }
}

impl From<PathRejection> for ApiError {
    fn from(rejection: PathRejection) -> Self {
        Self::bad_request("invalid_path", rejection.body_text())
    }
}

impl From<MultipartError> for ApiError {
    fn from(error: MultipartError) -> Self {
        Self::bad_request("invalid_multipart", error.body_text())
    }
}

/// `axum::Json` whose rejections render as [`ApiError`].
#[derive(Debug, FromRequest)]
#[from_request(via(axum::Json), rejection(ApiError))]
pub struct AppJson<T>(pub T);

impl<T: Serialize> IntoResponse for AppJson<T> {
    fn into_response(self) -> Response {
        Json(self.0).into_response()
    }
}

/// `axum::extract::Query` whose rejections render as [`ApiError`].
#[derive(Debug, FromRequestParts)]
#[from_request(via(axum::extract::Query), rejection(ApiError))]
pub struct AppQuery<T>(pub T);

/// `axum::extract::Path` whose rejections render as [`ApiError`].
#[derive(Debug, FromRequestParts)]
#[from_request(via(axum::extract::Path), rejection(ApiError))]
pub struct AppPath<T>(pub T);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_rounds_up_to_whole_seconds_and_is_at_least_one() {
        assert_eq!(retry_after_secs(Duration::ZERO), 1);
        assert_eq!(retry_after_secs(Duration::from_millis(10)), 1);
        assert_eq!(retry_after_secs(Duration::from_secs(1)), 1);
        assert_eq!(retry_after_secs(Duration::from_millis(1001)), 2);
        assert_eq!(retry_after_secs(Duration::from_secs(5)), 5);
    }

    #[test]
    fn limits_render_with_their_status_code_and_retry_after() {
        let response = ApiError::RateLimited {
            retry_after: Duration::from_millis(1500),
        }
        .into_response();
        assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(response.headers()[header::RETRY_AFTER], "2");
        let response = ApiError::Timeout {
            after: Duration::from_secs(30),
        }
        .into_response();
        assert_eq!(response.status(), StatusCode::REQUEST_TIMEOUT);
        assert!(response.headers().get(header::RETRY_AFTER).is_none());
    }
}
