//! The packet pipeline, driven as a poll loop drives it: batches of up to 32 frames from up
//! to three ports, reloads between batches (NAT, DR, TUN, persistence, one-packet
//! scheduling, source lists, a tiny table), clock jumps with expiry, sync entries, and
//! the sync master role. The input is read as a structure (lengths come from the input,
//! no separator byte), and frames are either raw bytes or one of a set of valid frames
//! (TCP/UDP/ICMP, both families, both directions, fragments) with a few bytes changed and
//! the client varied, so the fuzzer reaches deep states quickly.
//!
//! Checked after every step: `rx == tx + passed + dropped`, the live count equals the
//! listing, and no panic.
#![no_main]

use std::net::IpAddr;

use etherparse::PacketBuilder;
use libfuzzer_sys::arbitrary::{Result, Unstructured};
use libfuzzer_sys::fuzz_target;
use xvs_engine::filter::SourceFilter;
use xvs_engine::{Engine, EngineConfig, Forward, FrameBuf, NeighborSpec, RealSpec, ServiceSpec, Verdict};
use xvs_proto::ipvs_sync::{conn_flags, SyncConn};
use xvs_proto::Encap;

const MAC_C: [u8; 6] = [2, 0, 0, 0, 0, 1];
const MAC_D: [u8; 6] = [2, 0, 0, 0, 0, 0xfe];

fn real(addr: &str, port: u16, fwd: Forward) -> RealSpec {
    RealSpec::new(addr.parse().unwrap(), port, fwd)
}

fn service(
    vip: &str,
    port: u16,
    proto: u8,
    sched: &str,
    fwd: Forward,
    reals: &[&str],
    persistence: u32,
) -> ServiceSpec {
    let vip: IpAddr = vip.parse().unwrap();
    let rport = if fwd == Forward::Nat { 8080 } else { port };
    ServiceSpec {
        vip,
        prefix_len: if vip.is_ipv4() { 32 } else { 128 },
        port,
        proto,
        scheduler: sched.into(),
        sched: Default::default(),
        ops: false,
        persistence,
        persistence_netmask: if vip.is_ipv4() { 24 } else { 64 },
        sorry_server: None,
        sorry_inhibit: false,
        fwmark: 0,
        marks: Vec::new(),
        reals: reals.iter().map(|r| real(r, rport, fwd)).collect(),
        sources: SourceFilter::default(),
    }
}

/// Configuration `k` of a few that differ in every way a reload can change.
fn config(k: u8) -> EngineConfig {
    let (f80, f53) = match k % 3 {
        0 => (Forward::Nat, Forward::Tun),
        1 => (Forward::Dr, Forward::Nat),
        _ => (Forward::Tun, Forward::Dr),
    };
    let sched = ["wlc", "rr", "mh", "sh", "lblc", "sed"][k as usize % 6];
    let mut services = vec![
        service("10.0.1.100", 80, 6, sched, f80, &["10.0.2.11", "10.0.2.12"], 0),
        service("10.0.1.100", 53, 17, "rr", f53, &["10.0.2.11"], 0),
        service("10.0.1.100", 443, 6, "sh", Forward::Dr, &["10.0.2.12"], if k & 4 != 0 { 300 } else { 0 }),
        service("2001:db8:1::100", 80, 6, sched, f80, &["2001:db8:2::11"], 0),
        service("2001:db8:1::100", 53, 17, "rr", f53, &["2001:db8:2::11"], 0),
    ];
    if k & 8 != 0 {
        services[1].ops = true;
        services[0].sources = SourceFilter { allow: vec![], deny: vec![("198.51.100.0".parse().unwrap(), 24)] };
    }
    // Every tunnel type (and its checksum options) on the TUN reals.
    let tunnel = [Encap::Ipip, Encap::Gue { port: 6080, csum: k & 2 != 0 }, Encap::Gre { csum: k & 2 != 0 }]
        [(k / 3) as usize % 3];
    for r in services.iter_mut().flat_map(|s| s.reals.iter_mut()).filter(|r| r.forward == Forward::Tun) {
        r.tunnel = tunnel;
    }
    if k & 16 != 0 {
        services.remove(0);
    }
    let hop =
        |ip: &str, mac| NeighborSpec { ip: ip.parse().unwrap(), mac, default: true, port: None, clients_only: false };
    EngineConfig {
        max_connections: if k & 32 != 0 { 4 } else { 64 },
        address4: Some("10.0.2.1".parse().unwrap()),
        address6: Some("2001:db8:2::1".parse().unwrap()),
        mtu: if k & 64 != 0 { 576 } else { 1500 },
        services,
        neighbors: vec![hop("0.0.0.0", [2, 0, 0, 0, 2, 1]), hop("::", [2, 0, 0, 0, 6, 1])],
        ..EngineConfig::default()
    }
}

/// Addresses of client `c` and the two sides (`v6`).
fn ends(v6: bool, c: u8, to_real: bool) -> (IpAddr, IpAddr, IpAddr) {
    if v6 {
        (
            format!("2001:db8::{}", c as u16 + 2).parse().unwrap(),
            "2001:db8:1::100".parse().unwrap(),
            "2001:db8:2::11".parse().unwrap(),
        )
    } else {
        let client = if to_real { format!("10.0.0.{}", c) } else { format!("198.51.100.{}", c) };
        (client.parse().unwrap(), "10.0.1.100".parse().unwrap(), "10.0.2.11".parse().unwrap())
    }
}

/// A valid frame of kind `kind` from client `c` (see the module doc).
fn template(kind: u8, c: u8, flags: u8, payload: &[u8]) -> Vec<u8> {
    let v6 = kind & 1 != 0;
    let (client, vip, rip) = ends(v6, c, kind & 32 != 0);
    let reply = kind & 2 != 0;
    let (src, dst) = if reply { (rip, client) } else { (client, vip) };
    let b = match (src, dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => PacketBuilder::ethernet2(MAC_C, MAC_D).ipv4(s.octets(), d.octets(), 64),
        (IpAddr::V6(s), IpAddr::V6(d)) => PacketBuilder::ethernet2(MAC_C, MAC_D).ipv6(s.octets(), d.octets(), 64),
        _ => unreachable!(),
    };
    let cport = 1024 + c as u16;
    let (sport, dport) = match (reply, kind & 4 != 0) {
        (false, false) => (cport, 80),
        (false, true) => (cport, 53),
        (true, false) => (8080, cport),
        (true, true) => (53, cport),
    };
    let mut out = Vec::new();
    match (kind >> 2) & 3 {
        0 | 2 => {
            let mut t = b.tcp(sport, dport, 1000, 65535);
            if flags & 1 != 0 {
                t = t.syn();
            }
            if flags & 2 != 0 {
                t = t.ack(1);
            }
            if flags & 4 != 0 {
                t = t.fin();
            }
            if flags & 8 != 0 {
                t = t.rst();
            }
            t.write(&mut out, payload).unwrap();
        }
        1 => b.udp(sport, dport).write(&mut out, payload).unwrap(),
        _ => {
            // An ICMP error quoting a packet of the flow.
            let quoted = template(kind & !12, c, flags, &[]);
            let inner = &quoted[14..quoted.len().min(14 + 48)];
            if v6 {
                b.icmpv6(etherparse::Icmpv6Type::PacketTooBig { mtu: 1280 }).write(&mut out, inner).unwrap();
            } else {
                let t = etherparse::Icmpv4Type::DestinationUnreachable(
                    etherparse::icmpv4::DestUnreachableHeader::FragmentationNeeded { next_hop_mtu: 576 },
                );
                b.icmpv4(t).write(&mut out, inner).unwrap();
            }
        }
    }
    out
}

/// One frame: raw bytes, or a template with a few bytes changed.
fn frame(u: &mut Unstructured) -> Result<Vec<u8>> {
    if u.ratio(1, 8)? {
        let n = u.int_in_range(0..=1600)?;
        return Ok(u.bytes(n)?.to_vec());
    }
    let kind: u8 = u.arbitrary()?;
    let c = u.int_in_range(1..=40)?;
    let flags: u8 = u.arbitrary()?;
    let len = u.int_in_range(0..=1500)?;
    let payload = vec![0x5a; len];
    let mut f = template(kind, c, flags, &payload);
    for _ in 0..u.int_in_range(0..=3)? {
        let at = u.choose_index(f.len())?;
        f[at] = u.arbitrary()?;
    }
    Ok(f)
}

fn sync_entry(u: &mut Unstructured) -> Result<SyncConn> {
    let v6: bool = u.arbitrary()?;
    let c = u.int_in_range(1..=40)?;
    let (client, vip, rip) = ends(v6, c, true);
    Ok(SyncConn {
        protocol: if u.arbitrary()? { 6 } else { 17 },
        flags: *u.choose(&[conn_flags::MASQ, conn_flags::DROUTE, conn_flags::TUNNEL])? | u.int_in_range(0..=0x1ff)?,
        state: u.int_in_range(0..=12)?,
        cport: 1024 + c as u16,
        vport: *u.choose(&[80, 53, 443])?,
        dport: *u.choose(&[80, 53, 8080])?,
        fwmark: 0,
        timeout: u.int_in_range(0..=100_000)?,
        caddr: client,
        vaddr: vip,
        daddr: rip,
    })
}

fn check(e: &Engine) {
    let s = e.stats();
    assert_eq!(s.rx, s.tx + s.passed + s.dropped(), "every frame is counted once");
    assert_eq!(e.live_connections() as usize, e.connections().len(), "live count = listing");
}

fn run(u: &mut Unstructured) -> Result<()> {
    let mut e = Engine::new(config(u.arbitrary()?), 0).unwrap();
    let ports = u.int_in_range(1..=3u16)?;
    let mut now: u64 = 0;
    let mut frames: Vec<FrameBuf> = Vec::with_capacity(32);
    let mut verdicts = vec![Verdict::Pass; 32];
    for _ in 0..48 {
        if u.is_empty() {
            break;
        }
        match u.int_in_range(0..=15u8)? {
            0 => {
                let _ = e.apply(config(u.arbitrary()?));
            }
            1 => {
                now += u.int_in_range(0..=1_000_000u64)? * 1_000_000;
                e.handle_timeout(now);
            }
            2 => {
                let s = sync_entry(u)?;
                e.handle_sync(&s, now);
            }
            3 => {
                e.set_sync_master(u.arbitrary()?);
                e.poll_sync(|_| {});
            }
            _ => {
                now += u.int_in_range(0..=2_000u64)? * 1_000_000;
                frames.clear();
                for _ in 0..u.int_in_range(1..=32)? {
                    let mut f = FrameBuf::from_bytes(&frame(u)?);
                    f.port = u.int_in_range(0..=ports - 1)?;
                    frames.push(f);
                }
                let n = frames.len();
                e.handle_batch(&mut frames, now, &mut verdicts[..n]);
            }
        }
        check(&e);
    }
    Ok(())
}

fuzz_target!(|data: &[u8]| {
    let _ = run(&mut Unstructured::new(data));
});
