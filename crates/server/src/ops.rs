//! Operations: health and readiness probes, Prometheus metrics, request ids and
//! structured request logs.

use crate::AppState;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderName, StatusCode};
use axum::http::{HeaderValue, Method};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use serde_json::json;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};
use tower_http::request_id::{
    MakeRequestId, PropagateRequestIdLayer, RequestId, SetRequestIdLayer,
};

static REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
}

/// Liveness: the process answers.
async fn healthz() -> impl IntoResponse {
    Json(json!({"status": "ok"}))
}

/// Readiness: the database answers. Reads would still be served from memory
/// without it, but writes would not, so a balancer should know.
async fn readyz(State(state): State<AppState>) -> Response {
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

async fn metrics(State(state): State<AppState>) -> Response {
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
            Some(handle)
        })
        .clone()
}

/// Handles of the per-request metrics, by (method, route, status), so that a
/// request costs a map lookup instead of building metric keys.
#[derive(Default)]
pub struct HttpMetrics {
    counters: RwLock<HashMap<(Method, String, u16), metrics::Counter>>,
    histograms: RwLock<HashMap<String, metrics::Histogram>>,
}

impl HttpMetrics {
    fn record(&self, method: &Method, route: &str, status: u16, seconds: f64) {
        let counter = self
            .counters
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(&(method.clone(), route.to_string(), status))
            .cloned();
        let counter = counter.unwrap_or_else(|| {
            let counter = metrics::counter!(
                "cohort_http_requests_total",
                "method" => method.to_string(),
                "route" => route.to_string(),
                "status" => status.to_string()
            );
            self.counters
                .write()
                .unwrap_or_else(|e| e.into_inner())
                .insert((method.clone(), route.to_string(), status), counter.clone());
            counter
        });
        counter.increment(1);
        let histogram = self
            .histograms
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(route)
            .cloned();
        let histogram = histogram.unwrap_or_else(|| {
            let histogram = metrics::histogram!("cohort_http_request_duration_seconds", "route" => route.to_string());
            self.histograms
                .write()
                .unwrap_or_else(|e| e.into_inner())
                .insert(route.to_string(), histogram.clone());
            histogram
        });
        histogram.record(seconds);
    }
}

/// Per request: the `cohort_http_*` metrics labelled by route (never by raw
/// path), and at `info` level a log line with the request id, route, status
/// and latency.
pub async fn track(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = request.method().clone();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| "unmatched".to_string());
    // Only paid for when request logs are on.
    let logged = tracing::enabled!(tracing::Level::INFO).then(|| {
        let id = request
            .headers()
            .get(&REQUEST_ID)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string();
        (id, request.uri().path().to_string())
    });
    let response = next.run(request).await;
    let elapsed = started.elapsed();
    let status = response.status().as_u16();
    state
        .http_metrics
        .record(&method, &route, status, elapsed.as_secs_f64());
    if let Some((request_id, path)) = logged {
        tracing::info!(
            request_id = %request_id,
            method = %method,
            path = %path,
            route = %route,
            status,
            micros = elapsed.as_micros() as u64,
            "request"
        );
    }
    response
}

/// Request ids: a random per-process prefix and a counter. Unique, cheap (no
/// system call per request, unlike a v4 UUID), and sortable within a process.
#[derive(Clone)]
pub struct CountingRequestId {
    prefix: Arc<str>,
    next: Arc<AtomicU64>,
}

impl Default for CountingRequestId {
    fn default() -> Self {
        CountingRequestId {
            prefix: Arc::from(uuid::Uuid::new_v4().simple().to_string()[..12].to_string()),
            next: Arc::new(AtomicU64::new(1)),
        }
    }
}

impl MakeRequestId for CountingRequestId {
    fn make_request_id<B>(&mut self, _: &axum::http::Request<B>) -> Option<RequestId> {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        HeaderValue::from_str(&format!("{}-{n}", self.prefix))
            .ok()
            .map(RequestId::new)
    }
}

/// `x-request-id`: kept when the client sends one, generated otherwise, and
/// echoed on the response.
pub fn request_id_layers(
) -> tower::layer::util::Stack<PropagateRequestIdLayer, SetRequestIdLayer<CountingRequestId>> {
    tower::layer::util::Stack::new(
        PropagateRequestIdLayer::new(REQUEST_ID.clone()),
        SetRequestIdLayer::new(REQUEST_ID.clone(), CountingRequestId::default()),
    )
}
