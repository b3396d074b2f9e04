//! SCIM's error format (RFC 7644 §3.12): `{"schemas": [Error URN], "status":
//! "<code as a string>", "scimType"?, "detail"}`, served as
//! `application/scim+json`. Every core refusal and engine failure is listed
//! (no catch-all), so a new rule does not compile until SCIM renders it.

use super::schema;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use cohort_core::Error;
use cohort_engine::EngineError;
use serde_json::json;

/// `scimType` values (RFC 7644 Table 9).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ScimType {
    InvalidFilter,
    TooMany,
    Uniqueness,
    Mutability,
    InvalidSyntax,
    InvalidPath,
    NoTarget,
    InvalidValue,
}

impl ScimType {
    fn as_str(self) -> &'static str {
        match self {
            ScimType::InvalidFilter => "invalidFilter",
            ScimType::TooMany => "tooMany",
            ScimType::Uniqueness => "uniqueness",
            ScimType::Mutability => "mutability",
            ScimType::InvalidSyntax => "invalidSyntax",
            ScimType::InvalidPath => "invalidPath",
            ScimType::NoTarget => "noTarget",
            ScimType::InvalidValue => "invalidValue",
        }
    }
}

#[derive(Debug)]
pub struct ScimError {
    pub status: StatusCode,
    pub scim_type: Option<ScimType>,
    pub detail: String,
}

impl ScimError {
    pub fn new(status: StatusCode, scim_type: Option<ScimType>, detail: impl Into<String>) -> Self {
        ScimError {
            status,
            scim_type,
            detail: detail.into(),
        }
    }

    pub fn bad(scim_type: ScimType, detail: impl Into<String>) -> Self {
        ScimError::new(StatusCode::BAD_REQUEST, Some(scim_type), detail)
    }

    pub fn not_found(detail: impl Into<String>) -> Self {
        ScimError::new(StatusCode::NOT_FOUND, None, detail)
    }

    pub fn unauthorized() -> Self {
        ScimError::new(
            StatusCode::UNAUTHORIZED,
            None,
            "A valid bearer token is required",
        )
    }

    pub fn method_not_allowed(allowed: &str) -> Self {
        ScimError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            None,
            format!("Use {allowed}"),
        )
    }

    /// RFC 7644 has no 429 of its own; the error schema with status "429"
    /// and `Retry-After` (from `limits::headers`) is what Okta and Entra
    /// back off on.
    pub fn rate_limited(limited: &crate::limits::Limited) -> Self {
        ScimError::new(
            StatusCode::TOO_MANY_REQUESTS,
            None,
            format!(
                "Too many requests for this token; retry after {} seconds",
                limited.retry_after_secs()
            ),
        )
    }

    pub fn conflict(detail: impl Into<String>) -> Self {
        ScimError::new(StatusCode::CONFLICT, Some(ScimType::Uniqueness), detail)
    }

    fn internal() -> Self {
        ScimError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            None,
            "Internal server error",
        )
    }

    fn unavailable(detail: &str) -> Self {
        ScimError::new(StatusCode::SERVICE_UNAVAILABLE, None, detail)
    }
}

impl IntoResponse for ScimError {
    fn into_response(self) -> Response {
        let mut body = json!({
            "schemas": [schema::ERROR],
            "status": self.status.as_str(),
            "detail": self.detail,
        });
        if let (Some(kind), Some(map)) = (self.scim_type, body.as_object_mut()) {
            map.insert("scimType".into(), json!(kind.as_str()));
        }
        let mut response = (self.status, super::ScimJson(body)).into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"cohort\""),
            );
        }
        response
    }
}

impl From<Error> for ScimError {
    fn from(err: Error) -> ScimError {
        use Error::*;
        use ScimType::*;
        let detail = err.to_string();
        let forbidden = |detail: &str| ScimError::new(StatusCode::FORBIDDEN, None, detail);
        match err {
            GroupNotFound(_) | UserNotFound(_) => ScimError::not_found(detail),
            SubgroupNotFound(_) | InvalidMember(_) | UnknownMemberKey(_) | MemberKeyIsGroup(_) => {
                ScimError::bad(InvalidValue, format!("members: {detail}"))
            }
            UserKeyDeactivated(_) | GroupDeactivated(_) | UserDeactivated(_) => {
                ScimError::bad(InvalidValue, detail)
            }
            UserAlreadyActive(_) | NothingToChange => ScimError::bad(InvalidValue, detail),
            GroupInUse(_) => ScimError::new(
                StatusCode::CONFLICT,
                None,
                "The group is still named by a permission setting; change the setting first",
            ),
            NameTaken(_) | EmailTaken(_) | KeyTaken(_) | GroupExists(_) | UserNameTaken(_)
            | DuplicateKey(_) | TokenNameTaken(_) => ScimError::conflict(detail),
            NameEmpty
            | NameTooLong { .. }
            | NameReservedPrefix(_)
            | NulCharacter { .. }
            | TooLong { .. }
            | FullNameTooLong
            | FullNameTooShort
            | FullNameInvalid
            | EmailInvalid(_)
            | KeyInvalid { .. }
            | Invalid { .. } => ScimError::bad(InvalidValue, detail),
            TooManyIds { .. } | TooManyItems { .. } => ScimError::bad(TooMany, detail),
            // Membership steps are idempotent here, so these only arise from
            // the core's own edge checks.
            AlreadyMember(_) | NotMember(_) | AlreadySubgroup(_) | NotSubgroup(_) => {
                ScimError::bad(InvalidValue, detail)
            }
            SubgroupCycle(_) => ScimError::bad(InvalidValue, detail),
            SettingMismatch { .. } | SettingNotAllowed { .. } | SystemGroupRequired { .. } => {
                ScimError::bad(InvalidValue, detail)
            }
            // System groups (and anything else a token may not change).
            InsufficientPermission => ScimError::bad(
                Mutability,
                "This group is maintained by cohort (a role group) and cannot be changed",
            ),
            MissingScope(_) => forbidden(&detail),
            GuestNotAllowed
            | BotNotAllowed
            | MustBeAdmin
            | MustBeOwner
            | CannotCreateUsers
            | OperatorOnly
            | TokenNotFound(_)
            | AuditNotAllowed
            | WebhookNotFound(_)
            | TooManyWebhooks { .. } => forbidden(&detail),
            LastOwner | DeactivateLastOwner | DeactivateLastUser { .. } => {
                ScimError::bad(Mutability, detail)
            }
            VersionMismatch(_) => ScimError::new(
                StatusCode::PRECONDITION_FAILED,
                None,
                "The resource changed since that version (If-Match)",
            ),
            Internal(detail) => {
                tracing::error!(%detail, "internal error in the core");
                ScimError::internal()
            }
        }
    }
}

impl From<EngineError> for ScimError {
    fn from(err: EngineError) -> ScimError {
        match err {
            EngineError::Domain(err) => err.into(),
            EngineError::RealmNotFound(_) => ScimError::unauthorized(),
            EngineError::Unavailable(detail) => {
                tracing::warn!(%detail, "write refused: storage unavailable");
                ScimError::unavailable(
                    "The directory is temporarily unable to accept changes; try again shortly",
                )
            }
            EngineError::ShuttingDown => {
                ScimError::unavailable("The server is shutting down; try again shortly")
            }
            EngineError::Internal(detail) => {
                tracing::error!(%detail, "internal error in the write path");
                ScimError::internal()
            }
        }
    }
}

impl From<super::filter::FilterError> for ScimError {
    fn from(err: super::filter::FilterError) -> ScimError {
        ScimError::bad(ScimType::InvalidFilter, err.message)
    }
}
