//! A small lab of Linux network namespaces, for enforcement tests that send real packets.
//!
//! Rules the agent installs only prove something once packets meet them, and a test must not
//! touch the machine's own network to see that. A [`Lab`] builds a private network instead: one
//! "switch" namespace holding a Linux bridge, and any number of "host" namespaces ([`Host`]),
//! each with an `eth0` cabled to that bridge. A test puts an agent (or an nftables script) into
//! one host and probes it from another with [`Host::tcp_probe`], [`Host::udp_probe`] and
//! [`Host::ping`], which tell a connection that went through ([`Probe::Open`]) from one that was
//! rejected ([`Probe::Refused`]) or dropped ([`Probe::Silent`]).
//!
//! Needs root (`CAP_SYS_ADMIN` and `CAP_NET_ADMIN`) and the `ip`, `nft` and `ping` (iputils)
//! programs. Namespaces are made with `ip netns add`, so they show in `ip netns list` and
//! `ip netns exec NAME …` works on them; dropping the [`Lab`] deletes them all, which also
//! removes their veth pairs.
//!
//! Sockets are made inside a namespace without `unsafe` code: a freshly spawned thread joins the
//! namespace with `setns(2)` (through `nix`) and creates the socket there. A socket stays in the
//! namespace it was created in, whichever thread uses it later.

use std::fs::File;
use std::io::{self, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::Duration;

use ipnet::IpNet;
use nix::errno::Errno;
use nix::sched::CloneFlags;

/// Numbers the namespaces of this process, so that concurrent tests (and concurrent labs) never
/// pick the same name.
static NEXT_NAMESPACE: AtomicU32 = AtomicU32::new(0);

/// How long a listener's thread waits between looks at its stop flag: what dropping a
/// [`Listener`] costs at most.
const LISTENER_TICK: Duration = Duration::from_millis(10);

/// A private network of namespaces: a switch (a bridge in a namespace of its own) and the hosts
/// cabled to it.
///
/// The lab owns every namespace it creates and deletes them all when dropped, also while a failed
/// test unwinds, so that a test leaves nothing behind on the machine. [`Host`] handles may
/// outlive it but are useless afterwards.
#[derive(Debug)]
pub struct Lab {
    /// The switch namespace, which holds the bridge `br0`.
    switch: String,
    /// Every namespace created so far, the switch first: what `Drop` deletes.
    namespaces: Vec<String>,
    /// How many hosts were cabled so far: names their bridge ports (`h1`, `h2`, …).
    hosts: u32,
}

impl Lab {
    /// Creates the switch: a namespace holding an up Linux bridge `br0` that hosts are cabled to.
    ///
    /// Namespace names are `pl<pid>-<counter>`, unique per process and counter, so that concurrent
    /// tests and test binaries do not collide; a name left over by an earlier process that had
    /// the same pid is skipped rather than reused.
    pub fn new() -> io::Result<Lab> {
        let switch = new_namespace()?;
        // Owned from here on: any failure below drops the lab, which deletes the namespace.
        let lab = Lab { switch: switch.clone(), namespaces: vec![switch], hosts: 0 };
        ip(&lab.switch, &["link", "add", "br0", "type", "bridge"])?;
        ip(&lab.switch, &["link", "set", "br0", "up"])?;
        Ok(lab)
    }

    /// Creates a host: a new namespace with loopback up and one veth `eth0`, whose peer is a port
    /// of the switch's bridge, holding these addresses (IPv4 and/or IPv6 with their prefix, e.g.
    /// `10.77.0.2/24`, `fd77::2/64`).
    ///
    /// IPv6 addresses are added with `nodad`, so that they are usable at once instead of after
    /// duplicate address detection.
    pub fn host(&mut self, addresses: &[IpNet]) -> io::Result<Host> {
        let name = new_namespace()?;
        self.namespaces.push(name.clone());
        self.hosts += 1;
        // The bridge port's name is only seen in the switch namespace: short and unique there.
        let port = format!("h{}", self.hosts);
        ip(&name, &["link", "set", "lo", "up"])?;
        ip(&name, &["link", "add", "eth0", "type", "veth", "peer", "name", &port, "netns", &self.switch])?;
        ip(&self.switch, &["link", "set", &port, "master", "br0", "up"])?;
        ip(&name, &["link", "set", "eth0", "up"])?;
        for address in addresses {
            let text = address.to_string();
            let mut args = vec!["address", "add", &text, "dev", "eth0"];
            if let IpNet::V6(_) = address {
                args.push("nodad");
            }
            ip(&name, &args)?;
        }
        Ok(Host { name })
    }
}

impl Drop for Lab {
    /// Deletes every namespace of the lab, hosts first; errors are reported on stderr, not raised,
    /// as there is no one to raise them to (and a second panic while unwinding would abort).
    fn drop(&mut self) {
        for name in self.namespaces.iter().rev() {
            match Command::new("ip").args(["netns", "del", name]).output() {
                Ok(output) if output.status.success() => {}
                Ok(output) => eprintln!(
                    "netns lab: `ip netns del {name}` failed: {}",
                    String::from_utf8_lossy(&output.stderr).trim()
                ),
                Err(e) => eprintln!("netns lab: cannot run `ip netns del {name}`: {e}"),
            }
        }
    }
}

/// A host of a [`Lab`]: a network namespace with an `eth0` on the lab's switch.
///
/// A cheap handle (just the namespace's name), so that it can be cloned into tasks; the [`Lab`]
/// owns the namespace itself.
#[derive(Clone, Debug)]
pub struct Host {
    /// The `ip netns` name.
    name: String,
}

impl Host {
    /// The `ip netns` name of the namespace: what `ip netns exec` and `palisade agent --netns` take.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Runs a program inside the namespace (`ip netns exec NAME program args…`) and returns its
    /// output, whatever its exit status: for inspecting the host (`ip addr`, `ss`, …) or starting
    /// tools that do not know about namespaces.
    pub fn exec(&self, program: &str, args: &[&str]) -> io::Result<Output> {
        Command::new("ip").args(["netns", "exec", &self.name, program]).args(args).output()
    }

    /// Loads an nftables script inside the namespace (`nft -f -`), e.g. rules a test wants to
    /// probe against; the error carries nft's stderr when it refuses the script.
    pub fn nft(&self, script: &str) -> io::Result<()> {
        let mut child = Command::new("ip")
            .args(["netns", "exec", &self.name, "nft", "-f", "-"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()?;
        // Write in a block of its own: dropping stdin closes the pipe, so nft sees the end.
        {
            let mut stdin = child.stdin.take().ok_or_else(|| io::Error::other("nft has no stdin"))?;
            stdin.write_all(script.as_bytes())?;
        }
        let output = child.wait_with_output()?;
        if output.status.success() {
            Ok(())
        } else {
            Err(io::Error::other(format!(
                "nft -f - in {} failed ({}): {}",
                self.name,
                output.status,
                String::from_utf8_lossy(&output.stderr).trim()
            )))
        }
    }

    /// The listing of one nftables table inside the namespace (`nft list table FAMILY NAME`):
    /// `Some(text)` when it exists, `None` when it does not, so that a test can see what an
    /// agent installed or removed.
    pub fn nft_table(&self, family: &str, name: &str) -> io::Result<Option<String>> {
        let output = self.exec("nft", &["list", "table", family, name])?;
        let stderr = String::from_utf8_lossy(&output.stderr);
        if output.status.success() {
            Ok(Some(String::from_utf8_lossy(&output.stdout).into_owned()))
        } else if stderr.contains("No such file or directory") {
            Ok(None)
        } else {
            Err(io::Error::other(format!(
                "nft list table {family} {name} in {} failed ({}): {}",
                self.name,
                output.status,
                stderr.trim()
            )))
        }
    }

    /// A TCP service on `PORT` inside the namespace, on IPv6 and IPv4 alike (`[::]`, dual-stack;
    /// `0.0.0.0` where the namespace has no IPv6), that accepts every connection and closes it at
    /// once: enough for [`Host::tcp_probe`] to see the port open. Runs in a background thread
    /// until the returned guard is dropped.
    pub fn tcp_listen(&self, port: u16) -> io::Result<Listener> {
        let listener = self.in_namespace(move || {
            bind_any(port, TcpListener::bind::<SocketAddr>).and_then(|l| {
                l.set_nonblocking(true)?;
                Ok(l)
            })
        })?;
        Listener::spawn(format!("tcp {port} in {}", self.name), move |stop| {
            while !stop.load(Ordering::Relaxed) {
                match listener.accept() {
                    // Dropping the stream closes the connection: the handshake was the point.
                    Ok((stream, _)) => drop(stream),
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => thread::sleep(LISTENER_TICK),
                    Err(e) => {
                        eprintln!("netns lab: accept on tcp port {port}: {e}");
                        thread::sleep(LISTENER_TICK);
                    }
                }
            }
        })
    }

    /// A UDP service on `PORT` inside the namespace (on `[::]`, dual-stack, or `0.0.0.0`) that
    /// sends every datagram back to its sender, so that [`Host::udp_probe`] can tell a port that
    /// is reached from one that is not. Runs in a background thread until the guard is dropped.
    pub fn udp_echo(&self, port: u16) -> io::Result<Listener> {
        let socket = self.in_namespace(move || {
            bind_any(port, UdpSocket::bind::<SocketAddr>).and_then(|s| {
                s.set_read_timeout(Some(LISTENER_TICK))?;
                Ok(s)
            })
        })?;
        Listener::spawn(format!("udp {port} in {}", self.name), move |stop| {
            let mut buf = vec![0; 65536];
            while !stop.load(Ordering::Relaxed) {
                match socket.recv_from(&mut buf) {
                    Ok((n, from)) => {
                        if let Err(e) = socket.send_to(&buf[..n], from) {
                            eprintln!("netns lab: echo on udp port {port} to {from}: {e}");
                        }
                    }
                    Err(e) if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut) => {}
                    Err(e) => {
                        eprintln!("netns lab: receive on udp port {port}: {e}");
                        thread::sleep(LISTENER_TICK);
                    }
                }
            }
        })
    }

    /// Tries to open a TCP connection from inside this namespace, waiting at most `timeout`:
    /// [`Probe::Open`] when it connects, [`Probe::Refused`] when it is actively refused (a TCP
    /// reset, e.g. from nftables' `reject with tcp reset` or a closed port, or an ICMP
    /// unreachable such as `reject with icmpx admin-prohibited`), [`Probe::Silent`] when nothing
    /// answers in time (a `drop`).
    ///
    /// Keep `timeout` short where silence is expected (a few hundred milliseconds are plenty on
    /// a lab's bridge): the probe takes all of it then. But over IPv6, Linux reports an ICMPv6
    /// rejection of a SYN only when it retransmits the SYN, about a second later: give such a
    /// probe more than a second (a `reject with tcp reset` is seen at once on both families).
    pub fn tcp_probe(&self, to: SocketAddr, timeout: Duration) -> io::Result<Probe> {
        let timeout = timeout.max(Duration::from_millis(1));
        self.in_namespace(move || match TcpStream::connect_timeout(&to, timeout) {
            Ok(_) => Ok(Probe::Open),
            Err(e) => classify(e),
        })
    }

    /// Sends one datagram from inside this namespace and waits at most `timeout` for it to come
    /// back (from a [`Host::udp_echo`]): [`Probe::Open`] when it does, [`Probe::Refused`] when an
    /// ICMP port or admin unreachable answers (which a connected UDP socket reports as an error,
    /// e.g. ECONNREFUSED), [`Probe::Silent`] when nothing comes back.
    pub fn udp_probe(&self, to: SocketAddr, timeout: Duration) -> io::Result<Probe> {
        let timeout = timeout.max(Duration::from_millis(1));
        self.in_namespace(move || {
            let local: SocketAddr = match to {
                SocketAddr::V4(_) => (Ipv4Addr::UNSPECIFIED, 0).into(),
                SocketAddr::V6(_) => (Ipv6Addr::UNSPECIFIED, 0).into(),
            };
            let socket = UdpSocket::bind(local)?;
            // Connected, so that ICMP errors about the destination are reported on the socket.
            socket.connect(to)?;
            socket.set_read_timeout(Some(timeout))?;
            let payload = b"palisade netns lab probe";
            if let Err(e) = socket.send(payload) {
                return classify(e);
            }
            let mut buf = [0; 64];
            match socket.recv(&mut buf) {
                Ok(n) if buf[..n] == payload[..] => Ok(Probe::Open),
                Ok(n) => Err(io::Error::other(format!(
                    "udp probe to {to}: unexpected answer {:?}",
                    String::from_utf8_lossy(&buf[..n])
                ))),
                Err(e) => classify(e),
            }
        })
    }

    /// Sends one ICMP (or ICMPv6) echo request from inside this namespace with iputils'
    /// `ping -c 1 -W SECONDS` and says whether it was answered within `timeout`.
    pub fn ping(&self, to: IpAddr, timeout: Duration) -> io::Result<bool> {
        let family = if to.is_ipv4() { "-4" } else { "-6" };
        let wait = format!("{:.3}", timeout.max(Duration::from_millis(1)).as_secs_f64());
        let to = to.to_string();
        let output = self.exec("ping", &[family, "-n", "-q", "-c", "1", "-W", &wait, &to])?;
        match output.status.code() {
            Some(0) => Ok(true),
            // 1: sent, but no answer (or the send itself was filtered).
            Some(1) => Ok(false),
            _ => Err(io::Error::other(format!(
                "ping {to} in {} failed ({}): {}",
                self.name,
                output.status,
                String::from_utf8_lossy(&output.stderr).trim()
            ))),
        }
    }

    /// Runs `f` on a fresh thread that joined this namespace first, and returns its result: how
    /// sockets are created inside the namespace (the calling thread stays where it is).
    fn in_namespace<T, F>(&self, f: F) -> io::Result<T>
    where
        T: Send + 'static,
        F: FnOnce() -> io::Result<T> + Send + 'static,
    {
        let file = File::open(Path::new("/run/netns").join(&self.name))?;
        let handle = thread::Builder::new().name(format!("netns {}", self.name)).spawn(move || {
            nix::sched::setns(&file, CloneFlags::CLONE_NEWNET)?;
            // Only this thread moved: the namespace file is no longer needed.
            drop(file);
            f()
        })?;
        handle.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic))
    }
}

/// What a probe saw.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Probe {
    /// The connection was made (TCP) or the datagram echoed (UDP).
    Open,
    /// Actively refused: a TCP reset or an ICMP destination-unreachable came back.
    Refused,
    /// Nothing came back in time: the packets were dropped somewhere.
    Silent,
}

impl Probe {
    /// Whether the traffic went through, for tests that only care about allowed versus not.
    pub fn passed(self) -> bool {
        self == Probe::Open
    }
}

/// A background service started by [`Host::tcp_listen`] or [`Host::udp_echo`].
///
/// Dropping it stops the thread and waits for it (at most a few milliseconds), which closes the
/// socket: a test's services end with the test.
#[derive(Debug)]
pub struct Listener {
    /// Set on drop; the thread looks at it between short waits.
    stop: Arc<AtomicBool>,
    /// The serving thread, joined on drop.
    thread: Option<JoinHandle<()>>,
}

impl Listener {
    /// Starts `serve` on a thread of its own; it must return soon after the flag it is given is
    /// set.
    fn spawn(name: String, serve: impl FnOnce(&AtomicBool) + Send + 'static) -> io::Result<Listener> {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let thread = thread::Builder::new().name(name).spawn(move || serve(&flag))?;
        Ok(Listener { stop, thread: Some(thread) })
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            if thread.join().is_err() {
                eprintln!("netns lab: a listener thread panicked");
            }
        }
    }
}

/// Reserves a fresh namespace name and creates the namespace (`ip netns add`).
fn new_namespace() -> io::Result<String> {
    loop {
        let name = format!("pl{}-{}", std::process::id(), NEXT_NAMESPACE.fetch_add(1, Ordering::Relaxed));
        // Left over by a process that had our pid and died before cleaning up: not ours to delete.
        if Path::new("/run/netns").join(&name).exists() {
            continue;
        }
        run(Command::new("ip").args(["netns", "add", &name]))?;
        return Ok(name);
    }
}

/// `ip -n NAMESPACE args…`, failing with ip's stderr.
fn ip(namespace: &str, args: &[&str]) -> io::Result<()> {
    run(Command::new("ip").args(["-n", namespace]).args(args))
}

/// Runs a command to completion, failing with its stderr unless it succeeds.
fn run(command: &mut Command) -> io::Result<()> {
    let output = command.output()?;
    if output.status.success() {
        Ok(())
    } else {
        Err(io::Error::other(format!(
            "{command:?} failed ({}): {}",
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        )))
    }
}

/// Binds on `[::]:port` (dual-stack: IPv4 arrives as mapped addresses), or on `0.0.0.0:port` if
/// the namespace has no IPv6.
fn bind_any<S>(port: u16, bind: impl Fn(SocketAddr) -> io::Result<S>) -> io::Result<S> {
    match bind((Ipv6Addr::UNSPECIFIED, port).into()) {
        Err(e) if e.raw_os_error() == Some(Errno::EAFNOSUPPORT as i32) => {
            bind((Ipv4Addr::UNSPECIFIED, port).into())
        }
        result => result,
    }
}

/// What a probe's socket error means: refused for a reset or an ICMP unreachable, silent for a
/// timeout or a send that a local filter dropped; anything else is a real error.
fn classify(e: io::Error) -> io::Result<Probe> {
    match e.raw_os_error().map(Errno::from_raw) {
        // A TCP reset, or ICMP port unreachable.
        Some(Errno::ECONNREFUSED) => Ok(Probe::Refused),
        // ICMP host unreachable or admin prohibited (IPv4), admin prohibited (IPv6). A neighbour
        // that never answers also ends so, but only after seconds, past any sensible timeout.
        Some(Errno::EHOSTUNREACH | Errno::EACCES) => Ok(Probe::Refused),
        // Nothing came back in time.
        Some(Errno::ETIMEDOUT | Errno::EAGAIN | Errno::EINPROGRESS) => Ok(Probe::Silent),
        // A netfilter rule in this namespace's output path dropped the packet before it left.
        Some(Errno::EPERM) => Ok(Probe::Silent),
        _ if e.kind() == io::ErrorKind::TimedOut => Ok(Probe::Silent),
        _ => Err(e),
    }
}
