//! IPVS's tunnel types for TUN reals (ipvsadm `--tun-type`, `--tun-port`,
//! `--tun-nocsum|--tun-csum|--tun-remcsum`; keepalived `lvs_method TUN [type {ipip|gue
//! port N|gre} [nocsum|csum|remcsum]]`).
//!
//! Invariants (for a validated `Config`): a GUE tunnel has a port; `port` is 0 otherwise;
//! checksum options are on GUE or GRE only, and never `remcsum` (remote checksum offload,
//! which xvs does not do).

use std::fmt;

keyword_enum!(
    /// The encapsulation after the outer IP header.
    TunnelType { Ipip = "ipip", Gue = "gue", Gre = "gre" }
);

keyword_enum!(
    /// Tunnel checksum option (ipvsadm's default: nocsum).
    TunnelCsum { NoCsum = "nocsum", Csum = "csum", RemCsum = "remcsum" }
);

/// A TUN real's tunnel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tunnel {
    pub kind: TunnelType,
    /// GUE's UDP destination port; 0 otherwise.
    pub port: u16,
    pub csum: TunnelCsum,
}

impl Default for Tunnel {
    fn default() -> Self {
        Tunnel { kind: TunnelType::Ipip, port: 0, csum: TunnelCsum::NoCsum }
    }
}

impl fmt::Display for Tunnel {
    /// keepalived's words: `ipip`, `gue port 6080 csum`, `gre`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.kind)?;
        if self.kind == TunnelType::Gue {
            write!(f, " port {}", self.port)?;
        }
        if self.csum != TunnelCsum::NoCsum {
            write!(f, " {}", self.csum)?;
        }
        Ok(())
    }
}
