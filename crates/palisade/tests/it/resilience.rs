//! The database going away and coming back: requests fail fast with 503 in the native
//! envelope, `/readyz` reports it, and the server heals by itself. PostgreSQL is reached through
//! a TCP proxy that the test stops and restarts. Also: a server started while the database is
//! unreachable listens at once, answers 503 in each face's envelope (and `/healthz` 200,
//! `/readyz` 503), keeps trying, and serves when the database returns.

use std::net::SocketAddr;
use std::str::FromStr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use palisade::{Application, DbSettings, ServeConfig, Startup};
use reqwest::StatusCode;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

use crate::support::{Backend, TestDatabase, OPERATOR};

/// A TCP proxy that can be cut (closing every connection) and restored on the same port.
struct Proxy {
    addr: SocketAddr,
    target: String,
    tasks: Arc<Mutex<Vec<JoinHandle<()>>>>,
}

impl Proxy {
    async fn start(target: String) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let proxy = Self { addr: listener.local_addr().unwrap(), target, tasks: Arc::default() };
        proxy.serve(listener);
        proxy
    }

    fn serve(&self, listener: TcpListener) {
        let (target, tasks) = (self.target.clone(), self.tasks.clone());
        let accept = tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                let target = target.clone();
                let conn = tokio::spawn(async move {
                    if let Ok(mut outbound) = TcpStream::connect(&target).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
                tasks.lock().unwrap().push(conn);
            }
        });
        self.tasks.lock().unwrap().push(accept);
    }

    /// Stops listening and drops every open connection.
    fn cut(&self) {
        for task in self.tasks.lock().unwrap().drain(..) {
            task.abort();
        }
    }

    async fn restore(&self) {
        let deadline = Instant::now() + Duration::from_secs(10);
        let listener = loop {
            match TcpListener::bind(self.addr).await {
                Ok(l) => break l,
                Err(e) if Instant::now() < deadline => {
                    let _ = e;
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                Err(e) => panic!("cannot rebind {}: {e}", self.addr),
            }
        };
        self.serve(listener);
    }
}

/// The database's URL, pointed at the proxy instead.
fn through(db: &TestDatabase, proxy: &Proxy) -> String {
    let options = sqlx::postgres::PgConnectOptions::from_str(&db.url).unwrap();
    let direct = format!("{}:{}", options.get_host(), options.get_port());
    assert!(db.url.contains(&direct), "the test URL must name host:port explicitly: {}", db.url);
    db.url.replacen(&direct, &proxy.addr.to_string(), 1)
}

fn target_of(db: &TestDatabase) -> String {
    let options = sqlx::postgres::PgConnectOptions::from_str(&db.url).unwrap();
    format!("{}:{}", options.get_host(), options.get_port())
}

fn settings() -> DbSettings {
    DbSettings {
        max_connections: 4,
        acquire_timeout: Duration::from_millis(1000),
        statement_timeout: Duration::from_secs(5),
        connect_retry_delay: Duration::from_millis(50),
        connect_retry_max_delay: Duration::from_millis(200),
    }
}

/// A server on `url`, serving (ready or not); the last value completes when it is ready.
async fn start(url: String) -> (String, tokio::sync::oneshot::Sender<()>, Startup) {
    let config = ServeConfig {
        listen: "127.0.0.1:0".into(),
        database_url: url,
        admin_token: Some(OPERATOR.into()),
        db: settings(),
        ..ServeConfig::default()
    };
    let (app, startup) = Application::build(config).await.unwrap();
    let base = format!("http://{}", app.local_addr().unwrap());
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(app.run_until(async move {
        let _ = rx.await;
    }));
    (base, tx, startup)
}

/// A server whose database answers, once it is ready.
async fn start_ready(url: String) -> (String, tokio::sync::oneshot::Sender<()>) {
    let (base, stop, startup) = start(url).await;
    tokio::time::timeout(Duration::from_secs(30), startup.ready()).await.unwrap().unwrap();
    (base, stop)
}

async fn status(client: &reqwest::Client, url: String) -> (StatusCode, serde_json::Value) {
    let r = client.get(url).bearer_auth(OPERATOR).send().await.unwrap();
    (r.status(), r.json().await.unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_outage_fails_fast_and_heals() {
    let db = TestDatabase::new(Backend::Postgres).await;
    let proxy = Proxy::start(target_of(&db)).await;
    let (base, _stop) = start_ready(through(&db, &proxy)).await;
    let client = reqwest::Client::new();
    let orgs = format!("{base}/api/v1/organizations");
    let r = client
        .post(&orgs)
        .bearer_auth(OPERATOR)
        .json(&serde_json::json!({"name": "Acme", "sub_domain": "acme"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    assert_eq!(status(&client, format!("{base}/readyz")).await.0, StatusCode::OK);

    proxy.cut();
    let started = Instant::now();
    let (code, body) = status(&client, orgs.clone()).await;
    assert_eq!(code, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(body["error"]["code"], "service_unavailable");
    assert!(started.elapsed() < Duration::from_secs(10), "the failure was not fast: {:?}", started.elapsed());
    let (code, body) = status(&client, format!("{base}/readyz")).await;
    assert_eq!((code, &body["status"]), (StatusCode::SERVICE_UNAVAILABLE, &serde_json::json!("unavailable")));

    proxy.restore().await;
    let deadline = Instant::now() + Duration::from_secs(20);
    while status(&client, format!("{base}/readyz")).await.0 != StatusCode::OK {
        assert!(Instant::now() < deadline, "the server did not recover");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (code, body) = status(&client, orgs).await;
    assert_eq!(code, StatusCode::OK);
    assert_eq!(body["organizations"][0]["sub_domain"], "acme");
}

/// Whether a body is a face's error envelope with the expected code.
type Envelope = fn(&serde_json::Value) -> bool;

/// GETs `path` and returns the status and JSON body.
async fn answer(client: &reqwest::Client, base: &str, path: &str) -> (StatusCode, serde_json::Value) {
    let r = client.get(format!("{base}{path}")).bearer_auth(OPERATOR).send().await.unwrap();
    let status = r.status();
    let text = r.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or_else(|_| panic!("{path}: not JSON: {text}")))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_whose_database_is_away_listens_at_once_answers_503_in_each_face_and_heals() {
    let db = TestDatabase::new(Backend::Postgres).await;
    let proxy = Proxy::start(target_of(&db)).await;
    proxy.cut();
    let client = reqwest::Client::new();
    // Nothing listens on the database's port: the server is up, alive and not ready, at once.
    let (base, _stop, startup) = tokio::time::timeout(Duration::from_secs(3), async {
        let (base, stop, startup) = start(through(&db, &proxy)).await;
        assert_eq!(
            answer(&client, &base, "/healthz").await,
            (StatusCode::OK, serde_json::json!({"status": "ok"}))
        );
        let (code, body) = answer(&client, &base, "/readyz").await;
        assert_eq!(
            (code, &body["status"]),
            (StatusCode::SERVICE_UNAVAILABLE, &serde_json::json!("starting"))
        );
        let faces: [(&str, Envelope); 4] = [
            ("/api/v1/organizations", |b| b["error"]["code"] == "service_unavailable"),
            ("/core/v1/organizations/_/security_groups", |b| b["error"]["code"] == "service_unavailable"),
            ("/v1/roles", |b| b["errors"][0]["code"] == "ERR_SERVICE_UNAVAILABLE"),
            ("/accounts/x/os-security-groups", |b| b["serviceUnavailable"]["code"] == 503),
        ];
        for (path, envelope) in faces {
            let (code, body) = answer(&client, &base, path).await;
            assert_eq!(code, StatusCode::SERVICE_UNAVAILABLE, "{path}: {body}");
            assert!(envelope(&body), "{path}: {body}");
        }
        (base, stop, startup)
    })
    .await
    .expect("the server must listen and answer at once, database or not");

    // The database returns: the server becomes ready by itself and serves.
    proxy.restore().await;
    let started = tokio::time::timeout(Duration::from_secs(30), startup.ready()).await.unwrap().unwrap();
    assert!(started.generated.is_none(), "an admin token was given");
    assert_eq!(answer(&client, &base, "/readyz").await.0, StatusCode::OK);
    let r = client
        .post(format!("{base}/api/v1/organizations"))
        .bearer_auth(OPERATOR)
        .json(&serde_json::json!({"name": "Acme", "sub_domain": "acme"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let (code, body) = answer(&client, &base, "/v1/roles").await;
    assert_eq!(code, StatusCode::FORBIDDEN, "the Defined face answers for itself now: {body}");
}

#[tokio::test]
async fn a_wrong_database_url_is_a_clear_start_up_error() {
    let config = ServeConfig {
        listen: "127.0.0.1:0".into(),
        database_url: "mysql://nope".into(),
        ..ServeConfig::default()
    };
    let err = Application::build(config).await.unwrap_err();
    assert!(err.to_string().contains("unsupported database URL"), "{err}");
    let config = ServeConfig {
        listen: "127.0.0.1:0".into(),
        database_url: "postgres://palisade:hunter2-secret@127.0.0.1:notaport/none".into(),
        db: settings(),
        ..ServeConfig::default()
    };
    let err = format!("{:#}", Application::build(config).await.unwrap_err());
    assert!(err.contains("PostgreSQL"), "{err}");
    assert!(!err.contains("hunter2-secret"), "the password reached the error: {err}");
}
