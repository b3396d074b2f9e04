//! The one domain error type. Each variant is a distinct rule that was broken;
//! every face renders it in its own dialect (Zulip's message strings, IMKIT's
//! codes), listing every variant, so a new rule is a compile error in every
//! face until it is rendered.

use crate::ids::{GroupId, UserId};
use crate::model::{GroupSetting, RealmSetting, Scope};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    // ---- things that are not there ----
    #[error("no group {0} in this realm")]
    GroupNotFound(GroupId),
    /// A group named in a list of subgroups (or a setting value) does not exist.
    #[error("no group {0} in this realm (listed as a subgroup)")]
    SubgroupNotFound(GroupId),
    #[error("no user {0} in this realm")]
    UserNotFound(UserId),
    /// A listed member is unknown, from another realm, or deactivated.
    #[error("user {0} cannot be a member")]
    InvalidMember(UserId),
    /// A listed member key names no user.
    #[error("no user with key {0:?}")]
    UnknownMemberKey(String),
    /// A listed member key names a group, where only users may be members.
    #[error("{0:?} is a group, not a user")]
    MemberKeyIsGroup(String),

    // ---- state that forbids the operation ----
    #[error("group {0} is deactivated")]
    GroupDeactivated(GroupId),
    #[error("user {0} is deactivated")]
    UserDeactivated(UserId),
    #[error("user {0} is already active")]
    UserAlreadyActive(UserId),
    #[error("group is still in use ({} objections)", .0.len())]
    GroupInUse(Vec<Objection>),
    #[error("nothing to change")]
    NothingToChange,

    // ---- names, texts and lists ----
    #[error("group name is empty")]
    NameEmpty,
    #[error("group name is longer than {max} characters")]
    NameTooLong { max: usize },
    #[error("group name starts with reserved prefix {0:?}")]
    NameReservedPrefix(&'static str),
    #[error("a group named {0:?} already exists")]
    NameTaken(String),
    #[error("{field} contains a NUL character")]
    NulCharacter { field: &'static str },
    #[error("{field} is longer than {max} characters")]
    TooLong { field: &'static str, max: usize },
    #[error("{field} lists more than {max} ids")]
    TooManyIds { field: &'static str, max: usize },
    #[error("full name is too long")]
    FullNameTooLong,
    #[error("full name is too short")]
    FullNameTooShort,
    #[error("full name contains invalid characters")]
    FullNameInvalid,
    #[error("email {0:?} is not valid")]
    EmailInvalid(String),
    #[error("email {0:?} is already in use")]
    EmailTaken(String),
    #[error("key {0:?} is already in use")]
    KeyTaken(String),
    /// A group with this key exists and the realm does not update on create.
    #[error("a group with key {0:?} already exists")]
    GroupExists(String),
    #[error("key {0:?} is listed more than once")]
    DuplicateKey(String),
    /// The user a key names is deactivated.
    #[error("user with key {0:?} is deactivated")]
    UserKeyDeactivated(String),
    #[error("more than {max} items in one request")]
    TooManyItems { max: usize },
    #[error("key is invalid: {reason}")]
    KeyInvalid { reason: &'static str },
    #[error("user name {0:?} is already in use")]
    UserNameTaken(String),
    #[error("a live token named {0:?} already exists")]
    TokenNameTaken(String),
    #[error("no live token named {0:?}")]
    TokenNotFound(String),
    #[error("no webhook endpoint {0}")]
    WebhookNotFound(crate::ids::WebhookId),
    #[error("a realm has at most {max} webhook endpoints")]
    TooManyWebhooks { max: usize },

    // ---- membership edges ----
    #[error("user {0} is already a member")]
    AlreadyMember(UserId),
    #[error("user {0} is not a member")]
    NotMember(UserId),
    #[error("group {0} is already a subgroup")]
    AlreadySubgroup(GroupId),
    #[error("group {0} is not a subgroup")]
    NotSubgroup(GroupId),
    /// Adding the subgroups would put `{0}` (the supergroup) below itself.
    #[error("group {0} would become its own subgroup")]
    SubgroupCycle(GroupId),

    // ---- permission settings ----
    #[error("the 'old' value of {setting} does not match")]
    SettingMismatch { setting: &'static str },
    #[error("{setting} cannot be set to {group}")]
    SettingNotAllowed {
        setting: &'static str,
        group: String,
    },
    #[error("{setting} must be a system group")]
    SystemGroupRequired { setting: &'static str },

    // ---- who may act ----
    #[error("insufficient permission")]
    InsufficientPermission,
    #[error("guests may not do this")]
    GuestNotAllowed,
    #[error("bots may not do this")]
    BotNotAllowed,
    #[error("must be an organization administrator")]
    MustBeAdmin,
    #[error("must be an organization owner")]
    MustBeOwner,
    #[error("not authorized to create users")]
    CannotCreateUsers,
    /// A token acting outside its scopes (or revoked since it was checked).
    #[error("the token lacks the {} scope", .0.name())]
    MissingScope(Scope),
    /// Reading the audit trail (the native admin API) is for owners,
    /// administrators and tokens with `audit:read`; this actor is none of them.
    #[error("only organization owners and administrators, or a token with the audit:read scope, may read the audit trail")]
    AuditNotAllowed,
    /// Only an operator (the CLI) may do this.
    #[error("only an operator may do this")]
    OperatorOnly,
    /// A conditional write (`If-Match`) whose version is no longer current.
    #[error("the resource changed since version {0}")]
    VersionMismatch(String),
    #[error("the only owner cannot stop being an owner")]
    LastOwner,
    #[error("the only owner cannot be deactivated")]
    DeactivateLastOwner,
    /// Self-deactivation of the realm's last active user or last owner.
    #[error("cannot deactivate the only {}", if *.owner { "organization owner" } else { "user" })]
    DeactivateLastUser { owner: bool },

    // ---- anything else about an input value ----
    #[error("{field}: {reason}")]
    Invalid { field: &'static str, reason: String },
    #[error("internal error: {0}")]
    Internal(String),
}

/// Why a group cannot be deactivated (Zulip's `objections`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Objection {
    Subgroup {
        supergroup_ids: Vec<GroupId>,
    },
    UserGroup {
        group_id: GroupId,
        settings: Vec<GroupSetting>,
    },
    Realm {
        settings: Vec<RealmSetting>,
    },
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
