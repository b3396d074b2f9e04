//! Changes: the facts a successful command produces. They are what the store
//! appends to the change log and applies to its tables, and what `Snapshot::apply`
//! replays in memory: one vocabulary for persistence, catch-up and (later) events.

use crate::ids::{Actor, GroupId, KeyHash, Millis, Origin, RealmId, TokenId, UserId, Version};
use crate::model::{
    Group, GroupSetting, GroupUpsert, Profile, Realm, RealmSetting, Role, SettingValue, Token, User,
};
use serde::{Deserialize, Serialize};

/// One committed write of one realm: the unit of the change log.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Commit {
    pub realm: RealmId,
    pub version: Version,
    pub at: Millis,
    pub actor: Actor,
    /// Face, request id and client address; logs written before these were
    /// recorded read back with the face the actor implies.
    #[serde(default)]
    pub origin: Origin,
    pub changes: Vec<Change>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Change {
    RealmCreated {
        realm: Box<Realm>,
    },
    RealmUpdated {
        #[serde(flatten)]
        patch: RealmPatch,
    },
    RealmSettingChanged {
        setting: RealmSetting,
        value: SettingValue,
    },
    TokenCreated {
        token: Token,
    },
    TokenRevoked {
        id: TokenId,
    },
    UserCreated {
        user: Box<User>,
    },
    UserUpdated {
        id: UserId,
        #[serde(flatten)]
        patch: UserPatch,
    },
    GroupCreated {
        group: Box<Group>,
    },
    GroupUpdated {
        id: GroupId,
        #[serde(flatten)]
        patch: GroupPatch,
    },
    GroupSettingChanged {
        id: GroupId,
        setting: GroupSetting,
        value: SettingValue,
    },
    /// IMKIT's delete: the group and the subgroup edges into it go. Commands
    /// only delete groups no setting refers to, so no setting is left dangling.
    GroupDeleted {
        id: GroupId,
    },
    MembersAdded {
        group: GroupId,
        users: Vec<UserId>,
    },
    MembersRemoved {
        group: GroupId,
        users: Vec<UserId>,
    },
    SubgroupsAdded {
        group: GroupId,
        subgroups: Vec<GroupId>,
    },
    SubgroupsRemoved {
        group: GroupId,
        subgroups: Vec<GroupId>,
    },
    /// `cohort log prune`: the log up to `up_to` was deleted, a checkpoint of
    /// the directory at `up_to` kept. Changes no record; logged so the prune
    /// is itself audited and every node's history learns of it.
    LogPruned {
        up_to: Version,
    },
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct RealmPatch {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub waiting_period_days: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bots_may_manage_groups: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group_upsert: Option<GroupUpsert>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform_key: Option<KeyHash>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct UserPatch {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub full_name: Option<String>,
    /// `Some(None)` clears the avatar.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub avatar_url: Option<Option<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<Role>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub active: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_key: Option<KeyHash>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub can_create_users: Option<bool>,
    /// Replaces the whole identity-provider profile.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile: Option<Profile>,
}

impl RealmPatch {
    /// The one place a realm patch is applied (snapshot and stores share it).
    pub fn apply_to(&self, realm: &mut Realm) {
        if let Some(name) = &self.name {
            realm.name = name.clone();
        }
        if let Some(days) = self.waiting_period_days {
            realm.waiting_period_days = days;
        }
        if let Some(allowed) = self.bots_may_manage_groups {
            realm.bots_may_manage_groups = allowed;
        }
        if let Some(mode) = self.group_upsert {
            realm.group_upsert = mode;
        }
        if let Some(key) = self.platform_key {
            realm.platform_key = Some(key);
        }
    }
}

/// The one place token changes are applied to a realm record (snapshot and
/// stores share it); `at` is the commit's time.
pub fn apply_token_change(realm: &mut Realm, change: &Change, at: Millis) {
    match change {
        Change::TokenCreated { token } => realm.tokens.push(token.clone()),
        Change::TokenRevoked { id } => {
            if let Some(token) = realm.tokens.iter_mut().find(|t| t.id == *id) {
                token.revoked_at = Some(at);
            }
        }
        _ => {}
    }
}

impl UserPatch {
    pub fn is_empty(&self) -> bool {
        *self == UserPatch::default()
    }
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct GroupPatch {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// `Some(None)` clears the avatar.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub avatar_url: Option<Option<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deactivated: Option<bool>,
    /// `Some(None)` clears it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_id: Option<Option<String>>,
}

impl GroupPatch {
    pub fn is_empty(&self) -> bool {
        *self == GroupPatch::default()
    }
}
