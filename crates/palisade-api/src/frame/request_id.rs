//! Request ids, and what the request log learns about a request while a face handles it.
//!
//! Every request gets one id ([`crate::observe`] assigns it before any face runs): the client's
//! own `X-Request-ID` when it is [`sane`] (short, from a small set of printable characters, so
//! it cannot forge log lines), else a fresh random UUID. Every face answers it as
//! `X-Request-ID`, and Hostway also puts it in each fault as `errorid`, so a client's report,
//! the response and the log line name the same request.
//!
//! The id and the facts only a face learns (the authenticated caller's organization, a
//! dispatcher's own route template) live in a task-local [`RequestContext`], so the frame's
//! credential extractors and the Katapult dispatcher can record them without threading them
//! through every handler. Outside a request (unit tests, spawned tasks) there is none, and
//! [`current`] falls back to a fresh id.

use std::sync::{Arc, Mutex};

use axum::http::{HeaderMap, HeaderName, HeaderValue};
use axum::response::Response;
use palisade_core::Principal;

pub const HEADER: HeaderName = HeaderName::from_static("x-request-id");

/// Longest client-supplied request id kept.
const MAX_LEN: usize = 64;

/// What one request's log line needs from inside the faces.
#[derive(Debug, Default)]
pub struct RequestContext {
    pub id: String,
    /// The face label ([`crate::observe::face_label`]).
    pub face: &'static str,
    found: Mutex<Found>,
}

/// Learned while the request is handled.
#[derive(Debug, Default, Clone)]
pub struct Found {
    /// The authenticated caller's organization (none for the operator).
    pub organization_id: Option<String>,
    /// A route template the face's own dispatcher matched (Katapult's Apia table), when
    /// axum's matched path is only the dispatcher's catch-all.
    pub route: Option<String>,
}

impl RequestContext {
    pub fn new(id: String, face: &'static str) -> Arc<Self> {
        Arc::new(Self { id, face, found: Mutex::default() })
    }

    /// What the faces recorded.
    pub fn found(&self) -> Found {
        self.found.lock().map(|f| f.clone()).unwrap_or_default()
    }
}

tokio::task_local! {
    static CONTEXT: Arc<RequestContext>;
}

/// Runs `future` (the rest of the request) with `context` as the current request's.
pub async fn scope<F: std::future::Future>(context: Arc<RequestContext>, future: F) -> F::Output {
    CONTEXT.scope(context, future).await
}

fn with_found(f: impl FnOnce(&mut Found)) {
    let _ = CONTEXT.try_with(|c| {
        if let Ok(mut found) = c.found.lock() {
            f(&mut found);
        }
    });
}

/// Records who the request authenticated as.
pub fn note_principal(principal: &Principal) {
    if let Some(org) = principal.organization_id() {
        with_found(|f| f.organization_id = Some(org.to_string()));
    }
}

/// Records the route template a face's own dispatcher matched.
pub fn note_route(template: String) {
    with_found(|f| f.route = Some(template));
}

/// The client's request id, if it is one to repeat: 1 to 64 ASCII letters, digits or `-_.:`.
pub fn sane(value: &HeaderValue) -> Option<String> {
    let bytes = value.as_bytes();
    let ok = !bytes.is_empty()
        && bytes.len() <= MAX_LEN
        && bytes.iter().all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(b));
    ok.then(|| String::from_utf8_lossy(bytes).into_owned())
}

/// A new request id.
pub fn fresh() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// The current request's face label (`other` outside a request).
pub fn current_face() -> &'static str {
    CONTEXT.try_with(|c| c.face).unwrap_or("other")
}

/// The current request's id (a fresh one outside a request).
pub fn current() -> String {
    CONTEXT.try_with(|c| c.id.clone()).unwrap_or_else(|_| fresh())
}

/// Sets `X-Request-ID` to the current request's id.
pub fn stamp(headers: &mut HeaderMap) {
    if let Ok(value) = HeaderValue::from_str(&current()) {
        headers.insert(HEADER, value);
    }
}

/// [`stamp`] as a response mapper (`axum::middleware::map_response`).
pub async fn stamped(mut response: Response) -> Response {
    stamp(response.headers_mut());
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_short_plain_ids_are_repeated() {
        let v = |s: &str| sane(&HeaderValue::from_str(s).unwrap());
        assert_eq!(v("abc-123_x.y:z").as_deref(), Some("abc-123_x.y:z"));
        assert_eq!(v(""), None);
        assert_eq!(v("a b"), None);
        assert_eq!(v("a\"b"), None);
        assert_eq!(v(&"a".repeat(65)), None);
        assert!(v(&"a".repeat(64)).is_some());
    }
}
