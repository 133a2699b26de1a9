//! Sets of addresses as sorted, disjoint, non-adjacent intervals, one list per family: a rule's
//! remote of a million addresses is a handful of intervals, and membership is a binary search.

use std::net::IpAddr;

/// A set of IPv4 and IPv6 addresses.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct IpSet {
    v4: Vec<(u128, u128)>,
    v6: Vec<(u128, u128)>,
}

fn key(address: IpAddr) -> (bool, u128) {
    match address {
        IpAddr::V4(a) => (false, u128::from(u32::from(a))),
        // An IPv4-mapped IPv6 address is the IPv4 address it carries.
        IpAddr::V6(a) => match a.to_ipv4_mapped() {
            Some(v4) => (false, u128::from(u32::from(v4))),
            None => (true, u128::from(a)),
        },
    }
}

impl IpSet {
    /// Every address of one family (`all:ipv4`, `all:ipv6`).
    pub fn all(v6: bool) -> Self {
        let mut set = Self::default();
        if v6 {
            set.v6.push((0, u128::MAX));
        } else {
            set.v4.push((0, u128::from(u32::MAX)));
        }
        set
    }

    /// The addresses of a network (host bits cleared: `10.0.0.5/24` is `10.0.0.0/24`).
    pub fn network(net: ipnet::IpNet) -> Self {
        let mut set = Self::default();
        set.insert_net(net);
        set
    }

    pub fn insert_address(&mut self, address: IpAddr) {
        let (v6, at) = key(address);
        self.list(v6).push((at, at));
    }

    pub fn insert_net(&mut self, net: ipnet::IpNet) {
        let net = net.trunc();
        let (v6, first) = key(net.network());
        let (_, last) = key(net.broadcast());
        self.list(v6).push((first, last));
    }

    pub fn extend(&mut self, other: &IpSet) {
        self.v4.extend_from_slice(&other.v4);
        self.v6.extend_from_slice(&other.v6);
    }

    fn list(&mut self, v6: bool) -> &mut Vec<(u128, u128)> {
        if v6 {
            &mut self.v6
        } else {
            &mut self.v4
        }
    }

    /// Sorts and merges the intervals, in place; call once after inserting. (A compile
    /// normalizes a set per remote: a second vector each time cost more in page faults than the
    /// merge itself.)
    pub fn normalized(mut self) -> Self {
        for list in [&mut self.v4, &mut self.v6] {
            list.sort_unstable();
            // An interval touching or overlapping the one kept before it joins it.
            list.dedup_by(|next, kept| {
                let joins = next.0 <= kept.1.saturating_add(1);
                if joins {
                    kept.1 = kept.1.max(next.1);
                }
                joins
            });
        }
        self
    }

    /// Whether the (normalized) set holds `address`.
    pub fn contains(&self, address: IpAddr) -> bool {
        let (v6, at) = key(address);
        let list = if v6 { &self.v6 } else { &self.v4 };
        let i = list.partition_point(|&(first, _)| first <= at);
        i > 0 && list[i - 1].1 >= at
    }

    pub fn is_empty(&self) -> bool {
        self.v4.is_empty() && self.v6.is_empty()
    }

    /// Whether every address of (normalized) `other` is in this (normalized) set.
    pub fn is_superset_of(&self, other: &IpSet) -> bool {
        let within = |outer: &[(u128, u128)], inner: &[(u128, u128)]| {
            // The bounds first: most sets that are not supersets fail here.
            let bounded = match (outer.first(), outer.last(), inner.first(), inner.last()) {
                (_, _, None, _) | (_, _, _, None) => return true,
                (Some(o_first), Some(o_last), Some(i_first), Some(i_last)) => {
                    o_first.0 <= i_first.0 && o_last.1 >= i_last.1
                }
                _ => false,
            };
            bounded
                && inner.iter().all(|&(first, last)| {
                    let i = outer.partition_point(|&(start, _)| start <= first);
                    i > 0 && outer[i - 1].1 >= last
                })
        };
        within(&self.v4, &other.v4) && within(&self.v6, &other.v6)
    }

    /// The set's addresses of one family only.
    pub fn only(mut self, v6: bool) -> Self {
        self.list(!v6).clear();
        self
    }

    /// Whether the set holds every address of one family.
    pub fn holds_all(&self, v6: bool) -> bool {
        self.is_superset_of(&IpSet::all(v6))
    }

    /// Whether the set holds an address of each family: (IPv4, IPv6).
    pub fn families(&self) -> (bool, bool) {
        (!self.v4.is_empty(), !self.v6.is_empty())
    }

    /// The set as the fewest CIDRs, IPv4 then IPv6 (an interval that is not a network is cut
    /// into networks).
    pub fn cidrs(&self) -> Vec<ipnet::IpNet> {
        let mut out = Vec::new();
        for (first, last) in self.ranges() {
            match (first, last) {
                (IpAddr::V4(a), IpAddr::V4(b)) => {
                    out.extend(ipnet::Ipv4Subnets::new(a, b, 0).map(ipnet::IpNet::V4))
                }
                (IpAddr::V6(a), IpAddr::V6(b)) => {
                    out.extend(ipnet::Ipv6Subnets::new(a, b, 0).map(ipnet::IpNet::V6))
                }
                _ => {}
            }
        }
        out
    }

    /// The intervals, IPv4 then IPv6, as first and last address.
    pub fn ranges(&self) -> impl Iterator<Item = (IpAddr, IpAddr)> + '_ {
        let v4 = self.v4.iter().map(|&(a, b)| {
            let addr = |n: u128| IpAddr::from(std::net::Ipv4Addr::from(u32::try_from(n).unwrap_or(u32::MAX)));
            (addr(a), addr(b))
        });
        let v6 = self.v6.iter().map(|&(a, b)| {
            (IpAddr::from(std::net::Ipv6Addr::from(a)), IpAddr::from(std::net::Ipv6Addr::from(b)))
        });
        v4.chain(v6)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intervals_merge_and_answer_membership() {
        let mut set = IpSet::default();
        set.insert_net("10.0.0.5/24".parse().unwrap());
        set.insert_net("10.0.1.0/24".parse().unwrap());
        set.insert_address("192.0.2.1".parse().unwrap());
        set.insert_net("2001:db8::/64".parse().unwrap());
        let set = set.normalized();
        assert_eq!(set.v4.len(), 2, "adjacent /24s are one interval");
        for inside in ["10.0.0.0", "10.0.1.255", "192.0.2.1", "2001:db8::ffff", "::ffff:10.0.0.7"] {
            assert!(set.contains(inside.parse().unwrap()), "{inside}");
        }
        for outside in ["10.0.2.0", "192.0.2.2", "2001:db8:1::", "9.255.255.255"] {
            assert!(!set.contains(outside.parse().unwrap()), "{outside}");
        }
        assert!(IpSet::all(false).normalized().contains("255.255.255.255".parse().unwrap()));
        assert!(!IpSet::all(false).normalized().contains("::1".parse().unwrap()));
    }

    #[test]
    fn supersets_families_and_cidrs() {
        let set = |nets: &[&str]| {
            let mut s = IpSet::default();
            nets.iter().for_each(|n| s.insert_net(n.parse().unwrap()));
            s.normalized()
        };
        let big = set(&["10.0.0.0/16", "2001:db8::/32"]);
        assert!(big.is_superset_of(&set(&["10.0.3.0/24", "10.0.0.1/32"])));
        assert!(!big.is_superset_of(&set(&["10.0.3.0/24", "10.1.0.0/24"])));
        assert!(!set(&["10.0.0.0/25", "10.0.0.128/25"]).is_superset_of(&set(&["10.0.1.0/24"])));
        assert!(set(&["10.0.0.0/25", "10.0.0.128/25"]).is_superset_of(&set(&["10.0.0.0/24"])));
        assert!(big.is_superset_of(&IpSet::default()));
        assert!(set(&["0.0.0.0/1", "128.0.0.0/1"]).holds_all(false));
        assert!(!big.holds_all(false) && !big.holds_all(true));
        assert_eq!(set(&["10.0.0.0/24"]).families(), (true, false));
        let mut odd = IpSet::default();
        odd.insert_address("10.0.0.1".parse().unwrap());
        odd.insert_address("10.0.0.2".parse().unwrap());
        odd.insert_address("10.0.0.3".parse().unwrap());
        let cidrs: Vec<String> = odd.normalized().cidrs().iter().map(ToString::to_string).collect();
        assert_eq!(cidrs, ["10.0.0.1/32", "10.0.0.2/31"]);
        assert_eq!(
            big.cidrs().iter().map(ToString::to_string).collect::<Vec<_>>(),
            ["10.0.0.0/16", "2001:db8::/32"]
        );
    }
}
