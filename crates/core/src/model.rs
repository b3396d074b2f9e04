//! The directory's records: realms, users, groups, and the permission settings
//! that point at groups. Plain data; the rules that change them live in `command`.

use crate::ids::{GroupId, KeyHash, Millis, RealmId, TokenId, UserId, WebhookId};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// A user's role in the realm, with Zulip's numeric codes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "u16", into = "u16")]
pub enum Role {
    Owner,
    Administrator,
    Moderator,
    Member,
    Guest,
}

impl Role {
    pub const ALL: [Role; 5] = [
        Role::Owner,
        Role::Administrator,
        Role::Moderator,
        Role::Member,
        Role::Guest,
    ];

    pub fn code(self) -> u16 {
        match self {
            Role::Owner => 100,
            Role::Administrator => 200,
            Role::Moderator => 300,
            Role::Member => 400,
            Role::Guest => 600,
        }
    }

    pub fn from_code(code: i64) -> Option<Role> {
        Role::ALL.into_iter().find(|r| i64::from(r.code()) == code)
    }

    /// The name operators type (`cohort user add --role moderator`).
    pub fn name(self) -> &'static str {
        match self {
            Role::Owner => "owner",
            Role::Administrator => "administrator",
            Role::Moderator => "moderator",
            Role::Member => "member",
            Role::Guest => "guest",
        }
    }

    pub fn from_name(name: &str) -> Option<Role> {
        let name = name.to_ascii_lowercase();
        Role::ALL
            .into_iter()
            .find(|r| r.name() == name || (name == "admin" && *r == Role::Administrator))
    }

    pub fn is_admin(self) -> bool {
        matches!(self, Role::Owner | Role::Administrator)
    }

    /// The system group whose direct members are exactly the users with this role.
    pub fn system_group(self) -> SystemGroup {
        match self {
            Role::Owner => SystemGroup::Owners,
            Role::Administrator => SystemGroup::Administrators,
            Role::Moderator => SystemGroup::Moderators,
            Role::Member => SystemGroup::Members,
            Role::Guest => SystemGroup::Everyone,
        }
    }
}

impl From<Role> for u16 {
    fn from(role: Role) -> u16 {
        role.code()
    }
}

impl TryFrom<u16> for Role {
    type Error = String;
    fn try_from(code: u16) -> Result<Role, String> {
        Role::from_code(i64::from(code)).ok_or_else(|| format!("unknown role {code}"))
    }
}

/// Zulip's eight role-based groups, in the order a realm creates them (so their
/// ids ascend in this order).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SystemGroup {
    Nobody,
    Owners,
    Administrators,
    Moderators,
    FullMembers,
    Members,
    Everyone,
    Internet,
}

impl SystemGroup {
    pub const ALL: [SystemGroup; 8] = [
        SystemGroup::Nobody,
        SystemGroup::Owners,
        SystemGroup::Administrators,
        SystemGroup::Moderators,
        SystemGroup::FullMembers,
        SystemGroup::Members,
        SystemGroup::Everyone,
        SystemGroup::Internet,
    ];

    pub fn index(self) -> usize {
        self as usize
    }

    pub fn name(self) -> &'static str {
        match self {
            SystemGroup::Nobody => "role:nobody",
            SystemGroup::Owners => "role:owners",
            SystemGroup::Administrators => "role:administrators",
            SystemGroup::Moderators => "role:moderators",
            SystemGroup::FullMembers => "role:fullmembers",
            SystemGroup::Members => "role:members",
            SystemGroup::Everyone => "role:everyone",
            SystemGroup::Internet => "role:internet",
        }
    }

    pub fn description(self) -> &'static str {
        match self {
            SystemGroup::Nobody => "Nobody",
            SystemGroup::Owners => "Owners of this organization",
            SystemGroup::Administrators => "Administrators of this organization, including owners",
            SystemGroup::Moderators => "Moderators of this organization, including administrators",
            SystemGroup::FullMembers => {
                "Members of this organization, not including new accounts and guests"
            }
            SystemGroup::Members => "Members of this organization, not including guests",
            SystemGroup::Everyone => "Everyone in this organization, including guests",
            SystemGroup::Internet => "Everyone on the Internet",
        }
    }

    /// The system group directly below this one in the role chain
    /// (owners ⊂ administrators ⊂ … ⊂ internet); nobody is in no chain.
    pub fn direct_subgroup(self) -> Option<SystemGroup> {
        match self {
            SystemGroup::Nobody | SystemGroup::Owners => None,
            SystemGroup::Administrators => Some(SystemGroup::Owners),
            SystemGroup::Moderators => Some(SystemGroup::Administrators),
            SystemGroup::FullMembers => Some(SystemGroup::Moderators),
            SystemGroup::Members => Some(SystemGroup::FullMembers),
            SystemGroup::Everyone => Some(SystemGroup::Members),
            SystemGroup::Internet => Some(SystemGroup::Everyone),
        }
    }
}

/// The value of a permission setting: a named group, or an anonymous group made
/// of direct members and direct subgroups (Zulip's "group-setting value").
///
/// Anonymous values are kept inline rather than as hidden groups with their own
/// ids: nothing in any API addresses them by id, and inline values need no
/// lifecycle of their own. Lists are sorted and free of duplicates.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SettingValue {
    Group(GroupId),
    Anonymous {
        members: Vec<UserId>,
        subgroups: Vec<GroupId>,
    },
}

impl SettingValue {
    /// Every named group this value refers to.
    pub fn groups(&self) -> Vec<GroupId> {
        match self {
            SettingValue::Group(id) => vec![*id],
            SettingValue::Anonymous { subgroups, .. } => subgroups.clone(),
        }
    }
}

/// How a permission setting may be set and who can ever hold it
/// (Zulip's `server_supported_permission_settings` entries).
#[derive(Clone, Copy, Debug)]
pub struct SettingConfig {
    pub name: &'static str,
    pub require_system_group: bool,
    pub allow_internet_group: bool,
    pub allow_nobody_group: bool,
    /// `false` also means guests never hold the permission.
    pub allow_everyone_group: bool,
    pub default: SettingDefault,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SettingDefault {
    System(SystemGroup),
    /// An anonymous group holding only the group's creator.
    GroupCreator,
}

/// The six per-group permission settings, in Zulip's (alphabetical) order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GroupSetting {
    CanAddMembersGroup,
    CanJoinGroup,
    CanLeaveGroup,
    CanManageGroup,
    CanMentionGroup,
    CanRemoveMembersGroup,
}

impl GroupSetting {
    pub const ALL: [GroupSetting; 6] = [
        GroupSetting::CanAddMembersGroup,
        GroupSetting::CanJoinGroup,
        GroupSetting::CanLeaveGroup,
        GroupSetting::CanManageGroup,
        GroupSetting::CanMentionGroup,
        GroupSetting::CanRemoveMembersGroup,
    ];

    pub fn index(self) -> usize {
        self as usize
    }

    pub fn name(self) -> &'static str {
        self.config().name
    }

    pub fn from_name(name: &str) -> Option<GroupSetting> {
        GroupSetting::ALL.into_iter().find(|s| s.name() == name)
    }

    pub fn config(self) -> SettingConfig {
        use SettingDefault::*;
        let (name, allow_everyone_group, default) = match self {
            GroupSetting::CanAddMembersGroup => ("can_add_members_group", false, GroupCreator),
            GroupSetting::CanJoinGroup => ("can_join_group", false, System(SystemGroup::Nobody)),
            GroupSetting::CanLeaveGroup => ("can_leave_group", true, System(SystemGroup::Everyone)),
            GroupSetting::CanManageGroup => ("can_manage_group", false, GroupCreator),
            GroupSetting::CanMentionGroup => {
                ("can_mention_group", true, System(SystemGroup::Everyone))
            }
            GroupSetting::CanRemoveMembersGroup => (
                "can_remove_members_group",
                false,
                System(SystemGroup::Nobody),
            ),
        };
        SettingConfig {
            name,
            require_system_group: false,
            allow_internet_group: false,
            allow_nobody_group: true,
            allow_everyone_group,
            default,
        }
    }
}

/// Realm-wide permission settings that govern groups.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RealmSetting {
    CanCreateGroups,
    CanManageAllGroups,
}

impl RealmSetting {
    pub const ALL: [RealmSetting; 2] = [
        RealmSetting::CanCreateGroups,
        RealmSetting::CanManageAllGroups,
    ];

    pub fn index(self) -> usize {
        self as usize
    }

    pub fn name(self) -> &'static str {
        self.config().name
    }

    pub fn from_name(name: &str) -> Option<RealmSetting> {
        RealmSetting::ALL.into_iter().find(|s| s.name() == name)
    }

    pub fn config(self) -> SettingConfig {
        match self {
            RealmSetting::CanCreateGroups => SettingConfig {
                name: "can_create_groups",
                require_system_group: false,
                allow_internet_group: false,
                allow_nobody_group: true,
                allow_everyone_group: false,
                default: SettingDefault::System(SystemGroup::Members),
            },
            RealmSetting::CanManageAllGroups => SettingConfig {
                name: "can_manage_all_groups",
                require_system_group: false,
                allow_internet_group: false,
                allow_nobody_group: false,
                allow_everyone_group: false,
                default: SettingDefault::System(SystemGroup::Owners),
            },
        }
    }
}

/// What IMKIT's `POST /admin/groups` does with an `_id` that already exists.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum GroupUpsert {
    /// Current IMKIT documentation: 409 `GROUP_ALREADY_EXISTS`.
    #[default]
    Reject,
    /// Legacy IMKIT documentation: update the existing group.
    Update,
}

/// How many requests one credential may make per period: the server's
/// default (`serve --rate-limit`) unless a realm sets its own.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct RateLimit {
    /// At least 1; also the burst a fresh credential may spend at once.
    pub requests: u32,
    /// 1 to 86,400 seconds.
    pub per_seconds: u32,
}

impl RateLimit {
    pub const MAX_PERIOD_SECONDS: u32 = 86_400;
}

impl std::fmt::Display for RateLimit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}s", self.requests, self.per_seconds)
    }
}

/// A tenant and its settings.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Realm {
    pub id: RealmId,
    pub name: String,
    pub created_at: Millis,
    /// Indexed by `RealmSetting::index`.
    pub settings: [SettingValue; 2],
    /// Days a member waits before joining `role:fullmembers`.
    pub waiting_period_days: u32,
    /// Newer Zulip lets bots use the user-group endpoints; off by default, as in
    /// released Zulip versions.
    pub bots_may_manage_groups: bool,
    pub group_upsert: GroupUpsert,
    /// This realm's own per-credential rate limit; `None` is the server's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_limit: Option<RateLimit>,
    /// The IMKIT platform key (`IM-API-KEY`), hashed.
    pub platform_key: Option<KeyHash>,
    /// The key the last rotation replaced, still accepted until its grace
    /// period ends (`Realm::platform_key_opens`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retired_platform_key: Option<RetiredKey>,
    /// API tokens, revoked ones included (the change log names them).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tokens: Vec<Token>,
    /// Webhook endpoints, removed ones included (the change log names them).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub webhooks: Vec<Webhook>,
}

/// A platform key replaced by a rotation: it keeps opening its realm until
/// `until` (exclusive), so clients can move to the new key without a gap.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RetiredKey {
    pub hash: KeyHash,
    pub until: Millis,
}

impl Realm {
    /// Whether a presented platform key (its hash) opens this realm at
    /// `now`: the current key, or the one the last rotation retired while
    /// its grace period lasts.
    pub fn platform_key_opens(&self, hash: &KeyHash, now: Millis) -> bool {
        self.platform_key.as_ref() == Some(hash)
            || self
                .retired_platform_key
                .is_some_and(|old| old.hash == *hash && now < old.until)
    }

    pub fn setting(&self, setting: RealmSetting) -> &SettingValue {
        &self.settings[setting.index()]
    }

    pub fn token(&self, id: TokenId) -> Option<&Token> {
        self.tokens.iter().find(|t| t.id == id)
    }

    /// The endpoint with this id, unless it was removed.
    pub fn webhook(&self, id: WebhookId) -> Option<&Webhook> {
        self.webhooks
            .iter()
            .find(|w| w.id == id && w.removed_at.is_none())
    }

    /// Endpoints not removed, in creation order.
    pub fn live_webhooks(&self) -> impl Iterator<Item = &Webhook> {
        self.webhooks.iter().filter(|w| w.removed_at.is_none())
    }

    /// The live (unrevoked) token with this name.
    pub fn live_token(&self, name: &str) -> Option<&Token> {
        self.tokens
            .iter()
            .find(|t| t.revoked_at.is_none() && t.name == name)
    }
}

/// What a realm API token may be used for. Each face or API checks the scope
/// it needs (`permission::require_scope`); a token has no rights beyond them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Scope {
    /// Provision users and groups over SCIM (reads and writes of the directory).
    #[serde(rename = "scim")]
    Scim,
    /// Read the audit trail and the native admin API.
    #[serde(rename = "audit:read")]
    AuditRead,
    /// Hold an event stream open.
    #[serde(rename = "events")]
    Events,
    /// Manage webhook endpoints.
    #[serde(rename = "webhooks")]
    Webhooks,
}

impl Scope {
    pub const ALL: [Scope; 4] = [
        Scope::Scim,
        Scope::AuditRead,
        Scope::Events,
        Scope::Webhooks,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Scope::Scim => "scim",
            Scope::AuditRead => "audit:read",
            Scope::Events => "events",
            Scope::Webhooks => "webhooks",
        }
    }

    pub fn from_name(name: &str) -> Option<Scope> {
        Scope::ALL.into_iter().find(|s| s.name() == name)
    }
}

/// A realm API token: shown once when created, kept only as a hash.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Token {
    pub id: TokenId,
    /// Unique among the realm's live tokens (`cohort token revoke NAME`).
    pub name: String,
    pub scopes: Vec<Scope>,
    pub hash: KeyHash,
    pub created_at: Millis,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revoked_at: Option<Millis>,
}

impl Token {
    pub fn has_scope(&self, scope: Scope) -> bool {
        self.revoked_at.is_none() && self.scopes.contains(&scope)
    }
}

/// Where a realm's changes are sent as signed HTTP requests (Standard
/// Webhooks). Unlike API keys, the signing secrets must be kept as they are:
/// the sender needs them to sign.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Webhook {
    pub id: WebhookId,
    pub url: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
    /// Event types sent: names (`group.member_added`) or a family
    /// (`group.*`); empty sends every type.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub types: Vec<String>,
    /// Newest first. Each signs until it expires, so during a rotation a
    /// request carries one signature per secret.
    pub secrets: Vec<WebhookSecret>,
    pub created_at: Millis,
    /// Set while nothing is sent (an administrator's choice, or a receiver
    /// that answered 410 Gone); deliveries wait until it is enabled again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disabled: Option<Disabled>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub removed_at: Option<Millis>,
}

impl Webhook {
    /// The secrets that sign a request made at `now`, newest first.
    pub fn signing_secrets(&self, now: Millis) -> impl Iterator<Item = &Secret> {
        self.secrets
            .iter()
            .filter(move |s| s.expires_at.is_none_or(|t| t > now))
            .map(|s| &s.secret)
    }

    /// Whether the endpoint receives events of this type (`EventKind::as_str`).
    pub fn wants(&self, kind: &str) -> bool {
        self.types.is_empty() || self.types.iter().any(|t| type_matches(t, kind))
    }
}

/// `group.*` matches `group.member_added`; a name matches itself.
pub fn type_matches(pattern: &str, kind: &str) -> bool {
    match pattern.strip_suffix('*') {
        Some(prefix) => kind.starts_with(prefix),
        None => pattern == kind,
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Disabled {
    pub at: Millis,
    pub reason: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebhookSecret {
    pub secret: Secret,
    pub created_at: Millis,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<Millis>,
}

/// A signing secret as shown to its owner (`whsec_` and base64). `Debug`
/// never shows it.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Secret(pub String);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(…)")
    }
}

/// A user of one realm.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct User {
    pub id: UserId,
    /// IMKIT's client `_id`; shares one namespace with group keys.
    pub key: Arc<str>,
    /// Login email (Zulip's `delivery_email`); IMKIT clients may have none.
    pub email: Option<Arc<str>>,
    pub full_name: String,
    pub avatar_url: Option<String>,
    pub role: Role,
    pub is_bot: bool,
    pub bot_owner: Option<UserId>,
    pub active: bool,
    /// Zulip's special permission to use `POST /users` (administrators only).
    pub can_create_users: bool,
    pub api_key: KeyHash,
    pub date_joined: Millis,
    pub updated_at: Millis,
    /// What identity providers know about the user (SCIM); empty until one
    /// provisions it.
    #[serde(default, skip_serializing_if = "Profile::is_empty")]
    pub profile: Profile,
}

/// A user's identity-provider attributes (SCIM `userName`, `externalId`,
/// `displayName`, `name`, `emails`) as the provider sent them, and whether
/// it deleted the user. The directory's own fields follow them: the full name
/// is made from the display name (or the name parts), the email is the
/// primary email's value.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Profile {
    /// Login name, unique per realm under the email case rule
    /// (`values::UserName`). Unset, SCIM shows the email, then the key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_name: Option<Arc<str>>,
    /// The provider's display name, verbatim (the full name is a version of it
    /// that meets Zulip's rules); kept equal to the full name when the user is
    /// renamed through another face.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    /// Emails as sent; the primary one (or the first) is the user's email.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub emails: Vec<ProfileEmail>,
    /// The provider's own id for the user; stored as given, case-exact.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub given_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub family_name: Option<String>,
    /// Deleted through SCIM: deactivated, and gone from SCIM (404) until an
    /// administrator reactivates the user.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub deleted: bool,
}

impl Profile {
    pub fn is_empty(&self) -> bool {
        *self == Profile::default()
    }

    /// The email that becomes the user's: the primary one, else the first.
    pub fn primary_email(&self) -> Option<&ProfileEmail> {
        self.emails
            .iter()
            .find(|e| e.primary == Some(true))
            .or(self.emails.first())
    }
}

/// One of a provisioned user's emails (SCIM `emails[]`), as sent.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProfileEmail {
    pub value: String,
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub primary: Option<bool>,
}

/// A named group of one realm: its record, settings and direct edges.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Group {
    pub id: GroupId,
    /// IMKIT's group `_id`; shares one namespace with user keys.
    pub key: Arc<str>,
    pub name: Arc<str>,
    pub description: String,
    pub avatar_url: Option<String>,
    pub system: Option<SystemGroup>,
    pub deactivated: bool,
    pub creator: Option<UserId>,
    pub created_at: Millis,
    pub updated_at: Millis,
    /// Indexed by `GroupSetting::index`.
    pub settings: [SettingValue; 6],
    /// Direct member users, sorted, no duplicates. Deactivated users stay listed
    /// (their membership comes back on reactivation); views hide them.
    pub members: Vec<UserId>,
    /// Direct subgroups, sorted, no duplicates.
    pub subgroups: Vec<GroupId>,
    /// The identity provider's own id for the group (SCIM `externalId`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_id: Option<String>,
}

impl Group {
    pub fn setting(&self, setting: GroupSetting) -> &SettingValue {
        &self.settings[setting.index()]
    }

    pub fn is_system(&self) -> bool {
        self.system.is_some()
    }

    pub fn has_member(&self, user: UserId) -> bool {
        self.members.binary_search(&user).is_ok()
    }

    pub fn has_subgroup(&self, group: GroupId) -> bool {
        self.subgroups.binary_search(&group).is_ok()
    }
}

/// Keys (IMKIT `_id`s) name either a user or a group.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Principal {
    User(UserId),
    Group(GroupId),
}

impl User {
    /// The name identity providers see (SCIM `userName`): the login name one
    /// set, or else the email, or else the key.
    pub fn login_name(&self) -> &str {
        self.profile
            .user_name
            .as_deref()
            .or(self.email.as_deref())
            .unwrap_or(&self.key)
    }

    /// Given and family name as identity providers see a user none of them
    /// named: the provider's, else the full name split at its first space.
    pub fn name_parts(&self) -> (Option<String>, Option<String>) {
        let p = &self.profile;
        if p.user_name.is_some() || p.given_name.is_some() || p.family_name.is_some() {
            return (p.given_name.clone(), p.family_name.clone());
        }
        let name = self.full_name.trim();
        match name.split_once(char::is_whitespace) {
            Some((given, family)) => (
                Some(given.to_string()),
                Some(family.trim().to_string()).filter(|f| !f.is_empty()),
            ),
            None => (Some(name.to_string()).filter(|n| !n.is_empty()), None),
        }
    }

    /// A version of the record's own attributes (SCIM `meta.version`): equal
    /// exactly when they are, on every node and across restarts, because it is
    /// computed from them (group memberships are versioned on the groups).
    pub fn version_tag(&self) -> String {
        let mut h = Fnv::new();
        h.int(self.id.0);
        h.int(self.updated_at);
        h.text(&self.key);
        h.opt(self.email.as_deref());
        h.text(&self.full_name);
        h.opt(self.avatar_url.as_deref());
        h.int(i64::from(self.role.code()));
        h.int(
            i64::from(self.active)
                | i64::from(self.is_bot) << 1
                | i64::from(self.can_create_users) << 2,
        );
        h.int(self.bot_owner.map_or(-1, |owner| owner.0));
        h.int(self.date_joined);
        h.opt(self.profile.user_name.as_deref());
        h.opt(self.profile.external_id.as_deref());
        h.opt(self.profile.given_name.as_deref());
        h.opt(self.profile.family_name.as_deref());
        h.opt(self.profile.display_name.as_deref());
        for email in &self.profile.emails {
            h.text(&email.value);
            h.opt(email.kind.as_deref());
            h.int(email.primary.map_or(-1, i64::from));
        }
        h.int(i64::from(self.profile.deleted));
        h.finish()
    }
}

impl Group {
    /// Like `User::version_tag`: the record, its settings and its edges.
    pub fn version_tag(&self) -> String {
        let mut h = Fnv::new();
        h.int(self.id.0);
        h.int(self.updated_at);
        h.text(&self.key);
        h.text(&self.name);
        h.text(&self.description);
        h.opt(self.avatar_url.as_deref());
        h.opt(self.external_id.as_deref());
        h.int(i64::from(self.deactivated));
        for value in &self.settings {
            match value {
                SettingValue::Group(id) => h.int(id.0),
                SettingValue::Anonymous { members, subgroups } => {
                    h.int(-1 - members.len() as i64);
                    for user in members {
                        h.int(user.0);
                    }
                    h.int(subgroups.len() as i64);
                    for group in subgroups {
                        h.int(group.0);
                    }
                }
            }
        }
        h.int(self.members.len() as i64);
        for user in &self.members {
            h.int(user.0);
        }
        h.int(self.subgroups.len() as i64);
        for group in &self.subgroups {
            h.int(group.0);
        }
        h.finish()
    }
}

/// 64-bit FNV-1a: a fixed, portable hash (std's `DefaultHasher` may differ
/// between Rust releases, and nodes of one database must agree on versions).
struct Fnv(u64);

impl Fnv {
    fn new() -> Fnv {
        Fnv(0xcbf2_9ce4_8422_2325)
    }

    fn bytes(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 ^= u64::from(*b);
            self.0 = self.0.wrapping_mul(0x0100_0000_01b3);
        }
    }

    fn int(&mut self, n: i64) {
        self.bytes(&n.to_le_bytes());
    }

    fn text(&mut self, text: &str) {
        self.int(text.len() as i64);
        self.bytes(text.as_bytes());
    }

    fn opt(&mut self, text: Option<&str>) {
        match text {
            Some(t) => self.text(t),
            None => self.int(-1),
        }
    }

    fn finish(&self) -> String {
        format!("{:016x}", self.0)
    }
}
