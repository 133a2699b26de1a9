//! Prometheus metrics: recorded through the `metrics` facade where things happen (one
//! middleware for requests, [`crate::frame::log`] for refusals), rendered by
//! `metrics-exporter-prometheus` at `GET /metrics` (on the main listener, without credentials,
//! as Prometheus scrapes: the series name routes and counts, never ids, tokens or addresses).
//!
//! The recorder is process-global: [`install`] sets it once (a `OnceLock`), so several servers
//! in one process (the tests) share it and each sees every server's counts; tests compare
//! deltas. Histograms have real buckets (not summaries), so they aggregate across nodes.

use std::sync::OnceLock;
use std::time::Duration;

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use palisade_core::error::RateLimit;
use palisade_core::Error;

/// Requests answered, by face, route template, method and status.
pub const REQUESTS: &str = "palisade_http_requests_total";
/// Their latency, in seconds, by face, route template and method.
pub const LATENCY: &str = "palisade_http_request_duration_seconds";
/// Requests refused by a rate limit, by face and limit (`requests`, `failed_authentications`).
pub const RATE_LIMITED: &str = "palisade_rate_limited_total";
/// Requests refused for missing, invalid or expired credentials, by face.
pub const AUTH_FAILURES: &str = "palisade_authentication_failures_total";

const LATENCY_BUCKETS: &[f64] =
    &[0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0];

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// The process's recorder, installed on first use.
pub fn install() -> &'static PrometheusHandle {
    HANDLE.get_or_init(|| {
        let builder = PrometheusBuilder::new()
            .set_buckets_for_metric(Matcher::Full(LATENCY.to_owned()), LATENCY_BUCKETS)
            .unwrap_or_else(|_| PrometheusBuilder::new());
        let recorder = builder.build_recorder();
        let handle = recorder.handle();
        if metrics::set_global_recorder(recorder).is_err() {
            tracing::warn!("another metrics recorder is installed; /metrics shows only its own series");
        }
        metrics::describe_counter!(REQUESTS, "HTTP requests answered");
        metrics::describe_histogram!(LATENCY, metrics::Unit::Seconds, "HTTP request latency");
        metrics::describe_counter!(RATE_LIMITED, "Requests refused by a rate limit");
        metrics::describe_counter!(
            AUTH_FAILURES,
            "Requests refused for missing, invalid or expired credentials"
        );
        handle
    })
}

/// Counts one answered request.
pub fn request(face: &'static str, route: &str, method: &'static str, status: u16, latency: Duration) {
    let route = route.to_owned();
    metrics::counter!(REQUESTS, "face" => face, "route" => route.clone(), "method" => method, "status" => status.to_string())
        .increment(1);
    metrics::histogram!(LATENCY, "face" => face, "route" => route, "method" => method)
        .record(latency.as_secs_f64());
}

/// Counts a refusal worth alerting on (called once per rendered error, by [`crate::frame::log`]).
pub fn refusal(error: &Error) {
    let face = crate::frame::request_id::current_face();
    match error {
        Error::Unauthenticated(_) => auth_failure(face),
        Error::RateLimited { what, .. } => {
            let limit = match what {
                RateLimit::Requests => "requests",
                RateLimit::FailedAuthentications => "failed_authentications",
            };
            metrics::counter!(RATE_LIMITED, "face" => face, "limit" => limit).increment(1);
        }
        _ => {}
    }
}

/// Counts a failed authentication on `face`.
pub fn auth_failure(face: &'static str) {
    metrics::counter!(AUTH_FAILURES, "face" => face).increment(1);
}

/// The Prometheus text of every series, with the gauges read now (the database pool).
pub async fn scrape(core: &palisade_core::Core) -> String {
    let _ = core;
    let handle = install();
    handle.run_upkeep();
    handle.render()
}
