//! Who the client is and which URL it used, when a reverse proxy stands in between.
//!
//! Request headers are the client's to write, so `X-Forwarded-For`, `X-Forwarded-Proto` and
//! `X-Forwarded-Host` are believed only when the TCP peer is one of the configured proxies
//! (`--trusted-proxies`): then [`resolve`] records a [`Forwarded`] in the request's extensions,
//! and every face reads the client's address ([`crate::frame::credentials::source_ip`], used by
//! tokens' network limits) and the URL's scheme and host from it. From anyone else the headers
//! are ignored. The client is the right-most `X-Forwarded-For` address that is not itself a
//! trusted proxy (each proxy appends the address it saw, so entries left of the last untrusted
//! one are the client's own claims).
//!
//! Links in responses (Hostway's `links[].href`) use `--public-url` when it is set, whatever the
//! request says; without it, the request's scheme and host (forwarded by a trusted proxy, or the
//! `Host` header) — fine for a client talking to the server directly, which is why production
//! deployments should set the public URL.

use std::net::{IpAddr, SocketAddr};
use std::str::FromStr;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::uri::{Authority, Scheme};
use axum::http::{HeaderMap, Uri};
use axum::middleware::Next;
use axum::response::Response;
pub use ipnet::IpNet;

use crate::AppState;

/// What a trusted proxy said about the client and the URL it used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Forwarded {
    /// The client's address.
    pub client: IpAddr,
    /// `http` or `https`, from `X-Forwarded-Proto`.
    pub proto: Option<&'static str>,
    /// `host[:port]`, from `X-Forwarded-Host`.
    pub host: Option<String>,
}

/// Middleware: records [`Forwarded`] when the peer is a trusted proxy.
pub async fn resolve(State(state): State<AppState>, mut request: Request, next: Next) -> Response {
    let trusted = &state.config.trusted_proxies;
    if !trusted.is_empty() {
        let peer = request.extensions().get::<ConnectInfo<SocketAddr>>().map(|ConnectInfo(a)| a.ip());
        if let Some(forwarded) = peer.and_then(|peer| from_proxy(peer, request.headers(), trusted)) {
            request.extensions_mut().insert(forwarded);
        }
    }
    next.run(request).await
}

fn is_trusted(ip: IpAddr, trusted: &[IpNet]) -> bool {
    let ip = ip.to_canonical();
    trusted.iter().any(|net| net.contains(&ip))
}

/// The forwarded facts, if `peer` is a trusted proxy.
pub fn from_proxy(peer: IpAddr, headers: &HeaderMap, trusted: &[IpNet]) -> Option<Forwarded> {
    if !is_trusted(peer, trusted) {
        return None;
    }
    let values = |name: &str| -> Vec<String> {
        headers
            .get_all(name)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(|v| v.trim().to_owned())
            .collect()
    };
    let mut client = peer.to_canonical();
    for hop in values("x-forwarded-for").iter().rev() {
        if !is_trusted(client, trusted) {
            break;
        }
        match hop.parse::<IpAddr>() {
            Ok(ip) => client = ip.to_canonical(),
            Err(_) => break,
        }
    }
    let proto = values("x-forwarded-proto").first().and_then(|p| {
        if p.eq_ignore_ascii_case("https") {
            Some("https")
        } else if p.eq_ignore_ascii_case("http") {
            Some("http")
        } else {
            None
        }
    });
    let host = values("x-forwarded-host").into_iter().next().filter(|h| is_host(h));
    Some(Forwarded { client, proto, host })
}

/// `host[:port]`, without user information.
fn is_host(text: &str) -> bool {
    !text.is_empty() && !text.contains('@') && Authority::from_str(text).is_ok()
}

/// The request's own `scheme://host`, for links, when no public URL is configured.
pub fn request_base(headers: &HeaderMap, uri: &Uri, forwarded: Option<&Forwarded>) -> String {
    let host = forwarded
        .and_then(|f| f.host.clone())
        .or_else(|| headers.get(axum::http::header::HOST).and_then(|h| h.to_str().ok()).map(str::to_owned))
        .or_else(|| uri.authority().map(|a| a.as_str().to_owned()))
        .filter(|h| is_host(h))
        .unwrap_or_else(|| "localhost".into());
    let scheme = forwarded
        .and_then(|f| f.proto)
        .or_else(|| (uri.scheme() == Some(&Scheme::HTTPS)).then_some("https"))
        .unwrap_or("http");
    format!("{scheme}://{host}")
}

/// Parses `--public-url`: `http(s)://host[:port][/prefix]`, kept without a trailing slash.
pub fn parse_public_url(text: &str) -> Result<String, String> {
    let uri: Uri = text.parse().map_err(|e| format!("not a URL: {e}"))?;
    match uri.scheme_str() {
        Some("http" | "https") => {}
        _ => return Err("must start with http:// or https://".into()),
    }
    match uri.authority() {
        Some(a) if is_host(a.as_str()) => {}
        _ => return Err("must name a host, without user information".into()),
    }
    if uri.query().is_some() || text.contains('#') {
        return Err("must not have a query or a fragment".into());
    }
    Ok(text.trim_end_matches('/').to_owned())
}

/// Parses one `--trusted-proxies` entry: a CIDR (`10.0.0.0/8`) or an address (one host).
pub fn parse_trusted_proxy(text: &str) -> Result<IpNet, String> {
    let text = text.trim();
    text.parse::<IpNet>()
        .map(|net| net.trunc())
        .or_else(|_| text.parse::<IpAddr>().map(IpNet::from))
        .map_err(|_| format!("{text} is not an address or CIDR"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn nets(list: &[&str]) -> Vec<IpNet> {
        list.iter().map(|n| parse_trusted_proxy(n).unwrap()).collect()
    }

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, HeaderValue::from_static(v));
        }
        h
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn headers_from_anyone_else_are_ignored() {
        let h = headers(&[("x-forwarded-for", "192.0.2.1"), ("x-forwarded-proto", "https")]);
        assert_eq!(from_proxy(ip("198.51.100.7"), &h, &nets(&["10.0.0.0/8"])), None);
        assert_eq!(from_proxy(ip("10.1.2.3"), &h, &[]), None);
    }

    #[test]
    fn the_client_is_the_rightmost_untrusted_hop() {
        let trusted = nets(&["10.0.0.0/8", "127.0.0.1"]);
        // The client claims 1.1.1.1; the edge proxy appended what it saw; an inner proxy too.
        let h = headers(&[("x-forwarded-for", "1.1.1.1, 203.0.113.9"), ("x-forwarded-for", "10.0.0.2")]);
        let f = from_proxy(ip("127.0.0.1"), &h, &trusted).unwrap();
        assert_eq!(f.client, ip("203.0.113.9"));
        // Garbage left of the real client changes nothing; garbage at the proxy's end stops.
        let h = headers(&[("x-forwarded-for", "nonsense, 203.0.113.9")]);
        assert_eq!(from_proxy(ip("10.0.0.1"), &h, &trusted).unwrap().client, ip("203.0.113.9"));
        let h = headers(&[("x-forwarded-for", "203.0.113.9, nonsense")]);
        assert_eq!(from_proxy(ip("10.0.0.1"), &h, &trusted).unwrap().client, ip("10.0.0.1"));
        // No header: the proxy itself.
        assert_eq!(from_proxy(ip("10.0.0.1"), &HeaderMap::new(), &trusted).unwrap().client, ip("10.0.0.1"));
        // An IPv4-mapped peer matches its IPv4 network.
        assert!(from_proxy(ip("::ffff:10.0.0.1"), &HeaderMap::new(), &trusted).is_some());
    }

    #[test]
    fn scheme_and_host_come_from_a_trusted_proxy_or_the_request() {
        let trusted = nets(&["10.0.0.0/8"]);
        let h = headers(&[
            ("host", "internal:8080"),
            ("x-forwarded-proto", "https, http"),
            ("x-forwarded-host", "api.example.com"),
        ]);
        let uri: Uri = "/accounts".parse().unwrap();
        let f = from_proxy(ip("10.0.0.1"), &h, &trusted);
        assert_eq!(request_base(&h, &uri, f.as_ref()), "https://api.example.com");
        assert_eq!(request_base(&h, &uri, None), "http://internal:8080");
        let bad =
            headers(&[("host", "evil@x"), ("x-forwarded-host", "a b"), ("x-forwarded-proto", "gopher")]);
        let f = from_proxy(ip("10.0.0.1"), &bad, &trusted);
        assert_eq!(request_base(&bad, &uri, f.as_ref()), "http://localhost");
    }

    #[test]
    fn settings_are_parsed_strictly() {
        assert_eq!(parse_public_url("https://api.example.com/").unwrap(), "https://api.example.com");
        assert_eq!(parse_public_url("http://h:8080/palisade").unwrap(), "http://h:8080/palisade");
        for bad in ["api.example.com", "ftp://h", "https://u:p@h", "https://h/?a=1", "https://h/#x", ""] {
            assert!(parse_public_url(bad).is_err(), "{bad}");
        }
        assert_eq!(parse_trusted_proxy("10.1.2.3/8").unwrap().to_string(), "10.0.0.0/8");
        assert_eq!(parse_trusted_proxy("::1").unwrap().to_string(), "::1/128");
        assert!(parse_trusted_proxy("proxy.local").is_err());
    }
}
