//! SCTP services (IPVS's; DPVS and Katran have none): whole associations through NAT, DR
//! and TUN, byte for byte where the frame must not change, with IPVS's SCTP states along
//! the way, and every frame the engine sends checked by an independent decoder: tshark's
//! SCTP dissector recomputes each CRC32c and reads the addresses and ports.

mod common;

use std::net::{IpAddr, SocketAddr};

use common::*;
use xvs_engine::{DropReason, Forward, Verdict};
use xvs_proto::sctp_chunk::*;

const SCTP: u8 = 132;
const PORT: u16 = 3868; // Diameter's

/// An Ethernet frame carrying an SCTP packet from `src` to `dst` with verification tag
/// `vtag` and `chunks` (type, value), its CRC32c right.
fn sctp(src: SocketAddr, dst: SocketAddr, vtag: u32, chunks: &[(u8, &[u8])], macs: (Mac, Mac)) -> Vec<u8> {
    let mut s = Vec::new();
    s.extend_from_slice(&src.port().to_be_bytes());
    s.extend_from_slice(&dst.port().to_be_bytes());
    s.extend_from_slice(&vtag.to_be_bytes());
    s.extend_from_slice(&[0; 4]);
    for (kind, value) in chunks {
        s.extend_from_slice(&[*kind, 0]);
        s.extend_from_slice(&((4 + value.len()) as u16).to_be_bytes());
        s.extend_from_slice(value);
        s.resize(s.len().next_multiple_of(4), 0);
    }
    let crc = crc32c::crc32c(&s);
    s[8..12].copy_from_slice(&crc.to_le_bytes());
    let mut f = macs.0.to_vec();
    f.extend_from_slice(&macs.1);
    match (src.ip(), dst.ip()) {
        (IpAddr::V4(a), IpAddr::V4(b)) => {
            f.extend_from_slice(&[0x08, 0x00]);
            let mut h = vec![0x45, 0, 0, 0, 0, 0, 0x40, 0, 64, SCTP, 0, 0];
            h[2..4].copy_from_slice(&((20 + s.len()) as u16).to_be_bytes());
            h.extend_from_slice(&a.octets());
            h.extend_from_slice(&b.octets());
            let c = xvs_proto::checksum::ipv4_header_checksum(&h);
            h[10..12].copy_from_slice(&c.to_be_bytes());
            f.extend(h);
        }
        (IpAddr::V6(a), IpAddr::V6(b)) => {
            f.extend_from_slice(&[0x86, 0xdd, 0x60, 0, 0, 0]);
            f.extend_from_slice(&(s.len() as u16).to_be_bytes());
            f.extend_from_slice(&[SCTP, 64]);
            f.extend_from_slice(&a.octets());
            f.extend_from_slice(&b.octets());
        }
        _ => unreachable!("one family"),
    }
    f.extend(s);
    f
}

/// tshark's reading of `frames`: per frame "checksum status|src|dst|sport|dport" (status
/// 1 = good), with SCTP's CRC32c checked.
fn tshark(name: &str, frames: &[Vec<u8>]) -> Vec<String> {
    let fields = ["sctp.checksum.status", "ip.src", "ipv6.src", "ip.dst", "ipv6.dst", "sctp.srcport", "sctp.dstport"];
    let lines = xvs_testkit::tshark::fields(&format!("sctp-{name}"), frames, &["-o", "sctp.checksum:CRC 32c"], &fields);
    // An IPv4 frame has no IPv6 fields and the reverse: drop the empty ones.
    lines.into_iter().map(|l| l.split('|').filter(|f| !f.is_empty()).collect::<Vec<_>>().join("|")).collect()
}

/// A whole NAT association: INIT to the VIP goes to the real (its CRC32c recomputed),
/// replies come back from the VIP, the states are IPVS's, SHUTDOWN COMPLETE closes it.
#[test]
fn nat_association_through_every_state() {
    for v6 in [false, true] {
        let mut lb = Lb::new(simple(v6, SCTP, PORT, PORT + 1, Forward::Nat, "rr", 1));
        let (client, vip, real) = (sa(cip(v6, 7), 40_000), sa(vip(v6), PORT), sa(rip(v6, 0), PORT + 1));
        let to_vip = |chunk: u8| sctp(client, vip, 0x1111, &[(chunk, b"client")], (DIR_MAC, CLIENT_MAC));
        let from_real = |chunk: u8| sctp(real, client, 0x2222, &[(chunk, b"real")], (DIR_MAC_IN, mac_for(real.ip())));
        let steps: [(bool, u8, &str); 9] = [
            (false, INIT, "INIT1"),
            (true, INIT_ACK, "C-SENT"),
            (false, COOKIE_ECHO, "C-REPLIED"),
            (true, COOKIE_ACK, "ESTABLISHED"),
            (false, DATA, "ESTABLISHED"),
            (true, 3, "ESTABLISHED"), // SACK
            (false, SHUTDOWN, "S-RECEIVED"),
            (true, SHUTDOWN_ACK, "S-ACK-SENT"),
            (false, SHUTDOWN_COMPLETE, "CLOSED"),
        ];
        let mut out = Vec::new();
        for (i, (reply, chunk, state)) in steps.into_iter().enumerate() {
            let frame = if reply { from_real(chunk) } else { to_vip(chunk) };
            let (v, o) = lb.send(&frame, i as u64);
            assert!(matches!(v, Verdict::Tx { .. }), "step {i} (chunk {chunk}): {v:?}");
            assert_eq!(lb.state(client), state, "after chunk {chunk}");
            out.push(o);
        }
        let fam = if v6 { "v6" } else { "v4" };
        let lines = tshark(&format!("nat-{fam}"), &out);
        let c = client.ip();
        for (i, l) in lines.iter().enumerate() {
            let want = if i % 2 == 0 {
                format!("1|{}|{}|{}|{}", c, real.ip(), client.port(), real.port())
            } else {
                format!("1|{}|{}|{}|{}", vip.ip(), c, vip.port(), client.port())
            };
            assert!(l.starts_with(&want), "frame {i}: {l} (want {want}...)");
        }
        assert_eq!(lines.len(), 9);
    }
}

/// DR and TUN: the director sees the client's side only (IPVS's INPUT-ONLY table); DR
/// leaves the packet byte for byte, TUN wraps it whole.
#[test]
fn dr_and_tun_associations_from_the_clients_side() {
    for fwd in [Forward::Dr, Forward::Tun] {
        let mut lb = Lb::new(simple(false, SCTP, PORT, PORT, fwd, "rr", 1));
        let (client, vip) = (sa(cip(false, 8), 40_001), sa(vip(false), PORT));
        let mut outs = Vec::new();
        for (i, (chunk, state)) in
            [(INIT, "INIT1"), (COOKIE_ECHO, "ESTABLISHED"), (DATA, "ESTABLISHED"), (ABORT, "CLOSED")]
                .into_iter()
                .enumerate()
        {
            let frame = sctp(client, vip, 0x3333, &[(chunk, b"x")], (DIR_MAC, CLIENT_MAC));
            let (v, out) = lb.send(&frame, i as u64);
            assert!(matches!(v, Verdict::Tx { .. }), "{fwd:?} chunk {chunk}: {v:?}");
            assert_eq!(lb.state(client), state, "{fwd:?} after chunk {chunk}");
            match fwd {
                Forward::Dr => assert_eq!(out[12..], frame[12..], "DR changes the MACs only"),
                _ => assert_eq!(out[14 + 20..], frame[14..], "TUN carries the packet whole"),
            }
            outs.push(out);
        }
        for l in tshark(&format!("{fwd:?}"), &outs) {
            assert!(l.starts_with("1|"), "{fwd:?}: {l}");
        }
    }
}

/// IPVS schedules an association on its INIT only: any other first chunk has no
/// connection to go to.
#[test]
fn only_an_init_starts_an_association() {
    let mut lb = Lb::new(simple(false, SCTP, PORT, PORT, Forward::Dr, "rr", 1));
    let (client, vip) = (sa(cip(false, 9), 40_002), sa(vip(false), PORT));
    for chunk in [DATA, COOKIE_ECHO, SHUTDOWN, ABORT] {
        let v = lb.verdict(&sctp(client, vip, 1, &[(chunk, b"x")], (DIR_MAC, CLIENT_MAC)), 0);
        assert_eq!(v, Verdict::Drop(DropReason::SctpNoConn), "chunk {chunk}");
    }
    // A COOKIE ECHO bundled with an ABORT counts as the ABORT, as in IPVS.
    let v = lb.verdict(&sctp(client, vip, 1, &[(INIT, b"x")], (DIR_MAC, CLIENT_MAC)), 1);
    assert!(matches!(v, Verdict::Tx { .. }));
    let bundled = sctp(client, vip, 1, &[(COOKIE_ECHO, b"cookie"), (ABORT, b"")], (DIR_MAC, CLIENT_MAC));
    assert!(matches!(lb.verdict(&bundled, 2), Verdict::Tx { .. }));
    assert_eq!(lb.state(client), "CLOSED");
}

/// Connection sync carries SCTP associations as IPVS does: a master records the
/// association once ESTABLISHED (and at once on closing), a backup installs it with
/// IPVS's state number and forwards the association's packets to the same real.
#[test]
fn associations_are_synced() {
    use xvs_engine::sync::SyncOutcome;
    let cfg = simple(false, SCTP, PORT, PORT, Forward::Dr, "rr", 3);
    let mut master = Lb::new(cfg.clone());
    master.e.set_sync_master(true);
    let (client, vip) = (sa(cip(false, 10), 40_003), sa(vip(false), PORT));
    let mut real_mac = None;
    for (i, chunk) in [INIT, COOKIE_ECHO, DATA].into_iter().enumerate() {
        let (_, out) = master.send(&sctp(client, vip, 7, &[(chunk, b"x")], (DIR_MAC, CLIENT_MAC)), i as u64);
        real_mac = Some(dst_mac(&out));
    }
    let mut entries = Vec::new();
    master.e.poll_sync(|c| entries.push(*c));
    let e = entries.iter().find(|c| c.protocol == SCTP).copied().expect("the association was recorded");
    assert_eq!(e.state, xvs_engine::SctpState::Established as u16);
    let mut backup = Lb::new(cfg);
    assert_eq!(backup.e.handle_sync(&e, 10 * NS_PER_MS), SyncOutcome::Installed);
    assert_eq!(backup.state(client), "ESTABLISHED");
    let (v, out) = backup.send(&sctp(client, vip, 7, &[(DATA, b"y")], (DIR_MAC, CLIENT_MAC)), 20);
    assert!(matches!(v, Verdict::Tx { .. }));
    assert_eq!(Some(dst_mac(&out)), real_mac, "the same real as on the master");
}
