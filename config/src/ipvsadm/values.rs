//! ipvsadm's value syntax: numbers (`string_to_number`) and service addresses
//! (`parse_service`), with xvs's prefix VIPs.
//!
//! Invariant: pure, and the only reading of these values for ipvsadm's language.

use std::net::IpAddr;

use crate::model::full_prefix;

/// ipvsadm's `string_to_number`: a decimal integer in `min..=max`.
pub(crate) fn number(s: &str, min: u32, max: u32) -> Option<u32> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse::<u64>().ok().filter(|n| (u64::from(min)..=u64::from(max)).contains(n)).map(|n| n as u32)
}

/// ipvsadm's `parse_service`: `ADDR[:PORT]`, `[IPV6]:PORT`, or a bare IPv6 address; xvs
/// also takes a prefix (`203.0.113.0/24:80`, `[2001:db8::/64]:80`). Returns the address,
/// its prefix length, and the port if one was given.
pub fn parse_service(s: &str) -> Option<(IpAddr, u8, Option<u16>)> {
    if s.is_empty() || s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let (host, port) = if let Some(rest) = s.strip_prefix('[') {
        let (h, p) = rest.split_once("]:")?;
        (h, Some(p))
    } else if let Ok(v6) = s.parse::<std::net::Ipv6Addr>() {
        return Some((IpAddr::V6(v6), 128, None));
    } else if s.contains(':') && s.contains('/') && s.matches(':').count() > 1 {
        // A bare IPv6 prefix without a port.
        (s, None)
    } else {
        match s.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (s, None),
        }
    };
    let (addr, len) = match host.split_once('/') {
        Some((a, l)) => (a, Some(l)),
        None => (host, None),
    };
    let addr: IpAddr = addr.parse().ok()?;
    if s.starts_with('[') && addr.is_ipv4() {
        return None;
    }
    let len = match len {
        None => full_prefix(addr),
        Some(l) => number(l, 0, u32::from(full_prefix(addr)))? as u8,
    };
    let port = match port {
        None => None,
        Some(p) => Some(number(p, 0, 65535)? as u16),
    };
    Some((addr, len, port))
}
