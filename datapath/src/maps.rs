//! The Rust mirror of the BPF maps' keys and values (`xdp/steer.c`, `xdp/sink.c`): the one
//! definition that the director (`xvs`) and the harness (`xvs-bench`) both use.
//!
//! Invariants:
//! - Every struct here has the C layout of its `xdp/` counterpart, with no padding holes
//!   (which is what makes the `Pod` impls sound): addresses are 16 bytes (IPv4 as
//!   `::ffff:a.b.c.d`), ports are in network byte order in memory.
//! - Keys are built only through the constructors here, so no caller lays out bytes by hand.

use std::net::IpAddr;

use aya::maps::lpm_trie::Key as LpmKey;
use aya::Pod;

/// Queues per interface in the XSKMAP layout (`MAX_QUEUES` in steer.c): the socket of
/// interface slot `s`, queue `q` sits at index `s * MAX_QUEUES + q`.
pub const MAX_QUEUES: u32 = 64;

/// The XSKMAP index of interface slot `slot`, queue `queue`.
pub fn xsk_index(slot: u32, queue: u32) -> u32 {
    slot * MAX_QUEUES + queue
}

/// A 16-byte map address: IPv4 as `::ffff:a.b.c.d`, IPv6 as is.
pub fn addr_key(addr: IpAddr) -> [u8; 16] {
    match addr {
        IpAddr::V4(a) => a.to_ipv6_mapped().octets(),
        IpAddr::V6(a) => a.octets(),
    }
}

/// `struct endpoint`: the key of `vips` and `reals`.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Endpoint {
    addr: [u8; 16],
    /// Network byte order in memory.
    port: u16,
    proto: u8,
    pad: u8,
}

// SAFETY: plain old data with no padding holes (16 + 2 + 1 + 1 bytes, alignment 2).
unsafe impl Pod for Endpoint {}

impl Endpoint {
    pub fn new(addr: IpAddr, port: u16, proto: u8) -> Endpoint {
        Endpoint { addr: addr_key(addr), port: u16::from_ne_bytes(port.to_be_bytes()), proto, pad: 0 }
    }
}

/// `struct addr_key` (xdp/common.h): the key of `vip_addrs`, `real_addrs`, `local_addrs`
/// and of the decap program's address map.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct AddrKey {
    addr: [u8; 16],
}

// SAFETY: plain bytes.
unsafe impl Pod for AddrKey {}

impl AddrKey {
    pub fn new(addr: IpAddr) -> AddrKey {
        AddrKey { addr: addr_key(addr) }
    }
}

/// The data part of `struct prefix_key` (after its `prefixlen`): protocol, port in network
/// order, address. aya's `LpmKey` supplies the length word.
pub type PrefixData = [u8; 19];

/// The `vip_prefixes` key of a prefix VIP `vip/prefix_len` (the prefix length counts the
/// protocol and port bytes, and for IPv4 the `::ffff:` part, as the C side does).
pub fn prefix_key(proto: u8, port: u16, vip: IpAddr, prefix_len: u8) -> LpmKey<PrefixData> {
    let mut data = [0u8; 19];
    data[0] = proto;
    data[1..3].copy_from_slice(&port.to_be_bytes());
    data[3..].copy_from_slice(&addr_key(vip));
    let bits = 24 + if vip.is_ipv4() { 96 + u32::from(prefix_len) } else { u32::from(prefix_len) };
    LpmKey::new(bits, data)
}

/// The value of the sink's `director` map (`xdp/sink.c`): a MAC padded to 8 bytes.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SinkMac {
    addr: [u8; 8],
}

// SAFETY: plain bytes, no padding.
unsafe impl Pod for SinkMac {}

impl SinkMac {
    pub fn new(mac: [u8; 6]) -> SinkMac {
        let mut addr = [0u8; 8];
        addr[..6].copy_from_slice(&mac);
        SinkMac { addr }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layouts_match_the_c_structs() {
        assert_eq!(std::mem::size_of::<Endpoint>(), 20);
        assert_eq!(std::mem::size_of::<AddrKey>(), 16);
        assert_eq!(std::mem::size_of::<SinkMac>(), 8);
    }

    #[test]
    fn keys_are_laid_out_as_the_c_side_reads_them() {
        let k = addr_key("10.0.1.100".parse().unwrap());
        assert_eq!(k, [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 10, 0, 1, 100]);
        let e = Endpoint::new("10.0.1.100".parse().unwrap(), 80, 6);
        assert_eq!(e.port.to_ne_bytes(), [0, 80]);
        let p = prefix_key(6, 80, "203.0.113.0".parse().unwrap(), 24);
        assert_eq!(p.prefix_len(), 24 + 96 + 24);
        assert_eq!(&p.data()[..3], &[6, 0, 80]);
    }
}
