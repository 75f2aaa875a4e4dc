//! Synthetic traffic for the engine benchmark: IPv4 or IPv6 TCP/UDP frames written into a
//! fixed pool of `FrameBuf`s from a template, with only addresses, ports and checksums
//! patched per packet. IPv4 frames are padded to 60 bytes (the Ethernet minimum); IPv6
//! frames are longer than that (74 bytes for a bare TCP segment).
//!
//! Invariants:
//! - A flow is a number; its client address and port are computed from it (no per-flow
//!   array, so the generator adds no cache misses of its own at 10M flows). Flow `i` of
//!   core `c` has the 32-bit client number `10.128.0.0 + c * 2^17 + i / 64512` and port
//!   `1024 + i % 64512`: the IPv4 client is that number, the IPv6 client is
//!   `2001:db8:ff::/96` with that number in its low 32 bits. Cores never share a client
//!   endpoint (each core owns its flows).
//! - Every frame written is valid: only the last 4 bytes of an address are patched (the
//!   upper 12 bytes of an IPv6 address are the template's), and the IPv4 header checksum
//!   and the TCP/UDP checksums are updated incrementally (RFC 1624) from the template's
//!   correct ones. IPv6 has no header checksum.
//! - The two families differ only in data ([`Net`]: field offsets and addresses), not in
//!   code.
//! - Established traffic picks flows in random order (xorshift64*, multiply-shift into
//!   `0..flows`), so a large flow set is not cache-friendly by accident; new flows take
//!   fresh numbers from `flows` up, never reused within a run.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use xvs_engine::{FrameBuf, HEADROOM};
use xvs_proto::build::Frame;
use xvs_proto::{csum_replace2, csum_replace4, tcp_flags};

pub const VPORT: u16 = 80;
/// IPv4 frames are padded to the Ethernet minimum (64 bytes on the wire with the FCS).
pub const MIN_FRAME_LEN: usize = 60;
/// Room for the longest template (IPv6 UDP with its payload: 67 bytes).
const MAX_FRAME_LEN: usize = 80;
const UDP_PAYLOAD: &[u8] = b"bench";

const PORTS_PER_IP: u32 = 64_512;
const PORT_BASE: u32 = 1024;
const CLIENT_BASE: u32 = 0x0a80_0000; // 10.128.0.0

/// The address family of the generated traffic and of the service.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Family {
    V4,
    V6,
}

/// One family's bench network and where its fields sit in an untagged frame without IPv4
/// options or IPv6 extension headers.
#[derive(Debug)]
pub struct Net {
    pub name: &'static str,
    /// The service address.
    pub vip: IpAddr,
    /// The director's own address (the tunnel source).
    pub dip: IpAddr,
    /// The first real; real `i` adds `i` to its low 32 bits.
    real0: IpAddr,
    /// Clients: this address with the client number in its low 32 bits.
    clients: IpAddr,
    /// IPv4 header checksum (IPv6 has none).
    ip_csum: Option<usize>,
    /// The last 4 bytes of the source and of the destination address.
    src_low: usize,
    dst_low: usize,
    /// The transport header (source port, then destination port).
    l4: usize,
}

const NET4: Net = Net {
    name: "v4",
    vip: IpAddr::V4(Ipv4Addr::new(10, 0, 1, 100)),
    dip: IpAddr::V4(Ipv4Addr::new(10, 0, 2, 1)),
    real0: IpAddr::V4(Ipv4Addr::new(10, 0, 2, 11)),
    clients: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
    ip_csum: Some(24),
    src_low: 26,
    dst_low: 30,
    l4: 34,
};

const NET6: Net = Net {
    name: "v6",
    vip: IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 1, 0, 0, 0, 0, 0x100)),
    dip: IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 2, 0, 0, 0, 0, 1)),
    real0: IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 2, 0, 0, 0, 0, 0x11)),
    clients: IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0xff, 0, 0, 0, 0, 0)),
    ip_csum: None,
    src_low: 34,
    dst_low: 50,
    l4: 54,
};

impl Family {
    pub fn net(self) -> &'static Net {
        match self {
            Family::V4 => &NET4,
            Family::V6 => &NET6,
        }
    }
}

/// `base` with its last 4 bytes replaced by `low`.
pub fn with_low(base: IpAddr, low: [u8; 4]) -> IpAddr {
    match base {
        IpAddr::V4(_) => IpAddr::V4(low.into()),
        IpAddr::V6(a) => {
            let mut o = a.octets();
            o[12..].copy_from_slice(&low);
            IpAddr::V6(o.into())
        }
    }
}

fn low_of(a: IpAddr) -> [u8; 4] {
    match a {
        IpAddr::V4(a) => a.octets(),
        IpAddr::V6(a) => {
            let o = a.octets();
            [o[12], o[13], o[14], o[15]]
        }
    }
}

fn be16(b: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([b[at], b[at + 1]])
}

fn low4(b: &[u8], at: usize) -> [u8; 4] {
    [b[at], b[at + 1], b[at + 2], b[at + 3]]
}

impl Net {
    /// Real `i` of the service.
    pub fn real(&self, i: u8) -> IpAddr {
        with_low(self.real0, (u32::from_be_bytes(low_of(self.real0)) + u32::from(i)).to_be_bytes())
    }

    /// The client whose low 32 bits are `low` (see [`client`]).
    pub fn client(&self, low: [u8; 4]) -> IpAddr {
        with_low(self.clients, low)
    }

    /// The destination endpoint (last 4 address bytes, port) of a (rewritten) frame in
    /// `f`.
    pub fn dst_of(&self, f: &FrameBuf) -> ([u8; 4], u16) {
        let b = f.data();
        (low4(b, self.dst_low), be16(b, self.l4 + 2))
    }
}

/// The low 32 bits of the client address and the port of flow `idx` of core `core`.
#[inline]
pub fn client(core: usize, idx: u32) -> ([u8; 4], u16) {
    let ip = CLIENT_BASE + ((core as u32) << 17) + idx / PORTS_PER_IP;
    (ip.to_be_bytes(), (PORT_BASE + idx % PORTS_PER_IP) as u16)
}

/// A frame to copy and patch.
#[derive(Clone, Debug)]
pub struct Template {
    bytes: [u8; MAX_FRAME_LEN],
    len: usize,
    net: &'static Net,
    src: [u8; 4],
    sport: u16,
    dst: [u8; 4],
    dport: u16,
    ip_csum: u16,
    l4_csum: u16,
    l4_csum_at: usize,
}

/// Checksums being patched: (IPv4 header, TCP/UDP).
type Csums = (u16, u16);

impl Template {
    fn from_frame(net: &'static Net, f: Frame, udp: bool) -> Template {
        let v = f.pad_to(MIN_FRAME_LEN).build();
        let mut bytes = [0u8; MAX_FRAME_LEN];
        bytes[..v.len()].copy_from_slice(&v);
        let l4_csum_at = net.l4 + if udp { 6 } else { 16 };
        Template {
            len: v.len(),
            net,
            src: low4(&bytes, net.src_low),
            sport: be16(&bytes, net.l4),
            dst: low4(&bytes, net.dst_low),
            dport: be16(&bytes, net.l4 + 2),
            ip_csum: net.ip_csum.map_or(0, |at| be16(&bytes, at)),
            l4_csum: be16(&bytes, l4_csum_at),
            l4_csum_at,
            bytes,
        }
    }

    fn first_client(net: &Net) -> SocketAddr {
        let (ip, port) = client(0, 0);
        (net.client(ip), port).into()
    }

    /// A TCP segment client -> VIP with `flags`.
    pub fn tcp_to_vip(family: Family, flags: u8) -> Template {
        let net = family.net();
        Template::from_frame(net, Frame::tcp(Self::first_client(net), (net.vip, VPORT).into(), flags), false)
    }

    /// A UDP datagram client -> `VIP:port`.
    pub fn udp_to_vip(family: Family, port: u16) -> Template {
        let net = family.net();
        let f = Frame::udp(Self::first_client(net), (net.vip, port).into()).payload(UDP_PAYLOAD);
        Template::from_frame(net, f, true)
    }

    /// A TCP segment real -> client (a NAT reply), addresses patched by [`Template::write`].
    pub fn tcp_reply(family: Family, flags: u8) -> Template {
        let net = family.net();
        Template::from_frame(net, Frame::tcp((net.real(0), 80).into(), Self::first_client(net), flags), false)
    }

    /// Copy the template into `f`; the frame's bytes.
    #[inline]
    fn copy_into<'a>(&self, f: &'a mut FrameBuf) -> &'a mut [u8] {
        f.head = HEADROOM;
        f.len = self.len;
        let b = &mut f.buf[HEADROOM..HEADROOM + self.len];
        b.copy_from_slice(&self.bytes[..self.len]);
        b
    }

    /// Write the endpoint `new` over `old` (address low bytes at `addr_at`, port at
    /// `port_at`); the checksums `c` updated for it.
    #[inline]
    fn patch(
        b: &mut [u8],
        addr_at: usize,
        port_at: usize,
        old: ([u8; 4], u16),
        new: ([u8; 4], u16),
        c: Csums,
    ) -> Csums {
        b[addr_at..addr_at + 4].copy_from_slice(&new.0);
        b[port_at..port_at + 2].copy_from_slice(&new.1.to_be_bytes());
        let ip = csum_replace4(c.0, old.0, new.0);
        let l4 = csum_replace2(csum_replace4(c.1, old.0, new.0), old.1, new.1);
        (ip, l4)
    }

    #[inline]
    fn store(&self, b: &mut [u8], c: Csums) {
        if let Some(at) = self.net.ip_csum {
            b[at..at + 2].copy_from_slice(&c.0.to_be_bytes());
        }
        b[self.l4_csum_at..self.l4_csum_at + 2].copy_from_slice(&c.1.to_be_bytes());
    }

    /// Write the template into `f` with source `ip:port` (`ip` the low 32 bits, the hot
    /// path).
    #[inline]
    pub fn write_src(&self, f: &mut FrameBuf, ip: [u8; 4], port: u16) {
        let n = self.net;
        let b = self.copy_into(f);
        let c = Self::patch(b, n.src_low, n.l4, (self.src, self.sport), (ip, port), (self.ip_csum, self.l4_csum));
        self.store(b, c);
    }

    /// Write the template into each of `frames`, frame `i` from client `first + i` of
    /// `core` (setup only).
    pub fn write_clients(&self, frames: &mut [FrameBuf], core: usize, first: u32) {
        for (i, f) in frames.iter_mut().enumerate() {
            let (ip, port) = client(core, first + i as u32);
            self.write_src(f, ip, port);
        }
    }

    /// Write the template into `f` with both endpoints replaced (setup only).
    pub fn write(&self, f: &mut FrameBuf, src: ([u8; 4], u16), dst: ([u8; 4], u16)) {
        let n = self.net;
        let b = self.copy_into(f);
        let c = Self::patch(b, n.src_low, n.l4, (self.src, self.sport), src, (self.ip_csum, self.l4_csum));
        let c = Self::patch(b, n.dst_low, n.l4 + 2, (self.dst, self.dport), dst, c);
        self.store(b, c);
    }
}

/// The per-core packet generator of the measured phase.
#[derive(Clone, Debug)]
pub struct Gen {
    core: usize,
    flows: u32,
    rng: u64,
    /// A packet is a new flow's SYN when a random u64 is below this (ratio in (0, 1)).
    new_below: u64,
    all_new: bool,
    next_new: u32,
    ack: Template,
    syn: Template,
}

impl Gen {
    pub fn new(family: Family, core: usize, flows: u32, new_ratio: f64, seed: u64) -> Gen {
        Gen {
            core,
            flows,
            rng: seed | 1,
            new_below: (new_ratio.clamp(0.0, 1.0) * u64::MAX as f64) as u64,
            all_new: new_ratio >= 1.0 || flows == 0,
            next_new: flows,
            ack: Template::tcp_to_vip(family, tcp_flags::ACK),
            syn: Template::tcp_to_vip(family, tcp_flags::SYN),
        }
    }

    #[inline]
    fn next(&mut self) -> u64 {
        // xorshift64*
        let mut x = self.rng;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.rng = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// Fill every frame of `frames` with the next packets; returns how many are SYNs of
    /// new flows.
    #[inline]
    pub fn fill(&mut self, frames: &mut [FrameBuf]) -> u32 {
        let mut new = 0;
        for f in frames {
            let is_new = self.all_new || (self.new_below != 0 && self.next() < self.new_below);
            if is_new {
                let (ip, port) = client(self.core, self.next_new);
                self.next_new = self.next_new.wrapping_add(1);
                self.syn.write_src(f, ip, port);
                new += 1;
            } else {
                let idx = ((self.next() >> 32) * self.flows as u64) >> 32;
                let (ip, port) = client(self.core, idx as u32);
                self.ack.write_src(f, ip, port);
            }
        }
        new
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FAMILIES: [Family; 2] = [Family::V4, Family::V6];

    #[test]
    fn patched_frames_equal_built_ones() {
        for family in FAMILIES {
            let net = family.net();
            let mut f = FrameBuf::default();
            let (ip, port) = client(3, 1_000_000);
            let cl: SocketAddr = (net.client(ip), port).into();
            Template::tcp_to_vip(family, tcp_flags::ACK).write_src(&mut f, ip, port);
            let want = Frame::tcp(cl, (net.vip, VPORT).into(), tcp_flags::ACK).pad_to(MIN_FRAME_LEN).build();
            assert_eq!(f.data(), &want[..], "{family:?}");

            let real = (low_of(net.real(6)), 8080);
            let synack = tcp_flags::SYN | tcp_flags::ACK;
            Template::tcp_reply(family, synack).write(&mut f, real, (ip, port));
            let want = Frame::tcp((net.real(6), real.1).into(), cl, synack).pad_to(MIN_FRAME_LEN).build();
            assert_eq!(f.data(), &want[..], "{family:?}");
            assert_eq!(net.dst_of(&f), (ip, port));

            Template::udp_to_vip(family, 80).write_src(&mut f, ip, port);
            let want = Frame::udp(cl, (net.vip, 80).into()).payload(UDP_PAYLOAD).pad_to(MIN_FRAME_LEN).build();
            assert_eq!(f.data(), &want[..], "{family:?}");
        }
    }

    #[test]
    fn flows_are_distinct_and_in_range() {
        let mut seen = std::collections::HashSet::new();
        for core in 0..2 {
            for idx in (0..200_000u32).step_by(7) {
                assert!(seen.insert(client(core, idx)));
            }
        }
        for family in FAMILIES {
            let net = family.net();
            let mut g = Gen::new(family, 0, 1000, 0.25, 42);
            let mut frames = vec![FrameBuf::default(); 64];
            let mut new = 0;
            for _ in 0..100 {
                new += g.fill(&mut frames);
                for f in &frames {
                    let b = f.data();
                    let port = be16(b, net.l4) as u32 - PORT_BASE;
                    let flags = b[net.l4 + 13];
                    if flags == tcp_flags::ACK {
                        assert!(port < 1000);
                    }
                }
            }
            assert!((1200..2000).contains(&new), "{family:?}: {new} new of 6400");
        }
    }
}
