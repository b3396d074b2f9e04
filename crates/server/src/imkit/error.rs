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
    /// Seconds to wait, on a 429 (IMKIT's `retryAfter`).
    pub retry_after: Option<u64>,
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
            retry_after: None,
        }
    }

    /// IMKIT's documented 429: `RATE_LIMIT_EXCEEDED` with `retryAfter`.
    pub fn rate_limited(limited: &crate::limits::Limited) -> ImkitError {
        ImkitError {
            retry_after: Some(limited.retry_after_secs()),
            ..ImkitError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "Too Many Requests",
                "RATE_LIMIT_EXCEEDED",
                "Too many requests for this API key; retry after retryAfter seconds",
            )
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

    /// IMKIT's documented message, exactly; the limit goes to the log.
    pub fn too_large_result(asked: u64, max: u64) -> ImkitError {
        tracing::info!(limit = asked, max, "page size refused");
        ImkitError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "Query result too large",
            "RESULT_TOO_LARGE",
            "Please use more specific query or smaller limit",
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

    /// Every unknown client gets IMKIT's one message; which key goes to the log.
    pub fn client_not_found() -> ImkitError {
        ImkitError::not_found("CLIENT_NOT_FOUND", "The specified client does not exist")
    }

    /// cohort's counterpart for groups, worded the same way.
    pub fn group_not_found() -> ImkitError {
        ImkitError::not_found("GROUP_NOT_FOUND", "The specified group does not exist")
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
        let mut body = json!({
            "RC": self.status.as_u16(),
            "RM": self.rm,
            "error": {"code": self.code, "message": self.message},
        });
        if let (Some(seconds), Some(map)) = (self.retry_after, body.as_object_mut()) {
            map.insert("retryAfter".into(), json!(seconds));
        }
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
    /// Every core rule, named: a new one does not compile until it is given
    /// IMKIT's words here (no core English reaches a client).
    fn from(err: Error) -> ImkitError {
        use Error::*;
        fn forbidden(message: &str) -> ImkitError {
            ImkitError::new(
                StatusCode::FORBIDDEN,
                "Forbidden",
                "INSUFFICIENT_PERMISSIONS",
                message,
            )
        }
        match err {
            GroupNotFound(_) => ImkitError::group_not_found(),
            SubgroupNotFound(id) => ImkitError::invalid(format!("no group {id} (listed as a subgroup)")),
            UserNotFound(_) => {
                ImkitError::client_not_found()
            }
            UnknownMemberKey(key) => ImkitError::invalid(format!("members: no client with _id '{key}'")),
            MemberKeyIsGroup(key) => ImkitError::invalid(format!("members: '{key}' is a group, not a client")),
            InvalidMember(id) => ImkitError::invalid(format!("members: user {id} is not an active client")),
            DuplicateKey(key) => ImkitError::invalid(format!("'{key}' is listed more than once")),
            KeyTaken(key) => ImkitError::conflict(
                "ID_ALREADY_IN_USE",
                format!("'{key}' is already the _id of another client or group (they share one namespace)"),
            ),
            GroupExists(_) => ImkitError::conflict("GROUP_ALREADY_EXISTS", "A group with this ID already exists"),
            UserKeyDeactivated(key) => ImkitError::conflict(
                "CLIENT_DEACTIVATED",
                format!("Client '{key}' is deactivated; reactivate it before changing it"),
            ),
            GroupDeactivated(_) => ImkitError::invalid("the group is deactivated"),
            UserDeactivated(_) => ImkitError::invalid("the client is deactivated"),
            UserAlreadyActive(_) => ImkitError::invalid("the client is already active"),
            NothingToChange => ImkitError::invalid("nothing to change"),
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
            // SCIM's and the CLI's refusals; IMKIT requests do not produce them.
            UserNameTaken(_) => ImkitError::conflict("ID_ALREADY_IN_USE", "Another client already has this user name"),
            TokenNameTaken(_)
            | TokenNotFound(_)
            | OperatorOnly
            | MissingScope(_)
            | WebhookNotFound(_)
            | TooManyWebhooks { .. } => forbidden("Insufficient permissions"),
            VersionMismatch(_) => ImkitError::conflict("VERSION_MISMATCH", "The object changed since it was read"),
            // IMKIT replaces a group's members whole, so these edges only
            // arise from other faces' requests; named here all the same.
            AlreadyMember(_) => ImkitError::invalid("members: a client is already a member"),
            NotMember(_) => ImkitError::invalid("members: a client is not a member"),
            AlreadySubgroup(id) => ImkitError::invalid(format!("group {id} is already a subgroup")),
            NotSubgroup(id) => ImkitError::invalid(format!("group {id} is not a subgroup")),
            SubgroupCycle(id) => ImkitError::invalid(format!("group {id} would become its own subgroup")),
            SettingMismatch { setting } => {
                ImkitError::invalid(format!("{setting} has changed since it was read"))
            }
            SettingNotAllowed { setting, group } => {
                ImkitError::invalid(format!("{setting} cannot be set to group '{group}'"))
            }
            SystemGroupRequired { setting } => {
                ImkitError::invalid(format!("{setting} must name a system group"))
            }
            InsufficientPermission => forbidden("Insufficient permissions"),
            GuestNotAllowed => forbidden("Guests may not do this"),
            BotNotAllowed => forbidden("Robots may not do this"),
            MustBeAdmin => forbidden("Must be an organization administrator"),
            MustBeOwner => forbidden("Must be an organization owner"),
            CannotCreateUsers => forbidden("Not allowed to create clients"),
            AuditNotAllowed => forbidden("Not allowed to read the audit trail"),
            LastOwner | DeactivateLastOwner | DeactivateLastUser { owner: true } => {
                forbidden("The only organization owner cannot be changed or deactivated")
            }
            DeactivateLastUser { owner: false } => forbidden("The only client cannot be deactivated"),
            Invalid { field, reason } => ImkitError::invalid(format!("{field} is invalid: {reason}")),
            Internal(detail) => {
                tracing::error!(%detail, "internal error in the core");
                ImkitError::internal()
            }
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

/// IMKIT's documented message, exactly; what was wrong with `q` goes to the
/// log (inside the request's span, so with its request id).
impl From<super::query::QueryError> for ImkitError {
    fn from(err: super::query::QueryError) -> ImkitError {
        tracing::info!(detail = %err.0, "q refused");
        ImkitError::new(
            StatusCode::BAD_REQUEST,
            "Invalid query syntax",
            "INVALID_QUERY",
            "MongoDB query syntax error",
        )
    }
}
