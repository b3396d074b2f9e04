//! `GET /ui/live?version=N`: Server-Sent Events telling an open page that
//! its realm moved past version `N` (any face's write). It says only that
//! and the new version, never what changed, so any signed-in user may
//! follow it; the page's script then fetches itself again and swaps in
//! what changed, or says the view is out of date when the user is in the
//! middle of a form. A comment every `KEEP_ALIVE` keeps proxies open; the
//! stream ends when the session's user may no longer use the page, or when
//! the server shuts down.

use super::error::UiError;
use super::form::Posted;
use super::session::Viewer;
use crate::AppState;
use axum::body::Body;
use axum::extract::{RawQuery, State};
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use cohort_core::permission;
use std::time::Duration;
use tokio::sync::mpsc;

const KEEP_ALIVE: Duration = Duration::from_secs(15);
/// Changes closer together than this are told as one.
const COALESCE: Duration = Duration::from_millis(250);

pub async fn get(
    State(state): State<AppState>,
    viewer: Viewer,
    RawQuery(raw): RawQuery,
) -> Result<Response, UiError> {
    let p = Posted::parse(raw.as_deref().unwrap_or("").as_bytes());
    let seen: u64 = match p.get("version") {
        None | Some("") => viewer.snapshot.version(),
        Some(v) => v
            .parse()
            .map_err(|_| UiError::bad_request("version must be a number."))?,
    };
    let realm = viewer.snapshot.realm_id();
    let user = viewer.user.id;
    let mut versions = state
        .engine
        .watch_version(realm)
        .ok_or_else(|| UiError::not_found("organization"))?;
    let (out, body) = mpsc::channel::<Bytes>(4);
    let mut closing = state.closing.subscribe();
    let engine = state.engine.clone();
    tokio::spawn(async move {
        let mut told = seen;
        // What the browser waits before reconnecting, in milliseconds.
        if out
            .send(Bytes::from_static(b"retry: 3000\n\n"))
            .await
            .is_err()
        {
            return;
        }
        loop {
            let now: u64 = *versions.borrow_and_update();
            if now > told {
                let still = engine
                    .snapshot(realm)
                    .is_some_and(|snap| permission::may_use_admin_page(&snap, user).is_ok());
                if !still {
                    return;
                }
                let frame = format!("event: version\ndata: {now}\n\n");
                if out.send(Bytes::from(frame)).await.is_err() {
                    return;
                }
                told = now;
                tokio::time::sleep(COALESCE).await;
                continue;
            }
            tokio::select! {
                changed = versions.changed() => if changed.is_err() { return },
                _ = tokio::time::sleep(KEEP_ALIVE) => {
                    if out.send(Bytes::from_static(b": keep-alive\n\n")).await.is_err() {
                        return;
                    }
                }
                _ = closing.changed() => return,
            }
        }
    });
    let mut response = Body::new(crate::body::Channel(body)).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert("x-accel-buffering", HeaderValue::from_static("no"));
    Ok(response)
}
