//! The compiler on a corpus of effective policies: each compiled table is compared with its
//! reviewed snapshot (`tests/snapshots/`, insta), and every script is accepted by `nft -c -f`
//! (the check runs no rule: it parses and validates against the kernel's nftables, so it needs
//! `nft` and CAP_NET_ADMIN; `scripts/test.sh` installs nftables where it is missing).

use palisade_dataplane::{script, table, CompileError, EffectivePolicy};
use serde_json::{json, Value};

fn rule(id: &str, action: &str, protocol: &str, ports: Value, set: &str) -> Value {
    json!({"rule_id": id, "action": action, "protocol": protocol, "ports": ports, "icmp_type": null,
        "icmp_code": null, "remote_set": set})
}

fn interface(
    id: &str,
    addresses: Value,
    governed: bool,
    ingress: Vec<Value>,
    egress: Vec<Value>,
    defaults: (&str, &str),
) -> Value {
    json!({"interface_id": id, "network_id": "n", "addresses": addresses, "governed": governed,
        "ingress": ingress, "egress": egress, "defaults": {"ingress": defaults.0, "egress": defaults.1}})
}

fn policy(interfaces: Vec<Value>, sets: Value) -> EffectivePolicy {
    let body = json!({"revision": 7, "server_id": "s", "governed": true, "ingress": [], "egress": [],
        "defaults": {"ingress": "deny", "egress": "allow"}, "interfaces": interfaces, "sets": sets});
    serde_json::from_value(body).unwrap_or_else(|e| panic!("{e}"))
}

/// The corpus: (name, policy).
fn corpus() -> Vec<(&'static str, EffectivePolicy)> {
    let sets = json!({
        "set_web": ["203.0.113.10/32", "203.0.113.11/32"],
        "set_net": ["10.0.0.0/24", "2001:db8::/64"],
        "set_v6": ["2001:db8:1::/48"],
        "set_world": ["0.0.0.0/0", "::/0"],
        "set_none": [],
    });
    let one = |governed, ingress, egress, defaults| {
        vec![interface("i0", json!(["203.0.113.20", "2001:db8::20"]), governed, ingress, egress, defaults)]
    };
    let ports =
        |p: &[(u16, u16)]| json!(p.iter().map(|(f, t)| json!({"from": f, "to": t})).collect::<Vec<_>>());
    let mut icmp = rule("icmp-echo", "allow", "icmp", json!([]), "set_net");
    icmp["icmp_type"] = json!(8);
    icmp["icmp_code"] = json!(0);
    let mut icmp6 = rule("icmp6-any-code", "allow", "icmpv6", json!([]), "set_v6");
    icmp6["icmp_type"] = json!(128);
    let mut v4_only = rule("zstack-v4", "allow", "tcp", ports(&[(443, 443)]), "set_world");
    v4_only["ip_version"] = json!(4);
    vec![
        ("ungoverned", policy(one(false, vec![], vec![], ("allow", "allow")), sets.clone())),
        ("governed_no_rules", policy(one(true, vec![], vec![], ("deny", "allow")), sets.clone())),
        (
            "tcp_udp_any_ports",
            policy(
                one(
                    true,
                    vec![
                        rule("deny-first", "deny", "tcp", ports(&[(22, 22)]), "set_web"),
                        rule("ssh", "allow", "tcp", ports(&[(22, 22)]), "set_net"),
                        rule("dns", "allow", "udp", ports(&[(53, 53)]), "set_world"),
                        rule("any-ports", "allow", "any", ports(&[(80, 80), (8000, 8999)]), "set_net"),
                        rule("any-all", "allow", "any", json!([]), "set_web"),
                        rule("empty-set", "allow", "tcp", json!([]), "set_none"),
                    ],
                    vec![],
                    ("deny", "allow"),
                ),
                sets.clone(),
            ),
        ),
        (
            "icmp_other_protocols_reject",
            policy(
                one(
                    true,
                    vec![
                        icmp,
                        icmp6,
                        rule("gre", "allow", "47", json!([]), "set_net"),
                        rule("reject-tcp", "reject", "tcp", ports(&[(25, 25)]), "set_world"),
                        rule("reject-any", "reject", "any", json!([]), "set_web"),
                        rule("reject-udp", "reject", "udp", ports(&[(161, 161)]), "set_net"),
                    ],
                    vec![rule("egress-smtp", "deny", "tcp", ports(&[(25, 25)]), "set_world")],
                    ("deny", "deny"),
                ),
                sets.clone(),
            ),
        ),
        (
            "family_restricted_and_two_interfaces",
            policy(
                vec![
                    interface("i0", json!(["203.0.113.20"]), true, vec![v4_only], vec![], ("deny", "allow")),
                    interface(
                        "i1",
                        json!(["198.51.100.5", "2001:db8::5"]),
                        false,
                        vec![],
                        vec![],
                        ("allow", "allow"),
                    ),
                    interface(
                        "i2",
                        json!(["2001:db8:2::1"]),
                        true,
                        vec![rule("v6-ssh", "allow", "tcp", ports(&[(22, 22)]), "set_v6")],
                        vec![],
                        ("allow", "deny"),
                    ),
                ],
                sets,
            ),
        ),
    ]
}

#[test]
fn the_corpus_compiles_to_its_reviewed_tables() {
    for (name, policy) in corpus() {
        let compiled = table(&policy).unwrap_or_else(|e| panic!("{name}: {e}"));
        insta::assert_snapshot!(name, compiled);
    }
}

#[test]
fn every_compiled_script_is_accepted_by_nft() {
    for (name, policy) in corpus() {
        let text = script(&policy).unwrap_or_else(|e| panic!("{name}: {e}"));
        if let Err(complaint) = palisade_testkit::nft_check(&text) {
            panic!("{name}: nft refused it:\n{complaint}\n{text}");
        }
    }
}

#[test]
fn what_the_compiler_does_not_know_is_refused_not_guessed() {
    let mut p = corpus().remove(2).1;
    p.interfaces[0].ingress[0].protocol = "sctp".into();
    assert!(matches!(table(&p), Err(CompileError::UnknownProtocol { .. })));
    let mut p = corpus().remove(2).1;
    p.interfaces[0].ingress[0].remote_set = "set_missing".into();
    assert!(matches!(table(&p), Err(CompileError::UnknownSet { .. })));
}

#[test]
fn rules_keep_their_evaluation_order() {
    let p = corpus().remove(2).1;
    let text = table(&p).unwrap_or_default();
    let at =
        |id: &str| text.find(&format!("\"rule {id}\"")).unwrap_or_else(|| panic!("{id} missing:\n{text}"));
    assert!(at("deny-first") < at("ssh") && at("ssh") < at("dns") && at("dns") < at("any-ports"));
    assert!(!text.contains("empty-set"), "a rule whose set is empty admits nothing and is left out");
}
