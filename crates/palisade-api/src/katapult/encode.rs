//! Katapult's wire encoding: compact JSON in schema key order (struct field order), explicit
//! `null`s, Rails-style escaping of `&`, `<`, `>`, a weak ETag over the body, and the headers
//! every Katapult response carries.

use axum::http::{header, HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use sha2::{Digest, Sha256};

use super::error::{Detail, Rendered};

/// Compact JSON with `&`, `<`, `>` escaped as `\u0026`, `\u003c`, `\u003e`. Those characters
/// can only occur inside JSON strings, so replacing them in the output is exact.
pub fn to_json<T: Serialize>(value: &T) -> String {
    let text = serde_json::to_string(value).unwrap_or_else(|_| "{}".to_owned());
    text.replace('&', "\\u0026").replace('<', "\\u003c").replace('>', "\\u003e")
}

fn weak_etag(body: &str) -> String {
    let digest = Sha256::digest(body.as_bytes());
    let hex: String = digest.iter().take(16).map(|b| format!("{b:02x}")).collect();
    format!("W/\"{hex}\"")
}

fn json_response(status: StatusCode, body: String) -> Response {
    let mut response = (status, body).into_response();
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

/// A 200 response with its ETag.
pub fn ok<T: Serialize>(value: &T) -> Response {
    with_status(StatusCode::OK, value)
}

/// A success response with another status (Katapult creates address lists with 201).
pub fn with_status<T: Serialize>(status: StatusCode, value: &T) -> Response {
    let body = to_json(value);
    let etag = weak_etag(&body);
    let mut response = json_response(status, body);
    let headers = response.headers_mut();
    if let Ok(etag) = HeaderValue::from_str(&etag) {
        headers.insert(header::ETAG, etag);
    }
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("max-age=0, private, must-revalidate"));
    response
}

#[derive(Serialize)]
struct Envelope<'a> {
    error: Body<'a>,
}

#[derive(Serialize)]
struct Body<'a> {
    code: &'a str,
    description: &'a str,
    detail: &'a Detail,
}

/// An error in Apia's envelope.
pub fn error(rendered: &Rendered) -> Response {
    let body = to_json(&Envelope {
        error: Body { code: &rendered.code, description: &rendered.description, detail: &rendered.detail },
    });
    let mut response = json_response(rendered.status, body);
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    headers.insert(HeaderName::from_static("x-api-schema"), HeaderValue::from_static("json-error"));
    if let Some(seconds) = rendered.retry_after {
        headers.insert(header::RETRY_AFTER, HeaderValue::from(seconds));
    }
    response
}

/// Headers on every response: request id, rate limit, CORS.
pub fn common_headers(headers: &mut HeaderMap, permitted: u32, remaining: u32) {
    frame_headers(headers);
    let pairs = [("x-ratelimit-permitted", permitted), ("x-ratelimit-remaining", remaining)];
    for (name, value) in pairs {
        headers.insert(HeaderName::from_static(name), HeaderValue::from(value));
    }
}

/// The headers every response carries, counted or not: request id, CORS, `Vary`.
pub fn frame_headers(headers: &mut HeaderMap) {
    crate::frame::request_id::stamp(headers);
    let pairs = [
        ("access-control-allow-origin", "*"),
        ("access-control-allow-methods", "GET, POST, PUT, PATCH, DELETE, OPTIONS"),
        ("access-control-allow-headers", "Authorization, Content-Type"),
        ("vary", "Accept-Encoding"),
    ];
    for (name, value) in pairs {
        headers.insert(HeaderName::from_static(name), HeaderValue::from_static(value));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rails_escaping_and_etag() {
        let body = to_json(&serde_json::json!({"notes": "HTTP & HTTPS <b>"}));
        assert_eq!(body, r#"{"notes":"HTTP \u0026 HTTPS \u003cb\u003e"}"#);
        // Recorded in the cassettes: W/" + first 32 hex chars of SHA-256(body) + ".
        let recorded = r#"{"network":{"id":"netw_gVRkZdSKczfNg34P","name":"Public Network","permalink":"uk-lon-01-public","default":true,"data_center":{"id":"loc_UUhPmoCbpic6UX0Y","name":"London","permalink":"uk-lon-01"}}}"#;
        assert_eq!(weak_etag(recorded), "W/\"2c9b33d800419097f42e5eccf7b390c3\"");
    }
}
