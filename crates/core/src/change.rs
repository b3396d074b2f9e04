//! Changes: the facts a successful command produces. They are what the store
//! appends to the change log and applies to its tables, and what `Snapshot::apply`
//! replays in memory: one vocabulary for persistence, catch-up and (later) events.

use crate::ids::{
    Actor, GroupId, KeyHash, Millis, Origin, RealmId, TokenId, UserId, Version, WebhookId,
};
use crate::model::{
    Disabled, Group, GroupSetting, GroupUpsert, Profile, RateLimit, Realm, RealmSetting, Role,
    SettingValue, Token, User, Webhook, WebhookSecret,
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
    WebhookCreated {
        webhook: Box<Webhook>,
    },
    WebhookUpdated {
        id: WebhookId,
        #[serde(flatten)]
        patch: WebhookPatch,
    },
    /// `secret` signs from now on; the older secrets still sign until
    /// `old_expire_at`.
    WebhookSecretRotated {
        id: WebhookId,
        secret: WebhookSecret,
        old_expire_at: Millis,
    },
    WebhookRemoved {
        id: WebhookId,
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
    /// `Some(None)` returns the realm to the server's default.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "present"
    )]
    pub rate_limit: Option<Option<RateLimit>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform_key: Option<KeyHash>,
    /// Set with every rotation of the platform key: the key it replaced and
    /// until when that one still works.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retired_platform_key: Option<crate::model::RetiredKey>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct UserPatch {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub full_name: Option<String>,
    /// `Some(None)` clears the avatar.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "present"
    )]
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
        if let Some(limit) = self.rate_limit {
            realm.rate_limit = limit;
        }
        if let Some(key) = self.platform_key {
            realm.platform_key = Some(key);
        }
        if let Some(old) = self.retired_platform_key {
            realm.retired_platform_key = Some(old);
        }
    }
}

/// The one place token and webhook changes are applied to a realm record
/// (snapshot, history and stores share it); `at` is the commit's time.
pub fn apply_realm_record_change(realm: &mut Realm, change: &Change, at: Millis) {
    fn webhook(realm: &mut Realm, id: WebhookId) -> Option<&mut Webhook> {
        realm.webhooks.iter_mut().find(|w| w.id == id)
    }
    match change {
        Change::TokenCreated { token } => realm.tokens.push(token.clone()),
        Change::TokenRevoked { id } => {
            if let Some(token) = realm.tokens.iter_mut().find(|t| t.id == *id) {
                token.revoked_at = Some(at);
            }
        }
        Change::WebhookCreated { webhook } => realm.webhooks.push((**webhook).clone()),
        Change::WebhookUpdated { id, patch } => {
            if let Some(w) = webhook(realm, *id) {
                patch.apply_to(w);
            }
        }
        Change::WebhookSecretRotated {
            id,
            secret,
            old_expire_at,
        } => {
            if let Some(w) = webhook(realm, *id) {
                // Secrets already expired sign nothing any more: drop them.
                w.secrets.retain(|s| s.expires_at.is_none_or(|t| t > at));
                for old in &mut w.secrets {
                    old.expires_at = Some(
                        old.expires_at
                            .map_or(*old_expire_at, |t| t.min(*old_expire_at)),
                    );
                }
                w.secrets.insert(0, secret.clone());
            }
        }
        Change::WebhookRemoved { id } => {
            if let Some(w) = webhook(realm, *id) {
                w.removed_at = Some(at);
            }
        }
        _ => {}
    }
}

/// For `Option<Option<T>>` patch fields: a field that is present is
/// `Some`, so `null` reads back as `Some(None)` (clear it), as it was
/// written; an absent field is `None` (through `default`). Plain serde
/// would read `null` as `None` and lose the clear on replay.
fn present<'de, D, T>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(deserializer).map(Some)
}

/// What a webhook update changes; unset fields stay.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebhookPatch {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub types: Option<Vec<String>>,
    /// `Some(None)` enables it again.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "present"
    )]
    pub disabled: Option<Option<Disabled>>,
}

impl WebhookPatch {
    pub fn apply_to(&self, webhook: &mut Webhook) {
        if let Some(url) = &self.url {
            webhook.url = url.clone();
        }
        if let Some(description) = &self.description {
            webhook.description = description.clone();
        }
        if let Some(types) = &self.types {
            webhook.types = types.clone();
        }
        if let Some(disabled) = &self.disabled {
            webhook.disabled = disabled.clone();
        }
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
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "present"
    )]
    pub avatar_url: Option<Option<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deactivated: Option<bool>,
    /// `Some(None)` clears it.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "present"
    )]
    pub external_id: Option<Option<String>>,
}

impl GroupPatch {
    pub fn is_empty(&self) -> bool {
        *self == GroupPatch::default()
    }
}
