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
//! - `listen.rs`: the accept loop and its connection limits; `tls.rs`: TLS
//!   served directly; `proxy.rs`: which forwarding headers are believed.
//!
//! `run(listener, state, limits, tls, shutdown)` serves until `shutdown`
//! resolves, then stops accepting connections and lets in-flight requests
//! (and their writes) finish.

mod body;
mod cache;
mod events;
mod form;
#[cfg(any(test, feature = "fuzzing"))]
pub mod fuzzing;
mod imkit;
mod limits;
pub mod listen;
pub mod native;
mod ops;
pub mod proxy;
mod scim;
pub mod tls;
mod ui;
pub mod webhooks;
mod zulip;

use axum::extract::DefaultBodyLimit;
use axum::Router;
use cohort_engine::Engine;
use std::future::Future;
use std::sync::Arc;
use tokio::net::TcpListener;

pub use limits::{parse_rate, spawn_pruner as spawn_rate_limit_pruner, RateLimits};
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
    /// Requests per credential and per client address (`--rate-limit`,
    /// `--rate-limit-anonymous`).
    pub rate_limits: RateLimits,
    /// Peers whose `X-Forwarded-For`/`-Proto` are believed (`--trusted-proxy`).
    pub trusted_proxies: proxy::TrustedProxies,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            max_body_bytes: 1024 * 1024,
            public_url: None,
            webhooks: webhooks::WebhookConfig::default(),
            ui_session: std::time::Duration::from_secs(12 * 3600),
            rate_limits: RateLimits::default(),
            trusted_proxies: proxy::TrustedProxies::default(),
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
    /// Each credential's and client address's request budget.
    pub limits: limits::Limits,
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
            limits: limits::Limits::new(config.rate_limits),
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
        .layer(axum::middleware::from_fn(limits::headers))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            ops::track,
        ))
        .with_state(state)
}

/// A 404 in the dialect of the face the path belongs to (the address pays,
/// as for any request that takes no credential).
async fn not_found(_: limits::ByAddress, uri: axum::http::Uri) -> axum::response::Response {
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

/// A 429 in the dialect of the face the path belongs to, for requests that
/// are refused before any face's extractor ran.
fn too_many_requests(path: &str, limited: &limits::Limited) -> axum::response::Response {
    use axum::response::IntoResponse;
    if path.starts_with("/admin") {
        imkit::ImkitError::rate_limited(limited).into_response()
    } else if path.starts_with("/scim/") || path == "/scim" {
        scim::ScimError::rate_limited(limited).into_response()
    } else if ui::owns(path) {
        ui::UiError::rate_limited(limited).into_response()
    } else if native::owns(path) {
        native::NativeError::rate_limited(limited).into_response()
    } else {
        zulip::ZulipError::rate_limited(limited).into_response()
    }
}

/// Serve until `shutdown` completes (over TLS with `tls`), within `limits`;
/// in-flight requests are allowed to finish (`listen::run`).
pub async fn run(
    listener: TcpListener,
    state: AppState,
    limits: listen::Limits,
    tls: Option<Arc<tls::Tls>>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    listen::run(listener, state, limits, tls, shutdown).await
}
