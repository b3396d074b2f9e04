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
use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use utoipa::ToSchema;

use super::params::format_timestamp as rfc3339;

/// A user as they were at the moment the answer is about.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct UserRef {
    pub id: i64,
    #[schema(value_type = String)]
    pub full_name: Arc<str>,
    #[schema(value_type = Option<String>)]
    pub email: Option<Arc<str>>,
}

/// A group as it was at the moment the answer is about.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct GroupRef {
    pub id: i64,
    #[schema(value_type = String)]
    pub name: Arc<str>,
}

/// Who acted, and through which face.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct ActorView {
    /// `user`, `token`, `platform` (IMKIT's platform key), `operator` (the
    /// command line) or `system` (cohort's own bookkeeping).
    pub kind: &'static str,
    pub id: Option<i64>,
    #[schema(value_type = String)]
    pub name: Arc<str>,
    #[schema(value_type = Option<String>)]
    pub email: Option<Arc<str>>,
    /// `zulip`, `imkit`, `scim`, `native`, `ui`, `cli` or `system`.
    pub face: &'static str,
}

#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct TokenRef {
    pub id: i64,
    #[schema(value_type = String)]
    pub name: Arc<str>,
}

/// A webhook endpoint an event is about, with its URL as of the event.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct WebhookRef {
    pub id: i64,
    pub url: String,
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
    pub webhook: Option<WebhookRef>,
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
            full_name: u.full_name,
            email: u.email,
        },
        None => UserRef {
            id: id.0,
            full_name: "".into(),
            email: None,
        },
    }
}

pub fn group_ref(history: &History, id: GroupId, v: Version) -> GroupRef {
    GroupRef {
        id: id.0,
        name: history
            .group_at(id, v)
            .map_or_else(|| "".into(), |g| g.name),
    }
}

fn token_name(history: &History, id: cohort_core::TokenId, v: Version) -> Arc<str> {
    history
        .realm_at(v)
        .and_then(|r| r.token(id))
        .map_or_else(|| "".into(), |t| t.name.as_str().into())
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
        Actor::Token(id) => ("token", Some(id.0), token_name(history, id, v), None),
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
            name: token_name(history, t, v),
        }),
        webhook: e.webhook.map(|w| WebhookRef {
            id: w.0,
            url: history
                .realm_at(v)
                .and_then(|r| r.webhooks.iter().find(|x| x.id == w))
                .map_or_else(String::new, |x| x.url.clone()),
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
    #[schema(value_type = String)]
    pub full_name: Arc<str>,
    #[schema(value_type = Option<String>)]
    pub email: Option<Arc<str>>,
    pub role: &'static str,
    /// Whether the membership is direct (`via` empty).
    pub direct: bool,
    /// The chain of subgroups, from just below the group down to the one
    /// the user is a direct member of.
    #[schema(value_type = Vec<GroupRef>)]
    pub via: Arc<[GroupRef]>,
}

/// Members as of `v`. Every member found through the same subgroup has the
/// same chain, so each chain is named once and shared.
pub fn member_views(history: &History, members: &[Member], v: Version) -> Vec<MemberView> {
    let mut chains: HashMap<Option<GroupId>, Arc<[GroupRef]>> = HashMap::new();
    members
        .iter()
        .map(|m| {
            let via = chains
                .entry(m.via.last().copied())
                .or_insert_with(|| m.via.iter().map(|g| group_ref(history, *g, v)).collect())
                .clone();
            let user = history.user_at(m.user, v);
            MemberView {
                id: m.user.0,
                role: user.as_ref().map(|u| u.role.name()).unwrap_or_default(),
                full_name: user
                    .as_ref()
                    .map_or_else(|| "".into(), |u| u.full_name.clone()),
                email: user.and_then(|u| u.email),
                direct: m.via.is_empty(),
                via,
            }
        })
        .collect()
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

/// An event's id (`{realm}-{version}-{index}`), written without building
/// the string.
#[derive(Clone, Copy, Debug)]
pub struct EventRef {
    realm: i64,
    version: Version,
    index: u32,
}

impl std::fmt::Display for EventRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}-{}-{}", self.realm, self.version, self.index)
    }
}

impl Serialize for EventRef {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// A gain or loss of effective membership.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct ReviewEntryView {
    /// The user's id; the page's `users` names them.
    pub user: i64,
    /// The chain of subgroups that grants (for a gain) or granted (for a
    /// loss) the access, by id, from just below the group; the page's
    /// `subgroups` names them.
    #[schema(value_type = Vec<i64>)]
    pub via: Vec<GroupId>,
    /// The events responsible, by id, oldest first; each is in the page's
    /// `events`.
    #[schema(value_type = Vec<String>)]
    pub because: Vec<EventRef>,
}

#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct GroupReviewView {
    pub group: GroupRef,
    pub gained: Vec<ReviewEntryView>,
    pub lost: Vec<ReviewEntryView>,
}

/// What a page of reviews refers to: each responsible event, each user and
/// each subgroup on a path is rendered once, however many entries name it.
#[derive(Default)]
pub struct ReviewRefs {
    events: BTreeSet<(Version, u32)>,
    users: BTreeSet<UserId>,
    subgroups: BTreeSet<GroupId>,
}

/// The page-wide lists a review's entries refer to.
pub struct ReviewNames {
    pub events: Vec<EventView>,
    pub users: Vec<UserRef>,
    pub subgroups: Vec<GroupRef>,
}

impl ReviewRefs {
    /// The events, oldest first; users and subgroups by id, as they were at
    /// `to` (at `from` for a group deleted in between).
    pub fn render(
        self,
        history: &History,
        causes: &HashMap<Version, Vec<AuditRecord>>,
        (from, to): (Version, Version),
    ) -> ReviewNames {
        let events = self
            .events
            .iter()
            .filter_map(|(v, i)| causes.get(v)?.get(*i as usize))
            .map(|r| event_view(history, r))
            .collect();
        let users = self
            .users
            .iter()
            .map(|u| user_ref(history, *u, to))
            .collect();
        let subgroups = self
            .subgroups
            .iter()
            .map(|g| {
                let at = if history.group_at(*g, to).is_some() {
                    to
                } else {
                    from
                };
                group_ref(history, *g, at)
            })
            .collect();
        ReviewNames {
            events,
            users,
            subgroups,
        }
    }
}

/// Render one group's review; `causes` holds the audit records of the
/// responsible commits, by version; what the entries refer to is noted in
/// `refs`.
pub fn review_view(
    history: &History,
    review: GroupReview,
    (from, to): (Version, Version),
    causes: &HashMap<Version, Vec<AuditRecord>>,
    refs: &mut ReviewRefs,
) -> GroupReviewView {
    let realm = history.realm_id().0;
    let group = review.group;
    let mut entry = |e: ReviewEntry| {
        let mut because = Vec::with_capacity(e.because.len());
        for v in &e.because {
            for r in causes.get(v).into_iter().flatten() {
                // A commit may do more than this path: only its events
                // naming the user or a group of the path.
                let on_path = r.event.names_user(e.user)
                    || r.event.names_group(group)
                    || e.via.iter().any(|g| r.event.names_group(*g));
                if on_path {
                    refs.events.insert((*v, r.event.id.index));
                    because.push(EventRef {
                        realm,
                        version: *v,
                        index: r.event.id.index,
                    });
                }
            }
        }
        refs.users.insert(e.user);
        refs.subgroups.extend(e.via.iter().copied());
        ReviewEntryView {
            user: e.user.0,
            via: e.via,
            because,
        }
    };
    GroupReviewView {
        group: group_ref(history, group, to.max(from)),
        gained: review.gained.into_iter().map(&mut entry).collect(),
        lost: review.lost.into_iter().map(&mut entry).collect(),
    }
}
