//! Zulip's error envelope: `{"result": "error", "msg": ..., "code": ...}` plus
//! extra fields, with Zulip's statuses (400 for almost everything, including
//! permission failures; 401 for authentication). Every domain error is given
//! Zulip's own English message here; internal details are logged, never sent.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use cohort_core::{Error, Objection};
use cohort_engine::EngineError;
use serde_json::{json, Map, Value};

#[derive(Debug)]
pub struct ZulipError {
    pub status: StatusCode,
    pub code: Option<&'static str>,
    pub msg: String,
    pub extra: Map<String, Value>,
    /// Zulip adds `WWW-Authenticate: Basic realm="zulip"` to its 401s.
    pub challenge: bool,
    pub allow: Option<String>,
}

impl ZulipError {
    pub fn new(status: StatusCode, code: &'static str, msg: impl Into<String>) -> ZulipError {
        ZulipError {
            status,
            code: Some(code),
            msg: msg.into(),
            extra: Map::new(),
            challenge: false,
            allow: None,
        }
    }

    /// Zulip's 429: `RATE_LIMIT_HIT` with `retry-after` in seconds (the
    /// headers come from `limits::headers`).
    pub fn rate_limited(limited: &crate::limits::Limited) -> ZulipError {
        ZulipError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "RATE_LIMIT_HIT",
            "API usage exceeded rate limit",
        )
        .with("retry-after", json!(limited.retry_after().as_secs_f64()))
    }

    pub fn bad_request(msg: impl Into<String>) -> ZulipError {
        ZulipError::new(StatusCode::BAD_REQUEST, "BAD_REQUEST", msg)
    }

    pub fn with(mut self, key: &str, value: Value) -> ZulipError {
        self.extra.insert(key.to_string(), value);
        self
    }

    pub fn missing(name: &str) -> ZulipError {
        ZulipError::new(
            StatusCode::BAD_REQUEST,
            "REQUEST_VARIABLE_MISSING",
            format!("Missing '{name}' argument"),
        )
        .with("var_name", json!(name))
    }

    pub fn unauthorized(msg: &str) -> ZulipError {
        let mut err = ZulipError::new(StatusCode::UNAUTHORIZED, "UNAUTHORIZED", msg);
        err.challenge = true;
        err
    }

    pub fn not_found() -> ZulipError {
        ZulipError::new(StatusCode::NOT_FOUND, "BAD_REQUEST", "Not Found")
    }

    pub fn too_large() -> ZulipError {
        ZulipError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "BAD_REQUEST",
            "Request body too large",
        )
    }

    /// Zulip's 405 has no `code`, lists the allowed methods, and sets `Allow`.
    pub fn method_not_allowed(allowed: &[&str]) -> ZulipError {
        ZulipError {
            status: StatusCode::METHOD_NOT_ALLOWED,
            code: None,
            msg: "Method Not Allowed".into(),
            extra: Map::from_iter([("allowed_methods".to_string(), json!(allowed))]),
            challenge: false,
            allow: Some(allowed.join(", ")),
        }
    }

    pub fn internal() -> ZulipError {
        ZulipError {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            code: None,
            msg: "Internal server error".into(),
            extra: Map::new(),
            challenge: false,
            allow: None,
        }
    }
}

impl IntoResponse for ZulipError {
    fn into_response(self) -> Response {
        let mut body = Map::new();
        body.insert("result".into(), json!("error"));
        body.insert("msg".into(), json!(self.msg));
        if let Some(code) = self.code {
            body.insert("code".into(), json!(code));
        }
        body.extend(self.extra);
        let mut response = (self.status, axum::Json(Value::Object(body))).into_response();
        let headers = response.headers_mut();
        if self.challenge {
            headers.insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"zulip\""),
            );
        }
        if let Some(allow) = self.allow.and_then(|a| HeaderValue::from_str(&a).ok()) {
            headers.insert(header::ALLOW, allow);
        }
        response
    }
}

fn objection_json(objection: &Objection) -> Value {
    match objection {
        Objection::Subgroup { supergroup_ids } => json!({
            "type": "subgroup",
            "supergroup_ids": supergroup_ids.iter().map(|g| g.0).collect::<Vec<_>>(),
        }),
        Objection::UserGroup { group_id, settings } => json!({
            "type": "user_group",
            "group_id": group_id.0,
            "settings": settings.iter().map(|s| s.name()).collect::<Vec<_>>(),
        }),
        Objection::Realm { settings } => json!({
            "type": "realm",
            "settings": settings.iter().map(|s| s.name()).collect::<Vec<_>>(),
        }),
    }
}

impl From<Error> for ZulipError {
    fn from(err: Error) -> ZulipError {
        use Error::*;
        fn bad(msg: impl Into<String>) -> ZulipError {
            ZulipError::bad_request(msg)
        }
        match err {
            GroupNotFound(_) => bad("Invalid user group"),
            SubgroupNotFound(id) => bad(format!("Invalid user group ID: {id}")),
            UserNotFound(_) => bad("No such user"),
            InvalidMember(id) => bad(format!("Invalid user ID: {id}")),
            GroupDeactivated(_) => bad("User group is deactivated."),
            UserDeactivated(_) => bad("User is deactivated"),
            UserAlreadyActive(_) => bad("User is already active."),
            GroupInUse(objections) => ZulipError::new(
                StatusCode::BAD_REQUEST,
                "CANNOT_DEACTIVATE_GROUP_IN_USE",
                "Cannot deactivate user group in use.",
            )
            .with(
                "objections",
                Value::Array(objections.iter().map(objection_json).collect()),
            ),
            NothingToChange => bad("No new data supplied"),
            NameEmpty => bad("User group name can't be empty!"),
            NameTooLong { max } => bad(format!("User group name cannot exceed {max} characters.")),
            NameReservedPrefix(prefix) => {
                bad(format!("User group name cannot start with '{prefix}'."))
            }
            NameTaken(name) => bad(format!("User group '{name}' already exists.")),
            NulCharacter { field } => bad(format!("{field} contains NULL (0x00) characters.")),
            TooLong { field, max } => {
                bad(format!("{field} is too long (limit: {max} characters)."))
            }
            TooManyIds { field, max } => bad(format!("{field} lists more than {max} ids.")),
            FullNameTooLong => bad("Name too long!"),
            FullNameTooShort => bad("Name too short!"),
            FullNameInvalid => bad("Invalid characters in name!"),
            EmailInvalid(_) => bad("Bad name or username"),
            EmailTaken(_) => bad("Email is already in use."),
            KeyTaken(key) => bad(format!("Key '{key}' is already in use.")),
            KeyInvalid { reason } => bad(format!("Invalid key: {reason}.")),
            // SCIM's and the CLI's refusals; Zulip requests do not produce them.
            UserNameTaken(_) => bad("Username is already in use."),
            TokenNameTaken(_)
            | TokenNotFound(_)
            | OperatorOnly
            | MissingScope(_)
            | WebhookNotFound(_)
            | TooManyWebhooks { .. } => bad("Insufficient permission"),
            VersionMismatch(_) => bad("The object changed since it was read."),
            // Key-addressed (IMKIT) errors; Zulip requests do not produce them.
            UnknownMemberKey(key) | MemberKeyIsGroup(key) => bad(format!("Invalid user: {key}")),
            GroupExists(key) => bad(format!("User group with key '{key}' already exists.")),
            DuplicateKey(key) => bad(format!("Key '{key}' is listed more than once.")),
            UserKeyDeactivated(_) => bad("User is deactivated"),
            TooManyItems { max } => bad(format!("At most {max} items per request.")),
            AlreadyMember(id) => bad(format!("User {id} is already a member of this group")),
            NotMember(id) => bad(format!("There is no member '{id}' in this user group")),
            AlreadySubgroup(id) => bad(format!(
                "User group {id} is already a subgroup of this group."
            )),
            NotSubgroup(id) => bad(format!("User group {id} is not a subgroup of this group.")),
            SubgroupCycle(id) => bad(format!(
                "User group {id} is already a subgroup of one of the passed subgroups."
            )),
            SettingMismatch { .. } => ZulipError::new(
                StatusCode::BAD_REQUEST,
                "EXPECTATION_MISMATCH",
                "'old' value does not match the expected value.",
            )
            .with("field_name", json!("old")),
            SettingNotAllowed { setting, group } => bad(format!(
                "'{setting}' setting cannot be set to '{group}' group."
            )),
            SystemGroupRequired { setting } => ZulipError::new(
                StatusCode::BAD_REQUEST,
                "SYSTEM_GROUP_REQUIRED",
                format!("'{setting}' must be a system user group."),
            )
            .with("setting_name", json!(setting)),
            InsufficientPermission => bad("Insufficient permission"),
            GuestNotAllowed => bad("Not allowed for guest users"),
            BotNotAllowed => bad("This endpoint does not accept bot requests."),
            MustBeAdmin => ZulipError::new(
                StatusCode::BAD_REQUEST,
                "UNAUTHORIZED_PRINCIPAL",
                "Must be an organization administrator",
            ),
            MustBeOwner => ZulipError::new(
                StatusCode::BAD_REQUEST,
                "UNAUTHORIZED_PRINCIPAL",
                "Must be an organization owner",
            ),
            CannotCreateUsers => bad("User not authorized to create users"),
            AuditNotAllowed => bad("Not allowed to read the audit trail"),
            LastOwner => {
                bad("The owner permission cannot be removed from the only organization owner.")
            }
            DeactivateLastOwner => bad("Cannot deactivate the only organization owner"),
            DeactivateLastUser { owner } => {
                let entity = if owner { "organization owner" } else { "user" };
                ZulipError::new(
                    StatusCode::BAD_REQUEST,
                    "CANNOT_DEACTIVATE_LAST_USER",
                    format!("Cannot deactivate the only {entity}."),
                )
                .with("is_last_owner", json!(owner))
                .with("entity", json!(entity))
            }
            Invalid { field, reason } => bad(format!("Invalid {field}: {reason}")),
            Internal(detail) => {
                tracing::error!(%detail, "internal error in the core");
                ZulipError::internal()
            }
        }
    }
}

impl From<EngineError> for ZulipError {
    fn from(err: EngineError) -> ZulipError {
        match err {
            EngineError::Domain(err) => err.into(),
            EngineError::RealmNotFound(_) => ZulipError::unauthorized("Invalid API key"),
            EngineError::Unavailable(detail) => {
                tracing::warn!(%detail, "write refused: storage unavailable");
                ZulipError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "BAD_REQUEST",
                    "The directory is temporarily unable to accept changes; try again shortly.",
                )
            }
            EngineError::ShuttingDown => ZulipError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "BAD_REQUEST",
                "The server is shutting down; try again shortly.",
            ),
            EngineError::Internal(detail) => {
                tracing::error!(%detail, "internal error in the write path");
                ZulipError::internal()
            }
        }
    }
}
