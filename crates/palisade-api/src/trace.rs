//! The request-logging layer: tower-http's `TraceLayer` with a span that cannot leak a secret.
//!
//! tower-http's default span records the whole URI, so a token a client puts in a query string
//! (`?token=pal_…`) would reach the log at DEBUG. This span records the method, the path and the
//! query with every value replaced by `[redacted]` (keys kept, so the log still says what was
//! asked), and never the headers (where credentials live) nor an absolute-form URI's authority
//! (which may carry `user:password@`).

use axum::http::Request;
use tower_http::classify::{ServerErrorsAsFailures, SharedClassifier};
use tower_http::trace::{MakeSpan, TraceLayer};
use tracing::Span;

/// What stands in for every query value.
pub const REDACTED: &str = "[redacted]";

/// Query pairs logged at most (the rest is summarised as `&…`).
const MAX_PAIRS: usize = 32;
/// Longest key logged, in bytes (longer keys are cut at a character boundary and marked `…`).
const MAX_KEY: usize = 64;

/// The span of one request: `request{method=GET path=/api/v1/… query=page=[redacted]}`.
#[derive(Debug, Clone, Copy, Default)]
pub struct RedactedSpan;

impl<B> MakeSpan<B> for RedactedSpan {
    fn make_span(&mut self, request: &Request<B>) -> Span {
        let query = request.uri().query().map(redact_query).unwrap_or_default();
        tracing::debug_span!(
            "request",
            method = %request.method(),
            path = %request.uri().path(),
            query = %query,
            version = ?request.version(),
        )
    }
}

/// The HTTP trace layer every server uses.
pub fn layer() -> TraceLayer<SharedClassifier<ServerErrorsAsFailures>, RedactedSpan> {
    TraceLayer::new_for_http().make_span_with(RedactedSpan)
}

/// `token=abc&page=2` → `token=[redacted]&page=[redacted]`. A part without `=` could itself be
/// the secret (`?pal_…`), so it is redacted whole.
pub fn redact_query(query: &str) -> String {
    let mut out = String::new();
    for (i, part) in query.split('&').enumerate() {
        if i == MAX_PAIRS {
            out.push_str("&…");
            break;
        }
        if i > 0 {
            out.push('&');
        }
        match part.split_once('=') {
            Some((key, _)) => {
                out.push_str(&shorten(key));
                out.push('=');
                out.push_str(REDACTED);
            }
            None if part.is_empty() => {}
            None => out.push_str(REDACTED),
        }
    }
    out
}

fn shorten(key: &str) -> String {
    if key.len() <= MAX_KEY {
        return key.to_owned();
    }
    let mut end = MAX_KEY;
    while !key.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &key[..end])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_redacted_and_keys_kept() {
        assert_eq!(redact_query("token=pal_1_secret&page=2"), "token=[redacted]&page=[redacted]");
        assert_eq!(redact_query("a%5Bb%5D=x&empty="), "a%5Bb%5D=[redacted]&empty=[redacted]");
        assert_eq!(redact_query("pal_1_secret"), "[redacted]");
        assert_eq!(redact_query("k=v=w&&x"), "k=[redacted]&&[redacted]");
        assert_eq!(redact_query(""), "");
    }

    #[test]
    fn long_queries_are_bounded() {
        let many = vec!["k=v"; 100].join("&");
        let got = redact_query(&many);
        assert_eq!(got.matches(REDACTED).count(), MAX_PAIRS);
        assert!(got.ends_with("&…"));
        let long_key = format!("{}=v", "é".repeat(100));
        let got = redact_query(&long_key);
        assert!(got.len() < 80 && got.ends_with("…=[redacted]"), "{got}");
    }
}
