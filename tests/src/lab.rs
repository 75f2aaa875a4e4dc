//! A simulated lab around an engine: clients send to VIPs, and real servers answer what
//! the engine forwarded to them (NAT replies go back through the director). Everything
//! either side sends is recorded, in time order, as the capture the director would see.
//! No sockets, namespaces or processes: it is the engine harness of the replay tests and
//! the demo capture, not a network lab (that is the `xvs-lab` crate).
//!
//! Invariant: replay is deterministic, so replaying the recorded capture with the same
//! config reproduces the engine's decisions made while recording (which real each flow
//! got), and NAT replies in the capture are the ones those reals would send.

use std::net::{IpAddr, SocketAddr};

use xvs_engine::{Engine, EngineConfig, FrameBuf, Verdict};
use xvs_proto::build::{self, Frame, L4};
use xvs_proto::{tcp_flags as f, Mac};

use crate::pcap_io::Captured;

pub const CLIENT_MAC: Mac = [0x02, 0, 0, 0, 0x01, 0x01];
pub const DIRECTOR_MAC: Mac = [0x02, 0, 0, 0, 0x00, 0xfe];

/// Where the engine sent a client's first packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Placement {
    /// The real's address and port as seen in the forwarded frame (NAT: the rewritten
    /// destination; DR: the VIP itself; TUN: the outer destination).
    pub to: SocketAddr,
    /// Destination MAC of the forwarded frame.
    pub mac: Mac,
    /// Whether replies come back through the director (NAT).
    pub nat: bool,
}

pub struct Lab {
    engine: Engine,
    pub capture: Vec<Captured>,
    pub now: u64,
}

impl Lab {
    pub fn new(cfg: EngineConfig) -> Lab {
        Lab { engine: Engine::new(cfg, 0).expect("lab config"), capture: Vec::new(), now: 1_700_000_000_000_000_000 }
    }

    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// Advance the lab clock by `ms` milliseconds.
    pub fn wait_ms(&mut self, ms: u64) {
        self.now += ms * 1_000_000;
    }

    /// Record `frame` at the current time and run it through the engine; the
    /// transmitted frame, if any.
    pub fn send(&mut self, frame: Vec<u8>) -> Option<Vec<u8>> {
        self.capture.push((self.now, frame.clone()));
        let mut fb = [FrameBuf::from_bytes(&frame)];
        let mut v = [Verdict::Pass];
        self.engine.handle_batch(&mut fb, self.now, &mut v);
        self.wait_ms(1);
        match v[0] {
            Verdict::Tx { .. } => Some(fb[0].data().to_vec()),
            _ => None,
        }
    }

    /// Where a forwarded frame went, judged from its bytes.
    fn placement(out: &[u8], vip: SocketAddr) -> Placement {
        let p = crate::checks::parse(out);
        let mac = crate::checks::macs(out).0;
        if p.proto == xvs_proto::PROTO_IPIP || p.proto == xvs_proto::PROTO_IPV6 {
            return Placement { to: SocketAddr::new(p.dst, vip.port()), mac, nat: false };
        }
        let to = SocketAddr::new(p.dst, p.dport);
        Placement { to, mac, nat: to != vip }
    }

    /// A whole TCP session from `client` to `vip`: handshake, one request and response,
    /// close. Real servers answer NAT connections through the director. Returns where the
    /// connection went, or None if the SYN was not forwarded.
    pub fn tcp_session(
        &mut self,
        client: SocketAddr,
        vip: SocketAddr,
        request: &[u8],
        response: &[u8],
    ) -> Option<Placement> {
        let c = |fl: u8, seq: u32, ack: u32, data: &[u8]| {
            Frame::tcp(client, vip, fl).seq_ack(seq, ack).payload(data).macs(DIRECTOR_MAC, CLIENT_MAC).build()
        };
        let out = self.send(c(f::SYN, 1000, 0, b""))?;
        let at = Self::placement(&out, vip);
        let r = |fl: u8, seq: u32, ack: u32, data: &[u8]| {
            Frame::tcp(at.to, client, fl).seq_ack(seq, ack).payload(data).macs(DIRECTOR_MAC, at.mac).build()
        };
        let q = request.len() as u32;
        let s = response.len() as u32;
        if at.nat {
            self.send(r(f::SYN | f::ACK, 5000, 1001, b""));
        }
        self.send(c(f::ACK, 1001, 5001, b""));
        self.send(c(f::PSH | f::ACK, 1001, 5001, request));
        if at.nat {
            self.send(r(f::PSH | f::ACK, 5001, 1001 + q, response));
        }
        self.send(c(f::ACK, 1001 + q, 5001 + s, b""));
        self.send(c(f::FIN | f::ACK, 1001 + q, 5001 + s, b""));
        if at.nat {
            self.send(r(f::FIN | f::ACK, 5001 + s, 1002 + q, b""));
        }
        self.send(c(f::ACK, 1002 + q, 5002 + s, b""));
        Some(at)
    }

    /// A UDP query and, for NAT, its answer.
    pub fn udp_exchange(
        &mut self,
        client: SocketAddr,
        vip: SocketAddr,
        query: &[u8],
        answer: &[u8],
    ) -> Option<Placement> {
        let out = self.send(Frame::udp(client, vip).payload(query).macs(DIRECTOR_MAC, CLIENT_MAC).build())?;
        let at = Self::placement(&out, vip);
        if at.nat {
            self.send(Frame::udp(at.to, client).payload(answer).macs(DIRECTOR_MAC, at.mac).build());
        }
        Some(at)
    }
}

/// Frames a director meets that are not load-balanced traffic: an ARP request, a
/// truncated IPv4 frame, a TCP ACK with no connection, a ping to the VIP.
pub fn stray_frames(vip: IpAddr, client: IpAddr) -> Vec<Vec<u8>> {
    let mut arp = vec![0xff; 6];
    arp.extend_from_slice(&CLIENT_MAC);
    arp.extend_from_slice(&[0x08, 0x06]);
    arp.extend_from_slice(&[0, 1, 8, 0, 6, 4, 0, 1]);
    arp.extend_from_slice(&CLIENT_MAC);
    if let (IpAddr::V4(c), IpAddr::V4(v)) = (client, vip) {
        arp.extend_from_slice(&c.octets());
        arp.extend_from_slice(&[0; 6]);
        arp.extend_from_slice(&v.octets());
    }
    let full = build::tcp(SocketAddr::new(client, 40000), SocketAddr::new(vip, 80), f::ACK, b"x");
    let truncated = full[..30].to_vec();
    let stray_ack = Frame::tcp(SocketAddr::new(client, 40001), SocketAddr::new(vip, 80), f::ACK)
        .macs(DIRECTOR_MAC, CLIENT_MAC)
        .build();
    let ping = Frame::new(client, vip, L4::Icmp { kind: 8, code: 0, rest: [0, 1, 0, 1] })
        .macs(DIRECTOR_MAC, CLIENT_MAC)
        .build();
    vec![arp, truncated, stray_ack, ping]
}
