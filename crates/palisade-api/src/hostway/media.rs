//! Hostway writes must say they are JSON.
//!
//! Hostway authenticates with HTTP Basic, which browsers remember and send on their own, and
//! its 401 carries `WWW-Authenticate: Basic`. A page on another site could then make a
//! logged-in browser post to this face: an HTML form (`application/x-www-form-urlencoded`,
//! `multipart/form-data`, `text/plain`) or a `fetch` without a content type needs no CORS
//! preflight. A request body must therefore come with `Content-Type: application/json` (any
//! parameters, `; charset=UTF-8`, and the founding document's space-separated
//! `application/json Charset=UTF-8` included), which only a same-origin page or a non-browser
//! client can send; anything else is `415 badMediaType` before the body is read. A write without
//! a body needs no content type (it is answered `400` as Hostway documents).

use axum::http::header::{CONTENT_LENGTH, CONTENT_TYPE, TRANSFER_ENCODING};
use axum::http::HeaderMap;
use palisade_core::error::BadRequest;
use palisade_core::Error;

/// `Ok` when the request is JSON or carries no body.
pub fn require_json(headers: &HeaderMap) -> Result<(), Error> {
    let refused = || Err(Error::BadRequest(BadRequest::UnsupportedMediaType));
    match headers.get(CONTENT_TYPE) {
        Some(value) => {
            let text = value.to_str().unwrap_or_default();
            let essence = text.split([';', ',', ' ', '\t']).next().unwrap_or_default();
            if essence.eq_ignore_ascii_case("application/json") {
                Ok(())
            } else {
                refused()
            }
        }
        None if has_body(headers) => refused(),
        None => Ok(()),
    }
}

/// Whether the request announces a body (HTTP/1.1 framing: a non-zero length, or chunks).
fn has_body(headers: &HeaderMap) -> bool {
    if headers.contains_key(TRANSFER_ENCODING) {
        return true;
    }
    match headers.get(CONTENT_LENGTH) {
        None => false,
        Some(v) => v.to_str().ok().and_then(|v| v.trim().parse::<u64>().ok()) != Some(0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, HeaderValue::from_static(v));
        }
        h
    }

    #[test]
    fn json_with_or_without_parameters_is_accepted() {
        for ct in ["application/json", "Application/JSON; charset=UTF-8", "application/json Charset=UTF-8"] {
            assert!(require_json(&headers(&[("content-type", ct), ("content-length", "2")])).is_ok(), "{ct}");
        }
    }

    #[test]
    fn forms_text_and_untyped_bodies_are_refused() {
        for ct in [
            "application/x-www-form-urlencoded",
            "multipart/form-data; boundary=x",
            "text/plain",
            "application/jsonp",
            "",
        ] {
            assert!(
                require_json(&headers(&[("content-type", ct), ("content-length", "2")])).is_err(),
                "{ct}"
            );
        }
        assert!(require_json(&headers(&[("content-length", "2")])).is_err());
        assert!(require_json(&headers(&[("transfer-encoding", "chunked")])).is_err());
        // No body at all: nothing to refuse.
        assert!(require_json(&headers(&[])).is_ok());
        assert!(require_json(&headers(&[("content-length", "0")])).is_ok());
    }
}
