//! Value syntax shared by every reader: VIPs, addresses, MACs, masks, flag lists,
//! plus the edit-distance helper used for "did you mean" hints.
//!
//! Invariants:
//! - Pure functions of their input; no I/O, no knowledge of the file format.
//! - Failures return a [`Problem`] whose message names what was expected and whose
//!   hint shows a correct spelling.
//! - These check syntax only; semantic rules (host bits in a prefix, families,
//!   ranges that depend on other values) belong to `validate.rs`.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use crate::model::{full_prefix, SourcePrefix, Vip};

/// A syntax problem: what is wrong, and how to write it instead.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub message: String,
    pub hint: Option<String>,
}

impl Problem {
    pub(crate) fn new(message: impl Into<String>, hint: impl Into<String>) -> Problem {
        Problem { message: message.into(), hint: Some(hint.into()) }
    }
}

fn parse_port(s: &str, what: &str, example: &str) -> Result<u16, Problem> {
    s.parse::<u16>().map_err(|_| {
        Problem::new(format!("bad port `{s}` in {what}: expected 0..=65535"), format!("write it as `{example}`"))
    })
}

/// Parses a VIP: `10.0.1.100:80`, `[2001:db8::1]:80`, `203.0.113.0/24:80`,
/// `[2001:db8::/64]:80`.
pub fn parse_vip(s: &str) -> Result<Vip, Problem> {
    let bad = |why: &str| {
        Problem::new(
            format!("bad VIP `{s}`: {why}"),
            "write `10.0.1.100:80`, `[2001:db8::1]:80`, or a prefix `203.0.113.0/24:80` / `[2001:db8::/64]:80` (port 0 = every port)",
        )
    };
    let (host, port) = if let Some(rest) = s.strip_prefix('[') {
        let Some((host, port)) = rest.split_once("]:") else {
            return Err(bad("expected `[IPv6]:port`"));
        };
        (host, port)
    } else {
        let Some((host, port)) = s.rsplit_once(':') else {
            return Err(bad("missing `:port`"));
        };
        if host.contains(':') {
            return Err(bad("an IPv6 address must be in brackets"));
        }
        (host, port)
    };
    let port = parse_port(port, "VIP", "10.0.1.100:80")?;
    let (addr, len) = match host.split_once('/') {
        Some((a, l)) => (a, Some(l)),
        None => (host, None),
    };
    let addr: IpAddr = addr.parse().map_err(|_| bad(&format!("`{addr}` is not an IP address")))?;
    if s.starts_with('[') && addr.is_ipv4() {
        return Err(bad("brackets are only for IPv6"));
    }
    let prefix_len = match len {
        None => full_prefix(addr),
        Some(l) => match l.parse::<u8>() {
            Ok(l) if l <= full_prefix(addr) => l,
            _ => return Err(bad(&format!("prefix length `{l}` must be 0..={}", full_prefix(addr)))),
        },
    };
    Ok(Vip { addr, prefix_len, port })
}

/// Parses a source prefix of `allow`/`deny`: `10.0.0.0/8`, `2001:db8::/32`, or one address
/// (`192.0.2.7`, a /32 or /128). Host bits must be zero, so a typo cannot widen a rule.
pub fn parse_source_prefix(s: &str) -> Result<SourcePrefix, Problem> {
    let bad = |why: String, hint: String| Problem::new(format!("bad source prefix `{s}`: {why}"), hint);
    let (a, l) = match s.split_once('/') {
        Some((a, l)) => (a, Some(l)),
        None => (s, None),
    };
    let addr: IpAddr = a
        .parse()
        .map_err(|_| bad(format!("`{a}` is not an IP address"), "write `10.0.0.0/8` or `2001:db8::/32`".into()))?;
    let full = full_prefix(addr);
    let len = match l {
        None => full,
        Some(l) => match l.parse::<u8>() {
            Ok(n) if n <= full => n,
            _ => return Err(bad(format!("prefix length `{l}` must be 0..={full}"), "write `10.0.0.0/8`".into())),
        },
    };
    let net = crate::validate::network(addr, len);
    if net != addr {
        return Err(bad(format!("host bits are set (the network is {net}/{len})"), format!("write `{net}/{len}`")));
    }
    Ok(SourcePrefix { addr, len })
}

/// Parses `ip:port`, `[ipv6]:port`, or (when `default_port` is given) a bare
/// `ip` / `ipv6`, which takes `default_port`.
pub fn parse_endpoint(s: &str, default_port: Option<u16>, what: &str) -> Result<SocketAddr, Problem> {
    if let Ok(sa) = s.parse::<SocketAddr>() {
        return Ok(sa);
    }
    if let Some(port) = default_port {
        if let Ok(ip) = s.parse::<IpAddr>() {
            return Ok(SocketAddr::new(ip, port));
        }
    }
    let hint = if default_port.is_some() {
        "write `10.0.2.11:80`, `[2001:db8::11]:80`, or just the address to use the service port"
    } else {
        "write `127.0.0.1:9477` or `[::1]:9477`"
    };
    let why = if !s.starts_with('[') && s.matches(':').count() > 1 && s.parse::<IpAddr>().is_err() {
        ": an IPv6 address with a port must be in brackets"
    } else {
        ""
    };
    Err(Problem::new(format!("bad {what} `{s}`{why}"), hint))
}

/// Parses an IP address of either family.
pub fn parse_ip(s: &str, what: &str) -> Result<IpAddr, Problem> {
    s.parse().map_err(|_| {
        Problem::new(format!("bad {what} `{s}`: not an IP address"), "write `10.0.2.1` or `2001:db8:2::1` (no port)")
    })
}

/// Parses a MAC: six hex octets separated by `:` or `-`.
pub fn parse_mac(s: &str) -> Result<[u8; 6], Problem> {
    let bad = || Problem::new(format!("bad MAC address `{s}`"), "write six hex octets, e.g. `02:00:00:00:02:11`");
    let parts: Vec<&str> = s.split([':', '-']).collect();
    if parts.len() != 6 {
        return Err(bad());
    }
    let mut mac = [0u8; 6];
    for (b, p) in mac.iter_mut().zip(parts) {
        if p.is_empty() || p.len() > 2 {
            return Err(bad());
        }
        *b = u8::from_str_radix(p, 16).map_err(|_| bad())?;
    }
    Ok(mac)
}

/// Parses a dotted IPv4 netmask (`255.255.255.0`) to its prefix length; the mask must
/// be contiguous.
pub fn parse_dotted_mask(s: &str) -> Result<u8, Problem> {
    let m: Ipv4Addr = s.parse().map_err(|_| {
        Problem::new(
            format!("bad persistence_netmask `{s}`"),
            "write a prefix length (`24`) or, for IPv4, a dotted mask (`255.255.255.0`)",
        )
    })?;
    let bits = u32::from(m);
    let len = bits.leading_ones();
    if bits.checked_shl(len).unwrap_or(0) != 0 {
        let near = Ipv4Addr::from(if len == 0 { 0 } else { u32::MAX << (32 - len) });
        return Err(Problem::new(
            format!("persistence_netmask `{s}` is not a contiguous mask"),
            format!("ones must come first: did you mean `{near}` (/{len})?"),
        ));
    }
    Ok(len as u8)
}

/// Levenshtein distance between two short strings.
pub fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let sub = prev[j] + usize::from(ca != *cb);
            cur[j + 1] = sub.min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

/// The candidate closest to `word`, if it is close enough to be a likely typo.
pub fn closest<'a>(word: &str, candidates: &[&'a str]) -> Option<&'a str> {
    let limit = (word.chars().count() / 3).max(2);
    candidates
        .iter()
        .map(|c| (edit_distance(word, c), *c))
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

/// "did you mean `x`?" when a candidate is close, else "expected one of: a, b, c".
pub fn suggest(word: &str, candidates: &[&str]) -> String {
    match closest(word, candidates) {
        Some(c) => format!("did you mean `{c}`?"),
        None => format!("expected one of: {}", candidates.join(", ")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vips() {
        let v = parse_vip("10.0.1.100:80").unwrap();
        assert_eq!((v.prefix_len, v.port), (32, 80));
        let v = parse_vip("[2001:db8::1]:443").unwrap();
        assert_eq!((v.prefix_len, v.port), (128, 443));
        let v = parse_vip("203.0.113.0/24:80").unwrap();
        assert_eq!(v.prefix_len, 24);
        let v = parse_vip("[2001:db8::/64]:0").unwrap();
        assert_eq!((v.prefix_len, v.port), (64, 0));
        for bad in ["10.0.1.100", "2001:db8::1:80", "[10.0.0.1]:80", "10.0.0.1/33:80", "x:80", "1.2.3.4:70000"] {
            assert!(parse_vip(bad).is_err(), "{bad}");
        }
        for s in ["10.0.1.100:80", "[2001:db8::1]:80", "203.0.113.0/24:80", "[2001:db8::/64]:80"] {
            assert_eq!(parse_vip(s).unwrap().to_string(), s);
        }
    }

    #[test]
    fn endpoints_macs_masks() {
        assert_eq!(parse_endpoint("10.0.2.11", Some(80), "real").unwrap(), "10.0.2.11:80".parse().unwrap());
        assert_eq!(parse_endpoint("2001:db8::11", Some(80), "real").unwrap(), "[2001:db8::11]:80".parse().unwrap());
        assert!(parse_endpoint("10.0.2.11", None, "metrics").is_err());
        assert_eq!(parse_mac("02:00:00:00:02:11").unwrap(), [2, 0, 0, 0, 2, 0x11]);
        assert!(parse_mac("02:00:00:00:02").is_err());
        assert!(parse_mac("02:00:00:00:02:1g").is_err());
        assert_eq!(parse_dotted_mask("255.255.255.0").unwrap(), 24);
        assert_eq!(parse_dotted_mask("0.0.0.0").unwrap(), 0);
        assert_eq!(parse_dotted_mask("255.255.255.255").unwrap(), 32);
        assert!(parse_dotted_mask("255.0.255.0").is_err());
    }

    #[test]
    fn distance() {
        assert_eq!(edit_distance("schedular", "scheduler"), 1);
        assert_eq!(closest("schedular", &["vip", "scheduler"]), Some("scheduler"));
        assert_eq!(closest("zzzzzz", &["vip", "scheduler"]), None);
    }
}
