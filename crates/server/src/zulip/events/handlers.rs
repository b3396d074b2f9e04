//! `POST /register`, `GET /events`, `DELETE /events`, in Zulip's dialect.

use super::queue::{with_id, Wants, PER_USER};
use super::translate::Kind;
use crate::zulip::auth::ZulipUser;
use crate::zulip::envelope::{success, success_bytes};
use crate::zulip::error::ZulipError;
use crate::zulip::params::Params;
use crate::zulip::views::{group_view, setting_json, user_json};
use crate::zulip::{ZulipResult, FEATURE_LEVEL, ZULIP_VERSION};
use crate::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use cohort_core::permission::Gate;
use cohort_core::{RealmSetting, Snapshot};
use serde_json::{json, Map, Value};
use std::time::Duration;

/// What clients should use as the HTTP timeout of `GET /events` (Zulip's
/// `EVENT_QUEUE_LONGPOLL_TIMEOUT_SECONDS`): above the longest heartbeat wait.
const LONGPOLL_TIMEOUT_SECS: u64 = 90;

/// A long poll that gets nothing sends a heartbeat after 45–55 s (Zulip's
/// `HEARTBEAT_MIN_FREQ_SECS` plus up to 10).
fn heartbeat_wait() -> Duration {
    let jitter = u64::from(uuid::Uuid::new_v4().as_bytes()[0]) % 11;
    Duration::from_secs(45 + jitter)
}

fn bad_queue(id: &str) -> ZulipError {
    ZulipError::new(
        StatusCode::BAD_REQUEST,
        "BAD_EVENT_QUEUE_ID",
        format!("Bad event queue ID: {id}"),
    )
    .with("queue_id", json!(id))
}

/// A JSON list of event type names; unknown names are kept out, as Zulip
/// ignores types it does not serve.
fn type_list(params: &Params, name: &str) -> Result<Option<Vec<String>>, ZulipError> {
    let Some(value) = params.json(name)? else {
        return Ok(None);
    };
    match value {
        Value::Null => Ok(None),
        Value::Array(items) => items
            .into_iter()
            .enumerate()
            .map(|(i, item)| match item {
                Value::String(s) => Ok(s),
                _ => Err(ZulipError::bad_request(format!(
                    "{name}[{i}] is not a string"
                ))),
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Some),
        _ => Err(ZulipError::bad_request(format!("{name} is not a list"))),
    }
}

/// What `POST /register` reads from its parameters.
pub(crate) struct Registration {
    pub wants: Wants,
    /// The initial state to send (`fetch_event_types`, else `event_types`;
    /// `None`: all of it).
    pub fetch_types: Option<Vec<String>>,
    pub client_gravatar: bool,
}

impl Registration {
    pub(crate) fn parse(params: &Params) -> Result<Registration, ZulipError> {
        let event_types = type_list(params, "event_types")?;
        let fetch_types = type_list(params, "fetch_event_types")?.or_else(|| event_types.clone());
        let capabilities = match params.json("client_capabilities")? {
            None | Some(Value::Null) => Map::new(),
            Some(Value::Object(map)) => map,
            Some(_) => return Err(ZulipError::bad_request("client_capabilities is not a dict")),
        };
        let capability = |name: &str| -> Result<bool, ZulipError> {
            match capabilities.get(name) {
                None => Ok(false),
                Some(Value::Bool(b)) => Ok(*b),
                Some(_) => Err(ZulipError::bad_request(format!(
                    "client_capabilities[\"{name}\"] is not a boolean"
                ))),
            }
        };
        let include_deactivated_groups = capability("include_deactivated_groups")?;
        let client_gravatar = params.bool("client_gravatar")?.unwrap_or(false);
        // Accepted as Zulip accepts them; they shape messages and streams,
        // which cohort does not serve.
        for name in [
            "apply_markdown",
            "slim_presence",
            "include_subscribers",
            "all_public_streams",
        ] {
            params.bool(name)?;
        }
        params.json("narrow")?;
        let wants = Wants {
            kinds: event_types
                .as_ref()
                .map(|names| names.iter().filter_map(|n| Kind::parse(n)).collect()),
            include_deactivated_groups,
        };
        Ok(Registration {
            wants,
            fetch_types,
            client_gravatar,
        })
    }
}

/// What `GET /events` reads from its parameters.
pub(crate) struct Poll {
    pub queue_id: String,
    /// The last event the client has seen (-1: none).
    pub acknowledged: i64,
    pub dont_block: bool,
}

impl Poll {
    pub(crate) fn parse(params: &Params) -> Result<Poll, ZulipError> {
        Ok(Poll {
            queue_id: params.required_string("queue_id")?,
            acknowledged: params.int("last_event_id")?.unwrap_or(-1),
            dont_block: params.bool("dont_block")?.unwrap_or(false),
        })
    }
}

/// `POST /register`.
pub async fn register(
    State(state): State<AppState>,
    caller: ZulipUser,
    params: Params,
) -> ZulipResult {
    let Registration {
        wants,
        fetch_types,
        client_gravatar,
    } = Registration::parse(&params)?;
    let include_deactivated_groups = wants.include_deactivated_groups;
    let fetch = |name: &str| {
        fetch_types
            .as_ref()
            .is_none_or(|t| t.iter().any(|n| n == name))
    };
    let may_read_groups = caller.gate(Gate::GroupEndpoint).is_ok();
    let realm = caller.snapshot.realm_id();
    let registered = state.zulip_queues.register(
        &state.engine,
        realm,
        caller.user.id,
        wants,
        |snap: &Snapshot| {
            let mut initial = Map::new();
            if fetch("realm_user_groups") && may_read_groups {
                let groups: Vec<Value> = snap
                    .groups()
                    .filter(|g| include_deactivated_groups || !g.deactivated)
                    .map(|g| serde_json::to_value(group_view(snap, g)).unwrap_or(Value::Null))
                    .collect();
                initial.insert("realm_user_groups".into(), json!(groups));
            }
            if fetch("realm_user") {
                let (active, inactive): (Vec<_>, Vec<_>) = snap.users().partition(|u| u.active);
                let render = |users: Vec<&std::sync::Arc<cohort_core::User>>| -> Vec<Value> {
                    users
                        .into_iter()
                        .map(|u| user_json(u, client_gravatar))
                        .collect()
                };
                initial.insert("realm_users".into(), json!(render(active)));
                initial.insert("realm_non_active_users".into(), json!(render(inactive)));
            }
            if fetch("realm") {
                let realm = snap.realm();
                initial.insert("realm_name".into(), json!(realm.name));
                for setting in RealmSetting::ALL {
                    initial.insert(
                        format!("realm_{}", setting.name()),
                        setting_json(snap, &realm.settings[setting.index()]),
                    );
                }
            }
            initial
        },
    );
    let Some((queue, initial)) = registered else {
        return Err(ZulipError::internal());
    };
    let mut body = json!({
        "queue_id": queue.id,
        "last_event_id": queue.last_id(),
        "zulip_feature_level": FEATURE_LEVEL,
        "zulip_version": ZULIP_VERSION,
        "zulip_merge_base": "",
        "event_queue_longpoll_timeout_seconds": LONGPOLL_TIMEOUT_SECS,
        "max_event_queues_per_user": PER_USER,
    });
    if let Value::Object(map) = &mut body {
        map.extend(initial);
    }
    Ok(success(&params, body))
}

/// `GET /events`.
pub async fn get_events(
    State(state): State<AppState>,
    caller: ZulipUser,
    params: Params,
) -> ZulipResult {
    let Poll {
        queue_id: id,
        acknowledged,
        dont_block,
    } = Poll::parse(&params)?;
    let queue = state
        .zulip_queues
        .get(&id, caller.snapshot.realm_id(), caller.user.id)
        .ok_or_else(|| bad_queue(&id))?;
    if acknowledged < -1 || acknowledged > queue.last_id() {
        return Err(ZulipError::bad_request(format!(
            "Invalid last_event_id {acknowledged}: this queue's events go from 0 to {}",
            queue.last_id()
        )));
    }
    let mut closing = state.closing.subscribe();
    // While the server stops, nobody waits.
    let stopping = *closing.borrow_and_update();
    let wait = (!dont_block && !stopping).then(heartbeat_wait);
    let events = tokio::select! {
        events = queue.poll(acknowledged, wait) => events,
        // Shutting down: answer now, with nothing, so the client comes back.
        _ = closing.changed() => Some(Vec::new()),
    };
    let Some(events) = events else {
        state.zulip_queues.remove(&id);
        return Err(bad_queue(&id));
    };
    // Written straight from the queue's shared renderings.
    let mut body = br#"{"result":"success","msg":"","events":["#.to_vec();
    for (i, (event_id, event)) in events.iter().enumerate() {
        if i > 0 {
            body.push(b',');
        }
        with_id(&mut body, *event_id, event);
    }
    body.extend_from_slice(b"],\"queue_id\":");
    body.extend_from_slice(json!(id).to_string().as_bytes());
    body.push(b'}');
    Ok(success_bytes(&params, body.into()))
}

/// `DELETE /events`.
pub async fn delete_queue(
    State(state): State<AppState>,
    caller: ZulipUser,
    params: Params,
) -> ZulipResult {
    let id = params.required_string("queue_id")?;
    state
        .zulip_queues
        .get(&id, caller.snapshot.realm_id(), caller.user.id)
        .ok_or_else(|| bad_queue(&id))?;
    state.zulip_queues.remove(&id);
    Ok(success(&params, json!({})))
}
