//! The audit trail's vocabulary: the events a commit holds, derived from its
//! changes and the history around it, with before and after values where
//! something was replaced. One event per changed thing, numbered within its
//! commit, so `(version, index)` identifies an event on every node and for
//! every consumer (the audit API, Zulip events, webhooks).
//!
//! Derivation is a pure function of the commit and the `History` that has
//! applied it, so the events need not be stored: they are derived again
//! from the stored commit whenever asked for.

use crate::change::{Change, Commit};
use crate::history::History;
use crate::ids::{Actor, Face, GroupId, Millis, TokenId, UserId, Version, WebhookId};
use crate::model::{RateLimit, Role, SettingValue};
use std::sync::Arc;

macro_rules! kinds {
    ($($kind:ident => $name:literal,)*) => {
        /// What happened, as a dotted name (`group.member_added`, …).
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum EventKind { $($kind,)* }

        impl EventKind {
            pub const ALL: &'static [EventKind] = &[$(EventKind::$kind,)*];

            pub fn as_str(self) -> &'static str {
                match self { $(EventKind::$kind => $name,)* }
            }
        }
    };
}

kinds! {
    RealmCreated => "realm.created",
    RealmUpdated => "realm.updated",
    RealmSettingChanged => "realm.setting_changed",
    TokenCreated => "token.created",
    TokenRevoked => "token.revoked",
    UserCreated => "user.created",
    UserRenamed => "user.renamed",
    UserEmailChanged => "user.email_changed",
    UserRoleChanged => "user.role_changed",
    UserDeactivated => "user.deactivated",
    UserReactivated => "user.reactivated",
    UserKeyRotated => "user.api_key_changed",
    UserUpdated => "user.updated",
    GroupCreated => "group.created",
    GroupRenamed => "group.renamed",
    GroupDescriptionChanged => "group.description_changed",
    GroupDeactivated => "group.deactivated",
    GroupReactivated => "group.reactivated",
    GroupUpdated => "group.updated",
    GroupSettingChanged => "group.setting_changed",
    GroupDeleted => "group.deleted",
    GroupMemberAdded => "group.member_added",
    GroupMemberRemoved => "group.member_removed",
    GroupSubgroupAdded => "group.subgroup_added",
    GroupSubgroupRemoved => "group.subgroup_removed",
    LogPruned => "log.pruned",
    WebhookCreated => "webhook.created",
    WebhookUpdated => "webhook.updated",
    WebhookSecretRotated => "webhook.secret_rotated",
    WebhookRemoved => "webhook.removed",
}

impl EventKind {
    pub fn parse(name: &str) -> Option<EventKind> {
        EventKind::ALL.iter().copied().find(|k| k.as_str() == name)
    }

    pub fn bit(self) -> u32 {
        1 << (self as u32)
    }

    /// A comma-separated list of type names as bits (`AuditQuery::kinds`);
    /// the error is the first name that is not a type.
    pub fn bits_of(list: &str) -> Result<u32, &str> {
        list.split(',').try_fold(0, |bits, name| {
            let name = name.trim();
            EventKind::parse(name).map(|k| bits | k.bit()).ok_or(name)
        })
    }
}

/// A value replaced by an event.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    Text(Arc<str>),
    Number(i64),
    Bool(bool),
    Role(Role),
    Setting(SettingValue),
    /// Cleared (an avatar removed, an email unset).
    Null,
}

/// An event's identity: the commit's version and the event's place in it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct EventId {
    pub version: Version,
    pub index: u32,
}

#[derive(Clone, Debug, PartialEq)]
pub struct AuditEvent {
    pub id: EventId,
    pub at: Millis,
    pub actor: Actor,
    pub face: Face,
    pub kind: EventKind,
    /// The group the event is about (the parent, for subgroup events).
    pub group: Option<GroupId>,
    /// Users the event is about (the user changed, the members added, …).
    pub users: Vec<UserId>,
    /// Subgroups added or removed.
    pub subgroups: Vec<GroupId>,
    pub token: Option<TokenId>,
    pub webhook: Option<WebhookId>,
    /// The attribute or setting changed (`name`, `can_manage_group`, …).
    pub field: Option<&'static str>,
    pub before: Option<Value>,
    pub after: Option<Value>,
}

impl AuditEvent {
    pub fn names_user(&self, user: UserId) -> bool {
        self.users.contains(&user)
    }

    pub fn names_group(&self, group: GroupId) -> bool {
        self.group == Some(group) || self.subgroups.contains(&group)
    }
}

fn text(s: &str) -> Value {
    Value::Text(Arc::from(s))
}

fn opt_text(s: Option<&str>) -> Value {
    s.map_or(Value::Null, text)
}

/// The events of `commit`, which `history` has applied.
pub fn describe(history: &History, commit: &Commit) -> Vec<AuditEvent> {
    let v = commit.version;
    let before = v - 1;
    let mut out: Vec<AuditEvent> = Vec::new();
    let mut push = |kind: EventKind, build: &dyn Fn(&mut AuditEvent)| {
        let mut event = AuditEvent {
            id: EventId {
                version: v,
                index: out.len() as u32,
            },
            at: commit.at,
            actor: commit.actor,
            face: commit.origin.face,
            kind,
            group: None,
            users: Vec::new(),
            subgroups: Vec::new(),
            token: None,
            webhook: None,
            field: None,
            before: None,
            after: None,
        };
        build(&mut event);
        out.push(event);
    };
    let realm_before = history.realm_at(before);
    for change in &commit.changes {
        match change {
            Change::RealmCreated { realm } => push(EventKind::RealmCreated, &|e| {
                e.after = Some(text(&realm.name));
            }),
            Change::RealmUpdated { patch } => {
                let old = realm_before;
                let limit = |l: Option<RateLimit>| l.map_or(Value::Null, |l| text(&l.to_string()));
                let fields: [(&'static str, Option<Value>, Option<Value>); 6] = [
                    (
                        "name",
                        patch.name.as_deref().map(text),
                        old.map(|r| text(&r.name)),
                    ),
                    (
                        "waiting_period_days",
                        patch.waiting_period_days.map(|d| Value::Number(d.into())),
                        old.map(|r| Value::Number(r.waiting_period_days.into())),
                    ),
                    (
                        "bots_may_manage_groups",
                        patch.bots_may_manage_groups.map(Value::Bool),
                        old.map(|r| Value::Bool(r.bots_may_manage_groups)),
                    ),
                    (
                        "group_upsert",
                        patch
                            .group_upsert
                            .map(|m| text(&format!("{m:?}").to_lowercase())),
                        old.map(|r| text(&format!("{:?}", r.group_upsert).to_lowercase())),
                    ),
                    (
                        "rate_limit",
                        patch.rate_limit.map(limit),
                        old.map(|r| limit(r.rate_limit)),
                    ),
                    // Secrets: that it changed, never a value.
                    (
                        "platform_key",
                        patch.platform_key.map(|_| Value::Null),
                        None,
                    ),
                ];
                for (field, after, was) in fields {
                    if let Some(after) = after {
                        push(EventKind::RealmUpdated, &|e| {
                            e.field = Some(field);
                            e.before = was.clone().filter(|_| field != "platform_key");
                            e.after = Some(after.clone()).filter(|_| field != "platform_key");
                        });
                    }
                }
            }
            Change::RealmSettingChanged { setting, value } => {
                push(EventKind::RealmSettingChanged, &|e| {
                    e.field = Some(setting.name());
                    e.before = realm_before.map(|r| Value::Setting(r.setting(*setting).clone()));
                    e.after = Some(Value::Setting(value.clone()));
                })
            }
            Change::TokenCreated { token } => push(EventKind::TokenCreated, &|e| {
                e.token = Some(token.id);
                let scopes: Vec<&str> = token.scopes.iter().map(|s| s.name()).collect();
                e.after = Some(text(&scopes.join(" ")));
            }),
            Change::TokenRevoked { id } => push(EventKind::TokenRevoked, &|e| {
                e.token = Some(*id);
            }),
            Change::WebhookCreated { webhook } => push(EventKind::WebhookCreated, &|e| {
                e.webhook = Some(webhook.id);
                e.after = Some(text(&webhook.url));
            }),
            Change::WebhookUpdated { id, patch } => {
                let old = realm_before.and_then(|r| r.webhook(*id));
                let types = |t: &[String]| text(&t.join(" "));
                let fields: [(&'static str, Option<Value>, Option<Value>); 4] = [
                    (
                        "url",
                        patch.url.as_deref().map(text),
                        old.map(|w| text(&w.url)),
                    ),
                    (
                        "description",
                        patch.description.as_deref().map(text),
                        old.map(|w| text(&w.description)),
                    ),
                    (
                        "types",
                        patch.types.as_deref().map(types),
                        old.map(|w| types(&w.types)),
                    ),
                    // The reason it is disabled; cleared when enabled again.
                    (
                        "disabled",
                        patch
                            .disabled
                            .as_ref()
                            .map(|d| opt_text(d.as_ref().map(|d| d.reason.as_str()))),
                        old.map(|w| opt_text(w.disabled.as_ref().map(|d| d.reason.as_str()))),
                    ),
                ];
                for (field, after, was) in fields {
                    if let Some(after) = after {
                        push(EventKind::WebhookUpdated, &|e| {
                            e.webhook = Some(*id);
                            e.field = Some(field);
                            e.before = was.clone();
                            e.after = Some(after.clone());
                        });
                    }
                }
            }
            // Secrets: that it changed, never a value.
            Change::WebhookSecretRotated { id, .. } => {
                push(EventKind::WebhookSecretRotated, &|e| e.webhook = Some(*id))
            }
            Change::WebhookRemoved { id } => {
                push(EventKind::WebhookRemoved, &|e| e.webhook = Some(*id))
            }
            Change::UserCreated { user } => push(EventKind::UserCreated, &|e| {
                e.users = vec![user.id];
                e.after = Some(Value::Role(user.role));
            }),
            Change::UserUpdated { id, patch } => {
                let old = history.user_at(*id, before);
                let user = |e: &mut AuditEvent| e.users = vec![*id];
                if let Some(name) = &patch.full_name {
                    push(EventKind::UserRenamed, &|e| {
                        user(e);
                        e.field = Some("full_name");
                        e.before = old.as_ref().map(|u| text(&u.full_name));
                        e.after = Some(text(name));
                    });
                }
                if let Some(email) = &patch.email {
                    push(EventKind::UserEmailChanged, &|e| {
                        user(e);
                        e.field = Some("email");
                        e.before = old.as_ref().map(|u| opt_text(u.email.as_deref()));
                        e.after = Some(text(email));
                    });
                }
                if let Some(role) = patch.role {
                    push(EventKind::UserRoleChanged, &|e| {
                        user(e);
                        e.field = Some("role");
                        e.before = old.as_ref().map(|u| Value::Role(u.role));
                        e.after = Some(Value::Role(role));
                    });
                }
                if let Some(active) = patch.active {
                    let kind = if active {
                        EventKind::UserReactivated
                    } else {
                        EventKind::UserDeactivated
                    };
                    push(kind, &|e| user(e));
                }
                if patch.api_key.is_some() {
                    push(EventKind::UserKeyRotated, &|e| user(e));
                }
                if let Some(avatar) = &patch.avatar_url {
                    push(EventKind::UserUpdated, &|e| {
                        user(e);
                        e.field = Some("avatar_url");
                        e.after = Some(opt_text(avatar.as_deref()));
                    });
                }
                if let Some(allowed) = patch.can_create_users {
                    push(EventKind::UserUpdated, &|e| {
                        user(e);
                        e.field = Some("can_create_users");
                        e.after = Some(Value::Bool(allowed));
                    });
                }
                if let Some(profile) = &patch.profile {
                    push(EventKind::UserUpdated, &|e| {
                        user(e);
                        e.field = Some("profile");
                        e.after = Some(opt_text(profile.user_name.as_deref()));
                    });
                }
            }
            Change::GroupCreated { group } => {
                push(EventKind::GroupCreated, &|e| {
                    e.group = Some(group.id);
                    e.after = Some(text(&group.name));
                });
                // Members given at creation are memberships like any other
                // (an audit that misses them misses who had access).
                if !group.members.is_empty() {
                    push(EventKind::GroupMemberAdded, &|e| {
                        e.group = Some(group.id);
                        e.users = group.members.clone();
                    });
                }
                if !group.subgroups.is_empty() {
                    push(EventKind::GroupSubgroupAdded, &|e| {
                        e.group = Some(group.id);
                        e.subgroups = group.subgroups.clone();
                    });
                }
            }
            Change::GroupUpdated { id, patch } => {
                let old = history.group_at(*id, before);
                let group = |e: &mut AuditEvent| e.group = Some(*id);
                if let Some(name) = &patch.name {
                    push(EventKind::GroupRenamed, &|e| {
                        group(e);
                        e.field = Some("name");
                        e.before = old.as_ref().map(|g| text(&g.name));
                        e.after = Some(text(name));
                    });
                }
                if let Some(description) = &patch.description {
                    push(EventKind::GroupDescriptionChanged, &|e| {
                        group(e);
                        e.field = Some("description");
                        e.before = old.as_ref().map(|g| text(&g.description));
                        e.after = Some(text(description));
                    });
                }
                if let Some(deactivated) = patch.deactivated {
                    let kind = if deactivated {
                        EventKind::GroupDeactivated
                    } else {
                        EventKind::GroupReactivated
                    };
                    push(kind, &|e| group(e));
                }
                if let Some(avatar) = &patch.avatar_url {
                    push(EventKind::GroupUpdated, &|e| {
                        group(e);
                        e.field = Some("avatar_url");
                        e.after = Some(opt_text(avatar.as_deref()));
                    });
                }
                if let Some(external) = &patch.external_id {
                    push(EventKind::GroupUpdated, &|e| {
                        group(e);
                        e.field = Some("external_id");
                        e.after = Some(opt_text(external.as_deref()));
                    });
                }
            }
            Change::GroupSettingChanged { id, setting, value } => {
                push(EventKind::GroupSettingChanged, &|e| {
                    e.group = Some(*id);
                    e.field = Some(setting.name());
                    e.before = history
                        .group_setting_at(*id, *setting, before)
                        .map(|s| Value::Setting(s.clone()));
                    e.after = Some(Value::Setting(value.clone()));
                })
            }
            Change::GroupDeleted { id } => push(EventKind::GroupDeleted, &|e| {
                e.group = Some(*id);
            }),
            Change::MembersAdded { group, users } => push(EventKind::GroupMemberAdded, &|e| {
                e.group = Some(*group);
                e.users = users.clone();
            }),
            Change::MembersRemoved { group, users } => push(EventKind::GroupMemberRemoved, &|e| {
                e.group = Some(*group);
                e.users = users.clone();
            }),
            Change::SubgroupsAdded { group, subgroups } => {
                push(EventKind::GroupSubgroupAdded, &|e| {
                    e.group = Some(*group);
                    e.subgroups = subgroups.clone();
                })
            }
            Change::SubgroupsRemoved { group, subgroups } => {
                push(EventKind::GroupSubgroupRemoved, &|e| {
                    e.group = Some(*group);
                    e.subgroups = subgroups.clone();
                })
            }
            Change::LogPruned { up_to } => push(EventKind::LogPruned, &|e| {
                e.field = Some("up_to");
                e.after = Some(Value::Number(*up_to as i64));
            }),
        }
    }
    out
}

/// Which events an audit query wants. Time bounds are versions (the face
/// turns moments into versions with `History::first_version_from` and
/// `version_at`).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct AuditQuery {
    /// First and last version (inclusive).
    pub from: Version,
    pub to: Version,
    pub actor: Option<Actor>,
    pub group: Option<GroupId>,
    pub user: Option<UserId>,
    /// Kinds as bits (`EventKind::bit`); 0 means every kind.
    pub kinds: u32,
    pub face: Option<Face>,
    pub newest_first: bool,
}

impl AuditQuery {
    pub fn matches(&self, event: &AuditEvent) -> bool {
        (self.kinds == 0 || self.kinds & event.kind.bit() != 0)
            && self.group.is_none_or(|g| event.names_group(g))
            && self.user.is_none_or(|u| event.names_user(u))
            && self.actor.is_none_or(|a| event.actor == a)
            && self.face.is_none_or(|f| event.face == f)
    }

    /// The versions that may hold matching events, in the query's order,
    /// starting after `after` (an event position already returned): a
    /// filter by user or group walks only that entity's versions, and
    /// commit-level facts (actor, face, kinds) are checked from the index.
    pub fn candidates<'h>(
        &'h self,
        history: &'h History,
        after: Option<EventId>,
    ) -> Box<dyn Iterator<Item = Version> + Send + 'h> {
        let first = history.retained_from().0;
        let (mut lo, mut hi) = (self.from.max(first), self.to.min(history.version()));
        // A page boundary inside a commit resumes in that same commit.
        if let Some(pos) = after {
            if self.newest_first {
                hi = hi.min(pos.version);
            } else {
                lo = lo.max(pos.version);
            }
        }
        if lo > hi {
            return Box::new(std::iter::empty());
        }
        let list: Option<&[Version]> = match (self.user, self.group) {
            (Some(u), _) => Some(history.versions_naming_user(u)),
            (None, Some(g)) => Some(history.versions_naming_group(g)),
            (None, None) => None,
        };
        let keep = move |v: &Version| {
            history.commit(*v).is_some_and(|c| {
                (self.kinds == 0 || c.kinds & self.kinds != 0)
                    && self.actor.is_none_or(|a| c.actor == a)
                    && self.face.is_none_or(|f| c.face == f)
                    && self.group.is_none_or(|g| {
                        self.user.is_none()
                            || history.versions_naming_group(g).binary_search(v).is_ok()
                    })
            })
        };
        match list {
            Some(list) => {
                let start = list.partition_point(|v| *v < lo);
                let end = list.partition_point(|v| *v <= hi);
                let slice = &list[start..end];
                if self.newest_first {
                    Box::new(slice.iter().rev().copied().filter(keep))
                } else {
                    Box::new(slice.iter().copied().filter(keep))
                }
            }
            None if self.newest_first => Box::new((lo..=hi).rev().filter(keep)),
            None => Box::new((lo..=hi).filter(keep)),
        }
    }
}
