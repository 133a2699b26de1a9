//! Crash durability of the real binary: 16 concurrent writers create servers (each a server, an
//! interface, an address and tags in one request) while the process is killed with SIGKILL
//! mid-run; it is restarted on the same database, and every write that was acknowledged with a
//! 2xx before the kill is there, by id, complete and exactly once. The only other writes present
//! are requests that were in flight at the kill (no answer either way). Five kills per run, on
//! the backend `PALISADE_TEST_BACKEND` names. Bounded in count (attempts per writer per round)
//! and in time (a deadline per round and per request).

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::binary::Server;
use crate::support::{TestDatabase, OPERATOR};

const WRITERS: usize = 16;
const ROUNDS: usize = 5;
/// Acknowledged writes in a round before its kill.
const KILL_AFTER: usize = 300;
/// A writer's attempts in one round at most: far more than the kill needs, so the kill always
/// lands while the writers are still going.
const MAX_ATTEMPTS: usize = 500;
const ROUND_DEADLINE: Duration = Duration::from_secs(60);
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// What the writers were told.
#[derive(Debug, Clone, Default)]
struct Ledger {
    /// Server name → id, for every 201.
    acked: HashMap<String, String>,
    /// Sent without an answer (the connection died with the server): may or may not be stored.
    in_flight: HashSet<String>,
    /// Anything else the server answered: a bug.
    unexpected: Vec<String>,
}

/// The `k`-th write: its name, address and tags are all derived from `k`, so a stored server
/// can be checked for completeness.
fn write_body(k: usize, network: &str) -> Value {
    json!({
        "name": format!("w{k}"),
        "interfaces": [{"network_id": network, "addresses": [address(k)]}],
        "tags": ["durability", format!("k:{k}")],
    })
}

fn address(k: usize) -> String {
    format!("10.20.{}.{}", k / 250, k % 250 + 1)
}

async fn writer(
    client: reqwest::Client,
    url: String,
    network: String,
    next: Arc<AtomicUsize>,
    acked_this_round: Arc<AtomicUsize>,
    ledger: Arc<Mutex<Ledger>>,
) {
    for _ in 0..MAX_ATTEMPTS {
        let k = next.fetch_add(1, Ordering::SeqCst);
        let name = format!("w{k}");
        let sent = client.post(&url).bearer_auth(OPERATOR).json(&write_body(k, &network)).send().await;
        let res = match sent {
            Ok(res) => res,
            Err(_) => {
                ledger.lock().unwrap().in_flight.insert(name);
                return;
            }
        };
        let status = res.status();
        match res.json::<Value>().await {
            Ok(body) if status == StatusCode::CREATED => {
                let id = body["server"]["id"].as_str().unwrap().to_owned();
                ledger.lock().unwrap().acked.insert(name, id);
                acked_this_round.fetch_add(1, Ordering::SeqCst);
            }
            Ok(body) => {
                ledger.lock().unwrap().unexpected.push(format!("{name}: {status} {body}"));
                return;
            }
            // The status line arrived but the body did not: no acknowledgement was complete.
            Err(_) => {
                ledger.lock().unwrap().in_flight.insert(name);
                return;
            }
        }
    }
}

/// Every server of the organization, all pages.
async fn all_servers(client: &reqwest::Client, base: &str, org: &str) -> Vec<Value> {
    let mut out = Vec::new();
    for page in 1.. {
        let body: Value = client
            .get(format!("{base}/api/v1/organizations/{org}/servers?per_page=200&page={page}"))
            .bearer_auth(OPERATOR)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        out.extend(body["servers"].as_array().unwrap().iter().cloned());
        if page >= body["pagination"]["total_pages"].as_u64().unwrap() {
            break;
        }
    }
    out
}

/// Every acknowledged write is stored under its id, complete; nothing is stored twice; nothing
/// is stored that was neither acknowledged nor in flight.
async fn check(client: &reqwest::Client, base: &str, org: &str, network: &str, ledger: &Ledger) {
    let servers = all_servers(client, base, org).await;
    let mut by_name: HashMap<String, String> = HashMap::new();
    let mut ids = HashSet::new();
    for s in &servers {
        let name = s["name"].as_str().unwrap().to_owned();
        let id = s["id"].as_str().unwrap().to_owned();
        assert!(ids.insert(id.clone()), "server id {id} listed twice");
        let k: usize = name.strip_prefix('w').unwrap().parse().unwrap();
        assert_eq!(s["interfaces"].as_array().unwrap().len(), 1, "half-written: {s}");
        assert_eq!(s["interfaces"][0]["network_id"], network, "{s}");
        assert_eq!(s["interfaces"][0]["addresses"], json!([address(k)]), "half-written: {s}");
        let mut tags: Vec<String> = serde_json::from_value(s["tags"].clone()).unwrap();
        tags.sort();
        assert_eq!(tags, ["durability".to_owned(), format!("k:{k}")], "half-written: {s}");
        assert!(by_name.insert(name.clone(), id).is_none(), "{name} stored twice");
        assert!(
            ledger.acked.contains_key(&name) || ledger.in_flight.contains(&name),
            "{name} stored but never sent"
        );
    }
    for (name, id) in &ledger.acked {
        assert_eq!(by_name.get(name), Some(id), "acknowledged write {name} ({id}) lost");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_writes_survive_sigkill_under_concurrent_writers() {
    let db = TestDatabase::from_env().await;
    let dir = tempfile::tempdir().unwrap();
    let args = ["--database-url", db.url.as_str(), "--admin-token", OPERATOR];
    let client = reqwest::Client::builder().timeout(REQUEST_TIMEOUT).build().unwrap();

    // The world the writers write into, made through the first server.
    let mut server = Server::start_logging(dir.path(), &args, "info");
    let base = server.ready_url();
    let post = |path: &str, body: Value| {
        client.post(format!("{base}/api/v1{path}")).bearer_auth(OPERATOR).json(&body).send()
    };
    let country = json!({"name": "Netherlands", "iso_code2": "NL", "iso_code3": "NLD", "time_zone": "Europe/Amsterdam", "eu": true});
    let dc: Value = post("/data_centers", json!({"name": "DC", "permalink": "dc", "country": country}))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let dc = dc["data_center"]["id"].as_str().unwrap().to_owned();
    let net: Value =
        post("/networks", json!({"name": "N", "data_center_id": dc, "prefixes": ["10.20.0.0/16"]}))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
    let network = net["network"]["id"].as_str().unwrap().to_owned();
    let org: Value = post("/organizations", json!({"name": "Acme", "sub_domain": "acme"}))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let org = org["organization"]["id"].as_str().unwrap().to_owned();

    let ledger = Arc::new(Mutex::new(Ledger::default()));
    let next = Arc::new(AtomicUsize::new(0));
    for round in 0..ROUNDS {
        let base = server.ready_url();
        let acked = Arc::new(AtomicUsize::new(0));
        let url = format!("{base}/api/v1/organizations/{org}/servers");
        let writers: Vec<_> = (0..WRITERS)
            .map(|_| {
                tokio::spawn(writer(
                    client.clone(),
                    url.clone(),
                    network.clone(),
                    next.clone(),
                    acked.clone(),
                    ledger.clone(),
                ))
            })
            .collect();
        let deadline = Instant::now() + ROUND_DEADLINE;
        while acked.load(Ordering::SeqCst) < KILL_AFTER {
            assert!(
                Instant::now() < deadline,
                "round {round}: only {} writes acknowledged",
                acked.load(Ordering::SeqCst)
            );
            let unexpected = ledger.lock().unwrap().unexpected.clone();
            assert!(unexpected.is_empty(), "unexpected answers: {unexpected:?}");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let still_writing = writers.iter().filter(|w| !w.is_finished()).count();
        assert!(still_writing > 0, "round {round}: the writers finished before the kill");
        server.kill();
        for w in writers {
            tokio::time::timeout(REQUEST_TIMEOUT * 2, w)
                .await
                .expect("a writer hung after the kill")
                .unwrap();
        }

        server = Server::start_logging(dir.path(), &args, "info");
        let base = server.ready_url();
        let snapshot = ledger.lock().unwrap().clone();
        assert!(snapshot.unexpected.is_empty(), "unexpected answers: {:?}", snapshot.unexpected);
        check(&client, &base, &org, &network, &snapshot).await;
    }

    // Still writable after the crashes, and the tallies are what this test claims.
    let base = server.ready_url();
    let k = next.fetch_add(1, Ordering::SeqCst);
    let res = client
        .post(format!("{base}/api/v1/organizations/{org}/servers"))
        .bearer_auth(OPERATOR)
        .json(&write_body(k, &network))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::CREATED);
    let ledger = ledger.lock().unwrap().clone();
    assert!(ledger.acked.len() >= ROUNDS * KILL_AFTER, "{} acknowledged", ledger.acked.len());
    println!(
        "durability: {} kills, {} acknowledged writes, {} in flight at a kill, 0 lost",
        ROUNDS,
        ledger.acked.len(),
        ledger.in_flight.len()
    );
    server.terminate();
}
