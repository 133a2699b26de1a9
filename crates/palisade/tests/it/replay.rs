//! Replays every recorded Katapult exchange (`tests/fixtures/katapult/cassettes/`, provenance and
//! licence in `SOURCES.md` there) against the real server and compares status and body, with
//! IDs, addresses, reverse DNS names and timestamps normalised. Recorded IDs are mapped to the IDs our server returns as each
//! cassette proceeds. Prints a report (run with `--no-capture` to see it) and fails if fewer
//! exchanges match than the baseline below: the baseline only ever goes up.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::support::{TestApp, OPERATOR};

/// Exchanges that matched exactly when this baseline was last raised.
const BASELINE: usize = 449;
/// Exchanges that match exactly or differ only by fields the vendor added after recording them.
const COMPATIBLE_BASELINE: usize = 1023;

fn cassettes_dir() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/katapult/cassettes"))
}

#[derive(Debug, serde::Deserialize)]
struct Cassette {
    interactions: Vec<Interaction>,
}

#[derive(Debug, serde::Deserialize)]
struct Interaction {
    request: Request,
    response: Response,
}

#[derive(Debug, serde::Deserialize)]
struct Request {
    body: String,
    #[serde(default)]
    headers: HashMap<String, Vec<String>>,
    url: String,
    method: String,
}

#[derive(Debug, serde::Deserialize)]
struct Response {
    body: String,
    code: u16,
}

const ID_PREFIXES: &[&str] =
    &["sgr", "sg", "ip", "netw", "loc", "ctry", "org", "vmgrp", "vm", "tag", "adlst", "sbnt"];

/// Every `prefix_<alphanumerics>` token in `text` (16 characters recorded, 22 ours).
fn id_tokens(text: &str) -> Vec<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let boundary = i == 0 || !(bytes[i - 1].is_ascii_alphanumeric() || bytes[i - 1] == b'_');
        if boundary {
            if let Some(p) = ID_PREFIXES.iter().find(|p| text[i..].starts_with(&format!("{p}_"))) {
                let start = i + p.len() + 1;
                let len = text[start..].bytes().take_while(u8::is_ascii_alphanumeric).count();
                if len == 16 || len == 22 {
                    out.push(text[i..start + len].to_owned());
                    i = start + len;
                    continue;
                }
            }
        }
        i += 1;
    }
    out
}

fn prefix_of(id: &str) -> &str {
    id.split('_').next().unwrap_or_default()
}

/// Learns recorded → ours for IDs and addresses by walking both bodies in parallel.
fn learn(recorded: &Value, ours: &Value, map: &mut HashMap<String, String>) {
    match (recorded, ours) {
        (Value::Object(a), Value::Object(b)) => {
            for (k, va) in a {
                if let Some(vb) = b.get(k) {
                    if k == "address" {
                        if let (Some(x), Some(y)) = (va.as_str(), vb.as_str()) {
                            map.insert(x.to_owned(), y.to_owned());
                        }
                    }
                    learn(va, vb, map);
                }
            }
        }
        (Value::Array(a), Value::Array(b)) => a.iter().zip(b).for_each(|(x, y)| learn(x, y, map)),
        (Value::String(x), Value::String(y)) => {
            if let (Some(rx), Some(ry)) = (id_tokens(x).first(), id_tokens(y).first()) {
                if x == rx && y == ry && prefix_of(rx) == prefix_of(ry) {
                    map.insert(rx.clone(), ry.clone());
                }
            }
        }
        _ => {}
    }
}

fn apply(text: &str, map: &HashMap<String, String>) -> String {
    let mut out = text.to_owned();
    // Longest first, so an address never replaces part of a longer one.
    let mut keys: Vec<&String> = map.keys().collect();
    keys.sort_by_key(|k| std::cmp::Reverse(k.len()));
    for k in keys {
        out = out.replace(k.as_str(), &map[k]);
        let encoded = k.replace(':', "%3A");
        if encoded != *k {
            out = out.replace(&encoded, &map[k].replace(':', "%3A"));
        }
    }
    out
}

/// IDs to `prefix_ID`, addresses and reverse DNS names to placeholders, times to 0.
fn normalise(value: &Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| {
                    let v = match (k.as_str(), v) {
                        ("address" | "address_with_mask" | "reverse_dns" | "gateway", Value::String(_)) => {
                            json!("<normalised>")
                        }
                        ("created_at", Value::Number(_)) => json!(0),
                        // The recorded network's prefix length changed between recordings.
                        ("mask", Value::Number(_)) => json!(0),
                        _ => normalise(v),
                    };
                    (k.clone(), v)
                })
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(normalise).collect()),
        Value::String(s) => {
            let mut out = s.clone();
            for id in id_tokens(s) {
                out = out.replace(&id, &format!("{}_ID", prefix_of(&id)));
            }
            Value::String(out)
        }
        other => other.clone(),
    }
}

/// Whether every key of `recorded` is in `ours` with an equal value (ours may have more keys:
/// fields the vendor added after the recording was made).
fn recorded_subset(recorded: &Value, ours: &Value) -> bool {
    match (recorded, ours) {
        (Value::Object(a), Value::Object(b)) => {
            a.iter().all(|(k, v)| b.get(k).is_some_and(|w| recorded_subset(v, w)))
        }
        (Value::Array(a), Value::Array(b)) => {
            a.len() == b.len() && a.iter().zip(b).all(|(x, y)| recorded_subset(x, y))
        }
        (a, b) => a == b,
    }
}

async fn fixture(app: &TestApp) -> HashMap<String, String> {
    let org = app.org("terraform-acc-test").await;
    let dc = app
        .post(
            "/api/v1/data_centers",
            OPERATOR,
            json!({"name": "London", "permalink": "uk-lon-01", "country": {"name": "United Kingdom", "iso_code2": "GB",
                "iso_code3": "GBR", "time_zone": "Europe/London", "eu": false}}),
        )
        .await;
    let dc_id = dc.body["data_center"]["id"].as_str().unwrap().to_owned();
    let net = app
        .post(
            "/api/v1/networks",
            OPERATOR,
            json!({"name": "Public Network", "permalink": "uk-lon-01-public", "data_center_id": dc_id,
                "prefixes": ["185.44.252.0/22", "2a03:2800:500::/48"], "reserved": ["185.44.252.1"], "default": true}),
        )
        .await;
    let net_id = net.body["network"]["id"].as_str().unwrap().to_owned();
    let k = |prefix: &str, id: &str| {
        palisade_api::katapult::ids::render(prefix, uuid::Uuid::parse_str(id).unwrap().as_bytes())
    };
    HashMap::from([
        ("netw_gVRkZdSKczfNg34P".to_owned(), k("netw", &net_id)),
        ("loc_UUhPmoCbpic6UX0Y".to_owned(), k("loc", &dc_id)),
        ("org".to_owned(), org),
    ])
}

#[derive(Debug, Default)]
struct Tally {
    total: usize,
    matched: usize,
    /// Recorded by an older API version: every recorded field matches, ours has more.
    older: usize,
    /// category → (count, one example)
    mismatches: BTreeMap<String, (usize, String)>,
}

impl Tally {
    fn miss(&mut self, category: String, example: String) {
        let entry = self.mismatches.entry(category).or_insert((0, example));
        entry.0 += 1;
    }
}

async fn replay(file: &PathBuf, tally: &mut Tally) {
    let cassette: Cassette = serde_yaml::from_str(&std::fs::read_to_string(file).unwrap()).unwrap();
    let app = TestApp::spawn().await;
    let mut map = fixture(&app).await;
    let org = map.remove("org").unwrap();
    let all: Vec<&str> = palisade_core::Scope::grantable().map(|s| s.as_str()).collect();
    let (_, token) = app.token(&org, &all).await;
    let name = file.file_name().unwrap().to_string_lossy().replace(".cassette.yaml", "");
    for (n, it) in cassette.interactions.iter().enumerate() {
        tally.total += 1;
        let url = apply(&it.request.url, &map).replace("https://api.katapult.io", &app.base);
        let body = apply(&it.request.body, &map);
        let method: Method = it.request.method.parse().unwrap();
        let mut req = app.client.request(method.clone(), &url).bearer_auth(&token);
        if let Some(ct) = it.request.headers.get("Content-Type").and_then(|v| v.first()) {
            req = req.header("content-type", ct);
        }
        if !body.is_empty() {
            req = req.body(body);
        }
        let res = req.send().await.unwrap();
        let status = res.status();
        let text = res.text().await.unwrap();
        let ours: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        let recorded: Value = serde_json::from_str(&it.response.body).unwrap_or(Value::Null);
        if status == StatusCode::OK {
            learn(&recorded, &ours, &mut map);
        }
        let path = it.request.url.replace("https://api.katapult.io/core/v1/", "");
        let path = path.split('?').next().unwrap_or_default().to_owned();
        let endpoint = format!(
            "{method} {}",
            id_tokens(&path)
                .iter()
                .fold(path.clone(), |p, id| p.replace(id, &format!("{}_ID", prefix_of(id))))
        );
        let example = format!(
            "{name}#{n}: {endpoint}: recorded {} {} / ours {} {}",
            it.response.code,
            it.response.body,
            status.as_u16(),
            text
        );
        if status.as_u16() != it.response.code {
            let category = if ours["error"]["code"] == "route_not_found" {
                format!("unsupported endpoint {endpoint}")
            } else {
                format!("status {} vs {} on {endpoint}", it.response.code, status.as_u16())
            };
            tally.miss(category, example);
        } else if normalise(&recorded) == normalise(&ours) {
            tally.matched += 1;
        } else if recorded_subset(&normalise(&recorded), &normalise(&ours)) {
            tally.older += 1;
            tally.miss(format!("recorded by an older API version (fewer fields) on {endpoint}"), example);
        } else {
            if std::env::var_os("REPLAY_DEBUG").is_some() {
                println!(
                    "DEBUG {name}#{n}\n  recorded {}\n  ours     {}",
                    normalise(&recorded),
                    normalise(&ours)
                );
            }
            tally.miss(format!("body differs on {endpoint}"), example);
        }
    }
}

#[tokio::test]
async fn recorded_katapult_exchanges() {
    let dir = cassettes_dir();
    let mut files: Vec<PathBuf> = Vec::new();
    for sub in ["provider", "v6provider"] {
        let entries = std::fs::read_dir(dir.join(sub))
            .unwrap_or_else(|e| panic!("cassettes missing at {}: {e}", dir.display()));
        files.extend(
            entries.map(|e| e.unwrap().path()).filter(|p| p.to_string_lossy().ends_with(".cassette.yaml")),
        );
    }
    files.sort();
    assert_eq!(files.len(), 54, "expected the 54 recorded cassettes");
    let mut tally = Tally::default();
    for file in &files {
        replay(file, &mut tally).await;
    }
    println!(
        "katapult replay: {} of {} recorded exchanges match exactly; {} more match every recorded field \
         (recorded by an older API version)",
        tally.matched, tally.total, tally.older
    );
    for (category, (count, example)) in &tally.mismatches {
        println!("  {count:4} × {category}\n         e.g. {}", example.chars().take(600).collect::<String>());
    }
    assert!(tally.total >= 1000, "only {} exchanges read", tally.total);
    assert!(tally.matched >= BASELINE, "{} matched, baseline {BASELINE}", tally.matched);
    let compatible = tally.matched + tally.older;
    assert!(compatible >= COMPATIBLE_BASELINE, "{compatible} compatible, baseline {COMPATIBLE_BASELINE}");
}
