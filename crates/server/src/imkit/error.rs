//! IMKIT's error envelope: `{"RC": <status>, "RM": <reason>, "error": {"code", "message"}}`
//! with the HTTP status equal to `RC`. Domain errors get IMKIT-style codes here.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use cohort_core::{Error, Objection};
use cohort_engine::EngineError;
use serde_json::json;

#[derive(Debug)]
pub struct ImkitError {
    pub status: StatusCode,
    pub rm: &'static str,
    pub code: &'static str,
    pub message: String,
}

impl ImkitError {
    pub fn new(
        status: StatusCode,
        rm: &'static str,
        code: &'static str,
        message: impl Into<String>,
    ) -> ImkitError {
        ImkitError {
            status,
            rm,
            code,
            message: message.into(),
        }
    }

    pub fn bad(code: &'static str, message: impl Into<String>) -> ImkitError {
        ImkitError::new(StatusCode::BAD_REQUEST, "Bad Request", code, message)
    }

    pub fn invalid(message: impl Into<String>) -> ImkitError {
        ImkitError::bad("INVALID_PARAMETER", message)
    }

    pub fn missing(field: &str) -> ImkitError {
        ImkitError::bad("MISSING_PARAMETER", format!("{field} is required"))
    }

    pub fn unauthorized() -> ImkitError {
        ImkitError::new(
            StatusCode::UNAUTHORIZED,
            "Unauthorized",
            "INVALID_API_KEY",
            "Invalid or missing API key",
        )
    }

    pub fn query(detail: impl std::fmt::Display) -> ImkitError {
        ImkitError::new(
            StatusCode::BAD_REQUEST,
            "Invalid query syntax",
            "INVALID_QUERY",
            format!("MongoDB query syntax error: {detail}"),
        )
    }

    pub fn too_large_result(max: u64) -> ImkitError {
        ImkitError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "Query result too large",
            "RESULT_TOO_LARGE",
            format!("Please use more specific query or smaller limit (at most {max})"),
        )
    }

    pub fn body_too_large() -> ImkitError {
        ImkitError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "Payload Too Large",
            "PAYLOAD_TOO_LARGE",
            "Request body too large",
        )
    }

    pub fn not_found(code: &'static str, message: impl Into<String>) -> ImkitError {
        // IMKIT's documentation gives this one RM; others use the reason phrase.
        let rm = match code {
            "CLIENT_NOT_FOUND" => "Client not found",
            _ => "Not Found",
        };
        ImkitError::new(StatusCode::NOT_FOUND, rm, code, message)
    }

    fn conflict(code: &'static str, message: impl Into<String>) -> ImkitError {
        ImkitError::new(StatusCode::CONFLICT, "Conflict", code, message)
    }

    pub fn internal() -> ImkitError {
        ImkitError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "Internal Server Error",
            "INTERNAL_ERROR",
            "Internal server error",
        )
    }
}

impl IntoResponse for ImkitError {
    fn into_response(self) -> Response {
        let body = json!({
            "RC": self.status.as_u16(),
            "RM": self.rm,
            "error": {"code": self.code, "message": self.message},
        });
        (self.status, axum::Json(body)).into_response()
    }
}

fn in_use(objections: &[Objection]) -> String {
    let uses: Vec<String> = objections
        .iter()
        .map(|o| match o {
            Objection::Subgroup { supergroup_ids } => {
                format!("a subgroup of groups {supergroup_ids:?}")
            }
            Objection::UserGroup { group_id, settings } => {
                let names: Vec<&str> = settings.iter().map(|s| s.name()).collect();
                format!("named by group {group_id}'s {}", names.join(", "))
            }
            Objection::Realm { settings } => {
                let names: Vec<&str> = settings.iter().map(|s| s.name()).collect();
                format!("named by the realm's {}", names.join(", "))
            }
        })
        .collect();
    format!("The group is in use: {}", uses.join("; "))
}

impl From<Error> for ImkitError {
    fn from(err: Error) -> ImkitError {
        use Error::*;
        let text = err.to_string();
        match err {
            GroupNotFound(_) => ImkitError::not_found("GROUP_NOT_FOUND", "The specified group does not exist"),
            UserNotFound(_) => {
                ImkitError::not_found("CLIENT_NOT_FOUND", "The specified client does not exist")
            }
            UnknownClient(key) => ImkitError::invalid(format!("members: no client with _id '{key}'")),
            NotAClient(key) => ImkitError::invalid(format!("members: '{key}' is a group, not a client")),
            InvalidMember(id) => ImkitError::invalid(format!("members: user {id} is not an active client")),
            DuplicateKey(key) => ImkitError::invalid(format!("'{key}' is listed more than once")),
            KeyTaken(key) => ImkitError::conflict(
                "ID_ALREADY_IN_USE",
                format!("'{key}' is already the _id of another client or group (they share one namespace)"),
            ),
            GroupExists(_) => ImkitError::conflict("GROUP_ALREADY_EXISTS", "A group with this ID already exists"),
            ClientDeactivated(key) => ImkitError::conflict(
                "CLIENT_DEACTIVATED",
                format!("Client '{key}' is deactivated; reactivate it before changing it"),
            ),
            NameTaken(name) => ImkitError::conflict("NICKNAME_TAKEN", format!("Another group is already named '{name}'")),
            EmailTaken(_) => ImkitError::conflict("EMAIL_ALREADY_IN_USE", "Another client already has this email"),
            GroupInUse(objections) => ImkitError::conflict("GROUP_IN_USE", in_use(&objections)),
            NameEmpty => ImkitError::missing("nickname"),
            NameTooLong { max } => ImkitError::invalid(format!("nickname must be at most {max} characters")),
            NameReservedPrefix(prefix) => ImkitError::invalid(format!("nickname cannot start with '{prefix}'")),
            NulCharacter { field } => ImkitError::invalid(format!("{field} contains a NUL character")),
            TooLong { field, max } => ImkitError::invalid(format!("{field} must be at most {max} characters")),
            TooManyIds { field, max } => ImkitError::invalid(format!("{field} lists more than {max} ids")),
            TooManyItems { max } => ImkitError::invalid(format!("at most {max} items per request")),
            FullNameTooLong => ImkitError::invalid("nickname is too long (at most 100 characters)"),
            FullNameTooShort => ImkitError::invalid("nickname is too short (at least 2 characters)"),
            FullNameInvalid => ImkitError::invalid("nickname contains characters that are not allowed (* ` \\ > \" @)"),
            EmailInvalid(_) => ImkitError::invalid("email is not a valid address"),
            KeyInvalid { reason } => ImkitError::invalid(format!("_id is invalid: {reason}")),
            InsufficientPermission | GuestNotAllowed | BotNotAllowed | MustBeAdmin | MustBeOwner
            | CannotCreateUsers | LastOwner | DeactivateLastOwner | DeactivateLastUser { .. } => {
                ImkitError::new(StatusCode::FORBIDDEN, "Forbidden", "INSUFFICIENT_PERMISSIONS", text)
            }
            Internal(detail) => {
                tracing::error!(%detail, "internal error in the core");
                ImkitError::internal()
            }
            _ => ImkitError::invalid(text),
        }
    }
}

impl From<EngineError> for ImkitError {
    fn from(err: EngineError) -> ImkitError {
        match err {
            EngineError::Domain(err) => err.into(),
            EngineError::RealmNotFound(_) => ImkitError::unauthorized(),
            EngineError::Unavailable(detail) => {
                tracing::warn!(%detail, "write refused: storage unavailable");
                ImkitError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "Service Unavailable",
                    "SERVICE_UNAVAILABLE",
                    "The directory is temporarily unable to accept changes; try again shortly",
                )
            }
            EngineError::ShuttingDown => ImkitError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "Service Unavailable",
                "SERVICE_UNAVAILABLE",
                "The server is shutting down; try again shortly",
            ),
            EngineError::Internal(detail) => {
                tracing::error!(%detail, "internal error in the write path");
                ImkitError::internal()
            }
        }
    }
}
