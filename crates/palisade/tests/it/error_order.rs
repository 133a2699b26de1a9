//! Every face's error bodies keep their keys in the order the vendor documents (or, for the
//! native API, the order its OpenAPI document lists), read from the raw body text with
//! [`Ordered`]: a parsed `serde_json::Value` sorts keys and so cannot tell.
//!
//! - Hostway: `{"<fault>": {"message", "code", "details", "errorid"}}`. The reference (§4.4)
//!   and the seed's examples of the founding document agree on this order.
//! - Katapult: Apia's `{"error": {"code", "description", "detail"}}`, and inside `detail` the
//!   order Apia's error classes build their hashes in (`InvalidArgumentError`: `path`, `index`,
//!   `issue`, `issue_description`, `errors`, `argument`; `MissingArgumentError`: `path`,
//!   `argument`), which the reference (§2.4) quotes. The recorded cassettes only hold `detail`
//!   objects of one key or none, in the same envelope order.
//! - Defined: `{"errors": [{"code", "message", "path"}]}`.
//! - Native: `{"error": {"code", "message", "details"?}}`, the order its OpenAPI document lists
//!   (`native_order.rs` checks its answers); field problems `{"code", "message", "path"}`.
//!
//! 429 and 503 are checked on every face at once (one flood, one outage); 408 in
//! `connections.rs`, which uses the checks here.

use std::net::IpAddr;
use std::sync::Arc;

use palisade_api::defined::ids;
use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::native_order::Document;
use crate::ordered::Ordered;
use crate::support::{basic, Answer, Backend, TestApp, TestDatabase, OPERATOR};

/// The body limit of these worlds, and a body above it.
const LIMIT: usize = 1024;
const PASSWORD: &str = "correct horse battery";

fn oversized() -> String {
    json!({"name": "x".repeat(2 * LIMIT)}).to_string()
}

/// Hostway's fault: one key, then the documented order.
#[track_caller]
pub(crate) fn assert_hostway(answer: &Answer, status: StatusCode, fault: &str) {
    assert_eq!(answer.status, status, "{}", answer.text);
    let body = Ordered::parse(&answer.text);
    assert_eq!(body.keys(), [fault], "{}", answer.text);
    assert_eq!(body.at(fault).keys(), ["message", "code", "details", "errorid"], "{}", answer.text);
}

/// Apia's envelope, and `detail` with these keys in this order (`argument` holds `name`).
#[track_caller]
pub(crate) fn assert_katapult(answer: &Answer, status: StatusCode, detail: &[&str]) {
    assert_eq!(answer.status, status, "{}", answer.text);
    let body = Ordered::parse(&answer.text);
    assert_eq!(body.keys(), ["error"], "{}", answer.text);
    let error = body.at("error");
    assert_eq!(error.keys(), ["code", "description", "detail"], "{}", answer.text);
    assert_eq!(error.at("detail").keys(), detail, "{}", answer.text);
    if detail.contains(&"argument") {
        assert_eq!(error.at("detail").at("argument").keys(), ["name"], "{}", answer.text);
    }
}

/// Defined's list of errors, each in its order.
#[track_caller]
pub(crate) fn assert_defined(answer: &Answer, status: StatusCode) {
    assert_eq!(answer.status, status, "{}", answer.text);
    let body = Ordered::parse(&answer.text);
    assert_eq!(body.keys(), ["errors"], "{}", answer.text);
    let errors = body.at("errors").items();
    assert!(!errors.is_empty(), "{}", answer.text);
    for error in errors {
        assert_eq!(error.keys(), ["code", "message", "path"], "{}", answer.text);
    }
}

/// The native envelope; `details` (when there are any) is a list of field problems or an
/// object, with these keys in this order.
#[track_caller]
pub(crate) fn assert_native(answer: &Answer, status: StatusCode, details: Option<&[&str]>) {
    assert_eq!(answer.status, status, "{}", answer.text);
    let body = Ordered::parse(&answer.text);
    assert_eq!(body.keys(), ["error"], "{}", answer.text);
    let error = body.at("error");
    let Some(keys) = details else {
        assert_eq!(error.keys(), ["code", "message"], "{}", answer.text);
        return;
    };
    assert_eq!(error.keys(), ["code", "message", "details"], "{}", answer.text);
    match error.at("details") {
        Ordered::Array(problems) => {
            assert!(!problems.is_empty(), "{}", answer.text);
            for problem in problems {
                assert_eq!(problem.keys(), keys, "{}", answer.text);
            }
        }
        object => assert_eq!(object.keys(), keys, "{}", answer.text),
    }
}

const FIELD_PROBLEM: &[&str] = &["code", "message", "path"];

/// An organization `acme` with a user, a token with every scope these tests use and one with
/// none of them, on a server with a small body limit.
struct World {
    app: TestApp,
    org: String,
    token: String,
    narrow: String,
    basic: String,
}

impl World {
    async fn new() -> Self {
        Self::on(TestApp::spawn_tuned(|c| c.api.max_body_bytes = LIMIT).await).await
    }

    async fn on(app: TestApp) -> Self {
        let org = app.org("acme").await;
        let scopes =
            ["security_groups", "ip_addresses", "roles:create", "roles:read", "roles:delete", "hosts:create"];
        let (_, token) = app.token(&org, &scopes).await;
        let (_, narrow) = app.token(&org, &["organizations:read"]).await;
        let basic = app.user(&org, "user", PASSWORD).await;
        Self { app, org, token, narrow, basic }
    }

    fn bearer(&self) -> String {
        format!("Bearer {}", self.token)
    }

    fn narrow(&self) -> String {
        format!("Bearer {}", self.narrow)
    }

    /// A request as a client would send it: optional credentials, and a body sent with this
    /// content type.
    async fn send(
        &self,
        method: Method,
        path: &str,
        authorization: Option<&str>,
        body: Option<(&str, String)>,
    ) -> Answer {
        send(&self.app, &self.app.client, method, path, authorization, body).await
    }

    /// A JSON request.
    async fn json(&self, method: Method, path: &str, authorization: Option<&str>, body: &str) -> Answer {
        self.send(method, path, authorization, Some(("application/json", body.to_owned()))).await
    }
}

async fn send(
    app: &TestApp,
    client: &reqwest::Client,
    method: Method,
    path: &str,
    authorization: Option<&str>,
    body: Option<(&str, String)>,
) -> Answer {
    let mut req = client.request(method, format!("{}{path}", app.base));
    if let Some(value) = authorization {
        req = req.header("authorization", value);
    }
    if let Some((content_type, body)) = body {
        req = req.header("content-type", content_type).body(body);
    }
    let res = req.send().await.unwrap();
    Answer { status: res.status(), headers: res.headers().clone(), text: res.text().await.unwrap() }
}

#[tokio::test]
async fn hostway_faults_keep_the_documented_key_order() {
    let w = World::new().await;
    let groups = format!("/accounts/{}/os-security-groups", w.org);
    let create = |name: &str| json!({"securityGroup": {"displayName": name, "description": ""}}).to_string();
    let auth = Some(w.basic.as_str());

    let r = w.json(Method::POST, &groups, auth, &create("")).await;
    assert_hostway(&r, StatusCode::BAD_REQUEST, "badRequest");
    let r = w.json(Method::POST, &groups, auth, "{nope").await;
    assert_hostway(&r, StatusCode::BAD_REQUEST, "badRequest");
    // 401 is Hostway's plain text, not a fault.
    let r = w.send(Method::GET, &groups, None, None).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert!(r.headers["content-type"].to_str().unwrap().starts_with("text/plain"), "{}", r.text);
    let r = w.send(Method::GET, &groups, Some(&w.narrow()), None).await;
    assert_hostway(&r, StatusCode::FORBIDDEN, "forbidden");
    let r = w.send(Method::GET, &format!("{groups}/group2020Jan01_nothing"), auth, None).await;
    assert_hostway(&r, StatusCode::NOT_FOUND, "itemNotFound");
    let r = w.send(Method::GET, &format!("/accounts/{}/nothing", w.org), auth, None).await;
    assert_hostway(&r, StatusCode::NOT_FOUND, "itemNotFound");
    let r = w.send(Method::PATCH, &groups, auth, None).await;
    assert_hostway(&r, StatusCode::METHOD_NOT_ALLOWED, "badMethod");
    let r = w.json(Method::POST, &groups, auth, &create("web")).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    let r = w.json(Method::POST, &groups, auth, &create("web")).await;
    assert_hostway(&r, StatusCode::CONFLICT, "computeFault");
    let r = w.json(Method::POST, &groups, auth, &oversized()).await;
    assert_hostway(&r, StatusCode::PAYLOAD_TOO_LARGE, "overLimit");
    let r = w.send(Method::POST, &groups, auth, Some(("text/plain", create("form")))).await;
    assert_hostway(&r, StatusCode::UNSUPPORTED_MEDIA_TYPE, "badMediaType");
}

#[tokio::test]
async fn katapult_errors_keep_apias_key_order() {
    let w = World::new().await;
    let network = w.app.network().await;
    let server = w
        .app
        .post(
            &format!("/api/v1/organizations/{}/servers", w.org),
            OPERATOR,
            json!({"name": "web", "interfaces": [{"network_id": network, "addresses": ["203.0.113.9"]}]}),
        )
        .await;
    assert_eq!(server.status, StatusCode::CREATED, "{}", server.body);
    let token = w.bearer();
    let auth = Some(token.as_str());
    let groups = "/core/v1/organizations/_/security_groups?organization[sub_domain]=acme";
    const ARGUMENT: &[&str] = &["path", "index", "issue", "issue_description", "errors", "argument"];

    // 400: no token, bad JSON, a missing argument, invalid arguments (an ambiguous lookup, a
    // name with a control character, a query nested too deeply).
    let r = w.send(Method::GET, groups, None, None).await;
    assert_katapult(&r, StatusCode::BAD_REQUEST, &[]);
    let r = w.json(Method::POST, groups, auth, "{nope").await;
    assert_katapult(&r, StatusCode::BAD_REQUEST, &["details"]);
    let r = w.json(Method::POST, groups, auth, "{}").await;
    assert_katapult(&r, StatusCode::BAD_REQUEST, &["path", "argument"]);
    let r = w.send(Method::GET, &format!("{groups}&organization[id]=org_x"), auth, None).await;
    assert_katapult(&r, StatusCode::BAD_REQUEST, ARGUMENT);
    let r = w.json(Method::POST, groups, auth, r#"{"properties":{"name":"a\u0001b"}}"#).await;
    assert_katapult(&r, StatusCode::BAD_REQUEST, ARGUMENT);
    let r = w.send(Method::GET, &format!("{groups}&a{}=1", "[a]".repeat(40)), auth, None).await;
    assert_katapult(&r, StatusCode::BAD_REQUEST, &["path", "index", "issue", "issue_description", "errors"]);
    // 403: a token that is not one, a token without the scope.
    let r = w.send(Method::GET, groups, Some("Bearer pal_00000000000000000000000000000000_x"), None).await;
    assert_katapult(&r, StatusCode::FORBIDDEN, &["details"]);
    let r = w.send(Method::GET, groups, Some(&w.narrow()), None).await;
    assert_katapult(&r, StatusCode::FORBIDDEN, &["scopes"]);
    // 404: an unknown object, an unknown route (also Katapult's answer to a wrong method).
    let r = w.send(Method::GET, "/core/v1/security_groups/sg_nothing", auth, None).await;
    assert_katapult(&r, StatusCode::NOT_FOUND, &[]);
    let r = w.send(Method::PUT, "/core/v1/security_groups/sg_nothing", auth, None).await;
    assert_katapult(&r, StatusCode::NOT_FOUND, &[]);
    // 409: the server's own address cannot be deleted.
    let r =
        w.send(Method::DELETE, "/core/v1/ip_addresses/_?ip_address[address]=203.0.113.9", auth, None).await;
    assert_katapult(&r, StatusCode::CONFLICT, &["errors"]);
    // 413, 422.
    let r = w.json(Method::POST, groups, auth, &oversized()).await;
    assert_katapult(&r, StatusCode::PAYLOAD_TOO_LARGE, &[]);
    let r = w.json(Method::POST, groups, auth, r#"{"properties":{"name":""}}"#).await;
    assert_katapult(&r, StatusCode::UNPROCESSABLE_ENTITY, &["errors"]);
}

#[tokio::test]
async fn defined_errors_keep_their_key_order() {
    let w = World::new().await;
    let network = w.app.network().await;
    let network =
        ids::render(ids::NETWORK, network.parse::<palisade_core::id::NetworkId>().unwrap().as_bytes());
    let token = w.bearer();
    let auth = Some(token.as_str());

    let r = w.json(Method::POST, "/v1/roles", auth, r#"{"name": ""}"#).await;
    assert_defined(&r, StatusCode::BAD_REQUEST);
    let r = w.send(Method::GET, "/v1/roles", None, None).await;
    assert_defined(&r, StatusCode::UNAUTHORIZED);
    let r = w.json(Method::POST, "/v1/roles", Some(&w.narrow()), r#"{"name": "web"}"#).await;
    assert_defined(&r, StatusCode::FORBIDDEN);
    let nothing = ids::render(ids::ROLE, &[0; 16]);
    let r = w.send(Method::DELETE, &format!("/v1/roles/{nothing}"), auth, None).await;
    assert_defined(&r, StatusCode::NOT_FOUND);
    let r = w.send(Method::PATCH, "/v1/roles", auth, None).await;
    assert_defined(&r, StatusCode::METHOD_NOT_ALLOWED);
    // 409: a role its hosts carry.
    let r = w.json(Method::POST, "/v1/roles", auth, r#"{"name": "web"}"#).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let role = r.json()["data"]["id"].as_str().unwrap().to_owned();
    let host = json!({"name": "h1", "networkID": network, "roleID": role}).to_string();
    let r = w.json(Method::POST, "/v1/hosts", auth, &host).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let r = w.send(Method::DELETE, &format!("/v1/roles/{role}"), auth, None).await;
    assert_defined(&r, StatusCode::CONFLICT);
    let r = w.json(Method::POST, "/v1/roles", auth, &oversized()).await;
    assert_defined(&r, StatusCode::PAYLOAD_TOO_LARGE);
}

/// The native envelope, in the order the served OpenAPI document lists `ErrorBody`'s properties.
#[track_caller]
fn documented(doc: &Document, answer: &Answer, status: StatusCode, details: Option<&[&str]>) {
    assert_native(answer, status, details);
    doc.check("ErrorBody", &Ordered::parse(&answer.text), &answer.text);
}

#[tokio::test]
async fn native_errors_keep_the_documented_key_order() {
    let w = World::new().await;
    let doc = Document::served(&w.app).await;
    let orgs = "/api/v1/organizations";
    let operator = format!("Bearer {OPERATOR}");
    let auth = Some(operator.as_str());

    let r = w.json(Method::POST, orgs, auth, r#"{"name": "", "sub_domain": "x"}"#).await;
    documented(&doc, &r, StatusCode::BAD_REQUEST, Some(FIELD_PROBLEM));
    let r = w.json(Method::POST, orgs, auth, "{nope").await;
    documented(&doc, &r, StatusCode::BAD_REQUEST, Some(FIELD_PROBLEM));
    let r = w.send(Method::GET, &format!("{orgs}?page=x"), auth, None).await;
    documented(&doc, &r, StatusCode::BAD_REQUEST, Some(FIELD_PROBLEM));
    let r = w.send(Method::GET, orgs, None, None).await;
    documented(&doc, &r, StatusCode::UNAUTHORIZED, None);
    let r = w.send(Method::GET, &format!("{orgs}/{}/ip_addresses", w.org), Some(&w.narrow()), None).await;
    documented(&doc, &r, StatusCode::FORBIDDEN, Some(&["scopes"]));
    let r = w.send(Method::GET, &format!("{orgs}/{}", uuid::Uuid::nil()), auth, None).await;
    documented(&doc, &r, StatusCode::NOT_FOUND, None);
    let r = w.send(Method::DELETE, orgs, auth, None).await;
    documented(&doc, &r, StatusCode::METHOD_NOT_ALLOWED, None);
    let r = w.json(Method::POST, orgs, auth, r#"{"name": "acme", "sub_domain": "acme"}"#).await;
    documented(&doc, &r, StatusCode::CONFLICT, Some(FIELD_PROBLEM));
    let r = w.json(Method::POST, orgs, auth, &oversized()).await;
    documented(&doc, &r, StatusCode::PAYLOAD_TOO_LARGE, None);
    let r = w.send(Method::POST, orgs, auth, Some(("text/plain", "{}".into()))).await;
    documented(&doc, &r, StatusCode::UNSUPPORTED_MEDIA_TYPE, None);
    let ip = json!({"network_id": uuid::Uuid::nil(), "version": "ipv4"}).to_string();
    let r = w.json(Method::POST, &format!("{orgs}/{}/ip_addresses", w.org), auth, &ip).await;
    documented(&doc, &r, StatusCode::UNPROCESSABLE_ENTITY, Some(FIELD_PROBLEM));
}

/// A client whose connections come from `source` (another loopback address).
fn client_from(source: &str) -> reqwest::Client {
    let ip: IpAddr = source.parse().unwrap();
    reqwest::Client::builder().local_address(ip).build().unwrap()
}

#[tokio::test]
async fn rate_limited_answers_keep_each_faces_key_order() {
    let app = TestApp::spawn_tuned(|c| c.core.auth.failures_per_minute_per_source = 2).await;
    let w = World::on(app).await;
    let flooder = client_from("127.0.0.2");
    let wrong = basic("nobody", "guess");
    let groups = format!("/accounts/{}/os-security-groups", w.org);
    for _ in 0..2 {
        let r = send(&w.app, &flooder, Method::GET, &groups, Some(&wrong), None).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{}", r.text);
    }
    // The source is spent: every face answers 429 in its envelope, whatever the credential.
    let token = w.bearer();
    let r = send(&w.app, &flooder, Method::GET, "/api/v1/organizations", Some(&token), None).await;
    assert_native(&r, StatusCode::TOO_MANY_REQUESTS, Some(&["limit", "retry_after"]));
    let r = send(&w.app, &flooder, Method::GET, "/core/v1/organizations", Some(&token), None).await;
    assert_katapult(&r, StatusCode::TOO_MANY_REQUESTS, &["total_permitted"]);
    let r = send(&w.app, &flooder, Method::GET, "/v1/roles", Some(&token), None).await;
    assert_defined(&r, StatusCode::TOO_MANY_REQUESTS);
    let r = send(&w.app, &flooder, Method::GET, &groups, Some(&w.basic), None).await;
    assert_hostway(&r, StatusCode::TOO_MANY_REQUESTS, "overLimit");
}

#[tokio::test]
async fn unavailable_answers_keep_each_faces_key_order() {
    // The database goes away under a running server: its pool is closed.
    let db = TestDatabase::from_env().await;
    match db.backend {
        Backend::Sqlite => {
            let store = db.sqlite().await;
            let w = World::on(TestApp::spawn_with(db, Arc::new(store.clone())).await).await;
            store.pool().close().await;
            assert_unavailable(&w).await;
        }
        Backend::Postgres => {
            let store = db.postgres().await;
            let w = World::on(TestApp::spawn_with(db, Arc::new(store.clone())).await).await;
            store.pool().close().await;
            assert_unavailable(&w).await;
        }
    }
}

async fn assert_unavailable(w: &World) {
    let token = w.bearer();
    let r = w.send(Method::GET, "/api/v1/organizations", Some(&token), None).await;
    assert_native(&r, StatusCode::SERVICE_UNAVAILABLE, None);
    let r = w.send(Method::GET, "/core/v1/organizations", Some(&token), None).await;
    assert_katapult(&r, StatusCode::SERVICE_UNAVAILABLE, &[]);
    let r = w.send(Method::GET, "/v1/roles", Some(&token), None).await;
    assert_defined(&r, StatusCode::SERVICE_UNAVAILABLE);
    let groups = format!("/accounts/{}/os-security-groups", w.org);
    let r = w.send(Method::GET, &groups, Some(&token), None).await;
    assert_hostway(&r, StatusCode::SERVICE_UNAVAILABLE, "serviceUnavailable");
}
