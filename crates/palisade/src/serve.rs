//! The HTTP/1 server loop: accepts connections up to a cap and closes slow or idle clients.
//!
//! `axum::serve` exposes no timeouts, so a client that trickles its header lines, or parks an
//! idle keep-alive connection, held a socket (and a file descriptor) for as long as it liked;
//! a few hundred of them starved the process of descriptors and `/healthz` stopped answering.
//! Here each connection is served by hyper's HTTP/1 builder directly, and:
//!
//! - **At most `max_connections` at once.** A slot (semaphore permit) is taken *before*
//!   `accept`, so the N+1st client waits in the kernel's accept queue, unread and unanswered,
//!   until a slot frees; it costs the process no descriptor meanwhile. Slots held by slow
//!   clients free within the timeouts below.
//! - **Header-read timeout.** From the connection's start, or from the first byte of the next
//!   request on a keep-alive connection, the whole request head must arrive in time.
//! - **Idle keep-alive timeout.** After a response, the next request must begin in time.
//! - **Request-body timeout.** Enforced per request by [`crate::body_deadline`].
//!
//! hyper 1's own `header_read_timeout` starts when a connection goes idle, so it would also be
//! the keep-alive timeout (a proxy keeping connections for 60 s needs a longer idle timeout
//! than a header timeout). The two are therefore kept here by [`Activity`]: the bytes read from
//! the socket and the requests in flight tell which phase a connection is in, and a watchdog
//! closes the connection when the phase's deadline passes. Closing means dropping the
//! connection, without a response (the client has not sent a request to answer).
//!
//! Shutdown stops accepting, lets hyper close idle connections and finish in-flight requests,
//! and waits for every connection to give back its slot.

use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::{Body, Bytes, HttpBody};
use axum::extract::ConnectInfo;
use axum::http::Request;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, Notify, Semaphore};
use tokio::time::Instant;
use tower::ServiceExt;

use crate::gate::Gate;

/// Limits on clients' connections. Every duration must be non-zero.
#[derive(Debug, Clone)]
pub struct HttpSettings {
    /// How long a client has to send a request's head (request line and headers).
    pub header_read_timeout: Duration,
    /// How long a client has to send a request's whole body, from the end of its head.
    pub request_body_timeout: Duration,
    /// How long a keep-alive connection may wait for its next request.
    pub keep_alive_timeout: Duration,
    /// Connections served at once; more wait to be accepted.
    pub max_connections: u32,
}

impl Default for HttpSettings {
    fn default() -> Self {
        Self {
            header_read_timeout: Duration::from_secs(10),
            request_body_timeout: Duration::from_secs(30),
            // Longer than the 60 s idle timeout common in load balancers, so that the balancer,
            // not this server, closes an idle connection (no request races a close).
            keep_alive_timeout: Duration::from_secs(75),
            // Below the usual soft limit of 1,024 open files, leaving room for the database pool.
            max_connections: 512,
        }
    }
}

/// Serves `gate`'s router on `listener` until `shutdown` completes, then finishes in-flight
/// requests.
pub(crate) async fn serve(
    listener: TcpListener,
    gate: Arc<Gate>,
    settings: HttpSettings,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    let settings = Arc::new(settings);
    let slots = Arc::new(Semaphore::new(settings.max_connections as usize));
    let (stop, stopping) = watch::channel(false);
    tokio::pin!(shutdown);
    loop {
        let slot = tokio::select! {
            () = &mut shutdown => break,
            slot = slots.clone().acquire_owned() => match slot {
                Ok(slot) => slot,
                Err(_) => break,
            },
        };
        let (stream, peer) = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) if is_connection_error(&e) => continue,
                Err(e) => {
                    // Out of descriptors, say: wait a moment rather than spin.
                    tracing::warn!(error = %e, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        let (gate, settings, stopping) = (gate.clone(), settings.clone(), stopping.clone());
        tokio::spawn(async move {
            connection(stream, peer, gate, &settings, stopping).await;
            drop(slot);
        });
    }
    drop(listener);
    let _ = stop.send(true);
    // Every connection holds a slot until it ends: having them all means all have ended.
    let _all = slots.acquire_many(settings.max_connections).await;
    Ok(())
}

fn is_connection_error(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionRefused | io::ErrorKind::ConnectionAborted | io::ErrorKind::ConnectionReset
    )
}

/// Serves one connection until it ends, its phase's deadline passes, or shutdown drains it.
async fn connection(
    stream: TcpStream,
    peer: SocketAddr,
    gate: Arc<Gate>,
    settings: &HttpSettings,
    mut stopping: watch::Receiver<bool>,
) {
    let activity =
        Arc::new(Activity::new(settings.header_read_timeout, settings.keep_alive_timeout, Instant::now()));
    let io = TokioIo::new(Watched { stream, activity: activity.clone() });
    let tracker = activity.clone();
    let service = hyper::service::service_fn(move |mut request: Request<Incoming>| {
        // What `native::extract::source_ip` and friends read.
        request.extensions_mut().insert(ConnectInfo(peer));
        let in_flight = tracker.request_started();
        let router = gate.router();
        async move {
            let response = match router.oneshot(request).await {
                Ok(response) => response,
                Err(never) => match never {},
            };
            Ok::<_, Infallible>(response.map(|body| Tracked { body, _in_flight: in_flight }))
        }
    });
    let mut builder = http1::Builder::new();
    // hyper's timer would also bound idle keep-alive waits by the header timeout: see the
    // module documentation. `Activity` keeps both.
    builder.keep_alive(true).header_read_timeout(None);
    let conn = builder.serve_connection(io, service);
    tokio::pin!(conn);
    let expired = activity.expired();
    tokio::pin!(expired);
    let mut draining = false;
    loop {
        tokio::select! {
            result = conn.as_mut() => {
                if let Err(e) = result {
                    tracing::debug!(%peer, error = %e, "connection ended with an error");
                }
                return;
            }
            phase = &mut expired => {
                tracing::debug!(%peer, phase, "closing a connection that exceeded its timeout");
                return;
            }
            _ = stopping.wait_for(|stop| *stop), if !draining => {
                conn.as_mut().graceful_shutdown();
                draining = true;
            }
        }
    }
}

/// Which phase a connection is in, from which its deadline follows.
#[derive(Debug)]
struct Activity {
    header_read_timeout: Duration,
    keep_alive_timeout: Duration,
    state: Mutex<Phase>,
    /// Signalled when the last request in flight completes (the watchdog then has a deadline
    /// again).
    idle: Notify,
}

#[derive(Debug)]
struct Phase {
    /// Requests whose responses hyper has not finished with.
    in_flight: usize,
    /// Start of the current head read or idle wait.
    since: Instant,
    /// Bytes of a request head have arrived since the connection went idle (a fresh connection
    /// starts here: it owes a head from the start).
    reading_head: bool,
}

impl Activity {
    fn new(header_read_timeout: Duration, keep_alive_timeout: Duration, now: Instant) -> Self {
        Self {
            header_read_timeout,
            keep_alive_timeout,
            state: Mutex::new(Phase { in_flight: 0, since: now, reading_head: true }),
            idle: Notify::new(),
        }
    }

    fn phase(&self) -> std::sync::MutexGuard<'_, Phase> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Bytes arrived from the client.
    fn bytes_read(&self, now: Instant) {
        let mut phase = self.phase();
        if phase.in_flight == 0 && !phase.reading_head {
            phase.reading_head = true;
            phase.since = now;
        }
    }

    /// hyper parsed a request head; the returned guard ends the request when dropped.
    fn request_started(self: &Arc<Self>) -> InFlight {
        let mut phase = self.phase();
        phase.in_flight += 1;
        phase.reading_head = false;
        InFlight(self.clone())
    }

    fn request_finished(&self, now: Instant) {
        let mut phase = self.phase();
        phase.in_flight = phase.in_flight.saturating_sub(1);
        if phase.in_flight == 0 {
            phase.since = now;
            phase.reading_head = false;
            drop(phase);
            self.idle.notify_one();
        }
    }

    /// The current deadline and the phase's name, or `None` while a request is in flight (its
    /// body has its own deadline; handlers are bounded by the database's timeouts).
    fn deadline(&self) -> Option<(Instant, &'static str)> {
        let phase = self.phase();
        match (phase.in_flight, phase.reading_head) {
            (0, true) => Some((phase.since + self.header_read_timeout, "reading the request head")),
            (0, false) => Some((phase.since + self.keep_alive_timeout, "idle keep-alive")),
            _ => None,
        }
    }

    /// Completes when the connection's current phase outlives its deadline.
    async fn expired(&self) -> &'static str {
        loop {
            match self.deadline() {
                // `notify_one` keeps a permit if the request ends before this waits.
                None => self.idle.notified().await,
                Some((deadline, phase)) if deadline <= Instant::now() => return phase,
                // The phase may have moved on meanwhile: look again when this deadline passes.
                Some((deadline, _)) => tokio::time::sleep_until(deadline).await,
            }
        }
    }
}

/// Ends its request when dropped: hyper drops a response's body once it has written it (or
/// given up), and a request's future if the connection goes away first.
#[derive(Debug)]
struct InFlight(Arc<Activity>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.request_finished(Instant::now());
    }
}

/// A response body that keeps its request in flight while hyper writes it.
#[derive(Debug)]
struct Tracked {
    body: Body,
    _in_flight: InFlight,
}

impl HttpBody for Tracked {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, axum::Error>>> {
        Pin::new(&mut self.body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.body.size_hint()
    }
}

/// The client's socket, reporting arriving bytes to the connection's [`Activity`].
#[derive(Debug)]
struct Watched {
    stream: TcpStream,
    activity: Arc<Activity>,
}

impl AsyncRead for Watched {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.stream).poll_read(cx, buf);
        if matches!(polled, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.activity.bytes_read(Instant::now());
        }
        polled
    }
}

impl AsyncWrite for Watched {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEAD: &str = "reading the request head";
    const IDLE: &str = "idle keep-alive";

    #[tokio::test]
    async fn each_phase_has_its_deadline() {
        let (second, start) = (Duration::from_secs(1), Instant::now());
        let activity = Arc::new(Activity::new(second, 5 * second, start));
        assert_eq!(activity.deadline(), Some((start + second, HEAD)), "a fresh connection owes a head");
        let request = activity.request_started();
        assert_eq!(activity.deadline(), None, "a request in flight has no connection deadline");
        activity.bytes_read(start + second);
        assert_eq!(activity.deadline(), None, "body bytes do not start a head");
        let second_request = activity.request_started();
        drop(request);
        assert_eq!(activity.deadline(), None, "idle only when no request is in flight");
        drop(second_request);
        let (deadline, phase) = activity.deadline().expect("idle");
        assert_eq!(phase, IDLE);
        assert!(deadline >= start + 5 * second, "idle from the last response");
        let later = Instant::now() + second;
        activity.bytes_read(later);
        assert_eq!(activity.deadline(), Some((later + second, HEAD)), "a head from its first byte");
        activity.bytes_read(later + second / 2);
        assert_eq!(activity.deadline(), Some((later + second, HEAD)), "later bytes do not extend it");
    }

    #[tokio::test]
    async fn the_watchdog_fires_once_the_deadline_has_passed() {
        let long_ago = Instant::now() - Duration::from_secs(10);
        let activity = Activity::new(Duration::from_secs(1), Duration::from_secs(5), long_ago);
        assert_eq!(activity.expired().await, HEAD);
    }
}
