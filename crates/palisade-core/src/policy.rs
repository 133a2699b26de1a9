//! The canonical policy model: security groups (or roles) with rules, shared by every face.
//!
//! A face's vocabulary (Katapult's `inbound`/`TCP`/`"80,443"`/`all:ipv4`, Defined's roles with
//! `portRange`, Hostway's `fromPort`/`toPort`/`ACCEPT`) maps onto these types; validation of the
//! model lives here so that every face refuses the same things for the same reasons.

use time::OffsetDateTime;

use crate::id::{
    AddressListEntryId, AddressListId, InterfaceId, NetworkId, OrganizationId, RuleId, SecurityGroupId,
    ServerGroupId, ServerId, TagId,
};

/// Whether an object is a security group (address-oriented vendors) or a role (Defined).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum GroupKind {
    SecurityGroup,
    Role,
}

impl GroupKind {
    pub const fn as_str(&self) -> &'static str {
        match self {
            Self::SecurityGroup => "security_group",
            Self::Role => "role",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "security_group" => Some(Self::SecurityGroup),
            "role" => Some(Self::Role),
            _ => None,
        }
    }
}

/// What a group applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Member {
    Server(ServerId),
    ServerGroup(ServerGroupId),
    /// Every server carrying the tag's name.
    Tag(TagId),
    /// Every interface on the network (ZStack's L3 network attached to a group).
    Network(NetworkId),
    /// One interface of a server (ZStack's VM NIC).
    Interface(InterfaceId),
}

impl Member {
    /// The kind of object the member names ("server not found").
    pub const fn kind(&self) -> &'static str {
        match self {
            Self::Server(_) => ServerId::KIND,
            Self::ServerGroup(_) => ServerGroupId::KIND,
            Self::Tag(_) => TagId::KIND,
            Self::Network(_) => NetworkId::KIND,
            Self::Interface(_) => InterfaceId::KIND,
        }
    }
}

/// A tag: a name servers carry (`env:prod`), as an object policy can refer to.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Tag {
    pub id: TagId,
    pub organization_id: OrganizationId,
    pub name: String,
    /// Display colour (Katapult's palette names).
    pub color: String,
    #[serde(skip)]
    pub created_at: OffsetDateTime,
}

/// A named, reusable set of addresses and networks (Katapult's address lists). Global lists
/// (`organization_id: None`) are the operator's and readable by every organization.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct AddressList {
    pub id: AddressListId,
    pub organization_id: Option<OrganizationId>,
    pub name: String,
    pub annotations: Vec<Annotation>,
    pub entries: Vec<AddressListEntry>,
    #[serde(skip)]
    pub created_at: OffsetDateTime,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct AddressListEntry {
    pub id: AddressListEntryId,
    pub list_id: AddressListId,
    /// An address or a CIDR, kept as the client wrote it.
    pub address: String,
    pub name: Option<String>,
}

/// A named set of servers that policy can refer to (Katapult's virtual machine groups).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ServerGroup {
    pub id: ServerGroupId,
    pub organization_id: OrganizationId,
    pub name: String,
    /// Katapult: keep the group's servers on different hypervisors.
    pub segregate: bool,
    #[serde(skip)]
    pub created_at: OffsetDateTime,
}

/// A key/value label on a group or list (Katapult's `KeyValue`). Serializes as
/// `{"key", "value"}`, which is also how the stores keep lists of them.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct Annotation {
    pub key: String,
    pub value: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct SecurityGroup {
    pub id: SecurityGroupId,
    pub organization_id: OrganizationId,
    pub kind: GroupKind,
    pub name: String,
    pub description: Option<String>,
    /// Every inbound flow is allowed; the group then has no inbound rules.
    pub allow_all_inbound: bool,
    /// Every outbound flow is allowed; the group then has no outbound rules.
    pub allow_all_outbound: bool,
    /// Outbound flows that no rule matches are allowed, while the group keeps its outbound
    /// rules, which decide first: ZStack's egress, which its agents end in the NIC's egress
    /// policy, `ALLOW` by default. Implied by `allow_all_outbound`.
    pub allow_unmatched_outbound: bool,
    pub members: Vec<Member>,
    pub annotations: Vec<Annotation>,
    /// A disabled group stays in the model, but its rules stop applying (ZStack's
    /// `state: Disabled`).
    pub enabled: bool,
    /// The one address family the group's rules apply to (ZStack 3.1-3.9's `ipVersion`);
    /// `None`: both.
    pub ip_version: Option<IpVersion>,
    /// The group's number in the order groups were created in this installation (ZStack's
    /// `internalId`); set by the store when the group is inserted.
    pub serial: u64,
    #[serde(skip)]
    pub created_at: OffsetDateTime,
    #[serde(skip)]
    pub updated_at: OffsetDateTime,
}

/// An IP address family.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum IpVersion {
    V4,
    V6,
}

impl IpVersion {
    pub const fn number(self) -> u8 {
        match self {
            Self::V4 => 4,
            Self::V6 => 6,
        }
    }

    pub fn from_number(n: i64) -> Option<Self> {
        match n {
            4 => Some(Self::V4),
            6 => Some(Self::V6),
            _ => None,
        }
    }
}

/// Changes to a group; `None` leaves a field as it is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SecurityGroupPatch {
    pub name: Option<String>,
    pub description: Option<Option<String>>,
    pub allow_all_inbound: Option<bool>,
    pub allow_all_outbound: Option<bool>,
    pub allow_unmatched_outbound: Option<bool>,
    pub members: Option<Vec<Member>>,
    pub annotations: Option<Vec<Annotation>>,
    pub enabled: Option<bool>,
    /// Replaces every rule of the group (Defined's full-replacement PUT).
    pub rules: Option<Vec<Rule>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    Inbound,
    Outbound,
}

impl Direction {
    pub const fn as_str(&self) -> &'static str {
        match self {
            Self::Inbound => "inbound",
            Self::Outbound => "outbound",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "inbound" => Some(Self::Inbound),
            "outbound" => Some(Self::Outbound),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    Allow,
    Deny,
    Reject,
}

impl Action {
    pub const fn as_str(&self) -> &'static str {
        match self {
            Self::Allow => "allow",
            Self::Deny => "deny",
            Self::Reject => "reject",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "allow" => Some(Self::Allow),
            "deny" => Some(Self::Deny),
            "reject" => Some(Self::Reject),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Protocol {
    Any,
    Tcp,
    Udp,
    Icmp,
    Icmpv6,
    /// Another IP protocol by number (GRE 47, ESP 50, AH 51, ...).
    Number(u8),
}

/// `tcp`, `udp`, `any`, … or the protocol number, as [`Protocol::as_text`] writes it.
impl serde::Serialize for Protocol {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.as_text())
    }
}

impl Protocol {
    /// Whether rules of this protocol may name ports (for `Any`, they apply to TCP and UDP, as
    /// in Nebula).
    pub const fn has_ports(&self) -> bool {
        matches!(self, Self::Tcp | Self::Udp | Self::Any)
    }

    pub fn as_text(&self) -> String {
        match self {
            Self::Any => "any".into(),
            Self::Tcp => "tcp".into(),
            Self::Udp => "udp".into(),
            Self::Icmp => "icmp".into(),
            Self::Icmpv6 => "icmpv6".into(),
            Self::Number(n) => n.to_string(),
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "any" => Some(Self::Any),
            "tcp" => Some(Self::Tcp),
            "udp" => Some(Self::Udp),
            "icmp" => Some(Self::Icmp),
            "icmpv6" => Some(Self::Icmpv6),
            n => n.parse().ok().map(Self::Number),
        }
    }
}

/// An inclusive port range, 1..=65535.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
pub struct PortRange {
    pub from: u16,
    pub to: u16,
}

/// `22`, or `1000-2000`: as people (and lint, flow explanations, the native views) write it.
impl std::fmt::Display for PortRange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.from == self.to {
            write!(f, "{}", self.from)
        } else {
            write!(f, "{}-{}", self.from, self.to)
        }
    }
}

/// Where traffic of a rule comes from (inbound) or goes to (outbound).
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Remote {
    AnyIpv4,
    AnyIpv6,
    /// An address or CIDR, kept as the client wrote it (Katapult does not normalise
    /// `10.0.0.1/24`, Hostway's founding document shows `127.0.0.1/24`); always parseable.
    /// What it means is [`Remote::network`]: host bits set name their network. Written by
    /// clients only through [`Remote::cidr`], which refuses the forms that mislead a reader.
    Cidr(String),
    Server(ServerId),
    Group(SecurityGroupId),
    ServerGroup(ServerGroupId),
    Tag(TagId),
    AddressList(AddressListId),
    /// The organization's hosts that carry `role` (any role when `None`) and every one of
    /// `tags` (`key:value`): Defined's identity-based rules.
    Hosts {
        role: Option<SecurityGroupId>,
        tags: Vec<String>,
    },
}

/// Why a client's address or CIDR is refused (see [`Remote::cidr`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CidrError {
    /// Not an address or CIDR at all (a face may try other readings, such as an id).
    Malformed,
    /// An address or CIDR that reads differently to other tools or to a person: the message
    /// says what to write instead.
    Misleading(String),
}

impl CidrError {
    pub fn message(&self) -> String {
        match self {
            Self::Malformed => "must be an IP address or a CIDR such as 192.0.2.0/24".into(),
            Self::Misleading(message) => message.clone(),
        }
    }
}

impl Remote {
    /// A CIDR or an address a client wrote, kept verbatim once accepted. Refused, with a message
    /// saying what to write instead:
    ///
    /// - IPv4 octets with leading zeros (`010.000.000.000/8`): `inet_aton`, `ping` and many
    ///   firewalls read them as octal (`8.0.0.0/8`), so a reader of the rule and the machine
    ///   enforcing it could disagree;
    /// - a `/0` whose address is not all zeros (`1.2.3.4/0`): it admits the whole internet while
    ///   reading like one host; `0.0.0.0/0` (`::/0`) says so plainly.
    ///
    /// Host bits set (`10.0.0.5/24`) are accepted: the vendors echo them as written, and they
    /// mean the network (`10.0.0.0/24`, [`Remote::network`]).
    pub fn cidr(text: &str) -> Result<Self, CidrError> {
        let (address, _) = text.split_once('/').unwrap_or((text, ""));
        // The dotted quad: the whole address, or the tail of an IPv4-embedded IPv6 one.
        let quad = address.rsplit(':').next().unwrap_or(address);
        let octets: Vec<&str> = quad.split('.').collect();
        let dotted = octets.len() == 4
            && octets.iter().all(|o| !o.is_empty() && o.bytes().all(|b| b.is_ascii_digit()));
        if dotted && octets.iter().any(|o| o.len() > 1 && o.starts_with('0')) {
            let plain: Vec<&str> = octets
                .iter()
                .map(|o| o.trim_start_matches('0'))
                .map(|o| if o.is_empty() { "0" } else { o })
                .collect();
            let ipv6_head = &text[..address.len() - quad.len()];
            let fixed = format!("{ipv6_head}{}{}", plain.join("."), &text[address.len()..]);
            return Err(CidrError::Misleading(format!(
                "{text} has IPv4 octets with leading zeros, which other tools read as octal; write {fixed}"
            )));
        }
        let net = match text.parse::<ipnet::IpNet>() {
            Ok(net) => net,
            Err(_) => {
                text.parse::<std::net::IpAddr>().map(ipnet::IpNet::from).map_err(|_| CidrError::Malformed)?
            }
        };
        if net.prefix_len() == 0 && !net.addr().is_unspecified() {
            let (family, all) = if net.addr().is_ipv4() { ("IPv4", "0.0.0.0/0") } else { ("IPv6", "::/0") };
            return Err(CidrError::Misleading(format!(
                "{text} is every {family} address, written as if it were one host; write {all} if that is meant"
            )));
        }
        Ok(Self::Cidr(text.to_owned()))
    }

    /// The addresses a CIDR-like remote stands for: host bits cleared (`10.0.0.5/24` is
    /// `10.0.0.0/24`), an address as a host prefix, `all:ipv4`/`all:ipv6` as `/0`. `None` for
    /// remotes that name objects.
    pub fn network(&self) -> Option<ipnet::IpNet> {
        match self {
            Self::AnyIpv4 => Some(ipnet::IpNet::V4(ipnet::Ipv4Net::default())),
            Self::AnyIpv6 => Some(ipnet::IpNet::V6(ipnet::Ipv6Net::default())),
            Self::Cidr(text) => text
                .parse::<ipnet::IpNet>()
                .ok()
                .or_else(|| text.parse::<std::net::IpAddr>().ok().map(ipnet::IpNet::from))
                .map(|net| net.trunc()),
            _ => None,
        }
    }
}

/// The ICMP (or ICMPv6) messages a rule matches: one type, and one code of it or every code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
pub struct IcmpMatch {
    pub icmp_type: u8,
    pub code: Option<u8>,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize)]
pub struct Rule {
    pub id: RuleId,
    pub group_id: SecurityGroupId,
    pub direction: Direction,
    pub action: Action,
    pub protocol: Protocol,
    /// Empty: every port (or the protocol has none).
    pub ports: Vec<PortRange>,
    /// ICMP rules only: the messages matched; `None`: every ICMP message.
    pub icmp: Option<IcmpMatch>,
    /// Lower first; `None` sorts after every number, in creation order.
    pub priority: Option<i32>,
    /// Empty: nothing matches (a rule without targets admits no traffic).
    pub remotes: Vec<Remote>,
    pub description: Option<String>,
    #[serde(skip)]
    pub created_at: OffsetDateTime,
}

/// Changes to a rule; `None` leaves a field as it is, `Some(None)` clears an optional one.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RulePatch {
    pub direction: Option<Direction>,
    pub action: Option<Action>,
    pub protocol: Option<Protocol>,
    pub ports: Option<Vec<PortRange>>,
    pub priority: Option<Option<i32>>,
    pub remotes: Option<Vec<Remote>>,
    pub description: Option<Option<String>>,
}

impl Rule {
    pub fn patched(&self, patch: &RulePatch) -> Rule {
        Rule {
            direction: patch.direction.unwrap_or(self.direction),
            action: patch.action.unwrap_or(self.action),
            protocol: patch.protocol.unwrap_or(self.protocol),
            ports: patch.ports.clone().unwrap_or_else(|| self.ports.clone()),
            // A face that changes the protocol away from ICMP cannot keep an ICMP type.
            icmp: self.icmp.filter(|_| {
                matches!(patch.protocol.unwrap_or(self.protocol), Protocol::Icmp | Protocol::Icmpv6)
            }),
            priority: patch.priority.unwrap_or(self.priority),
            remotes: patch.remotes.clone().unwrap_or_else(|| self.remotes.clone()),
            description: patch.description.clone().unwrap_or_else(|| self.description.clone()),
            ..self.clone()
        }
    }
}

/// The refusal of a rule in a direction its group allows entirely (Katapult's wording).
pub fn allow_all_violation(direction: Direction) -> crate::Error {
    crate::Error::invalid(
        "",
        crate::error::ViolationCode::InvalidValue,
        format!("Security group cannot have {0} rules while all {0} traffic is allowed", direction.as_str()),
    )
}

/// Filters for listing groups: every annotation given must be present with that value.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct GroupFilter {
    pub annotations: Vec<Annotation>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_and_cidrs_are_remotes() {
        assert_eq!(Remote::cidr("10.0.0.300"), Err(CidrError::Malformed));
        assert_eq!(Remote::cidr("195.66.84.24"), Ok(Remote::Cidr("195.66.84.24".into())));
    }

    #[test]
    fn misleading_cidrs_are_refused_with_what_to_write() {
        let misleading = |text: &str| match Remote::cidr(text) {
            Err(CidrError::Misleading(message)) => message,
            other => panic!("{text}: {other:?}"),
        };
        assert!(misleading("010.000.000.000/8").ends_with("write 10.0.0.0/8"));
        assert!(misleading("192.168.001.010").ends_with("write 192.168.1.10"));
        assert!(misleading("::ffff:010.0.0.1/128").ends_with("write ::ffff:10.0.0.1/128"));
        assert!(misleading("1.2.3.4/0").contains("write 0.0.0.0/0 if that is meant"));
        assert!(misleading("2001:db8::1/0").contains("write ::/0 if that is meant"));
        for fine in
            ["0.0.0.0/0", "::/0", "10.0.0.0/8", "10.0.0.5/24", "127.0.0.1/24", "0.0.0.0", "2001:db8::/32"]
        {
            assert_eq!(Remote::cidr(fine), Ok(Remote::Cidr(fine.into())), "{fine}");
        }
        for bad in ["", "10.0.0.0/33", "vm_abc", "1.2.3", "10.0.0.0/8/8"] {
            assert_eq!(Remote::cidr(bad), Err(CidrError::Malformed), "{bad}");
        }
    }

    #[test]
    fn host_bits_mean_the_network() {
        let net = |text: &str| Remote::cidr(text).unwrap().network().unwrap().to_string();
        assert_eq!(net("10.0.0.5/24"), "10.0.0.0/24");
        assert_eq!(net("127.0.0.1/24"), "127.0.0.0/24");
        assert_eq!(net("195.66.84.24"), "195.66.84.24/32");
        assert_eq!(net("2001:db8::1/64"), "2001:db8::/64");
        assert_eq!(Remote::AnyIpv4.network().unwrap().to_string(), "0.0.0.0/0");
        assert_eq!(Remote::AnyIpv6.network().unwrap().to_string(), "::/0");
    }
}
