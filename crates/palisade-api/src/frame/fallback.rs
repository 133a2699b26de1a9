//! The answers to requests no handler takes: an unknown path (404) and a known path with a
//! method it does not serve (405), each in the envelope of the face that owns the path. The
//! application router installs [`not_found`]; [`super::routes::Routes`] installs
//! [`method_not_allowed`] on every face's routes.

use axum::extract::OriginalUri;
use axum::http::Method;
use axum::response::Response;
use palisade_core::Error;

use super::Face;

/// An unknown route.
pub async fn not_found(method: Method, OriginalUri(uri): OriginalUri) -> Response {
    super::render(Error::not_found("route"), method.as_str(), uri.path())
}

/// A wrong method on a known path.
pub async fn method_not_allowed(method: Method, OriginalUri(uri): OriginalUri) -> Response {
    Face::of(uri.path()).method_not_allowed(method.as_str(), uri.path())
}
