//! Request extractors whose failures render in the native envelope.
//!
//! axum's own extractors answer with plain-text bodies; these wrap them and turn every
//! rejection into a [`palisade_core::Error`] rendered by [`NativeError`].

use std::str::FromStr;

use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::header::CONTENT_TYPE;
use axum::http::request::Parts;
use palisade_core::error::BadRequest;
use palisade_core::{Error, PageRequest, Principal};
use serde::de::DeserializeOwned;
use serde::Deserialize;

use super::error::NativeError;
use crate::frame::json_words::json_words;
use crate::AppState;

/// Any authenticated caller.
#[derive(Debug)]
pub struct Actor(pub Principal);

impl FromRequestParts<AppState> for Actor {
    type Rejection = NativeError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let principal = crate::frame::credentials::token_caller(&state.core, parts).await?;
        Ok(Actor(principal))
    }
}

/// The operator. Used on operator-only routes so that an organization's token is refused before
/// its request body is even read, as vendors check scopes before arguments. The core checks the
/// same requirement again; it stays the authority.
#[derive(Debug)]
pub struct OperatorActor(pub Principal);

impl FromRequestParts<AppState> for OperatorActor {
    type Rejection = NativeError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let Actor(principal) = Actor::from_request_parts(parts, state).await?;
        principal.require_operator()?;
        Ok(OperatorActor(principal))
    }
}

/// A JSON body, with the path of the offending field on failure.
#[derive(Debug)]
pub struct NativeJson<T>(pub T);

impl<T: DeserializeOwned> FromRequest<AppState> for NativeJson<T> {
    type Rejection = NativeError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        if let Some(content_type) = req.headers().get(CONTENT_TYPE) {
            let is_json = content_type
                .to_str()
                .ok()
                .and_then(|ct| ct.split(';').next())
                .is_some_and(|mime| mime.trim().eq_ignore_ascii_case("application/json"));
            if !is_json {
                return Err(Error::BadRequest(BadRequest::UnsupportedMediaType).into());
            }
        }
        let bytes = crate::body_limit::read(req, state.config.max_body_bytes).await?;
        parse_json(&bytes).map(NativeJson).map_err(NativeError)
    }
}

/// Parses JSON, reporting where it failed (`interfaces[0].network_id`).
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, Error> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(Error::BadRequest(BadRequest::MalformedBody {
            path: None,
            message: "request body is empty; expected a JSON object".into(),
        }));
    }
    // Every native body is an object; serde would read an array as the object's fields in
    // order (`[0]: expected a string`), which misleads.
    if bytes.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'[') {
        return Err(Error::BadRequest(BadRequest::MalformedBody {
            path: None,
            message: "invalid type: array, expected an object".into(),
        }));
    }
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let malformed = |path: Option<String>, e: serde_json::Error| {
        // serde_json appends " at line 1 column 9" to messages; keep the message itself.
        let message = e.to_string();
        let message = json_words(message.split(" at line ").next().unwrap_or(&message));
        Error::BadRequest(BadRequest::MalformedBody { path, message })
    };
    let value = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let mut path = e.path().to_string();
        if path == "." || path == "?" {
            path.clear();
        }
        let inner = e.into_inner();
        // A missing or repeated field is reported at its parent; point at the field itself.
        let text = inner.to_string();
        let field = ["missing field `", "duplicate field `"]
            .iter()
            .find_map(|prefix| text.strip_prefix(prefix))
            .and_then(|rest| rest.split('`').next());
        if let Some(field) = field {
            path = if path.is_empty() { field.to_owned() } else { format!("{path}.{field}") };
        }
        malformed((!path.is_empty()).then_some(path), inner)
    })?;
    de.end().map_err(|e| malformed(None, e))?;
    Ok(value)
}

/// Parses a path segment into a typed id; a malformed id names nothing, so it is "not found".
pub fn path_id<T: FromStr>(segment: &str, kind: &'static str) -> Result<T, NativeError> {
    segment.parse().map_err(|_| NativeError(Error::not_found(kind)))
}

/// Path parameters as strings.
#[derive(Debug)]
pub struct NativePath<T>(pub T);

impl<T> FromRequestParts<AppState> for NativePath<T>
where
    T: DeserializeOwned + Send,
{
    type Rejection = NativeError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        axum::extract::Path::<T>::from_request_parts(parts, state).await.map(|p| NativePath(p.0)).map_err(
            |e| {
                NativeError(Error::BadRequest(BadRequest::MalformedParameter {
                    name: "path".into(),
                    message: json_words(&e.body_text()),
                }))
            },
        )
    }
}

/// `?page=&per_page=` on list routes.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// 1-based page number (default 1).
    #[param(value_type = Option<u64>, minimum = 1, maximum = 4294967295_u64)]
    pub page: Option<String>,
    /// Items per page (default 30, at most 200).
    #[param(value_type = Option<u32>, minimum = 1, maximum = 200)]
    pub per_page: Option<String>,
}

/// The page requested by the query string.
#[derive(Debug)]
pub struct Pagination(pub PageRequest);

impl FromRequestParts<AppState> for Pagination {
    type Rejection = NativeError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let NativeQuery(q) = NativeQuery::<PageQuery>::from_request_parts(parts, state).await?;
        let page = query_number("page", q.page.as_deref())?;
        let per_page = query_number("per_page", q.per_page.as_deref())?;
        Ok(Pagination(PageRequest::new(page, per_page)?))
    }
}

/// A query string, refused in the native envelope when it does not parse. Numbers are taken as
/// text and read with [`query_number`], so that `?page=x` names its parameter.
#[derive(Debug)]
pub struct NativeQuery<T>(pub T);

impl<T: DeserializeOwned + Send> FromRequestParts<AppState> for NativeQuery<T> {
    type Rejection = NativeError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let axum::extract::Query(q) = axum::extract::Query::<T>::from_request_parts(parts, state)
            .await
            .map_err(|e| NativeError(malformed("query", &json_words(&e.body_text()))))?;
        Ok(NativeQuery(q))
    }
}

/// A malformed query parameter.
pub fn malformed(name: &str, message: &str) -> Error {
    Error::BadRequest(BadRequest::MalformedParameter { name: name.into(), message: message.into() })
}

/// A non-negative integer query parameter, if present.
pub fn query_number<N: std::str::FromStr>(name: &str, value: Option<&str>) -> Result<Option<N>, Error> {
    value.map(|v| v.parse::<N>().map_err(|_| malformed(name, "must be a non-negative integer"))).transpose()
}
