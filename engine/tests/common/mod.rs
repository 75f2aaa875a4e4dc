//! The engine harness, one for all of the engine's integration tests: the test network
//! (addresses, MACs), config builders, and [`Lb`], which runs frames through
//! `Engine::handle_batch` with a millisecond clock and checks the engine's totals after each.
//!
//! The pure helpers below it come from xvs-testkit and are re-exported here: the
//! independent checksum verifier ([`verify_checksums`], its own RFC 1071 sums, not
//! `xvs_proto::checksum`, so that it can judge the engine's rewrites), `hex` and `ip`
//! (`no_alloc.rs` takes the counting allocator from xvs-testkit directly).
#![allow(dead_code, unused_imports)]

use std::net::{IpAddr, SocketAddr};

use xvs_engine::{ConnInfo, Engine, EngineConfig, Forward, FrameBuf, NeighborSpec, RealSpec, ServiceSpec, Verdict};
use xvs_proto::build::{self, Frame};
pub use xvs_proto::Mac;

pub use xvs_proto::tcp_flags::{ACK, FIN, RST, SYN};
pub use xvs_proto::{PROTO_TCP as TCP, PROTO_UDP as UDP};
pub use xvs_testkit::{hex, ip, verify_checksums, verify_ip};

/// The client's MAC (the source MAC of every frame built with default MACs).
pub const CLIENT_MAC: Mac = build::SRC_MAC;
/// The director's MAC on the client side (the destination MAC of default frames).
pub const DIR_MAC: Mac = build::DST_MAC;
/// The director's MAC on the real-server side (destination of the reals' replies).
pub const DIR_MAC_IN: Mac = [0x02, 0, 0, 0, 0, 0xfd];

pub const NS_PER_MS: u64 = 1_000_000;

pub fn sa(addr: IpAddr, port: u16) -> SocketAddr {
    SocketAddr::new(addr, port)
}

pub fn vip4() -> IpAddr {
    ip("10.0.1.100")
}
pub fn vip6() -> IpAddr {
    ip("2001:db8:1::100")
}
pub fn vip(v6: bool) -> IpAddr {
    if v6 {
        vip6()
    } else {
        vip4()
    }
}
/// Real `i` (0, 1, 2, ...): 10.0.2.11+i / 2001:db8:2::11+i (hex).
pub fn rip(v6: bool, i: u8) -> IpAddr {
    if v6 {
        ip(&format!("2001:db8:2::{:x}", 0x11 + i))
    } else {
        ip(&format!("10.0.2.{}", 11 + i))
    }
}
/// The director's own address toward the reals (tunnel source).
pub fn dip(v6: bool) -> IpAddr {
    if v6 {
        ip("2001:db8:2::1")
    } else {
        ip("10.0.2.1")
    }
}
/// Client `i`: 192.0.2.(1+i) / 2001:db8:c::(1+i) for i < 250; beyond that other /24s.
pub fn cip(v6: bool, i: u32) -> IpAddr {
    if v6 {
        IpAddr::V6(std::net::Ipv6Addr::from(0x2001_0db8_000c_0000_0000_0000_0000_0000u128 + 1 + i as u128))
    } else {
        let a = 0xc000_0200u32 + 1 + (i % 250) + (i / 250) * 256;
        IpAddr::V4(std::net::Ipv4Addr::from(a))
    }
}

/// The MAC the neighbour table gives for `addr` (`02:00:00:00:04|06:<last byte>`).
pub fn mac_for(addr: IpAddr) -> Mac {
    match addr {
        IpAddr::V4(a) => [0x02, 0, 0, 0, 0x04, a.octets()[3]],
        IpAddr::V6(a) => [0x02, 0, 0, 0, 0x06, a.octets()[15]],
    }
}

pub fn real(addr: IpAddr, port: u16, weight: u32, forward: Forward) -> RealSpec {
    RealSpec { addr, port, weight, forward, upper_threshold: 0, lower_threshold: 0, tunnel: Default::default() }
}

pub fn service(vip: IpAddr, port: u16, proto: u8, scheduler: &str, reals: Vec<RealSpec>) -> ServiceSpec {
    ServiceSpec::new(vip, port, proto, scheduler, reals)
}

/// A config with `services`, a neighbour entry for every real (see [`mac_for`]) and both
/// tunnel source addresses.
pub fn config(services: Vec<ServiceSpec>) -> EngineConfig {
    let mut neighbors: Vec<NeighborSpec> = Vec::new();
    for s in &services {
        for r in s.reals.iter().chain(s.sorry_server.iter()) {
            if !neighbors.iter().any(|n| n.ip == r.addr) {
                neighbors.push(NeighborSpec {
                    ip: r.addr,
                    mac: mac_for(r.addr),
                    default: false,
                    port: None,
                    clients_only: false,
                });
            }
        }
    }
    let (a4, a6) = (dip(false), dip(true));
    EngineConfig {
        address4: match a4 {
            IpAddr::V4(a) => Some(a),
            _ => None,
        },
        address6: match a6 {
            IpAddr::V6(a) => Some(a),
            _ => None,
        },
        services,
        neighbors,
        ..Default::default()
    }
}

/// One service on the VIP of the family with `n` reals of `fwd` (real port = `rport`,
/// which must equal `vport` for DR/TUN).
pub fn simple(v6: bool, proto: u8, vport: u16, rport: u16, fwd: Forward, sched: &str, n: u8) -> EngineConfig {
    let reals = (0..n).map(|i| real(rip(v6, i), rport, 1, fwd)).collect();
    config(vec![service(vip(v6), vport, proto, sched, reals)])
}

/// The engine plus a millisecond clock.
pub struct Lb {
    pub e: Engine,
}

impl Lb {
    pub fn new(cfg: EngineConfig) -> Lb {
        Lb { e: Engine::new(cfg, 0).expect("valid config") }
    }

    /// Run one frame arriving on port 0 at `t_ms`; the verdict and the frame afterwards.
    pub fn send(&mut self, frame: &[u8], t_ms: u64) -> (Verdict, Vec<u8>) {
        self.send_on(frame, 0, t_ms)
    }

    pub fn send_on(&mut self, frame: &[u8], port: u16, t_ms: u64) -> (Verdict, Vec<u8>) {
        let mut b = [FrameBuf::from_bytes(frame)];
        b[0].port = port;
        let mut v = [Verdict::Pass];
        self.e.handle_batch(&mut b, t_ms * NS_PER_MS, &mut v);
        self.check_totals();
        (v[0], b[0].data().to_vec())
    }

    /// The verdict alone.
    pub fn verdict(&mut self, frame: &[u8], t_ms: u64) -> Verdict {
        self.send(frame, t_ms).0
    }

    /// Run several frames as one batch.
    pub fn batch(&mut self, frames: &[Vec<u8>], t_ms: u64) -> Vec<(Verdict, Vec<u8>)> {
        let mut b: Vec<FrameBuf> = frames.iter().map(|f| FrameBuf::from_bytes(f)).collect();
        let mut v = vec![Verdict::Pass; b.len()];
        self.e.handle_batch(&mut b, t_ms * NS_PER_MS, &mut v);
        self.check_totals();
        v.into_iter().zip(b.iter().map(|f| f.data().to_vec())).collect()
    }

    pub fn tick(&mut self, t_ms: u64) {
        self.e.handle_timeout(t_ms * NS_PER_MS);
    }

    /// Tick at `t_ms` until no expiry work is left (each tick is one bounded reap).
    pub fn tick_until_reaped(&mut self, t_ms: u64) {
        self.tick(t_ms);
        for _ in 0..100_000 {
            if !self.e.expiry_pending() {
                return;
            }
            self.tick(t_ms);
        }
        panic!("expiry work still pending after 100000 ticks at {t_ms} ms");
    }

    /// The connection of client endpoint `client`, if live.
    pub fn conn(&self, client: SocketAddr) -> Option<ConnInfo> {
        let all: Vec<ConnInfo> =
            self.e.connections().into_iter().filter(|c| c.client == client.ip() && c.cport == client.port()).collect();
        assert!(all.len() <= 1, "two connections for {client}: {all:?}");
        all.into_iter().next()
    }

    /// The state name of `client`'s connection ("gone" when there is none).
    pub fn state(&self, client: SocketAddr) -> &'static str {
        self.conn(client).map_or("gone", |c| c.state)
    }

    /// The id of the (non-sorry) real with this address (first match).
    pub fn real_id(&self, addr: IpAddr) -> usize {
        self.e.services().reals.iter().position(|r| r.addr == addr && !r.is_sorry).expect("no such real")
    }

    /// (active, inactive, persistent) of the real with this address.
    pub fn counts(&self, addr: IpAddr) -> (u32, u32, u32) {
        use std::sync::atomic::Ordering::Relaxed;
        let c = &self.e.services().reals[self.real_id(addr)].counters;
        (c.active.load(Relaxed), c.inactive.load(Relaxed), c.persistent.load(Relaxed))
    }

    pub fn drops(&self, r: xvs_engine::DropReason) -> u64 {
        self.e.stats().drops[r as usize]
    }

    /// `rx == tx + passed + dropped`, and the live count agrees with the listing.
    pub fn check_totals(&self) {
        let s = self.e.stats();
        assert_eq!(s.rx, s.tx + s.passed + s.dropped(), "rx != tx + passed + dropped: {s:?}");
        assert_eq!(self.e.live_connections() as usize, self.e.connections().len(), "live count != listing");
    }
}

/// The real a transmitted request went to, read from its destination MAC.
pub fn dst_mac(frame: &[u8]) -> Mac {
    frame[..6].try_into().unwrap()
}

/// The real whose neighbour MAC is the frame's destination MAC.
pub fn which_real(frame: &[u8], candidates: &[IpAddr]) -> IpAddr {
    let m = dst_mac(frame);
    *candidates.iter().find(|a| mac_for(**a) == m).unwrap_or_else(|| panic!("frame to unknown MAC {m:02x?}"))
}

/// A client TCP segment with default MACs.
pub fn tcp(src: SocketAddr, dst: SocketAddr, flags: u8) -> Vec<u8> {
    Frame::tcp(src, dst, flags).build()
}

/// A client UDP datagram with default MACs.
pub fn udp(src: SocketAddr, dst: SocketAddr, payload: &[u8]) -> Vec<u8> {
    Frame::udp(src, dst).payload(payload).build()
}

/// A real's reply as it arrives at the director (to the director's inside MAC).
pub fn reply_tcp(real: SocketAddr, client: SocketAddr, flags: u8) -> Vec<u8> {
    Frame::tcp(real, client, flags).macs(DIR_MAC_IN, mac_for(real.ip())).build()
}

pub fn reply_udp(real: SocketAddr, client: SocketAddr, payload: &[u8]) -> Vec<u8> {
    Frame::udp(real, client).macs(DIR_MAC_IN, mac_for(real.ip())).payload(payload).build()
}
