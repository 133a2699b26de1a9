//! Who is calling: the credentials a request carries and the address it comes from, read the
//! same way on every face. What a face accepts differs (Hostway takes HTTP Basic users as well as
//! API tokens, the others API tokens only); how a header is read does not, and the core does the
//! checking (`Core::authenticate`, `Core::authenticate_user`).

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use axum::extract::ConnectInfo;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use data_encoding::BASE64;
use palisade_core::error::Unauthenticated;
use palisade_core::{Core, Error, Principal};

/// The client's address (tokens' network limits, failed-authentication limits): the TCP peer's,
/// or the one a trusted proxy forwarded ([`crate::forwarded`]).
pub fn source_ip(parts: &Parts) -> IpAddr {
    if let Some(forwarded) = parts.extensions.get::<crate::forwarded::Forwarded>() {
        return forwarded.client;
    }
    parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(addr)| addr.ip().to_canonical())
        .unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED))
}

/// The `Authorization` header split into scheme and credentials, if it has that shape.
fn authorization(parts: &Parts) -> Option<(&str, &str)> {
    parts.headers.get(AUTHORIZATION)?.to_str().ok()?.split_once(' ')
}

/// The `Bearer` credential of a request, if any.
pub fn bearer(parts: &Parts) -> Option<&str> {
    let (scheme, token) = authorization(parts)?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim()).filter(|t| !t.is_empty())
}

/// `user:password` from `Authorization: Basic …`; `Err` when the header is Basic but garbled.
pub fn basic(parts: &Parts) -> Option<Result<(String, String), Error>> {
    let (scheme, encoded) = authorization(parts)?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let invalid = || Error::Unauthenticated(Unauthenticated::InvalidCredentials);
    let decoded = BASE64.decode(encoded.trim().as_bytes()).map_err(|_| invalid()).and_then(|bytes| {
        let text = String::from_utf8(bytes).map_err(|_| invalid())?;
        let (user, password) = text.split_once(':').ok_or_else(invalid)?;
        Ok((user.to_owned(), password.to_owned()))
    });
    Some(decoded)
}

/// The caller of a face that takes API tokens only (native, Katapult, Defined).
pub async fn token_caller(core: &Core, parts: &Parts) -> Result<Principal, Error> {
    let principal = core.authenticate(bearer(parts), source_ip(parts)).await?;
    super::request_id::note_principal(&principal);
    Ok(principal)
}

/// The caller of a face that also takes an organization's users over HTTP Basic (Hostway):
/// Basic when the request sends it, else an API token.
pub async fn user_or_token_caller(core: &Core, parts: &Parts) -> Result<Principal, Error> {
    match basic(parts) {
        Some(Ok((user, password))) => {
            let principal = core.authenticate_user(&user, &password, source_ip(parts)).await?;
            super::request_id::note_principal(&principal);
            Ok(principal)
        }
        Some(Err(e)) => Err(e),
        None => token_caller(core, parts).await,
    }
}
