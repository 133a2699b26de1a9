//! The network-namespace lab (`palisade_testkit::netns`) with real packets: two hosts on the
//! lab's switch reach each other over TCP, UDP and ICMP on both families, an nftables table in
//! one of them makes the probes see dropped (silent) and rejected (refused) traffic, and the
//! namespaces are gone once the lab is dropped, also when a test panics.
//!
//! Needs root and the `ip`, `nft` and `ping` programs.

#![allow(clippy::unwrap_used)]

use std::net::{IpAddr, SocketAddr};
use std::process::Command;
use std::time::Duration;

use palisade_testkit::netns::{Lab, Probe};

/// For probes that should be answered: generous, as they return as soon as they are.
const ANSWERED: Duration = Duration::from_secs(2);
/// For probes that should stay unanswered: each one takes all of it.
const SILENT: Duration = Duration::from_millis(300);

/// The namespaces `ip netns list` shows.
fn namespaces() -> Vec<String> {
    let output = Command::new("ip").args(["netns", "list"]).output().unwrap();
    assert!(output.status.success(), "ip netns list: {}", String::from_utf8_lossy(&output.stderr));
    // Lines are `NAME` or `NAME (id: N)`.
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|line| line.split_whitespace().next())
        .map(str::to_owned)
        .collect()
}

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

#[test]
fn hosts_exchange_real_packets_and_nftables_filters_them() {
    let mut lab = Lab::new().expect("a lab (needs root, iproute2)");
    let a = lab.host(&["10.77.213.1/24".parse().unwrap(), "fd77::1/64".parse().unwrap()]).unwrap();
    let b = lab.host(&["10.77.213.2/24".parse().unwrap(), "fd77::2/64".parse().unwrap()]).unwrap();
    assert_ne!(a.name(), b.name());
    let names = [a.name().to_owned(), b.name().to_owned()];
    for name in &names {
        assert!(namespaces().contains(name), "{name} is not in `ip netns list`");
    }

    let tcp: Vec<_> = [7000, 7001, 7002, 7003].map(|port| b.tcp_listen(port).unwrap()).into();
    let udp: Vec<_> = [7000, 7004, 7005].map(|port| b.udp_echo(port).unwrap()).into();

    // Everything goes through before any rule, on both families.
    for host in ["10.77.213.2", "[fd77::2]"] {
        for port in [7000, 7001, 7002, 7003] {
            let to = addr(&format!("{host}:{port}"));
            assert_eq!(a.tcp_probe(to, ANSWERED).unwrap(), Probe::Open, "tcp {to}");
        }
        for port in [7000, 7004, 7005] {
            let to = addr(&format!("{host}:{port}"));
            assert_eq!(a.udp_probe(to, ANSWERED).unwrap(), Probe::Open, "udp {to}");
        }
        // Nothing listens there: a reset (TCP), an ICMP port unreachable (UDP).
        let closed = addr(&format!("{host}:7009"));
        assert_eq!(a.tcp_probe(closed, ANSWERED).unwrap(), Probe::Refused, "tcp {closed}");
        assert_eq!(a.udp_probe(closed, ANSWERED).unwrap(), Probe::Refused, "udp {closed}");
    }
    assert!(a.ping(ip("10.77.213.2"), ANSWERED).unwrap());
    assert!(a.ping(ip("fd77::2"), ANSWERED).unwrap());
    assert!(b.ping(ip("fd77::1"), ANSWERED).unwrap(), "and the other way");
    // An address no host has: nobody answers.
    assert!(!a.ping(ip("10.77.213.9"), SILENT).unwrap());

    assert_eq!(b.nft_table("inet", "labtest").unwrap(), None);
    // Only echo requests are dropped, not all of ICMPv6: neighbour discovery must keep working.
    b.nft(
        "table inet labtest {
            chain input {
                type filter hook input priority 0; policy accept;
                tcp dport 7001 drop
                tcp dport 7002 reject with tcp reset
                tcp dport 7003 reject with icmpx admin-prohibited
                udp dport 7004 drop
                udp dport 7005 reject with icmpx admin-prohibited
                icmp type echo-request drop
                icmpv6 type echo-request drop
            }
        }",
    )
    .unwrap();
    let table = b.nft_table("inet", "labtest").unwrap().expect("the table just loaded");
    assert!(table.contains("tcp dport 7002 reject with tcp reset"), "{table}");
    assert_eq!(b.nft_table("inet", "nosuchtable").unwrap(), None);
    assert_eq!(a.nft_table("inet", "labtest").unwrap(), None, "only in b");
    assert!(b.nft("this is not nftables").unwrap_err().to_string().contains("Error"));

    for host in ["10.77.213.2", "[fd77::2]"] {
        let probe = |port: u16| addr(&format!("{host}:{port}"));
        assert_eq!(a.tcp_probe(probe(7000), ANSWERED).unwrap(), Probe::Open, "tcp {host} 7000");
        assert_eq!(a.tcp_probe(probe(7001), SILENT).unwrap(), Probe::Silent, "tcp {host} 7001");
        assert_eq!(a.tcp_probe(probe(7002), ANSWERED).unwrap(), Probe::Refused, "tcp {host} 7002");
        // Over IPv6 this takes about a second: the ICMPv6 error counts once the SYN is resent.
        assert_eq!(a.tcp_probe(probe(7003), ANSWERED).unwrap(), Probe::Refused, "tcp {host} 7003");
        assert_eq!(a.udp_probe(probe(7000), ANSWERED).unwrap(), Probe::Open, "udp {host} 7000");
        assert_eq!(a.udp_probe(probe(7004), SILENT).unwrap(), Probe::Silent, "udp {host} 7004");
        assert_eq!(a.udp_probe(probe(7005), ANSWERED).unwrap(), Probe::Refused, "udp {host} 7005");
    }
    assert!(!a.ping(ip("10.77.213.2"), SILENT).unwrap());
    assert!(!a.ping(ip("fd77::2"), SILENT).unwrap());
    assert!(b.ping(ip("10.77.213.1"), ANSWERED).unwrap(), "b's own pings still get answers");
    assert!(Probe::Open.passed() && !Probe::Refused.passed() && !Probe::Silent.passed());

    drop(tcp);
    drop(udp);
    drop(lab);
    let left = namespaces();
    for name in &names {
        assert!(!left.contains(name), "{name} outlived the lab");
    }
    assert!(a.exec("true", &[]).map_or(true, |output| !output.status.success()));
}

#[test]
fn a_panicking_test_still_removes_its_namespaces() {
    let (tx, rx) = std::sync::mpsc::channel();
    let panicked = std::panic::catch_unwind(move || {
        let mut lab = Lab::new().expect("a lab (needs root, iproute2)");
        let host = lab.host(&["10.77.214.1/24".parse().unwrap()]).unwrap();
        let _listener = host.tcp_listen(7000).unwrap();
        tx.send(host.name().to_owned()).unwrap();
        panic!("a failed check");
    });
    assert!(panicked.is_err());
    let name = rx.recv().unwrap();
    assert!(!namespaces().contains(&name), "{name} outlived the panic");
}
