//! The native API's error format: `{"code": "<stable_snake_case>", "message":
//! "<plain words>", "param"?: "<the query parameter at fault>"}` with the
//! HTTP status the code implies. `code` is the contract (clients branch on
//! it; it never changes for a given condition); `message` is for people and
//! may be reworded. Every core refusal and engine failure is listed (no
//! catch-all), so a new rule does not compile until this face renders it.
//! Internal details are logged with the request id, never sent.
//!
//! The vocabulary (also the `ErrorCode` enum in the OpenAPI document):
//!
//! | code | status | when |
//! |---|---|---|
//! | `unauthorized` | 401 | no credentials, or credentials that match no live user or token |
//! | `forbidden` | 403 | a valid caller without the right (`permission::may_read_audit`) |
//! | `not_found` | 404 | no such endpoint, or no such record in the caller's realm |
//! | `method_not_allowed` | 405 | the endpoint exists; `Allow` lists its methods |
//! | `invalid_parameter` | 400 | a query parameter is unknown, repeated, malformed or out of range (`param` names it) |
//! | `invalid_cursor` | 400 | a `cursor` that is damaged, or was issued for another realm or another query |
//! | `conflict` | 409 | the request contradicts the directory's state (a write's refusal) |
//! | `unavailable` | 503 | the directory cannot answer now (storage down, shutting down); retry |
//! | `internal` | 500 | a bug; the detail is in the server's log |

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use cohort_core::Error;
use cohort_engine::EngineError;
use serde::Serialize;
use utoipa::ToSchema;

/// The `WWW-Authenticate` challenge of every 401: both accepted schemes.
pub const CHALLENGE: &str = "Basic realm=\"cohort\", Bearer";

/// The stable error codes. Add a code only for a condition a client should
/// handle differently; never rename one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    Unauthorized,
    Forbidden,
    NotFound,
    MethodNotAllowed,
    InvalidParameter,
    InvalidCursor,
    Conflict,
    RateLimited,
    Unavailable,
    Internal,
}

impl ErrorCode {
    pub fn status(self) -> StatusCode {
        match self {
            ErrorCode::Unauthorized => StatusCode::UNAUTHORIZED,
            ErrorCode::Forbidden => StatusCode::FORBIDDEN,
            ErrorCode::NotFound => StatusCode::NOT_FOUND,
            ErrorCode::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ErrorCode::InvalidParameter | ErrorCode::InvalidCursor => StatusCode::BAD_REQUEST,
            ErrorCode::Conflict => StatusCode::CONFLICT,
            ErrorCode::RateLimited => StatusCode::TOO_MANY_REQUESTS,
            ErrorCode::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            ErrorCode::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

/// The body of every error answer (the OpenAPI document's `Error` schema).
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Error)]
pub struct ErrorBody {
    /// What went wrong, as a stable code.
    pub code: ErrorCode,
    /// What went wrong, in plain words (may be reworded between releases).
    pub message: String,
    /// The query parameter at fault, for `invalid_parameter` and
    /// `invalid_cursor`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub param: Option<String>,
}

#[derive(Debug)]
pub struct NativeError {
    pub body: ErrorBody,
    /// The methods a 405 lists in `Allow`.
    pub allow: Option<&'static str>,
}

impl NativeError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> NativeError {
        NativeError {
            body: ErrorBody {
                code,
                message: message.into(),
                param: None,
            },
            allow: None,
        }
    }

    pub fn code(&self) -> ErrorCode {
        self.body.code
    }

    pub fn status(&self) -> StatusCode {
        self.code().status()
    }

    /// Name the query parameter at fault.
    pub fn with_param(mut self, param: impl Into<String>) -> NativeError {
        self.body.param = Some(param.into());
        self
    }

    pub fn unauthorized(message: impl Into<String>) -> NativeError {
        NativeError::new(ErrorCode::Unauthorized, message)
    }

    pub fn forbidden(message: impl Into<String>) -> NativeError {
        NativeError::new(ErrorCode::Forbidden, message)
    }

    pub fn not_found(message: impl Into<String>) -> NativeError {
        NativeError::new(ErrorCode::NotFound, message)
    }

    /// A query parameter that is unknown, repeated, malformed or out of range.
    pub fn invalid_parameter(param: &str, message: impl Into<String>) -> NativeError {
        NativeError::new(ErrorCode::InvalidParameter, message).with_param(param)
    }

    /// A `cursor` that cannot be continued here.
    pub fn invalid_cursor(message: impl Into<String>) -> NativeError {
        NativeError::new(ErrorCode::InvalidCursor, message).with_param("cursor")
    }

    pub fn method_not_allowed(allowed: &'static str) -> NativeError {
        let mut err = NativeError::new(
            ErrorCode::MethodNotAllowed,
            format!("This endpoint answers {allowed} only"),
        );
        err.allow = Some(allowed);
        err
    }

    pub fn internal() -> NativeError {
        NativeError::new(ErrorCode::Internal, "Internal server error")
    }

    /// 429; `Retry-After` comes from `limits::headers`.
    pub fn rate_limited(limited: &crate::limits::Limited) -> NativeError {
        NativeError::new(
            ErrorCode::RateLimited,
            format!(
                "Too many requests for these credentials; retry after {} seconds",
                limited.retry_after_secs()
            ),
        )
    }

    pub fn unavailable(message: impl Into<String>) -> NativeError {
        NativeError::new(ErrorCode::Unavailable, message)
    }
}

impl IntoResponse for NativeError {
    fn into_response(self) -> Response {
        let status = self.status();
        let mut response = (status, axum::Json(&self.body)).into_response();
        let headers = response.headers_mut();
        if status == StatusCode::UNAUTHORIZED {
            headers.insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static(CHALLENGE),
            );
        }
        if let Some(allow) = self.allow {
            headers.insert(header::ALLOW, HeaderValue::from_static(allow));
        }
        response
    }
}

impl From<Error> for NativeError {
    fn from(err: Error) -> NativeError {
        use Error::*;
        let message = err.to_string();
        let invalid = |field: &str| NativeError::invalid_parameter(field, message.clone());
        match err {
            GroupNotFound(_) | UserNotFound(_) | WebhookNotFound(_) => {
                NativeError::not_found(message)
            }
            // Who may act: the caller is known but lacks the right.
            InsufficientPermission
            | GuestNotAllowed
            | BotNotAllowed
            | MustBeAdmin
            | MustBeOwner
            | CannotCreateUsers
            | MissingScope(_)
            | OperatorOnly
            | AuditNotAllowed => NativeError::forbidden(message),
            // The caller's own account went away between authentication and
            // the rule's check: their credentials no longer open anything.
            UserDeactivated(_) => NativeError::unauthorized(message),
            // Values a request named; the native face reads query
            // parameters, so the field is reported as the parameter.
            NulCharacter { field }
            | TooLong { field, .. }
            | TooManyIds { field, .. }
            | Invalid { field, .. } => invalid(field),
            NameEmpty | NameTooLong { .. } | NameReservedPrefix(_) => invalid("name"),
            FullNameTooLong | FullNameTooShort | FullNameInvalid => invalid("full_name"),
            EmailInvalid(_) => invalid("email"),
            KeyInvalid { .. } => invalid("key"),
            TooManyItems { .. } => invalid("items"),
            SubgroupNotFound(_)
            | InvalidMember(_)
            | UnknownMemberKey(_)
            | MemberKeyIsGroup(_)
            | UserKeyDeactivated(_)
            | SettingNotAllowed { .. }
            | SystemGroupRequired { .. } => NativeError::new(ErrorCode::InvalidParameter, message),
            // The directory's state refuses the request.
            GroupDeactivated(_)
            | UserAlreadyActive(_)
            | GroupInUse(_)
            | NothingToChange
            | NameTaken(_)
            | EmailTaken(_)
            | KeyTaken(_)
            | GroupExists(_)
            | DuplicateKey(_)
            | UserNameTaken(_)
            | TokenNameTaken(_)
            | TokenNotFound(_)
            | TooManyWebhooks { .. }
            | AlreadyMember(_)
            | NotMember(_)
            | AlreadySubgroup(_)
            | NotSubgroup(_)
            | SubgroupCycle(_)
            | SettingMismatch { .. }
            | VersionMismatch(_)
            | LastOwner
            | DeactivateLastOwner
            | DeactivateLastUser { .. } => NativeError::new(ErrorCode::Conflict, message),
            Internal(detail) => {
                tracing::error!(%detail, "internal error in the core");
                NativeError::internal()
            }
        }
    }
}

impl From<EngineError> for NativeError {
    fn from(err: EngineError) -> NativeError {
        match err {
            EngineError::Domain(err) => err.into(),
            // The caller's realm is gone: their credentials open nothing.
            EngineError::RealmNotFound(_) => {
                NativeError::unauthorized("The credentials open no realm")
            }
            EngineError::Unavailable(detail) => {
                tracing::warn!(%detail, "storage unavailable");
                NativeError::unavailable(
                    "The directory is temporarily unable to answer; try again shortly",
                )
            }
            EngineError::ShuttingDown => {
                NativeError::unavailable("The server is shutting down; try again shortly")
            }
            EngineError::Internal(detail) => {
                tracing::error!(%detail, "internal error in the engine");
                NativeError::internal()
            }
        }
    }
}

/// The store read directly (webhook delivery logs): as the engine maps it.
impl From<cohort_store::StoreError> for NativeError {
    fn from(err: cohort_store::StoreError) -> NativeError {
        EngineError::from(err).into()
    }
}
