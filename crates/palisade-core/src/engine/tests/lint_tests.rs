//! Lint's findings, one example of each kind, and the cases where it must stay quiet.

use super::*;
use crate::engine::lint::{lint, Finding, FindingKind, Severity};
use crate::engine::CatalogRule;

fn findings(s: &PolicySnapshot) -> Vec<Finding> {
    lint(s, &CompiledPolicy::compile(s))
}

/// The findings of one kind, as (rule, message).
fn of(found: &[Finding], kind: FindingKind) -> Vec<(Option<RuleId>, String)> {
    found.iter().filter(|f| f.kind == kind).map(|f| (f.rule, f.message.clone())).collect()
}

fn rules_of(found: &[Finding], kind: FindingKind) -> Vec<RuleId> {
    of(found, kind).into_iter().filter_map(|(r, _)| r).collect()
}

#[test]
fn world_open_admin_ports_are_errors_and_narrow_ones_are_not() {
    let s = two_servers(
        vec![
            rule(0, Action::Allow, None, &[(20, 25)], "0.0.0.0/0"),
            rule(1, Action::Allow, None, &[(80, 80)], "0.0.0.0/0"),
            rule(2, Action::Allow, None, &[(3389, 3389)], "10.0.0.0/8"),
            rule(3, Action::Deny, None, &[(5432, 5432)], "::/0"),
            Rule { protocol: Protocol::Any, ports: vec![], ..rule(4, Action::Allow, None, &[], "::/0") },
        ],
        false,
    );
    let found = findings(&s);
    let open = of(&found, FindingKind::WorldOpenAdminPort);
    assert_eq!(open.iter().map(|(r, _)| *r).collect::<Vec<_>>(), [Some(rule_id(0, 0)), Some(rule_id(0, 4))]);
    assert!(open[0].1.contains("22 (SSH)") && open[0].1.contains("all IPv4 addresses"), "{}", open[0].1);
    assert!(open[1].1.contains("5432 (PostgreSQL)") && open[1].1.contains("all IPv6"), "{}", open[1].1);
    assert!(found
        .iter()
        .filter(|f| f.kind == FindingKind::WorldOpenAdminPort)
        .all(|f| f.severity() == Severity::Error));

    let all_open = two_servers(vec![], true);
    let group_level = of(&findings(&all_open), FindingKind::WorldOpenAdminPort);
    assert_eq!(group_level.len(), 1);
    assert_eq!(group_level[0].0, None, "the group itself allows all inbound");
}

#[test]
fn a_rule_covered_by_an_earlier_one_is_shadowed() {
    let s = two_servers(
        vec![
            // Evaluation order: 3 (priority 1), 1 (deny first in the unnumbered tier), 0, 2.
            rule(0, Action::Allow, None, &[(22, 22)], "10.0.0.0/24"),
            rule(1, Action::Deny, None, &[(22, 22)], "10.0.0.1"),
            rule(2, Action::Allow, None, &[(22, 22), (80, 80)], "10.0.0.5"),
            rule(3, Action::Allow, Some(1), &[(80, 80)], "10.0.0.0/16"),
            rule(4, Action::Reject, None, &[(80, 80)], "10.0.0.7"),
        ],
        false,
    );
    let found = findings(&s);
    // 2 is covered by 0 and 3 together but by neither alone; 4 by 3 alone.
    assert_eq!(rules_of(&found, FindingKind::ShadowedRule), [rule_id(0, 4)]);
    let message = &of(&found, FindingKind::ShadowedRule)[0].1;
    assert!(message.contains(&rule_id(0, 3).to_string()), "names the earlier rule: {message}");

    // ICMP: every message covers echo requests, not the other way round.
    let icmp = |n, icmp: Option<IcmpMatch>| Rule {
        protocol: Protocol::Icmp,
        ports: vec![],
        icmp,
        ..rule(n, Action::Allow, None, &[], "10.0.0.0/8")
    };
    let echo = Some(IcmpMatch { icmp_type: 8, code: None });
    let echo_code_0 = Some(IcmpMatch { icmp_type: 8, code: Some(0) });
    let s = two_servers(vec![icmp(0, echo), icmp(1, None), icmp(2, echo_code_0)], false);
    assert_eq!(rules_of(&findings(&s), FindingKind::ShadowedRule), [rule_id(0, 2)]);
}

#[test]
fn an_exact_duplicate_is_reported_as_such_not_as_shadowed() {
    let s = two_servers(
        vec![
            rule(0, Action::Allow, None, &[(443, 443)], "10.0.0.0/24"),
            rule(1, Action::Allow, None, &[(443, 443)], "10.0.0.0/24"),
        ],
        false,
    );
    let found = findings(&s);
    assert_eq!(rules_of(&found, FindingKind::DuplicateRule), [rule_id(0, 1)]);
    assert!(rules_of(&found, FindingKind::ShadowedRule).is_empty());
}

#[test]
fn dangling_references_and_rules_that_admit_nothing() {
    let gone = ServerId::from_bytes([0xee; 16]);
    let mut v6_only_in_v4_group = rule(2, Action::Allow, None, &[(443, 443)], "fd00::/64");
    v6_only_in_v4_group.remotes = vec![Remote::Cidr("fd00::/64".into())];
    let mut s = two_servers(
        vec![
            Rule { remotes: vec![Remote::Server(gone)], ..rule(0, Action::Allow, None, &[(443, 443)], "") },
            Rule { remotes: vec![], ..rule(1, Action::Allow, None, &[(443, 443)], "") },
            v6_only_in_v4_group,
        ],
        false,
    );
    s.groups[0].group.ip_version = Some(IpVersion::V4);
    let found = findings(&s);
    let dangling = of(&found, FindingKind::DanglingReference);
    assert_eq!(dangling.len(), 1);
    assert_eq!(dangling[0].0, Some(rule_id(0, 0)));
    assert!(dangling[0].1.contains(&gone.to_string()), "{}", dangling[0].1);
    let nothing = of(&found, FindingKind::RuleAdmitsNothing);
    assert_eq!(nothing.iter().map(|(r, _)| *r).collect::<Vec<_>>(), [0, 1, 2].map(|n| Some(rule_id(0, n))));
    assert!(nothing[1].1.contains("no remote") && nothing[2].1.contains("other family"), "{nothing:?}");
}

#[test]
fn unapplied_groups_and_ungoverned_servers_are_information() {
    let mut s = two_servers(vec![rule(0, Action::Allow, None, &[(443, 443)], "10.0.0.0/24")], false);
    let found = findings(&s);
    let ungoverned: Vec<_> = found.iter().filter(|f| f.kind == FindingKind::UngovernedServer).collect();
    assert_eq!(ungoverned.len(), 1);
    assert_eq!(ungoverned[0].server, Some(server_id(0)), "s0 is in no group; s1 is governed");
    assert_eq!(ungoverned[0].severity(), Severity::Info);
    assert!(of(&found, FindingKind::UnappliedGroup).is_empty());

    s.groups[0].group.members.clear();
    let found = findings(&s);
    assert_eq!(found.iter().filter(|f| f.kind == FindingKind::UnappliedGroup).count(), 1);
    assert_eq!(found.iter().filter(|f| f.kind == FindingKind::UngovernedServer).count(), 2);

    // A disabled group is not reported as unapplied (it is off on purpose), and governs nothing.
    s.groups[0].group.enabled = false;
    assert!(of(&findings(&s), FindingKind::UnappliedGroup).is_empty());
}

#[test]
fn a_clean_policy_has_no_warnings() {
    let s = two_servers(
        vec![
            rule(0, Action::Allow, None, &[(443, 443)], "0.0.0.0/0"),
            rule(1, Action::Allow, None, &[(22, 22)], "10.0.0.1"),
        ],
        false,
    );
    let found = findings(&s);
    assert!(found.iter().all(|f| f.severity() == Severity::Info), "{found:?}");
}

/// Whether a compiled rule matches a flow with `remote` as the other end, as the evaluator
/// decides it (key, then rule).
fn matches(entry: &CatalogRule, flow: &Flow, remote: IpAddr) -> bool {
    entry.key.admits(protocol_bit(flow.protocol), is_v4(flow.destination), flow.port)
        && entry.rule.matches(flow, remote)
}

/// Shadowed rules by the definition: on every interface the rule applies to, an earlier rule of
/// that interface's list covers it (in its own group, if it applies nowhere); duplicates and
/// rules admitting nothing aside.
fn naive_shadowed(snapshot: &PolicySnapshot, compiled: &CompiledPolicy) -> Vec<RuleId> {
    use crate::engine::lint::{admitted, covers};
    let duplicates: Vec<RuleId> = findings(snapshot)
        .iter()
        .filter(|f| f.kind == FindingKind::DuplicateRule)
        .filter_map(|f| f.rule)
        .collect();
    let mut shadowed = Vec::new();
    for later in &compiled.catalog {
        let remote = admitted(later);
        if remote.is_empty() || duplicates.contains(&later.rule.rule) {
            continue;
        }
        let covered_in = |list: Vec<&CatalogRule>| {
            let at = list.iter().position(|e| e.rule.rule == later.rule.rule).unwrap_or(list.len());
            list[..at].iter().any(|e| covers(e, later, &remote))
        };
        let applied = compiled.applied(later.rule.group);
        let covered = if applied.is_empty() {
            covered_in(compiled.catalog.iter().filter(|e| e.rule.group == later.rule.group).collect())
        } else {
            applied.iter().all(|i| {
                let policy = compiled.interface(*i).unwrap();
                let list =
                    if later.direction == Direction::Inbound { &policy.ingress } else { &policy.egress };
                covered_in(compiled.rules_in(list).collect())
            })
        };
        if covered {
            shadowed.push(later.rule.rule);
        }
    }
    shadowed.sort();
    shadowed
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    /// A covering rule matches every flow the covered rule matches.
    #[test]
    fn a_covering_rule_matches_every_flow_the_covered_one_does(plan in plan(), flows in prop::collection::vec(flow(), 1..40)) {
        use crate::engine::lint::{admitted, covers};
        let snapshot = build(&plan);
        let compiled = CompiledPolicy::compile(&snapshot);
        for later in &compiled.catalog {
            let remote = admitted(later);
            for earlier in compiled.catalog.iter().filter(|e| covers(e, later, &remote)) {
                // A flow's two ends are of one family (the evaluator reads it off the destination).
                for flow in flows.iter().filter(|f| is_v4(f.source) == is_v4(f.destination)) {
                    let other = if later.direction == Direction::Inbound { flow.source } else { flow.destination };
                    if matches(later, flow, other) {
                        prop_assert!(matches(earlier, flow, other), "{:?} covers {:?} but not {:?}", earlier, later, flow);
                    }
                }
            }
        }
    }

    /// Lint's search finds exactly the rules the definition calls shadowed.
    #[test]
    fn lint_finds_the_shadowed_rules_of_the_definition(plan in plan()) {
        let snapshot = build(&plan);
        let compiled = CompiledPolicy::compile(&snapshot);
        let mut found = rules_of(&lint(&snapshot, &compiled), FindingKind::ShadowedRule);
        found.sort();
        prop_assert_eq!(found, naive_shadowed(&snapshot, &compiled));
    }
}

/// The random policies above reach what the property test is about: rules shadowed on the
/// interfaces they apply to, and in groups applied nowhere.
#[test]
fn the_random_policies_shadow_rules_every_way() {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;
    let mut runner = TestRunner::deterministic();
    let (mut applied, mut unapplied) = (0, 0);
    for _ in 0..500 {
        let snapshot = build(&plan().new_tree(&mut runner).unwrap_or_else(|e| panic!("{e}")).current());
        let compiled = CompiledPolicy::compile(&snapshot);
        let shadowed = naive_shadowed(&snapshot, &compiled);
        for id in &shadowed {
            let group = compiled.rule(*id).map(|r| r.rule.group).unwrap();
            if compiled.applied(group).is_empty() {
                unapplied += 1;
            } else {
                applied += 1;
            }
        }
    }
    assert!(
        applied >= 20 && unapplied >= 20,
        "shadowed on interfaces {applied}, in unapplied groups {unapplied}"
    );
}
