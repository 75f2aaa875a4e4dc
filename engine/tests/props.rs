//! Property tests (proptest). For random valid TCP/UDP IPv4/IPv6 frames to a configured
//! VIP, and for NAT replies, every checksum of the rewritten frame (IPv4 header, TCP/UDP,
//! the tunnel's outer header) equals a full recomputation; a UDP/IPv4 checksum of 0 stays
//! 0; DR and TUN leave the client's IP packet byte for byte; a bad checksum stays bad.
//! And `Engine::handle_batch` never panics, whatever the bytes: arbitrary frames and mutated
//! valid ones (NAT traffic, replies, ICMP errors, fragments), every frame counted once.

mod common;

use std::net::{IpAddr, SocketAddr};

use common::*;
use proptest::prelude::*;
use xvs_engine::{EngineConfig, Forward, FrameBuf, Verdict};
use xvs_proto::build::{self, Frame};

fn fwd_of(i: u8) -> Forward {
    [Forward::Nat, Forward::Dr, Forward::Tun][i as usize % 3]
}

fn cfg(v6: bool, proto: u8, fwd: Forward) -> EngineConfig {
    let rport = if fwd == Forward::Nat { 8080 } else { 80 };
    let mut c = simple(v6, proto, 80, rport, fwd, "rr", 2);
    c.max_connections = 1024;
    c.mtu = 9000;
    c
}

#[derive(Debug, Clone)]
struct Case {
    v6: bool,
    tcp: bool,
    fwd: u8,
    client: u32,
    sport: u16,
    ttl: u8,
    tos: u8,
    df: bool,
    id: u16,
    flags: u8,
    seq: u32,
    zero_csum: bool,
    vlan: Option<u16>,
    payload: Vec<u8>,
    reply_payload: Vec<u8>,
    reply_ttl: u8,
}

fn case() -> impl Strategy<Value = Case> {
    (
        (any::<bool>(), any::<bool>(), 0u8..3, 0u32..100_000, 1u16.., 1u8.., any::<u8>(), any::<bool>()),
        (any::<u16>(), any::<u8>(), any::<u32>(), any::<bool>(), proptest::option::of(1u16..4095)),
        (proptest::collection::vec(any::<u8>(), 0..300), proptest::collection::vec(any::<u8>(), 0..300), 2u8..),
    )
        .prop_map(
            |((v6, tcp, fwd, client, sport, ttl, tos, df), (id, flags, seq, zero_csum, vlan), (p, rp, rttl))| Case {
                v6,
                tcp,
                fwd,
                client,
                sport,
                ttl,
                tos,
                df,
                id,
                flags,
                seq,
                zero_csum: zero_csum && !v6 && !tcp,
                vlan,
                payload: p,
                reply_payload: rp,
                reply_ttl: rttl,
            },
        )
}

impl Case {
    fn client(&self) -> SocketAddr {
        sa(cip(self.v6, self.client), self.sport)
    }
    fn proto(&self) -> u8 {
        if self.tcp {
            TCP
        } else {
            UDP
        }
    }
    /// The first packet: a SYN (plus random other flags but ACK/RST) for TCP.
    fn request(&self) -> Frame {
        let to = sa(vip(self.v6), 80);
        let mut f = if self.tcp {
            let flags = (self.flags & !(ACK | RST)) | SYN;
            Frame::tcp(self.client(), to, flags).seq_ack(self.seq, 0)
        } else {
            Frame::udp(self.client(), to)
        };
        f = f.ttl(self.ttl).tos(self.tos).payload(&self.payload);
        if !self.v6 {
            f = f.df(self.df).id(self.id);
        }
        if self.zero_csum {
            f = f.zero_udp_checksum();
        }
        if let Some(v) = self.vlan {
            f = f.vlan(v);
        }
        f
    }
    fn reply(&self, real: IpAddr) -> Frame {
        let from = sa(real, 8080);
        let mut f = if self.tcp {
            Frame::tcp(from, self.client(), self.flags | ACK).seq_ack(self.seq ^ 0x5555, self.seq.wrapping_add(1))
        } else {
            Frame::udp(from, self.client())
        };
        f = f.macs(DIR_MAC_IN, mac_for(real)).ttl(self.reply_ttl).payload(&self.reply_payload);
        if self.zero_csum {
            f = f.zero_udp_checksum();
        }
        if let Some(v) = self.vlan {
            f = f.vlan(v);
        }
        f
    }
}

/// The frame without its VLAN tags (the verifier reads untagged frames).
fn untag(frame: &[u8]) -> Vec<u8> {
    let mut f = frame.to_vec();
    while f.len() >= 18 && (f[12..14] == [0x81, 0x00] || f[12..14] == [0x88, 0xa8]) {
        f.drain(12..16);
    }
    f
}

fn l4_csum(frame: &[u8]) -> u16 {
    let p = xvs_proto::classify(frame).unwrap();
    let at = p.l4 as usize + if p.proto == TCP { 16 } else { 6 };
    u16::from_be_bytes([frame[at], frame[at + 1]])
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    #[test]
    fn rewrites_keep_checksums_exact(c in case()) {
        let fwd = fwd_of(c.fwd);
        let mut lb = Lb::new(cfg(c.v6, c.proto(), fwd));
        let req = c.request().build();
        let (v, out) = lb.send(&req, 0);
        prop_assert_eq!(v, Verdict::Tx { port: 0 });
        let plain = untag(&out);
        prop_assert!(verify_checksums(&plain).is_ok(), "request: {:?}", verify_checksums(&plain));
        let inner = build::ip_packet(&req);
        match fwd {
            Forward::Dr => prop_assert_eq!(&out[12..], &req[12..]),
            Forward::Tun => {
                let hl = if c.v6 { 40 } else { 20 };
                let l3 = out.len() - inner.len() - hl;
                prop_assert_eq!(&out[l3 + hl..], inner);
            }
            Forward::Nat => {
                if c.zero_csum {
                    prop_assert_eq!(l4_csum(&out), 0);
                }
            }
        }
        if fwd == Forward::Nat {
            let real = lb.conn(c.client()).unwrap().real;
            let (v, out) = lb.send(&c.reply(real).build(), 1);
            prop_assert_eq!(v, Verdict::Tx { port: 0 });
            let plain = untag(&out);
            prop_assert!(verify_checksums(&plain).is_ok(), "reply: {:?}", verify_checksums(&plain));
            if c.zero_csum {
                prop_assert_eq!(l4_csum(&out), 0);
            }
            let p = xvs_proto::classify(&out).unwrap();
            prop_assert_eq!((p.src, p.sport, p.ttl), (vip(c.v6), 80, c.reply_ttl - 1));
        }
    }

    #[test]
    fn a_bad_checksum_stays_bad(c in case(), at in any::<prop::sample::Index>()) {
        prop_assume!(!c.payload.is_empty() && !c.zero_csum);
        let mut lb = Lb::new(cfg(c.v6, c.proto(), Forward::Nat));
        let mut req = c.request().build();
        let p = xvs_proto::classify(&req).unwrap();
        let off = p.ip_end() - c.payload.len() + at.index(c.payload.len());
        req[off] ^= 1;
        let (v, out) = lb.send(&req, 0);
        prop_assert_eq!(v, Verdict::Tx { port: 0 });
        prop_assert!(verify_checksums(&untag(&out)).is_err());
    }

    #[test]
    fn arbitrary_bytes_never_panic(frames in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..200), 1..40)) {
        let mut lb = Lb::new(cfg(false, TCP, Forward::Nat));
        let mut lb6 = Lb::new(cfg(true, UDP, Forward::Tun));
        for (i, f) in frames.iter().enumerate() {
            lb.send(f, i as u64);
            lb6.send(f, i as u64);
            // The same bytes behind an IPv4 / IPv6 Ethernet header.
            for et in [[0x08, 0x00], [0x86, 0xdd]] {
                let mut g = vec![0u8; 12];
                g.extend_from_slice(&et);
                g.extend_from_slice(f);
                lb.send(&g, i as u64);
                lb6.send(&g, i as u64);
            }
        }
        prop_assert_eq!(lb.e.stats().rx, 3 * frames.len() as u64);
    }

    #[test]
    fn mutated_valid_frames_never_panic(
        c in case(),
        muts in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..6),
        cut in any::<prop::sample::Index>(),
        truncate in any::<bool>(),
    ) {
        let fwd = fwd_of(c.fwd);
        let mut lb = Lb::new(cfg(c.v6, c.proto(), fwd));
        let req = c.request().build();
        lb.send(&req, 0);
        let real = rip(c.v6, 0);
        let reply = c.reply(real).build();
        let reply2 = c.reply(rip(c.v6, 1)).build();
        let err = build::icmp_error(real, c.client().ip(), if c.v6 { 1 } else { 3 }, 4, &{
            let mut f = c.request();
            f.dst = real;
            f.build()
        });
        let mut sources = vec![req, reply, reply2, err];
        if !c.v6 {
            sources.extend(build::fragments_v4(&c.request().payload(&[0xab; 200]), 64));
        }
        let mut batch: Vec<FrameBuf> = Vec::new();
        for (k, src) in sources.iter().enumerate() {
            let mut f = src.clone();
            for (i, b) in &muts {
                let i = i.index(f.len());
                f[i] = *b;
            }
            if truncate {
                f.truncate(cut.index(f.len() + 1));
            }
            lb.send(&f, 1 + k as u64);
            lb.send(src, 1 + k as u64);
            batch.push(FrameBuf::from_bytes(&f));
        }
        let mut v = vec![Verdict::Pass; batch.len()];
        lb.e.handle_batch(&mut batch, 100 * NS_PER_MS, &mut v);
        lb.check_totals();
        // Time passes: everything expires cleanly.
        lb.tick(10_000_000);
        prop_assert_eq!(lb.e.live_connections(), 0);
        prop_assert_eq!(lb.e.connections().len(), 0);
    }
}
