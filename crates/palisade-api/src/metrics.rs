//! Prometheus metrics: recorded through the `metrics` facade where things happen (one
//! middleware for requests, [`crate::frame::log`] for refusals), rendered by
//! `metrics-exporter-prometheus` at `GET /metrics` (on the main listener; open, as Prometheus
//! usually scrapes, unless `--metrics-token` is set). Request series are labelled by route
//! template, never by a path's ids; the policy gauges name organizations and servers by id,
//! never tokens, names or addresses.
//!
//! IPAM utilisation per prefix is not here: addresses are stored without the prefix they came
//! from, so it would take reading every address of every network at each scrape.
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
        metrics::describe_counter!(POOL_ACQUIRED, "Database read handles and write transactions opened");
        metrics::describe_counter!(
            POOL_WAIT,
            "Time spent waiting for database handles: a pooled connection, or SQLite's write turn"
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

/// Connections of the pool, by `state` (`in_use`, `idle`).
pub const POOL: &str = "palisade_db_pool_connections";
/// Read handles and write transactions opened, and the time callers waited for them (a pooled
/// connection, or SQLite's write turn): their rate's ratio is the mean wait.
pub const POOL_ACQUIRED: &str = "palisade_db_pool_acquired_total";
pub const POOL_WAIT: &str = "palisade_db_pool_acquire_wait_microseconds_total";
/// SQLite: writers waiting for the one write connection.
pub const WRITE_QUEUE: &str = "palisade_sqlite_write_queue_depth";
/// Each organization's policy revision, by `organization` (id).
pub const POLICY_REVISION: &str = "palisade_policy_revision";
/// Each reporting server's applied-revision lag, by `organization` and `server` (ids).
pub const POLICY_LAG: &str = "palisade_server_policy_revision_lag";
/// Most organizations (and most servers) one scrape reports on: a scrape is two bounded reads.
/// Addresses of a network's prefix, by `state`: `used` (address records taken from it) and
/// `free` (allocatable ones left: host addresses less reserved ranges less those taken).
pub const IPAM: &str = "palisade_ipam_addresses";
const MAX_GAUGE_SERIES: u32 = 10_000;

/// Whether `given` is the configured metrics token (compared by digest, in constant time for
/// equal lengths of digest).
pub fn token_matches(given: &str, expected: &str) -> bool {
    use sha2::{Digest, Sha256};
    let (a, b) = (Sha256::digest(given.as_bytes()), Sha256::digest(expected.as_bytes()));
    a.iter().zip(b.iter()).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The Prometheus text of every series, with the gauges read now: the pool and write queue (no
/// query), and policy revisions and lags (one bounded read; skipped, with a warning, when the
/// database does not answer, so the request counters still reach the scraper).
///
/// Gauges live in the process-wide recorder: an organization deleted since keeps its last
/// value until the process restarts.
pub async fn scrape(core: &palisade_core::Core) -> String {
    let handle = install();
    let pool = core.pool_stats();
    metrics::gauge!(POOL, "state" => "in_use").set(f64::from(pool.size.saturating_sub(pool.idle)));
    metrics::gauge!(POOL, "state" => "idle").set(f64::from(pool.idle));
    metrics::counter!(POOL_ACQUIRED).absolute(pool.acquired);
    metrics::counter!(POOL_WAIT).absolute(u64::try_from(pool.acquire_wait.as_micros()).unwrap_or(u64::MAX));
    if let Some(queue) = pool.write_queue {
        #[allow(clippy::cast_precision_loss)]
        metrics::gauge!(WRITE_QUEUE).set(queue as f64);
    }
    match core.policy_gauges(MAX_GAUGE_SERIES).await {
        Ok(gauges) => {
            for (org, revision) in gauges.revisions {
                #[allow(clippy::cast_precision_loss)]
                metrics::gauge!(POLICY_REVISION, "organization" => org.to_string()).set(revision as f64);
            }
            for (org, server, lag) in gauges.lags {
                #[allow(clippy::cast_precision_loss)]
                metrics::gauge!(POLICY_LAG, "organization" => org.to_string(), "server" => server.to_string())
                    .set(lag as f64);
            }
        }
        Err(e) => tracing::warn!(error = %e, "metrics: could not read policy revisions"),
    }
    match core.ipam_gauges(MAX_GAUGE_SERIES).await {
        Ok(prefixes) => {
            for p in prefixes {
                let (network, prefix) = (p.network.to_string(), p.prefixes);
                #[allow(clippy::cast_precision_loss)]
                let (used, free) = (p.used as f64, p.free as f64);
                let labels = |state: &'static str| {
                    [("network", network.clone()), ("prefix", prefix.clone()), ("state", state.to_owned())]
                };
                metrics::gauge!(IPAM, &labels("used")).set(used);
                metrics::gauge!(IPAM, &labels("free")).set(free);
            }
        }
        Err(e) => tracing::warn!(error = %e, "metrics: could not read address use"),
    }
    handle.run_upkeep();
    handle.render()
}
