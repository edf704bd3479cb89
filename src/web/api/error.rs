//! The JSON API's errors: [`ApiError`] (a status, a machine code and a sentence), the 422 of
//! a write whose fields are not valid, and their bodies as the OpenAPI document shows them.

use axum::Json;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

use crate::error::AppError;
use crate::web::form::Validation;

/// An error answer of the JSON API: `{"error":{"code":"not_found","message":"…"}}`. Each
/// error carries its own machine [`ErrorCode`] beside its HTTP status, so two errors of one
/// status can tell programs apart. Internal errors are logged when answered, never shown.
pub struct ApiError {
    status: StatusCode,
    code: ErrorCode,
    /// What a user may read.
    message: String,
    /// Seconds for `Retry-After` (RFC 9110 §10.2.3), on 429 answers.
    retry_after: Option<u64>,
    /// The cause of a 500, for the log only.
    internal: Option<anyhow::Error>,
}

/// The stable machine code of an API error, for programs to branch on; the status says the
/// class of the error, the code which error it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// 401: no valid API key or session.
    Unauthorized,
    /// 403: the caller may not do this (a `read` API key asking to write).
    Forbidden,
    /// 404: no such item.
    NotFound,
    /// 400: a bad parameter or body.
    BadRequest,
    /// 409: the request conflicts with the current state.
    Conflict,
    /// 429: too many requests; `Retry-After` says when to try again.
    TooManyRequests,
    /// 500: something went wrong on Mailport's side; the details are in its log.
    InternalError,
}

impl ApiError {
    fn new(status: StatusCode, code: ErrorCode, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
            retry_after: None,
            internal: None,
        }
    }

    /// 401 `unauthorized`, with `WWW-Authenticate: Bearer` (RFC 6750 §3).
    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, ErrorCode::Unauthorized, message)
    }

    /// 403 `forbidden`.
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, ErrorCode::Forbidden, message)
    }

    /// 404 `not_found`, with the same sentence as the HTML error page.
    pub fn not_found() -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            ErrorCode::NotFound,
            crate::error::NOT_FOUND_MESSAGE,
        )
    }

    /// 400 `bad_request`.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, ErrorCode::BadRequest, message)
    }

    /// 409 `conflict`.
    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, ErrorCode::Conflict, message)
    }

    /// 429 `too_many_requests`, with `Retry-After: retry_after` (seconds).
    pub fn too_many_requests(message: impl Into<String>, retry_after: u64) -> Self {
        ApiError {
            retry_after: Some(retry_after),
            ..Self::new(
                StatusCode::TOO_MANY_REQUESTS,
                ErrorCode::TooManyRequests,
                message,
            )
        }
    }

    /// 500 `internal_error`: `cause` goes to the log, a fixed sentence to the caller.
    pub fn internal(cause: anyhow::Error) -> Self {
        ApiError {
            internal: Some(cause),
            ..Self::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                ErrorCode::InternalError,
                crate::error::INTERNAL_MESSAGE,
            )
        }
    }
}

/// The body of every error answer of the JSON API.
#[derive(Serialize, ToSchema)]
pub struct ApiErrorBody {
    pub error: ApiErrorDetail,
}

/// What went wrong: a stable code for programs and a sentence for people.
#[derive(Serialize, ToSchema)]
pub struct ApiErrorDetail {
    /// Which error this is, for programs.
    pub code: ErrorCode,
    /// What went wrong, as a sentence.
    pub message: String,
}

/// The body of a 422 answer: the request was understood, but fields are not valid, and
/// nothing was saved.
#[derive(Serialize, ToSchema)]
pub struct ValidationErrorBody {
    pub error: ValidationErrorDetail,
}

/// What was wrong with which field.
#[derive(Serialize, ToSchema)]
pub struct ValidationErrorDetail {
    /// `validation_failed`.
    pub code: &'static str,
    /// "Nothing was saved." and each field's problem.
    pub message: String,
    /// Field name → what is wrong with it, as a sentence.
    pub fields: std::collections::BTreeMap<String, String>,
}

impl ValidationErrorBody {
    /// The body for the errors of `v`.
    pub fn new(v: &Validation) -> Self {
        let summary: Vec<String> = v.errors.iter().map(|(k, m)| format!("{k}: {m}")).collect();
        ValidationErrorBody {
            error: ValidationErrorDetail {
                code: "validation_failed",
                message: format!("Nothing was saved. {}", summary.join(" ")),
                fields: v
                    .errors
                    .iter()
                    .map(|(k, m)| (k.to_string(), m.to_string()))
                    .collect(),
            },
        }
    }
}

/// The handlers' error, each kind of [`AppError`] answered with its own code.
impl<E: Into<AppError>> From<E> for ApiError {
    fn from(e: E) -> Self {
        match e.into() {
            AppError::NotFound => ApiError::not_found(),
            AppError::BadRequest(m) => ApiError::bad_request(m),
            AppError::Forbidden(m) => ApiError::forbidden(m),
            AppError::TooManyRequests {
                message,
                retry_after,
            } => ApiError::too_many_requests(message, retry_after),
            AppError::Internal(e) => ApiError::internal(e),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if let Some(e) = &self.internal {
            tracing::error!(error = ?e, "internal error in API");
        }
        let body = ApiErrorBody {
            error: ApiErrorDetail {
                code: self.code,
                message: self.message,
            },
        };
        let mut response = (self.status, Json(body)).into_response();
        let headers = response.headers_mut();
        if let Some(retry_after) = self.retry_after {
            headers.insert(header::RETRY_AFTER, header::HeaderValue::from(retry_after));
        }
        if self.code == ErrorCode::Unauthorized {
            headers.insert(
                header::WWW_AUTHENTICATE,
                header::HeaderValue::from_static("Bearer"),
            );
        }
        response
    }
}

/// A refused write, in the API's error format: a 422 naming each field, or an [`ApiError`].
pub enum WriteError {
    /// 422 with the message of each field.
    Invalid(Validation),
    Api(ApiError),
}

impl<E: Into<AppError>> From<E> for WriteError {
    fn from(e: E) -> Self {
        WriteError::Api(ApiError::from(e))
    }
}

impl From<ApiError> for WriteError {
    fn from(e: ApiError) -> Self {
        WriteError::Api(e)
    }
}

impl IntoResponse for WriteError {
    fn into_response(self) -> Response {
        match self {
            WriteError::Invalid(v) => (
                StatusCode::UNPROCESSABLE_ENTITY,
                Json(ValidationErrorBody::new(&v)),
            )
                .into_response(),
            WriteError::Api(e) => e.into_response(),
        }
    }
}
