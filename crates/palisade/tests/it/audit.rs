//! The audit trail (`GET /api/v1/audit_events`): every write on every face recorded with its
//! principal, face, request and the fields it changed; never a secret; each organization's
//! trail its own. (That *every* successful write leaves an event is checked on every request
//! the suite sends: `TestApp::assert_audited`.)

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::support::{assert_error, TestApp, OPERATOR};
use crate::zstack::{create_group, signed_in, zs};

/// The trail as `token` sees it with `query`, newest first.
async fn trail(app: &TestApp, token: &str, query: &str) -> Vec<Value> {
    let r = app.get(&format!("/api/v1/audit_events?per_page=200&{query}"), token).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    r.body["audit_events"].as_array().unwrap().clone()
}

/// An event without what differs from run to run: its id and time (checked for shape).
fn settled(mut event: Value) -> Value {
    assert!(uuid::Uuid::parse_str(event["id"].as_str().unwrap()).is_ok(), "{event}");
    let at = event["at"].as_str().unwrap();
    assert!(time::OffsetDateTime::parse(at, &time::format_description::well_known::Rfc3339).is_ok(), "{at}");
    let object = event.as_object_mut().unwrap();
    object.remove("id");
    object.remove("at");
    event
}

/// A Katapult call with a bearer token: status, the request id it was given, the JSON body.
async fn katapult(
    app: &TestApp,
    token: &str,
    method: Method,
    path: &str,
    body: Value,
) -> (StatusCode, String, Value) {
    let res = app
        .client
        .request(method.clone(), format!("{}/core/v1/{path}", app.base))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .unwrap();
    let (status, headers) = (res.status(), res.headers().clone());
    app.assert_audited(&method, path, status, &headers).await;
    let request = headers["x-request-id"].to_str().unwrap().to_owned();
    (status, request, res.json().await.unwrap())
}

#[tokio::test]
async fn each_faces_writes_are_recorded_with_who_where_and_what_changed() {
    let app = TestApp::spawn().await;
    let org = app.org("acme").await;
    let (token_id, token) = app.token(&org, &["tags", "audit:read", "roles:create"]).await;

    // Katapult: a tag created, then recoloured.
    let body = json!({"organization": {"sub_domain": "acme"}, "properties": {"name": "web", "color": "red"}});
    let (status, _, created) = katapult(&app, &token, Method::POST, "organizations/_/tags", body).await;
    assert_eq!(status, StatusCode::OK, "{created}");
    let tag = created["tag"]["id"].as_str().unwrap().to_owned();
    let (status, request, _) = katapult(
        &app,
        &token,
        Method::PATCH,
        &format!("tags/{tag}"),
        json!({"properties": {"color": "green"}}),
    )
    .await;
    assert_eq!(status, StatusCode::OK);

    let tags = trail(&app, &token, "object_kind=tag").await;
    assert_eq!(tags.len(), 2, "{tags:?}");
    let tag_uuid = tags[0]["object_id"].clone();
    let principal = format!("token:{token_id}");
    assert_eq!(
        settled(tags[0].clone()),
        json!({"organization_id": org, "principal": principal, "face": "katapult", "request_id": request,
            "operation": "update", "object_kind": "tag", "object_id": tag_uuid,
            "changes": [{"field": "color", "before": "red", "after": "green"}]})
    );
    assert_eq!(tags[1]["operation"], "create");
    assert_eq!(
        tags[1]["changes"],
        json!([
            {"field": "color", "before": null, "after": "red"},
            {"field": "id", "before": null, "after": tag_uuid},
            {"field": "name", "before": null, "after": "web"},
            {"field": "organization_id", "before": null, "after": org},
        ])
    );

    // Defined: a role, by the same token.
    let role = json!({"name": "ssh", "description": "", "firewallRules": [
        {"protocol": "TCP", "description": "ssh", "allowedTags": ["tag:admin"], "portRange": {"from": 22, "to": 22}}]});
    let r = app.post("/v1/roles", &token, role).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let roles = trail(&app, &token, "object_kind=role").await;
    assert_eq!(
        (roles.len(), &roles[0]["face"], &roles[0]["operation"]),
        (1, &json!("defined"), &json!("create"))
    );
    let rules = roles[0]["changes"].as_array().unwrap().iter().find(|c| c["field"] == "rules").unwrap();
    assert_eq!(rules["after"][0]["ports"], json!([{"from": 22, "to": 22}]), "{rules}");
    assert_eq!(
        rules["after"][0]["remotes"],
        json!([{"hosts": {"role": null, "tags": ["tag:admin"]}}]),
        "{rules}"
    );

    // Hostway: a group, by a user (HTTP Basic).
    let auth = app.user(&org, "alice", "correct horse battery").await;
    let body = json!({"securityGroup": {"displayName": "db", "description": "databases"}}).to_string();
    let res = app
        .client
        .post(format!("{}/accounts/{org}/os-security-groups", app.base))
        .header("authorization", &auth)
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::CREATED);
    let groups = trail(&app, OPERATOR, &format!("organization_id={org}&object_kind=security_group")).await;
    assert_eq!(groups.len(), 1);
    let user = trail(&app, OPERATOR, "object_kind=user").await[0]["object_id"].as_str().unwrap().to_owned();
    assert_eq!(
        (&groups[0]["face"], &groups[0]["principal"], &groups[0]["operation"]),
        (&json!("hostway"), &json!(format!("user:{user}")), &json!("create"))
    );

    // ZStack: a sign-in and a group made by an asynchronous call.
    let (zorg, session) = signed_in(&app, "zs", "admin").await;
    create_group(&app, &session, json!({"name": "web"})).await;
    let out =
        zs(&app, Method::DELETE, &format!("/zstack/v1/accounts/sessions/{session}"), None, None, None).await;
    assert_eq!(out.status, StatusCode::OK, "{}", out.text);
    let z = trail(&app, OPERATOR, &format!("organization_id={zorg}")).await;
    let done: Vec<(&str, &str, &str)> = z
        .iter()
        .map(|e| {
            (
                e["face"].as_str().unwrap(),
                e["operation"].as_str().unwrap(),
                e["object_kind"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        done,
        [
            ("zstack", "sign_out", "user"),
            ("zstack", "create", "security_group"),
            ("zstack", "sign_in", "user"),
            ("native", "create", "user"),
            ("native", "create", "organization"),
        ]
    );
}

#[tokio::test]
async fn no_secret_reaches_the_trail() {
    let app = TestApp::spawn().await;
    let org = app.org("acme").await;
    let (_, secret) = app.token(&org, &["tags"]).await;
    let password = "a password nobody may read";
    app.user(&org, "bob", password).await;
    let user = trail(&app, OPERATOR, "object_kind=user").await[0]["object_id"].as_str().unwrap().to_owned();
    let r = app
        .request(
            Method::PUT,
            &format!("/api/v1/organizations/{org}/users/{user}/password"),
            Some(OPERATOR),
            Some(json!({"password": "another long password"})),
        )
        .await;
    assert!(r.status.is_success(), "{} {}", r.status, r.body);
    let (_, session) = signed_in(&app, "zs", "carol").await;

    let everything = trail(&app, OPERATOR, "").await;
    let text = serde_json::to_string(&everything).unwrap();
    for secret in [secret.as_str(), password, "another long password", &session] {
        assert!(!text.contains(secret), "{secret:?} is in the trail: {text}");
    }
    let set = everything.iter().find(|e| e["operation"] == "set_password").unwrap();
    assert_eq!((&set["object_id"], &set["changes"]), (&json!(user), &json!([])));
    let token = everything.iter().find(|e| e["object_kind"] == "api_token").unwrap();
    let fields: Vec<&str> =
        token["changes"].as_array().unwrap().iter().map(|c| c["field"].as_str().unwrap()).collect();
    // What a creation leaves empty is no change.
    assert_eq!(fields, ["allowed_networks", "id", "name", "organization_id", "scopes"]);
}

#[tokio::test]
async fn an_organization_reads_its_own_trail_only() {
    let app = TestApp::spawn().await;
    let (a, b) = (app.org("a").await, app.org("b").await);
    let (_, reader) = app.token(&a, &["audit:read", "tags"]).await;
    let (_, writer_b) = app.token(&b, &["tags"]).await;
    for (org, token) in [("a", &reader), ("b", &writer_b)] {
        let body = json!({"organization": {"sub_domain": org}, "properties": {"name": "t", "color": "red"}});
        let (status, _, _) = katapult(&app, token, Method::POST, "organizations/_/tags", body).await;
        assert_eq!(status, StatusCode::OK);
    }
    let seen = trail(&app, &reader, "").await;
    assert!(!seen.is_empty());
    assert!(seen.iter().all(|e| e["organization_id"] == json!(a)), "{seen:?}");
    // Naming another organization: not found, as everywhere; without the scope: refused.
    let r = app.get(&format!("/api/v1/audit_events?organization_id={b}"), &reader).await;
    assert_error(&r, StatusCode::NOT_FOUND, "not_found");
    let r = app.get("/api/v1/audit_events", &writer_b).await;
    assert_error(&r, StatusCode::FORBIDDEN, "scope_not_granted");
    // The operator reads every organization's, or one's.
    let all = trail(&app, OPERATOR, "").await;
    assert!(all.iter().any(|e| e["organization_id"] == json!(b)));
    let of_b = trail(&app, OPERATOR, &format!("organization_id={b}")).await;
    assert!(!of_b.is_empty() && of_b.iter().all(|e| e["organization_id"] == json!(b)));
}

#[tokio::test]
async fn filters_pages_and_bad_queries() {
    let app = TestApp::spawn().await;
    let org = app.org("acme").await;
    let (token_id, token) = app.token(&org, &["tags"]).await;
    for name in ["a", "b", "c"] {
        let body =
            json!({"organization": {"sub_domain": "acme"}, "properties": {"name": name, "color": "red"}});
        katapult(&app, &token, Method::POST, "organizations/_/tags", body).await;
    }
    let by_token = trail(&app, OPERATOR, &format!("principal=token:{token_id}")).await;
    assert_eq!(by_token.len(), 3);
    let names: Vec<&Value> = by_token.iter().map(|e| &e["changes"][2]["after"]).collect();
    assert_eq!(names, [&json!("c"), &json!("b"), &json!("a")], "newest first");
    let by_operator = trail(&app, OPERATOR, "principal=operator").await;
    assert!(by_operator.iter().all(|e| e["principal"] == "operator") && by_operator.len() == 2);
    let one = by_token[1]["object_id"].as_str().unwrap();
    assert_eq!(trail(&app, OPERATOR, &format!("object_kind=tag&object_id={one}")).await.len(), 1);
    assert_eq!(trail(&app, OPERATOR, "since=2999-01-01T00:00:00Z").await.len(), 0);
    assert_eq!(trail(&app, OPERATOR, "until=2000-01-01T00:00:00Z").await.len(), 0);
    assert_eq!(trail(&app, OPERATOR, "since=2000-01-01T00:00:00%2B01:00").await.len(), 5);

    let r = app.get("/api/v1/audit_events?per_page=2&page=2", OPERATOR).await;
    assert_eq!(r.body["pagination"], json!({"page": 2, "per_page": 2, "total": 5, "total_pages": 3}));
    assert_eq!(r.body["audit_events"].as_array().unwrap().len(), 2);

    for (query, parameter) in [
        ("object_kind=gadget", "object_kind"),
        ("principal=someone", "principal"),
        ("principal=token:nope", "principal"),
        ("since=yesterday", "since"),
        ("organization_id=acme", "organization_id"),
    ] {
        let r = app.get(&format!("/api/v1/audit_events?{query}"), OPERATOR).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{query}: {}", r.body);
        assert!(r.body.to_string().contains(parameter), "{query}: {}", r.body);
    }
}

#[tokio::test]
async fn a_refused_write_records_nothing_and_events_outlive_their_objects() {
    let app = TestApp::spawn().await;
    let org = app.org("acme").await;
    let before = trail(&app, OPERATOR, "").await.len();
    let r = app
        .post(&format!("/api/v1/organizations/{org}/api_tokens"), OPERATOR, json!({"name": "", "scopes": []}))
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
    assert_eq!(trail(&app, OPERATOR, "").await.len(), before, "a refused write changed nothing");

    let r = app.delete(&format!("/api/v1/organizations/{org}"), OPERATOR).await;
    assert!(r.status.is_success(), "{}", r.body);
    let kept = trail(&app, OPERATOR, &format!("organization_id={org}")).await;
    let done: Vec<&Value> = kept.iter().map(|e| &e["operation"]).collect();
    assert_eq!(done, [&json!("delete"), &json!("create")]);
    assert_eq!(
        kept[0]["changes"],
        json!([
            {"field": "id", "before": org, "after": null},
            {"field": "name", "before": "acme", "after": null},
            {"field": "resource_creation_restricted", "before": false, "after": null},
            {"field": "status", "before": "active", "after": null},
            {"field": "sub_domain", "before": "acme", "after": null},
        ])
    );
}

/// `--audit-retention-days`: the server's housekeeping deletes the events older than the
/// retention, and keeps the newer ones (here a retention of one second, and two organizations
/// created two seconds apart).
#[tokio::test]
async fn events_older_than_the_retention_are_deleted_by_housekeeping() {
    let app =
        TestApp::spawn_tuned(|c| c.core.audit_retention = Some(std::time::Duration::from_secs(1))).await;
    let old = app.org("old").await;
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    let new = app.org("new").await;
    assert!(app.core.purge_expired().await.unwrap() >= 1);
    let ids: Vec<Value> = trail(&app, OPERATOR, "").await.iter().map(|e| e["object_id"].clone()).collect();
    assert!(ids.contains(&json!(new)) && !ids.contains(&json!(old)), "{ids:?}");
}
