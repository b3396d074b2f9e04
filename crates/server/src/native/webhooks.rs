//! `/cohort/v1/webhooks`: the realm's webhook endpoints, their delivery
//! logs, resending one delivery and recovering everything since a moment.
//! Changes are commands (the core decides who may and what is valid);
//! reading needs `permission::may_manage_webhooks`. Where an endpoint may
//! point is the sender's policy (`webhooks::guard`), applied here too so a
//! refused URL is refused when it is saved, not only when it is used.

use super::auth::{NativeCaller, WebhookManager};
use super::cursor::{Cursor, Direction, LogPosition};
use super::error::{ErrorBody, NativeError};
use super::params::format_timestamp as rfc3339;
use super::params::{next_url, parse_timestamp, with_next_link, Query};
use crate::webhooks::{guard, payload};
use crate::AppState;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use bytes::Bytes;
use cohort_core::audit::AuditQuery;
use cohort_core::command::{CreateWebhook, RotateWebhookSecret, UpdateWebhook};
use cohort_core::{Command, Webhook, WebhookId};
use cohort_engine::{now_millis, secrets};
use cohort_store::{Attempt, Delivery, DeliveryState};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Deliveries a recover may queue at once.
const MAX_RECOVER: usize = 100_000;

#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookView {
    pub id: i64,
    pub url: String,
    pub description: String,
    /// Event types (or families such as `group.*`) sent; empty: all.
    pub types: Vec<String>,
    pub enabled: bool,
    /// Why it is disabled (`the receiver answered 410 Gone`, …).
    pub disabled_reason: Option<String>,
    pub disabled_at: Option<String>,
    pub created_at: String,
    /// The secrets that sign, newest first (never their values).
    pub secrets: Vec<SecretView>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SecretView {
    pub created_at: String,
    /// When an older secret stops signing, after a rotation.
    pub expires_at: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookList {
    pub webhooks: Vec<WebhookView>,
}

/// An endpoint just made (or its secret just rotated): the secret is shown
/// this once.
#[derive(Serialize, ToSchema)]
pub struct WebhookWithSecret {
    pub webhook: WebhookView,
    /// `whsec_` and base64: the key of the HMAC-SHA256 signatures.
    pub secret: String,
}

/// Serialised once into the answer; `Debug` (logs, panics) never shows the
/// secret.
impl std::fmt::Debug for WebhookWithSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookWithSecret")
            .field("webhook", &self.webhook)
            .field("secret", &"…")
            .finish()
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AttemptView {
    pub number: u32,
    pub at: String,
    pub duration_ms: u32,
    /// The receiver's HTTP status, when it answered.
    pub status: Option<u16>,
    /// Why there was no usable answer (timeout, refused connection, …).
    pub error: Option<String>,
    /// The start of the response body (at most 1 KiB).
    pub response: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DeliveryView {
    /// The event's id: the `webhook-id` header, the audit event's `id`.
    pub id: String,
    #[serde(rename = "type")]
    pub kind: String,
    /// `pending`, `delivered` or `failed` (the schedule ran out).
    pub state: &'static str,
    pub created_at: String,
    /// When a pending delivery is tried next.
    pub next_attempt_at: Option<String>,
    pub done_at: Option<String>,
    pub attempts: Vec<AttemptView>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DeliveryPage {
    pub deliveries: Vec<DeliveryView>,
    pub next: Option<String>,
    pub next_cursor: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Queued {
    /// Deliveries now pending because of this request.
    pub queued: u64,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewWebhook {
    pub url: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub types: Vec<String>,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WebhookChanges {
    pub url: Option<String>,
    pub description: Option<String>,
    pub types: Option<Vec<String>>,
    pub enabled: Option<bool>,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Rotation {
    /// How long the secrets in use keep signing beside the new one; default
    /// a day, at most a week.
    pub keep_old_for_seconds: Option<i64>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Recovery {
    /// RFC 3339: events at or after this moment.
    pub since: String,
    /// RFC 3339: events at or before this moment (default: now).
    pub until: Option<String>,
}

pub fn view(webhook: &Webhook) -> WebhookView {
    WebhookView {
        id: webhook.id.0,
        url: webhook.url.clone(),
        description: webhook.description.clone(),
        types: webhook.types.clone(),
        enabled: webhook.disabled.is_none(),
        disabled_reason: webhook.disabled.as_ref().map(|d| d.reason.clone()),
        disabled_at: webhook.disabled.as_ref().map(|d| rfc3339(d.at)),
        created_at: rfc3339(webhook.created_at),
        secrets: webhook
            .secrets
            .iter()
            .filter(|s| s.expires_at.is_none_or(|t| t > now_millis()))
            .map(|s| SecretView {
                created_at: rfc3339(s.created_at),
                expires_at: s.expires_at.map(rfc3339),
            })
            .collect(),
    }
}

/// The endpoint as a command just left it.
fn view_in(snapshot: &cohort_core::Snapshot, id: WebhookId) -> Result<WebhookView, NativeError> {
    snapshot
        .realm()
        .webhook(id)
        .map(view)
        .ok_or_else(NativeError::internal)
}

/// A JSON body, strictly: unknown fields and wrong types are refused,
/// naming the field.
fn body<T: serde::de::DeserializeOwned>(bytes: &Bytes) -> Result<T, NativeError> {
    let text = if bytes.iter().all(u8::is_ascii_whitespace) {
        &b"{}"[..]
    } else {
        &bytes[..]
    };
    serde_json::from_slice(text).map_err(|err| {
        let message = err.to_string();
        let field = message
            .split('`')
            .nth(1)
            .filter(|_| {
                message.starts_with("unknown field") || message.starts_with("missing field")
            })
            .unwrap_or("body")
            .to_string();
        NativeError::invalid_parameter(&field, format!("The JSON body is not valid: {message}"))
    })
}

fn webhook_id(text: &str) -> Result<WebhookId, NativeError> {
    text.parse::<i64>()
        .ok()
        .filter(|id| *id > 0)
        .map(WebhookId)
        .ok_or_else(|| NativeError::not_found(format!("No webhook endpoint {text:?}")))
}

fn found(caller: &NativeCaller, id: WebhookId) -> Result<Webhook, NativeError> {
    caller
        .snapshot
        .realm()
        .webhook(id)
        .cloned()
        .ok_or_else(|| NativeError::from(cohort_core::Error::WebhookNotFound(id)))
}

fn destination(state: &AppState, url: &str) -> Result<(), NativeError> {
    match guard::refusal(url, state.config.webhooks.allow_private) {
        Some(reason) => Err(NativeError::invalid_parameter("url", reason)),
        None => Ok(()),
    }
}

#[utoipa::path(
    get,
    path = "/cohort/v1/webhooks",
    tag = "webhooks",
    operation_id = "list_webhooks",
    responses((status = 200, description = "The realm's endpoints", body = WebhookList)),
)]
pub async fn list(manager: WebhookManager) -> Json<WebhookList> {
    Json(WebhookList {
        webhooks: manager.snapshot.realm().live_webhooks().map(view).collect(),
    })
}

#[utoipa::path(
    post,
    path = "/cohort/v1/webhooks",
    tag = "webhooks",
    operation_id = "create_webhook",
    request_body = NewWebhook,
    responses(
        (status = 201, description = "Made; the secret is shown this once", body = WebhookWithSecret),
        (status = 400, description = "A field is not valid, or the URL points inside (`invalid_parameter`)", body = ErrorBody),
        (status = 409, description = "The realm has as many endpoints as it may (`conflict`)", body = ErrorBody),
    ),
)]
pub async fn create(
    State(state): State<AppState>,
    caller: NativeCaller,
    bytes: Bytes,
) -> Result<Response, NativeError> {
    let new: NewWebhook = body(&bytes)?;
    let secret = secrets::generate_webhook_secret();
    let command = Command::CreateWebhook(CreateWebhook {
        url: new.url.clone(),
        description: new.description,
        types: new.types,
        secret: secret.clone(),
    });
    // The core's checks first (who may, what is valid), then the sender's.
    cohort_core::permission::may_manage_webhooks(&caller.snapshot, caller.actor())?;
    cohort_core::validate::webhook_url(&new.url)?;
    destination(&state, &new.url)?;
    let done = caller.execute(&state, command).await?;
    let cohort_core::Reply::Webhook(id) = done.reply else {
        return Err(NativeError::internal());
    };
    let webhook = view_in(&done.snapshot, id)?;
    Ok((
        StatusCode::CREATED,
        Json(WebhookWithSecret {
            webhook,
            secret: secret.0,
        }),
    )
        .into_response())
}

#[utoipa::path(
    get,
    path = "/cohort/v1/webhooks/{id}",
    tag = "webhooks",
    operation_id = "get_webhook",
    params(("id" = i64, Path, description = "The endpoint's id")),
    responses(
        (status = 200, description = "The endpoint", body = WebhookView),
        (status = 404, description = "No such endpoint in this realm (`not_found`)", body = ErrorBody),
    ),
)]
pub async fn get(
    manager: WebhookManager,
    Path(id): Path<String>,
) -> Result<Json<WebhookView>, NativeError> {
    Ok(Json(view(&found(&manager, webhook_id(&id)?)?)))
}

#[utoipa::path(
    patch,
    path = "/cohort/v1/webhooks/{id}",
    tag = "webhooks",
    operation_id = "update_webhook",
    params(("id" = i64, Path, description = "The endpoint's id")),
    request_body = WebhookChanges,
    responses(
        (status = 200, description = "The endpoint as it is now", body = WebhookView),
        (status = 400, description = "A field is not valid (`invalid_parameter`)", body = ErrorBody),
        (status = 404, description = "No such endpoint in this realm (`not_found`)", body = ErrorBody),
    ),
)]
pub async fn update(
    State(state): State<AppState>,
    caller: NativeCaller,
    Path(id): Path<String>,
    bytes: Bytes,
) -> Result<Json<WebhookView>, NativeError> {
    let id = webhook_id(&id)?;
    let changes: WebhookChanges = body(&bytes)?;
    if let Some(url) = &changes.url {
        cohort_core::permission::may_manage_webhooks(&caller.snapshot, caller.actor())?;
        found(&caller, id)?;
        cohort_core::validate::webhook_url(url)?;
        destination(&state, url)?;
    }
    let command = Command::UpdateWebhook(
        id,
        UpdateWebhook {
            url: changes.url,
            description: changes.description,
            types: changes.types,
            enabled: changes.enabled,
        },
    );
    let done = caller.execute(&state, command).await?;
    Ok(Json(view_in(&done.snapshot, id)?))
}

#[utoipa::path(
    delete,
    path = "/cohort/v1/webhooks/{id}",
    tag = "webhooks",
    operation_id = "delete_webhook",
    params(("id" = i64, Path, description = "The endpoint's id")),
    responses(
        (status = 204, description = "Removed; nothing more is sent to it"),
        (status = 404, description = "No such endpoint in this realm (`not_found`)", body = ErrorBody),
    ),
)]
pub async fn remove(
    State(state): State<AppState>,
    caller: NativeCaller,
    Path(id): Path<String>,
) -> Result<StatusCode, NativeError> {
    let id = webhook_id(&id)?;
    caller.execute(&state, Command::RemoveWebhook(id)).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(
    post,
    path = "/cohort/v1/webhooks/{id}/rotate-secret",
    tag = "webhooks",
    operation_id = "rotate_webhook_secret",
    params(("id" = i64, Path, description = "The endpoint's id")),
    request_body = Rotation,
    responses(
        (status = 200, description = "The new secret, shown this once; until the old ones expire, requests carry a signature per secret", body = WebhookWithSecret),
        (status = 400, description = "`keep_old_for_seconds` is out of range (`invalid_parameter`)", body = ErrorBody),
        (status = 404, description = "No such endpoint in this realm (`not_found`)", body = ErrorBody),
    ),
)]
pub async fn rotate(
    State(state): State<AppState>,
    caller: NativeCaller,
    Path(id): Path<String>,
    bytes: Bytes,
) -> Result<Json<WebhookWithSecret>, NativeError> {
    let id = webhook_id(&id)?;
    let rotation: Rotation = body(&bytes)?;
    let secret = secrets::generate_webhook_secret();
    let keep = rotation.keep_old_for_seconds.unwrap_or(24 * 3600);
    let command = Command::RotateWebhookSecret(
        id,
        RotateWebhookSecret {
            secret: secret.clone(),
            keep_old_for: keep.saturating_mul(1000),
        },
    );
    let done = caller.execute(&state, command).await?;
    let webhook = view_in(&done.snapshot, id)?;
    Ok(Json(WebhookWithSecret {
        webhook,
        secret: secret.0,
    }))
}

const LOG_PARAMS: &[&str] = &["state", "limit", "cursor"];

#[utoipa::path(
    get,
    path = "/cohort/v1/webhooks/{id}/deliveries",
    tag = "webhooks",
    operation_id = "list_webhook_deliveries",
    params(
        ("id" = i64, Path, description = "The endpoint's id"),
        ("state" = Option<String>, Query, description = "`pending`, `delivered` or `failed`"),
        ("limit" = Option<u32>, Query, description = "1 to 1000, default 100"),
        ("cursor" = Option<String>, Query, description = "From a previous page's `next`; only with the same other parameters"),
    ),
    responses(
        (status = 200, description = "Deliveries, newest first, each with its attempts", body = DeliveryPage),
        (status = 400, description = "A parameter or the cursor is not valid (`invalid_parameter`, `invalid_cursor`)", body = ErrorBody),
        (status = 404, description = "No such endpoint in this realm (`not_found`)", body = ErrorBody),
    ),
)]
pub async fn deliveries(
    State(state): State<AppState>,
    manager: WebhookManager,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Response, NativeError> {
    let id = webhook_id(&id)?;
    found(&manager, id)?;
    let params = Query::parse(raw.as_deref(), LOG_PARAMS)?;
    let endpoint = format!("webhooks/{}/deliveries", id.0);
    let scope = params.cursor_scope(&endpoint, manager.snapshot.realm_id());
    let cursor: Option<Cursor<LogPosition>> = params.cursor(&scope)?;
    let limit = params.limit()? as usize;
    let filter = params
        .get("state")
        .map(|s| {
            DeliveryState::parse(s).ok_or_else(|| {
                NativeError::invalid_parameter(
                    "state",
                    "state must be pending, delivered or failed",
                )
            })
        })
        .transpose()?;
    let before = cursor.map(|c| (c.position.version, c.position.index));
    let mut rows = state
        .engine
        .store()
        .delivery_log(id, before, limit + 1, filter)
        .await?;
    let more = rows.len() > limit;
    rows.truncate(limit);
    let next_cursor = more.then(|| rows.last()).flatten().map(|(d, _)| {
        let position = LogPosition {
            version: d.event.0,
            index: d.event.1,
        };
        Cursor::new(position, Direction::Backward).encode(&scope)
    });
    let next = next_cursor
        .as_deref()
        .map(|c| next_url(&endpoint, &params, c));
    let page = DeliveryPage {
        deliveries: rows.iter().map(|(d, a)| delivery_view(d, a)).collect(),
        next: next.clone(),
        next_cursor,
    };
    Ok(with_next_link(Json(page).into_response(), next.as_deref()))
}

fn delivery_view(d: &Delivery, attempts: &[Attempt]) -> DeliveryView {
    DeliveryView {
        id: payload::webhook_id(d),
        kind: d.kind.clone(),
        state: d.state.as_str(),
        created_at: rfc3339(d.created_at),
        next_attempt_at: (d.state == DeliveryState::Pending).then(|| rfc3339(d.next_at)),
        done_at: d.done_at.map(rfc3339),
        attempts: attempts
            .iter()
            .map(|a| AttemptView {
                number: a.number,
                at: rfc3339(a.at),
                duration_ms: a.duration_ms,
                status: a.status,
                error: a.error.clone(),
                response: a.response.clone(),
            })
            .collect(),
    }
}

#[utoipa::path(
    post,
    path = "/cohort/v1/webhooks/{id}/deliveries/{event}/resend",
    tag = "webhooks",
    operation_id = "resend_webhook_delivery",
    params(
        ("id" = i64, Path, description = "The endpoint's id"),
        ("event" = String, Path, description = "The delivery's event id (`webhook-id`)"),
    ),
    responses(
        (status = 202, description = "Queued; it is sent again (same id, same body, new signature)", body = Queued),
        (status = 404, description = "No such endpoint, or no delivery of that event to it (`not_found`)", body = ErrorBody),
    ),
)]
pub async fn resend(
    State(state): State<AppState>,
    manager: WebhookManager,
    Path((id, event)): Path<(String, String)>,
) -> Result<Response, NativeError> {
    let id = webhook_id(&id)?;
    found(&manager, id)?;
    let missing =
        || NativeError::not_found(format!("No delivery of event {event:?} to this endpoint"));
    let key = parse_event(&event, manager.snapshot.realm_id()).ok_or_else(missing)?;
    let store = state.engine.store();
    let after = (key.0, key.1.saturating_add(1));
    let found = store.delivery_log(id, Some(after), 1, None).await?;
    let Some((delivery, _)) = found.into_iter().next().filter(|(d, _)| d.event == key) else {
        return Err(missing());
    };
    let queued = store
        .requeue_deliveries(vec![delivery], true, now_millis())
        .await?;
    Ok((StatusCode::ACCEPTED, Json(Queued { queued })).into_response())
}

/// `{realm}-{version}-{index}` of this realm.
fn parse_event(text: &str, realm: cohort_core::RealmId) -> Option<(u64, u32)> {
    let mut parts = text.split('-');
    let (r, v, i) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() || r.parse::<i64>().ok()? != realm.0 {
        return None;
    }
    Some((v.parse().ok()?, i.parse().ok()?))
}

#[utoipa::path(
    post,
    path = "/cohort/v1/webhooks/{id}/recover",
    tag = "webhooks",
    operation_id = "recover_webhook_deliveries",
    params(("id" = i64, Path, description = "The endpoint's id")),
    request_body = Recovery,
    responses(
        (status = 202, description = "Every event of the window the endpoint wants and has not received is queued (failed ones again, ones never made, e.g. while it was disabled)", body = Queued),
        (status = 400, description = "`since`/`until` are not valid (`invalid_parameter`)", body = ErrorBody),
        (status = 404, description = "No such endpoint in this realm (`not_found`)", body = ErrorBody),
    ),
)]
pub async fn recover(
    State(state): State<AppState>,
    manager: WebhookManager,
    Path(id): Path<String>,
    bytes: Bytes,
) -> Result<Response, NativeError> {
    let id = webhook_id(&id)?;
    let webhook = found(&manager, id)?;
    let recovery: Recovery = body(&bytes)?;
    let since = parse_timestamp("since", &recovery.since)?;
    let until = recovery
        .until
        .as_deref()
        .map(|u| parse_timestamp("until", u))
        .transpose()?;
    super::params::ensure_ordered(("since", Some(since)), ("until", until))?;
    let realm = manager.snapshot.realm_id();
    let store = state.engine.store();
    // Only up to what the sender has made deliveries of; later events are
    // on their way anyway.
    let cursor = store.webhook_cursor(id).await?.unwrap_or(0);
    let history = state.engine.history(realm).await?;
    let from = history.first_version_from(since);
    let to = until.map_or(cursor, |t| history.version_at(t).unwrap_or(0).min(cursor));
    drop(history);
    if from > to {
        return Ok((StatusCode::ACCEPTED, Json(Queued { queued: 0 })).into_response());
    }
    let query = AuditQuery {
        from,
        to,
        ..AuditQuery::default()
    };
    let (history, page) = state.engine.audit(realm, &query, None, MAX_RECOVER).await?;
    if page.next.is_some() {
        return Err(NativeError::invalid_parameter(
            "since",
            format!(
                "The window holds more than {MAX_RECOVER} events; recover a shorter one at a time"
            ),
        ));
    }
    let made = payload::deliveries(&history, &webhook, &page.records, now_millis());
    drop(history);
    let queued = store.requeue_deliveries(made, false, now_millis()).await?;
    Ok((StatusCode::ACCEPTED, Json(Queued { queued })).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_hides_a_new_secret() {
        let made = WebhookWithSecret {
            webhook: WebhookView {
                id: 1,
                url: "https://example.com/in".into(),
                description: String::new(),
                types: Vec::new(),
                enabled: true,
                disabled_reason: None,
                disabled_at: None,
                created_at: "2026-01-01T00:00:00Z".into(),
                secrets: Vec::new(),
            },
            secret: "whsec_c2VjcmV0LXZhbHVlLWZvci10ZXN0".into(),
        };
        let shown = format!("{made:?} {made:#?}");
        assert!(!shown.contains("c2VjcmV0LXZhbHVlLWZvci10ZXN0"), "{shown}");
        assert!(shown.contains("example.com"), "{shown}");
    }
}
