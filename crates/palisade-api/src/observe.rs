//! What an operator sees of each request: its id, one log line, and its metrics — written once,
//! as one middleware around every face, so handlers stay thin and no face can forget it.
//!
//! - **Request id**: the client's `X-Request-ID` when sane, else a fresh UUID
//!   ([`crate::frame::request_id`]); echoed as `X-Request-ID` on every response of every face.
//! - **Log line** (INFO, target `palisade::access`): method, route *template* (never the raw path,
//!   so never a query value nor an id-shaped secret; [`crate::trace`]'s DEBUG span has the
//!   redacted path for those who need it), status, latency, request id, face, the authenticated
//!   caller's organization when the face learned it, and the client's address (the TCP peer, or
//!   what a trusted proxy forwarded: [`crate::forwarded`]). No header is ever logged.
//! - **Audit origin**: the face and request id, for the audit events of the changes the request
//!   makes ([`palisade_core::audit::within`]).
//! - **Metrics** ([`crate::metrics`]): requests by face, route template, method and status, and
//!   their latency histogram. Labels come from the route table and a fixed method list, so a
//!   client cannot grow the number of series: unknown paths are all `route="unmatched"`.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Instant;

use axum::extract::{ConnectInfo, MatchedPath, Request, State};
use axum::http::{HeaderValue, Method};
use axum::middleware::Next;
use axum::response::Response;
use ipnet::IpNet;

use crate::frame::request_id::{self, RequestContext};
use crate::frame::Face;

/// The route label of a request no route matched.
pub const UNMATCHED: &str = "unmatched";

/// What the middleware needs: the proxies whose `X-Forwarded-For` is believed.
#[derive(Debug, Clone, Default)]
pub struct Observe {
    pub trusted_proxies: Arc<Vec<IpNet>>,
}

/// The face label of a path: a vendor face, `native` for `/api/…`, `other` for the probes,
/// `/metrics` and unknown paths outside every face.
pub fn face_label(path: &str) -> &'static str {
    match Face::of(path) {
        Face::Native if !(path == "/api" || path.starts_with("/api/")) => "other",
        face => face.name(),
    }
}

/// The method label: the standard methods by name, anything else `other`.
pub fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}

fn client_address(request: &Request, trusted: &[IpNet]) -> Option<IpAddr> {
    let peer = request.extensions().get::<ConnectInfo<SocketAddr>>().map(|ConnectInfo(a)| a.ip())?;
    Some(
        crate::forwarded::from_proxy(peer, request.headers(), trusted)
            .map_or_else(|| peer.to_canonical(), |f| f.client),
    )
}

/// The middleware (`axum::middleware::from_fn_with_state`), outermost around the API router.
pub async fn observe(State(observe): State<Observe>, request: Request, next: Next) -> Response {
    let started = Instant::now();
    let id = request
        .headers()
        .get(request_id::HEADER)
        .and_then(request_id::sane)
        .unwrap_or_else(request_id::fresh);
    let method = method_label(request.method());
    let face = face_label(request.uri().path());
    let matched = request.extensions().get::<MatchedPath>().map(|m| m.as_str().to_owned());
    let client = client_address(&request, &observe.trusted_proxies);
    let context = RequestContext::new(id, face);
    // The audit trail names the face and request of every change the request makes.
    let origin = palisade_core::audit::Origin { face: face.to_owned(), request_id: Some(context.id.clone()) };
    let run = palisade_core::audit::within(origin, next.run(request));
    let mut response = request_id::scope(context.clone(), run).await;
    let latency = started.elapsed();
    let found = context.found();
    // A dispatcher's own template is more precise than axum's catch-all.
    let route = found.route.or(matched).unwrap_or_else(|| UNMATCHED.to_owned());
    let status = response.status().as_u16();
    if let Ok(value) = HeaderValue::from_str(&context.id) {
        response.headers_mut().insert(request_id::HEADER, value);
    }
    crate::metrics::request(face, &route, method, status, latency);
    tracing::info!(
        target: "palisade::access",
        method,
        route = %route,
        status,
        latency_ms = latency.as_secs_f64() * 1000.0,
        request_id = %context.id,
        face,
        organization_id = found.organization_id.as_deref(),
        client = client.map(tracing::field::display),
        "request"
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_bounded() {
        assert_eq!(face_label("/api/v1/organizations"), "native");
        assert_eq!(face_label("/healthz"), "other");
        assert_eq!(face_label("/metrics"), "other");
        assert_eq!(face_label("/core/v1/organizations"), "katapult");
        assert_eq!(method_label(&Method::from_bytes(b"BREW").unwrap()), "other");
    }
}
