//! IP address management arithmetic: which addresses of a prefix may be handed out, in what
//! order, and how they are named. Pure functions; the stores call them inside their
//! allocation transactions, so both backends hand out addresses the same way.
//!
//! Two strategies, chosen per prefix by its size:
//! - **Sequential** (at most 2^32 host addresses: every IPv4 prefix and small IPv6 ones): a
//!   cursor walks the prefix from its first host address upwards, skipping reserved ranges and
//!   addresses already claimed; released addresses go to a pool that is drawn from (lowest
//!   first) before the cursor moves. Predictable, and each allocation costs the same however
//!   full the prefix is.
//! - **Sparse** (larger IPv6 prefixes, e.g. /64 or /48): a random host address, retried on the
//!   rare collision. Nothing is enumerated, so a /48 costs the same as a /120.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::IpNet;

use crate::id::random_bytes;

/// IPv4 or IPv6, as clients name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum IpVersion {
    V4,
    V6,
}

impl IpVersion {
    pub fn of(addr: &IpAddr) -> Self {
        if addr.is_ipv4() {
            Self::V4
        } else {
            Self::V6
        }
    }

    pub fn of_net(net: &IpNet) -> Self {
        Self::of(&net.addr())
    }

    pub const fn as_str(&self) -> &'static str {
        match self {
            Self::V4 => "ipv4",
            Self::V6 => "ipv6",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "ipv4" => Some(Self::V4),
            "ipv6" => Some(Self::V6),
            _ => None,
        }
    }

    pub const fn number(&self) -> u8 {
        match self {
            Self::V4 => 4,
            Self::V6 => 6,
        }
    }
}

/// Prefixes with at most this many addresses are allocated sequentially.
pub const SEQUENTIAL_LIMIT_BITS: u8 = 32;

/// How many random candidates a sparse allocation tries before calling the prefix full.
pub const SPARSE_ATTEMPTS: usize = 64;

fn host_bits(net: &IpNet) -> u8 {
    net.max_prefix_len() - net.prefix_len()
}

/// Whether `net` is allocated sequentially (else sparsely).
pub fn is_sequential(net: &IpNet) -> bool {
    host_bits(net) <= SEQUENTIAL_LIMIT_BITS
}

fn base(net: &IpNet) -> u128 {
    match net.network() {
        IpAddr::V4(a) => u128::from(u32::from(a)),
        IpAddr::V6(a) => u128::from(a),
    }
}

/// The inclusive range of offsets (from the network address) that may be handed out: IPv4
/// prefixes of /30 and wider lose their network and broadcast addresses; IPv6 prefixes lose
/// their subnet-router anycast address (offset 0) unless they are a single address.
pub fn host_offsets(net: &IpNet) -> (u128, u128) {
    let bits = host_bits(net);
    let size_minus_one = if bits >= 128 { u128::MAX } else { (1u128 << bits) - 1 };
    match net {
        IpNet::V4(_) if bits >= 2 => (1, size_minus_one - 1),
        IpNet::V4(_) => (0, size_minus_one),
        IpNet::V6(_) if bits >= 1 => (1, size_minus_one),
        IpNet::V6(_) => (0, 0),
    }
}

/// How many addresses of `net` may be handed out (ignoring reservations).
pub fn host_count(net: &IpNet) -> u128 {
    let (first, last) = host_offsets(net);
    last - first + 1
}

/// The address at `offset` from the network address.
pub fn address_at(net: &IpNet, offset: u128) -> IpAddr {
    let value = base(net).wrapping_add(offset);
    match net {
        IpNet::V4(_) => IpAddr::V4(Ipv4Addr::from(u32::try_from(value).unwrap_or(u32::MAX))),
        IpNet::V6(_) => IpAddr::V6(Ipv6Addr::from(value)),
    }
}

/// The offset of `addr` from the network address of `net` (which must contain it).
pub fn offset_of(net: &IpNet, addr: IpAddr) -> u128 {
    let value = match addr {
        IpAddr::V4(a) => u128::from(u32::from(a)),
        IpAddr::V6(a) => u128::from(a),
    };
    value.wrapping_sub(base(net))
}

/// Whether `addr` may be handed out from `net`: inside it, a host address, not reserved.
pub fn is_allocatable(net: &IpNet, addr: IpAddr, reserved: &[IpNet]) -> bool {
    if !net.contains(&addr) {
        return false;
    }
    let (first, last) = host_offsets(net);
    let offset = offset_of(net, addr);
    offset >= first && offset <= last && !reserved.iter().any(|r| r.contains(&addr))
}

/// The first allocatable address of a sequential prefix at or after `offset`, with its offset,
/// jumping over reserved ranges. `None` when the prefix has no such address left.
pub fn next_sequential(net: &IpNet, offset: u128, reserved: &[IpNet]) -> Option<(IpAddr, u128)> {
    let (first, last) = host_offsets(net);
    let mut offset = offset.max(first);
    while offset <= last {
        let addr = address_at(net, offset);
        match reserved.iter().find(|r| r.contains(&addr)) {
            None => return Some((addr, offset)),
            Some(r) => {
                // Continue just past the end of the reservation.
                let end = offset_of(net, r.broadcast());
                offset = end.checked_add(1)?;
            }
        }
    }
    None
}

/// A random allocatable address of a sparse prefix, or `None` if the candidate drawn is
/// reserved (the caller retries).
pub fn random_candidate(net: &IpNet, reserved: &[IpNet]) -> Option<IpAddr> {
    let (first, last) = host_offsets(net);
    let span = last - first;
    let random = u128::from_be_bytes(random_bytes::<16>());
    let offset = if span == u128::MAX { random } else { first + random % (span + 1) };
    let addr = address_at(net, offset);
    (!reserved.iter().any(|r| r.contains(&addr))).then_some(addr)
}

/// `203.0.113.10/24`: the address with its prefix's length.
pub fn address_with_mask(addr: IpAddr, prefix_len: u8) -> String {
    format!("{addr}/{prefix_len}")
}

/// The default reverse DNS name of an address from a pattern such as
/// `{dashed}.rdns.example.net`: `{dashed}` is the address with `.` and `:` turned into `-`
/// (`203-0-113-10`, `2001-db8--10`), `{address}` the address itself.
pub fn reverse_dns(pattern: &str, addr: IpAddr) -> String {
    let text = addr.to_string();
    let dashed = text.replace(['.', ':'], "-");
    pattern.replace("{dashed}", &dashed).replace("{address}", &text)
}

/// Octets of an address (4 or 16), in network order: a byte-wise comparison orders addresses of
/// one version numerically.
pub fn octets(addr: IpAddr) -> Vec<u8> {
    match addr {
        IpAddr::V4(a) => a.octets().to_vec(),
        IpAddr::V6(a) => a.octets().to_vec(),
    }
}

pub fn from_octets(bytes: &[u8]) -> Option<IpAddr> {
    match bytes.len() {
        4 => <[u8; 4]>::try_from(bytes).ok().map(|b| IpAddr::V4(Ipv4Addr::from(b))),
        16 => <[u8; 16]>::try_from(bytes).ok().map(|b| IpAddr::V6(Ipv6Addr::from(b))),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn net(s: &str) -> IpNet {
        s.parse().unwrap()
    }

    #[test]
    fn ipv4_host_ranges() {
        assert_eq!(host_count(&net("203.0.113.0/28")), 14);
        assert_eq!(host_count(&net("10.0.0.0/16")), 65_534);
        assert_eq!(host_count(&net("10.0.0.0/31")), 2);
        assert_eq!(host_count(&net("10.0.0.7/32")), 1);
        assert_eq!(
            next_sequential(&net("203.0.113.0/24"), 0, &[]),
            Some(("203.0.113.1".parse().unwrap(), 1))
        );
        assert_eq!(next_sequential(&net("203.0.113.0/24"), 254, &[]).map(|x| x.1), Some(254));
        assert_eq!(next_sequential(&net("203.0.113.0/24"), 255, &[]), None);
    }

    #[test]
    fn reservations_are_jumped_over() {
        let n = net("203.0.113.0/24");
        let reserved = [net("203.0.113.1/32"), net("203.0.113.4/30")];
        let mut got = Vec::new();
        let mut offset = 0;
        while let Some((addr, at)) = next_sequential(&n, offset, &reserved) {
            got.push(addr);
            offset = at + 1;
            if got.len() == 5 {
                break;
            }
        }
        let want: Vec<IpAddr> = ["203.0.113.2", "203.0.113.3", "203.0.113.8", "203.0.113.9", "203.0.113.10"]
            .iter()
            .map(|a| a.parse().unwrap())
            .collect();
        assert_eq!(got, want);
        assert!(!is_allocatable(&n, "203.0.113.5".parse().unwrap(), &reserved));
        assert!(!is_allocatable(&n, "203.0.113.255".parse().unwrap(), &reserved));
        assert!(is_allocatable(&n, "203.0.113.200".parse().unwrap(), &reserved));
    }

    #[test]
    fn ipv6_prefixes_choose_a_strategy_by_size() {
        assert!(!is_sequential(&net("2001:db8::/64")));
        assert!(!is_sequential(&net("2001:db8::/48")));
        assert!(is_sequential(&net("2001:db8::/96")));
        assert!(is_sequential(&net("203.0.113.0/24")));
        let n = net("2001:db8:1::/48");
        for _ in 0..100 {
            let a = random_candidate(&n, &[]).unwrap();
            assert!(is_allocatable(&n, a, &[]), "{a}");
        }
    }

    #[test]
    fn names() {
        let a: IpAddr = "203.0.113.10".parse().unwrap();
        assert_eq!(reverse_dns("{dashed}.rdns.example.net", a), "203-0-113-10.rdns.example.net");
        assert_eq!(
            reverse_dns("{dashed}.v6.example.net", "2001:db8::10".parse().unwrap()),
            "2001-db8--10.v6.example.net"
        );
        assert_eq!(address_with_mask(a, 24), "203.0.113.10/24");
        assert_eq!(from_octets(&octets(a)), Some(a));
    }

    proptest! {
        #[test]
        fn offsets_round_trip(a in any::<u32>(), len in 0u8..=32, off in any::<u32>()) {
            let n = IpNet::V4(ipnet::Ipv4Net::new(a.into(), len).unwrap().trunc());
            let size = 1u128 << (32 - len);
            let off = u128::from(off) % size;
            let addr = address_at(&n, off);
            prop_assert!(n.contains(&addr));
            prop_assert_eq!(offset_of(&n, addr), off);
        }

        #[test]
        fn sequential_candidates_are_allocatable_and_ordered(a in any::<u32>(), len in 20u8..=32, from in 0u32..5000,
                                                             r in any::<u32>(), rlen in 24u8..=32) {
            let n = IpNet::V4(ipnet::Ipv4Net::new(a.into(), len).unwrap().trunc());
            let reserved = [IpNet::V4(ipnet::Ipv4Net::new(r.into(), rlen).unwrap().trunc())];
            if let Some((addr, at)) = next_sequential(&n, u128::from(from), &reserved) {
                prop_assert!(is_allocatable(&n, addr, &reserved));
                prop_assert!(at >= u128::from(from));
                // Nothing allocatable was skipped.
                for skipped in u128::from(from)..at {
                    prop_assert!(!is_allocatable(&n, address_at(&n, skipped), &reserved));
                }
            }
        }

        #[test]
        fn sparse_candidates_stay_inside(hi in any::<u64>(), len in 0u8..=64) {
            let n = IpNet::V6(ipnet::Ipv6Net::new(Ipv6Addr::from(u128::from(hi) << 64), len).unwrap().trunc());
            let addr = random_candidate(&n, &[]).unwrap();
            prop_assert!(is_allocatable(&n, addr, &[]));
        }
    }
}
