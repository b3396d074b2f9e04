//! Operations: health and readiness probes, Prometheus metrics, request ids,
//! each request's `RequestContext` (what a write records as its origin) and
//! structured request logs.

use crate::limits::ByAddress;
use crate::AppState;
use axum::extract::{ConnectInfo, MatchedPath, Request, State};
use axum::http::{HeaderName, StatusCode};
use axum::http::{HeaderValue, Method};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use cohort_core::{Face, Origin};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use serde_json::json;
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;
use std::sync::RwLock;
use std::time::{Duration, Instant};
use tracing::Instrument;

static REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
}

/// Liveness: the process answers.
async fn healthz(_: ByAddress) -> impl IntoResponse {
    Json(json!({"status": "ok"}))
}

/// Readiness: the database answers. Reads would still be served from memory
/// without it, but writes would not, so a balancer should know.
async fn readyz(_: ByAddress, State(state): State<AppState>) -> Response {
    let ping = tokio::time::timeout(Duration::from_secs(2), state.engine.store().ping()).await;
    let realms = state.engine.realm_versions();
    let versions: serde_json::Map<String, serde_json::Value> = realms
        .iter()
        .map(|(r, v)| (r.0.to_string(), json!(v)))
        .collect();
    match ping {
        Ok(Ok(())) => Json(json!({"status": "ready", "database": "ok", "realm_versions": versions})).into_response(),
        Ok(Err(err)) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({"status": "degraded", "database": err.to_string(), "reads": "served from memory"})),
        )
            .into_response(),
        Err(_) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({"status": "degraded", "database": "timed out", "reads": "served from memory"})),
        )
            .into_response(),
    }
}

async fn metrics(_: ByAddress, State(state): State<AppState>) -> Response {
    match &state.metrics {
        Some(handle) => (
            [(
                axum::http::header::CONTENT_TYPE,
                "text/plain; version=0.0.4",
            )],
            handle.render(),
        )
            .into_response(),
        None => (StatusCode::NOT_FOUND, "metrics recorder not installed").into_response(),
    }
}

/// Install the process-wide Prometheus recorder once; later calls share it.
pub fn install_metrics() -> Option<PrometheusHandle> {
    static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new()
                .set_buckets_for_metric(
                    Matcher::Suffix("_seconds".into()),
                    &[
                        0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                        0.25, 0.5, 1.0, 2.5,
                    ],
                )
                .ok()?
                .build_recorder();
            let handle = recorder.handle();
            metrics::set_global_recorder(recorder).ok()?;
            // Histogram samples pile up in the recorder until they are
            // folded into buckets: by a scrape, or by this upkeep. Without
            // it a server nobody scrapes grew ~17 bytes per request (found
            // by `cohort-bench hostile`).
            let upkeep = handle.clone();
            let _ = std::thread::Builder::new()
                .name("metrics-upkeep".into())
                .spawn(move || loop {
                    std::thread::sleep(Duration::from_secs(5));
                    upkeep.run_upkeep();
                });
            Some(handle)
        })
        .clone()
}

/// Handles of the per-request metrics, by (method, route, status), so that a
/// request costs a map lookup instead of building metric keys.
#[derive(Default)]
pub struct HttpMetrics {
    /// Route → (method, status) → counter, and route → latency histogram;
    /// looked up by `&str`, so a request allocates nothing here.
    routes: RwLock<HashMap<String, RouteMetrics>>,
}

struct RouteMetrics {
    counters: HashMap<(Method, u16), metrics::Counter>,
    latency: metrics::Histogram,
}

impl HttpMetrics {
    fn record(&self, method: &Method, route: &str, status: u16, seconds: f64) {
        let found = {
            let routes = self.routes.read().unwrap_or_else(|e| e.into_inner());
            routes.get(route).map(|r| {
                (
                    r.counters.get(&(method.clone(), status)).cloned(),
                    r.latency.clone(),
                )
            })
        };
        let (counter, latency) = match found {
            Some((Some(counter), latency)) => (counter, latency),
            _ => {
                let mut routes = self.routes.write().unwrap_or_else(|e| e.into_inner());
                let entry = routes.entry(route.to_string()).or_insert_with(|| RouteMetrics {
                    counters: HashMap::new(),
                    latency: metrics::histogram!("cohort_http_request_duration_seconds", "route" => route.to_string()),
                });
                let counter = entry
                    .counters
                    .entry((method.clone(), status))
                    .or_insert_with(|| {
                        metrics::counter!(
                            "cohort_http_requests_total",
                            "method" => method.to_string(),
                            "route" => route.to_string(),
                            "status" => status.to_string()
                        )
                    })
                    .clone();
                (counter, entry.latency.clone())
            }
        };
        counter.increment(1);
        latency.record(seconds);
    }
}

/// Longest request id a commit records, in bytes (a caller's header may be
/// longer; the log keeps its start).
pub const MAX_REQUEST_ID: usize = 128;

/// What the change log records about the request behind a write: its
/// `x-request-id` and the client's address. Kept as `track` found them; the
/// strings are made only when a write happens (`origin`).
#[derive(Clone, Debug)]
pub struct RequestContext {
    request_id: HeaderValue,
    client: Option<IpAddr>,
    https: bool,
}

impl RequestContext {
    /// The client's address: the TCP peer's, or the one a trusted proxy
    /// reported (`proxy::TrustedProxies::resolve`).
    pub fn client(&self) -> Option<IpAddr> {
        self.client
    }

    /// Whether the client reached cohort over HTTPS: directly, or as a
    /// trusted proxy says.
    pub fn https(&self) -> bool {
        self.https
    }

    /// The commit origin of a write through `face` made by this request.
    pub fn origin(&self, face: Face) -> Origin {
        let id = String::from_utf8_lossy(self.request_id.as_bytes());
        let id = truncate(&id, MAX_REQUEST_ID);
        Origin {
            face,
            request_id: (!id.is_empty()).then(|| id.to_string()),
            client: self.client.map(|ip| ip.to_string()),
        }
    }

    /// The context `track` put on a request (none outside it, as when a
    /// router is served without the layers).
    pub fn from_parts(parts: &axum::http::request::Parts) -> Option<RequestContext> {
        parts.extensions.get::<RequestContext>().cloned()
    }
}

/// The origin of a write through `face` by a request with this context.
pub fn origin(context: Option<&RequestContext>, face: Face) -> Origin {
    match context {
        Some(context) => context.origin(face),
        None => Origin::local(face),
    }
}

/// The path as logged: a one-time sign-in link's key is a secret until it
/// is used (and a failed attempt's key may be someone's typo of a real one).
fn loggable_path(path: &str) -> String {
    match path.strip_prefix("/ui/login/") {
        Some(key) if !key.is_empty() => "/ui/login/{key}".to_string(),
        _ => path.to_string(),
    }
}

/// At most `max` bytes of `text`, cut at a character boundary.
fn truncate(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

/// Per request: an `x-request-id` (the client's, or a fresh one) on the
/// request and the response; a `RequestContext` in the request's extensions;
/// the `cohort_http_*` metrics labelled by route (never by raw path); a
/// `request` span carrying the id around everything the request logs; and
/// at `info` level a log line with the request id, route, status and
/// latency.
pub async fn track(State(state): State<AppState>, mut request: Request, next: Next) -> Response {
    let started = Instant::now();
    let request_id = match request.headers().get(&REQUEST_ID) {
        Some(id) => id.clone(),
        None => {
            let id = state.request_ids.next();
            request.headers_mut().insert(REQUEST_ID.clone(), id.clone());
            id
        }
    };
    let peer = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        // A dual-stack listener sees IPv4 clients as `::ffff:a.b.c.d`.
        .map(|ConnectInfo(addr)| addr.ip().to_canonical());
    let tls = request
        .extensions()
        .get::<crate::listen::Transport>()
        .is_some_and(|t| t.tls);
    let seen = state
        .config
        .trusted_proxies
        .resolve(peer, tls, request.headers());
    request.extensions_mut().insert(RequestContext {
        request_id: request_id.clone(),
        client: seen.client,
        https: seen.https,
    });
    let method = request.method().clone();
    let matched = request.extensions().get::<MatchedPath>().cloned();
    let route = matched.as_ref().map(|p| p.as_str()).unwrap_or("unmatched");
    // Only paid for when request logs are on.
    let path = tracing::enabled!(tracing::Level::INFO).then(|| loggable_path(request.uri().path()));
    // Every event logged while the request is handled (error logs in the
    // faces, the engine's and the store's) carries its id. A span costs
    // little when its level is off.
    let span = tracing::info_span!(
        "request",
        request_id = %request_id.to_str().unwrap_or("")
    );
    let mut response = next.run(request).instrument(span).await;
    let elapsed = started.elapsed();
    let status = response.status().as_u16();
    state
        .http_metrics
        .record(&method, route, status, elapsed.as_secs_f64());
    if let Some(path) = path {
        tracing::info!(
            request_id = %request_id.to_str().unwrap_or(""),
            method = %method,
            path = %path,
            route = %route,
            status,
            micros = elapsed.as_micros() as u64,
            "request"
        );
    }
    response
        .headers_mut()
        .insert(REQUEST_ID.clone(), request_id);
    response
}

/// Request ids: a random per-process prefix and a counter. Unique, cheap (no
/// system call per request, unlike a v4 UUID), and ordered within a process.
pub struct RequestIds {
    prefix: String,
    next: AtomicU64,
}

impl Default for RequestIds {
    fn default() -> Self {
        RequestIds {
            prefix: uuid::Uuid::new_v4().simple().to_string()[..12].to_string(),
            next: AtomicU64::new(1),
        }
    }
}

impl RequestIds {
    fn next(&self) -> HeaderValue {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        HeaderValue::from_str(&format!("{}-{n}", self.prefix))
            .unwrap_or_else(|_| HeaderValue::from_static("-"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_ids_are_kept_to_128_bytes_on_a_character_boundary() {
        let context = |id: &str, client: Option<IpAddr>| RequestContext {
            request_id: HeaderValue::from_str(id).expect("a header value"),
            client,
            https: false,
        };
        let ip: IpAddr = "127.0.0.1".parse().expect("an address");
        let origin = context("abc", Some(ip)).origin(Face::Imkit);
        assert_eq!(
            origin,
            Origin {
                face: Face::Imkit,
                request_id: Some("abc".into()),
                client: Some("127.0.0.1".into()),
            }
        );
        let long = "r".repeat(200);
        let origin = context(&long, None).origin(Face::Zulip);
        assert_eq!(origin.request_id.as_deref(), Some(&long[..128]));
        assert_eq!(origin.client, None);
        // Opaque bytes are read lossily; a cut never splits a character.
        let value = HeaderValue::from_bytes(
            &[b'a'; 127]
                .iter()
                .chain(&[0xc3, 0xa9])
                .copied()
                .collect::<Vec<u8>>(),
        )
        .expect("opaque header bytes");
        let origin = RequestContext {
            request_id: value,
            client: None,
            https: false,
        }
        .origin(Face::Scim);
        assert_eq!(origin.request_id.as_deref(), Some(&"a".repeat(127)[..]));
        assert_eq!(context("", None).origin(Face::Scim).request_id, None);
        // Outside `track` there is no context: no request id, no address.
        assert_eq!(super::origin(None, Face::Zulip), Origin::local(Face::Zulip));
    }
}
