//! The nftables compiler and `nft -f` at Neutron's published worst case: a host ruleset
//! equivalent to 85,000 iptables rules (Neutron's diff-based `iptables-restore` took 12.8 s).
//!
//! The policy: `rules` rules on one interface (TCP, one port each, every tenth a port range),
//! their remotes drawn from `sets` address sets, one of which holds `big_set` addresses (the
//! equivalent of one iptables rule per address in a linear chain). Printed: compile time
//! (policy → script), the script's size, and `nft -f` apply time into a network namespace the
//! benchmark creates and deletes: the first apply, a replace of the whole table (what every
//! policy change costs the agent), and the same replace with `nft -c` (check only) beside it.
//!
//! Then the same at what "85,000 iptables rules" means for Neutron's iptables driver, where a
//! rule with a remote group is one iptables rule per remote address: `rules / remote` rules
//! each naming its own set of `remote` addresses (850 × 100), one nft rule each with its
//! addresses in a set, as Palisade compiles them.
//!
//! Needs root, `ip` and `nft`.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::net::{IpAddr, Ipv4Addr};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use palisade_dataplane::{script, EffectivePolicy, Interface, PortRange, Rule, Verdict};

use crate::measure::ms;

#[derive(Debug, Clone, Copy)]
pub struct Plan {
    pub rules: usize,
    pub sets: usize,
    pub big_set: usize,
    pub repeats: usize,
    /// Every set this size (and one set per rule) instead of `big_set` and small ones.
    pub uniform: Option<usize>,
}

fn policy(plan: Plan, revision: u64) -> EffectivePolicy {
    let mut sets = BTreeMap::new();
    for s in 0..plan.sets.max(1) {
        let size = match plan.uniform {
            Some(size) => size,
            None if s == 0 => plan.big_set,
            None => 1 + s % 64,
        };
        let nets = (0..size)
            .map(|i| {
                let n = u32::try_from(s * 1_000_003 + i * 4).unwrap_or(0);
                let address = Ipv4Addr::from(0x0a00_0000 | (n & 0x00ff_ffff));
                ipnet::IpNet::from(IpAddr::V4(address))
            })
            .collect();
        sets.insert(format!("set_{s:05}"), nets);
    }
    let rules = (0..plan.rules)
        .map(|r| {
            let port = u16::try_from(1 + r % 60_000).unwrap_or(1);
            let to = if r % 10 == 0 { port.saturating_add(9) } else { port };
            Rule {
                rule_id: format!("r{r}"),
                action: if r % 7 == 0 { Verdict::Deny } else { Verdict::Allow },
                protocol: "tcp".into(),
                ports: vec![PortRange { from: port, to }],
                icmp_type: None,
                icmp_code: None,
                ip_version: None,
                remote_set: format!("set_{:05}", r % plan.sets.max(1)),
            }
        })
        .collect();
    let interface = Interface {
        interface_id: "i0".into(),
        addresses: vec!["192.0.2.10".parse().unwrap_or(IpAddr::V4(Ipv4Addr::LOCALHOST))],
        governed: true,
        ingress: rules,
        egress: Vec::new(),
        defaults: palisade_dataplane::Defaults { ingress: Verdict::Deny, egress: Verdict::Allow },
    };
    EffectivePolicy { revision, server_id: "bench".into(), interfaces: vec![interface], sets }
}

/// A network namespace of the benchmark's own, deleted when dropped.
struct Netns(String);

impl Netns {
    fn create() -> anyhow::Result<Self> {
        let name = format!("palisade-bench-{}", std::process::id());
        let status = Command::new("ip").args(["netns", "add", &name]).status()?;
        anyhow::ensure!(status.success(), "ip netns add {name} failed (root and iproute2 needed)");
        Ok(Netns(name))
    }

    /// `nft -f -` (or `nft -c -f -`) inside the namespace, timed.
    fn nft(&self, text: &str, check_only: bool) -> anyhow::Result<Duration> {
        let mut args = vec!["netns", "exec", &self.0, "nft"];
        if check_only {
            args.push("-c");
        }
        args.extend(["-f", "-"]);
        let started = Instant::now();
        let mut child = Command::new("ip")
            .args(&args)
            .stdin(Stdio::piped())
            .stderr(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()?;
        if let Some(mut stdin) = child.stdin.take() {
            stdin.write_all(text.as_bytes())?;
        }
        let out = child.wait_with_output()?;
        let took = started.elapsed();
        anyhow::ensure!(out.status.success(), "nft: {}", String::from_utf8_lossy(&out.stderr));
        Ok(took)
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "delete", &self.0]).status();
    }
}

fn median(mut times: Vec<Duration>) -> Duration {
    times.sort();
    times.get(times.len() / 2).copied().unwrap_or_default()
}

pub fn run(plan: Plan, iptables_equivalent: usize, remote: usize) -> anyhow::Result<()> {
    println!(
        "palisade dataplane: {} rules, {} address sets (the largest {} addresses), median of {}",
        plan.rules, plan.sets, plan.big_set, plan.repeats
    );
    measure(plan)?;
    let rules = (iptables_equivalent / remote.max(1)).max(1);
    println!(
        "palisade dataplane: {iptables_equivalent} iptables-rule equivalent: {rules} rules × {remote} remote addresses each (one iptables rule per rule and address without ipsets), median of {}",
        plan.repeats
    );
    measure(Plan { rules, sets: rules, big_set: remote, repeats: plan.repeats, uniform: Some(remote) })
}

fn measure(plan: Plan) -> anyhow::Result<()> {
    let mut compiles = Vec::new();
    let mut text = String::new();
    for revision in 0..plan.repeats.max(1) {
        let p = policy(plan, revision as u64);
        let started = Instant::now();
        text = script(&p).map_err(|e| anyhow::anyhow!("{e}"))?;
        compiles.push(started.elapsed());
    }
    let lines = text.lines().count();
    println!(
        "  compile: {:.1} ms ({} lines, {} KiB of nft script)",
        ms(median(compiles)),
        lines,
        text.len() / 1024
    );
    let ns = Netns::create()?;
    let first = ns.nft(&text, false)?;
    let mut replaces = Vec::new();
    let mut checks = Vec::new();
    for _ in 0..plan.repeats.max(1) {
        replaces.push(ns.nft(&text, false)?);
        checks.push(ns.nft(&text, true)?);
    }
    println!("  nft -f, first apply: {:.0} ms", ms(first));
    println!(
        "  nft -f, replacing the whole table: {:.0} ms (check only, nft -c: {:.0} ms); Neutron's iptables-restore at 85,000 rules: 12,800 ms",
        ms(median(replaces)),
        ms(median(checks))
    );
    Ok(())
}
