//! Slow and idle clients are closed, not served forever, and a cap on connections keeps the
//! server answering once they are: raw sockets on 127.0.0.1, with small timeouts.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::TcpStream;
use tokio::task::JoinHandle;

use reqwest::StatusCode;
use serde_json::Value;

use crate::error_order;
use crate::support::{Answer, TestApp, OPERATOR};

/// Whether a body is a face's error envelope with the expected code.
type Envelope = fn(&Value) -> bool;
/// The face's key order (`error_order.rs`).
type KeyOrder = fn(&Answer);

/// Longest any one wait in these tests may take.
const BOUND: Duration = Duration::from_secs(20);

fn addr(app: &TestApp) -> String {
    app.base.trim_start_matches("http://").to_owned()
}

/// Reads one response (head and a `Content-Length` body); `None` if the connection ended first.
async fn read_response(stream: &mut TcpStream) -> Option<(u16, String)> {
    let mut bytes = Vec::new();
    let mut chunk = [0u8; 4096];
    for _ in 0..1000 {
        let text = String::from_utf8_lossy(&bytes).into_owned();
        if let Some(end) = text.find("\r\n\r\n") {
            let head = &text[..end];
            let length: usize = head
                .lines()
                .find_map(|l| {
                    l.to_ascii_lowercase().strip_prefix("content-length:").map(|v| v.trim().to_owned())
                })
                .map_or(0, |v| v.parse().unwrap());
            if bytes.len() >= end + 4 + length {
                let status = head.split(' ').nth(1).unwrap().parse().unwrap();
                return Some((status, text[end + 4..end + 4 + length].to_owned()));
            }
        }
        match tokio::time::timeout(BOUND, stream.read(&mut chunk)).await.expect("no response in time") {
            Ok(0) | Err(_) => return None,
            Ok(n) => bytes.extend_from_slice(&chunk[..n]),
        }
    }
    panic!("response never completed: {}", String::from_utf8_lossy(&bytes));
}

/// Waits (bounded) until the server closes `stream`; returns what it sent before.
async fn closed(stream: &mut OwnedReadHalf) -> Vec<u8> {
    let mut received = Vec::new();
    let mut chunk = [0u8; 1024];
    for _ in 0..1000 {
        match tokio::time::timeout(BOUND, stream.read(&mut chunk))
            .await
            .expect("the server kept the connection")
        {
            Ok(0) | Err(_) => return received,
            Ok(n) => received.extend_from_slice(&chunk[..n]),
        }
    }
    panic!("the server kept sending");
}

/// A client that sends a request line, then one header line every 100 ms (at most `lines`),
/// never finishing its head. The task returns how many lines it managed to send.
async fn slowloris(addr: &str, lines: usize) -> (OwnedReadHalf, JoinHandle<usize>) {
    let stream = TcpStream::connect(addr).await.unwrap();
    let (read, mut write): (OwnedReadHalf, OwnedWriteHalf) = stream.into_split();
    write.write_all(b"GET /healthz HTTP/1.1\r\nHost: palisade\r\n").await.unwrap();
    let trickle = tokio::spawn(async move {
        for sent in 0..lines {
            tokio::time::sleep(Duration::from_millis(100)).await;
            if write.write_all(format!("X-Slow-{sent}: 1\r\n").as_bytes()).await.is_err() {
                return sent;
            }
        }
        lines
    });
    (read, trickle)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_trickling_header_lines_is_closed_after_the_header_timeout() {
    let app = TestApp::spawn_tuned(|c| {
        c.http.header_read_timeout = Duration::from_millis(400);
        c.http.keep_alive_timeout = Duration::from_secs(60);
    })
    .await;
    // 300 lines would take 30 s: far beyond the header timeout, however slow the machine.
    let (mut read, trickle) = slowloris(&addr(&app), 300).await;
    let received = closed(&mut read).await;
    assert!(
        received.is_empty(),
        "no response to a request never sent: {}",
        String::from_utf8_lossy(&received)
    );
    trickle.abort();
    // The server still serves everyone else.
    assert_eq!(app.get("/healthz", "").await.status, StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_keep_alive_connection_is_closed_after_the_idle_timeout_not_the_header_timeout() {
    let app = TestApp::spawn_tuned(|c| {
        c.http.header_read_timeout = Duration::from_millis(200);
        c.http.keep_alive_timeout = Duration::from_millis(1500);
    })
    .await;
    let mut stream = TcpStream::connect(addr(&app)).await.unwrap();
    let request = b"GET /healthz HTTP/1.1\r\nHost: palisade\r\n\r\n";
    stream.write_all(request).await.unwrap();
    assert_eq!(read_response(&mut stream).await.map(|r| r.0), Some(200));
    // Idle for longer than the header timeout: the connection is still there for the next one.
    tokio::time::sleep(Duration::from_millis(600)).await;
    stream.write_all(request).await.unwrap();
    assert_eq!(read_response(&mut stream).await.map(|r| r.0), Some(200), "closed before the idle timeout");
    // Then idle for good: the server closes it.
    let (mut read, _write) = stream.into_split();
    assert!(closed(&mut read).await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_every_connection_held_by_slow_clients_healthz_answers_once_they_time_out() {
    const CAP: u32 = 3;
    let app = TestApp::spawn_tuned(|c| {
        c.http.max_connections = CAP;
        c.http.header_read_timeout = Duration::from_millis(1500);
    })
    .await;
    let mut slow = Vec::new();
    for _ in 0..CAP {
        slow.push(slowloris(&addr(&app), 300).await);
    }
    // One more client: it waits to be accepted while the slow ones hold every slot.
    let mut healthz = TcpStream::connect(addr(&app)).await.unwrap();
    healthz.write_all(b"GET /healthz HTTP/1.1\r\nHost: palisade\r\nConnection: close\r\n\r\n").await.unwrap();
    let (status, body) = read_response(&mut healthz).await.expect("healthz answered");
    assert_eq!((status, body.as_str()), (200, r#"{"status":"ok"}"#));
    // It was served because a slow client was closed first, not alongside them: by now at least
    // one of them has seen its connection end (their close preceded this accept).
    let mut ended = 0;
    for (read, _) in &slow {
        let gone = tokio::time::timeout(Duration::from_millis(500), async {
            let mut byte = [0u8; 1];
            loop {
                read.readable().await.unwrap();
                match read.try_read(&mut byte) {
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
                    Ok(0) | Err(_) => return,
                    Ok(_) => panic!("a slow client got a response"),
                }
            }
        })
        .await;
        ended += usize::from(gone.is_ok());
    }
    assert!(ended >= 1, "healthz was answered while every slow client still held a connection");
    for (mut read, trickle) in slow {
        assert!(closed(&mut read).await.is_empty());
        trickle.abort();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_trickling_its_body_gets_408_in_its_face_envelope_and_is_closed() {
    let app = TestApp::spawn_tuned(|c| {
        c.http.request_body_timeout = Duration::from_millis(800);
        // Shorter than the body's: a request in flight is not cut by the connection's timeouts.
        c.http.header_read_timeout = Duration::from_millis(200);
        c.http.keep_alive_timeout = Duration::from_millis(200);
    })
    .await;
    let org = app.org("acme").await;
    let (_, token) = app.token(&org, &["security_groups", "roles:create"]).await;
    let cases: [(&str, &str, Envelope, KeyOrder); 4] = [
        (
            "/api/v1/organizations",
            OPERATOR,
            |b| b["error"]["code"] == "request_timeout",
            |a| error_order::assert_native(a, StatusCode::REQUEST_TIMEOUT, None),
        ),
        (
            "/core/v1/organizations/_/security_groups",
            &token,
            |b| b["error"]["code"] == "request_timeout",
            |a| error_order::assert_katapult(a, StatusCode::REQUEST_TIMEOUT, &[]),
        ),
        (
            "/v1/roles",
            &token,
            |b| b["errors"][0]["code"] == "ERR_REQUEST_TIMEOUT",
            |a| error_order::assert_defined(a, StatusCode::REQUEST_TIMEOUT),
        ),
        (
            "/accounts/acme/os-security-groups",
            &token,
            |b| b["requestTimeout"]["code"] == 408,
            |a| error_order::assert_hostway(a, StatusCode::REQUEST_TIMEOUT, "requestTimeout"),
        ),
    ];
    for (path, credential, envelope, key_order) in cases {
        let stream = TcpStream::connect(addr(&app)).await.unwrap();
        let (mut read, mut write) = stream.into_split();
        let head = format!(
            "POST {path} HTTP/1.1\r\nHost: palisade\r\nAuthorization: Bearer {credential}\r\n\
             Content-Type: application/json\r\nContent-Length: 400\r\n\r\n{{"
        );
        write.write_all(head.as_bytes()).await.unwrap();
        // 399 more bytes, one per 100 ms: 40 s, far beyond the body timeout.
        let trickle = tokio::spawn(async move {
            for sent in 0..399 {
                tokio::time::sleep(Duration::from_millis(100)).await;
                if write.write_all(b" ").await.is_err() {
                    return sent;
                }
            }
            399
        });
        let received = String::from_utf8(closed(&mut read).await).unwrap();
        trickle.abort();
        let (head, body) = received.split_once("\r\n\r\n").unwrap_or_else(|| panic!("{path}: {received:?}"));
        assert!(head.starts_with("HTTP/1.1 408"), "{path}: {head}");
        assert!(head.to_ascii_lowercase().contains("connection: close"), "{path}: {head}");
        let parsed: Value = serde_json::from_str(body).unwrap_or_else(|_| panic!("{path}: {body}"));
        assert!(envelope(&parsed), "{path}: {body}");
        let status = StatusCode::REQUEST_TIMEOUT;
        key_order(&Answer { status, headers: Default::default(), text: body.to_owned() });
    }
    assert_eq!(app.count("security_groups").await, 0, "nothing written");
}
