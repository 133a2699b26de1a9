//! The database going away and coming back: requests fail fast with 503 in the native
//! envelope, `/readyz` reports it, and the server heals by itself. PostgreSQL is reached through
//! a TCP proxy that the test stops and restarts. Also: a server started while the database is
//! unreachable keeps trying and comes up when it returns.

use std::net::SocketAddr;
use std::str::FromStr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use palisade::{Application, DbSettings, ServeConfig};
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
        connect_attempts: 60,
        connect_retry_delay: Duration::from_millis(100),
    }
}

async fn start(url: String) -> (String, tokio::sync::oneshot::Sender<()>) {
    let config = ServeConfig {
        listen: "127.0.0.1:0".into(),
        database_url: url,
        admin_token: Some(OPERATOR.into()),
        db: settings(),
        ..ServeConfig::default()
    };
    let (app, _) = Application::build(config).await.unwrap();
    let base = format!("http://{}", app.local_addr().unwrap());
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(app.run_until(async move {
        let _ = rx.await;
    }));
    (base, tx)
}

async fn status(client: &reqwest::Client, url: String) -> (StatusCode, serde_json::Value) {
    let r = client.get(url).bearer_auth(OPERATOR).send().await.unwrap();
    (r.status(), r.json().await.unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_outage_fails_fast_and_heals() {
    let db = TestDatabase::new(Backend::Postgres).await;
    let proxy = Proxy::start(target_of(&db)).await;
    let (base, _stop) = start(through(&db, &proxy)).await;
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn start_waits_for_an_unreachable_database() {
    let db = TestDatabase::new(Backend::Postgres).await;
    let proxy = Proxy::start(target_of(&db)).await;
    proxy.cut();
    let url = through(&db, &proxy);
    let starting = tokio::spawn(start(url));
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(!starting.is_finished(), "the server must keep trying while the database is away");
    proxy.restore().await;
    let (base, _stop) = tokio::time::timeout(Duration::from_secs(30), starting).await.unwrap().unwrap();
    let r = reqwest::get(format!("{base}/readyz")).await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
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
    let mut db = settings();
    db.connect_attempts = 2;
    db.connect_retry_delay = Duration::from_millis(10);
    let config = ServeConfig {
        listen: "127.0.0.1:0".into(),
        database_url: "postgres://postgres@127.0.0.1:1/none".into(),
        db,
        ..ServeConfig::default()
    };
    let err = Application::build(config).await.unwrap_err();
    assert!(format!("{err:#}").contains("PostgreSQL"), "{err:#}");
}
