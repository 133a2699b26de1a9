//! ZStack's inventories of canonical objects, in the 3.1–3.9 dialect (groups and rules carry
//! `ipVersion`), fields in the inventory classes' order.
//!
//! A canonical rule is shown as a ZStack rule when ZStack can say what it means: an allow rule
//! (or a deny rule, with 4.7.21's `"action": "DROP"`) of protocol any/TCP/UDP/ICMP, with at most
//! one port range, whose one remote is a CIDR (or all addresses of a family) or a security
//! group. Rules made through other faces that ZStack cannot express (reject, several port ranges
//! or remotes, remotes such as tags or address lists, other IP protocols) are left out of
//! `rules`; they still apply.

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
pub fn group(group: &SecurityGroup, rules: &[Rule]) -> Obj {
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
        .with("rules", Node::List(rules.iter().filter_map(|r| rule(group, r)).map(Node::Obj).collect()))
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

/// `SecurityGroupRuleInventory`, if ZStack can express the rule (see the module's docs).
pub fn rule(group: &SecurityGroup, rule: &Rule) -> Option<Obj> {
    if rule.action == Action::Reject || rule.ports.len() > 1 || rule.remotes.len() != 1 {
        return None;
    }
    let (protocol, ports) = match (rule.protocol, rule.ports.first()) {
        (Protocol::Any, None) => ("ALL", (-1, -1)),
        (Protocol::Tcp | Protocol::Udp, range) => {
            let name = if rule.protocol == Protocol::Tcp { "TCP" } else { "UDP" };
            (name, range.map_or((0, 65535), |r| (i64::from(r.from), i64::from(r.to))))
        }
        (Protocol::Icmp | Protocol::Icmpv6, None) => {
            let (kind, code) =
                rule.icmp.map_or((-1, -1), |i| (i64::from(i.icmp_type), i.code.map_or(-1, i64::from)));
            ("ICMP", (kind, code))
        }
        _ => return None,
    };
    let group_version = ip_version(group);
    let world = |v: IpVersion| if v == IpVersion::V4 { "0.0.0.0/0" } else { "::/0" };
    let (version, cidr, remote_group) = match &rule.remotes[0] {
        Remote::AnyIpv4 => (IpVersion::V4, "0.0.0.0/0".to_owned(), None),
        Remote::AnyIpv6 => (IpVersion::V6, "::/0".to_owned(), None),
        Remote::Cidr(text) => {
            let v6 = rule.remotes[0].network().is_some_and(|n| n.addr().is_ipv6());
            (if v6 { IpVersion::V6 } else { IpVersion::V4 }, text.clone(), None)
        }
        Remote::Group(id) => (group_version, world(group_version).to_owned(), Some(uuid(id.as_uuid()))),
        _ => return None,
    };
    let kind = match rule.direction {
        Direction::Inbound => "Ingress",
        Direction::Outbound => "Egress",
    };
    Some(
        Obj::default()
            .with("uuid", uuid(rule.id.as_uuid()))
            .with("securityGroupUuid", uuid(group.id.as_uuid()))
            .with("type", Node::from(kind))
            .with("ipVersion", Node::Int(version.number().into()))
            .with("startPort", Node::Int(ports.0))
            .with("endPort", Node::Int(ports.1))
            .with("protocol", Node::from(protocol))
            .with("state", Node::from(state(group.enabled)))
            .with("allowedCidr", Node::Str(cidr))
            .with("remoteSecurityGroupUuid", remote_group)
            // Deny rules exist from 4.7.21 on; they say so, in that dialect's field.
            .with("action", (rule.action == Action::Deny).then(|| Node::from("DROP")))
            .with("createDate", date(rule.created_at))
            .with("lastOpDate", date(rule.created_at)),
    )
}

/// `{"inventory": …}`.
pub fn inventory(obj: Obj) -> String {
    serde_json::to_string(&Obj::default().with("inventory", Node::Obj(obj))).unwrap_or_default()
}
