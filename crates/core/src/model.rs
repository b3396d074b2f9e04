//! The directory's records: realms, users, groups, and the permission settings
//! that point at groups. Plain data; the rules that change them live in `command`.

use crate::ids::{GroupId, KeyHash, Millis, RealmId, UserId};
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
    /// The IMKIT platform key (`IM-API-KEY`), hashed.
    pub platform_key: Option<KeyHash>,
}

impl Realm {
    pub fn setting(&self, setting: RealmSetting) -> &SettingValue {
        &self.settings[setting.index()]
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
