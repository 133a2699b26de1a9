//! A deadline for a request's whole body: a client that sends its headers and then trickles
//! the body is answered 408, in its face's envelope, and its connection closed.
//!
//! `tower_http::timeout::RequestBodyTimeoutLayer` bounds the wait *between* frames, so a client
//! sending a byte just often enough would never time out; this bounds the whole body. The
//! clock starts when the head has been read (when the router is called). The face's handler
//! sees a failed body read (and answers whatever it answers to that); the middleware knows the
//! deadline caused it and answers 408 instead, through `palisade_api::frame`.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::{Body, Bytes, HttpBody};
use axum::extract::{Request, State};
use axum::http::{header, HeaderValue};
use axum::middleware::Next;
use axum::response::Response;
use palisade_core::error::{BadRequest, Error};
use tokio::time::Sleep;

/// Middleware (`axum::middleware::from_fn_with_state`) giving each request's body `limit`.
pub(crate) async fn enforce(State(limit): State<Duration>, request: Request, next: Next) -> Response {
    if request.body().is_end_stream() {
        return next.run(request).await;
    }
    let (method, path) = (request.method().clone(), request.uri().path().to_owned());
    let expired = Arc::new(AtomicBool::new(false));
    let request = request.map(|body| {
        Body::new(Deadline { body, sleep: Box::pin(tokio::time::sleep(limit)), expired: expired.clone() })
    });
    let response = next.run(request).await;
    if !expired.load(Ordering::Acquire) {
        return response;
    }
    tracing::debug!(%method, path, "request body timed out");
    let limit_ms = u64::try_from(limit.as_millis()).unwrap_or(u64::MAX);
    let mut response = palisade_api::frame::render(
        Error::BadRequest(BadRequest::BodyTimeout { limit_ms }),
        method.as_str(),
        &path,
    );
    // The rest of the body may still be on its way: this connection cannot carry another request.
    response.headers_mut().insert(header::CONNECTION, HeaderValue::from_static("close"));
    response
}

/// A request body that fails once its deadline has passed.
struct Deadline {
    body: Body,
    sleep: Pin<Box<Sleep>>,
    expired: Arc<AtomicBool>,
}

impl HttpBody for Deadline {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, axum::Error>>> {
        // The deadline first: a client whose bytes are always ready must not outrun it.
        if self.sleep.as_mut().poll(cx).is_ready() {
            self.expired.store(true, Ordering::Release);
            return Poll::Ready(Some(Err(axum::Error::new("the request body did not arrive in time"))));
        }
        Pin::new(&mut self.body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.body.size_hint()
    }
}
