//! The real `palisade` binary: first start on the embedded default, the generated operator token
//! printed once, secrets kept out of the logs, graceful shutdown on SIGTERM, and a restart.
//! [`Server`] is also how other tests drive the binary as a process (multi-node, SIGKILL).

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::json;

/// A `palisade serve` process whose output is collected.
pub struct Server {
    child: Child,
    out: Arc<Mutex<String>>,
}

impl Server {
    /// On the embedded default database, in `dir`.
    pub fn start(dir: &std::path::Path) -> Self {
        Self::start_with(dir, &[])
    }

    /// With extra `serve` arguments, logging everything.
    pub fn start_with(dir: &std::path::Path, args: &[&str]) -> Self {
        Self::start_logging(dir, args, "trace")
    }

    /// With extra `serve` arguments and a `RUST_LOG` filter (`info` for busy tests; empty: no
    /// `RUST_LOG`, the server's default filter).
    pub fn start_logging(dir: &std::path::Path, args: &[&str], log: &str) -> Self {
        let mut command = Command::new(env!("CARGO_BIN_EXE_palisade"));
        if log.is_empty() {
            command.env_remove("RUST_LOG");
        } else {
            command.env("RUST_LOG", log);
        }
        let mut child = command
            .args(["serve", "--listen", "127.0.0.1:0"])
            .args(args)
            .current_dir(dir)
            .env_remove("PALISADE_ADMIN_TOKEN")
            .env_remove("PALISADE_DATABASE_URL")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let out = Arc::new(Mutex::new(String::new()));
        for stream in [
            Box::new(child.stdout.take().unwrap()) as Box<dyn std::io::Read + Send>,
            Box::new(child.stderr.take().unwrap()),
        ] {
            let out = out.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stream).lines().map_while(Result::ok) {
                    // One lock per line: the other stream's line must not land between the
                    // text and its newline (`addr=127.0.0.1:4242Generated …`).
                    let mut out = out.lock().unwrap();
                    out.push_str(&line);
                    out.push('\n');
                }
            });
        }
        Self { child, out }
    }

    /// Waits (bounded) until the server logs its address.
    pub fn base_url(&self) -> String {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let text = self.out.lock().unwrap().clone();
            // Only the start-up line: with RUST_LOG=trace other lines may carry an `addr=` too.
            let line = text.lines().find(|l| l.contains("palisade listening"));
            // `addr=…` in text, `"addr":"…"` in JSON lines (`--log-format json`).
            let rest = line.and_then(|l| l.split("addr=").nth(1).or_else(|| l.split("\"addr\":\"").nth(1)));
            if let Some(rest) = rest {
                let addr: String = rest.chars().take_while(|c| !c.is_whitespace() && *c != '"').collect();
                return format!("http://{addr}");
            }
            assert!(Instant::now() < deadline, "server did not start: {text}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Waits (bounded) until the server listens and its database is open; the server's URL.
    pub fn ready_url(&self) -> String {
        let base = self.base_url();
        self.wait_for("palisade ready");
        base
    }

    /// Waits (bounded) until the output contains `needle`: stdout and stderr are read by two
    /// threads, so one stream's line can arrive before the other's earlier one.
    pub fn wait_for(&self, needle: &str) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while !self.output().contains(needle) {
            assert!(Instant::now() < deadline, "never saw {needle:?}: {}", self.output());
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn output(&self) -> String {
        self.out.lock().unwrap().clone()
    }

    /// SIGKILL: the process dies at once, wherever it is, with no chance to clean up.
    pub fn kill(mut self) -> String {
        self.child.kill().unwrap();
        let status = self.child.wait().unwrap();
        assert!(!status.success(), "killed, not exited: {status}");
        self.output()
    }

    /// SIGTERM, then wait (bounded) for a clean exit.
    pub fn terminate(mut self) -> String {
        let pid = self.child.id().to_string();
        assert!(Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                assert!(status.success(), "exit status {status}: {}", self.output());
                break;
            }
            assert!(Instant::now() < deadline, "server ignored SIGTERM");
            std::thread::sleep(Duration::from_millis(50));
        }
        std::thread::sleep(Duration::from_millis(100));
        self.output()
    }
}

/// A test that fails half-way leaves no server running.
impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test]
async fn first_start_generates_an_operator_token_once_and_logs_no_secrets() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path());
    let base = server.base_url();
    server.wait_for("Generated operator token");
    let first_output = server.output();
    let operator: String = first_output
        .split("palop_")
        .nth(1)
        .map(|rest| {
            format!("palop_{}", rest.chars().take_while(|c| c.is_ascii_alphanumeric()).collect::<String>())
        })
        .expect("the generated operator token is printed");
    assert!(
        dir.path().join("palisade-data/palisade.db").exists(),
        "default SQLite file under ./palisade-data/"
    );

    let client = reqwest::Client::new();
    let ready = client.get(format!("{base}/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), StatusCode::OK);
    let org: serde_json::Value = client
        .post(format!("{base}/api/v1/organizations"))
        .bearer_auth(&operator)
        .json(&json!({"name": "Acme", "sub_domain": "acme"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let org_id = org["organization"]["id"].as_str().unwrap();
    let token: serde_json::Value = client
        .post(format!("{base}/api/v1/organizations/{org_id}/api_tokens"))
        .bearer_auth(&operator)
        .json(&json!({"name": "t", "scopes": ["organizations:read"]}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let secret = token["secret"].as_str().unwrap().to_owned();
    let r = client
        .get(format!("{base}/api/v1/organizations/{org_id}"))
        .bearer_auth(&secret)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    // The generation is the trail's first event, the server's own.
    let trail: serde_json::Value = client
        .get(format!("{base}/api/v1/audit_events?object_kind=operator_token"))
        .bearer_auth(&operator)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let generated = &trail["audit_events"][0];
    assert_eq!(
        (&generated["operation"], &generated["principal"], &generated["face"], &trail["pagination"]["total"]),
        (&json!("create"), &json!("operator"), &json!("server"), &json!(1)),
        "{trail}"
    );

    let log = server.terminate();
    assert!(log.contains("shutting down"), "{log}");
    // A clean stop closes the database: SQLite's write-ahead log is folded back and removed.
    for leftover in ["palisade.db-wal", "palisade.db-shm"] {
        assert!(!dir.path().join("palisade-data").join(leftover).exists(), "{leftover} stayed after SIGTERM");
    }
    assert_eq!(log.matches(&operator).count(), 1, "the operator token is printed exactly once");
    assert!(!log.contains(&secret), "a token secret reached the log");
    assert!(!log.contains(secret.rsplit('_').next().unwrap()), "part of a token secret reached the log");

    // Restart: no new token, the old one still works (its hash was kept), data persisted.
    let server = Server::start(dir.path());
    let base = server.ready_url();
    let r = client
        .get(format!("{base}/api/v1/organizations/{org_id}"))
        .bearer_auth(&operator)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let log = server.terminate();
    assert!(!log.contains("palop_"), "a second start must not print a token: {log}");
    let db = std::fs::read(dir.path().join("palisade-data/palisade.db")).unwrap();
    assert!(!String::from_utf8_lossy(&db).contains(&operator));
}

#[tokio::test]
async fn with_its_database_away_the_server_listens_at_once_and_logs_no_password() {
    // A port where nothing listens.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let url = format!("postgres://palisade:hunter2-secret@127.0.0.1:{port}/palisade");
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start_with(
        dir.path(),
        &[
            "--database-url",
            &url,
            "--db-connect-retry-delay-ms",
            "20",
            "--db-connect-retry-max-delay-ms",
            "50",
            "--db-acquire-timeout-ms",
            "200",
        ],
    );
    let base = server.base_url();
    let client = reqwest::Client::new();
    assert_eq!(client.get(format!("{base}/healthz")).send().await.unwrap().status(), StatusCode::OK);
    assert_eq!(
        client.get(format!("{base}/readyz")).send().await.unwrap().status(),
        StatusCode::SERVICE_UNAVAILABLE
    );
    let r = client.get(format!("{base}/api/v1/organizations")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
    // It keeps trying, and says so.
    server.wait_for("attempt=3");
    let log = server.terminate();
    assert!(log.contains("WARN") && log.contains("database not ready"), "{log}");
    assert!(!log.contains("hunter2-secret"), "the database password reached the log: {log}");
    assert!(!log.contains("palop_"), "no token before the database answered: {log}");
}

#[test]
fn help_describes_the_commands_and_settings() {
    let out = Command::new(env!("CARGO_BIN_EXE_palisade")).args(["serve", "--help"]).output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    for needle in [
        "--listen",
        "PALISADE_LISTEN",
        "--database-url",
        "PALISADE_DATABASE_URL",
        "--admin-token",
        "PALISADE_ADMIN_TOKEN",
        "--header-read-timeout-ms",
        "PALISADE_HEADER_READ_TIMEOUT_MS",
        "--request-body-timeout-ms",
        "PALISADE_REQUEST_BODY_TIMEOUT_MS",
        "--keep-alive-timeout-ms",
        "PALISADE_KEEP_ALIVE_TIMEOUT_MS",
        "--max-connections",
        "PALISADE_MAX_CONNECTIONS",
        "--public-url",
        "PALISADE_PUBLIC_URL",
        "--auth-failure-tarpit-ms",
        "PALISADE_AUTH_FAILURE_TARPIT_MS",
        "--trusted-proxies",
        "PALISADE_TRUSTED_PROXIES",
    ] {
        assert!(text.contains(needle), "{needle} missing from --help:\n{text}");
    }
}

#[tokio::test]
async fn query_string_values_never_reach_the_log() {
    let dir = tempfile::tempdir().unwrap();
    let operator = "palop_query-log-test-operator";
    let server = Server::start_with(dir.path(), &["--admin-token", operator]);
    let base = server.ready_url();
    let client = reqwest::Client::new();
    let secrets = ["s3cretNative", "s3cretKatapult", "s3cretHostway", "s3cretDefined", "s3cretBare"];
    for path in [
        format!("/api/v1/organizations?token={}&page=1", secrets[0]),
        format!("/core/v1/organizations/_?api_key={}", secrets[1]),
        format!("/accounts/os-security-groups?password={}", secrets[2]),
        format!("/v1/roles?key={}", secrets[3]),
        format!("/nowhere?{}", secrets[4]),
    ] {
        let r = client.get(format!("{base}{path}")).bearer_auth(operator).send().await.unwrap();
        assert!(r.status().as_u16() < 500, "{path}: {}", r.status());
    }
    let log = server.terminate();
    for secret in secrets {
        assert!(!log.contains(secret), "{secret} reached the log:\n{log}");
    }
    // The span still says what was asked: the path and the query's keys.
    assert!(log.contains("path=/api/v1/organizations"), "{log}");
    assert!(log.contains("token=[redacted]&page=[redacted]"), "{log}");
    assert!(!log.contains(operator), "the bearer token reached the log");
}
