//! One request-body limit (`--max-body-bytes`) for every face, enforced before anything parses.
//!
//! Two parts, so that no face can forget it:
//!
//! - [`layer`] puts axum's `DefaultBodyLimit` on the whole router, so every `Bytes` extractor
//!   (each face's body reader) stops reading at the configured limit, chunked bodies included,
//!   and refuses with a length-limit rejection that [`read_error`] turns into
//!   [`BadRequest::TooLarge`], which each face renders as its 413;
//! - [`refuse_declared`] answers a `Content-Length` above the limit at once, in the envelope of
//!   the face that owns the path (`frame`), without reading a byte of the body.
//!
//! The early answer comes before authentication, also on Katapult (whose dispatcher otherwise
//! authenticates, counts the rate limit and checks scopes before reading arguments, in Apia's
//! order). It reveals nothing: the answer depends only on the declared length and the path's
//! face, never on credentials or on what exists, as a front proxy's `client_max_body_size`
//! would. A chunked body that grows past the limit is still read only after those checks.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, Request};
use axum::http::header::CONTENT_LENGTH;
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::Response;
use palisade_core::error::BadRequest;
use palisade_core::Error;

use crate::frame;

/// The layer that makes every body extractor stop at `limit` bytes.
pub fn layer(limit: usize) -> DefaultBodyLimit {
    DefaultBodyLimit::max(limit)
}

/// Answers 413 in the path's face when the declared `Content-Length` exceeds `limit`.
pub async fn refuse_declared(limit: usize, request: Request, next: Next) -> Response {
    let declared = request
        .headers()
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    if declared.is_some_and(|n| n > u64::try_from(limit).unwrap_or(u64::MAX)) {
        let error = Error::BadRequest(BadRequest::TooLarge { limit });
        return frame::render(error, request.method().as_str(), request.uri().path());
    }
    next.run(request).await
}

/// A failure to read a body as the core error it is: over the limit is
/// [`BadRequest::TooLarge`] quoting `limit`; anything else (the client went away, the body was
/// cut short) is a malformed body.
pub fn read_error(rejection: BytesRejection, limit: usize) -> Error {
    if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
        Error::BadRequest(BadRequest::TooLarge { limit })
    } else {
        Error::BadRequest(BadRequest::MalformedBody {
            path: None,
            message: crate::frame::json_words::json_words(&rejection.body_text()),
        })
    }
}

/// Reads a whole body within the router's limit (see [`layer`]).
pub async fn read(request: Request, limit: usize) -> Result<Bytes, Error> {
    use axum::extract::FromRequest;
    Bytes::from_request(request, &()).await.map_err(|r| read_error(r, limit))
}
