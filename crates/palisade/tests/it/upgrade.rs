//! A database written by a released version starts on this one and reads back identically.
//!
//! `tests/fixtures/upgrade/<release>/<backend>/` holds, per released version, the database it
//! wrote (SQL text with its `_sqlx_migrations` rows, so the checksums are the release's) and its
//! answers to every read of that data on every face (`palisade-bench upgrade-fixture` made them;
//! see the README there). The test loads the dump into a fresh database of the backend
//! `PALISADE_TEST_BACKEND` names, starts the application on it (which applies the migrations
//! the release did not have), replays every recorded GET and compares status, content type and
//! body byte for byte. Two allowances only: Defined bodies are compared as parsed JSON (key
//! order aside), and the server's own base URL in Hostway links is the placeholder `{BASE}`.
//! Fields added since a release are left out of today's answer before the comparison
//! ([`ADDED_SINCE_RELEASE`]), each with the one value every row of a released database has.
//! Ids and timestamps must read back identical. Then writes on the upgraded data: a Katapult
//! rule added to and another changed in an existing group, a Hostway rule (numbered after the
//! release's last one), an address from the release's pool of released addresses, a Defined
//! host update; and the operator token the release generated and stored still authenticates.
//!
//! Migrations are frozen: a change of storage encoding must come with a new migration that
//! converts the release's rows, or this test fails.

use std::path::{Path, PathBuf};

use palisade::{Application, ServeConfig};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use sqlx::Connection;

use crate::support::{Backend, TestApp, TestDatabase, OPERATOR};

/// Fields answers have gained since the releases, as the exact text each adds to an answer of its
/// face, with the value every row a release wrote has (a release's servers are in no server
/// group). Nothing else may differ.
const ADDED_SINCE_RELEASE: &[(&str, &str)] =
    &[("native", "\"server_group_id\":null,"), ("native", ",\"revoked_at\":null")];

/// Since the policy engine issue Hostway shows a rule written on another face as the Hostway
/// rules that say it (`docs/policy-semantics.md`, "Projections"; `tests/it/projections.rs`),
/// where a release showed it narrowed: a `null` CIDR for a VM or tag target, one of several
/// ports or addresses, nothing for a group allowing all inbound, outbound rules silently. In an
/// answer with such a group, that group is compared without its `rules` and `description` (and
/// a rules list of it without its `list`), everything else as parsed JSON; answers without one
/// stay byte for byte. `None`: the answer has no such group.
fn without_reprojected(recorded: &str, now: &str) -> Option<(Value, Value)> {
    let (mut recorded, mut now): (Value, Value) =
        (serde_json::from_str(recorded).ok()?, serde_json::from_str(now).ok()?);
    let narrowed =
        |group: &Value| group["rules"].as_array().is_some_and(|r| r.iter().any(|r| r["cidr"].is_null()));
    let projected = |group: &Value| {
        group["description"].as_str().is_some_and(|d| d.contains("[palisade:"))
            || group["rules"].as_array().is_some_and(|r| r.iter().any(|r| r["id"] == "0"))
    };
    // The rules list of a narrowed group.
    if let Some(list) = recorded["list"].as_array() {
        if !list.iter().any(|r| r["cidr"].is_null()) {
            return None;
        }
        for body in [&mut recorded, &mut now] {
            body.as_object_mut()?.remove("list");
        }
        return Some((recorded, now));
    }
    let ids: Vec<Value> = {
        let new = groups_of(&now);
        groups_of(&recorded)
            .into_iter()
            .filter(|g| narrowed(g) || new.iter().any(|n| n["id"] == g["id"] && projected(n)))
            .map(|g| g["id"].clone())
            .collect()
    };
    if ids.is_empty() {
        return None;
    }
    for body in [&mut recorded, &mut now] {
        strip(body, &ids);
    }
    Some((recorded, now))
}

/// Since the operations issue a revoked token stays in token lists (with `revoked_at`), where
/// a release left it out: today's list without its revoked tokens (and their count), as parsed
/// JSON, is the release's.
fn without_revoked(now: &str) -> Option<Value> {
    let mut now: Value = serde_json::from_str(now).ok()?;
    let tokens = now.get_mut("api_tokens")?.as_array_mut()?;
    let listed = tokens.len();
    tokens.retain(|t| t["revoked_at"].is_null());
    let revoked = u64::try_from(listed - tokens.len()).ok()?;
    let total = now["pagination"]["total"].as_u64()?;
    now["pagination"]["total"] = json!(total - revoked);
    Some(now)
}

/// The groups of a Hostway group list or group answer.
fn groups_of(body: &Value) -> Vec<&Value> {
    match body.get("securityGroups").and_then(Value::as_array) {
        Some(groups) => groups.iter().collect(),
        None => body.get("securityGroup").into_iter().collect(),
    }
}

/// Removes the rules and description of the groups with these ids.
fn strip(body: &mut Value, ids: &[Value]) {
    let groups: Vec<&mut Value> = if body.get("securityGroups").is_some() {
        body.get_mut("securityGroups")
            .and_then(Value::as_array_mut)
            .map(|g| g.iter_mut().collect())
            .unwrap_or_default()
    } else {
        body.get_mut("securityGroup").into_iter().collect()
    };
    for group in groups {
        if ids.contains(&group["id"]) {
            if let Some(fields) = group.as_object_mut() {
                fields.remove("rules");
                fields.remove("description");
            }
        }
    }
}

fn releases() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/upgrade");
    let mut releases: Vec<PathBuf> = std::fs::read_dir(&root)
        .unwrap_or_else(|e| panic!("{}: {e}", root.display()))
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.is_dir())
        .collect();
    releases.sort();
    assert!(!releases.is_empty(), "no release fixture under {}", root.display());
    releases
}

#[tokio::test]
async fn every_release_database_upgrades_and_reads_back_identically() {
    for release in releases() {
        upgrade(&release).await;
    }
}

async fn upgrade(release: &Path) {
    let db = TestDatabase::from_env().await;
    let dir = release.join(match db.backend {
        Backend::Sqlite => "sqlite",
        Backend::Postgres => "postgres",
    });
    let read = |name: &str| {
        let path = dir.join(name);
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    };
    let fixture: Value = serde_json::from_str(&read("fixture.json")).unwrap();
    restore(&db, &read("dump.sql")).await;
    let app = TestApp::spawn_on(db).await;

    let replay = Replay { app: &app, credentials: &fixture["credentials"] };
    let exchanges = exchanges(&dir.join("exchanges"));
    assert!(!exchanges.is_empty(), "no recorded reads in {}", dir.display());
    let mut differences = Vec::new();
    for exchange in &exchanges {
        if let Some(difference) = replay.check(exchange).await {
            differences.push(difference);
        }
    }
    assert!(
        differences.is_empty(),
        "{} of {} recorded reads of {} answer differently:\n\n{}",
        differences.len(),
        exchanges.len(),
        dir.display(),
        differences.join("\n\n")
    );

    let writes = &fixture["writes"];
    // First: a rule of any face takes the organization's next number.
    replay.hostway_rule(writes).await;
    replay.katapult_rules(writes).await;
    replay.address_from_the_pool(writes).await;
    replay.defined_host(writes).await;
    let operator = fixture["credentials"]["operator"]["bearer"].as_str().unwrap();
    stored_operator_token_still_works(app.stop().await, operator, &writes["organization"]).await;
}

/// Replays the release's SQL text into the fresh, empty database.
async fn restore(db: &TestDatabase, sql: &str) {
    match db.backend {
        Backend::Sqlite => {
            let options: sqlx::sqlite::SqliteConnectOptions = db.url.parse().unwrap();
            let mut conn =
                sqlx::SqliteConnection::connect_with(&options.create_if_missing(true)).await.unwrap();
            sqlx::raw_sql(sql).execute(&mut conn).await.expect("replaying the SQLite dump");
            conn.close().await.unwrap();
        }
        Backend::Postgres => {
            let mut conn = sqlx::PgConnection::connect(&db.url).await.unwrap();
            sqlx::raw_sql(sql).execute(&mut conn).await.expect("replaying the PostgreSQL dump");
            conn.close().await.unwrap();
        }
    }
}

/// One recorded GET: the request, who made it, and the answer.
struct Exchange {
    file: String,
    path: String,
    face: String,
    credential: String,
    status: u16,
    content_type: String,
    body: String,
}

/// `GET <path>`, `Key: value` lines, a blank line, then the body exactly.
fn exchanges(dir: &Path) -> Vec<Exchange> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().path()).collect();
    files.sort();
    files
        .iter()
        .map(|file| {
            let text = std::fs::read_to_string(file).unwrap();
            let name = file.file_name().unwrap().to_string_lossy().into_owned();
            let (head, body) = text.split_once("\n\n").unwrap_or_else(|| panic!("{name}: no blank line"));
            let mut lines = head.lines();
            let path = lines.next().and_then(|l| l.strip_prefix("GET ")).unwrap_or_else(|| panic!("{name}"));
            let field = |key: &str| {
                head.lines()
                    .find_map(|l| l.strip_prefix(&format!("{key}: ")))
                    .unwrap_or_else(|| panic!("{name}: no {key}"))
                    .to_owned()
            };
            Exchange {
                path: path.to_owned(),
                face: field("Face"),
                credential: field("Credential"),
                status: field("Status").parse().unwrap(),
                content_type: field("Content-Type"),
                body: body.to_owned(),
                file: name,
            }
        })
        .collect()
}

struct Replay<'a> {
    app: &'a TestApp,
    credentials: &'a Value,
}

/// An answer as text.
struct Answer {
    status: StatusCode,
    content_type: String,
    text: String,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_str(&self.text)
            .unwrap_or_else(|_| panic!("not JSON ({}): {}", self.status, self.text))
    }
}

impl Replay<'_> {
    /// A request with a credential of the fixture. The native operator is the test server's
    /// (`TestApp` is given one); the release's stored one is checked on its own.
    async fn send(&self, method: Method, path: &str, credential: &str, body: Option<Value>) -> Answer {
        let mut req = self.app.client.request(method, format!("{}{path}", self.app.base));
        let given = &self.credentials[credential];
        req = match (credential, given["bearer"].as_str(), given["basic"].as_array()) {
            ("operator", _, _) => req.bearer_auth(OPERATOR),
            (_, Some(token), _) => req.bearer_auth(token),
            (_, None, Some(pair)) => req.basic_auth(pair[0].as_str().unwrap(), pair[1].as_str()),
            _ => panic!("no credential {credential} in fixture.json"),
        };
        if let Some(body) = body {
            req = req.json(&body);
        }
        let res = req.send().await.unwrap();
        let status = res.status();
        let content_type =
            res.headers().get("content-type").map(|v| v.to_str().unwrap().to_owned()).unwrap_or_default();
        let text = res.text().await.unwrap();
        Answer { status, content_type, text }
    }

    async fn get(&self, path: &str, credential: &str) -> Answer {
        self.send(Method::GET, path, credential, None).await
    }

    /// The difference between the recorded answer and today's, if any.
    async fn check(&self, e: &Exchange) -> Option<String> {
        let got = self.get(&e.path, &e.credential).await;
        let mut body = got.text.replace(&self.app.base, "{BASE}");
        for (face, added) in ADDED_SINCE_RELEASE.iter().filter(|(face, _)| *face == e.face) {
            assert!(!e.body.contains(added), "{face}: {added} was in the release's answer already");
            body = body.replace(added, "");
        }
        let reprojected = if e.face == "hostway" { without_reprojected(&e.body, &body) } else { None };
        let same_body = if let Some((recorded, now)) = reprojected {
            recorded == now
        } else if e.face == "defined" {
            // Another change fixes Defined's key order; the content must not move.
            serde_json::from_str::<Value>(&body).ok() == serde_json::from_str::<Value>(&e.body).ok()
        } else if e.face == "native" && e.path.ends_with("/api_tokens") {
            without_revoked(&body).is_some_and(|now| serde_json::from_str::<Value>(&e.body).ok() == Some(now))
        } else {
            body == e.body
        };
        let status = got.status.as_u16();
        let same = status == e.status && got.content_type == e.content_type && same_body;
        (!same).then(|| {
            format!(
                "{} (GET {})\n  recorded: {} {}\n  {}\n  now:      {} {}\n  {}",
                e.file, e.path, e.status, e.content_type, e.body, status, got.content_type, body
            )
        })
    }

    /// A rule added to a group of the release and one of its rules changed; both read back.
    async fn katapult_rules(&self, writes: &Value) {
        let (k, group) = ("acme-katapult", writes["katapult_group"].as_str().unwrap());
        let before =
            self.get(&format!("/core/v1/security_groups/{group}/rules?per_page=200"), k).await.json();
        let total = before["pagination"]["total"].as_u64().unwrap();
        let properties = json!({"direction": "inbound", "protocol": "TCP", "ports": "9000-9100,9200",
            "targets": ["all:ipv4", "192.0.2.0/24"], "notes": "after the upgrade"});
        let created = self
            .send(
                Method::POST,
                &format!("/core/v1/security_groups/{group}/rules"),
                k,
                Some(json!({"properties": properties})),
            )
            .await;
        assert_eq!(created.status, StatusCode::OK, "{}", created.text);
        let rule = created.json()["security_group_rule"]["id"].as_str().unwrap().to_owned();
        let got = self.get(&format!("/core/v1/security_groups/rules/{rule}"), k).await;
        assert_eq!((got.status, &got.text), (StatusCode::OK, &created.text));
        let after = self.get(&format!("/core/v1/security_groups/{group}/rules?per_page=200"), k).await.json();
        assert_eq!(after["pagination"]["total"], total + 1);
        let mut listed = created.json()["security_group_rule"].clone();
        listed.as_object_mut().unwrap().remove("security_group");
        assert_eq!(after["security_group_rules"][total as usize], listed, "the new rule comes last");

        // A rule the release wrote, changed in one field: the others stay as they were.
        let old = &before["security_group_rules"][1];
        let old_id = old["id"].as_str().unwrap();
        let path = format!("/core/v1/security_groups/rules/{old_id}");
        let patched =
            self.send(Method::PATCH, &path, k, Some(json!({"properties": {"notes": "renamed"}}))).await;
        assert_eq!(patched.status, StatusCode::OK, "{}", patched.text);
        let mut expected = old.clone();
        expected["notes"] = json!("renamed");
        let mut got = self.get(&path, k).await.json()["security_group_rule"].clone();
        got.as_object_mut().unwrap().remove("security_group");
        assert_eq!(got, expected);
    }

    /// A Hostway rule takes the number after the release's last one (deleted, never reused).
    async fn hostway_rule(&self, writes: &Value) {
        let org = writes["organization"].as_str().unwrap();
        let group = writes["hostway_group"].as_str().unwrap();
        let rule = json!({"securityGroupRule": {"parentGroupId": group, "protocol": "TCP", "fromPort": 8443,
            "toPort": 8443, "cidr": "192.0.2.0/24", "action": "DROP", "priority": 7}});
        let created = self
            .send(
                Method::POST,
                &format!("/accounts/{org}/os-security-group-rules"),
                "acme-hostway",
                Some(rule),
            )
            .await;
        assert_eq!(created.status, StatusCode::CREATED, "{}", created.text);
        let number = created.json()["securityGroupRule"]["id"].as_str().unwrap().to_owned();
        assert_eq!(number, writes["next_rule_number"].to_string());
        let rules =
            self.get(&format!("/accounts/{org}/os-security-groups/{group}/rules"), "acme-hostway").await;
        assert_eq!(rules.status, StatusCode::OK, "{}", rules.text);
        let listed = rules.json()["list"].as_array().unwrap().last().cloned().unwrap();
        assert_eq!(
            listed,
            json!({"priority": 7, "action": "DROP", "from_port": 8443, "protocol": "TCP", "to_port": 8443,
                "cidr": "192.0.2.0/24", "id": number})
        );
    }

    /// IPAM's state (the pool of released addresses) survived: the next address is its lowest.
    async fn address_from_the_pool(&self, writes: &Value) {
        let org = writes["organization"].as_str().unwrap();
        let body = json!({"network_id": writes["public_network"], "version": "ipv4"});
        let ip = self
            .send(Method::POST, &format!("/api/v1/organizations/{org}/ip_addresses"), "operator", Some(body))
            .await;
        assert_eq!(ip.status, StatusCode::CREATED, "{}", ip.text);
        assert_eq!(ip.json()["ip_address"]["address"], writes["next_public_ipv4"]);
    }

    /// A Defined host of the release, changed in one field: the others stay as they were.
    async fn defined_host(&self, writes: &Value) {
        let (d, host) = ("acme-defined", writes["defined_host"].as_str().unwrap());
        let before = self.get(&format!("/v2/hosts/{host}"), d).await.json();
        let put = self
            .send(Method::PUT, &format!("/v3/hosts/{host}"), d, Some(json!({"isLighthouse": true})))
            .await;
        assert_eq!(put.status, StatusCode::OK, "{}", put.text);
        let after = self.get(&format!("/v2/hosts/{host}"), d).await.json();
        let mut expected = before;
        expected["data"]["isLighthouse"] = json!(true);
        expected["data"]["modifiedAt"] = after["data"]["modifiedAt"].clone();
        assert_eq!(after, expected);
    }
}

/// Started without an operator token, the application uses the one the release generated and
/// stored (its hash, in `settings`), and generates none.
async fn stored_operator_token_still_works(db: TestDatabase, operator: &str, org: &Value) {
    let config = ServeConfig { listen: "127.0.0.1:0".into(), admin_token: None, ..ServeConfig::default() };
    let (app, generated) = Application::build_with_store(config, db.store().await).await.unwrap();
    assert!(generated.is_none(), "the release's operator token was not found");
    let base = format!("http://{}", app.local_addr().unwrap());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let serving = tokio::spawn(app.run_until(async move {
        let _ = stopped.await;
    }));
    let client = reqwest::Client::new();
    let path = format!("{base}/api/v1/organizations/{}", org.as_str().unwrap());
    let res = client.get(&path).bearer_auth(operator).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let res = client.get(&path).bearer_auth(OPERATOR).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED, "only the stored token is the operator's");
    let _ = stop.send(());
    serving.await.unwrap().unwrap();
}
