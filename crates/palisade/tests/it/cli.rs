//! The operator CLI as an operator runs it: the `palisade` binary as a process against a
//! running server, through its tables, its JSON and its exit codes (0 done, 1 a flow check's
//! deny, 2 a wrong command, 3 refused, 5 nothing answers). Runs on both backends.

use std::process::Output;

use serde_json::{json, Value};

use crate::enforcement::katapult_group;
use crate::policy_engine::World;
use crate::support::OPERATOR;

/// Runs `palisade ARGS` against `w`'s server as the operator; stdin is `input`.
async fn palisade(w: &World, args: &[&str], input: &str) -> Output {
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_palisade"));
    command
        .args(args)
        .env("PALISADE_URL", &w.app.base)
        .env("PALISADE_TOKEN", OPERATOR)
        .env_remove("PALISADE_ORG")
        .env("PALISADE_PROFILE", "/nonexistent/palisade-profile.toml")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let mut child = command.spawn().expect("the palisade binary runs");
    if let Some(mut stdin) = child.stdin.take() {
        use tokio::io::AsyncWriteExt;
        stdin.write_all(input.as_bytes()).await.unwrap();
    }
    child.wait_with_output().await.unwrap()
}

fn text(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Runs a command that must succeed, with `-o json`: its JSON.
async fn json_of(w: &World, args: &[&str]) -> Value {
    let args: Vec<&str> = args.iter().copied().chain(["-o", "json"]).collect();
    let out = palisade(w, &args, "").await;
    assert_eq!(out.status.code(), Some(0), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

#[tokio::test]
async fn the_cli_administers_organizations_tokens_and_users() {
    let w = World::new().await;
    let created = json_of(&w, &["org", "create", "--name", "Globex", "--sub-domain", "globex"]).await;
    let id = created["id"].as_str().unwrap().to_owned();
    assert_eq!(created["sub_domain"], "globex");
    // An organization by sub-domain or id, the same.
    assert_eq!(json_of(&w, &["org", "show", "globex"]).await, json_of(&w, &["org", "show", &id]).await);
    let listed = palisade(&w, &["org", "list"], "").await;
    let table = text(&listed);
    assert!(table.starts_with("ID "), "{table}");
    assert!(
        table.lines().any(|l| l.contains(&id) && l.contains("globex") && l.contains("active")),
        "{table}"
    );
    let updated = json_of(&w, &["org", "update", "globex", "--name", "Globex Corporation"]).await;
    assert_eq!(updated["name"], "Globex Corporation");

    // A token: its secret printed once, never listed; then revoked.
    let out =
        palisade(&w, &["token", "create", "--org", "globex", "--name", "ci", "--scope", "policy:read"], "")
            .await;
    assert_eq!(out.status.code(), Some(0));
    let shown = text(&out);
    let secret = shown.lines().find_map(|l| l.strip_prefix("secret  ")).unwrap().to_owned();
    assert!(secret.starts_with("pal_"), "{shown}");
    let tokens = json_of(&w, &["token", "list", "--org", "globex"]).await;
    assert_eq!(tokens.as_array().unwrap().len(), 1);
    assert!(!tokens.to_string().contains(&secret), "a listing shows no secret");
    let token_id = tokens[0]["id"].as_str().unwrap().to_owned();
    let r = w.app.get(&format!("/api/v1/organizations/{id}/policy/lint"), &secret).await;
    assert_eq!(r.status, reqwest::StatusCode::OK, "the new token works: {}", r.body);
    let out = palisade(&w, &["token", "revoke", "--org", "globex", &token_id], "").await;
    assert_eq!(out.status.code(), Some(0));
    let r = w.app.get(&format!("/api/v1/organizations/{id}/policy/lint"), &secret).await;
    assert_eq!(r.status, reqwest::StatusCode::UNAUTHORIZED, "revoked: {}", r.body);

    // A user, its password read from standard input.
    let out =
        palisade(&w, &["user", "create", "--org", "globex", "--username", "bob"], "a long enough password\n")
            .await;
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let users = json_of(&w, &["user", "list", "--org", "globex"]).await;
    assert_eq!(users[0]["username"], "bob");

    // Refused (3), with the API's reason; a wrong command (2); nothing there (5).
    let out =
        palisade(&w, &["token", "create", "--org", "globex", "--name", "x", "--scope", "roles:*"], "").await;
    assert_eq!(out.status.code(), Some(3));
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(said.contains("400") && said.contains("roles:*"), "{said}");
    let out = palisade(&w, &["org", "show", "initech"], "").await;
    assert_eq!(out.status.code(), Some(3), "no such organization");
    let out = palisade(&w, &["org", "create", "--name", "x"], "").await;
    assert_eq!(out.status.code(), Some(2), "--sub-domain missing");
    let out = palisade(&w, &["org", "list", "--url", "http://127.0.0.1:9"], "").await;
    assert_eq!(out.status.code(), Some(5), "{}", String::from_utf8_lossy(&out.stderr));

    let updated = json_of(&w, &["org", "update", "globex", "--status", "suspended"]).await;
    assert_eq!(updated["status"], "suspended");
    let out = palisade(&w, &["org", "delete", "globex"], "").await;
    assert_eq!(out.status.code(), Some(0));
    let out = palisade(&w, &["org", "show", &id], "").await;
    assert_eq!(out.status.code(), Some(3));

    // The audit trail of all that, newest first, kept after the organization went; the
    // refused token created nothing.
    let trail = json_of(&w, &["audit", "--org", &id]).await;
    let done: Vec<(&str, &str, &str, &str)> = trail["audit_events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            let field = |k: &str| e[k].as_str().unwrap_or("-");
            (field("operation"), field("object_kind"), field("principal"), field("face"))
        })
        .collect();
    assert_eq!(
        done,
        [
            ("delete", "organization", "operator", "native"),
            ("update", "organization", "operator", "native"),
            ("create", "user", "operator", "native"),
            ("revoke", "api_token", "operator", "native"),
            ("create", "api_token", "operator", "native"),
            ("update", "organization", "operator", "native"),
            ("create", "organization", "operator", "native"),
        ]
    );
    assert!(!trail.to_string().contains(&secret), "no secret in the trail");
    let out = palisade(&w, &["audit", "--org", &id, "--kind", "api_token", "--limit", "1"], "").await;
    let table = text(&out);
    let lines: Vec<&str> = table.lines().collect();
    assert!(lines[0].starts_with("AT ") && lines[0].contains("PRINCIPAL"), "{table}");
    assert!(lines[1].contains("revoke") && lines[1].contains(&token_id), "{table}");
    assert_eq!(lines.last(), Some(&"page 1 of 2 (2 events)"), "{table}");
}

#[tokio::test]
async fn the_cli_checks_flows_lints_and_shows_a_servers_policy() {
    let w = World::new().await;
    let web = w.server("web", "203.0.113.10").await;
    let db = w.server("db", "203.0.113.20").await;
    katapult_group(&w, "db", &db, 5432, "203.0.113.10").await;

    let servers = json_of(&w, &["server", "list", "--org", "acme"]).await;
    let names: Vec<&str> = servers.as_array().unwrap().iter().map(|s| s["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["web", "db"]);

    // Allowed: exit 0; denied: exit 1, with the explanation.
    let out =
        palisade(&w, &["flow-check", "--org", "acme", "203.0.113.10", "203.0.113.20", "tcp/5432"], "").await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        text(&out).starts_with("ALLOW\nAllowed: tcp/5432 from 203.0.113.10 to 203.0.113.20"),
        "{}",
        text(&out)
    );
    let out = palisade(&w, &["flow-check", "--org", "acme", &web, &db, "tcp/22"], "").await;
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).starts_with("DENY\nDenied: tcp/22"), "{}", text(&out));
    let out = palisade(&w, &["flow-check", "--org", "acme", &web, &db, "tcp/ssh"], "").await;
    assert_eq!(out.status.code(), Some(2), "a port that is no number");

    // The effective policy, for people and as the API's JSON.
    let out = palisade(&w, &["policy", &db], "").await;
    let shown = text(&out);
    assert!(shown.contains("ingress:\n  allow tcp 5432 from set_"), "{shown}");
    assert!(shown.contains("[db]\n  otherwise: deny"), "{shown}");
    let policy = json_of(&w, &["policy", &db]).await;
    let api = w.app.get(&format!("/api/v1/servers/{db}/policy"), OPERATOR).await;
    assert_eq!(policy, api.body);

    // Groups and rules of every face.
    let groups = json_of(&w, &["group", "list", "--org", "acme"]).await;
    assert_eq!(groups[0]["name"], "db");
    let group = groups[0]["id"].as_str().unwrap().to_owned();
    let out = palisade(&w, &["group", "list", "--org", "acme"], "").await;
    assert!(text(&out).lines().nth(1).is_some_and(|l| l.contains("security_group  db")), "{}", text(&out));
    let out = palisade(&w, &["rule", "list", "--org", "acme", "--group", &group], "").await;
    let rules = text(&out);
    assert!(rules.lines().nth(1).is_some_and(|l| l.contains("inbound") && l.contains("5432")), "{rules}");
    let shown = json_of(&w, &["group", "show", "--org", "acme", &group]).await;
    assert_eq!(shown["rules"][0]["remotes"], json!(["203.0.113.10"]));

    // Lint and scopes.
    let lint = json_of(&w, &["lint", "--org", "acme"]).await;
    assert!(lint["findings"].is_array() && lint["revision"].is_u64(), "{lint}");
    let scopes = json_of(&w, &["scopes"]).await;
    assert!(scopes.as_array().unwrap().iter().any(|s| s["name"] == "policy:read"), "{scopes}");

    // A server's tags, replaced.
    let updated =
        json_of(&w, &["server", "update", "--org", "acme", &web, "--tag", "env:prod", "--tag", "tier:web"])
            .await;
    assert_eq!(updated["tags"], json!(["env:prod", "tier:web"]));
    let cleared = json_of(&w, &["server", "update", "--org", "acme", &web, "--no-tags"]).await;
    assert_eq!(cleared["tags"], json!([]));
}

/// `palisade ARGS` with nothing from the environment: stdout, and the exit code.
fn offline(args: &[&str]) -> (String, Option<i32>) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_palisade"))
        .args(args)
        .env_remove("PALISADE_URL")
        .env_remove("PALISADE_TOKEN")
        .env_remove("PALISADE_DATABASE_URL")
        .env("PALISADE_PROFILE", "/nonexistent/palisade-profile.toml")
        .output()
        .unwrap();
    (String::from_utf8_lossy(&out.stdout).into_owned(), out.status.code())
}

/// The token a rotation printed.
fn rotated(url: &str) -> String {
    let (out, code) = offline(&["admin", "rotate-operator-token", "--database-url", url]);
    assert_eq!(code, Some(0), "{out}");
    out.trim().rsplit(' ').next().unwrap().to_owned()
}

/// What the administrator does on the database itself: migrate, replace a lost operator token
/// (running servers keep the old one until restarted), and back up a SQLite database in use.
#[test]
fn offline_administration_migrates_rotates_the_operator_token_and_backs_up() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/p.db", dir.path().display());
    let (out, code) = offline(&["migrate", "--database-url", &url]);
    assert_eq!(code, Some(0), "{out}");
    let first = rotated(&url);
    assert!(first.starts_with("palop_"), "{first}");

    let server = crate::binary::Server::start_logging(dir.path(), &["--database-url", &url], "info");
    let base = server.ready_url();
    let as_operator = |token: &str, args: &[&str]| {
        let args: Vec<&str> = args.iter().copied().chain(["--url", &base, "--token", token]).collect();
        offline(&args).1
    };
    assert_eq!(as_operator(&first, &["org", "create", "--name", "Acme", "--sub-domain", "acme"]), Some(0));

    // A backup while the server runs; never over an existing file.
    let copy = dir.path().join("backup.db");
    let copy_arg = copy.to_str().unwrap();
    let (out, code) = offline(&["admin", "backup", "--database-url", &url, "--to", copy_arg]);
    assert_eq!(code, Some(0), "{out}");
    let (_, code) = offline(&["admin", "backup", "--database-url", &url, "--to", copy_arg]);
    assert_ne!(code, Some(0), "an existing file is not overwritten");
    let (_, code) =
        offline(&["admin", "backup", "--database-url", "postgres://x@127.0.0.1/x", "--to", "/tmp/x"]);
    assert_ne!(code, Some(0), "PostgreSQL is pg_dump's");

    // A new token: the running server keeps the old one; after a restart only the new works.
    let second = rotated(&url);
    assert_ne!(first, second);
    assert_eq!(as_operator(&first, &["org", "list"]), Some(0));
    server.terminate();
    let server = crate::binary::Server::start_logging(dir.path(), &["--database-url", &url], "info");
    let base = server.ready_url();
    let as_operator = |token: &str, args: &[&str]| {
        let args: Vec<&str> = args.iter().copied().chain(["--url", &base, "--token", token]).collect();
        offline(&args).1
    };
    assert_eq!(as_operator(&first, &["org", "list"]), Some(3));
    assert_eq!(as_operator(&second, &["org", "show", "acme"]), Some(0));
    // Both rotations are in the trail, the administrator's at the database.
    let (out, code) =
        offline(&["audit", "--kind", "operator_token", "-o", "json", "--url", &base, "--token", &second]);
    assert_eq!(code, Some(0), "{out}");
    let trail: Value = serde_json::from_str(&out).unwrap();
    let rotations: Vec<(&str, &str, &str)> = trail["audit_events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (e["operation"].as_str().unwrap(), e["face"].as_str().unwrap(), e["principal"].as_str().unwrap())
        })
        .collect();
    assert_eq!(rotations, [("rotate", "cli", "operator"); 2]);
    server.terminate();

    // The backup is a database of its own, with the organization and the token of its time.
    let copy_url = format!("sqlite://{copy_arg}");
    let server = crate::binary::Server::start_logging(dir.path(), &["--database-url", &copy_url], "info");
    let base = server.ready_url();
    let args = ["org", "show", "acme", "--url", &base, "--token", &first];
    assert_eq!(offline(&args).1, Some(0));
    server.terminate();
}

/// `palisade serve --config FILE`: the file's settings, under flags and environment variables,
/// over the defaults, as `--print-config` shows them; an unknown key is refused by name; a server
/// started from the file uses it.
#[test]
fn a_config_file_sits_between_the_environment_and_the_defaults() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("palisade.toml");
    let url = format!("sqlite://{}/from-file.db", dir.path().display());
    std::fs::write(
        &file,
        format!(
            "listen = \"127.0.0.1:0\"\ndatabase-url = \"{url}\"\ndb_max_connections = 4\n\
             requests-per-minute = 7\ntrusted-proxies = [\"10.0.0.0/8\", \"192.0.2.1\"]\n\
             admin-token = \"palop_from_the_file_000000000000\"\n"
        ),
    )
    .unwrap();
    let config = file.to_str().unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_palisade"))
        .args(["serve", "--config", config, "--print-config", "--db-max-connections", "9"])
        .env("PALISADE_REQUESTS_PER_MINUTE", "5")
        .env_remove("PALISADE_LISTEN")
        .env_remove("PALISADE_DATABASE_URL")
        .env_remove("PALISADE_ADMIN_TOKEN")
        .output()
        .unwrap();
    let shown = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{shown}{}", String::from_utf8_lossy(&out.stderr));
    for line in [
        "listen = \"127.0.0.1:0\"  # file",
        &format!("database-url = \"{url}\"  # file"),
        "db-max-connections = \"9\"  # flag",
        "requests-per-minute = \"5\"  # environment",
        "trusted-proxies = \"10.0.0.0/8,192.0.2.1\"  # file",
        "admin-token = \"[redacted]\"  # file",
        "max-body-bytes = \"1048576\"  # default",
    ] {
        assert!(shown.lines().any(|l| l == line), "no line {line:?} in:\n{shown}");
    }
    assert!(!shown.contains("palop_from_the_file"), "{shown}");

    // An unknown key, named, with the valid ones.
    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, "listne = \"127.0.0.1:1\"\n").unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_palisade"))
        .args(["serve", "--config", bad.to_str().unwrap()])
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&out.stderr);
    assert_ne!(out.status.code(), Some(0));
    assert!(said.contains("unknown setting `listne`") && said.contains("listen"), "{said}");

    // A server started from the file: its database, its operator token.
    let server = crate::binary::Server::start_logging(dir.path(), &["--config", config], "info");
    let base = server.ready_url();
    let args = ["org", "list", "--url", &base, "--token", "palop_from_the_file_000000000000"];
    assert_eq!(offline(&args).1, Some(0));
    server.terminate();
    assert!(dir.path().join("from-file.db").exists());
}

/// The CLI's profile: the server, token and organization an operator uses, under flags and
/// environment variables; refused when others may read the token in it.
#[tokio::test]
async fn a_profile_holds_the_url_token_and_organization() {
    use std::os::unix::fs::PermissionsExt;
    let w = World::new().await;
    w.server("web", "203.0.113.10").await;
    let dir = tempfile::tempdir().unwrap();
    let profile = dir.path().join("cli.toml");
    std::fs::write(&profile, format!("url = \"{}\"\ntoken = \"{OPERATOR}\"\norg = \"acme\"\n", w.app.base))
        .unwrap();
    std::fs::set_permissions(&profile, std::fs::Permissions::from_mode(0o600)).unwrap();
    // As a child process the tokio way: the server answering it runs on this test's runtime.
    let run = async |args: &[&str], env: &[(&str, &str)]| {
        let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_palisade"));
        command.args(args).env("PALISADE_PROFILE", &profile);
        for name in ["PALISADE_URL", "PALISADE_TOKEN", "PALISADE_ORG"] {
            command.env_remove(name);
        }
        command.envs(env.iter().copied());
        let out = command.output().await.unwrap();
        (
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
            out.status.code(),
        )
    };
    let (listed, said, code) = run(&["server", "list", "-o", "json"], &[]).await;
    assert_eq!(code, Some(0), "{said}");
    assert!(listed.contains("\"web\""), "{listed}");
    // The environment overrides the profile.
    let (_, _, code) = run(&["server", "list"], &[("PALISADE_TOKEN", "pal_not_a_token")]).await;
    assert_eq!(code, Some(3), "the environment's token was used");
    // A token others may read is refused; so is an unknown key.
    std::fs::set_permissions(&profile, std::fs::Permissions::from_mode(0o644)).unwrap();
    let (_, said, code) = run(&["server", "list"], &[]).await;
    assert_ne!(code, Some(0));
    assert!(said.contains("chmod 600"), "{said}");
    std::fs::write(&profile, "uri = \"http://x\"\n").unwrap();
    let (_, said, code) = run(&["org", "list"], &[]).await;
    assert_ne!(code, Some(0));
    assert!(said.contains("unknown key `uri`"), "{said}");
}
