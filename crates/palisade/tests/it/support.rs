//! `TestApp`: spawns the real application and offers small HTTP helpers.

use std::sync::Arc;

use palisade::{Application, ServeConfig};
pub use palisade_testkit::{Backend, TestDatabase};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use tokio::sync::oneshot;

pub const OPERATOR: &str = "palop_test-operator-token-for-integration-tests";

pub struct TestApp {
    pub base: String,
    pub client: reqwest::Client,
    pub db: TestDatabase,
    pub core: palisade_core::Core,
    /// The server's store, for fixtures no API can make (the core keeps its own private).
    pub store: Arc<dyn palisade_core::Store>,
    shutdown: Option<oneshot::Sender<()>>,
    handle: Option<tokio::task::JoinHandle<()>>,
}

/// A fresh response: status and parsed JSON body (`Value::Null` when empty).
pub struct Reply {
    pub status: StatusCode,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
}

impl TestApp {
    /// The real application on a fresh database of the backend `PALISADE_TEST_BACKEND` names.
    pub async fn spawn() -> Self {
        Self::spawn_on(TestDatabase::from_env().await).await
    }

    /// Starts a server on an existing database (for restart tests).
    pub async fn spawn_on(db: TestDatabase) -> Self {
        let store = db.store().await;
        Self::spawn_with(db, store).await
    }

    /// Starts a server on a store the test opened itself (to break it on purpose, say).
    pub async fn spawn_with(db: TestDatabase, store: Arc<dyn palisade_core::Store>) -> Self {
        Self::spawn_configured(db, store, |_| {}).await
    }

    /// Starts a server on an existing database with a configuration the test adjusts (a
    /// restart on the same port, say).
    pub async fn spawn_on_tuned(db: TestDatabase, tune: impl FnOnce(&mut ServeConfig)) -> Self {
        let store = db.store().await;
        Self::spawn_configured(db, store, tune).await
    }

    /// A fresh database and a configuration the test adjusts.
    pub async fn spawn_tuned(tune: impl FnOnce(&mut ServeConfig)) -> Self {
        let db = TestDatabase::from_env().await;
        let store = db.store().await;
        Self::spawn_configured(db, store, tune).await
    }

    async fn spawn_configured(
        db: TestDatabase,
        store: Arc<dyn palisade_core::Store>,
        tune: impl FnOnce(&mut ServeConfig),
    ) -> Self {
        let mut config = ServeConfig {
            listen: "127.0.0.1:0".into(),
            admin_token: Some(OPERATOR.into()),
            ..ServeConfig::default()
        };
        // Every test client is 127.0.0.1, and many tests send wrong credentials on purpose
        // (route walks): the failed-authentication limits are out of reach unless a test tunes
        // them (`limits.rs`).
        config.core.auth.failures_per_minute_per_source = 1_000_000;
        config.core.auth.failures_per_minute_per_user = 1_000_000;
        config.core.auth.failure_tarpit = std::time::Duration::ZERO;
        tune(&mut config);
        let (app, generated) = Application::build_with_store(config, store.clone()).await.unwrap();
        assert!(generated.is_none(), "a given admin token must not generate another");
        let addr = app.local_addr().unwrap();
        let core = app.core().expect("the store was given").clone();
        let (tx, rx) = oneshot::channel::<()>();
        let handle = tokio::spawn(async move {
            app.run_until(async move {
                let _ = rx.await;
            })
            .await
            .unwrap();
        });
        Self {
            base: format!("http://{addr}"),
            client: reqwest::Client::new(),
            db,
            core,
            store,
            shutdown: Some(tx),
            handle: Some(handle),
        }
    }

    /// Stops the server gracefully, waits for it, and hands back its database.
    pub async fn stop(mut self) -> TestDatabase {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(handle) = self.handle.take() {
            handle.await.unwrap();
        }
        self.db
    }

    pub async fn request(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Reply {
        let mut req = self.client.request(method.clone(), format!("{}{}", self.base, path));
        if let Some(token) = token {
            req = req.bearer_auth(token);
        }
        if let Some(body) = body {
            req = req.json(&body);
        }
        let res = req.send().await.unwrap();
        let status = res.status();
        let headers = res.headers().clone();
        self.assert_audited(&method, path, status, &headers).await;
        let bytes = res.bytes().await.unwrap();
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes)
                .unwrap_or_else(|_| panic!("non-JSON body for {path}: {}", String::from_utf8_lossy(&bytes)))
        };
        Reply { status, headers, body }
    }

    /// Sends raw bytes with a content type.
    pub async fn raw(
        &self,
        method: Method,
        path: &str,
        token: &str,
        content_type: &str,
        body: Vec<u8>,
    ) -> Reply {
        let res = self
            .client
            .request(method.clone(), format!("{}{}", self.base, path))
            .bearer_auth(token)
            .header("content-type", content_type)
            .body(body)
            .send()
            .await
            .unwrap();
        let status = res.status();
        let headers = res.headers().clone();
        self.assert_audited(&method, path, status, &headers).await;
        let bytes = res.bytes().await.unwrap();
        let body = serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| panic!("non-JSON body for {path}: {}", String::from_utf8_lossy(&bytes)));
        Reply { status, headers, body }
    }

    /// Sends `head` (request line and headers, without the blank line) and then `body` in
    /// chunks (`Transfer-Encoding: chunked`, no `Content-Length`) over a plain TCP connection, as
    /// a streaming client would, and returns the status and the body text. reqwest always sends
    /// a length for a body it holds.
    pub async fn chunked(&self, head: &str, body: &[u8], chunk: usize) -> (StatusCode, String) {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let addr = self.base.trim_start_matches("http://");
        let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
        let mut out =
            format!("{head}\r\nHost: {addr}\r\nConnection: close\r\nTransfer-Encoding: chunked\r\n\r\n")
                .into_bytes();
        for piece in body.chunks(chunk.max(1)) {
            out.extend(format!("{:x}\r\n", piece.len()).as_bytes());
            out.extend(piece);
            out.extend(b"\r\n");
        }
        out.extend(b"0\r\n\r\n");
        // The server may answer (and stop reading) before the whole body is sent.
        let _ = stream.write_all(&out).await;
        let mut raw = Vec::new();
        let _ = stream.read_to_end(&mut raw).await;
        let text = String::from_utf8_lossy(&raw).into_owned();
        let (head, body) = text.split_once("\r\n\r\n").unwrap_or_else(|| panic!("no response: {text:?}"));
        let status = head.split(' ').nth(1).and_then(|s| s.parse::<u16>().ok()).unwrap();
        let chunked = head.to_ascii_lowercase().contains("transfer-encoding: chunked");
        let body = if chunked { dechunk(body) } else { body.to_owned() };
        (StatusCode::from_u16(status).unwrap(), body)
    }

    pub async fn get(&self, path: &str, token: &str) -> Reply {
        self.request(Method::GET, path, Some(token), None).await
    }

    pub async fn post(&self, path: &str, token: &str, body: Value) -> Reply {
        self.request(Method::POST, path, Some(token), Some(body)).await
    }

    pub async fn patch(&self, path: &str, token: &str, body: Value) -> Reply {
        self.request(Method::PATCH, path, Some(token), Some(body)).await
    }

    pub async fn delete(&self, path: &str, token: &str) -> Reply {
        self.request(Method::DELETE, path, Some(token), None).await
    }

    /// Creates an organization and returns its id.
    pub async fn org(&self, sub_domain: &str) -> String {
        let r = self
            .post("/api/v1/organizations", OPERATOR, json!({"name": sub_domain, "sub_domain": sub_domain}))
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
        r.body["organization"]["id"].as_str().unwrap().to_owned()
    }

    /// Creates a user of `org` and returns its `Authorization: Basic` header value.
    pub async fn user(&self, org: &str, username: &str, password: &str) -> String {
        let r = self
            .post(
                &format!("/api/v1/organizations/{org}/users"),
                OPERATOR,
                json!({"username": username, "password": password}),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
        basic(username, password)
    }

    /// Creates a token with these scopes and returns (token id, secret).
    pub async fn token(&self, org: &str, scopes: &[&str]) -> (String, String) {
        let r = self
            .post(
                &format!("/api/v1/organizations/{org}/api_tokens"),
                OPERATOR,
                json!({"name": "t", "scopes": scopes}),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
        (
            r.body["api_token"]["id"].as_str().unwrap().to_owned(),
            r.body["secret"].as_str().unwrap().to_owned(),
        )
    }

    /// A data center and a shared network on 203.0.113.0/24 and 2001:db8::/64; returns the
    /// network id.
    pub async fn network(&self) -> String {
        let dc = self
            .post(
                "/api/v1/data_centers",
                OPERATOR,
                json!({"name": "London", "permalink": "uk-lon-01", "country": {"name": "United Kingdom",
                    "iso_code2": "GB", "iso_code3": "GBR", "time_zone": "Europe/London", "eu": false}}),
            )
            .await;
        assert_eq!(dc.status, StatusCode::CREATED, "{}", dc.body);
        let net = self
            .post(
                "/api/v1/networks",
                OPERATOR,
                json!({"name": "Public", "permalink": "public", "data_center_id": dc.body["data_center"]["id"],
                    "prefixes": ["203.0.113.0/24", "2001:db8::/64"], "default": true, "organization_id": null}),
            )
            .await;
        assert_eq!(net.status, StatusCode::CREATED, "{}", net.body);
        net.body["network"]["id"].as_str().unwrap().to_owned()
    }

    /// The audit trail's invariant, checked on every request the suite sends through the faces'
    /// helpers: a write that succeeded left at least one audit event with its request id.
    /// Exempt: writes by method that change nothing (a flow check is a question sent by
    /// `POST`; ending a ZStack session that does not exist answers `200`), an agent's report of
    /// what its host applied (not a change anyone asked for; see `Core::report_enforcement`),
    /// and ZStack's `202`s, whose operation may have been refused (its poll says; a refusal
    /// records nothing). `audit.rs` checks sign-outs and ZStack's operations by themselves.
    pub async fn assert_audited(
        &self,
        method: &Method,
        path: &str,
        status: StatusCode,
        headers: &reqwest::header::HeaderMap,
    ) {
        const UNAUDITED: &[&str] = &["/flow_checks", "/enforcement", "/zstack/v1/accounts/sessions/"];
        let write = matches!(*method, Method::POST | Method::PUT | Method::PATCH | Method::DELETE);
        if !write || !status.is_success() || status == StatusCode::ACCEPTED {
            return;
        }
        let path = path.split('?').next().unwrap_or(path);
        if UNAUDITED.iter().any(|p| path.ends_with(p) || (p.ends_with('/') && path.starts_with(p))) {
            return;
        }
        let id = headers
            .get("x-request-id")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_else(|| panic!("{method} {path} answered without X-Request-ID"));
        let filter =
            palisade_core::audit::AuditFilter { request_id: Some(id.to_owned()), ..Default::default() };
        let events = self
            .store
            .read()
            .await
            .unwrap()
            .list_audit_events(&filter, palisade_core::PageRequest::default())
            .await
            .unwrap();
        assert!(events.total > 0, "{method} {path} answered {status} but left no audit event");
    }

    /// Row count of a table, read straight from the database.
    pub async fn count(&self, table: &str) -> i64 {
        self.db.count(table).await
    }
}

/// A response kept as text, for faces whose bodies are not always JSON (Hostway's plain-text
/// 401) or whose headers a test reads.
pub struct Answer {
    pub status: StatusCode,
    pub headers: reqwest::header::HeaderMap,
    pub text: String,
}

impl Answer {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.text)
            .unwrap_or_else(|_| panic!("not JSON ({}): {}", self.status, self.text))
    }

    /// `Retry-After` as seconds; it must be there, and say a short while.
    #[track_caller]
    pub fn retry_after(&self) -> u64 {
        let value =
            self.headers.get("retry-after").unwrap_or_else(|| panic!("no Retry-After: {}", self.text));
        let seconds: u64 = value.to_str().unwrap().parse().unwrap();
        assert!((1..=60).contains(&seconds), "Retry-After: {seconds}");
        seconds
    }
}

/// An `Authorization: Basic` header value.
pub fn basic(user: &str, password: &str) -> String {
    use data_encoding::BASE64;
    format!("Basic {}", BASE64.encode(format!("{user}:{password}").as_bytes()))
}

/// Asserts the native error envelope with this status and code.
#[track_caller]
pub fn assert_error(reply: &Reply, status: StatusCode, code: &str) {
    assert_eq!(reply.status, status, "body: {}", reply.body);
    assert_eq!(reply.body["error"]["code"], code, "body: {}", reply.body);
    assert!(reply.body["error"]["message"].as_str().is_some_and(|m| !m.is_empty()), "body: {}", reply.body);
}

/// The paths named by an error's details.
pub fn error_paths(reply: &Reply) -> Vec<String> {
    reply.body["error"]["details"]
        .as_array()
        .map(|a| a.iter().map(|d| d["path"].as_str().unwrap_or_default().to_owned()).collect())
        .unwrap_or_default()
}

/// The payload of a chunked HTTP/1.1 body.
fn dechunk(mut text: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = text.split_once("\r\n") {
        let Ok(n) = usize::from_str_radix(size.trim(), 16) else { break };
        if n == 0 || rest.len() < n {
            break;
        }
        out.push_str(&rest[..n]);
        text = rest[n..].trim_start_matches("\r\n");
    }
    out
}
