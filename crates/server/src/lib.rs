//! cohort's HTTP server: shared state, the router, and each face.
//!
//! Layout:
//! - `zulip/`: Zulip's REST API under `/api/v1`.
//! - `imkit/`: IMKIT's admin API under `/admin`.
//! - `scim/`: SCIM 2.0 under `/scim/v2`, for identity providers.
//! - `native/`: cohort's own admin API under `/cohort/v1`, for audits.
//! - `ui/`: the admin web page under `/ui/` (HTML for people, in a browser).
//! - `cache/`: rendered responses per realm version (never going back).
//! - `ops.rs`: `/healthz`, `/readyz`, `/metrics`, request ids, request logs and metrics.
//!
//! `run(listener, state, shutdown)` serves until `shutdown` resolves, then stops
//! accepting connections and lets in-flight requests (and their writes) finish.

mod body;
mod cache;
mod events;
mod form;
#[cfg(any(test, feature = "fuzzing"))]
pub mod fuzzing;
mod imkit;
pub mod native;
mod ops;
mod scim;
mod ui;
pub mod webhooks;
mod zulip;

use axum::extract::DefaultBodyLimit;
use axum::Router;
use cohort_engine::Engine;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::net::TcpListener;

pub use ops::install_metrics;
pub use ui::spawn_sign_in_pruner;

/// Server settings that do not belong to the directory.
#[derive(Clone, Debug)]
pub struct ServerConfig {
    /// Largest request body accepted; larger ones get 413.
    pub max_body_bytes: usize,
    /// The URL clients reach cohort at (`--public-url`), for SCIM's absolute
    /// `meta.location`; without it, `http://` and the request's `Host`.
    pub public_url: Option<String>,
    /// Where webhook requests may go, how they are retried.
    pub webhooks: webhooks::WebhookConfig,
    /// How long an admin page sign-in lasts (`--ui-session-hours`): a
    /// session expires this long after signing in (by link or by key).
    pub ui_session: std::time::Duration,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            max_body_bytes: 1024 * 1024,
            public_url: None,
            webhooks: webhooks::WebhookConfig::default(),
            ui_session: std::time::Duration::from_secs(12 * 3600),
        }
    }
}

/// Everything handlers share, behind one `Arc` (a clone per request is one
/// reference count).
#[derive(Clone)]
pub struct AppState(Arc<Shared>);

pub struct Shared {
    pub engine: Arc<Engine>,
    pub config: ServerConfig,
    /// Rendered `GET /user_groups` bodies, per realm version.
    pub zulip_groups: cache::GroupListCache,
    /// Rendered `GET /user_groups/{id}/members` bodies, per realm version.
    pub zulip_members: cache::VersionedCache<(cohort_core::GroupId, bool)>,
    /// Rendered IMKIT groups in page order, per realm version.
    pub imkit_groups: cache::GroupPageCache,
    /// Rendered IMKIT group pages by (limit, skip), per realm version.
    pub imkit_pages: cache::VersionedCache<(usize, usize)>,
    /// Rendered SCIM groups by (realm, group, with members, base URL), per
    /// group revision.
    pub scim_groups: cache::FragmentCache<scim::GroupKey>,
    /// Rendered SCIM group list pages by query, per realm version.
    pub scim_pages: cache::VersionedCache<scim::PageKey>,
    pub metrics: Option<metrics_exporter_prometheus::PrometheusHandle>,
    /// Each realm's live events, for the event streams.
    pub feeds: events::feed::Feeds,
    /// Zulip's event queues (`POST /api/v1/register`).
    pub zulip_queues: Arc<zulip::events::queue::Queues>,
    /// The admin page's sorted views of groups and people, per realm version.
    pub ui_index: ui::index::Indexes,
    /// Set when the server shuts down: long-lived responses (event
    /// streams) end, so the graceful shutdown can finish.
    pub closing: tokio::sync::watch::Sender<bool>,
    http_metrics: ops::HttpMetrics,
    request_ids: ops::RequestIds,
}

impl std::ops::Deref for AppState {
    type Target = Shared;
    fn deref(&self) -> &Shared {
        &self.0
    }
}

impl AppState {
    pub fn new(engine: Arc<Engine>, config: ServerConfig) -> AppState {
        AppState(Arc::new(Shared {
            engine,
            config,
            zulip_groups: cache::GroupListCache::default(),
            zulip_members: cache::VersionedCache::new(4096),
            imkit_groups: cache::GroupPageCache::default(),
            imkit_pages: cache::VersionedCache::new(1024),
            scim_groups: cache::FragmentCache::new(200_000),
            scim_pages: cache::VersionedCache::new(1024),
            metrics: install_metrics(),
            feeds: events::feed::Feeds::default(),
            zulip_queues: Arc::default(),
            ui_index: ui::index::Indexes::default(),
            closing: tokio::sync::watch::Sender::new(false),
            http_metrics: ops::HttpMetrics::default(),
            request_ids: ops::RequestIds::default(),
        }))
    }
}

pub fn app(state: AppState) -> Router {
    let limit = state.config.max_body_bytes;
    Router::new()
        .merge(zulip::router())
        .merge(imkit::router())
        .merge(scim::router())
        .merge(native::router())
        .merge(ui::router())
        .merge(ops::router())
        .fallback(not_found)
        .layer(DefaultBodyLimit::max(limit))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            ops::track,
        ))
        .with_state(state)
}

/// A 404 in the dialect of the face the path belongs to.
async fn not_found(uri: axum::http::Uri) -> axum::response::Response {
    use axum::response::IntoResponse;
    if uri.path().starts_with("/admin") {
        imkit::no_such_endpoint().await.into_response()
    } else if uri.path().starts_with("/scim/") || uri.path() == "/scim" {
        scim::no_such_endpoint().await.into_response()
    } else if ui::owns(uri.path()) {
        ui::not_found().into_response()
    } else if native::owns(uri.path()) {
        native::no_such_endpoint().await.into_response()
    } else {
        zulip::ZulipError::not_found().into_response()
    }
}

/// Serve until `shutdown` completes; in-flight requests are allowed to finish.
pub async fn run(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    use axum::serve::ListenerExt;
    // Small answers go out at once instead of waiting on Nagle's algorithm.
    let listener = listener.tap_io(|stream| {
        let _ = stream.set_nodelay(true);
    });
    // The peer address reaches `ops::track` as `ConnectInfo`, for the
    // client address a commit records.
    let closing = state.clone();
    axum::serve(
        listener,
        app(state).into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(async move {
        shutdown.await;
        closing.closing.send_replace(true);
    })
    .await
}
