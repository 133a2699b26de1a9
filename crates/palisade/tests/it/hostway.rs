//! The Hostway face over HTTP: every example of the founding document ("Create firewall
//! group"), then the rest of the family as the reference describes it.

use data_encoding::BASE64;
use palisade_api::hostway::ids;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::support::{basic, Answer, TestApp, OPERATOR};

const USER: &str = "test_user";
const PASSWORD: &str = "correct horse battery";
/// Hostway's documented 401 body (reference §3: a newline after the status line, two spaces
/// after "requested."; the founding document's wiki rendering flattens it onto one line).
const UNAUTHORIZED: &str = "401 Unauthorized\nThis server could not verify that you are authorized to access the document you requested.  Either you supplied the wrong credentials (e.g., bad password), or your browser does not understand how to supply the credentials required.";

pub(crate) struct World {
    pub(crate) app: TestApp,
    pub(crate) org: String,
    auth: String,
}

/// An organization (sub-domain `test-account`) with one user.
pub(crate) async fn world() -> World {
    let app = TestApp::spawn().await;
    let org = app.org("test-account").await;
    let auth = app.user(&org, USER, PASSWORD).await;
    World { app, org, auth }
}

/// Sends a request with an optional `Authorization` value and raw body, as Hostway's examples
/// do (`Content-Type: application/json`).
async fn send(app: &TestApp, method: Method, path: &str, auth: Option<&str>, body: Option<&str>) -> Answer {
    let mut req = app.client.request(method.clone(), format!("{}{path}", app.base));
    if let Some(auth) = auth {
        req = req.header("authorization", auth);
    }
    if let Some(body) = body {
        req = req.header("content-type", "application/json").body(body.to_owned());
    }
    let res = req.send().await.unwrap();
    app.assert_audited(&method, path, res.status(), res.headers()).await;
    Answer { status: res.status(), headers: res.headers().clone(), text: res.text().await.unwrap() }
}

/// A request with the account user's credentials.
pub(crate) async fn call(w: &World, method: Method, path: &str, body: Option<Value>) -> Answer {
    let body = body.map(|b| b.to_string());
    send(&w.app, method, path, Some(&w.auth), body.as_deref()).await
}

fn groups(w: &World) -> String {
    format!("/accounts/{}/os-security-groups", w.org)
}

/// Creates a group and returns its id.
async fn create(w: &World, name: &str) -> String {
    let r = call(
        w,
        Method::POST,
        &groups(w),
        Some(json!({"securityGroup": {"displayName": name, "description": ""}})),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    r.json()["securityGroup"]["id"].as_str().unwrap().to_owned()
}

fn is_uuid(v: &Value) -> bool {
    v.as_str().is_some_and(|s| uuid::Uuid::parse_str(s).is_ok())
}

/// The fault with its `errorid` checked (a UUID) and masked.
#[track_caller]
fn fault(answer: &Answer, status: StatusCode) -> Value {
    assert_eq!(answer.status, status, "{}", answer.text);
    assert!(answer.headers["content-type"].to_str().unwrap().starts_with("application/json"));
    let mut body = answer.json();
    let obj = body.as_object_mut().unwrap();
    assert_eq!(obj.len(), 1, "a single-key fault: {}", answer.text);
    let inner = obj.values_mut().next().unwrap();
    assert!(is_uuid(&inner["errorid"]), "errorid: {}", answer.text);
    inner["errorid"] = json!("<uuid>");
    body
}

/// The keys appear in this order in the response text (as documented).
#[track_caller]
fn assert_order(text: &str, keys: &[&str]) {
    let at: Vec<usize> = keys.iter().map(|k| text.find(&format!("\"{k}\":")).unwrap()).collect();
    assert!(at.windows(2).all(|p| p[0] < p[1]), "key order {keys:?}: {text}");
}

fn today() -> String {
    let now = time::OffsetDateTime::now_utc();
    let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
    format!("{:04}{}{:02}", now.year(), months[usize::from(u8::from(now.month())) - 1], now.day())
}

#[tokio::test]
async fn the_founding_success_example() {
    let w = world().await;
    let body = r#"{ "securityGroup" : { "displayName" : "Test Firewall Group", "description" : "Test firewall group description." } }"#;
    // The document's headers, verbatim (its content type is malformed; it is not checked).
    let res = w
        .app
        .client
        .post(format!("{}{}", w.app.base, groups(&w)))
        .header("content-type", "application/json Charset=UTF-8")
        .header("authorization", &w.auth)
        .body(body)
        .send()
        .await
        .unwrap();
    let r = Answer { status: res.status(), headers: res.headers().clone(), text: res.text().await.unwrap() };
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    assert!(r.headers["content-type"].to_str().unwrap().starts_with("application/json"));
    let mut got = r.json();
    let id = got["securityGroup"]["id"].as_str().unwrap().to_owned();
    // `group` + date + `_` + 22 base62 (Hostway shows 9 characters; 128-bit ids need 22).
    let prefix = format!("group{}_", today());
    assert!(id.starts_with(&prefix) && id.len() == prefix.len() + 22, "{id}");
    assert!(id[prefix.len()..].bytes().all(|b| b.is_ascii_alphanumeric()), "{id}");
    assert!(ids::parse(&id).is_some());
    got["securityGroup"]["id"] = json!("<id>");
    // Whole response, in the documented key order; the href comes from the request's own base.
    let href = format!("{}/accounts/{}/os-security-groups/{id}/", w.app.base, w.org);
    assert_eq!(
        serde_json::to_string(&got).unwrap(),
        serde_json::to_string(&json!({"securityGroup": {
            "displayName": "Test Firewall Group",
            "description": "Test firewall group description.",
            "links": [{"href": href, "rel": "self"}],
            "rules": [],
            "id": "<id>",
            "accountNumber": w.org,
            "servers": []
        }}))
        .unwrap(),
    );
    assert_order(
        &r.text,
        &["displayName", "description", "links", "rules", "id", "accountNumber", "servers"],
    );
    // The same group, read back.
    let again = call(&w, Method::GET, &format!("{}/{id}", groups(&w)), None).await;
    assert_eq!(again.status, StatusCode::OK);
    assert_eq!(again.json()["securityGroup"]["displayName"], "Test Firewall Group");
}

#[tokio::test]
async fn the_founding_invalid_data_example() {
    let w = world().await;
    let want = json!({"badRequest": {"message": "Invalid", "code": 400, "details": "", "errorid": "<uuid>"}});
    // The document's `{ Empty }` is the wiki's placeholder for an empty body; `{}` is answered
    // the same way.
    for body in [None, Some(""), Some("{}"), Some("  \n")] {
        let r = send(&w.app, Method::POST, &groups(&w), Some(&w.auth), body).await;
        assert_eq!(fault(&r, StatusCode::BAD_REQUEST), want, "{body:?}");
    }
    // Other invalid data: the same fault, with details saying what is wrong.
    for (body, details) in [
        ("{\nEmpty\n}", "the request body is not valid JSON"),
        ("[]", "the request body must be a JSON object"),
        (r#"{"security_group": {"display_name": "x"}}"#, "securityGroup is required"),
        (r#"{"securityGroup": "x"}"#, "securityGroup: must be an object"),
        (r#"{"securityGroup": {"description": "x"}}"#, "displayName: is required"),
        (r#"{"securityGroup": {"displayName": ""}}"#, "displayName: "),
        (r#"{"securityGroup": {"displayName": 7}}"#, "displayName: must be a string"),
        (r#"{"securityGroup": {"displayName": "x", "description": []}}"#, "description: must be a string"),
    ] {
        let r = send(&w.app, Method::POST, &groups(&w), Some(&w.auth), Some(body)).await;
        let got = fault(&r, StatusCode::BAD_REQUEST);
        assert_eq!(
            (got["badRequest"]["message"].as_str(), got["badRequest"]["code"].as_u64()),
            (Some("Invalid"), Some(400))
        );
        let text = got["badRequest"]["details"].as_str().unwrap();
        assert!(text.starts_with(details), "{body}: {text}");
    }
    let long = json!({"securityGroup": {"displayName": "x".repeat(256)}}).to_string();
    let r = send(&w.app, Method::POST, &groups(&w), Some(&w.auth), Some(&long)).await;
    assert!(fault(&r, StatusCode::BAD_REQUEST)["badRequest"]["details"]
        .as_str()
        .unwrap()
        .starts_with("displayName: "));
    assert_eq!(w.app.count("security_groups").await, 0, "nothing was created");
}

#[tokio::test]
async fn the_founding_duplicate_name_example() {
    let w = world().await;
    let body = r#"{ "securityGroup" : { "displayName" : "Test Firewall Group", "description" : "Test firewall group description." } }"#;
    let first = send(&w.app, Method::POST, &groups(&w), Some(&w.auth), Some(body)).await;
    assert_eq!(first.status, StatusCode::CREATED);
    let second = send(&w.app, Method::POST, &groups(&w), Some(&w.auth), Some(body)).await;
    // As the founding document shows it: status 409, `"code": 400` inside, message
    // "GroupNameError". (The reference's summary, §4.4, shows `"message": "Display name in
    // use", "code": 409`; the founding document and the issue are followed here.)
    assert_eq!(
        fault(&second, StatusCode::CONFLICT),
        json!({"computeFault": {"message": "GroupNameError", "code": 400, "details": "Display name in use", "errorid": "<uuid>"}})
    );
    // A fresh errorid per error.
    let third = send(&w.app, Method::POST, &groups(&w), Some(&w.auth), Some(body)).await;
    assert_ne!(second.json()["computeFault"]["errorid"], third.json()["computeFault"]["errorid"]);
    // Another account may use the name.
    let other = w.app.org("other-account").await;
    let auth = w.app.user(&other, "other_user", PASSWORD).await;
    let r =
        send(&w.app, Method::POST, &format!("/accounts/{other}/os-security-groups"), Some(&auth), Some(body))
            .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
}

#[tokio::test]
async fn the_founding_unauthorized_example() {
    let w = world().await;
    let body = r#"{ "securityGroup" : { "displayName" : "x" } }"#;
    let fake = format!("Basic {}", BASE64.encode(b"fake_authentication_string"));
    let garbled = "Basic !!!not-base64".to_owned();
    for auth in [
        Some(fake.as_str()),
        None,
        Some(garbled.as_str()),
        Some(&basic(USER, "wrong password")),
        Some(&basic("nobody", PASSWORD)),
        Some("Bearer pal_bogus_token"),
        Some("Digest username=x"),
    ] {
        let r = send(&w.app, Method::POST, &groups(&w), auth, Some(body)).await;
        assert_eq!((r.status, r.text.as_str()), (StatusCode::UNAUTHORIZED, UNAUTHORIZED), "{auth:?}");
        assert!(r.headers["content-type"].to_str().unwrap().starts_with("text/plain"));
        assert!(r.headers["www-authenticate"].to_str().unwrap().starts_with("Basic"));
    }
    // Credentials are checked before the account and the body.
    let r = send(&w.app, Method::POST, "/accounts/fakeId/os-security-groups", None, None).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert_eq!(w.app.count("security_groups").await, 0);
}

#[tokio::test]
async fn the_founding_invalid_account_example() {
    let w = world().await;
    let want = json!({"itemNotFound": {"message": "Resource not found", "code": 404, "details": "", "errorid": "<uuid>"}});
    let r = send(&w.app, Method::POST, "/accounts/fakeId/os-security-groups", Some(&w.auth), None).await;
    assert_eq!(fault(&r, StatusCode::NOT_FOUND), want);
    // Another organization's account, by id or sub-domain, and an unknown id: the same, even
    // with a valid body; nothing is created anywhere.
    let other = w.app.org("other-account").await;
    let body = json!({"securityGroup": {"displayName": "x"}});
    for account in [other.as_str(), "other-account", "00000000-0000-0000-0000-000000000000"] {
        for method in [Method::POST, Method::GET] {
            let r = call(
                &w,
                method.clone(),
                &format!("/accounts/{account}/os-security-groups"),
                Some(body.clone()),
            )
            .await;
            assert_eq!(fault(&r, StatusCode::NOT_FOUND), want, "{method} {account}");
        }
    }
    assert_eq!(w.app.count("security_groups").await, 0);
    // The account's own sub-domain names it too; accountNumber is always its id.
    let r = call(&w, Method::POST, "/accounts/test-account/os-security-groups", Some(body)).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    let got = r.json();
    assert_eq!(got["securityGroup"]["accountNumber"], w.org);
    let href = got["securityGroup"]["links"][0]["href"].as_str().unwrap();
    assert!(href.starts_with(&format!("{}/accounts/{}/", w.app.base, w.org)), "{href}");
}

#[tokio::test]
async fn the_alternative_uri_takes_the_account_from_the_credentials() {
    let w = world().await;
    let body = r#"{ "securityGroup" : { "displayName" : "Test Firewall Group", "description" : "Test firewall group description." } }"#;
    let r = send(&w.app, Method::POST, "/accounts/os-security-groups", Some(&w.auth), Some(body)).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    let got = r.json();
    assert_eq!(got["securityGroup"]["accountNumber"], w.org);
    let id = got["securityGroup"]["id"].as_str().unwrap();
    assert_eq!(
        got["securityGroup"]["links"][0]["href"],
        format!("{}/accounts/{}/os-security-groups/{id}/", w.app.base, w.org)
    );
    let list = send(&w.app, Method::GET, "/accounts/os-security-groups", Some(&w.auth), None).await;
    assert_eq!(list.json()["securityGroups"][0]["id"], id);
    // The operator has no account of its own: it must name one in the path.
    let op = format!("Bearer {OPERATOR}");
    let r = send(&w.app, Method::POST, "/accounts/os-security-groups", Some(&op), Some(body)).await;
    assert_eq!(fault(&r, StatusCode::FORBIDDEN)["forbidden"]["code"], 403);
    let r = send(&w.app, Method::GET, &groups(&w), Some(&op), None).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
}

#[tokio::test]
async fn concurrent_creates_with_one_name_have_exactly_one_winner() {
    let w = world().await;
    let body = r#"{"securityGroup": {"displayName": "same", "description": "race"}}"#;
    let mut tasks = Vec::new();
    for _ in 0..16 {
        let (client, url, auth) =
            (w.app.client.clone(), format!("{}{}", w.app.base, groups(&w)), w.auth.clone());
        tasks.push(tokio::spawn(async move {
            let res = client
                .post(url)
                .header("authorization", auth)
                .header("content-type", "application/json")
                .body(body)
                .send()
                .await
                .unwrap();
            (res.status(), res.text().await.unwrap())
        }));
    }
    let mut created = 0;
    for t in tasks {
        let (status, text) = t.await.unwrap();
        match status {
            StatusCode::CREATED => created += 1,
            StatusCode::CONFLICT => assert!(text.contains("Display name in use"), "{text}"),
            other => panic!("unexpected {other}: {text}"),
        }
    }
    assert_eq!(created, 1);
    assert_eq!(w.app.count("security_groups").await, 1);
}

#[tokio::test]
async fn groups_list_get_update_delete() {
    let w = world().await;
    let web = create(&w, "web").await;
    let db = create(&w, "db").await;
    let list = call(&w, Method::GET, &groups(&w), None).await;
    assert_eq!(list.status, StatusCode::OK);
    let names: Vec<String> = list.json()["securityGroups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["displayName"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(names, ["web", "db"]);

    let path = format!("{}/{web}", groups(&w));
    let got = call(&w, Method::GET, &path, None).await;
    assert_eq!(
        got.json(),
        json!({"securityGroup": {"displayName": "web", "description": "", "links": [{"href": format!("{}{path}/", w.app.base), "rel": "self"}],
            "rules": [], "id": web, "accountNumber": w.org, "servers": []}})
    );
    // The date is part of the id: the same bytes under another date name nothing.
    let wrong_date = format!("group1999Jan01_{}", &web[web.find('_').unwrap() + 1..]);
    let not_found = json!({"itemNotFound": {"message": "Resource not found", "code": 404, "details": "", "errorid": "<uuid>"}});
    for bad in [wrong_date.as_str(), "group2012May11_OK30Zs7Ju", "nonsense"] {
        let r = call(&w, Method::GET, &format!("{}/{bad}", groups(&w)), None).await;
        assert_eq!(fault(&r, StatusCode::NOT_FOUND), not_found, "{bad}");
    }

    // Update: display name and/or description.
    let r = call(&w, Method::PUT, &path, Some(json!({"securityGroup": {"displayName": "frontend"}}))).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(
        (r.json()["securityGroup"]["displayName"].as_str(), r.json()["securityGroup"]["id"].as_str()),
        (Some("frontend"), Some(web.as_str()))
    );
    let r =
        call(&w, Method::PUT, &path, Some(json!({"securityGroup": {"description": "the web tier"}}))).await;
    assert_eq!(
        (
            r.json()["securityGroup"]["displayName"].as_str(),
            r.json()["securityGroup"]["description"].as_str()
        ),
        (Some("frontend"), Some("the web tier"))
    );
    let r = call(&w, Method::PUT, &path, Some(json!({"securityGroup": {"displayName": "db"}}))).await;
    assert_eq!(fault(&r, StatusCode::CONFLICT)["computeFault"]["details"], "Display name in use");
    let r = call(&w, Method::PUT, &path, Some(json!({"securityGroup": {}}))).await;
    assert_eq!(
        fault(&r, StatusCode::BAD_REQUEST)["badRequest"]["details"],
        "give displayName, description or both"
    );
    let r = call(&w, Method::PUT, &path, None).await;
    assert_eq!(fault(&r, StatusCode::BAD_REQUEST)["badRequest"]["details"], "");
    let r = call(
        &w,
        Method::PUT,
        &format!("{}/{wrong_date}", groups(&w)),
        Some(json!({"securityGroup": {"displayName": "z"}})),
    )
    .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);

    // Delete: 204 without a body, then gone.
    let r = call(&w, Method::DELETE, &path, None).await;
    assert_eq!((r.status, r.text.as_str()), (StatusCode::NO_CONTENT, ""));
    assert_eq!(call(&w, Method::GET, &path, None).await.status, StatusCode::NOT_FOUND);
    assert_eq!(call(&w, Method::DELETE, &path, None).await.status, StatusCode::NOT_FOUND);
    let list = call(&w, Method::GET, &groups(&w), None).await.json();
    assert_eq!(list["securityGroups"].as_array().unwrap().len(), 1);
    assert_eq!(list["securityGroups"][0]["id"], db);

    // Another account's user sees none of it.
    let other = w.app.org("other-account").await;
    let auth = w.app.user(&other, "other_user", PASSWORD).await;
    let r = send(&w.app, Method::GET, &format!("{}/{db}", groups(&w)), Some(&auth), None).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let r = send(
        &w.app,
        Method::DELETE,
        &format!("/accounts/{other}/os-security-groups/{db}"),
        Some(&auth),
        None,
    )
    .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "a group of another account, through one's own account");
    assert_eq!(w.app.count("security_groups").await, 1);
}

#[tokio::test]
async fn the_same_groups_as_the_katapult_face() {
    let w = world().await;
    let (_, token) = w.app.token(&w.org, &["security_groups"]).await;
    let r = w
        .app
        .post(
            "/core/v1/organizations/_/security_groups",
            &token,
            json!({"organization": {"sub_domain": "test-account"}, "properties": {"name": "from-katapult"}}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let list = call(&w, Method::GET, &groups(&w), None).await.json();
    assert_eq!(list["securityGroups"][0]["displayName"], "from-katapult");
    // And a name taken on one face is taken on the other.
    let r =
        call(&w, Method::POST, &groups(&w), Some(json!({"securityGroup": {"displayName": "from-katapult"}})))
            .await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    // Bearer tokens work here too, within their scopes.
    let bearer = format!("Bearer {token}");
    let r = send(
        &w.app,
        Method::POST,
        &groups(&w),
        Some(&bearer),
        Some(r#"{"securityGroup":{"displayName":"by-token"}}"#),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    let id = r.json()["securityGroup"]["id"].as_str().unwrap().to_owned();
    let r = send(&w.app, Method::DELETE, &format!("{}/{id}", groups(&w)), Some(&bearer), None).await;
    let got = fault(&r, StatusCode::FORBIDDEN);
    assert_eq!(got["forbidden"]["details"], "the credential lacks the scope security_group");
    // Hostway's rules read back through the Katapult face: Katapult's protocols are TCP, UDP and
    // ICMP, so an ESP rule shows as the closest one with the truth in its notes, with its
    // priority (docs/policy-semantics.md, "Projections").
    let r =
        rule(&w, json!({"protocol": "ESP", "cidr": "192.0.2.0/24", "parentGroupId": id, "action": "DROP"}))
            .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    let sg = palisade_api::katapult::ids::render("sg", ids::parse(&id).unwrap().0.as_bytes());
    let r = w.app.get(&format!("/core/v1/security_groups/{sg}/rules"), &token).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let k = &r.body["security_group_rules"][0];
    assert_eq!(
        (k["direction"].as_str(), k["protocol"].as_str(), k["action"].as_str(), k["targets"][0].as_str()),
        (Some("inbound"), Some("TCP"), Some("deny"), Some("192.0.2.0/24")),
        "{}",
        r.body
    );
    assert_eq!(
        k["notes"],
        "[palisade: IP protocol 50 (ESP), not TCP; priority 0: evaluated before every rule without one, lower first]"
    );
}

/// Creates a rule and returns the response.
async fn rule(w: &World, body: Value) -> Answer {
    call(
        w,
        Method::POST,
        &format!("/accounts/{}/os-security-group-rules", w.org),
        Some(json!({"securityGroupRule": body})),
    )
    .await
}

#[tokio::test]
async fn rules_are_created_listed_and_deleted() {
    let w = world().await;
    let group = create(&w, "web").await;
    let r = rule(
        &w,
        json!({"fromPort": 80, "toPort": 80, "protocol": "TCP", "cidr": "127.0.0.1/24", "parentGroupId": group, "action": "ACCEPT", "priority": 10}),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    assert_order(
        &r.text,
        &["fromPort", "protocol", "links", "toPort", "parentGroupId", "cidr", "action", "priority", "id"],
    );
    let created = r.json();
    let id = created["securityGroupRule"]["id"].as_str().unwrap().to_owned();
    assert!(id.parse::<u64>().is_ok_and(|n| n >= 1), "numeric rule id: {id}");
    assert_eq!(
        created,
        json!({"securityGroupRule": {"fromPort": 80, "protocol": "TCP",
            "links": [{"href": format!("{}/accounts/{}/os-security-group-rules/{id}/", w.app.base, w.org), "rel": "self"}],
            "toPort": 80, "parentGroupId": group, "cidr": "127.0.0.1/24", "action": "ACCEPT", "priority": 10, "id": id}})
    );
    // Canonically: an inbound allow rule from that CIDR, priority negated (Hostway: higher first).
    let (gid, _) = ids::parse(&group).unwrap();
    let rules = w
        .app
        .core
        .group_with_rules(
            &palisade_core::Principal::Operator,
            gid,
            palisade_core::policy::GroupKind::SecurityGroup,
        )
        .await
        .unwrap()
        .rules;
    assert_eq!(rules.len(), 1);
    assert_eq!(
        (rules[0].direction, rules[0].action, rules[0].priority, &rules[0].remotes),
        (
            palisade_core::policy::Direction::Inbound,
            palisade_core::policy::Action::Allow,
            Some(-10),
            &vec![palisade_core::policy::Remote::Cidr("127.0.0.1/24".into())]
        )
    );

    // Every protocol Hostway names, except AH+ESP (two IP protocols: refused, see the module docs).
    let mut ids_seen = vec![id.clone()];
    for (protocol, from, to, action) in [
        ("UDP", 53, 53, "DROP"),
        ("TCP", 1000, 2000, "REJECT"),
        ("AH", 0, 0, "ACCEPT"),
        ("ESP", 0, 0, "ACCEPT"),
        ("GRE", 0, 0, "DROP"),
        ("ALL", 0, 0, "ACCEPT"),
    ] {
        let r = rule(&w, json!({"fromPort": from, "toPort": to, "protocol": protocol, "cidr": "0.0.0.0/0", "parentGroupId": group, "action": action, "priority": 0})).await;
        assert_eq!(r.status, StatusCode::CREATED, "{protocol}: {}", r.text);
        let got = r.json()["securityGroupRule"].clone();
        assert_eq!(
            (
                got["protocol"].as_str(),
                got["fromPort"].as_u64(),
                got["toPort"].as_u64(),
                got["action"].as_str()
            ),
            (Some(protocol), Some(from), Some(to), Some(action))
        );
        ids_seen.push(got["id"].as_str().unwrap().to_owned());
    }
    // Ports may be omitted for protocols without ports; action and priority default.
    let r = rule(&w, json!({"protocol": "GRE", "cidr": "10.0.0.0/8", "parentGroupId": group})).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    assert_eq!(
        (
            r.json()["securityGroupRule"]["action"].as_str(),
            r.json()["securityGroupRule"]["priority"].as_i64()
        ),
        (Some("ACCEPT"), Some(0))
    );
    ids_seen.push(r.json()["securityGroupRule"]["id"].as_str().unwrap().to_owned());

    // Invalid rules: 400 with details, nothing stored.
    let bad = [
        (
            json!({"protocol": "AH+ESP", "cidr": "0.0.0.0/0", "parentGroupId": group}),
            "protocol: AH+ESP cannot be one rule here; create one AH rule and one ESP rule",
        ),
        (
            json!({"protocol": "ICMP", "cidr": "0.0.0.0/0", "parentGroupId": group}),
            "protocol: must be one of TCP, UDP, AH, ESP, GRE, AH+ESP, ALL",
        ),
        (
            json!({"fromPort": 22, "toPort": 22, "protocol": "ALL", "cidr": "0.0.0.0/0", "parentGroupId": group}),
            "fromPort: must be 0 for ALL; toPort: must be 0 for ALL",
        ),
        (
            json!({"fromPort": 0, "toPort": 0, "protocol": "TCP", "cidr": "0.0.0.0/0", "parentGroupId": group}),
            "fromPort: must be between 1 and 65535 for TCP; toPort: must be between 1 and 65535 for TCP",
        ),
        (
            json!({"toPort": 22, "protocol": "UDP", "cidr": "0.0.0.0/0", "parentGroupId": group}),
            "fromPort: is required for UDP",
        ),
        (
            json!({"fromPort": 30, "toPort": 20, "protocol": "TCP", "cidr": "0.0.0.0/0", "parentGroupId": group}),
            "toPort: must not be less than fromPort",
        ),
        (
            json!({"fromPort": "x", "toPort": 70000, "protocol": "TCP", "cidr": "0.0.0.0/0", "parentGroupId": group}),
            "fromPort: must be an integer; toPort: must be between 1 and 65535 for TCP",
        ),
        (
            json!({"protocol": "ALL", "cidr": "10.0.0.300/8", "parentGroupId": group}),
            "cidr: must be a CIDR such as 192.0.2.0/24",
        ),
        (json!({"protocol": "ALL", "parentGroupId": group}), "cidr: is required"),
        (
            json!({"protocol": "ALL", "cidr": "0.0.0.0/0", "parentGroupId": group, "action": "ALLOW"}),
            "action: must be one of ACCEPT, REJECT, DROP",
        ),
        (
            json!({"protocol": "ALL", "cidr": "0.0.0.0/0", "parentGroupId": group, "priority": -1}),
            "priority: must be an integer of at least 0",
        ),
        (json!({"protocol": "ALL", "cidr": "0.0.0.0/0"}), "parentGroupId: is required"),
        (
            json!({"protocol": "ALL", "cidr": "0.0.0.0/0", "parentGroupId": "group2012May11_OK30Zs7Ju"}),
            "parentGroupId: no such firewall group",
        ),
        (json!({}), "protocol: is required; cidr: is required; parentGroupId: is required"),
    ];
    for (body, details) in bad {
        let r = rule(&w, body.clone()).await;
        assert_eq!(
            fault(&r, StatusCode::BAD_REQUEST),
            json!({"badRequest": {"message": "Invalid", "code": 400, "details": details, "errorid": "<uuid>"}}),
            "{body}"
        );
    }
    let r = call(&w, Method::POST, &format!("/accounts/{}/os-security-group-rules", w.org), None).await;
    assert_eq!(fault(&r, StatusCode::BAD_REQUEST)["badRequest"]["details"], "");
    assert_eq!(w.app.count("security_group_rules").await, 8);

    // The group shows its rules; the list page is snake_case.
    let g = call(&w, Method::GET, &format!("{}/{group}", groups(&w)), None).await.json();
    assert_eq!(
        g["securityGroup"]["rules"][0],
        json!({"fromPort": 80, "toPort": 80, "protocol": "TCP", "cidr": "127.0.0.1/24", "action": "ACCEPT", "priority": 10, "id": id})
    );
    let shown: Vec<&str> =
        g["securityGroup"]["rules"].as_array().unwrap().iter().map(|r| r["id"].as_str().unwrap()).collect();
    assert_eq!(shown, ids_seen);
    let rules_path = format!("{}/{group}/rules", groups(&w));
    let list = call(&w, Method::GET, &rules_path, None).await;
    assert_eq!(list.status, StatusCode::OK, "{}", list.text);
    assert_order(
        &list.text,
        &["list", "priority", "action", "from_port", "protocol", "to_port", "cidr", "id", "links"],
    );
    let list = list.json();
    assert_eq!(list["list"].as_array().unwrap().len(), 8);
    assert_eq!(
        list["list"][0],
        json!({"priority": 10, "action": "ACCEPT", "from_port": 80, "protocol": "TCP", "to_port": 80, "cidr": "127.0.0.1/24", "id": id})
    );
    assert_eq!(list["links"], json!([{"href": format!("{}{rules_path}/", w.app.base), "rel": "self"}]));
    let page = call(&w, Method::GET, &format!("{rules_path}?page=2&pageSize=3"), None).await.json();
    let paged: Vec<&str> =
        page["list"].as_array().unwrap().iter().map(|r| r["id"].as_str().unwrap()).collect();
    assert_eq!(paged, ids_seen[3..6]);
    for (query, details) in [
        ("page=1", "page: give both page and pageSize, or neither"),
        ("pageSize=2", "page: give both page and pageSize, or neither"),
        ("page=0&pageSize=2", "page: must be at least 1"),
        ("page=x&pageSize=2", "page: must be a positive integer"),
        ("page=1&pageSize=1000", "pageSize: must be between 1 and 200"),
    ] {
        let r = call(&w, Method::GET, &format!("{rules_path}?{query}"), None).await;
        assert_eq!(fault(&r, StatusCode::BAD_REQUEST)["badRequest"]["details"], details, "{query}");
    }

    // Delete: 204, then gone; ids are not reused.
    let path = format!("/accounts/{}/os-security-group-rules/{id}", w.org);
    let r = call(&w, Method::DELETE, &path, None).await;
    assert_eq!((r.status, r.text.as_str()), (StatusCode::NO_CONTENT, ""));
    assert_eq!(call(&w, Method::DELETE, &path, None).await.status, StatusCode::NOT_FOUND);
    for bad in ["abc", "-1", "99999999999999999999999", "0"] {
        let r = call(&w, Method::DELETE, &format!("/accounts/{}/os-security-group-rules/{bad}", w.org), None)
            .await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{bad}");
    }
    let r = rule(&w, json!({"protocol": "ALL", "cidr": "::/0", "parentGroupId": group})).await;
    let newest = r.json()["securityGroupRule"]["id"].as_str().unwrap().parse::<u64>().unwrap();
    assert!(ids_seen.iter().all(|i| i.parse::<u64>().unwrap() < newest));

    // A group without rules: the rules list is a 404, as Hostway documents.
    let empty = create(&w, "empty").await;
    let r = call(&w, Method::GET, &format!("{}/{empty}/rules", groups(&w)), None).await;
    assert_eq!(fault(&r, StatusCode::NOT_FOUND)["itemNotFound"]["message"], "Resource not found");

    // Another account cannot reach these rules, nor add any.
    let other = w.app.org("other-account").await;
    let auth = w.app.user(&other, "other_user", PASSWORD).await;
    let second = &ids_seen[1];
    let r = send(
        &w.app,
        Method::DELETE,
        &format!("/accounts/{other}/os-security-group-rules/{second}"),
        Some(&auth),
        None,
    )
    .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let body = json!({"securityGroupRule": {"protocol": "ALL", "cidr": "0.0.0.0/0", "parentGroupId": group}})
        .to_string();
    let r = send(
        &w.app,
        Method::POST,
        &format!("/accounts/{other}/os-security-group-rules"),
        Some(&auth),
        Some(&body),
    )
    .await;
    assert_eq!(
        fault(&r, StatusCode::BAD_REQUEST)["badRequest"]["details"],
        "parentGroupId: no such firewall group"
    );
    let r = send(
        &w.app,
        Method::GET,
        &format!("/accounts/{other}/os-security-groups/{group}/rules"),
        Some(&auth),
        None,
    )
    .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(w.app.count("security_group_rules").await, 8);

    // Deleting the group deletes its rules.
    assert_eq!(
        call(&w, Method::DELETE, &format!("{}/{group}", groups(&w)), None).await.status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(w.app.count("security_group_rules").await, 0);
}

#[tokio::test]
async fn assigning_a_group_to_a_server() {
    let w = world().await;
    let group = create(&w, "web").await;
    let mut servers = Vec::new();
    for name in ["web-1", "web-2"] {
        let r = w
            .app
            .post(&format!("/api/v1/organizations/{}/servers", w.org), OPERATOR, json!({"name": name}))
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
        servers.push(r.body["server"]["id"].as_str().unwrap().to_owned());
    }
    let assign = |server: &str| format!("/accounts/{}/flexcloud/servers/{server}/os-security-group", w.org);
    let body = json!({"securityGroup": {"id": group, "status": "enabled"}});
    let r = call(&w, Method::PUT, &assign(&servers[0]), Some(body.clone())).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(
        r.json(),
        json!({"securityGroup": {"id": group, "links": [{"href": format!("{}/accounts/{}/os-security-groups/{group}/", w.app.base, w.org), "rel": "self"}]}})
    );
    // Idempotent; a second server joins.
    assert_eq!(call(&w, Method::PUT, &assign(&servers[0]), Some(body.clone())).await.status, StatusCode::OK);
    assert_eq!(call(&w, Method::PUT, &assign(&servers[1]), Some(body.clone())).await.status, StatusCode::OK);
    let g = call(&w, Method::GET, &format!("{}/{group}", groups(&w)), None).await.json();
    assert_eq!(g["securityGroup"]["servers"], json!(servers));
    let list = call(&w, Method::GET, &groups(&w), None).await.json();
    assert_eq!(list["securityGroups"][0]["servers"], json!(servers));

    // Unknown group: 400 (as documented for "not_exist"); unknown server: 404.
    let r = call(
        &w,
        Method::PUT,
        &assign(&servers[0]),
        Some(json!({"securityGroup": {"id": "not_exist", "status": "enabled"}})),
    )
    .await;
    assert_eq!(
        fault(&r, StatusCode::BAD_REQUEST),
        json!({"badRequest": {"message": "Invalid", "code": 400, "details": "id: no such firewall group", "errorid": "<uuid>"}})
    );
    for server in ["00000000-0000-0000-0000-000000000000", "vm-1"] {
        let r = call(&w, Method::PUT, &assign(server), Some(body.clone())).await;
        assert_eq!(fault(&r, StatusCode::NOT_FOUND)["itemNotFound"]["code"], 404, "{server}");
    }
    for bad in [
        json!({"securityGroup": {"id": group, "status": "disabled"}}),
        json!({"securityGroup": {"id": group}}),
    ] {
        let r = call(&w, Method::PUT, &assign(&servers[0]), Some(bad)).await;
        assert_eq!(
            fault(&r, StatusCode::BAD_REQUEST)["badRequest"]["details"],
            "status: must be \"enabled\""
        );
    }
    let r = call(&w, Method::PUT, &assign(&servers[0]), None).await;
    assert_eq!(fault(&r, StatusCode::BAD_REQUEST)["badRequest"]["details"], "");
    // Another account's server is not found.
    let other = w.app.org("other-account").await;
    let theirs =
        w.app.post(&format!("/api/v1/organizations/{other}/servers"), OPERATOR, json!({"name": "x"})).await;
    let theirs = theirs.body["server"]["id"].as_str().unwrap().to_owned();
    assert_eq!(call(&w, Method::PUT, &assign(&theirs), Some(body)).await.status, StatusCode::NOT_FOUND);
    // Deleting a server removes it from the group.
    w.app.delete(&format!("/api/v1/organizations/{}/servers/{}", w.org, servers[0]), OPERATOR).await;
    let g = call(&w, Method::GET, &format!("{}/{group}", groups(&w)), None).await.json();
    assert_eq!(g["securityGroup"]["servers"], json!([servers[1]]));
}

#[tokio::test]
async fn writes_must_be_json_so_cross_site_forms_cannot_write() {
    let w = world().await;
    let json_body = r#"{"securityGroup": {"displayName": "web"}}"#;
    let raw = |method: Method, path: String, content_type: Option<&'static str>, body: String| {
        let mut req =
            w.app.client.request(method, format!("{}{path}", w.app.base)).header("authorization", &w.auth);
        if let Some(ct) = content_type {
            req = req.header("content-type", ct);
        }
        async move {
            let res = req.body(body).send().await.unwrap();
            Answer { status: res.status(), headers: res.headers().clone(), text: res.text().await.unwrap() }
        }
    };
    let unsupported = json!({"badMediaType": {"message": "Unsupported media type", "code": 415,
        "details": "send application/json", "errorid": "<uuid>"}});
    for content_type in [
        Some("application/x-www-form-urlencoded"),
        Some("multipart/form-data; boundary=x"),
        Some("text/plain"),
        Some("text/plain; charset=UTF-8"),
        None,
    ] {
        let r = raw(Method::POST, groups(&w), content_type, json_body.into()).await;
        assert_eq!(fault(&r, StatusCode::UNSUPPORTED_MEDIA_TYPE), unsupported, "{content_type:?}");
    }
    let list = call(&w, Method::GET, &groups(&w), None).await.json();
    assert_eq!(list["securityGroups"], json!([]), "nothing was created");

    let group = create(&w, "web").await;
    let r = raw(
        Method::PUT,
        format!("{}/{group}", groups(&w)),
        Some("text/plain"),
        r#"{"securityGroup": {"displayName": "x"}}"#.into(),
    )
    .await;
    assert_eq!(fault(&r, StatusCode::UNSUPPORTED_MEDIA_TYPE), unsupported);
    let rule =
        json!({"securityGroupRule": {"fromPort": 22, "toPort": 22, "protocol": "TCP", "cidr": "0.0.0.0/0",
        "parentGroupId": group}})
        .to_string();
    let rules = format!("/accounts/{}/os-security-group-rules", w.org);
    let r = raw(Method::POST, rules.clone(), Some("application/x-www-form-urlencoded"), rule.clone()).await;
    assert_eq!(fault(&r, StatusCode::UNSUPPORTED_MEDIA_TYPE), unsupported);
    let g = call(&w, Method::GET, &format!("{}/{group}", groups(&w)), None).await.json();
    assert_eq!(g["securityGroup"]["displayName"], "web");
    assert_eq!(g["securityGroup"]["rules"], json!([]));
    // JSON with parameters is fine.
    let r = raw(Method::POST, rules, Some("application/json; charset=UTF-8"), rule).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
}

/// Creates a group with these extra headers and returns its self link.
async fn link_with(w: &World, headers: &[(&str, &str)]) -> (String, String) {
    let mut req = w
        .app
        .client
        .post(format!("{}{}", w.app.base, groups(w)))
        .header("authorization", &w.auth)
        .header("content-type", "application/json");
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let name = uuid::Uuid::new_v4().to_string();
    let res = req.body(json!({"securityGroup": {"displayName": name}}).to_string()).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::CREATED);
    let got: Value = res.json().await.unwrap();
    let id = got["securityGroup"]["id"].as_str().unwrap().to_owned();
    (id, got["securityGroup"]["links"][0]["href"].as_str().unwrap().to_owned())
}

async fn world_with(tune: impl FnOnce(&mut palisade::ServeConfig)) -> World {
    let app = TestApp::spawn_tuned(tune).await;
    let org = app.org("test-account").await;
    let auth = app.user(&org, USER, PASSWORD).await;
    World { app, org, auth }
}

#[tokio::test]
async fn links_believe_forwarded_headers_only_from_trusted_proxies() {
    let forwarded =
        [("host", "internal:8080"), ("x-forwarded-proto", "https"), ("x-forwarded-host", "api.example.com")];
    // A client talking directly: its Host names the server; X-Forwarded-* are its own claims.
    let w = world().await;
    let (id, href) = link_with(&w, &forwarded).await;
    assert_eq!(href, format!("http://internal:8080/accounts/{}/os-security-groups/{id}/", w.org));
    // Through a trusted proxy (this test's client is on 127.0.0.1).
    let w = world_with(|c| c.api.trusted_proxies = vec!["127.0.0.0/8".parse().unwrap()]).await;
    let (id, href) = link_with(&w, &forwarded).await;
    assert_eq!(href, format!("https://api.example.com/accounts/{}/os-security-groups/{id}/", w.org));
    // A configured public URL wins over every header.
    let w = world_with(|c| {
        c.api.trusted_proxies = vec!["127.0.0.0/8".parse().unwrap()];
        c.api.public_url = Some("https://cloud.example.net/hostway".into());
    })
    .await;
    let (id, href) = link_with(&w, &forwarded).await;
    assert_eq!(
        href,
        format!("https://cloud.example.net/hostway/accounts/{}/os-security-groups/{id}/", w.org)
    );
    let rules = call(&w, Method::GET, &format!("{}/{id}", groups(&w)), None).await.json();
    assert_eq!(rules["securityGroup"]["links"][0]["href"], href);
}

#[tokio::test]
async fn unknown_paths_and_wrong_methods_answer_in_hostways_envelope() {
    let w = world().await;
    let r = call(&w, Method::PATCH, &groups(&w), None).await;
    assert_eq!(
        fault(&r, StatusCode::METHOD_NOT_ALLOWED),
        json!({"badMethod": {"message": "Method not allowed", "code": 405, "details": "this resource does not accept that method", "errorid": "<uuid>"}})
    );
    for path in [
        format!("/accounts/{}/nothing", w.org),
        "/accounts/x/os-security-groups/a/b/c".into(),
        "/accounts".into(),
    ] {
        let r = call(&w, Method::GET, &path, None).await;
        if path == "/accounts" {
            // Not under the face: the native API's answer.
            assert_eq!(r.status, StatusCode::NOT_FOUND);
            continue;
        }
        assert_eq!(
            fault(&r, StatusCode::NOT_FOUND)["itemNotFound"]["message"],
            "Resource not found",
            "{path}"
        );
    }
    // A suspended account's user is refused.
    let r = w
        .app
        .patch(&format!("/api/v1/organizations/{}", w.org), OPERATOR, json!({"status": "suspended"}))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let r = call(&w, Method::GET, &groups(&w), None).await;
    assert_eq!(fault(&r, StatusCode::FORBIDDEN)["forbidden"]["details"], "the account is suspended");
}

/// Every Hostway route (from the face's own table, so new routes are covered) with a wrong
/// password and with another account's user: 401 and 404, and nothing of the account changes.
/// (`route_table.rs` walks the same routes with API tokens.)
#[tokio::test]
async fn every_route_refuses_bad_passwords_and_other_accounts_users() {
    let w = world().await;
    let group = create(&w, "g").await;
    let r = rule(&w, json!({"protocol": "ALL", "cidr": "0.0.0.0/0", "parentGroupId": group})).await;
    let rule_id = r.json()["securityGroupRule"]["id"].as_str().unwrap().to_owned();
    let server =
        w.app.post(&format!("/api/v1/organizations/{}/servers", w.org), OPERATOR, json!({"name": "s"})).await;
    let server = server.body["server"]["id"].as_str().unwrap().to_owned();
    let other = w.app.org("other-account").await;
    let theirs = w.app.user(&other, "other_user", PASSWORD).await;
    let wrong = basic(USER, "not the password");
    let before = call(&w, Method::GET, &format!("{}/{group}", groups(&w)), None).await.json();

    let routes = palisade_api::hostway::routes().into_table();
    assert_eq!(routes.len(), 11);
    for route in routes {
        let path = route
            .path
            .replace("{account_id}", &w.org)
            .replace("{group_id}", &group)
            .replace("{rule_id}", &rule_id)
            .replace("{server_id}", &server);
        let body = match (route.method.as_str(), route.path.as_str()) {
            ("POST", p) if p.ends_with("os-security-groups") => {
                json!({"securityGroup": {"displayName": "intruder"}})
            }
            ("PUT", p) if p.ends_with("{group_id}") => json!({"securityGroup": {"description": "changed"}}),
            ("POST", _) => {
                json!({"securityGroupRule": {"protocol": "TCP", "fromPort": 1, "toPort": 2, "cidr": "0.0.0.0/0", "parentGroupId": group}})
            }
            ("PUT", _) => json!({"securityGroup": {"id": group, "status": "enabled"}}),
            _ => Value::Null,
        };
        let body = (!body.is_null()).then(|| body.to_string());
        let method = route.method.clone();
        let context = format!("{} {}", route.method, route.path);

        let r = send(&w.app, method.clone(), &path, Some(&wrong), body.as_deref()).await;
        assert_eq!((r.status, r.text.as_str()), (StatusCode::UNAUTHORIZED, UNAUTHORIZED), "{context}");

        let r = send(&w.app, method, &path, Some(&theirs), body.as_deref()).await;
        if route.path.starts_with("/accounts/{account_id}") {
            assert_eq!(fault(&r, StatusCode::NOT_FOUND)["itemNotFound"]["code"], 404, "{context}");
        } else {
            // The alias acts in the caller's own account and shows nothing of this one.
            assert!(r.status.is_success(), "{context}: {}", r.text);
            assert!(!r.text.contains(&w.org) && !r.text.contains(&group), "{context} leaks: {}", r.text);
        }
    }
    let after = call(&w, Method::GET, &format!("{}/{group}", groups(&w)), None).await.json();
    assert_eq!(before, after);
    let list = call(&w, Method::GET, &groups(&w), None).await.json();
    assert_eq!(list["securityGroups"].as_array().unwrap().len(), 1);
    assert_eq!(w.app.count("security_group_rules").await, 1);
}

#[tokio::test]
async fn concurrent_assignments_all_land() {
    let w = world().await;
    let group = create(&w, "web").await;
    let mut servers = Vec::new();
    for i in 0..8 {
        let r = w
            .app
            .post(
                &format!("/api/v1/organizations/{}/servers", w.org),
                OPERATOR,
                json!({"name": format!("s{i}")}),
            )
            .await;
        servers.push(r.body["server"]["id"].as_str().unwrap().to_owned());
    }
    let body = json!({"securityGroup": {"id": group, "status": "enabled"}}).to_string();
    let mut tasks = Vec::new();
    for server in &servers {
        let url = format!("{}/accounts/{}/flexcloud/servers/{server}/os-security-group", w.app.base, w.org);
        let (client, auth, body) = (w.app.client.clone(), w.auth.clone(), body.clone());
        tasks.push(tokio::spawn(async move {
            let req =
                client.put(url).header("authorization", auth).header("content-type", "application/json");
            req.body(body).send().await.unwrap().status()
        }));
    }
    for t in tasks {
        assert_eq!(t.await.unwrap(), StatusCode::OK);
    }
    let g = call(&w, Method::GET, &format!("{}/{group}", groups(&w)), None).await.json();
    let mut got: Vec<String> = g["securityGroup"]["servers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap().to_owned())
        .collect();
    got.sort();
    servers.sort();
    assert_eq!(got, servers, "no assignment lost");
}

#[tokio::test]
async fn misleading_cidrs_are_refused_with_what_to_write() {
    let w = world().await;
    let group = create(&w, "web").await;
    let rules = format!("/accounts/{}/os-security-group-rules", w.org);
    for (cidr, details) in [
        (
            "010.000.000.000/8",
            "cidr: 010.000.000.000/8 has IPv4 octets with leading zeros, which other tools read as octal; write 10.0.0.0/8",
        ),
        (
            "1.2.3.4/0",
            "cidr: 1.2.3.4/0 is every IPv4 address, written as if it were one host; write 0.0.0.0/0 if that is meant",
        ),
        ("2001:db8::1/0", "cidr: 2001:db8::1/0 is every IPv6 address, written as if it were one host; write ::/0 if that is meant"),
    ] {
        let body = json!({"securityGroupRule": {"fromPort": 22, "toPort": 22, "protocol": "TCP", "cidr": cidr,
            "parentGroupId": group}});
        let r = call(&w, Method::POST, &rules, Some(body)).await;
        assert_eq!(fault(&r, StatusCode::BAD_REQUEST)["badRequest"]["details"], details);
    }
    let r = call(&w, Method::GET, &format!("{}/{group}/rules", groups(&w)), None).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "no rule was written: {}", r.text);
    // `0.0.0.0/0` says what it means; host bits set are kept as the client wrote them.
    for cidr in ["0.0.0.0/0", "10.0.0.5/24"] {
        let body = json!({"securityGroupRule": {"fromPort": 22, "toPort": 22, "protocol": "TCP", "cidr": cidr,
            "parentGroupId": group}});
        let r = call(&w, Method::POST, &rules, Some(body)).await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
        assert_eq!(r.json()["securityGroupRule"]["cidr"], cidr);
    }
}

#[tokio::test]
async fn rule_numbers_reveal_nothing_across_accounts() {
    let w = world().await;
    let other = w.app.org("other-account").await;
    let other_auth = w.app.user(&other, "other_user", PASSWORD).await;
    let accounts = [(w.org.clone(), w.auth.clone()), (other.clone(), other_auth.clone())];
    let mut group_of = Vec::new();
    for (org, auth) in &accounts {
        let body = json!({"securityGroup": {"displayName": "web"}}).to_string();
        let path = format!("/accounts/{org}/os-security-groups");
        let r = send(&w.app, Method::POST, &path, Some(auth), Some(&body)).await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
        group_of.push(r.json()["securityGroup"]["id"].as_str().unwrap().to_owned());
    }
    // Both accounts create rules, interleaved: each sees its own consecutive numbers.
    let mut seen: Vec<Vec<String>> = vec![Vec::new(), Vec::new()];
    for port in [22, 80, 443] {
        for (i, (org, auth)) in accounts.iter().enumerate() {
            let body = json!({"securityGroupRule": {"fromPort": port, "toPort": port, "protocol": "TCP",
                "cidr": "0.0.0.0/0", "parentGroupId": group_of[i]}})
            .to_string();
            let path = format!("/accounts/{org}/os-security-group-rules");
            let r = send(&w.app, Method::POST, &path, Some(auth), Some(&body)).await;
            assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
            seen[i].push(r.json()["securityGroupRule"]["id"].as_str().unwrap().to_owned());
        }
    }
    assert_eq!(seen[0], ["1", "2", "3"]);
    assert_eq!(seen[1], ["1", "2", "3"]);
    // A number names the caller's own rule: the other account deleting its rule 2 leaves ours.
    let path = format!("/accounts/{other}/os-security-group-rules/2");
    let r = send(&w.app, Method::DELETE, &path, Some(&other_auth), None).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text);
    let mine = call(&w, Method::GET, &format!("{}/{}", groups(&w), group_of[0]), None).await.json();
    let ids: Vec<&str> = mine["securityGroup"]["rules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["1", "2", "3"]);
    // Ours cannot be reached through the other account's path, nor theirs through ours.
    let r = send(&w.app, Method::DELETE, &path, Some(&w.auth), None).await;
    assert_eq!(fault(&r, StatusCode::NOT_FOUND)["itemNotFound"]["code"], 404);
    let r = call(&w, Method::DELETE, &format!("/accounts/{}/os-security-group-rules/4", w.org), None).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    // A deleted number is never given again.
    let body = json!({"securityGroupRule": {"fromPort": 8080, "toPort": 8080, "protocol": "TCP",
        "cidr": "0.0.0.0/0", "parentGroupId": group_of[1]}})
    .to_string();
    let path = format!("/accounts/{other}/os-security-group-rules");
    let r = send(&w.app, Method::POST, &path, Some(&other_auth), Some(&body)).await;
    assert_eq!(r.json()["securityGroupRule"]["id"], "4");
}

#[tokio::test]
async fn the_group_list_pages_like_the_rules_list() {
    use palisade_core::policy::{Action, Direction, GroupKind, PortRange, Protocol, Remote};
    use palisade_core::service::{CreateRule, CreateSecurityGroup};
    let w = world().await;
    let org: palisade_core::id::OrganizationId = w.org.parse().unwrap();
    // 205 groups: more than one batch of 200; rules of every group numbered per account.
    let mut names = Vec::new();
    for i in 0..205u16 {
        let rules = (0..i % 3)
            .map(|p| CreateRule {
                direction: Direction::Inbound,
                action: Action::Allow,
                protocol: Protocol::Tcp,
                ports: vec![PortRange { from: 1000 + p, to: 1000 + p }],
                icmp: None,
                priority: Some(0),
                remotes: vec![Remote::Cidr("0.0.0.0/0".into())],
                description: None,
            })
            .collect();
        let input = CreateSecurityGroup {
            name: format!("g{i:03}"),
            description: None,
            allow_all_inbound: false,
            allow_all_outbound: true,
            allow_unmatched_outbound: false,
            members: vec![],
            annotations: vec![],
            rules,
            id: None,
            ip_version: None,
        };
        w.app
            .core
            .create_security_group(
                &palisade_core::Principal::Operator,
                org,
                GroupKind::SecurityGroup,
                Ok(input),
                None,
            )
            .await
            .unwrap();
        names.push(format!("g{i:03}"));
    }
    let w = &w;
    let list = |query: &str| {
        let path = format!("{}{query}", groups(w));
        async move { call(w, Method::GET, &path, None).await }
    };
    let shown = |body: &Value| -> Vec<String> {
        body["securityGroups"]
            .as_array()
            .unwrap()
            .iter()
            .map(|g| g["displayName"].as_str().unwrap().to_owned())
            .collect()
    };
    // No paging arguments: every group (Hostway documents no paging here), read in batches.
    let all = list("").await.json();
    assert_eq!(shown(&all), names);
    let numbers: Vec<String> = all["securityGroups"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|g| g["rules"].as_array().unwrap().iter().map(|r| r["id"].as_str().unwrap().to_owned()))
        .collect();
    let expected: Vec<String> = (1..=numbers.len()).map(|n| n.to_string()).collect();
    assert_eq!(numbers, expected, "each rule shows its own number");
    assert_eq!(all["securityGroups"][2]["rules"][1]["fromPort"], 1001);
    // Pages.
    assert_eq!(shown(&list("?page=2&pageSize=100").await.json()), names[100..200]);
    assert_eq!(shown(&list("?page=3&pageSize=100").await.json()), names[200..]);
    assert_eq!(shown(&list("?page=4&pageSize=100").await.json()), Vec::<String>::new());
    for (query, details) in [
        ("?page=1", "page: give both page and pageSize, or neither"),
        ("?page=1&pageSize=500", "pageSize: must be between 1 and 200"),
        ("?page=0&pageSize=10", "page: must be at least 1"),
        ("?page=x&pageSize=10", "page: must be a positive integer"),
    ] {
        let r = list(query).await;
        assert_eq!(fault(&r, StatusCode::BAD_REQUEST)["badRequest"]["details"], details, "{query}");
    }
}
