//! ZStack's inventories of canonical objects, in the 3.1–3.9 dialect (groups and rules carry
//! `ipVersion`), fields in the inventory classes' order.
//!
//! A canonical rule shows as the ZStack rules that say it (`docs/policy-semantics.md`,
//! "Projections"): one per protocol (`any` with ports: TCP and UDP), port range and remote, each
//! with the rule's own uuid (deleting one deletes the rule). A remote is a CIDR, all addresses of
//! a family or a security group as ZStack has them; a VM, VM group, tag or address list is the
//! addresses it names now. A refusal shows as 4.7.21's `"action": "DROP"` (a reject too). What
//! ZStack has no word for is widened when it allows (another IP protocol: `ALL`) and left out
//! when it refuses: a reader never sees closed what is open.

use std::collections::HashMap;
use std::sync::Arc;

use palisade_core::engine::IpSet;
use palisade_core::id::RuleId;
use palisade_core::policy::{Action, Direction, IpVersion, Member, Protocol, Remote, Rule, SecurityGroup};

use super::gson::{date, uuid, Node, Obj};

/// The Java classes of ZStack's inventories (a query answer's `schema`).
pub const GROUP_CLASS: &str = "org.zstack.network.securitygroup.SecurityGroupInventory";
pub const RULE_CLASS: &str = "org.zstack.network.securitygroup.SecurityGroupRuleInventory";

/// The group's IP version as ZStack shows it (a group made through another face: 4, ZStack's
/// default).
pub fn ip_version(group: &SecurityGroup) -> IpVersion {
    group.ip_version.unwrap_or(IpVersion::V4)
}

pub fn state(enabled: bool) -> &'static str {
    if enabled {
        "Enabled"
    } else {
        "Disabled"
    }
}

/// `SecurityGroupInventory`.
pub fn group(group: &SecurityGroup, rules: &[Rule], resolved: &Resolved) -> Obj {
    let version = ip_version(group);
    Obj::default()
        .with("uuid", uuid(group.id.as_uuid()))
        .with("name", Node::from(group.name.as_str()))
        .with("description", group.description.as_deref().map(Node::from))
        .with("state", Node::from(state(group.enabled)))
        .with("ipVersion", Node::Int(version.number().into()))
        .with("createDate", date(group.created_at))
        .with("lastOpDate", date(group.updated_at))
        .with("internalId", Node::Int(i64::try_from(group.serial).unwrap_or(i64::MAX)))
        .with(
            "rules",
            Node::List(rules.iter().flat_map(|r| self::rules(group, r, resolved)).map(Node::Obj).collect()),
        )
        .with("attachedL3NetworkUuids", Node::List(attached_networks(group)))
}

/// The L3 networks the group is attached to (its network members).
fn attached_networks(group: &SecurityGroup) -> Vec<Node> {
    group
        .members
        .iter()
        .filter_map(|m| match m {
            Member::Network(n) => Some(uuid(n.as_uuid())),
            _ => None,
        })
        .collect()
}

/// The addresses rules with references name now, by rule (see `GroupRules::resolved`).
pub type Resolved = HashMap<RuleId, Arc<IpSet>>;

/// The `SecurityGroupRuleInventory`s that say a canonical rule (see the module's docs): one per
/// protocol, port range and remote, each with the rule's own uuid.
pub fn rules(group: &SecurityGroup, rule: &Rule, resolved: &Resolved) -> Vec<Obj> {
    let allow = rule.action == Action::Allow;
    let ranges: Vec<(i64, i64)> = if rule.ports.is_empty() {
        vec![(0, 65535)]
    } else {
        rule.ports.iter().map(|r| (i64::from(r.from), i64::from(r.to))).collect()
    };
    let ported = |name: &'static str| ranges.iter().map(move |r| (name, *r)).collect::<Vec<_>>();
    let protocols: Vec<(&'static str, (i64, i64))> = match rule.protocol {
        Protocol::Any if rule.ports.is_empty() => vec![("ALL", (-1, -1))],
        Protocol::Any => ranges.iter().flat_map(|r| [("TCP", *r), ("UDP", *r)]).collect(),
        Protocol::Tcp | Protocol::Number(6) => ported("TCP"),
        Protocol::Udp | Protocol::Number(17) => ported("UDP"),
        Protocol::Icmp | Protocol::Icmpv6 | Protocol::Number(1 | 58) => {
            let message =
                rule.icmp.map_or((-1, -1), |i| (i64::from(i.icmp_type), i.code.map_or(-1, i64::from)));
            vec![("ICMP", message)]
        }
        // ZStack names no other protocol: an allow is widened to all, a refusal left out.
        Protocol::Number(_) if allow => vec![("ALL", (-1, -1))],
        Protocol::Number(_) => return Vec::new(),
    };
    let group_version = ip_version(group);
    let world = |v: IpVersion| if v == IpVersion::V4 { "0.0.0.0/0" } else { "::/0" };
    let family = |text: &str| {
        let v6 = Remote::Cidr(text.to_owned()).network().is_some_and(|n| n.addr().is_ipv6());
        if v6 {
            IpVersion::V6
        } else {
            IpVersion::V4
        }
    };
    let sayable =
        |r: &Remote| matches!(r, Remote::AnyIpv4 | Remote::AnyIpv6 | Remote::Cidr(_) | Remote::Group(_));
    let remotes: Vec<(IpVersion, String, Option<Node>)> = if rule.remotes.iter().all(sayable) {
        rule.remotes
            .iter()
            .map(|r| match r {
                Remote::AnyIpv4 => (IpVersion::V4, world(IpVersion::V4).to_owned(), None),
                Remote::AnyIpv6 => (IpVersion::V6, world(IpVersion::V6).to_owned(), None),
                Remote::Cidr(text) => (family(text), text.clone(), None),
                Remote::Group(id) => {
                    (group_version, world(group_version).to_owned(), Some(uuid(id.as_uuid())))
                }
                _ => (group_version, String::new(), None),
            })
            .collect()
    } else {
        // A VM, VM group, tag, address list: the addresses the rule's remotes name now. Unknown
        // (an answer rendered inside its write): an allow shows as all addresses, a refusal not.
        match resolved.get(&rule.id) {
            Some(set) => set.cidrs().iter().map(|n| (family(&n.to_string()), n.to_string(), None)).collect(),
            None if allow => [IpVersion::V4, IpVersion::V6].map(|v| (v, world(v).to_owned(), None)).into(),
            None => Vec::new(),
        }
    };
    let kind = match rule.direction {
        Direction::Inbound => "Ingress",
        Direction::Outbound => "Egress",
    };
    let mut shown = Vec::new();
    for (protocol, ports) in &protocols {
        for (version, cidr, remote_group) in &remotes {
            shown.push(
                Obj::default()
                    .with("uuid", uuid(rule.id.as_uuid()))
                    .with("securityGroupUuid", uuid(group.id.as_uuid()))
                    .with("type", Node::from(kind))
                    .with("ipVersion", Node::Int(version.number().into()))
                    .with("startPort", Node::Int(ports.0))
                    .with("endPort", Node::Int(ports.1))
                    .with("protocol", Node::from(*protocol))
                    .with("state", Node::from(state(group.enabled)))
                    .with("allowedCidr", Node::Str(cidr.clone()))
                    .with("remoteSecurityGroupUuid", remote_group.clone())
                    // Refusals exist from 4.7.21 on (`DROP`); a reject shows as one.
                    .with("action", (!allow).then(|| Node::from("DROP")))
                    .with("createDate", date(rule.created_at))
                    .with("lastOpDate", date(rule.created_at)),
            );
        }
    }
    shown
}

/// `{"inventory": …}`.
pub fn inventory(obj: Obj) -> String {
    serde_json::to_string(&Obj::default().with("inventory", Node::Obj(obj))).unwrap_or_default()
}
