//! Firewall-mark services. IPVS groups traffic into one service by a mark that netfilter
//! sets (`iptables -t mangle ... -j MARK --set-mark 1`); xvs sees packets in XDP, before
//! netfilter could mark them, so the traffic a mark stands for is defined here: the
//! `[[fwmark]]` entries of a mark (in the xvs TOML, or in the file of `--fwmarks` for a
//! keepalived.conf or ipvsadm-save input) say which destinations, protocols and ports
//! carry it, and a service with `fwmark = N` (keepalived `virtual_server fwmark N`,
//! ipvsadm `-f N`) takes that traffic.
//!
//! Invariants (for a validated `Config`):
//! - A fwmark service has no VIP of its own: its `vip` is the unspecified address of its
//!   family with prefix length 0 and port 0, and code that reads a service's addresses
//!   asks [`Service::fwmark`] first.
//! - Every fwmark service's mark has at least one `[[fwmark]]` entry of the service's
//!   family; an entry whose mark no service uses is allowed (and steers nothing).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::{Protocol, Service, SourcePrefix, Vip};

/// `[[fwmark]]`: part of the traffic of a mark (several entries of one mark add up).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fwmark {
    pub mark: u32,
    /// The destination address or prefix (host bits zero).
    pub dst: SourcePrefix,
    /// Default: TCP and UDP.
    pub protocols: Vec<Protocol>,
    /// Inclusive destination port ranges; empty: every port.
    pub ports: Vec<(u16, u16)>,
}

impl Fwmark {
    /// Whether a packet of `proto` to `dst:dport` carries this mark.
    pub fn covers(&self, proto: Protocol, dst: IpAddr, dport: u16) -> bool {
        self.protocols.contains(&proto)
            && dst.is_ipv4() == self.dst.addr.is_ipv4()
            && crate::validate::network(dst, self.dst.len) == self.dst.addr
            && (self.ports.is_empty() || self.ports.iter().any(|&(a, b)| (a..=b).contains(&dport)))
    }
}

/// The VIP a fwmark service of family `v6` carries in the model (see the invariants).
pub fn fwmark_vip(v6: bool) -> Vip {
    let addr = if v6 { IpAddr::V6(Ipv6Addr::UNSPECIFIED) } else { IpAddr::V4(Ipv4Addr::UNSPECIFIED) };
    Vip { addr, prefix_len: 0, port: 0 }
}

impl Service {
    /// How messages name it: `tcp 10.0.1.100:80`, `fwmark 1`, `fwmark 1 (inet6)`.
    pub fn label(&self) -> String {
        match self.fwmark {
            Some(m) if self.vip.addr.is_ipv6() => format!("fwmark {m} (inet6)"),
            Some(m) => format!("fwmark {m}"),
            None => format!("{} {}", self.protocol, self.vip),
        }
    }

    /// A fwmark service of mark `mark` (IPv6 when `v6`) with every default applied.
    pub fn new_fwmark(mark: u32, v6: bool) -> Service {
        let mut s = Service::new(fwmark_vip(v6), Protocol::Tcp);
        s.fwmark = Some(mark);
        s
    }
}

/// Reads a port range list item: `80` or `"8000-8080"`.
pub fn parse_port_range(text: &str) -> Result<(u16, u16), String> {
    let (a, b) = text.split_once('-').unwrap_or((text, text));
    match (a.trim().parse::<u16>(), b.trim().parse::<u16>()) {
        (Ok(a), Ok(b)) if a <= b => Ok((a, b)),
        (Ok(_), Ok(_)) => Err(format!("the range `{text}` ends before it starts")),
        _ => Err(format!("`{text}` is not a port or a range `LOW-HIGH`")),
    }
}
