//! What the audit endpoints (and `cohort audit`, `cohort access-review`, …)
//! answer, as JSON: events, members and memberships as of a moment, access
//! reviews. Names are those the users and groups had at the version the
//! answer is about, read from the history.

use cohort_core::audit::{AuditEvent, Value};
use cohort_core::history::{GroupReview, History, Member, MemberOf, ReviewEntry};
use cohort_core::model::SettingValue;
use cohort_core::{Actor, GroupId, UserId, Version};
use cohort_engine::AuditRecord;
use serde::Serialize;
use std::collections::HashMap;
use utoipa::ToSchema;

use super::params::format_timestamp as rfc3339;

/// A user as they were at the moment the answer is about.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct UserRef {
    pub id: i64,
    pub full_name: String,
    pub email: Option<String>,
}

/// A group as it was at the moment the answer is about.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct GroupRef {
    pub id: i64,
    pub name: String,
}

/// Who acted, and through which face.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct ActorView {
    /// `user`, `token`, `platform` (IMKIT's platform key), `operator` (the
    /// command line) or `system` (cohort's own bookkeeping).
    pub kind: &'static str,
    pub id: Option<i64>,
    pub name: String,
    pub email: Option<String>,
    /// `zulip`, `imkit`, `scim`, `native`, `ui`, `cli` or `system`.
    pub face: &'static str,
}

#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct TokenRef {
    pub id: i64,
    pub name: String,
}

/// One event of the audit trail.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct EventView {
    /// Stable everywhere: `{realm}-{version}-{index}`.
    pub id: String,
    /// The realm's version the event's commit made.
    pub version: u64,
    /// RFC 3339, UTC.
    pub time: String,
    /// The dotted event type (`group.member_added`, …).
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub actor: ActorView,
    /// The request id the caller saw (`x-request-id`), when there was a request.
    pub request_id: Option<String>,
    /// The client's address, when there was a request.
    pub client: Option<String>,
    pub group: Option<GroupRef>,
    pub users: Vec<UserRef>,
    pub subgroups: Vec<GroupRef>,
    pub token: Option<TokenRef>,
    /// The attribute or setting changed.
    pub field: Option<&'static str>,
    /// The value before the change (renames, descriptions, roles, settings).
    #[schema(value_type = Option<Object>)]
    pub before: Option<serde_json::Value>,
    #[schema(value_type = Option<Object>)]
    pub after: Option<serde_json::Value>,
}

pub fn event_id(realm: cohort_core::RealmId, event: &AuditEvent) -> String {
    format!("{}-{}-{}", realm.0, event.id.version, event.id.index)
}

pub fn user_ref(history: &History, id: UserId, v: Version) -> UserRef {
    match history.user_at(id, v) {
        Some(u) => UserRef {
            id: id.0,
            full_name: u.full_name.to_string(),
            email: u.email.as_deref().map(str::to_string),
        },
        None => UserRef {
            id: id.0,
            full_name: String::new(),
            email: None,
        },
    }
}

pub fn group_ref(history: &History, id: GroupId, v: Version) -> GroupRef {
    GroupRef {
        id: id.0,
        name: history
            .group_at(id, v)
            .map(|g| g.name.to_string())
            .unwrap_or_default(),
    }
}

pub fn actor_view(
    history: &History,
    actor: Actor,
    face: cohort_core::Face,
    v: Version,
) -> ActorView {
    let (kind, id, name, email) = match actor {
        Actor::User(id) => {
            let user = user_ref(history, id, v);
            ("user", Some(id.0), user.full_name, user.email)
        }
        Actor::Token(id) => {
            let name = history
                .realm_at(v)
                .and_then(|r| r.token(id).map(|t| t.name.clone()))
                .unwrap_or_default();
            ("token", Some(id.0), name, None)
        }
        Actor::Platform => ("platform", None, "IMKIT platform key".into(), None),
        Actor::Operator => ("operator", None, "operator (command line)".into(), None),
        Actor::System => ("system", None, "cohort".into(), None),
    };
    ActorView {
        kind,
        id,
        name,
        email,
        face: face.as_str(),
    }
}

fn value(history: &History, v: Version, value: &Value) -> serde_json::Value {
    use serde_json::json;
    match value {
        Value::Text(t) => json!(&**t),
        Value::Number(n) => json!(n),
        Value::Bool(b) => json!(b),
        Value::Role(r) => json!(r.name()),
        Value::Null => serde_json::Value::Null,
        Value::Setting(SettingValue::Group(g)) => json!({"group": group_ref(history, *g, v)}),
        Value::Setting(SettingValue::Anonymous { members, subgroups }) => json!({
            "members": members.iter().map(|u| user_ref(history, *u, v)).collect::<Vec<_>>(),
            "subgroups": subgroups.iter().map(|g| group_ref(history, *g, v)).collect::<Vec<_>>(),
        }),
    }
}

pub fn event_view(history: &History, record: &AuditRecord) -> EventView {
    let e = &record.event;
    let v = e.id.version;
    // A deleted group is named as it was just before.
    let named_at = |g: GroupId| {
        if history.group(g).is_some_and(|t| t.deleted == Some(v)) {
            v - 1
        } else {
            v
        }
    };
    EventView {
        id: event_id(history.realm_id(), e),
        version: v,
        time: rfc3339(e.at),
        kind: e.kind.as_str(),
        actor: actor_view(history, e.actor, e.face, v),
        request_id: record.request_id.clone(),
        client: record.client.clone(),
        group: e.group.map(|g| group_ref(history, g, named_at(g))),
        users: e.users.iter().map(|u| user_ref(history, *u, v)).collect(),
        subgroups: e
            .subgroups
            .iter()
            .map(|g| group_ref(history, *g, named_at(*g)))
            .collect(),
        token: e.token.map(|t| TokenRef {
            id: t.0,
            name: history
                .realm_at(v)
                .and_then(|r| r.token(t).map(|t| t.name.clone()))
                .unwrap_or_default(),
        }),
        field: e.field,
        before: e
            .before
            .as_ref()
            .map(|x| value(history, v.saturating_sub(1), x)),
        after: e.after.as_ref().map(|x| value(history, v, x)),
    }
}

/// A member of a group as of a moment.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct MemberView {
    pub id: i64,
    pub full_name: String,
    pub email: Option<String>,
    pub role: &'static str,
    /// Whether the membership is direct (`via` empty).
    pub direct: bool,
    /// The chain of subgroups, from just below the group down to the one
    /// the user is a direct member of.
    pub via: Vec<GroupRef>,
}

pub fn member_view(history: &History, m: &Member, v: Version) -> MemberView {
    let user = history.user_at(m.user, v);
    MemberView {
        id: m.user.0,
        full_name: user
            .as_ref()
            .map(|u| u.full_name.to_string())
            .unwrap_or_default(),
        email: user
            .as_ref()
            .and_then(|u| u.email.as_deref().map(str::to_string)),
        role: user.as_ref().map(|u| u.role.name()).unwrap_or_default(),
        direct: m.via.is_empty(),
        via: m.via.iter().map(|g| group_ref(history, *g, v)).collect(),
    }
}

/// A group a user was in as of a moment.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct MembershipView {
    pub group: GroupRef,
    pub system: bool,
    pub deactivated: bool,
    pub direct: bool,
    /// The chain of subgroups from just below `group` down to the group the
    /// user is a direct member of.
    pub via: Vec<GroupRef>,
}

pub fn membership_view(history: &History, m: &MemberOf, v: Version) -> MembershipView {
    let group = history.group_at(m.group, v);
    MembershipView {
        group: group_ref(history, m.group, v),
        system: group.as_ref().is_some_and(|g| g.system.is_some()),
        deactivated: group.as_ref().is_some_and(|g| g.deactivated),
        direct: m.via.is_empty(),
        via: m.via.iter().map(|g| group_ref(history, *g, v)).collect(),
    }
}

/// A change responsible for a gain or loss of access.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct CauseView {
    pub version: u64,
    pub time: String,
    pub actor: ActorView,
    /// The commit's events that made or broke the path.
    pub events: Vec<EventView>,
}

#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct ReviewEntryView {
    pub user: UserRef,
    /// The path that grants (for a gain) or granted (for a loss) the access.
    pub via: Vec<GroupRef>,
    pub because: Vec<CauseView>,
}

#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct GroupReviewView {
    pub group: GroupRef,
    pub gained: Vec<ReviewEntryView>,
    pub lost: Vec<ReviewEntryView>,
}

/// Render a review; `causes` holds the audit records of the responsible
/// commits, by version.
pub fn review_view(
    history: &History,
    review: &GroupReview,
    from: Version,
    to: Version,
    causes: &HashMap<Version, Vec<AuditRecord>>,
) -> GroupReviewView {
    let entry = |e: &ReviewEntry, at: Version| {
        let path: Vec<GroupId> = std::iter::once(review.group)
            .chain(e.via.iter().copied())
            .collect();
        ReviewEntryView {
            user: user_ref(history, e.user, at),
            via: e.via.iter().map(|g| group_ref(history, *g, at)).collect(),
            because: e
                .because
                .iter()
                .map(|v| {
                    let meta = history.commit(*v);
                    let events = causes
                        .get(v)
                        .map(|records| {
                            records
                                .iter()
                                .filter(|r| {
                                    r.event.names_user(e.user)
                                        || path.iter().any(|g| r.event.names_group(*g))
                                })
                                .map(|r| event_view(history, r))
                                .collect()
                        })
                        .unwrap_or_default();
                    CauseView {
                        version: *v,
                        time: meta.map(|c| rfc3339(c.at)).unwrap_or_default(),
                        actor: meta
                            .map(|c| actor_view(history, c.actor, c.face, *v))
                            .unwrap_or_else(|| {
                                actor_view(history, Actor::System, cohort_core::Face::System, *v)
                            }),
                        events,
                    }
                })
                .collect(),
        }
    };
    GroupReviewView {
        group: group_ref(history, review.group, to.max(from)),
        gained: review.gained.iter().map(|e| entry(e, to)).collect(),
        lost: review.lost.iter().map(|e| entry(e, from)).collect(),
    }
}
