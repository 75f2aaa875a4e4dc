//! Names of services and reals inside the program: typed, never strings.
//!
//! - [`ServiceId`] and [`RealId`] are one engine's indices into its service table; they
//!   are stable for the engine's life (never reused) and equal on every poll core's
//!   engine, which applies the same configurations in the same order.
//! - [`ServiceKey`] and [`RealKey`] name a service or a real as the operator does (by
//!   protocol, address and port), across engines, reloads and processes: the key of the
//!   director-wide counters, of health state and of every listing. Strings are made from
//!   them only for people (`Display`), never parsed back.

use std::fmt;
use std::net::IpAddr;

use serde::{Deserialize, Serialize};

/// A service's index in one engine's service table.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ServiceId(pub u16);

/// A real's index in one engine's service table.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RealId(pub u32);

impl ServiceId {
    /// The position in the service table's `services`.
    #[inline]
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

impl RealId {
    /// The position in the service table's `reals`.
    #[inline]
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

/// A service: protocol, VIP (or VIP prefix) and port (0: every port); or a firewall
/// mark (`fwmark` non-zero: then `proto` 0, `vip` the unspecified address of the
/// service's family, `prefix_len` and `port` 0).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct ServiceKey {
    pub proto: u8,
    pub vip: IpAddr,
    pub prefix_len: u8,
    pub port: u16,
    #[serde(default)]
    pub fwmark: u32,
}

/// A real of a service (the sorry server is a real of its own).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct RealKey {
    pub service: ServiceKey,
    pub addr: IpAddr,
    pub port: u16,
    pub sorry: bool,
}

/// `addr:port`, with IPv6 in brackets.
pub fn fmt_endpoint(f: &mut fmt::Formatter<'_>, addr: IpAddr, port: u16) -> fmt::Result {
    match addr {
        IpAddr::V4(a) => write!(f, "{a}:{port}"),
        IpAddr::V6(a) => write!(f, "[{a}]:{port}"),
    }
}

/// The protocol's name as ipvsadm prints it.
pub fn proto_name(proto: u8) -> &'static str {
    match proto {
        6 => "TCP",
        17 => "UDP",
        132 => "SCTP",
        _ => "IP",
    }
}

impl ServiceKey {
    /// True when the VIP is a prefix rather than one address (never for a fwmark).
    pub fn is_prefix(&self) -> bool {
        self.fwmark == 0 && self.prefix_len < if self.vip.is_ipv4() { 32 } else { 128 }
    }
}

impl fmt::Display for ServiceKey {
    /// `TCP 10.0.1.100:80`, `UDP [2001:db8::1]:53`, `TCP 203.0.113.0/24:80`, `FWM 1`
    /// (`FWM 1 IPv6`), as ipvsadm names them.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.fwmark != 0 {
            return write!(f, "FWM {}{}", self.fwmark, if self.vip.is_ipv6() { " IPv6" } else { "" });
        }
        write!(f, "{} ", proto_name(self.proto))?;
        if self.is_prefix() {
            match self.vip {
                IpAddr::V4(a) => write!(f, "{a}/{}:{}", self.prefix_len, self.port),
                IpAddr::V6(a) => write!(f, "[{a}/{}]:{}", self.prefix_len, self.port),
            }
        } else {
            fmt_endpoint(f, self.vip, self.port)
        }
    }
}

/// A real's endpoint as people read it: `addr:port`.
#[derive(Clone, Copy, Debug)]
pub struct Endpoint(pub IpAddr, pub u16);

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt_endpoint(f, self.0, self.1)
    }
}

impl RealKey {
    /// The real's endpoint, for display.
    pub fn endpoint(&self) -> Endpoint {
        Endpoint(self.addr, self.port)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_display_as_ipvsadm_does() {
        let s = ServiceKey { proto: 6, vip: "10.0.1.100".parse().unwrap(), prefix_len: 32, port: 80, fwmark: 0 };
        assert_eq!(s.to_string(), "TCP 10.0.1.100:80");
        let s6 = ServiceKey { proto: 17, vip: "2001:db8::1".parse().unwrap(), prefix_len: 128, port: 53, fwmark: 0 };
        assert_eq!(s6.to_string(), "UDP [2001:db8::1]:53");
        let p = ServiceKey { proto: 6, vip: "203.0.113.0".parse().unwrap(), prefix_len: 24, port: 80, fwmark: 0 };
        assert_eq!(p.to_string(), "TCP 203.0.113.0/24:80");
        let r = RealKey { service: s, addr: "10.0.2.11".parse().unwrap(), port: 8080, sorry: false };
        assert_eq!(r.endpoint().to_string(), "10.0.2.11:8080");
    }
}
