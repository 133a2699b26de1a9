//! The ZStack face over HTTP: sessions, asynchronous jobs and security groups, sent as ZStack's
//! documentation and SDKs send them, with whole answers compared.
//!
//! Reference-vs-documentation notes kept as tests here: the founding document's sample shows
//! `"internalId": 0.0` and a synchronous-looking answer; ZStack really answers `202` with a
//! `location` to poll and writes integers as integers (reference §2.9, §2.10), which is what
//! these tests expect.

use palisade_core::secret::sha512_hex;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::support::{Answer, TestApp, OPERATOR};

/// A ZStack call: method, path, session (`OAuth`), job id and a raw body, as the SDKs send it.
pub(crate) async fn zs(
    app: &TestApp,
    method: Method,
    path: &str,
    session: Option<&str>,
    job: Option<&str>,
    body: Option<&str>,
) -> Answer {
    let mut req = app
        .client
        .request(method.clone(), format!("{}{path}", app.base))
        .header("Content-Type", "application/json;charset=UTF-8");
    if let Some(session) = session {
        req = req.header("Authorization", format!("OAuth {session}"));
    }
    if let Some(job) = job {
        req = req.header("X-Job-UUID", job);
    }
    if let Some(body) = body {
        req = req.body(body.to_owned());
    }
    let res = req.send().await.unwrap();
    let (status, headers) = (res.status(), res.headers().clone());
    app.assert_audited(&method, path, status, &headers).await;
    Answer { status, headers, text: res.text().await.unwrap() }
}

/// An organization with a user `name` (password `password`, ZStack's default admin's) and a
/// signed-in session; returns (organization id, session uuid).
pub(crate) async fn signed_in(app: &TestApp, org: &str, name: &str) -> (String, String) {
    let id = app.org(org).await;
    app.user(&id, name, "password").await;
    let session = log_in(app, name, "password").await;
    (id, session)
}

pub(crate) async fn log_in(app: &TestApp, name: &str, password: &str) -> String {
    let body = json!({"logInByAccount": {"accountName": name, "password": sha512_hex(password)}}).to_string();
    let r = zs(app, Method::PUT, "/zstack/v1/accounts/login", None, Some(&job_id()), Some(&body)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    r.json()["inventory"]["uuid"].as_str().unwrap().to_owned()
}

/// A fresh job id, as the SDKs make them (uuid4 hex).
pub(crate) fn job_id() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

/// Polls a `202`'s `location` (with the session, as the SDKs do); returns the poll's answer.
pub(crate) async fn poll(app: &TestApp, accepted: &Answer, session: &str) -> Answer {
    assert_eq!(accepted.status, StatusCode::ACCEPTED, "{}", accepted.text);
    let location = accepted.json()["location"].as_str().unwrap().to_owned();
    let path =
        location.strip_prefix(&app.base).unwrap_or_else(|| panic!("{location} is not on {}", app.base));
    zs(app, Method::GET, path, Some(session), None, None).await
}

/// Creates a group through ZStack and returns the job's answer's inventory.
pub(crate) async fn create_group(app: &TestApp, session: &str, params: Value) -> Value {
    let body = json!({"params": params, "systemTags": [], "userTags": []}).to_string();
    let r = zs(app, Method::POST, "/zstack/v1/security-groups", Some(session), Some(&job_id()), Some(&body))
        .await;
    let done = poll(app, &r, session).await;
    assert_eq!(done.status, StatusCode::OK, "{}", done.text);
    done.json()["inventory"].clone()
}

fn is_gson_date(value: &Value) -> bool {
    let text = value.as_str().unwrap_or_default();
    let format = time::macros::format_description!(
        "[month repr:short] [day padding:none], [year] [hour repr:12 padding:none]:[minute]:[second] [period]"
    );
    time::PrimitiveDateTime::parse(text, &format).is_ok()
}

fn error_of(answer: &Answer) -> (StatusCode, String, String) {
    let body = answer.json();
    let error = &body["error"];
    let keys: Vec<&String> = error.as_object().map(|o| o.keys().collect()).unwrap_or_default();
    assert_eq!(keys.len(), 3, "code, description, details and nothing else: {}", answer.text);
    (answer.status, error["code"].as_str().unwrap().to_owned(), error["details"].as_str().unwrap().to_owned())
}

#[tokio::test]
async fn the_founding_documents_curl_sample_works_verbatim() {
    let app = TestApp::spawn().await;
    let (_, session) = signed_in(&app, "acme", "admin").await;
    // curl -H "Content-Type: application/json;charset=UTF-8" -H "Authorization: OAuth …"
    //      -X POST -d '{"params":{"name":"sp","description":"test create security group"}}'
    //      http://localhost:8080/zstack/v1/security-groups
    let res = app
        .client
        .post(format!("{}/zstack/v1/security-groups", app.base))
        .header("Content-Type", "application/json;charset=UTF-8")
        .header("Authorization", format!("OAuth {session}"))
        .body(r#"{"params":{"name":"sp","description":"test create security group"}}"#)
        .send()
        .await
        .unwrap();
    let accepted =
        Answer { status: res.status(), headers: res.headers().clone(), text: res.text().await.unwrap() };
    assert_eq!(accepted.status, StatusCode::ACCEPTED);
    assert!(accepted.headers.get("location").is_none(), "ZStack sends no Location header");
    let location = accepted.json()["location"].as_str().unwrap().to_owned();
    let job = location.rsplit('/').next().unwrap().to_owned();
    assert_eq!(
        accepted.text,
        json!({"location": format!("{}/zstack/v1/api-jobs/{job}", app.base)}).to_string()
    );
    assert_eq!(job.len(), 32);

    let done = poll(&app, &accepted, &session).await;
    assert_eq!(done.status, StatusCode::OK, "{}", done.text);
    let body = done.json();
    let g = &body["inventory"];
    let uuid = g["uuid"].as_str().unwrap();
    let (created, rules) = (g["createDate"].clone(), g["rules"].as_array().unwrap().clone());
    assert!(is_gson_date(&created), "{created}");
    assert_eq!(rules.len(), 2, "the default same-group rules: {}", done.text);
    let rule = |i: usize, kind: &str| {
        json!({"uuid": rules[i]["uuid"], "securityGroupUuid": uuid, "type": kind, "ipVersion": 4,
               "startPort": -1, "endPort": -1, "protocol": "ALL", "state": "Enabled",
               "allowedCidr": "0.0.0.0/0", "remoteSecurityGroupUuid": uuid,
               "createDate": rules[i]["createDate"], "lastOpDate": rules[i]["createDate"]})
    };
    let expected = json!({"inventory": {
        "uuid": uuid, "name": "sp", "description": "test create security group", "state": "Enabled",
        "ipVersion": 4, "createDate": created, "lastOpDate": created, "internalId": 1,
        "rules": [rule(0, "Ingress"), rule(1, "Egress")], "attachedL3NetworkUuids": []}});
    // The whole answer, in ZStack's field order (serde_json here keeps keys sorted, so the text
    // is compared with the expected keys in that order).
    let ordered = r#"{"inventory":{"uuid":"U","name":"sp","description":"test create security group","state":"Enabled","ipVersion":4,"createDate":"D","lastOpDate":"D","internalId":1,"rules":[{"uuid":"R0","securityGroupUuid":"U","type":"Ingress","ipVersion":4,"startPort":-1,"endPort":-1,"protocol":"ALL","state":"Enabled","allowedCidr":"0.0.0.0/0","remoteSecurityGroupUuid":"U","createDate":"D0","lastOpDate":"D0"},{"uuid":"R1","securityGroupUuid":"U","type":"Egress","ipVersion":4,"startPort":-1,"endPort":-1,"protocol":"ALL","state":"Enabled","allowedCidr":"0.0.0.0/0","remoteSecurityGroupUuid":"U","createDate":"D1","lastOpDate":"D1"}],"attachedL3NetworkUuids":[]}}"#
        .replace("\"U\"", &json!(uuid).to_string())
        .replace("\"D\"", &created.to_string())
        .replace("\"R0\"", &rules[0]["uuid"].to_string())
        .replace("\"R1\"", &rules[1]["uuid"].to_string())
        .replace("\"D0\"", &rules[0]["createDate"].to_string())
        .replace("\"D1\"", &rules[1]["createDate"].to_string());
    assert_eq!(body, expected);
    assert_eq!(done.text, ordered);
    // Polling again gives the same answer (results are kept).
    assert_eq!(poll(&app, &accepted, &session).await.text, done.text);
    // The default rules are canonical rules: there on every face.
    assert_eq!(app.count("security_group_rules").await, 2);
    let hostway = app
        .client
        .get(format!("{}/accounts/acme/os-security-groups", app.base))
        .header("Authorization", crate::support::basic("admin", "password"))
        .send()
        .await
        .unwrap();
    let hostway: Value = hostway.json().await.unwrap();
    // Hostway shows a group's inbound rules, a remote that is a group as its members'
    // addresses: none yet, so the default Ingress rule admits nothing and shows as no rule; the
    // Egress one cannot be shown (Hostway has no direction), and the description says so.
    let seen = &hostway["securityGroups"][0];
    assert_eq!(seen["displayName"], "sp");
    assert_eq!(seen["rules"], json!([]));
    assert!(
        seen["description"].as_str().unwrap().ends_with("[palisade: 1 outbound rule(s) not shown]"),
        "{seen}"
    );
}

#[tokio::test]
async fn sessions_open_end_and_are_checked() {
    let app = TestApp::spawn().await;
    let org = app.org("acme").await;
    app.user(&org, "admin", "password").await;
    let login = |body: String| {
        let app = &app;
        async move { zs(app, Method::PUT, "/zstack/v1/accounts/login", None, None, Some(&body)).await }
    };
    let body = |name: &str, password: &str| {
        json!({"logInByAccount": {"accountName": name, "password": sha512_hex(password)}}).to_string()
    };
    let ok = login(body("admin", "password")).await;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.text);
    let inv = ok.json()["inventory"].clone();
    let session = inv["uuid"].as_str().unwrap().to_owned();
    assert_eq!(session.len(), 32);
    assert_eq!(inv["accountUuid"], org.replace('-', ""));
    assert!(inv["userUuid"].as_str().is_some_and(|u| u.len() == 32));
    assert!(is_gson_date(&inv["expiredDate"]) && is_gson_date(&inv["createDate"]));
    let keys: Vec<&String> = inv.as_object().unwrap().keys().collect();
    assert_eq!(keys.len(), 5, "{inv}");
    assert!(ok.text.starts_with(r#"{"inventory":{"uuid":"#));
    // The session is stored as a hash only.
    assert!(!app.db.stored_text().await.contains(&session));

    // Wrong password, unknown account, the clear password instead of its SHA-512: ID.1000.
    let wrong = r#"{"error":{"code":"ID.1000","description":"Unable to authenticate a user","details":"wrong account name or password"}}"#;
    for attempt in [
        body("admin", "wrong"),
        body("nobody", "password"),
        json!({"logInByAccount": {"accountName": "admin", "password": "password"}}).to_string(),
    ] {
        let r = login(attempt).await;
        assert_eq!((r.status, r.text.as_str()), (StatusCode::SERVICE_UNAVAILABLE, wrong));
    }
    // The manual's `logIn` key is not an action of this URL: a front-end refusal.
    let r = login(json!({"logIn": {"accountName": "admin", "password": "x"}}).to_string()).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(r.text, "the body doesn't contain action mapping to the URL[/v1/accounts/login]");
    assert_eq!(r.headers["content-type"], "text/plain; charset=UTF-8");
    let r = login(json!({"logInByAccount": {"accountName": "admin"}}).to_string()).await;
    assert_eq!(error_of(&r).1, "SYS.1007", "{}", r.text);

    let valid = |id: String| {
        let app = &app;
        async move {
            zs(app, Method::GET, &format!("/zstack/v1/accounts/sessions/{id}/valid"), None, None, None).await
        }
    };
    assert_eq!(valid(session.clone()).await.text, r#"{"valid":true}"#);
    assert_eq!(valid("0".repeat(32)).await.text, r#"{"valid":false}"#);

    // A query with the session works; after logout it is ID.1001 (503, synchronous).
    let q = zs(&app, Method::GET, "/zstack/v1/security-groups", Some(&session), None, None).await;
    assert_eq!(q.status, StatusCode::OK, "{}", q.text);
    let out =
        zs(&app, Method::DELETE, &format!("/zstack/v1/accounts/sessions/{session}"), None, None, None).await;
    assert_eq!((out.status, out.text.as_str()), (StatusCode::OK, "{}"));
    assert_eq!(valid(session.clone()).await.text, r#"{"valid":false}"#);
    let expired = r#"{"error":{"code":"ID.1001","description":"The session is invalid, either wrong session id or the session has been expired","details":"Session expired"}}"#;
    let q = zs(&app, Method::GET, "/zstack/v1/security-groups", Some(&session), None, None).await;
    assert_eq!((q.status, q.text.as_str()), (StatusCode::SERVICE_UNAVAILABLE, expired));
    // An asynchronous call with it is accepted, and its job reports ID.1001.
    let body = r#"{"params":{"name":"late"}}"#;
    let r = zs(&app, Method::POST, "/zstack/v1/security-groups", Some(&session), Some(&job_id()), Some(body))
        .await;
    let done = poll(&app, &r, &session).await;
    assert_eq!((done.status, done.text.as_str()), (StatusCode::SERVICE_UNAVAILABLE, expired));
    assert_eq!(app.count("security_groups").await, 0);
}

#[tokio::test]
async fn sessions_expire_and_survive_a_restart() {
    // Times are kept in whole seconds, so a lifetime of 2 s lasts between 1 and 2 s.
    let app = TestApp::spawn_tuned(|c| c.core.session_lifetime = std::time::Duration::from_secs(2)).await;
    let (_, session) = signed_in(&app, "acme", "admin").await;
    let q = zs(&app, Method::GET, "/zstack/v1/security-groups", Some(&session), None, None).await;
    assert_eq!(q.status, StatusCode::OK);
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    let q = zs(&app, Method::GET, "/zstack/v1/security-groups", Some(&session), None, None).await;
    assert_eq!(error_of(&q).1, "ID.1001");

    // A session of the default lifetime survives the server's restart.
    let app = TestApp::spawn_on(app.stop().await).await;
    let session = log_in(&app, "admin", "password").await;
    let db = app.stop().await;
    let app = TestApp::spawn_on(db).await;
    let q = zs(&app, Method::GET, "/zstack/v1/security-groups", Some(&session), None, None).await;
    assert_eq!(q.status, StatusCode::OK, "{}", q.text);
}

#[tokio::test]
async fn users_from_before_sessions_get_a_verifier_at_their_next_basic_sign_in() {
    let app = TestApp::spawn().await;
    let org = app.org("acme").await;
    let basic = app.user(&org, "old", "password").await;
    assert_eq!(app.db.execute("UPDATE users SET zstack_password_phc = NULL").await, 1);
    let body =
        json!({"logInByAccount": {"accountName": "old", "password": sha512_hex("password")}}).to_string();
    let r = zs(&app, Method::PUT, "/zstack/v1/accounts/login", None, None, Some(&body)).await;
    assert_eq!(error_of(&r).1, "ID.1000", "no verifier yet");
    let hostway = app
        .client
        .get(format!("{}/accounts/acme/os-security-groups", app.base))
        .header("Authorization", basic)
        .send()
        .await
        .unwrap();
    assert_eq!(hostway.status(), StatusCode::OK);
    log_in(&app, "old", "password").await;
    // Neither the clear password nor its SHA-512 is at rest.
    let stored = app.db.stored_text().await;
    assert!(!stored.contains(&sha512_hex("password")));
}

#[tokio::test]
async fn front_end_problems_are_plain_text() {
    let app = TestApp::spawn().await;
    let (_, session) = signed_in(&app, "acme", "admin").await;
    let body = r#"{"params":{"name":"web"}}"#;
    let post = |session: Option<String>, job: Option<String>, auth: Option<&'static str>| {
        let app = &app;
        async move {
            match auth {
                Some(header) => {
                    let res = app
                        .client
                        .post(format!("{}/zstack/v1/security-groups", app.base))
                        .header("Authorization", header)
                        .body(body)
                        .send()
                        .await
                        .unwrap();
                    Answer {
                        status: res.status(),
                        headers: res.headers().clone(),
                        text: res.text().await.unwrap(),
                    }
                }
                None => {
                    zs(
                        app,
                        Method::POST,
                        "/zstack/v1/security-groups",
                        session.as_deref(),
                        job.as_deref(),
                        Some(body),
                    )
                    .await
                }
            }
        }
    };
    let text = |a: &Answer| (a.status, a.text.clone());
    let bad = |t: &str| (StatusCode::BAD_REQUEST, t.to_owned());
    assert_eq!(text(&post(None, None, None).await), bad("missing header 'Authorization'"));
    assert_eq!(text(&post(None, None, Some("Bearer x")).await), bad("Authorization type must be 'OAuth'"));
    let invalid_job = bad("Invalid header[X-Job-UUID], it must be a UUID with '-' stripped");
    for job in ["abc", "7bb070cd-ebf4-4fd8-af35-4f25344d758b", "zzb070cdebf44fd8af354f25344d758b"] {
        assert_eq!(text(&post(Some(session.clone()), Some(job.into()), None).await), invalid_job, "{job}");
    }
    // X-Job-UUID is honoured, and a reused one is refused without doing anything.
    let job = job_id();
    let r = post(Some(session.clone()), Some(job.clone()), None).await;
    assert!(r.json()["location"].as_str().unwrap().ends_with(&format!("/zstack/v1/api-jobs/{job}")));
    let again = post(Some(session.clone()), Some(job.clone()), None).await;
    assert_eq!(text(&again), bad(&format!("Duplicate job uuid[{job}]")));
    assert_eq!(app.count("security_groups").await, 1);
    assert_eq!(again.headers["content-type"], "text/plain; charset=UTF-8");
    // A duplicate of a job that failed is refused too.
    let failed = job_id();
    let r =
        zs(&app, Method::POST, "/zstack/v1/security-groups", Some(&session), Some(&failed), Some("{}")).await;
    assert_eq!(r.status, StatusCode::ACCEPTED);
    let r =
        zs(&app, Method::POST, "/zstack/v1/security-groups", Some(&session), Some(&failed), Some(body)).await;
    assert_eq!(text(&r), bad(&format!("Duplicate job uuid[{failed}]")));
    assert_eq!(app.count("security_groups").await, 1);

    // Jobs: unknown, malformed, wrong method.
    let unknown =
        zs(&app, Method::GET, &format!("/zstack/v1/api-jobs/{}", job_id()), Some(&session), None, None).await;
    assert_eq!(text(&unknown), (StatusCode::NOT_FOUND, "the job has been expired".into()));
    let r = zs(&app, Method::GET, "/zstack/v1/api-jobs/nope", Some(&session), None, None).await;
    assert_eq!(text(&r), (StatusCode::NOT_FOUND, "the job has been expired".into()));
    let r = zs(&app, Method::POST, &format!("/zstack/v1/api-jobs/{job}"), Some(&session), None, None).await;
    assert_eq!(
        text(&r),
        (StatusCode::METHOD_NOT_ALLOWED, "only GET method is allowed for querying job status".into())
    );
    // No such API, and a body that is not JSON.
    let r = zs(&app, Method::GET, "/zstack/v1/no-such-things", Some(&session), None, None).await;
    assert_eq!(text(&r), (StatusCode::NOT_FOUND, "no api mapping to /v1/no-such-things".into()));
    let r = zs(&app, Method::POST, "/zstack/v1/security-groups", Some(&session), None, Some("{")).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.text.starts_with("the request body is not valid JSON"), "{}", r.text);
    // A type the field cannot hold is refused before the job (ZStack's TypeVerifier), 22.0 is an int.
    let r = zs(
        &app,
        Method::POST,
        "/zstack/v1/security-groups",
        Some(&session),
        None,
        Some(r#"{"params":{"name":"t","ipVersion":"abc"}}"#),
    )
    .await;
    assert_eq!(text(&r), bad(r#"[ipVersion] field is excepted an int or long, but was ["abc"]."#));
    let r = zs(
        &app,
        Method::POST,
        "/zstack/v1/security-groups",
        Some(&session),
        None,
        Some(r#"{"params":{"name":"t6","ipVersion":6.0}}"#),
    )
    .await;
    assert_eq!(poll(&app, &r, &session).await.json()["inventory"]["ipVersion"], 6);
}

#[tokio::test]
async fn create_validates_through_the_job() {
    let app = TestApp::spawn().await;
    let (_, session) = signed_in(&app, "acme", "admin").await;
    let failed = |params: Value| {
        let (app, session) = (&app, session.clone());
        async move {
            let body = json!({"params": params}).to_string();
            let r = zs(
                app,
                Method::POST,
                "/zstack/v1/security-groups",
                Some(&session),
                Some(&job_id()),
                Some(&body),
            )
            .await;
            assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.text);
            let done = poll(app, &r, &session).await;
            let (status, code, details) = error_of(&done);
            assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
            (code, details)
        }
    };
    let (code, details) = failed(json!({"description": "no name"})).await;
    assert_eq!((code.as_str(), details.as_str()), ("SYS.1007", "field[name] is mandatory, can not be null"));
    let (code, details) = failed(json!({"name": "v5", "ipVersion": 5})).await;
    assert_eq!(code, "SYS.1007");
    assert!(details.contains("are [4, 6], but 5 found"), "{details}");
    let (code, _) = failed(json!({"name": "bad", "resourceUuid": "7bb070cdebf44fd8af354f25344d758"})).await;
    assert_eq!(code, "SYS.1007");
    let (code, _) =
        failed(json!({"name": "upper", "resourceUuid": "7BB070CDEBF44FD8AF354F25344D758B"})).await;
    assert_eq!(code, "SYS.1007");

    // A given resourceUuid is the group's uuid; taken, it is refused with nothing written.
    let chosen = "7bb070cdebf44fd8af354f25344d758b";
    let g =
        create_group(&app, &session, json!({"name": "web", "ipVersion": 6, "resourceUuid": chosen})).await;
    assert_eq!((g["uuid"].as_str(), g["ipVersion"].as_i64()), (Some(chosen), Some(6)));
    assert_eq!(g["rules"][0]["allowedCidr"], "::/0");
    assert_eq!(g["rules"][0]["ipVersion"], 6);
    assert!(g.get("description").is_none(), "nulls are omitted: {g}");
    let (code, details) = failed(json!({"name": "again", "resourceUuid": chosen})).await;
    assert_eq!(code, "SYS.1007");
    assert!(details.contains("resourceUuid"), "{details}");
    // A name already used in the account (a deviation: names are unique on every face).
    let (code, _) = failed(json!({"name": "web"})).await;
    assert_eq!(code, "SYS.1007");
    assert_eq!(app.count("security_groups").await, 1);
    assert_eq!(app.count("security_group_rules").await, 2);
}

#[tokio::test]
async fn queries_take_zstacks_conditions() {
    let app = TestApp::spawn().await;
    let (_, session) = signed_in(&app, "acme", "admin").await;
    let mut uuids = Vec::new();
    for (name, version) in [("web", 4), ("db", 4), ("cache", 6)] {
        let g = create_group(
            &app,
            &session,
            json!({"name": name, "ipVersion": version, "description": format!("{name} servers")}),
        )
        .await;
        uuids.push(g["uuid"].as_str().unwrap().to_owned());
    }
    let query = |q: String| {
        let (app, session) = (&app, session.clone());
        async move {
            let r =
                zs(app, Method::GET, &format!("/zstack/v1/security-groups{q}"), Some(&session), None, None)
                    .await;
            (r.status, r.json())
        }
    };
    let names = |body: &Value| -> Vec<String> {
        body["inventories"]
            .as_array()
            .unwrap()
            .iter()
            .map(|g| g["name"].as_str().unwrap().to_owned())
            .collect()
    };
    let (status, all) = query(String::new()).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(names(&all), ["web", "db", "cache"]);
    assert!(all.get("total").is_none());
    assert_eq!(all["schema"]["inventories[0]"], "org.zstack.network.securitygroup.SecurityGroupInventory");
    assert_eq!(
        all["schema"]["inventories[2].rules[1]"],
        "org.zstack.network.securitygroup.SecurityGroupRuleInventory"
    );
    let cases: [(&str, &[&str]); 12] = [
        ("?q=name=web", &["web"]),
        ("?q=name!=web", &["db", "cache"]),
        ("?q=ipVersion=6", &["cache"]),
        ("?q=name~=%25a%25", &["cache"]),
        ("?q=name!~=%25a%25", &["web", "db"]),
        ("?q=name?=web,cache", &["web", "cache"]),
        ("?q=name!?=web,cache", &["db"]),
        ("?q=internalId>=2&q=state=Enabled", &["db", "cache"]),
        ("?q=internalId<2", &["web"]),
        ("?q=rules.ipVersion=6", &["cache"]),
        ("?sort=-name&limit=2", &["web", "db"]),
        ("?sort=+name&start=1", &["db", "web"]),
    ];
    for (q, expected) in cases {
        let (status, body) = query(q.to_owned()).await;
        assert_eq!(status, StatusCode::OK, "{q}: {body}");
        assert_eq!(names(&body), expected, "{q}");
    }
    let (_, counted) = query("?q=ipVersion=4&replyWithCount=true&limit=1".into()).await;
    assert_eq!((names(&counted).len(), &counted["total"]), (1, &json!(2)));
    let (_, count) = query("?count=true".into()).await;
    assert_eq!(count, json!({"total": 3}));
    let (_, fields) = query("?q=name=db&fields=uuid,name".into()).await;
    assert_eq!(fields["inventories"], json!([{"uuid": uuids[1], "name": "db"}]));
    let (_, nulls) = query("?q=description is null".replace(' ', "%20")).await;
    assert_eq!(names(&nulls), Vec::<String>::new());

    // GET /security-groups/{uuid} is the same query, a list; an unknown uuid is [] (not a 404).
    let (status, one) = query(format!("/{}", uuids[2])).await;
    assert_eq!((status, names(&one)), (StatusCode::OK, vec!["cache".to_owned()]));
    let (status, none) = query(format!("/{}", "0".repeat(32))).await;
    assert_eq!((status, none["inventories"].clone()), (StatusCode::OK, json!([])));

    // Bad syntax is a front-end 400; an unknown field fails the API (503).
    let r = zs(&app, Method::GET, "/zstack/v1/security-groups?limit=ten", Some(&session), None, None).await;
    assert_eq!(
        (r.status, r.text.as_str()),
        (StatusCode::BAD_REQUEST, "Invalid query parameter. 'limit' must be an integer")
    );
    let r = zs(&app, Method::GET, "/zstack/v1/security-groups?q=name", Some(&session), None, None).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.text.contains("doesn't contain any query operator"), "{}", r.text);
    let r =
        zs(&app, Method::GET, "/zstack/v1/security-groups?q=colour=red", Some(&session), None, None).await;
    assert_eq!(error_of(&r).1, "SYS.1007");
}

#[tokio::test]
async fn groups_are_updated_disabled_and_deleted_through_jobs() {
    let app = TestApp::spawn().await;
    let (_, session) = signed_in(&app, "acme", "admin").await;
    let g = create_group(&app, &session, json!({"name": "web"})).await;
    let uuid = g["uuid"].as_str().unwrap().to_owned();
    let action = |body: Value| {
        let (app, session, uuid) = (&app, session.clone(), uuid.clone());
        async move {
            let path = format!("/zstack/v1/security-groups/{uuid}/actions");
            let r =
                zs(app, Method::PUT, &path, Some(&session), Some(&job_id()), Some(&body.to_string())).await;
            if r.status != StatusCode::ACCEPTED {
                return r;
            }
            poll(app, &r, &session).await
        }
    };
    let updated = action(json!({"updateSecurityGroup": {"name": "www", "description": "front"}})).await;
    let inv = updated.json()["inventory"].clone();
    assert_eq!((inv["name"].as_str(), inv["description"].as_str()), (Some("www"), Some("front")));
    assert_eq!(inv["createDate"], g["createDate"]);
    let disabled = action(json!({"changeSecurityGroupState": {"stateEvent": "disable"}})).await;
    let inv = disabled.json()["inventory"].clone();
    assert_eq!(inv["state"], "Disabled");
    assert!(inv["rules"].as_array().unwrap().iter().all(|r| r["state"] == "Disabled"), "{inv}");
    let enabled = action(json!({"changeSecurityGroupState": {"stateEvent": "enable"}})).await;
    assert_eq!(enabled.json()["inventory"]["state"], "Enabled");
    let bad = action(json!({"changeSecurityGroupState": {"stateEvent": "pause"}})).await;
    assert_eq!(error_of(&bad).1, "SYS.1007");
    let unknown = action(json!({"renameSecurityGroup": {"name": "x"}})).await;
    assert_eq!(unknown.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        unknown.text,
        format!("the body doesn't contain action mapping to the URL[/v1/security-groups/{uuid}/actions]")
    );

    // Delete answers {}; again (now missing) also {}, as ZStack's successIfResourceNotExisting.
    for _ in 0..2 {
        let r = zs(
            &app,
            Method::DELETE,
            &format!("/zstack/v1/security-groups/{uuid}?deleteMode=Permissive"),
            Some(&session),
            Some(&job_id()),
            None,
        )
        .await;
        let done = poll(&app, &r, &session).await;
        assert_eq!((done.status, done.text.as_str()), (StatusCode::OK, "{}"));
    }
    assert_eq!(app.count("security_groups").await, 0);
    assert_eq!(app.count("security_group_rules").await, 0);
}

#[tokio::test]
async fn another_accounts_session_sees_nothing() {
    let app = TestApp::spawn().await;
    let (_, mine) = signed_in(&app, "mine", "me").await;
    let (_, theirs) = signed_in(&app, "theirs", "them").await;
    let body = r#"{"params":{"name":"web"}}"#;
    let accepted =
        zs(&app, Method::POST, "/zstack/v1/security-groups", Some(&mine), Some(&job_id()), Some(body)).await;
    let uuid = poll(&app, &accepted, &mine).await.json()["inventory"]["uuid"].as_str().unwrap().to_owned();
    // Their session cannot poll my job, see my group, change it or delete it.
    let r = poll(&app, &accepted, &theirs).await;
    assert_eq!((r.status, r.text.as_str()), (StatusCode::NOT_FOUND, "the job has been expired"));
    let r =
        zs(&app, Method::GET, &format!("/zstack/v1/security-groups/{uuid}"), Some(&theirs), None, None).await;
    assert_eq!(r.json()["inventories"], json!([]));
    let r = zs(&app, Method::GET, "/zstack/v1/security-groups", Some(&theirs), None, None).await;
    assert_eq!(r.json()["inventories"], json!([]));
    let path = format!("/zstack/v1/security-groups/{uuid}/actions");
    let r = zs(
        &app,
        Method::PUT,
        &path,
        Some(&theirs),
        Some(&job_id()),
        Some(r#"{"updateSecurityGroup":{"name":"stolen"}}"#),
    )
    .await;
    assert_eq!(error_of(&poll(&app, &r, &theirs).await).1, "SYS.1003");
    let r = zs(
        &app,
        Method::DELETE,
        &format!("/zstack/v1/security-groups/{uuid}"),
        Some(&theirs),
        Some(&job_id()),
        None,
    )
    .await;
    assert_eq!(poll(&app, &r, &theirs).await.text, "{}");
    let r =
        zs(&app, Method::GET, &format!("/zstack/v1/security-groups/{uuid}"), Some(&mine), None, None).await;
    assert_eq!(r.json()["inventories"][0]["name"], "web", "untouched");
    // The operator's token is no ZStack session.
    let r = zs(&app, Method::GET, "/zstack/v1/security-groups", Some(OPERATOR), None, None).await;
    assert_eq!(error_of(&r).1, "ID.1001");
}

/// The requests ZStack's Python SDK (`zssdk.py`) sends, exactly: every call carries
/// `X-Job-UUID` (a uuid4 hex) and `Content-Type: application/json`, login included; POST and
/// PUT bodies are `{PARAM_NAME: {params}}` with `systemTags`/`userTags` inside; GET and DELETE
/// put every parameter in an unencoded query string (`sessionId` too, on non-queries); queries
/// send `q=<condition>` (unencoded), `sort=+field`, `fields=a,b`; async calls are polled at
/// `location` with the session.
#[tokio::test]
async fn the_python_sdks_requests_are_answered() {
    let app = TestApp::spawn().await;
    let org = app.org("acme").await;
    app.user(&org, "admin", "password").await;
    // LogInByAccountAction: PUT, no session, body under `logInByAccount`.
    let body = format!(
        r#"{{"logInByAccount": {{"password": "{}", "accountName": "admin"}}}}"#,
        sha512_hex("password")
    );
    let r = zs(&app, Method::PUT, "/zstack/v1/accounts/login", None, Some(&job_id()), Some(&body)).await;
    let session = r.json()["inventory"]["uuid"].as_str().unwrap().to_owned();
    // CreateSecurityGroupAction.
    let body = r#"{"params": {"userTags": [], "systemTags": [], "ipVersion": 4, "name": "web"}}"#;
    let r = zs(&app, Method::POST, "/zstack/v1/security-groups", Some(&session), Some(&job_id()), Some(body))
        .await;
    let uuid = poll(&app, &r, &session).await.json()["inventory"]["uuid"].as_str().unwrap().to_owned();
    // QuerySecurityGroupAction: conditions, replyWithCount, sortBy/sortDirection, fields.
    let raw = format!(
        "{}/zstack/v1/security-groups?q=name=web&replyWithCount=True&sort=+name&fields=uuid,name",
        app.base
    );
    let res = app
        .client
        .get(raw)
        .header("X-Job-UUID", job_id())
        .header("Authorization", format!("OAuth {session}"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["inventories"], json!([{"uuid": uuid, "name": "web"}]));
    assert_eq!(body["total"], 1);
    // ChangeSecurityGroupStateAction: PUT, the uuid left out of the body.
    let path = format!("/zstack/v1/security-groups/{uuid}/actions");
    let body = r#"{"changeSecurityGroupState": {"stateEvent": "disable", "systemTags": [], "userTags": []}}"#;
    let r = zs(&app, Method::PUT, &path, Some(&session), Some(&job_id()), Some(body)).await;
    assert_eq!(poll(&app, &r, &session).await.json()["inventory"]["state"], "Disabled");
    // DeleteSecurityGroupAction: DELETE with every parameter in the query string.
    let path =
        format!("/zstack/v1/security-groups/{uuid}?uuid={uuid}&deleteMode=Permissive&sessionId={session}");
    let r = zs(&app, Method::DELETE, &path, Some(&session), Some(&job_id()), None).await;
    assert_eq!(poll(&app, &r, &session).await.text, "{}");
    // LogOutAction: DELETE /accounts/sessions/{sessionUuid}?sessionUuid=…, no session header.
    let path = format!("/zstack/v1/accounts/sessions/{session}?sessionUuid={session}");
    let r = zs(&app, Method::DELETE, &path, None, Some(&job_id()), None).await;
    assert_eq!((r.status, r.text.as_str()), (StatusCode::OK, "{}"));
}

#[tokio::test]
async fn job_answers_expire_and_expired_rows_are_purged() {
    // Times are kept in whole seconds, so answers kept 2 s are kept between 1 and 2 s.
    let app = TestApp::spawn_tuned(|c| c.core.job_retention = std::time::Duration::from_secs(2)).await;
    let (_, session) = signed_in(&app, "acme", "admin").await;
    let body = r#"{"params":{"name":"web"}}"#;
    let r = zs(&app, Method::POST, "/zstack/v1/security-groups", Some(&session), Some(&job_id()), Some(body))
        .await;
    assert_eq!(poll(&app, &r, &session).await.status, StatusCode::OK);
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    let expired = poll(&app, &r, &session).await;
    assert_eq!((expired.status, expired.text.as_str()), (StatusCode::NOT_FOUND, "the job has been expired"));
    assert_eq!(app.count("jobs").await, 1, "refused at once, deleted by the housekeeping");
    assert!(app.core.purge_expired().await.unwrap() >= 1);
    assert_eq!(app.count("jobs").await, 0);
    assert_eq!(app.count("sessions").await, 1, "the session has not expired");
}

/// Adds rules through ZStack; returns the job's answer.
pub(crate) async fn add_rules(app: &TestApp, session: &str, group: &str, params: Value) -> Answer {
    let body = json!({"params": params}).to_string();
    let path = format!("/zstack/v1/security-groups/{group}/rules");
    let r = zs(app, Method::POST, &path, Some(session), Some(&job_id()), Some(&body)).await;
    poll(app, &r, session).await
}

#[tokio::test]
async fn rules_are_added_checked_queried_and_deleted() {
    let app = TestApp::spawn().await;
    let (_, session) = signed_in(&app, "acme", "admin").await;
    let web = create_group(&app, &session, json!({"name": "web"})).await;
    let db = create_group(&app, &session, json!({"name": "db"})).await;
    let (web_id, db_id) = (web["uuid"].as_str().unwrap().to_owned(), db["uuid"].as_str().unwrap().to_owned());
    let rules = json!([
        {"type": "Ingress", "protocol": "TCP", "startPort": 22, "endPort": 22, "allowedCidr": "10.0.0.0/8"},
        {"type": "Ingress", "protocol": "TCP", "startPort": 8443, "endPort": 8080},
        {"type": "Egress", "protocol": "UDP", "startPort": 53},
        {"type": "Ingress", "protocol": "ICMP", "startPort": -1, "endPort": -1},
    ]);
    let done = add_rules(&app, &session, &web_id, json!({"rules": rules})).await;
    assert_eq!(done.status, StatusCode::OK, "{}", done.text);
    let inv = done.json()["inventory"].clone();
    let added: Vec<Value> = inv["rules"].as_array().unwrap()[2..].to_vec();
    let shape = |r: &Value| {
        json!([
            r["type"],
            r["protocol"],
            r["startPort"],
            r["endPort"],
            r["allowedCidr"],
            r["ipVersion"],
            r["state"],
            r.get("remoteSecurityGroupUuid")
        ])
    };
    let shapes: Vec<Value> = added.iter().map(shape).collect();
    assert_eq!(
        shapes,
        vec![
            json!(["Ingress", "TCP", 22, 22, "10.0.0.0/8", 4, "Enabled", null]),
            json!(["Ingress", "TCP", 8080, 8443, "0.0.0.0/0", 4, "Enabled", null]),
            json!(["Egress", "UDP", 53, 53, "0.0.0.0/0", 4, "Enabled", null]),
            json!(["Ingress", "ICMP", -1, -1, "0.0.0.0/0", 4, "Enabled", null]),
        ]
    );
    assert!(added
        .iter()
        .all(|r| r["securityGroupUuid"] == web_id && r.get("remoteSecurityGroupUuid").is_none()));

    // One rule per remote group.
    let done = add_rules(&app, &session, &db_id, json!({"rules": [{"type": "Ingress", "protocol": "TCP", "startPort": 5432}], "remoteSecurityGroupUuids": [web_id]})).await;
    let inv = done.json()["inventory"].clone();
    assert_eq!(inv["rules"][2]["remoteSecurityGroupUuid"], web_id);
    assert_eq!(inv["rules"][2]["allowedCidr"], "0.0.0.0/0");

    // ZStack's checks and messages, through the job (the reference's example verbatim).
    let failure = |group: String, params: Value| {
        let (app, session) = (&app, session.clone());
        async move {
            let done = add_rules(app, &session, &group, params).await;
            let (status, code, details) = error_of(&done);
            assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
            (code, details)
        }
    };
    let (code, details) = failure(web_id.clone(), json!({"rules": [{"type": "Ingress", "ipVersion": 4, "startPort": 22, "endPort": 22, "protocol": "TCP", "allowedCidr": "10.0.0.0/33"}]})).await;
    assert_eq!(code, "SYS.1007");
    assert_eq!(
        details,
        r#"invalid CIDR[10.0.0.0/33]. rule dump: {"type":"Ingress","ipVersion":4,"startPort":22,"endPort":22,"protocol":"TCP","allowedCidr":"10.0.0.0/33"}"#
    );
    let (_, details) = failure(web_id.clone(), json!({"rules": [{"type": "Ingress", "protocol": "TCP", "startPort": 22, "allowedCidr": "10.0.0.0/8"}]})).await;
    assert!(details.starts_with("rule exist. rule dump: "), "{details}");
    let twice = json!({"type": "Egress", "protocol": "TCP", "startPort": 443});
    let (_, details) = failure(web_id.clone(), json!({"rules": [twice, twice]})).await;
    assert!(details.starts_with("rule should not be duplicated."), "{details}");
    let (_, details) = failure(web_id.clone(), json!({"rules": []})).await;
    assert_eq!(details, "field[rules] must be a nonempty list");
    let (_, details) = failure(
        web_id.clone(),
        json!({"rules": [{"type": "Ingress", "protocol": "TCP", "startPort": 22, "ipVersion": 6}]}),
    )
    .await;
    assert_eq!(details, "security group rule ipVersion [6] is different from security group version [4]");
    let (code, _) = failure("0".repeat(32), json!({"rules": [{"type": "Ingress", "protocol": "ALL"}]})).await;
    assert_eq!(code, "SYS.1003");
    let (code, details) = failure(web_id.clone(), json!({"rules": [{"type": "Ingress", "protocol": "ALL"}], "remoteSecurityGroupUuids": ["0".repeat(32)]})).await;
    assert_eq!(code, "SYS.1003", "{details}");
    let many: Vec<Value> =
        (0..2001).map(|p| json!({"type": "Ingress", "protocol": "TCP", "startPort": p})).collect();
    let (_, details) = failure(web_id.clone(), json!({"rules": many})).await;
    assert_eq!(details, "the amount of rules exceeds limit, maximum 2000 rules are allowed in one request");
    assert_eq!(app.count("security_group_rules").await, 9, "refused requests wrote nothing");

    // QuerySecurityGroupRule.
    let q = |query: &str| {
        let (app, session, query) = (&app, session.clone(), query.to_owned());
        async move {
            zs(
                app,
                Method::GET,
                &format!("/zstack/v1/security-groups/rules{query}"),
                Some(&session),
                None,
                None,
            )
            .await
            .json()
        }
    };
    assert_eq!(q("").await["inventories"].as_array().unwrap().len(), 9);
    let tcp = q("?q=protocol=TCP&q=type=Ingress&replyWithCount=true").await;
    assert_eq!(tcp["total"], 3);
    let one = added[0]["uuid"].as_str().unwrap().to_owned();
    assert_eq!(q(&format!("/{one}")).await["inventories"], json!([added[0]]));
    assert_eq!(q(&format!("?q=securityGroupUuid={db_id}&count=true")).await, json!({"total": 3}));

    // DeleteSecurityGroupRule: repeated, indexed; unknown uuids are dropped; none left: {}.
    let delete = |query: String| {
        let (app, session) = (&app, session.clone());
        async move {
            let r = zs(
                app,
                Method::DELETE,
                &format!("/zstack/v1/security-groups/rules?{query}"),
                Some(&session),
                Some(&job_id()),
                None,
            )
            .await;
            poll(app, &r, &session).await
        }
    };
    let (a, b) = (added[1]["uuid"].as_str().unwrap(), added[2]["uuid"].as_str().unwrap());
    let done = delete(format!("ruleUuids={a}&ruleUuids={b}&ruleUuids={}", "0".repeat(32))).await;
    let inv = done.json()["inventory"].clone();
    assert_eq!((inv["uuid"].as_str(), inv["rules"].as_array().unwrap().len()), (Some(web_id.as_str()), 4));
    let done = delete(format!("ruleUuids.0={one}")).await;
    assert_eq!(done.json()["inventory"]["rules"].as_array().unwrap().len(), 3);
    let done = delete(format!("ruleUuids={}", "0".repeat(32))).await;
    assert_eq!((done.status, done.text.as_str()), (StatusCode::OK, "{}"));
    assert_eq!(app.count("security_group_rules").await, 6);
}

/// The Python SDK sends a list parameter of a DELETE as its Python repr (`ruleUuids=['a']`):
/// no rule has that uuid, so ZStack answers success with `{}` and deletes nothing (reference
/// §5.1); so does Palisade.
#[tokio::test]
async fn the_python_sdks_rule_requests_are_answered_as_zstack_answers_them() {
    let app = TestApp::spawn().await;
    let (_, session) = signed_in(&app, "acme", "admin").await;
    let group = create_group(&app, &session, json!({"name": "web"})).await;
    let group = group["uuid"].as_str().unwrap();
    // AddSecurityGroupRuleAction: the group's uuid is in the URL, not the body.
    let body = r#"{"params": {"rules": [{"allowedCidr": "0.0.0.0/0", "endPort": 22, "type": "Ingress", "startPort": 22, "protocol": "TCP"}], "userTags": [], "systemTags": []}}"#;
    let path = format!("/zstack/v1/security-groups/{group}/rules");
    let r = zs(&app, Method::POST, &path, Some(&session), Some(&job_id()), Some(body)).await;
    let inv = poll(&app, &r, &session).await.json()["inventory"].clone();
    let rule = inv["rules"][2]["uuid"].as_str().unwrap().to_owned();
    // DeleteSecurityGroupRuleAction: `sessionId=…&ruleUuids=[u'<uuid>']` (percent-encoded on the
    // wire by the HTTP library).
    let path = format!("/zstack/v1/security-groups/rules?sessionId={session}&ruleUuids=%5Bu%27{rule}%27%5D");
    let r = zs(&app, Method::DELETE, &path, Some(&session), Some(&job_id()), None).await;
    let done = poll(&app, &r, &session).await;
    assert_eq!((done.status, done.text.as_str()), (StatusCode::OK, "{}"));
    assert_eq!(app.count("security_group_rules").await, 3, "nothing deleted, as in ZStack");
}

/// A server of `org` with one interface on `network` holding `address`; returns (server id,
/// interface id), as ZStack uuids.
async fn server(app: &TestApp, org: &str, name: &str, network: &str, address: &str) -> (String, String) {
    let body = json!({"name": name, "interfaces": [{"network_id": network, "addresses": [address]}]});
    let r = app.post(&format!("/api/v1/organizations/{org}/servers"), OPERATOR, body).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let id = |v: &Value| v.as_str().unwrap().replace('-', "");
    (id(&r.body["server"]["id"]), id(&r.body["server"]["interfaces"][0]["id"]))
}

#[tokio::test]
async fn l3_networks_and_vm_nics_are_attached_and_detached() {
    let app = TestApp::spawn().await;
    let (org, session) = signed_in(&app, "acme", "admin").await;
    let network = app.network().await;
    let l3 = network.replace('-', "");
    let (vm, nic) = server(&app, &org, "vm1", &network, "203.0.113.10").await;
    let (_, other_nic) = server(&app, &org, "vm2", &network, "203.0.113.11").await;
    let g = create_group(&app, &session, json!({"name": "web"})).await;
    let group = g["uuid"].as_str().unwrap().to_owned();
    let call = |method: Method, path: String, body: Option<Value>| {
        let (app, session) = (&app, session.clone());
        async move {
            let body = body.map(|b| b.to_string());
            let r = zs(app, method, &path, Some(&session), Some(&job_id()), body.as_deref()).await;
            poll(app, &r, &session).await
        }
    };
    let l3_path = format!("/zstack/v1/security-groups/{group}/l3-networks/{l3}");
    let nics_path = format!("/zstack/v1/security-groups/{group}/vm-instances/nics");
    let candidates = || {
        let (app, session, group) = (&app, session.clone(), group.clone());
        async move {
            let path = format!("/zstack/v1/security-groups/{group}/vm-instances/candidate-nics");
            zs(app, Method::GET, &path, Some(&session), None, None).await.json()
        }
    };

    // A NIC joins only a group attached to its network.
    let r = call(Method::POST, nics_path.clone(), Some(json!({"params": {"vmNicUuids": [nic]}}))).await;
    let (_, code, details) = error_of(&r);
    assert_eq!(code, "SYS.1007");
    assert_eq!(details, format!("VM nics[uuids:[{nic}]] are not on L3 networks that have been attached to the security group[uuid:{group}]"));
    assert_eq!(candidates().await["inventories"], json!([]));

    let attached = call(Method::POST, l3_path.clone(), None).await;
    assert_eq!(attached.status, StatusCode::OK, "{}", attached.text);
    assert_eq!(attached.json()["inventory"]["attachedL3NetworkUuids"], json!([l3]));
    let again = call(Method::POST, l3_path.clone(), None).await;
    assert_eq!(
        error_of(&again),
        (
            StatusCode::SERVICE_UNAVAILABLE,
            "SYS.1006".into(),
            format!("security group[uuid:{group}] has attached to l3Network[uuid:{l3}], can't attach again")
        )
    );
    let unknown = call(
        Method::POST,
        format!("/zstack/v1/security-groups/{group}/l3-networks/{}", "0".repeat(32)),
        None,
    )
    .await;
    assert_eq!(error_of(&unknown).1, "SYS.1003");

    // Both NICs are candidates; one joins (answer {}), the other stays a candidate.
    let listed = candidates().await;
    let uuids: Vec<&str> =
        listed["inventories"].as_array().unwrap().iter().map(|n| n["uuid"].as_str().unwrap()).collect();
    assert_eq!(uuids, [nic.as_str(), other_nic.as_str()]);
    assert_eq!(
        listed["inventories"][0],
        json!({"uuid": nic, "vmInstanceUuid": vm, "l3NetworkUuid": l3, "ip": "203.0.113.10", "ipVersion": 4, "deviceId": 0, "type": "VNIC"})
    );
    let added = call(Method::POST, nics_path.clone(), Some(json!({"params": {"vmNicUuids": [nic]}}))).await;
    assert_eq!((added.status, added.text.as_str()), (StatusCode::OK, "{}"));
    let missing =
        call(Method::POST, nics_path.clone(), Some(json!({"params": {"vmNicUuids": ["0".repeat(32)]}})))
            .await;
    assert_eq!(error_of(&missing).1, "SYS.1003");
    assert_eq!(candidates().await["inventories"].as_array().unwrap().len(), 1);
    let refs =
        zs(&app, Method::GET, "/zstack/v1/security-groups/vm-instances/nics", Some(&session), None, None)
            .await
            .json();
    let r0 = &refs["inventories"][0];
    assert_eq!(
        (r0["vmNicUuid"].as_str(), r0["securityGroupUuid"].as_str(), r0["vmInstanceUuid"].as_str()),
        (Some(nic.as_str()), Some(group.as_str()), Some(vm.as_str()))
    );
    let q = format!("/zstack/v1/security-groups/vm-instances/nics?q=vmNicUuid={other_nic}");
    assert_eq!(zs(&app, Method::GET, &q, Some(&session), None, None).await.json()["inventories"], json!([]));

    // The memberships are canonical: a Katapult-style replacement of the members keeps them.
    assert_eq!(app.count("security_group_members").await, 2);

    // Leaving: NICs not in the group are ignored; detaching the network also removes its NICs.
    let removed = call(Method::DELETE, format!("{nics_path}?vmNicUuids={other_nic}"), None).await;
    assert_eq!(removed.text, "{}");
    assert_eq!(app.count("security_group_members").await, 2);
    let detached = call(Method::DELETE, l3_path.clone(), None).await;
    assert_eq!(detached.json()["inventory"]["attachedL3NetworkUuids"], json!([]));
    assert_eq!(app.count("security_group_members").await, 0, "the NIC on it left too");
    let again = call(Method::DELETE, l3_path, None).await;
    assert_eq!(
        error_of(&again).2,
        format!("security group[uuid:{group}] has not attached to l3Network[uuid:{l3}], can't detach")
    );
}

/// The native password change replaces both verifiers: the old password stops working for
/// HTTP Basic and for ZStack sign-in at once, the new one works for both.
#[tokio::test]
async fn a_changed_password_signs_in_everywhere() {
    let app = TestApp::spawn().await;
    let org = app.org("acme").await;
    let r = app
        .post(
            &format!("/api/v1/organizations/{org}/users"),
            OPERATOR,
            json!({"username": "alice", "password": "password"}),
        )
        .await;
    let user = r.body["user"]["id"].as_str().unwrap().to_owned();
    let path = format!("/api/v1/organizations/{org}/users/{user}/password");
    let r = app.request(Method::PUT, &path, Some(OPERATOR), Some(json!({"password": "correct-horse"}))).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.body);
    let r = app.request(Method::PUT, &path, Some(OPERATOR), Some(json!({"password": "short"}))).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
    let missing = format!("/api/v1/organizations/{org}/users/{}/password", uuid::Uuid::nil());
    let r =
        app.request(Method::PUT, &missing, Some(OPERATOR), Some(json!({"password": "correct-horse"}))).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.body);

    let sign_in = |password: &str| {
        let body =
            json!({"logInByAccount": {"accountName": "alice", "password": sha512_hex(password)}}).to_string();
        let app = &app;
        async move { zs(app, Method::PUT, "/zstack/v1/accounts/login", None, None, Some(&body)).await.status }
    };
    assert_eq!(sign_in("password").await, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(sign_in("correct-horse").await, StatusCode::OK);
    let basic = |password: &str| {
        let header = crate::support::basic("alice", password);
        let app = &app;
        async move {
            let url = format!("{}/accounts/acme/os-security-groups", app.base);
            app.client.get(url).header("Authorization", header).send().await.unwrap().status()
        }
    };
    assert_eq!(basic("password").await, StatusCode::UNAUTHORIZED);
    assert_eq!(basic("correct-horse").await, StatusCode::OK);
}

/// ICMP rules carry their type in `startPort` and their code in `endPort` (`-1`: every one);
/// the canonical rule keeps them, and they read back as sent.
#[tokio::test]
async fn icmp_rules_keep_their_type_and_code() {
    let app = TestApp::spawn().await;
    let (_, session) = signed_in(&app, "acme", "admin").await;
    let group = create_group(&app, &session, json!({"name": "web"})).await;
    let group = group["uuid"].as_str().unwrap().to_owned();
    let rules = json!([
        {"type": "Ingress", "protocol": "ICMP", "startPort": 8, "endPort": 0},
        {"type": "Ingress", "protocol": "ICMP", "startPort": 3},
        {"type": "Egress", "protocol": "ICMP", "startPort": -1, "endPort": -1},
    ]);
    let done = add_rules(&app, &session, &group, json!({"rules": rules})).await;
    let inv = done.json()["inventory"].clone();
    let icmp: Vec<Value> = inv["rules"].as_array().unwrap()[2..]
        .iter()
        .map(|r| json!([r["type"], r["protocol"], r["startPort"], r["endPort"]]))
        .collect();
    assert_eq!(
        icmp,
        vec![
            json!(["Ingress", "ICMP", 8, 0]),
            json!(["Ingress", "ICMP", 3, 3]),
            json!(["Egress", "ICMP", -1, -1])
        ]
    );
    // The same type with another code is another rule; the same one again is refused.
    let done = add_rules(
        &app,
        &session,
        &group,
        json!({"rules": [{"type": "Ingress", "protocol": "ICMP", "startPort": 8, "endPort": 1}]}),
    )
    .await;
    assert_eq!(done.status, StatusCode::OK, "{}", done.text);
    let done = add_rules(
        &app,
        &session,
        &group,
        json!({"rules": [{"type": "Ingress", "protocol": "ICMP", "startPort": 8, "endPort": 0}]}),
    )
    .await;
    assert!(error_of(&done).2.starts_with("rule exist."), "{}", done.text);
}

/// A user holds a bounded number of open sessions (ZStack's `session.maxConcurrent`,
/// `ID.1006`); ending one makes room.
#[tokio::test]
async fn a_user_holds_a_bounded_number_of_sessions() {
    let app = TestApp::spawn_tuned(|c| c.core.sessions_per_user = 2).await;
    let (_, first) = signed_in(&app, "acme", "admin").await;
    log_in(&app, "admin", "password").await;
    let body =
        json!({"logInByAccount": {"accountName": "admin", "password": sha512_hex("password")}}).to_string();
    let r = zs(&app, Method::PUT, "/zstack/v1/accounts/login", None, None, Some(&body)).await;
    let (status, code, details) = error_of(&r);
    assert_eq!((status, code.as_str()), (StatusCode::SERVICE_UNAVAILABLE, "ID.1006"));
    assert_eq!(details, "the user has 2 open sessions, the most allowed is 2");
    zs(&app, Method::DELETE, &format!("/zstack/v1/accounts/sessions/{first}"), None, None, None).await;
    log_in(&app, "admin", "password").await;
}

/// The poll `location` is the URL the client used: the request's `Host`, or what a trusted
/// proxy forwarded (`X-Forwarded-Proto`/`-Host`), or the configured public URL. Forwarded
/// headers from anyone else are the client's own claims and are not believed.
#[tokio::test]
async fn the_location_is_the_url_the_client_used() {
    async fn location(app: &TestApp, session: String) -> String {
        let forwarded = [
            ("host", "internal:8080"),
            ("x-forwarded-proto", "https"),
            ("x-forwarded-host", "zstack.example.com"),
        ];
        let mut req = app
            .client
            .post(format!("{}/zstack/v1/security-groups", app.base))
            .header("Authorization", format!("OAuth {session}"))
            .body(format!(r#"{{"params":{{"name":"g{}"}}}}"#, job_id()));
        for (name, value) in forwarded {
            req = req.header(name, value);
        }
        let body: Value = req.send().await.unwrap().json().await.unwrap();
        body["location"].as_str().unwrap().rsplit_once("/api-jobs/").unwrap().0.to_owned()
    }
    let app = TestApp::spawn().await;
    let (_, session) = signed_in(&app, "acme", "admin").await;
    assert_eq!(location(&app, session).await, "http://internal:8080/zstack/v1");
    let app = TestApp::spawn_tuned(|c| c.api.trusted_proxies = vec!["127.0.0.0/8".parse().unwrap()]).await;
    let (_, session) = signed_in(&app, "acme", "admin").await;
    assert_eq!(location(&app, session).await, "https://zstack.example.com/zstack/v1");
    let app = TestApp::spawn_tuned(|c| c.api.public_url = Some("https://cloud.example.net".into())).await;
    let (_, session) = signed_in(&app, "acme", "admin").await;
    assert_eq!(location(&app, session).await, "https://cloud.example.net/zstack/v1");
}

/// What a 4.7.21+ SDK sends in a rule is taken: `action` (DROP is a deny rule, shown with its
/// `action`), `dstPortRange`, `srcIpRange`, a rule's own `remoteSecurityGroupUuid`,
/// `description`; what this dialect cannot hold is refused through the job.
#[tokio::test]
async fn newer_sdks_rule_fields_are_taken() {
    let app = TestApp::spawn().await;
    let (_, session) = signed_in(&app, "acme", "admin").await;
    let web = create_group(&app, &session, json!({"name": "web"})).await;
    let db = create_group(&app, &session, json!({"name": "db"})).await;
    let (web, db) = (web["uuid"].as_str().unwrap().to_owned(), db["uuid"].as_str().unwrap().to_owned());
    let rules = json!([
        {"type": "Ingress", "protocol": "TCP", "dstPortRange": "8000-8080", "srcIpRange": "10.1.0.0/16", "action": "DROP", "description": "no proxies"},
        {"type": "Ingress", "protocol": "TCP", "dstPortRange": "5432", "remoteSecurityGroupUuid": db, "priority": 1},
    ]);
    let done = add_rules(&app, &session, &web, json!({"rules": rules, "priority": -1})).await;
    assert_eq!(done.status, StatusCode::OK, "{}", done.text);
    let added = done.json()["inventory"]["rules"].as_array().unwrap()[2..].to_vec();
    let shape = |r: &Value| {
        json!([
            r["startPort"],
            r["endPort"],
            r["allowedCidr"],
            r.get("remoteSecurityGroupUuid"),
            r.get("action")
        ])
    };
    assert_eq!(shape(&added[0]), json!([8000, 8080, "10.1.0.0/16", null, "DROP"]));
    assert_eq!(shape(&added[1]), json!([5432, 5432, "0.0.0.0/0", db, null]));
    for (rule, expected) in [
        (
            json!({"type": "Ingress", "protocol": "TCP", "dstPortRange": "80,443"}),
            "dstPortRange[80,443] names several ranges",
        ),
        (
            json!({"type": "Ingress", "protocol": "TCP", "startPort": 22, "srcIpRange": "10.0.0.1-10.0.0.9"}),
            "ipRange[10.0.0.1-10.0.0.9] names several ranges",
        ),
        (
            json!({"type": "Ingress", "protocol": "TCP", "startPort": 22, "action": "REJECT"}),
            "invalid action[REJECT], valid actions are [ACCEPT, DROP]",
        ),
    ] {
        let done = add_rules(&app, &session, &web, json!({"rules": [rule]})).await;
        assert!(error_of(&done).2.starts_with(expected), "{}", done.text);
    }
}

/// ZStack's agents end a NIC's egress in its egress policy, ALLOW unless changed, after the rules
/// of its groups (4.7.21+: first match, DROP rules deny). So a VM whose group has only the
/// default rules reaches the world, a DROP egress rule still drops, and an ACCEPT egress rule
/// closes nothing. ZStack's classic agents (3.x–4.6) differ in that last case only: once a user
/// egress rule exists, their NIC chain ends in DROP (an allow-list). Palisade follows the newer
/// agents, which admit more (docs/policy-semantics.md, ZStack).
#[tokio::test]
async fn egress_no_rule_matches_is_allowed_as_zstack_agents_allow_it() {
    let app = TestApp::spawn().await;
    let (org, session) = signed_in(&app, "acme", "admin").await;
    let network = app.network().await;
    let (_, nic) = server(&app, &org, "vm1", &network, "203.0.113.10").await;
    let g = create_group(&app, &session, json!({"name": "web"})).await;
    let group = g["uuid"].as_str().unwrap().to_owned();
    for (path, body) in [
        (format!("/zstack/v1/security-groups/{group}/l3-networks/{}", network.replace('-', "")), None),
        (
            format!("/zstack/v1/security-groups/{group}/vm-instances/nics"),
            Some(json!({"params": {"vmNicUuids": [nic]}}).to_string()),
        ),
    ] {
        let r = zs(&app, Method::POST, &path, Some(&session), Some(&job_id()), body.as_deref()).await;
        assert_eq!(poll(&app, &r, &session).await.status, StatusCode::OK, "{path}");
    }
    let check = |port: u16| {
        let app = &app;
        let path = format!("/api/v1/organizations/{org}/flow_checks");
        async move {
            let body = json!({"source": "203.0.113.10", "destination": "198.51.100.7", "protocol": "tcp", "port": port});
            let r = app.post(&path, OPERATOR, body).await;
            assert_eq!(r.status, StatusCode::OK, "{}", r.body);
            let egress = &r.body["egress"];
            (
                r.body["verdict"].clone(),
                egress["decision"].clone(),
                r.body["explanation"].as_str().unwrap().to_owned(),
            )
        }
    };

    // Only the default rules (ALL to the group itself): the world is reachable.
    let (verdict, decision, explanation) = check(443).await;
    assert_eq!((verdict, decision), (json!("allow"), json!("allow_all")));
    assert!(
        explanation
            .contains("no rule matched and group 'web' allows the outbound traffic that no rule matches"),
        "{explanation}"
    );

    // A DROP egress rule drops; an ACCEPT egress rule closes nothing (classic agents: it would).
    let rules = json!([
        {"type": "Egress", "protocol": "TCP", "dstPortRange": "25", "dstIpRange": "0.0.0.0/0", "action": "DROP"},
        {"type": "Egress", "protocol": "TCP", "startPort": 22, "endPort": 22, "allowedCidr": "10.0.0.0/8"},
    ]);
    let done = add_rules(&app, &session, &group, json!({"rules": rules})).await;
    assert_eq!(done.status, StatusCode::OK, "{}", done.text);
    assert_eq!(check(25).await.0, json!("deny"));
    assert_eq!(check(443).await.0, json!("allow"));

    // The compiled policy's egress default says the same, and so does the native group view.
    let servers = app.get(&format!("/api/v1/organizations/{org}/servers"), OPERATOR).await;
    let vm = servers.body["servers"][0]["id"].as_str().unwrap().to_owned();
    let policy = app.get(&format!("/api/v1/organizations/{org}/servers/{vm}/policy"), OPERATOR).await;
    assert_eq!(policy.body["defaults"], json!({"ingress": "deny", "egress": "allow"}), "{}", policy.body);
    let uuid = uuid::Uuid::parse_str(&group).unwrap().to_string();
    let view = app.get(&format!("/api/v1/organizations/{org}/groups/{uuid}"), OPERATOR).await;
    let view = &view.body["group"];
    assert_eq!(
        (&view["allow_all_outbound"], &view["allow_unmatched_outbound"]),
        (&json!(false), &json!(true)),
        "{view}"
    );

    // Katapult shows the group as allowing all outbound (its rules as they are); a Katapult
    // client setting allow_all_outbound to false makes the outbound rules an allow-list.
    let (_, token) = app.token(&org, &["security_groups:read", "security_groups"]).await;
    let sg = palisade_api::katapult::ids::render("sg", uuid::Uuid::parse_str(&group).unwrap().as_bytes());
    let shown = app.get(&format!("/core/v1/security_groups/{sg}"), &token).await;
    assert_eq!(shown.body["security_group"]["allow_all_outbound"], json!(true), "{}", shown.body);
    let body = json!({"properties": {"allow_all_outbound": false}});
    let patched =
        app.request(Method::PATCH, &format!("/core/v1/security_groups/{sg}"), Some(&token), Some(body)).await;
    assert_eq!(patched.body["security_group"]["allow_all_outbound"], json!(false), "{}", patched.body);
    let (verdict, decision, _) = check(443).await;
    assert_eq!((verdict, decision), (json!("deny"), json!("no_match")));
}
