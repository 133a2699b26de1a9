//! What a new flow costs at the receiving host's `input` hook when 50,000 remote addresses are
//! allowed: one interval set (`ip saddr @remotes`, what the agent compiles) against a linear
//! chain of one rule per address (what an iptables-style compiler would produce).
//!
//! A lab of network namespaces on a bridge ([`palisade_testkit::netns`]): a client (10.78.0.1)
//! and, for each measured row, a fresh server (10.78.0.10, .11, …: a new namespace, so that no
//! conntrack entry of an earlier row is found) with a TCP listener on port 7000 and a UDP echo
//! on port 7000. The server's `inet` table is, in turn:
//!
//! - none at all: the ceiling (no netfilter, and no conntrack, in that namespace);
//! - conntrack only: `ct state established,related accept`, nothing else, to tell what tracking a
//!   flow costs from what matching its address costs;
//! - the set: `ct state established,related accept; ip saddr @remotes tcp dport 7000 accept;
//!   drop`, `remotes` an interval set of `addresses` random /32s in 10.128.0.0/9 plus the client;
//! - the linear chain: the same addresses as one `ip saddr X tcp dport 7000 accept` rule each,
//!   the client's last (the worst case: every new flow walks the whole chain), then `drop`.
//!
//! Conntrack lets a flow's later packets through at the first rule, so only a flow's first packet
//! meets the address rules: the measure is new flows. One thread inside the client namespace
//! connects and closes as fast as it can, up to `max_connects` connections or `seconds` seconds
//! per configuration; the client closes with `SO_LINGER` 0 (a reset, no `TIME_WAIT`), so that
//! its ephemeral ports never run out and each port's next SYN starts a new conntrack entry. The
//! UDP variant sends one datagram from a fresh socket on a source port not used before in that
//! row and waits for its echo. Printed per row: the mean time of a flow (1 / rate) and its
//! median, which a busy machine disturbs less; the extra cost of each table is taken from the
//! medians. Both chains end in `drop`, so a connection that succeeds went through the accept
//! rule; a third host, not in the set, is checked to be dropped. Needs root, `ip` and `nft`.

use std::fmt::Write as _;
use std::fs::File;
use std::io;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, TcpStream, UdpSocket};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use ipnet::{IpNet, Ipv4Net};
use nix::sched::CloneFlags;
use palisade_testkit::netns::{Host, Lab, Probe};
use socket2::{Domain, Protocol, SockAddr, Socket, Type};

const CLIENT: Ipv4Addr = Ipv4Addr::new(10, 78, 0, 1);
/// The first row's server; the next rows' count up from it.
const FIRST_SERVER: u8 = 10;
/// In the lab but not in the set: must be dropped, which shows the chains really filter.
const STRANGER: Ipv4Addr = Ipv4Addr::new(10, 78, 0, 3);
const PORT: u16 = 7000;
const TABLE: &str = "palisade_bench";
/// How long one connect (or one datagram's echo) may take before it counts as failed: far
/// beyond a flow through the slowest chain, well below a SYN retransmission.
const FLOW_TIMEOUT: Duration = Duration::from_millis(500);
/// Flows before each measured run, not counted: caches, neighbour entries, the listener's thread.
const WARM_UP: usize = 200;
/// UDP source ports handed out, each once in a row: a reused port could find its old conntrack
/// entry (30 s) and skip the rules.
const UDP_PORTS: std::ops::RangeInclusive<u16> = 10_000..=65_000;

#[derive(Debug, Clone, Copy)]
pub struct Plan {
    /// Remote addresses in the set and in the chain, besides the client.
    pub addresses: usize,
    /// Upper bound on the flows of one configuration.
    pub max_connects: usize,
    /// Upper bound on the time of one configuration.
    pub seconds: u64,
    /// Also measure new UDP flows.
    pub udp: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Config {
    Ceiling,
    Conntrack,
    Set,
    Linear,
}

const CONFIGS: [Config; 4] = [Config::Ceiling, Config::Conntrack, Config::Set, Config::Linear];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Proto {
    Tcp,
    Udp,
}

impl Proto {
    fn name(self) -> &'static str {
        match self {
            Proto::Tcp => "tcp",
            Proto::Udp => "udp",
        }
    }
}

/// What one configuration measured.
#[derive(Debug)]
struct Row {
    config: Config,
    load: Option<Duration>,
    flows: Flows,
}

pub fn run(plan: Plan) -> anyhow::Result<()> {
    anyhow::ensure!(plan.addresses <= 4_000_000, "--addresses: at most 4,000,000 (they come from a /9)");
    anyhow::ensure!(plan.max_connects > 0 && plan.seconds > 0, "--max-connects and --seconds must be > 0");
    let remotes = remotes(plan.addresses);
    let budget = Duration::from_secs(plan.seconds);

    let mut lab = Lab::new().context("creating the lab (root, ip and nft needed)")?;
    let client = lab.host(&[net(CLIENT)])?;
    let stranger = lab.host(&[net(STRANGER)])?;

    let mut protos = vec![Proto::Tcp];
    if plan.udp {
        protos.push(Proto::Udp);
    }
    let mut next_server = FIRST_SERVER;
    for proto in protos {
        let mut rows = Vec::new();
        for config in CONFIGS {
            let address = Ipv4Addr::new(10, 78, 0, next_server);
            next_server += 1;
            let server = lab.host(&[net(address)])?;
            // Dropped (stopped and joined) at the end of the row, before the lab.
            let _tcp = TcpService::start(&server, PORT)?;
            let _udp = server.udp_echo(PORT)?;
            let to = SocketAddr::V4(SocketAddrV4::new(address, PORT));
            let load = match script(config, proto, &remotes) {
                Some(text) => {
                    let started = Instant::now();
                    server.nft(&text).with_context(|| format!("loading the {config:?} table"))?;
                    Some(started.elapsed())
                }
                None => None,
            };
            let max = plan.max_connects;
            let flows = match proto {
                Proto::Tcp => in_namespace(&client, move || tcp_flows(to, WARM_UP, max, budget))?,
                Proto::Udp => in_namespace(&client, move || udp_flows(to, WARM_UP, max, budget))?,
            };
            anyhow::ensure!(flows.flows > 0, "{config:?} ({}): no flow went through", proto.name());
            if matches!(config, Config::Set | Config::Linear) {
                let probe = match proto {
                    Proto::Tcp => stranger.tcp_probe(to, Duration::from_millis(300))?,
                    Proto::Udp => stranger.udp_probe(to, Duration::from_millis(300))?,
                };
                anyhow::ensure!(
                    probe == Probe::Silent,
                    "{config:?} ({}): {STRANGER}, not in the set, was not dropped: {probe:?}",
                    proto.name()
                );
            }
            rows.push(Row { config, load, flows });
        }
        print(plan, proto, &rows);
    }
    Ok(())
}

fn print(plan: Plan, proto: Proto, rows: &[Row]) {
    let n = thousands(plan.addresses);
    let (what, unit) = match proto {
        Proto::Tcp => ("new TCP connections/s", "connects/s"),
        Proto::Udp => ("new UDP flows/s (a datagram from a fresh socket and its echo)", "flows/s"),
    };
    println!("packets: {what} through the input hook, {n} remote addresses (client matched last)");
    println!(
        "  {:<31} {:>13} {:>7} {:>10} {:>13} {:>12} {:>10}",
        "configuration", "load (nft -f)", "flows", unit, "µs/flow mean", "µs/flow p50", "vs ceiling"
    );
    let ceiling = rows.iter().find(|r| r.config == Config::Ceiling);
    for row in rows {
        let label = match row.config {
            Config::Ceiling => "no table (ceiling)".to_owned(),
            Config::Conntrack => "conntrack only (ct accept)".to_owned(),
            Config::Set => format!("set (interval, {n} + 1)"),
            Config::Linear => format!("linear chain ({n} + 1 rules)"),
        };
        let f = &row.flows;
        let load = row.load.map_or_else(|| "-".to_owned(), |d| format!("{:.2} s", d.as_secs_f64()));
        let ratio = ceiling.map_or(f64::NAN, |c| f.rate() / c.flows.rate());
        let failed = if f.failed > 0 { format!("  ({} timed out)", f.failed) } else { String::new() };
        println!(
            "  {label:<31} {load:>13} {:>7} {:>10.0} {:>13.1} {:>12.1} {:>9.2}x{failed}",
            f.flows,
            f.rate(),
            f.mean_micros(),
            micros(f.median),
            ratio
        );
    }
    let p50 = |config| rows.iter().find(|r| r.config == config).map_or(f64::NAN, |r| micros(r.flows.median));
    let (base, ct, set, linear) =
        (p50(Config::Ceiling), p50(Config::Conntrack), p50(Config::Set), p50(Config::Linear));
    println!(
        "  extra µs per new flow over the ceiling (p50): conntrack only {:+.1}, set {:+.1}, linear chain {:+.1}",
        ct - base,
        set - base,
        linear - base
    );
    println!(
        "  beyond conntrack, finding the client among {n} + 1 addresses (p50): set {:+.1} µs, linear chain {:+.1} µs",
        set - ct,
        linear - ct,
    );
    println!(
        "  ({STRANGER}, not in the set, was dropped by both chains; each row: a fresh server namespace, at most {} flows or {} s)",
        plan.max_connects, plan.seconds
    );
}

fn micros(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

/// `count` distinct random /32s in 10.128.0.0/9 (never the lab's 10.78.0.0/24), reproducibly.
fn remotes(count: usize) -> Vec<Ipv4Addr> {
    let mut seen = std::collections::HashSet::with_capacity(count);
    let mut out = Vec::with_capacity(count);
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    while out.len() < count {
        // xorshift64*: plenty random for picking addresses.
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        let r = state.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 32;
        let address = Ipv4Addr::from(0x0a80_0000 | (r as u32 & 0x007f_ffff));
        if seen.insert(address) {
            out.push(address);
        }
    }
    out
}

/// The server's table for `config`, or `None` for no table at all.
fn script(config: Config, proto: Proto, remotes: &[Ipv4Addr]) -> Option<String> {
    let p = proto.name();
    let mut text = format!(
        "table inet {TABLE} {{\n  chain input {{\n    type filter hook input priority filter; policy accept;\n    ct state established,related accept\n"
    );
    match config {
        Config::Ceiling => return None,
        Config::Conntrack => {}
        Config::Set => {
            let _ = writeln!(text, "    ip saddr @remotes {p} dport {PORT} accept\n    drop");
        }
        Config::Linear => {
            for address in remotes.iter().chain([&CLIENT]) {
                let _ = writeln!(text, "    ip saddr {address} {p} dport {PORT} accept");
            }
            text.push_str("    drop\n");
        }
    }
    text.push_str("  }\n");
    if config == Config::Set {
        text.push_str("  set remotes {\n    type ipv4_addr\n    flags interval\n    elements = {");
        for (i, address) in remotes.iter().chain([&CLIENT]).enumerate() {
            let sep = if i % 8 == 0 { "\n      " } else { " " };
            let _ = write!(text, "{sep}{address},");
        }
        text.push_str("\n    }\n  }\n");
    }
    text.push_str("}\n");
    Some(text)
}

/// What one run of flows did.
#[derive(Debug)]
struct Flows {
    /// Flows that went through.
    flows: usize,
    /// Flows that timed out.
    failed: usize,
    /// The whole run.
    elapsed: Duration,
    /// The median time of one successful flow.
    median: Duration,
}

impl Flows {
    fn rate(&self) -> f64 {
        self.flows as f64 / self.elapsed.as_secs_f64()
    }

    /// Mean wall time of one flow (single-threaded client, so 1 / rate), in µs.
    fn mean_micros(&self) -> f64 {
        if self.flows == 0 {
            return f64::NAN;
        }
        micros(self.elapsed) / self.flows as f64
    }
}

/// Connect + close (a reset: `SO_LINGER` 0) to `to`, `warm_up` times unmeasured, then up to `max`
/// times or for `budget`, whichever ends first. Runs on the calling thread: call it inside the
/// client's namespace.
fn tcp_flows(to: SocketAddr, warm_up: usize, max: usize, budget: Duration) -> io::Result<Flows> {
    let once = || -> io::Result<Option<bool>> {
        match TcpStream::connect_timeout(&to, FLOW_TIMEOUT) {
            Ok(stream) => {
                socket2::SockRef::from(&stream).set_linger(Some(Duration::ZERO))?;
                Ok(Some(true))
            }
            Err(e) if matches!(e.kind(), io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock) => {
                Ok(Some(false))
            }
            Err(e) => Err(e),
        }
    };
    warmed_up(warm_up, max, budget, once)
}

/// `once` `warm_up` times unmeasured (stopping at the first flow that does not pass), then
/// [`repeat`].
fn warmed_up(
    warm_up: usize,
    max: usize,
    budget: Duration,
    mut once: impl FnMut() -> io::Result<Option<bool>>,
) -> io::Result<Flows> {
    for _ in 0..warm_up {
        if once()? != Some(true) {
            break;
        }
    }
    repeat(max, budget, once)
}

/// One datagram from a fresh socket on a source port not used before (from the start of
/// [`UDP_PORTS`] on) to the echo at `to`, and its echo, `warm_up` times unmeasured, then up to
/// `max` times or for `budget`; stops early when the ports run out.
fn udp_flows(to: SocketAddr, warm_up: usize, max: usize, budget: Duration) -> io::Result<Flows> {
    let mut port = *UDP_PORTS.start();
    let mut once = || -> io::Result<Option<bool>> {
        let socket = loop {
            if port > *UDP_PORTS.end() {
                return Ok(None);
            }
            let p = port;
            port += 1;
            match UdpSocket::bind((CLIENT, p)) {
                Ok(socket) => break socket,
                Err(e) if e.kind() == io::ErrorKind::AddrInUse => continue,
                Err(e) => return Err(e),
            }
        };
        socket.connect(to)?;
        socket.set_read_timeout(Some(FLOW_TIMEOUT))?;
        socket.send(b"palisade packets bench")?;
        let mut buf = [0; 64];
        match socket.recv(&mut buf) {
            Ok(_) => Ok(Some(true)),
            Err(e) if matches!(e.kind(), io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock) => {
                Ok(Some(false))
            }
            Err(e) => Err(e),
        }
    };
    let flows = warmed_up(warm_up, max, budget, &mut once)?;
    if port > *UDP_PORTS.end() {
        eprintln!("packets: UDP source ports {UDP_PORTS:?} ran out; the row has fewer flows");
    }
    Ok(flows)
}

/// Runs `once` until it has run `max` times, `budget` has passed or it says stop (`None`);
/// counts its successes (`Some(true)`) and failures (`Some(false)`), and the time they took.
fn repeat(
    max: usize,
    budget: Duration,
    mut once: impl FnMut() -> io::Result<Option<bool>>,
) -> io::Result<Flows> {
    let started = Instant::now();
    let mut times = Vec::with_capacity(max.min(1 << 20));
    let mut failed = 0;
    let mut elapsed = Duration::ZERO;
    while times.len() + failed < max && elapsed < budget {
        let before = elapsed;
        match once()? {
            Some(true) => {
                elapsed = started.elapsed();
                times.push(elapsed - before);
            }
            Some(false) => {
                failed += 1;
                elapsed = started.elapsed();
            }
            None => break,
        }
    }
    times.sort_unstable();
    let median = times.get(times.len() / 2).copied().unwrap_or_default();
    Ok(Flows { flows: times.len(), failed, elapsed, median })
}

/// Runs `f` on a fresh thread that joined `host`'s network namespace first, and waits for it:
/// sockets it makes live in that namespace, and its loop runs there without a thread per flow.
fn in_namespace<T, F>(host: &Host, f: F) -> anyhow::Result<T>
where
    T: Send + 'static,
    F: FnOnce() -> io::Result<T> + Send + 'static,
{
    let file = File::open(Path::new("/run/netns").join(host.name()))?;
    let thread = thread::Builder::new().name(format!("netns {}", host.name())).spawn(move || {
        nix::sched::setns(&file, CloneFlags::CLONE_NEWNET)?;
        drop(file);
        f()
    })?;
    let result =
        thread.join().map_err(|_| anyhow::anyhow!("a thread in namespace {} panicked", host.name()))?;
    Ok(result?)
}

/// A TCP listener in a namespace whose thread accepts and closes connections as soon as they
/// arrive (a blocking accept, unlike the testkit's polling one, and a deep backlog), until
/// dropped.
#[derive(Debug)]
struct TcpService {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl TcpService {
    fn start(host: &Host, port: u16) -> anyhow::Result<TcpService> {
        let listener = in_namespace(host, move || {
            let socket = Socket::new(Domain::IPV4, Type::STREAM, Some(Protocol::TCP))?;
            socket.set_reuse_address(true)?;
            socket.bind(&SockAddr::from(SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, port)))?;
            socket.listen(4096)?;
            // SO_RCVTIMEO bounds accept(2) on Linux: how often the thread looks at its stop flag.
            socket.set_read_timeout(Some(Duration::from_millis(50)))?;
            Ok(socket)
        })?;
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let thread =
            thread::Builder::new().name(format!("tcp {port} in {}", host.name())).spawn(move || {
                while !flag.load(Ordering::Relaxed) {
                    match listener.accept() {
                        Ok((stream, _)) => drop(stream),
                        Err(e)
                            if matches!(
                                e.kind(),
                                io::ErrorKind::WouldBlock
                                    | io::ErrorKind::TimedOut
                                    | io::ErrorKind::Interrupted
                            ) => {}
                        Err(e) => {
                            eprintln!("packets: accept on tcp port {port}: {e}");
                            thread::sleep(Duration::from_millis(10));
                        }
                    }
                }
            })?;
        Ok(TcpService { stop, thread: Some(thread) })
    }
}

impl Drop for TcpService {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            if thread.join().is_err() {
                eprintln!("packets: the listener thread panicked");
            }
        }
    }
}

fn net(address: Ipv4Addr) -> IpNet {
    IpNet::V4(Ipv4Net::new(address, 24).unwrap_or_default())
}

/// 50000 → "50,000".
fn thousands(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}
