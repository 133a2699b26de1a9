//! `upgrade-fixture`: a release's database with data on every face, and that release's answer
//! to every read of it, for the upgrade test (`crates/palisade/tests/it/upgrade.rs`).
//!
//! Not a benchmark: run once per release, against that release's code, and commit the output.
//! Later versions must start on the committed database (applying their newer migrations) and
//! answer every recorded read byte for byte, which is what proves that a migration converting
//! stored data kept it readable. For each backend it starts the real server on a fresh database
//! (without an operator token, so the generated one is stored as a deployment's would be),
//! creates data over HTTP through the native, Katapult, Defined and Hostway faces, records the
//! GET answers, stops the server and exports the database as SQL text:
//!
//! - `dump.sql`: SQLite `.dump --preserve-rowids` (schema, rows in rowid order with their rowids,
//!   and `_sqlx_migrations`, so the checksums are the release's) without its
//!   `DELETE FROM sqlite_sequence` when there is no sequence to restore (a fresh database has no
//!   such table), or `pg_dump --inserts --no-owner --no-privileges` without the psql
//!   meta-commands (`\restrict`), which sqlx cannot run.
//! - `fixture.json`: the credentials the test needs (test data only) and what the test's writes
//!   should get (the next address of the released pool, the next Hostway rule number).
//! - `exchanges/NN-face-name.http`: request line, face, credential, status and content type,
//!   a blank line, then the body exactly as answered, the server's own base URL (in Hostway
//!   links) replaced by `{BASE}`.
//!
//! Needs `sqlite3` and `pg_dump` on the PATH. See the fixture directory's README.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use anyhow::{bail, Context};
use palisade::ServeConfig;
use palisade_testkit::{Backend, TestDatabase};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::backend_name;

/// A global address list (no organization): no HTTP route creates one (the operator's lists),
/// so the generator inserts it with SQL, in the release's schema.
const GLOBAL_LIST: &str = "9a1b0b1e5f4d4c3b8a7e6d5c4b3a2910";
const GLOBAL_ENTRIES: [(&str, &str, Option<&str>); 2] = [
    ("9a1b0b1e5f4d4c3b8a7e6d5c4b3a2911", "192.0.2.0/24", Some("TEST-NET-1")),
    ("9a1b0b1e5f4d4c3b8a7e6d5c4b3a2912", "2001:db8::/32", None),
];
/// The address of a server deleted at the end.
const GONE_ADDRESS: &str = "203.0.113.30";
/// 2026-01-01T00:00:00Z.
const GLOBAL_CREATED: i64 = 1_767_225_600;

pub async fn run(backends: &[Backend], out: &Path) -> anyhow::Result<()> {
    for &backend in backends {
        let dir = out.join(backend_name(backend));
        one(backend, &dir).await.with_context(|| format!("the {} fixture", backend_name(backend)))?;
        println!("wrote {}", dir.display());
    }
    Ok(())
}

async fn one(backend: Backend, dir: &Path) -> anyhow::Result<()> {
    let db = TestDatabase::new(backend).await;
    let config = ServeConfig {
        listen: "127.0.0.1:0".into(),
        database_url: db.url.clone(),
        admin_token: None,
        db: crate::db_settings(),
        ..ServeConfig::default()
    };
    let (crate::Served { base, stop, server: serving, .. }, generated) = crate::start(config).await?;
    let operator = generated.context("a fresh database must generate an operator token")?;

    let mut s = Session::new(base, operator.into_string());
    insert_global_list(&db).await;
    let writes = populate(&mut s).await?;
    let exchanges = record(&s).await?;

    let _ = stop.send(());
    serving.await??;
    let dump = dump(&db)?;

    if dir.exists() {
        std::fs::remove_dir_all(dir)?;
    }
    std::fs::create_dir_all(dir.join("exchanges"))?;
    std::fs::write(dir.join("dump.sql"), dump)?;
    let fixture = json!({
        "backend": backend_name(backend),
        "credentials": s.credentials,
        "writes": writes,
    });
    std::fs::write(dir.join("fixture.json"), format!("{}\n", serde_json::to_string_pretty(&fixture)?))?;
    for (i, e) in exchanges.iter().enumerate() {
        std::fs::write(
            dir.join("exchanges").join(format!("{:02}-{}-{}.http", i + 1, e.face, e.name)),
            &e.text,
        )?;
    }
    Ok(())
}

// ---------------------------------------------------------------- HTTP

/// The server, the credentials created so far, and the ids the reads will need.
struct Session {
    client: reqwest::Client,
    base: String,
    /// Name → `{"bearer": secret}` or `{"basic": [username, password]}`.
    credentials: BTreeMap<String, Value>,
    ids: BTreeMap<&'static str, String>,
}

impl Session {
    fn new(base: String, operator: String) -> Self {
        let mut credentials = BTreeMap::new();
        credentials.insert("operator".to_owned(), json!({"bearer": operator}));
        Self { client: reqwest::Client::new(), base, credentials, ids: BTreeMap::new() }
    }

    fn id(&self, key: &str) -> anyhow::Result<String> {
        self.ids.get(key).cloned().with_context(|| format!("no id recorded for {key}"))
    }

    fn keep(&mut self, key: &'static str, value: &Value) -> anyhow::Result<String> {
        let text = value.as_str().with_context(|| format!("{key}: not a string: {value}"))?.to_owned();
        self.ids.insert(key, text.clone());
        Ok(text)
    }

    fn request(
        &self,
        method: Method,
        path: &str,
        credential: &str,
    ) -> anyhow::Result<reqwest::RequestBuilder> {
        let req = self.client.request(method, format!("{}{path}", self.base));
        let credential =
            self.credentials.get(credential).with_context(|| format!("no credential {credential}"))?;
        Ok(match (credential["bearer"].as_str(), credential["basic"].as_array()) {
            (Some(token), _) => req.bearer_auth(token),
            (None, Some(pair)) => req.basic_auth(pair[0].as_str().unwrap_or_default(), pair[1].as_str()),
            _ => bail!("malformed credential {credential}"),
        })
    }

    /// A write that must succeed; its JSON answer (`null` when empty).
    /// A request that must succeed (`null`: no body); its JSON answer (`null` when empty). A
    /// write is followed by a pause of a second, so that every stored timestamp (whole seconds
    /// on SQLite) is its own and a conversion that mixed them up would show.
    async fn send(&self, method: Method, path: &str, credential: &str, body: Value) -> anyhow::Result<Value> {
        let mut req = self.request(method.clone(), path, credential)?;
        if !body.is_null() {
            req = req.json(&body);
        }
        let res = req.send().await?;
        let status = res.status();
        let text = res.text().await?;
        if !status.is_success() {
            bail!("{method} {path}: {status}: {text}");
        }
        if method != Method::GET {
            tokio::time::sleep(std::time::Duration::from_secs(1)).await;
        }
        Ok(if text.is_empty() { Value::Null } else { serde_json::from_str(&text)? })
    }

    async fn post(&self, path: &str, credential: &str, body: Value) -> anyhow::Result<Value> {
        self.send(Method::POST, path, credential, body).await
    }
}

// ---------------------------------------------------------------- data

/// Katapult's `{"organization": {"sub_domain": …}}` with other arguments.
fn in_org(org: &str, rest: Value) -> Value {
    let mut body = json!({"organization": {"sub_domain": org}});
    if let (Some(map), Value::Object(rest)) = (body.as_object_mut(), rest) {
        map.extend(rest);
    }
    body
}

fn katapult_id(prefix: &str, uuid: &str) -> anyhow::Result<String> {
    let id: palisade_core::id::ServerId = uuid.parse().map_err(|_| anyhow::anyhow!("not a UUID: {uuid}"))?;
    Ok(palisade_api::katapult::ids::render(prefix, id.as_bytes()))
}

/// Creates the data of every face and returns what the test's writes should get.
async fn populate(s: &mut Session) -> anyhow::Result<Value> {
    let released = native(s).await?;
    katapult(s).await?;
    defined(s).await?;
    let next_rule_number = hostway(s).await?;
    let released = release(s, released).await?;
    Ok(json!({
        "organization": s.id("acme")?,
        "public_network": s.id("public")?,
        "next_public_ipv4": released,
        "katapult_group": s.id("sg_db")?,
        "hostway_group": s.id("hw_edge")?,
        "next_rule_number": next_rule_number,
        "defined_host": s.id("host_web")?,
    }))
}

/// Organizations, credentials, inventory, servers and addresses; returns the address of the
/// one that [`release`] releases.
async fn native(s: &mut Session) -> anyhow::Result<String> {
    let op = "operator";
    for sub in ["acme", "globex", "umbrella"] {
        let body = json!({"name": format!("{sub} Ltd"), "sub_domain": sub});
        let r = s.post("/api/v1/organizations", op, body).await?;
        s.keep(sub, &r["organization"]["id"])?;
    }
    let (acme, globex, umbrella) = (s.id("acme")?, s.id("globex")?, s.id("umbrella")?);
    let suspended = json!({"status": "suspended", "name": "Umbrella (suspended)"});
    s.send(Method::PATCH, &format!("/api/v1/organizations/{umbrella}"), op, suspended).await?;

    let katapult_scopes = [
        "organizations:read",
        "virtual_machines",
        "security_groups",
        "security_group",
        "ip_addresses",
        "virtual_machine_groups",
        "tags",
        "address_lists",
    ];
    let defined_scopes = [
        "roles:create",
        "roles:read",
        "roles:list",
        "roles:update",
        "roles:delete",
        "hosts:create",
        "hosts:read",
        "hosts:list",
        "hosts:update",
        "hosts:delete",
        "networks:list",
    ];
    let read_only = ["organizations:read", "security_groups:read", "address_lists:read"];
    let tokens = [
        (
            "acme-katapult",
            &acme,
            json!({"name": "terraform", "scopes": katapult_scopes, "allowed_networks": ["127.0.0.0/8", "::1/128"]}),
        ),
        (
            "acme-defined",
            &acme,
            json!({"name": "dnctl", "scopes": defined_scopes, "expires_at": "2099-12-31T23:59:59Z"}),
        ),
        ("acme-revoked", &acme, json!({"name": "old", "scopes": ["tags:read"]})),
        ("globex-katapult", &globex, json!({"name": "readonly", "scopes": read_only})),
    ];
    for (name, org, body) in tokens {
        let tokens = format!("/api/v1/organizations/{org}/api_tokens");
        let r = s.post(&tokens, op, body).await?;
        s.credentials.insert(name.to_owned(), json!({"bearer": r["secret"]}));
        if name == "acme-revoked" {
            let id = r["api_token"]["id"].as_str().context("token id")?;
            s.send(Method::DELETE, &format!("{tokens}/{id}"), op, Value::Null).await?;
            s.credentials.remove(name);
        }
    }
    for (name, org, user, password) in [
        ("acme-hostway", &acme, "acme-admin", "correct horse battery"),
        ("globex-hostway", &globex, "globex-ops", "staple 42 battery"),
    ] {
        let body = json!({"username": user, "password": password});
        s.post(&format!("/api/v1/organizations/{org}/users"), op, body).await?;
        s.credentials.insert(name.to_owned(), json!({"basic": [user, password]}));
    }

    let gb = json!({"name": "United Kingdom", "iso_code2": "GB", "iso_code3": "GBR", "time_zone": "Europe/London", "eu": false});
    let nl = json!({"name": "Netherlands", "iso_code2": "NL", "iso_code3": "NLD", "time_zone": "Europe/Amsterdam", "eu": true});
    for (key, name, permalink, country) in
        [("london", "London", "uk-lon-01", gb), ("amsterdam", "Amsterdam", "nl-ams-01", nl)]
    {
        let body = json!({"name": name, "permalink": permalink, "country": country});
        let r = s.post("/api/v1/data_centers", op, body).await?;
        s.keep(key, &r["data_center"]["id"])?;
    }
    let (london, amsterdam) = (s.id("london")?, s.id("amsterdam")?);
    let networks = [
        (
            "public",
            json!({"name": "Public", "permalink": "public", "data_center_id": london, "default": true,
                "prefixes": ["203.0.113.0/24", "2001:db8::/64"], "reserved": ["203.0.113.250/31"], "organization_id": null}),
        ),
        (
            "acme_lan",
            json!({"name": "ACME LAN", "permalink": "acme-lan", "data_center_id": amsterdam,
                "prefixes": ["10.20.0.0/24"], "organization_id": acme}),
        ),
        (
            "transit",
            json!({"name": "Transit", "data_center_id": london, "prefixes": ["198.51.100.0/28", "2001:db8:1::/112"]}),
        ),
    ];
    for (key, body) in networks {
        let r = s.post("/api/v1/networks", op, body).await?;
        s.keep(key, &r["network"]["id"])?;
    }
    let (public, lan, transit) = (s.id("public")?, s.id("acme_lan")?, s.id("transit")?);

    let servers = format!("/api/v1/organizations/{acme}/servers");
    let web = json!({"name": "web-1", "tags": ["web", "env:prod"], "interfaces": [
        {"network_id": public, "addresses": ["203.0.113.10", "2001:db8::10"]},
        {"network_id": lan, "addresses": ["10.20.0.5"]}]});
    let r = s.post(&servers, "acme-katapult", web).await?;
    s.keep("web1", &r["server"]["id"])?;
    s.keep("web1_public", &r["server"]["interfaces"][0]["id"])?;
    let db = json!({"name": "db-1", "interfaces": [{"network_id": transit, "addresses": []}]});
    let r = s.post(&servers, op, db).await?;
    s.keep("db1", &r["server"]["id"])?;
    s.keep("db1_transit", &r["server"]["interfaces"][0]["id"])?;
    // Deleted at the end (`release`).
    let gone = json!({"name": "gone", "interfaces": [{"network_id": public, "addresses": [GONE_ADDRESS]}]});
    let r = s.post(&servers, op, gone).await?;
    s.keep("gone", &r["server"]["id"])?;
    let app = json!({"name": "app-1", "tags": ["globex"],
        "interfaces": [{"network_id": public, "addresses": ["203.0.113.20"]}]});
    let r = s.post(&format!("/api/v1/organizations/{globex}/servers"), op, app).await?;
    s.keep("app1", &r["server"]["id"])?;

    let ips = format!("/api/v1/organizations/{acme}/ip_addresses");
    let r = s.post(&ips, op, json!({"network_id": public, "version": "ipv4"})).await?;
    s.keep("ip_v4", &r["ip_address"]["id"])?;
    let v6 = json!({"network_id": public, "version": "ipv6", "vip": true, "label": "lb"});
    let r = s.post(&ips, op, v6).await?;
    let v6 = s.keep("ip_v6", &r["ip_address"]["id"])?;
    s.send(Method::PATCH, &format!("{ips}/{v6}"), op, json!({"reverse_dns": "lb.acme.example"})).await?;
    let t6 = json!({"network_id": transit, "version": "ipv6", "label": "transit-v6"});
    let r = s.post(&ips, op, t6).await?;
    let t6 = s.keep("ip_transit_v6", &r["ip_address"]["id"])?;
    let db_interface = json!({"server_id": s.id("db1")?, "interface_id": s.id("db1_transit")?});
    s.post(&format!("{ips}/{t6}/allocate"), op, db_interface).await?;
    let r = s.post(&ips, op, json!({"network_id": public, "version": "ipv4"})).await?;
    let moved = s.keep("ip_unallocated", &r["ip_address"]["id"])?;
    let web_interface = json!({"server_id": s.id("web1")?, "interface_id": s.id("web1_public")?});
    s.post(&format!("{ips}/{moved}/allocate"), op, web_interface).await?;
    s.post(&format!("{ips}/{moved}/unallocate"), op, Value::Null).await?;
    let r = s.post(&ips, op, json!({"network_id": public, "version": "ipv4", "label": "to release"})).await?;
    s.keep("ip_to_release", &r["ip_address"]["id"])?;
    Ok(r["ip_address"]["address"].as_str().context("address")?.to_owned())
}

/// Last, so that no allocation takes them: releases an address and deletes a server, which puts
/// both addresses in the public network's pool; restricts globex. Returns the address the next
/// IPv4 allocation there takes (the pool's lowest).
async fn release(s: &mut Session, address: String) -> anyhow::Result<String> {
    let (op, acme) = ("operator", s.id("acme")?);
    let ip = format!("/api/v1/organizations/{acme}/ip_addresses/{}", s.id("ip_to_release")?);
    s.send(Method::DELETE, &ip, op, Value::Null).await?;
    let server = format!("/api/v1/organizations/{acme}/servers/{}", s.id("gone")?);
    s.send(Method::DELETE, &server, op, Value::Null).await?;
    // Restricted only now: its user created a group first.
    let globex = format!("/api/v1/organizations/{}", s.id("globex")?);
    s.send(Method::PATCH, &globex, op, json!({"resource_creation_restricted": true})).await?;
    let pool = [address.parse::<std::net::Ipv4Addr>()?, GONE_ADDRESS.parse()?];
    Ok(pool.iter().min().map(ToString::to_string).unwrap_or_default())
}

/// Creates an object in acme's Katapult `collection` (`tags`, `security_groups`, …) with these
/// arguments and keeps the id of its `object` under `key`.
async fn katapult_create(
    s: &mut Session,
    collection: &str,
    object: &str,
    key: &'static str,
    arguments: Value,
) -> anyhow::Result<String> {
    let path = format!("/core/v1/organizations/_/{collection}");
    let r = s.post(&path, "acme-katapult", in_org("acme", arguments)).await?;
    s.keep(key, &r[object]["id"])
}

/// Tags, VM groups, address lists, security groups with rules of every target kind and port
/// form, an IP address.
async fn katapult(s: &mut Session) -> anyhow::Result<()> {
    let k = "acme-katapult";
    let prod = json!({"properties": {"name": "production", "color": "green"}});
    let prod = katapult_create(s, "tags", "tag", "tag_prod", prod).await?;
    let staging = json!({"properties": {"name": "staging"}});
    let staging = katapult_create(s, "tags", "tag", "tag_staging", staging).await?;
    let teal = json!({"properties": {"color": "pastel_teal"}});
    s.send(Method::PATCH, &format!("/core/v1/tags/{staging}"), k, teal).await?;
    let (groups, group) = ("virtual_machine_groups", "virtual_machine_group");
    let front =
        katapult_create(s, groups, group, "vmg_front", json!({"properties": {"name": "frontend"}})).await?;
    let batch = json!({"properties": {"name": "batch", "segregate": false}});
    let batch = katapult_create(s, groups, group, "vmg_batch", batch).await?;
    let renamed = json!({"properties": {"name": "batch-jobs"}});
    s.send(Method::PATCH, &format!("/core/v1/virtual_machine_groups/{batch}"), k, renamed).await?;

    let (lists, list) = ("address_lists", "address_list");
    let office = json!({"properties": {"name": "office"},
        "annotations": [{"key": "owner", "value": "it"}, {"key": "reviewed", "value": null}]});
    let office = katapult_create(s, lists, list, "list_office", office).await?;
    let hq = json!({"properties": {"address": "192.0.2.0/24", "name": "hq"}});
    let r = s.post(&format!("/core/v1/address_lists/{office}/entries"), k, hq).await?;
    let entry = s.keep("entry_hq", &r["address_list_entry"]["id"])?;
    let bulk = json!({"add": [{"address": "2001:db8:ffff::/48"}, {"address": "198.51.100.7", "name": "vpn gateway"}]});
    s.post(&format!("/core/v1/address_lists/{office}/entries/bulk"), k, bulk).await?;
    let renamed = json!({"properties": {"name": "headquarters"}});
    s.send(Method::PATCH, &format!("/core/v1/address_list_entries/{entry}"), k, renamed).await?;
    katapult_create(s, lists, list, "list_empty", json!({"properties": {"name": "empty"}})).await?;
    let r = s.send(Method::GET, "/core/v1/address_lists", k, Value::Null).await?;
    let global = s.keep("list_global", &r["address_lists"][0]["id"])?;

    let (sgs, sg) = ("security_groups", "security_group");
    let vm = katapult_id("vm", &s.id("web1")?)?;
    let web = json!({"properties": {"name": "web", "allow_all_outbound": true, "associations": [vm, front, prod]},
        "annotations": [{"key": "env", "value": "prod"}, {"key": "team", "value": null}]});
    let web = katapult_create(s, sgs, sg, "sg_web", web).await?;
    let db = katapult_create(s, sgs, sg, "sg_db", json!({"properties": {"name": "db"}})).await?;
    let open = json!({"properties": {"name": "open", "allow_all_inbound": true, "allow_all_outbound": true}});
    katapult_create(s, sgs, sg, "sg_open", open).await?;
    let rules = [
        (
            "r_ssh",
            json!({"protocol": "TCP", "ports": "22", "targets": ["all:ipv4", "all:ipv6"], "notes": "ssh"}),
        ),
        (
            "r_web",
            json!({"protocol": "TCP", "ports": "80,443",
                "targets": ["203.0.113.0/24", "2001:db8::/64", "10.0.0.5/24", "198.51.100.7"]}),
        ),
        ("r_vm", json!({"protocol": "UDP", "ports": "2000-3000", "targets": [vm]})),
        ("r_sg", json!({"protocol": "TCP", "ports": "5432,6000-6010", "targets": [web]})),
        ("r_vmg", json!({"protocol": "ICMP", "targets": [front]})),
        ("r_tag", json!({"protocol": "TCP", "action": "deny", "targets": [prod], "notes": "no prod"})),
        ("r_list", json!({"direction": "outbound", "protocol": "TCP", "ports": "443", "targets": [office]})),
        ("r_global", json!({"direction": "outbound", "protocol": "UDP", "ports": "53", "targets": [global]})),
        ("r_none", json!({"protocol": "TCP", "ports": "8080"})),
        // Deleted below: it must stay deleted.
        ("r_deleted", json!({"protocol": "UDP", "ports": "69"})),
    ];
    for (key, mut properties) in rules {
        if properties.get("direction").is_none() {
            properties["direction"] = json!("inbound");
        }
        let r = s
            .post(&format!("/core/v1/security_groups/{db}/rules"), k, json!({"properties": properties}))
            .await?;
        s.keep(key, &r["security_group_rule"]["id"])?;
    }
    let changed = json!({"properties": {"ports": "8080-8089", "notes": "alt http"}});
    s.send(Method::PATCH, &format!("/core/v1/security_groups/rules/{}", s.id("r_none")?), k, changed).await?;
    let deleted = format!("/core/v1/security_groups/rules/{}", s.id("r_deleted")?);
    s.send(Method::DELETE, &deleted, k, Value::Null).await?;
    let changed = json!({"properties": {"allow_all_inbound": false}, "annotations": [
        {"key": "env", "value": "prod"}, {"key": "team", "value": null}, {"key": "tier", "value": "1"}]});
    s.send(Method::PATCH, &format!("/core/v1/security_groups/{web}"), k, changed).await?;

    let vip =
        json!({"network": {"permalink": "public"}, "version": "ipv4", "vip": true, "label": "katapult vip"});
    katapult_create(s, "ip_addresses", "ip_address", "ip_katapult", vip).await?;
    Ok(())
}

/// Roles with rules in both forms and port ranges; hosts of both versions.
async fn defined(s: &mut Session) -> anyhow::Result<()> {
    let d = "acme-defined";
    let r =
        s.post("/v1/roles", d, json!({"name": "ssh-clients", "description": "may reach port 22"})).await?;
    let ssh = s.keep("role_ssh", &r["data"]["id"])?;
    let web = json!({"name": "web-servers", "description": "", "firewallRules": [
        {"protocol": "TCP", "description": "allow SSH access", "allowedRoleID": ssh,
            "portRange": {"from": 22, "to": 22}},
        {"protocol": "ANY", "description": "ephemeral ports", "allowedTags": ["tag:one", "tag:two"],
            "portRange": {"from": 32768, "to": 65535}},
        {"protocol": "ANY", "description": "all ports", "allowedTags": ["tag:superuser"]},
        {"protocol": "UDP", "allowedRoleID": ssh, "allowedTags": ["env:prod"], "portRange": {"from": 4242, "to": 4243}},
        {"protocol": "ICMP", "description": "any host"}]});
    let r = s.post("/v1/roles", d, web).await?;
    let web = s.keep("role_web", &r["data"]["id"])?;
    let r = s.post("/v1/roles", d, json!({"name": "scratch"})).await?;
    let scratch = s.keep("role_scratch", &r["data"]["id"])?;
    let replaced = json!({"name": "scratch", "description": "replaced",
        "firewallRules": [{"protocol": "TCP", "portRange": {"from": 8000, "to": 8999}}]});
    s.send(Method::PUT, &format!("/v1/roles/{scratch}"), d, replaced).await?;

    let networks = s.send(Method::GET, "/v1/networks", d, Value::Null).await?;
    let network = networks["data"]
        .as_array()
        .and_then(|n| n.iter().find(|n| n["name"] == "Public"))
        .map(|n| n["id"].clone())
        .context("the public network in Defined's list")?;
    let lighthouse = json!({"name": "lighthouse-1", "networkID": network, "roleID": ssh, "ipAddress": "203.0.113.100",
        "staticAddresses": ["192.0.2.1:4242"], "listenPort": 4242, "isLighthouse": true, "isRelay": false,
        "tags": ["env:prod"], "configOverrides": []});
    let r = s.post("/v1/hosts", d, lighthouse).await?;
    s.keep("host_lighthouse", &r["data"]["id"])?;
    let relay = json!({"name": "web-h1", "networkID": network, "roleID": web, "ipAddresses": [], "isRelay": true,
        "tags": ["role:web", "tier:1"], "configOverrides": [{"key": "logging.level", "value": "debug"}]});
    let r = s.post("/v2/hosts", d, relay).await?;
    let host = s.keep("host_web", &r["data"]["id"])?;
    s.send(Method::PUT, &format!("/v3/hosts/{host}"), d, json!({"listenPort": 4243})).await?;
    let r = s.post("/v1/hosts", d, json!({"name": "bare", "networkID": network})).await?;
    s.keep("host_bare", &r["data"]["id"])?;
    Ok(())
}

/// Groups with rules of each protocol, action and priority; a server assigned; returns the
/// number the organization's next rule takes.
async fn hostway(s: &mut Session) -> anyhow::Result<u64> {
    let (h, acme) = ("acme-hostway", s.id("acme")?);
    let groups = format!("/accounts/{acme}/os-security-groups");
    let rules = format!("/accounts/{acme}/os-security-group-rules");
    let test = json!({"securityGroup": {"displayName": "Test Firewall Group",
        "description": "Test firewall group description."}});
    let r = s.post(&groups, h, test).await?;
    let test = s.keep("hw_test", &r["securityGroup"]["id"])?;
    let r = s.post(&groups, h, json!({"securityGroup": {"displayName": "edge"}})).await?;
    let edge = s.keep("hw_edge", &r["securityGroup"]["id"])?;
    let described = json!({"securityGroup": {"description": "edge routers"}});
    s.send(Method::PUT, &format!("{groups}/{edge}"), h, described).await?;
    let each = [
        (
            &test,
            json!({"protocol": "TCP", "fromPort": 22, "toPort": 22, "cidr": "0.0.0.0/0", "action": "ACCEPT", "priority": 10}),
        ),
        (
            &test,
            json!({"protocol": "UDP", "fromPort": "53", "toPort": "53", "cidr": "10.0.0.0/8", "action": "DROP", "priority": "5"}),
        ),
        (&test, json!({"protocol": "AH", "cidr": "192.0.2.0/24", "action": "REJECT", "priority": 1})),
        (&test, json!({"protocol": "ESP", "cidr": "192.0.2.0/24"})),
        (
            &test,
            json!({"protocol": "GRE", "fromPort": 0, "toPort": 0, "cidr": "198.51.100.0/24", "action": "accept"}),
        ),
        (&edge, json!({"protocol": "ALL", "cidr": "::/0", "priority": 0})),
        (
            &edge,
            json!({"protocol": "TCP", "fromPort": 1024, "toPort": 65535, "cidr": "2001:db8::/32", "action": "REJECT", "priority": 100}),
        ),
    ];
    for (group, mut rule) in each {
        rule["parentGroupId"] = json!(group);
        s.post(&rules, h, json!({"securityGroupRule": rule})).await?;
    }
    let assign = format!("/accounts/{acme}/flexcloud/servers/{}/os-security-group", s.id("db1")?);
    s.send(Method::PUT, &assign, h, json!({"securityGroup": {"id": edge, "status": "enabled"}})).await?;
    let g = "globex-hostway";
    let r = s
        .post(
            "/accounts/globex/os-security-groups",
            g,
            json!({"securityGroup": {"displayName": "globex-only"}}),
        )
        .await?;
    let globex = s.keep("hw_globex", &r["securityGroup"]["id"])?;
    let https = json!({"parentGroupId": globex, "protocol": "TCP", "fromPort": 443, "toPort": 443, "cidr": "0.0.0.0/0"});
    s.post("/accounts/globex/os-security-group-rules", g, json!({"securityGroupRule": https})).await?;
    // The organization's last rule, deleted: its number is never handed out again.
    let ntp = json!({"parentGroupId": edge, "protocol": "UDP", "fromPort": 123, "toPort": 123, "cidr": "0.0.0.0/0"});
    let r = s.post(&rules, h, json!({"securityGroupRule": ntp})).await?;
    let number = r["securityGroupRule"]["id"].as_str().context("rule number")?.to_owned();
    s.send(Method::DELETE, &format!("{rules}/{number}"), h, Value::Null).await?;
    Ok(number.parse::<u64>()? + 1)
}

/// A global address list (no organization) and its entries, in the release's schema.
async fn insert_global_list(db: &TestDatabase) {
    let (list, created) = match db.backend {
        Backend::Sqlite => (format!("X'{GLOBAL_LIST}'"), GLOBAL_CREATED.to_string()),
        Backend::Postgres => (format!("'{GLOBAL_LIST}'"), format!("to_timestamp({GLOBAL_CREATED})")),
    };
    db.execute(&format!(
        "INSERT INTO address_lists (id, organization_id, name, annotations, created_at) \
         VALUES ({list}, NULL, 'bogons', '[{{\"key\":\"source\",\"value\":\"operator\"}}]', {created})"
    ))
    .await;
    for (id, address, name) in GLOBAL_ENTRIES {
        let id = if db.backend == Backend::Sqlite { format!("X'{id}'") } else { format!("'{id}'") };
        let name = name.map_or("NULL".to_owned(), |n| format!("'{n}'"));
        db.execute(&format!(
            "INSERT INTO address_list_entries (id, list_id, address, name) \
             VALUES ({id}, {list}, '{address}', {name})"
        ))
        .await;
    }
}

// ---------------------------------------------------------------- reads

/// One recorded GET, as the file the test reads.
struct Exchange {
    face: &'static str,
    name: String,
    text: String,
}

/// Every list and get route of every face, over the data above.
async fn record(s: &Session) -> anyhow::Result<Vec<Exchange>> {
    let id = |key: &str| s.id(key);
    let (acme, globex) = (id("acme")?, id("globex")?);
    let mut reads: Vec<(&'static str, String, &str, String)> = Vec::new();
    let mut read = |face: &'static str, name: &str, credential: &'static str, path: String| {
        reads.push((face, name.to_owned(), credential, path));
    };

    let op = "operator";
    read("native", "organizations", op, "/api/v1/organizations".into());
    for org in ["acme", "globex", "umbrella"] {
        read("native", &format!("organization-{org}"), op, format!("/api/v1/organizations/{}", id(org)?));
    }
    read("native", "organization-acme-as-token", "acme-katapult", format!("/api/v1/organizations/{acme}"));
    read("native", "api-tokens-acme", op, format!("/api/v1/organizations/{acme}/api_tokens"));
    read("native", "api-tokens-globex", op, format!("/api/v1/organizations/{globex}/api_tokens"));
    read("native", "users-acme", op, format!("/api/v1/organizations/{acme}/users"));
    read("native", "users-globex", op, format!("/api/v1/organizations/{globex}/users"));
    read("native", "data-centers", op, "/api/v1/data_centers".into());
    read("native", "data-center-amsterdam", op, format!("/api/v1/data_centers/{}", id("amsterdam")?));
    read("native", "networks", op, "/api/v1/networks".into());
    for net in ["public", "acme_lan", "transit"] {
        read("native", &format!("network-{net}"), op, format!("/api/v1/networks/{}", id(net)?));
    }
    read("native", "servers-acme", op, format!("/api/v1/organizations/{acme}/servers"));
    read(
        "native",
        "servers-acme-page-2",
        op,
        format!("/api/v1/organizations/{acme}/servers?page=2&per_page=2"),
    );
    read("native", "servers-globex", op, format!("/api/v1/organizations/{globex}/servers"));
    for server in ["web1", "db1"] {
        read(
            "native",
            &format!("server-{server}"),
            "acme-katapult",
            format!("/api/v1/organizations/{acme}/servers/{}", id(server)?),
        );
    }
    let host_server = palisade_api::defined::ids::parse(palisade_api::defined::ids::HOST, &id("host_web")?)
        .map(palisade_core::id::ServerId::from_bytes)
        .context("a Defined host id")?;
    read("native", "server-defined-host", op, format!("/api/v1/organizations/{acme}/servers/{host_server}"));
    read("native", "ip-addresses-acme", op, format!("/api/v1/organizations/{acme}/ip_addresses"));
    read(
        "native",
        "ip-addresses-acme-unallocated",
        op,
        format!("/api/v1/organizations/{acme}/ip_addresses?allocated=false"),
    );
    read("native", "ip-addresses-globex", op, format!("/api/v1/organizations/{globex}/ip_addresses"));
    for ip in ["ip_v6", "ip_transit_v6", "ip_unallocated"] {
        read(
            "native",
            &format!("ip-address-{}", ip.trim_start_matches("ip_")),
            op,
            format!("/api/v1/organizations/{acme}/ip_addresses/{}", id(ip)?),
        );
    }

    let k = "acme-katapult";
    let org = "organization%5Bsub_domain%5D=acme";
    read("katapult", "organizations", k, "/core/v1/organizations".into());
    read("katapult", "organization", k, format!("/core/v1/organizations/_?{org}"));
    read("katapult", "network-public", k, "/core/v1/networks/_?network%5Bpermalink%5D=public".into());
    read("katapult", "network-acme-lan", k, "/core/v1/networks/_?network%5Bpermalink%5D=acme-lan".into());
    read(
        "katapult",
        "default-network",
        k,
        "/core/v1/data_centers/_/default_network?data_center%5Bpermalink%5D=uk-lon-01".into(),
    );
    read("katapult", "available-networks", k, format!("/core/v1/organizations/_/available_networks?{org}"));
    read("katapult", "ip-addresses", k, format!("/core/v1/organizations/_/ip_addresses?{org}"));
    read(
        "katapult",
        "ip-addresses-allocated",
        k,
        format!("/core/v1/organizations/_/ip_addresses?{org}&allocated=true"),
    );
    read(
        "katapult",
        "ip-address-by-address",
        k,
        "/core/v1/ip_addresses/_?ip_address%5Baddress%5D=203.0.113.10".into(),
    );
    read(
        "katapult",
        "ip-address-vip",
        k,
        format!("/core/v1/ip_addresses/_?ip_address%5Baddress%5D={}", ip_address(s, "ip_katapult").await?),
    );
    read("katapult", "security-groups", k, format!("/core/v1/organizations/_/security_groups?{org}"));
    read(
        "katapult",
        "security-groups-page-2",
        k,
        format!("/core/v1/organizations/_/security_groups?{org}&page=2&per_page=2"),
    );
    read(
        "katapult",
        "security-groups-annotated",
        k,
        format!(
            "/core/v1/organizations/_/security_groups?{org}&annotations[][key]=env&annotations[][value]=prod"
        ),
    );
    for sg in ["sg_web", "sg_db", "sg_open"] {
        read(
            "katapult",
            &format!("security-group-{}", sg.trim_start_matches("sg_")),
            k,
            format!("/core/v1/security_groups/{}", id(sg)?),
        );
    }
    read("katapult", "rules-db", k, format!("/core/v1/security_groups/{}/rules", id("sg_db")?));
    read(
        "katapult",
        "rules-db-page-2",
        k,
        format!("/core/v1/security_groups/{}/rules?page=2&per_page=4", id("sg_db")?),
    );
    for rule in ["r_ssh", "r_web", "r_vm", "r_sg", "r_vmg", "r_tag", "r_list", "r_global", "r_none"] {
        read(
            "katapult",
            &format!("rule-{}", rule.trim_start_matches("r_")),
            k,
            format!("/core/v1/security_groups/rules/{}", id(rule)?),
        );
    }
    read("katapult", "vm-groups", k, format!("/core/v1/organizations/_/virtual_machine_groups?{org}"));
    read(
        "katapult",
        "vm-groups-paged",
        k,
        format!("/core/v1/organizations/_/virtual_machine_groups?{org}&per_page=1"),
    );
    for group in ["vmg_front", "vmg_batch"] {
        read(
            "katapult",
            &format!("vm-group-{}", group.trim_start_matches("vmg_")),
            k,
            format!("/core/v1/virtual_machine_groups/{}", id(group)?),
        );
    }
    read("katapult", "tags", k, format!("/core/v1/organizations/_/tags?{org}"));
    for tag in ["tag_prod", "tag_staging"] {
        read(
            "katapult",
            &format!("tag-{}", tag.trim_start_matches("tag_")),
            k,
            format!("/core/v1/tags/{}", id(tag)?),
        );
    }
    read("katapult", "address-lists-global", k, "/core/v1/address_lists".into());
    read("katapult", "address-lists", k, format!("/core/v1/organizations/_/address_lists?{org}"));
    for list in ["list_office", "list_empty", "list_global"] {
        read(
            "katapult",
            &format!("address-list-{}", list.trim_start_matches("list_")),
            k,
            format!("/core/v1/address_lists/{}", id(list)?),
        );
    }
    read("katapult", "entries-office", k, format!("/core/v1/address_lists/{}/entries", id("list_office")?));
    read("katapult", "entries-global", k, format!("/core/v1/address_lists/{}/entries", id("list_global")?));
    read("katapult", "entry-hq", k, format!("/core/v1/address_list_entries/{}", id("entry_hq")?));
    read("katapult", "organizations-globex", "globex-katapult", "/core/v1/organizations".into());
    read(
        "katapult",
        "security-groups-globex",
        "globex-katapult",
        "/core/v1/organizations/_/security_groups?organization%5Bsub_domain%5D=globex".into(),
    );

    let d = "acme-defined";
    read("defined", "roles", d, "/v1/roles".into());
    read("defined", "roles-counted-page", d, "/v1/roles?pageSize=2&includeCounts=true".into());
    for role in ["role_ssh", "role_web", "role_scratch"] {
        read(
            "defined",
            &format!("role-{}", role.trim_start_matches("role_")),
            d,
            format!("/v1/roles/{}", id(role)?),
        );
    }
    read("defined", "networks", d, "/v1/networks".into());
    read("defined", "hosts-v1", d, "/v1/hosts".into());
    read("defined", "hosts-v2", d, "/v2/hosts".into());
    read("defined", "hosts-v2-role", d, format!("/v2/hosts?filter.roleID={}", id("role_web")?));
    read("defined", "hosts-v1-lighthouses", d, "/v1/hosts?filter.isLighthouse=true".into());
    for host in ["host_lighthouse", "host_web", "host_bare"] {
        let short = host.trim_start_matches("host_");
        read("defined", &format!("host-{short}-v1"), d, format!("/v1/hosts/{}", id(host)?));
        read("defined", &format!("host-{short}-v2"), d, format!("/v2/hosts/{}", id(host)?));
    }

    let h = "acme-hostway";
    let groups = format!("/accounts/{acme}/os-security-groups");
    read("hostway", "groups", h, groups.clone());
    read("hostway", "groups-by-sub-domain", h, "/accounts/acme/os-security-groups".into());
    read("hostway", "groups-page-2", h, format!("{groups}?page=2&pageSize=2"));
    read("hostway", "groups-own-account", h, "/accounts/os-security-groups".into());
    for group in ["hw_test", "hw_edge"] {
        let short = group.trim_start_matches("hw_");
        read("hostway", &format!("group-{short}"), h, format!("{groups}/{}", id(group)?));
        read("hostway", &format!("rules-{short}"), h, format!("{groups}/{}/rules", id(group)?));
    }
    read("hostway", "rules-test-page-2", h, format!("{groups}/{}/rules?page=2&pageSize=2", id("hw_test")?));
    // Katapult's group as Hostway shows it.
    let listed = s.send(Method::GET, &groups, h, Value::Null).await?;
    let db = listed["securityGroups"]
        .as_array()
        .and_then(|g| g.iter().find(|g| g["displayName"] == "db"))
        .and_then(|g| g["id"].as_str())
        .context("Katapult's db group in Hostway's list")?;
    read("hostway", "group-katapult-db", h, format!("{groups}/{db}"));
    read("hostway", "rules-katapult-db", h, format!("{groups}/{db}/rules"));
    read("hostway", "groups-globex", "globex-hostway", "/accounts/globex/os-security-groups".into());

    let mut exchanges = Vec::new();
    for (face, name, credential, path) in reads {
        let res = s.request(Method::GET, &path, credential)?.send().await?;
        let status = res.status();
        let content_type = res
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .map(|v| v.to_str().unwrap_or_default().to_owned())
            .unwrap_or_default();
        let body = res.text().await?.replace(&s.base, "{BASE}");
        if status != StatusCode::OK {
            bail!("GET {path}: {status}: {body}");
        }
        let text = format!(
            "GET {path}\nFace: {face}\nCredential: {credential}\nStatus: {}\nContent-Type: {content_type}\n\n{body}",
            status.as_u16()
        );
        exchanges.push(Exchange { face, name, text });
    }
    Ok(exchanges)
}

/// The address of an IP address created through Katapult.
async fn ip_address(s: &Session, key: &str) -> anyhow::Result<String> {
    let r = s
        .send(Method::GET, &format!("/core/v1/ip_addresses/{}", s.id(key)?), "acme-katapult", Value::Null)
        .await?;
    Ok(r["ip_address"]["address"].as_str().context("address")?.to_owned())
}

// ---------------------------------------------------------------- export

/// The database as SQL text that sqlx's `raw_sql` replays into an empty database.
fn dump(db: &TestDatabase) -> anyhow::Result<String> {
    let output = match db.backend {
        Backend::Sqlite => {
            let path = db.sqlite_path.as_ref().context("the SQLite file")?;
            Command::new("sqlite3")
                .arg(path)
                .arg(".dump --preserve-rowids")
                .output()
                .context("running sqlite3")?
        }
        Backend::Postgres => Command::new("pg_dump")
            .args(["--inserts", "--no-owner", "--no-privileges", "--dbname", &db.url])
            .output()
            .context("running pg_dump")?,
    };
    if !output.status.success() {
        bail!("dump failed: {}", String::from_utf8_lossy(&output.stderr));
    }
    let text = String::from_utf8(output.stdout)?;
    // SQLite keeps `sqlite_sequence` (made by migration 0004's AUTOINCREMENT table, empty since
    // 0005 dropped it); a fresh database has none, and `.dump` empties it before refilling it.
    let sequences = text.contains("INSERT INTO sqlite_sequence");
    Ok(text
        .lines()
        // psql meta-commands (`\restrict KEY`, `\unrestrict KEY`) are not SQL.
        .filter(|l| !l.starts_with('\\'))
        .filter(|l| sequences || *l != "DELETE FROM sqlite_sequence;")
        .map(|l| format!("{l}\n"))
        .collect())
}
