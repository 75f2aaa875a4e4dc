//! Synthetic traffic for the engine benchmark: 60-byte IPv4 TCP/UDP frames written into a
//! fixed pool of `FrameBuf`s from a template, with only addresses, ports and checksums
//! patched per packet.
//!
//! Invariants:
//! - A flow is a number; its client address and port are computed from it (no per-flow
//!   array, so the generator adds no cache misses of its own at 10M flows). Flow `i` of
//!   core `c` is `10.128.0.0 + c * 2^17 + i / 64512` port `1024 + i % 64512`: cores never
//!   share a client endpoint (each core owns its flows).
//! - Every frame written is valid: the IPv4 header and TCP/UDP checksums are updated
//!   incrementally (RFC 1624) from the template's correct ones.
//! - Established traffic picks flows in random order (xorshift64*, multiply-shift into
//!   `0..flows`), so a large flow set is not cache-friendly by accident; new flows take
//!   fresh numbers from `flows` up, never reused within a run.

use std::net::{Ipv4Addr, SocketAddr};

use xvs_engine::{FrameBuf, HEADROOM};
use xvs_proto::build::Frame;
use xvs_proto::{csum_replace2, csum_replace4, tcp_flags};

/// The service address.
pub const VIP: Ipv4Addr = Ipv4Addr::new(10, 0, 1, 100);
pub const VPORT: u16 = 80;
/// Every frame is padded to the Ethernet minimum (64 bytes on the wire with the FCS).
pub const FRAME_LEN: usize = 60;

const PORTS_PER_IP: u32 = 64_512;
const PORT_BASE: u32 = 1024;
const CLIENT_BASE: u32 = 0x0a80_0000; // 10.128.0.0

// Offsets in an untagged IPv4 frame without options.
const IP_CSUM: usize = 24;
const IP_SRC: usize = 26;
const IP_DST: usize = 30;
const L4_SPORT: usize = 34;
const L4_DPORT: usize = 36;
const TCP_CSUM: usize = 50;
const UDP_CSUM: usize = 40;

/// Client address and port of flow `idx` of core `core`.
#[inline]
pub fn client(core: usize, idx: u32) -> ([u8; 4], u16) {
    let ip = CLIENT_BASE + ((core as u32) << 17) + idx / PORTS_PER_IP;
    (ip.to_be_bytes(), (PORT_BASE + idx % PORTS_PER_IP) as u16)
}

/// A frame to copy and patch.
#[derive(Clone, Debug)]
pub struct Template {
    bytes: [u8; FRAME_LEN],
    src: [u8; 4],
    sport: u16,
    dst: [u8; 4],
    dport: u16,
    ip_csum: u16,
    l4_csum: u16,
    l4_csum_at: usize,
}

fn be16(b: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([b[at], b[at + 1]])
}

fn ip4(b: &[u8], at: usize) -> [u8; 4] {
    [b[at], b[at + 1], b[at + 2], b[at + 3]]
}

impl Template {
    fn from_frame(f: Frame, udp: bool) -> Template {
        let v = f.pad_to(FRAME_LEN).build();
        let mut bytes = [0u8; FRAME_LEN];
        bytes.copy_from_slice(&v[..FRAME_LEN]);
        let l4_csum_at = if udp { UDP_CSUM } else { TCP_CSUM };
        Template {
            src: ip4(&bytes, IP_SRC),
            sport: be16(&bytes, L4_SPORT),
            dst: ip4(&bytes, IP_DST),
            dport: be16(&bytes, L4_DPORT),
            ip_csum: be16(&bytes, IP_CSUM),
            l4_csum: be16(&bytes, l4_csum_at),
            l4_csum_at,
            bytes,
        }
    }

    /// A TCP segment client -> VIP with `flags`.
    pub fn tcp_to_vip(flags: u8) -> Template {
        let src: SocketAddr = (Ipv4Addr::new(10, 128, 0, 0), 1024).into();
        Template::from_frame(Frame::tcp(src, (VIP, VPORT).into(), flags), false)
    }

    /// A UDP datagram client -> `VIP:port`.
    pub fn udp_to_vip(port: u16) -> Template {
        let src: SocketAddr = (Ipv4Addr::new(10, 128, 0, 0), 1024).into();
        Template::from_frame(Frame::udp(src, (VIP, port).into()).payload(b"bench"), true)
    }

    /// A TCP segment real -> client (a NAT reply), addresses patched by [`Template::write`].
    pub fn tcp_reply(flags: u8) -> Template {
        let real: SocketAddr = (Ipv4Addr::new(10, 0, 2, 11), 80).into();
        let cl: SocketAddr = (Ipv4Addr::new(10, 128, 0, 0), 1024).into();
        Template::from_frame(Frame::tcp(real, cl, flags), false)
    }

    /// Write the template into `f` with source `ip:port` (the hot path).
    #[inline]
    pub fn write_src(&self, f: &mut FrameBuf, ip: [u8; 4], port: u16) {
        let b = &mut f.buf[HEADROOM..HEADROOM + FRAME_LEN];
        b.copy_from_slice(&self.bytes);
        b[IP_SRC..IP_SRC + 4].copy_from_slice(&ip);
        b[L4_SPORT..L4_SPORT + 2].copy_from_slice(&port.to_be_bytes());
        let ipc = csum_replace4(self.ip_csum, self.src, ip);
        b[IP_CSUM..IP_CSUM + 2].copy_from_slice(&ipc.to_be_bytes());
        let l4 = csum_replace2(csum_replace4(self.l4_csum, self.src, ip), self.sport, port);
        b[self.l4_csum_at..self.l4_csum_at + 2].copy_from_slice(&l4.to_be_bytes());
        f.head = HEADROOM;
        f.len = FRAME_LEN;
    }

    /// Write the template into `f` with both endpoints replaced (setup only).
    pub fn write(&self, f: &mut FrameBuf, src: ([u8; 4], u16), dst: ([u8; 4], u16)) {
        let b = &mut f.buf[HEADROOM..HEADROOM + FRAME_LEN];
        b.copy_from_slice(&self.bytes);
        b[IP_SRC..IP_SRC + 4].copy_from_slice(&src.0);
        b[L4_SPORT..L4_SPORT + 2].copy_from_slice(&src.1.to_be_bytes());
        b[IP_DST..IP_DST + 4].copy_from_slice(&dst.0);
        b[L4_DPORT..L4_DPORT + 2].copy_from_slice(&dst.1.to_be_bytes());
        let ipc = csum_replace4(csum_replace4(self.ip_csum, self.src, src.0), self.dst, dst.0);
        b[IP_CSUM..IP_CSUM + 2].copy_from_slice(&ipc.to_be_bytes());
        let mut l4 = csum_replace4(csum_replace4(self.l4_csum, self.src, src.0), self.dst, dst.0);
        l4 = csum_replace2(csum_replace2(l4, self.sport, src.1), self.dport, dst.1);
        b[self.l4_csum_at..self.l4_csum_at + 2].copy_from_slice(&l4.to_be_bytes());
        f.head = HEADROOM;
        f.len = FRAME_LEN;
    }
}

/// The destination endpoint of a (rewritten) IPv4 frame in `f`.
pub fn dst_of(f: &FrameBuf) -> ([u8; 4], u16) {
    let b = f.data();
    (ip4(b, IP_DST), be16(b, L4_DPORT))
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
    pub fn new(core: usize, flows: u32, new_ratio: f64, seed: u64) -> Gen {
        Gen {
            core,
            flows,
            rng: seed | 1,
            new_below: (new_ratio.clamp(0.0, 1.0) * u64::MAX as f64) as u64,
            all_new: new_ratio >= 1.0 || flows == 0,
            next_new: flows,
            ack: Template::tcp_to_vip(tcp_flags::ACK),
            syn: Template::tcp_to_vip(tcp_flags::SYN),
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

    #[test]
    fn patched_frames_equal_built_ones() {
        let mut f = FrameBuf::default();
        let (ip, port) = client(3, 1_000_000);
        Template::tcp_to_vip(tcp_flags::ACK).write_src(&mut f, ip, port);
        let want =
            Frame::tcp((Ipv4Addr::from(ip), port).into(), (VIP, VPORT).into(), tcp_flags::ACK).pad_to(60).build();
        assert_eq!(f.data(), &want[..]);

        let real = ([10, 0, 2, 17], 8080);
        Template::tcp_reply(tcp_flags::SYN | tcp_flags::ACK).write(&mut f, real, (ip, port));
        let want = Frame::tcp(
            (Ipv4Addr::from(real.0), real.1).into(),
            (Ipv4Addr::from(ip), port).into(),
            tcp_flags::SYN | tcp_flags::ACK,
        )
        .pad_to(60)
        .build();
        assert_eq!(f.data(), &want[..]);
        assert_eq!(dst_of(&f), (ip, port));

        Template::udp_to_vip(80).write_src(&mut f, ip, port);
        let want = Frame::udp((Ipv4Addr::from(ip), port).into(), (VIP, 80).into()).payload(b"bench").pad_to(60).build();
        assert_eq!(f.data(), &want[..]);
    }

    #[test]
    fn flows_are_distinct_and_in_range() {
        let mut seen = std::collections::HashSet::new();
        for core in 0..2 {
            for idx in (0..200_000u32).step_by(7) {
                assert!(seen.insert(client(core, idx)));
            }
        }
        let mut g = Gen::new(0, 1000, 0.25, 42);
        let mut frames = vec![FrameBuf::default(); 64];
        let mut new = 0;
        for _ in 0..100 {
            new += g.fill(&mut frames);
            for f in &frames {
                let b = f.data();
                let port = be16(b, L4_SPORT) as u32 - PORT_BASE;
                let flags = b[47];
                if flags == tcp_flags::ACK {
                    assert!(port < 1000);
                }
            }
        }
        assert!((1200..2000).contains(&new), "{new} new of 6400");
    }
}
