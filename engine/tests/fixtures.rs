//! Table-driven packet fixtures (katran style): each row is {description, config, input
//! frames with arrival time and port, expected verdict, expected output frame}. Expected
//! frames are built independently with `xvs_proto::build` as fresh frames carrying the
//! rewritten addresses, ports, TTL and MACs (never by calling the engine's rewrites), and
//! compared byte for byte. Pins the DESIGN.md packet rules for every forwarding method
//! (NAT request and reply, DR, TUN) x TCP/UDP x IPv4/IPv6, plus the edge verdicts
//! (pass, no connection, TTL expired, neighbour miss, VLAN tags, padding).

mod common;

use std::net::{IpAddr, SocketAddr};

use common::*;
use xvs_engine::{DropReason, EngineConfig, Forward, Verdict};
use xvs_proto::build::{Frame, L4};

/// A client MAC distinct from the builders' defaults, so that the reply's destination MAC
/// visibly comes from the request.
const CMAC: Mac = [0x02, 0xc1, 0xc1, 0xc1, 0xc1, 0x01];

struct Step {
    t_ms: u64,
    port: u16,
    input: Vec<u8>,
    verdict: Verdict,
    /// The whole frame after processing (for `Tx`); `None` = unchanged input.
    output: Option<Vec<u8>>,
}

struct Fixture {
    desc: String,
    cfg: EngineConfig,
    steps: Vec<Step>,
}

const TX0: Verdict = Verdict::Tx { port: 0 };

fn step(t_ms: u64, input: Vec<u8>, verdict: Verdict, output: Option<Vec<u8>>) -> Step {
    Step { t_ms, port: 0, input, verdict, output }
}

/// A NAT request at 1.000 s and its reply at 1.001 s, each transmitted as expected:
/// `[request, request out, reply, reply out]`.
fn nat_round_trip(desc: impl Into<String>, cfg: EngineConfig, frames: [&Frame; 4]) -> Fixture {
    let [req, want_req, ans, want_ans] = frames;
    Fixture {
        desc: desc.into(),
        cfg,
        steps: vec![
            step(1_000, req.build(), TX0, Some(want_req.build())),
            step(1_001, ans.build(), TX0, Some(want_ans.build())),
        ],
    }
}

fn family(v6: bool) -> &'static str {
    if v6 {
        "IPv6"
    } else {
        "IPv4"
    }
}

/// A client request frame of `proto` (TCP SYN or UDP) with some non-default fields.
fn request(proto: u8, client: SocketAddr, to: SocketAddr) -> Frame {
    let f = if proto == TCP { Frame::tcp(client, to, SYN).seq_ack(0x0102_0304, 0) } else { Frame::udp(client, to) };
    f.macs(DIR_MAC, CMAC).ttl(57).tos(0x28).payload(b"hello, real server")
}

/// The real's answer as it reaches the director.
fn answer(proto: u8, real: SocketAddr, client: SocketAddr) -> Frame {
    let f = if proto == TCP {
        Frame::tcp(real, client, SYN | ACK).seq_ack(0x0a0b_0c0d, 0x0102_0305)
    } else {
        Frame::udp(real, client)
    };
    f.macs(DIR_MAC_IN, mac_for(real.ip())).ttl(64).payload(b"hello, client")
}

/// Sets a frame's endpoints (keeping everything else).
fn endpoints(mut f: Frame, src: SocketAddr, dst: SocketAddr) -> Frame {
    f.src = src.ip();
    f.dst = dst.ip();
    match &mut f.l4 {
        L4::Tcp { sport, dport, .. } | L4::Udp { sport, dport } => {
            *sport = src.port();
            *dport = dst.port();
        }
        _ => unreachable!(),
    }
    f
}

/// The expected tunnel frame: a fresh outer header (built by the builder, with its own
/// checksum) around the inner IP packet, byte for byte.
fn tunnelled(inner: &Frame, real: IpAddr) -> Vec<u8> {
    let v6 = real.is_ipv6();
    let ip = inner.build_ip();
    let mut outer = Frame::raw(dip(v6), real, if v6 { 41 } else { 4 }).payload(&ip).ttl(64).tos(inner.tos);
    if v6 {
        outer = outer.flow_label(inner.flow_label);
    } else {
        outer = outer.df(inner.df).id(if inner.df { 0 } else { inner.id });
    }
    outer.macs(mac_for(real), DIR_MAC).build()
}

/// One row per forwarding method x protocol x family (NAT rows carry the reply too).
fn mode_fixtures() -> Vec<Fixture> {
    let mut out = Vec::new();
    for v6 in [false, true] {
        for proto in [TCP, UDP] {
            let pname = if proto == TCP { "TCP" } else { "UDP" };
            let client = sa(cip(v6, 7), 40123);
            let vs = sa(vip(v6), 80);
            let r = rip(v6, 0);

            // NAT: request to RIP:8080 with the TTL kept; the reply from VIP:80, TTL - 1.
            let rs = sa(r, 8080);
            let req = request(proto, client, vs);
            let want_req = endpoints(req.clone(), client, rs).macs(mac_for(r), DIR_MAC);
            let ans = answer(proto, rs, client);
            let want_ans = endpoints(ans.clone(), vs, client).ttl(63).macs(CMAC, DIR_MAC_IN);
            out.push(nat_round_trip(
                format!("nat {pname} {}: request and reply", family(v6)),
                simple(v6, proto, 80, 8080, Forward::Nat, "rr", 1),
                [&req, &want_req, &ans, &want_ans],
            ));

            // DR: only the MACs change.
            let req = request(proto, client, vs);
            let want = req.clone().macs(mac_for(r), DIR_MAC);
            out.push(Fixture {
                desc: format!("dr {pname} {}: only the MACs change", family(v6)),
                cfg: simple(v6, proto, 80, 80, Forward::Dr, "rr", 1),
                steps: vec![step(1_000, req.build(), TX0, Some(want.build()))],
            });

            // TUN: outer header from the director's address, inner packet untouched.
            let mut req = request(proto, client, vs).id(0x1234).df(true);
            if v6 {
                req = req.flow_label(0xabcde);
            }
            out.push(Fixture {
                desc: format!("tun {pname} {}: outer header, inner byte for byte", family(v6)),
                cfg: simple(v6, proto, 80, 80, Forward::Tun, "rr", 1),
                steps: vec![step(1_000, req.build(), TX0, Some(tunnelled(&req, r)))],
            });
        }
    }
    out
}

/// Rows for the rules around the main paths.
fn edge_fixtures() -> Vec<Fixture> {
    let mut out = Vec::new();
    let client = sa(cip(false, 1), 33333);
    let vs = sa(vip4(), 80);
    let r = rip(false, 0);

    // TUN without DF: the outer header copies the inner ID and leaves DF clear.
    let req = request(TCP, client, vs).id(0x4321).df(false).tos(0xb8);
    out.push(Fixture {
        desc: "tun IPv4 without DF: outer ID = inner ID, DF clear, TOS copied".into(),
        cfg: simple(false, TCP, 80, 80, Forward::Tun, "rr", 1),
        steps: vec![step(1_000, req.build(), TX0, Some(tunnelled(&req, r)))],
    });

    // TUN of a padded minimum-size frame: the padding is not part of the inner packet.
    let req = Frame::tcp(client, vs, SYN).macs(DIR_MAC, CMAC).df(true).pad_to(60);
    let want = tunnelled(&Frame::tcp(client, vs, SYN).macs(DIR_MAC, CMAC).df(true), r);
    out.push(Fixture {
        desc: "tun of an Ethernet-padded frame drops the padding".into(),
        cfg: simple(false, TCP, 80, 80, Forward::Tun, "rr", 1),
        steps: vec![step(1_000, req.build(), TX0, Some(want))],
    });

    // NAT of a padded frame: rewritten in place, padding kept.
    let req = Frame::tcp(client, vs, SYN).macs(DIR_MAC, CMAC).pad_to(60);
    let want = Frame::tcp(client, sa(r, 8080), SYN).macs(mac_for(r), DIR_MAC).pad_to(60);
    out.push(Fixture {
        desc: "nat of an Ethernet-padded frame keeps the padding".into(),
        cfg: simple(false, TCP, 80, 8080, Forward::Nat, "rr", 1),
        steps: vec![step(1_000, req.build(), TX0, Some(want.build()))],
    });

    // A UDP/IPv4 checksum of 0 stays 0 through NAT, both ways.
    let rs = sa(r, 5353);
    let req = Frame::udp(client, sa(vip4(), 53)).macs(DIR_MAC, CMAC).payload(b"query").zero_udp_checksum();
    let want_req = Frame::udp(client, rs).macs(mac_for(r), DIR_MAC).payload(b"query").zero_udp_checksum();
    let ans = Frame::udp(rs, client).macs(DIR_MAC_IN, mac_for(r)).payload(b"answer").zero_udp_checksum();
    let want_ans =
        Frame::udp(sa(vip4(), 53), client).macs(CMAC, DIR_MAC_IN).ttl(63).payload(b"answer").zero_udp_checksum();
    out.push(nat_round_trip(
        "nat UDP/IPv4 with checksum 0 keeps it 0",
        simple(false, UDP, 53, 5353, Forward::Nat, "rr", 1),
        [&req, &want_req, &ans, &want_ans],
    ));

    // A VLAN-tagged DR request keeps its tag.
    let req = Frame::tcp(client, vs, SYN).macs(DIR_MAC, CMAC).vlan(42);
    let want = req.clone().macs(mac_for(r), DIR_MAC);
    out.push(Fixture {
        desc: "dr of a VLAN-tagged frame keeps the tag".into(),
        cfg: simple(false, TCP, 80, 80, Forward::Dr, "rr", 1),
        steps: vec![step(1_000, req.build(), TX0, Some(want.build()))],
    });

    // A VLAN-tagged NAT request and its reply.
    let rs = sa(r, 8080);
    let req = Frame::tcp(client, vs, SYN).macs(DIR_MAC, CMAC).vlan(7);
    let want_req = Frame::tcp(client, rs, SYN).macs(mac_for(r), DIR_MAC).vlan(7);
    let ans = Frame::tcp(rs, client, SYN | ACK).macs(DIR_MAC_IN, mac_for(r)).vlan(7);
    let want_ans = Frame::tcp(vs, client, SYN | ACK).macs(CMAC, DIR_MAC_IN).vlan(7).ttl(63);
    out.push(nat_round_trip(
        "nat of VLAN-tagged frames",
        simple(false, TCP, 80, 8080, Forward::Nat, "rr", 1),
        [&req, &want_req, &ans, &want_ans],
    ));

    // The reply leaves on the port the request came in on.
    let req = Frame::tcp(client, vs, SYN).macs(DIR_MAC, CMAC);
    let ans = Frame::tcp(rs, client, SYN | ACK).macs(DIR_MAC_IN, mac_for(r));
    let want_ans = Frame::tcp(vs, client, SYN | ACK).macs(CMAC, DIR_MAC_IN).ttl(63);
    out.push(Fixture {
        desc: "nat reply goes out on the request's port".into(),
        cfg: simple(false, TCP, 80, 8080, Forward::Nat, "rr", 1),
        steps: vec![
            Step {
                t_ms: 1_000,
                port: 3,
                input: req.build(),
                verdict: Verdict::Tx { port: 3 },
                output: Some(Frame::tcp(client, rs, SYN).macs(mac_for(r), DIR_MAC).build()),
            },
            Step {
                t_ms: 1_001,
                port: 1,
                input: ans.build(),
                verdict: Verdict::Tx { port: 3 },
                output: Some(want_ans.build()),
            },
        ],
    });

    // A reply whose TTL runs out at the director is dropped.
    let ans = Frame::tcp(rs, client, SYN | ACK).macs(DIR_MAC_IN, mac_for(r)).ttl(1);
    out.push(Fixture {
        desc: "nat reply with TTL 1 is dropped".into(),
        cfg: simple(false, TCP, 80, 8080, Forward::Nat, "rr", 1),
        steps: vec![
            step(1_000, req.build(), TX0, None).any_output(),
            step(1_001, ans.build(), Verdict::Drop(DropReason::TtlExpired), None),
        ],
    });

    // Not for a VIP (other address, other port, other protocol, ARP): the kernel's.
    let cfg = simple(false, TCP, 80, 80, Forward::Dr, "rr", 1);
    let mut arp = Frame::udp(client, vs).build();
    arp[12..14].copy_from_slice(&0x0806u16.to_be_bytes());
    out.push(Fixture {
        desc: "traffic that is not for a service passes".into(),
        cfg,
        steps: vec![
            step(1_000, tcp(client, sa(ip("10.0.1.101"), 80), SYN), Verdict::Pass, None),
            step(1_000, tcp(client, sa(vip4(), 81), SYN), Verdict::Pass, None),
            step(1_000, udp(client, vs, b"x"), Verdict::Pass, None),
            step(1_000, arp, Verdict::Pass, None),
            step(1_000, Frame::icmp(client.ip(), vip4(), 8, 0).build(), Verdict::Pass, None),
        ],
    });

    // A non-SYN with no connection, truncated frames, a real with no neighbour entry.
    let mut cfg = simple(false, TCP, 80, 80, Forward::Dr, "rr", 1);
    let truncated = tcp(client, vs, SYN)[..30].to_vec();
    out.push(Fixture {
        desc: "bad and stray frames are dropped by reason".into(),
        cfg: cfg.clone(),
        steps: vec![
            step(1_000, tcp(client, vs, ACK), Verdict::Drop(DropReason::TcpNoConn), None),
            step(1_000, tcp(client, vs, FIN | ACK), Verdict::Drop(DropReason::TcpNoConn), None),
            step(1_000, tcp(client, vs, RST), Verdict::Drop(DropReason::TcpNoConn), None),
            step(1_000, tcp(client, vs, SYN | ACK), Verdict::Drop(DropReason::TcpNoConn), None),
            step(1_000, truncated, Verdict::Drop(DropReason::Truncated), None),
        ],
    });
    cfg.neighbors.clear();
    out.push(Fixture {
        desc: "a real with no neighbour entry is a neighbor_miss".into(),
        cfg,
        steps: vec![step(1_000, tcp(client, vs, SYN), Verdict::Drop(DropReason::NeighborMiss), None)],
    });

    // A default neighbour is the next hop for a real without its own entry.
    let mut cfg = simple(false, TCP, 80, 80, Forward::Dr, "rr", 1);
    let gw: Mac = [0x02, 0x99, 0, 0, 0, 1];
    cfg.neighbors = vec![xvs_engine::NeighborSpec {
        ip: ip("10.0.2.254"),
        mac: gw,
        default: true,
        port: None,
        clients_only: false,
    }];
    let req = Frame::tcp(client, vs, SYN).macs(DIR_MAC, CMAC);
    out.push(Fixture {
        desc: "default neighbour as next hop".into(),
        cfg,
        steps: vec![step(1_000, req.build(), TX0, Some(req.clone().macs(gw, DIR_MAC).build()))],
    });
    out
}

impl Step {
    /// Any output is fine (the step only sets up state).
    fn any_output(mut self) -> Step {
        self.output = Some(Vec::new());
        self
    }
}

fn run(fx: &Fixture) {
    let mut lb = Lb::new(fx.cfg.clone());
    for (i, s) in fx.steps.iter().enumerate() {
        let (v, out) = lb.send_on(&s.input, s.port, s.t_ms);
        assert_eq!(v, s.verdict, "{}: step {i}: verdict", fx.desc);
        match &s.output {
            Some(want) if want.is_empty() => {}
            Some(want) => {
                assert_eq!(hex(&out), hex(want), "{}: step {i}: output frame", fx.desc);
                if matches!(v, Verdict::Tx { .. }) && out.len() >= 14 && out[12..14] != [0x81, 0x00] {
                    verify_checksums(&out).unwrap_or_else(|e| panic!("{}: step {i}: {e}", fx.desc));
                }
            }
            None => assert_eq!(out, s.input, "{}: step {i}: frame changed", fx.desc),
        }
    }
}

#[test]
fn every_mode_protocol_and_family() {
    let fx = mode_fixtures();
    assert_eq!(fx.len(), 12);
    for f in &fx {
        run(f);
    }
}

#[test]
fn edge_rows() {
    for f in &edge_fixtures() {
        run(f);
    }
}

/// The rows hold after a reload with the same config (ids, MACs and schedulers kept).
#[test]
fn rows_hold_after_a_reload_with_the_same_config() {
    for f in mode_fixtures() {
        let mut lb = Lb::new(f.cfg.clone());
        lb.e.apply(f.cfg.clone()).unwrap();
        for (i, s) in f.steps.iter().enumerate() {
            let (v, out) = lb.send_on(&s.input, s.port, s.t_ms);
            assert_eq!(v, s.verdict, "{}: step {i}", f.desc);
            assert_eq!(Some(&out), s.output.as_ref(), "{}: step {i}", f.desc);
        }
    }
}
