//! `GET /cohort/v1/export`: the whole directory as of a moment, as CSV or
//! JSON Lines, streamed: the writer runs on a blocking thread holding the
//! realm's history and hands the body 64 KiB chunks through a small
//! channel, so a slow client slows the writer instead of filling memory.

use super::auth::Auditor;
use super::error::{ErrorBody, NativeError};
use super::export_writer::{self, Format};
use super::memberships::as_of;
use super::params::Query;
use crate::AppState;
use axum::body::Body;
use axum::extract::{RawQuery, State};
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use tokio::sync::mpsc;

/// Chunks in flight between the writer and the socket.
const IN_FLIGHT: usize = 4;

#[utoipa::path(
    get,
    path = "/cohort/v1/export",
    tag = "export",
    operation_id = "export_directory",
    params(
        ("as_of" = Option<String>, Query, description = "RFC 3339; default now"),
        ("format" = Option<String>, Query, description = "`csv` (default: one row per effective membership) or `jsonl` (a header line, then one line per user and per group)"),
    ),
    responses(
        (status = 200, description = "The directory at that moment", content(
            (String = "text/csv"),
            (String = "application/jsonl"),
        )),
        (status = 400, description = "A parameter is not valid (`invalid_parameter`)", body = ErrorBody),
    ),
)]
pub async fn get(
    State(state): State<AppState>,
    auditor: Auditor,
    RawQuery(raw): RawQuery,
) -> Result<Response, NativeError> {
    export(&state, auditor.snapshot.realm_id(), raw.as_deref()).await
}

/// The export the query `raw` (this endpoint's parameters) asks for, for
/// any caller the face has let read it.
pub(crate) async fn export(
    state: &AppState,
    realm: cohort_core::RealmId,
    raw: Option<&str>,
) -> Result<Response, NativeError> {
    let params = Query::parse(raw, &["as_of", "format"])?;
    let format = match params.get("format") {
        None => Format::Csv,
        Some(f) => Format::parse(f).ok_or_else(|| {
            NativeError::invalid_parameter("format", "format must be csv or jsonl")
        })?,
    };
    let history = state.engine.history(realm).await?;
    let (version, at_text) = as_of(&history, &params)?;
    let at = params
        .timestamp("as_of")?
        .unwrap_or_else(|| history.commit(version).map_or(0, |c| c.at));
    let (tx, rx) = mpsc::channel::<Bytes>(IN_FLIGHT);
    tokio::task::spawn_blocking(move || {
        // A closed channel is a client that went away: stop writing.
        let _ = export_writer::write(
            &history,
            version,
            at,
            format,
            |chunk| tx.blocking_send(Bytes::from(chunk)),
            |_, _| {},
        );
    });
    let filename = format!(
        "attachment; filename=\"cohort-realm-{}-{}.{}\"",
        realm.0,
        at_text.replace(':', ""),
        format.extension()
    );
    let mut response = Body::new(crate::body::Channel(rx)).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(format.content_type()),
    );
    if let Ok(value) = HeaderValue::from_str(&filename) {
        headers.insert(header::CONTENT_DISPOSITION, value);
    }
    Ok(response)
}
