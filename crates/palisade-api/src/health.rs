//! Liveness and readiness probes for load balancers and orchestrators.
//!
//! `/healthz` answers as long as the process serves HTTP; `/readyz` only when the database does,
//! so a node that lost its database is taken out of rotation instead of failing requests.
//!
//! `/metrics` is Prometheus' scrape ([`crate::metrics`]): open like the probes, as scrapers
//! usually carry no credentials, unless a metrics token is configured; it never shows secrets.
//!
//! [`starting`] is what a node serves before its database first answered: it listens at once
//! (so orchestrators see it alive), is not ready, and answers every API request 503 in the
//! envelope of the face the path belongs to.

use axum::extract::State;
use axum::http::{header, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use palisade_core::Error;
use serde_json::{json, Value};

use crate::frame::routes::{Guard, Routes};
use crate::frame::Face;
use crate::AppState;

/// The probes and the metrics (no credentials), answered in the native envelope like every path
/// no vendor face claims.
pub fn routes() -> Routes {
    Routes::new(Face::Native).get("/healthz", Guard::Open, healthz).get("/readyz", Guard::Open, readyz).get(
        "/metrics",
        Guard::Open,
        scrape,
    )
}

/// `GET /metrics`: Prometheus' text format ([`crate::metrics`]).
async fn scrape(State(state): State<AppState>, parts: axum::http::request::Parts) -> Response {
    if let Some(expected) = &state.config.metrics_token {
        let given = crate::frame::credentials::bearer(&parts).unwrap_or_default();
        if !crate::metrics::token_matches(given, expected) {
            let error = Error::Unauthenticated(palisade_core::error::Unauthenticated::InvalidCredentials);
            return crate::frame::render(error, "GET", "/metrics");
        }
    }
    let body = crate::metrics::scrape(&state.core).await;
    let mut response = body.into_response();
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"));
    response
}

/// The probes and a 503 for everything else, until the database is open and migrated.
pub fn starting() -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(not_ready))
        .method_not_allowed_fallback(crate::frame::fallback::method_not_allowed)
        .fallback(unavailable)
}

async fn not_ready() -> (StatusCode, Json<Value>) {
    (StatusCode::SERVICE_UNAVAILABLE, Json(json!({"status": "starting", "reason": "database not ready yet"})))
}

async fn unavailable(method: Method, uri: Uri) -> Response {
    let error = Error::Unavailable("the database is not ready yet (starting)".into());
    crate::frame::render(error, method.as_str(), uri.path())
}

async fn healthz() -> Json<Value> {
    Json(json!({"status": "ok"}))
}

async fn readyz(State(state): State<AppState>) -> (StatusCode, Json<Value>) {
    match state.core.ready().await {
        Ok(()) => (StatusCode::OK, Json(json!({"status": "ready"}))),
        Err(e) => {
            tracing::warn!(error = %e, "readiness check failed");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(json!({"status": "unavailable", "reason": "database unreachable"})),
            )
        }
    }
}
