//! Per-service source filters: `allow` and `deny` prefix lists, what the host firewall
//! did for service traffic before XDP took it ahead of netfilter (DPVS has black and white
//! lists for the same reason).
//!
//! Invariants: checked when a packet would start a connection (and for every packet that
//! is scheduled without one: one-packet scheduling, stateless forwarding), never for a
//! packet of an existing connection, as a firewall's ESTABLISHED rule lets those through;
//! `deny` wins over `allow`; an empty `allow` allows every source; a prefix of one family
//! never matches a source of the other.

use std::net::IpAddr;

use crate::family::mask_ip;

/// A source prefix: network address and length.
pub type SourcePrefix = (IpAddr, u8);

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SourceFilter {
    /// Sources that may start connections; empty: all.
    pub allow: Vec<SourcePrefix>,
    /// Sources that may not, whatever `allow` says.
    pub deny: Vec<SourcePrefix>,
}

fn contains(list: &[SourcePrefix], src: IpAddr) -> bool {
    list.iter().any(|&(net, len)| net.is_ipv4() == src.is_ipv4() && mask_ip(src, len) == net)
}

impl SourceFilter {
    /// No rule at all: every source is admitted without looking.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.allow.is_empty() && self.deny.is_empty()
    }

    /// Whether `src` may start a connection.
    pub fn admits(&self, src: IpAddr) -> bool {
        !contains(&self.deny, src) && (self.allow.is_empty() || contains(&self.allow, src))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> SourcePrefix {
        let (a, l) = s.split_once('/').unwrap();
        (a.parse().unwrap(), l.parse().unwrap())
    }

    #[test]
    fn deny_wins_allow_limits_families_stay_apart() {
        let f = SourceFilter { allow: vec![p("10.0.0.0/8"), p("2001:db8::/32")], deny: vec![p("10.6.6.0/24")] };
        let ok = |s: &str| f.admits(s.parse().unwrap());
        assert!(ok("10.1.2.3") && ok("2001:db8::5"));
        assert!(!ok("10.6.6.7"), "deny wins");
        assert!(!ok("192.0.2.1") && !ok("2001:db9::1"), "not in allow");
        let deny_only = SourceFilter { allow: vec![], deny: vec![p("0.0.0.0/0")] };
        assert!(!deny_only.admits("198.51.100.1".parse().unwrap()));
        assert!(deny_only.admits("2001:db8::1".parse().unwrap()), "an IPv4 prefix never matches IPv6");
        assert!(SourceFilter::default().admits("192.0.2.1".parse().unwrap()));
    }
}
