//! The staged loop (prefetch stages, groups of frames) gives a group of frames what the
//! one-pass loop gives them, where a frame depends on one before it in the same group:
//! the same flow again after its SYN, the real's SYN-ACK, an ICMP error or a later
//! fragment about a connection the group just made, another service's SYN whose NAT
//! reply key clashes, more SYNs than the table has room for. (The random traffic of
//! `fast_path.rs` does not make most of these.) Each case runs the same batches through
//! an engine below its staging threshold (one pass) and one that stages every batch
//! (`set_stage_from(0)`), and compares verdicts, frames, counters, connections and every
//! real's counts.

mod common;

use common::*;
use xvs_engine::{DropReason, EngineConfig, Forward, Verdict};
use xvs_proto::build::{fragments_v4, icmp_error, Frame};

/// `batches` through both loops, one per millisecond; the one-pass loop's results.
fn both(cfg: EngineConfig, batches: &[Vec<Vec<u8>>]) -> Vec<Vec<(Verdict, Vec<u8>)>> {
    let mut one = Lb::new(cfg.clone());
    let mut staged = Lb::new(cfg);
    staged.e.set_stage_from(0);
    let mut out = Vec::new();
    for (k, b) in batches.iter().enumerate() {
        let now = 1_000 + k as u64;
        let want = one.batch(b, now);
        assert_eq!(staged.batch(b, now), want, "batch {k}");
        out.push(want);
    }
    let (staged, one) = (&staged.e, &one.e);
    assert_eq!(staged.stats(), one.stats());
    assert_eq!(staged.connections(), one.connections());
    assert_eq!(staged.indexed_keys(), one.indexed_keys());
    for (a, b) in staged.services().reals.iter().zip(one.services().reals.iter()) {
        assert_eq!(a.stats, b.stats);
        assert_eq!(format!("{:?}", a.counters), format!("{:?}", b.counters));
    }
    out
}

fn client(i: u32) -> std::net::SocketAddr {
    sa(cip(false, i), 40_000)
}

fn vs(port: u16) -> std::net::SocketAddr {
    sa(vip4(), port)
}

fn nat(n: u8) -> EngineConfig {
    simple(false, TCP, 80, 8080, Forward::Nat, "rr", n)
}

fn is_tx(v: &Verdict) -> bool {
    matches!(v, Verdict::Tx { .. })
}

/// SYNs, the same flows' next segments and a retransmitted SYN, and the real's SYN-ACK,
/// all in one group: each later frame finds the connection its SYN made.
#[test]
fn a_flow_meets_its_new_connection_in_the_same_group() {
    // rr over two reals: client 1 goes to real 0, client 2 to real 1.
    let batch = vec![
        tcp(client(1), vs(80), SYN),
        tcp(client(2), vs(80), SYN),
        tcp(client(1), vs(80), ACK),
        reply_tcp(sa(rip(false, 1), 8080), client(2), SYN | ACK),
        tcp(client(3), vs(80), SYN),
        tcp(client(1), vs(80), SYN),
    ];
    let out = both(nat(2), &[batch]);
    assert!(out[0].iter().all(|(v, _)| is_tx(v)), "{:?}", out[0].iter().map(|(v, _)| v).collect::<Vec<_>>());
}

/// Two services send the same client endpoint to the same real: the second SYN's reply
/// key is the first one's, so it is dropped, and leaves no count behind.
#[test]
fn a_reply_key_clash_within_a_group() {
    let real = || vec![common::real(rip(false, 0), 8080, 1, Forward::Nat)];
    let cfg = config(vec![service(vip4(), 80, TCP, "rr", real()), service(vip4(), 81, TCP, "rr", real())]);
    let out = both(cfg, &[vec![tcp(client(1), vs(80), SYN), tcp(client(1), vs(81), SYN), tcp(client(2), vs(81), SYN)]]);
    let verdicts: Vec<_> = out[0].iter().map(|(v, _)| *v).collect();
    assert!(is_tx(&verdicts[0]) && is_tx(&verdicts[2]), "{verdicts:?}");
    assert_eq!(verdicts[1], Verdict::Drop(DropReason::NatClash));
}

/// A fragmented SYN and its later fragments in one group: the later ones are forwarded
/// by the record the first one's forwarding leaves.
#[test]
fn later_fragments_of_a_new_connection_s_syn() {
    let syn = Frame::tcp(client(1), vs(80), SYN).payload(&[0x5a; 200]);
    let mut batch = vec![tcp(client(2), vs(80), SYN)];
    batch.extend(fragments_v4(&syn, 64));
    assert!(batch.len() >= 4, "the SYN is in fragments");
    let out = both(nat(2), &[batch]);
    assert!(out[0].iter().all(|(v, _)| is_tx(v)), "{:?}", out[0].iter().map(|(v, _)| v).collect::<Vec<_>>());
}

/// An ICMP error about a connection made in the same group (from the real, quoting the
/// SYN as the real got it) is matched to it.
#[test]
fn an_icmp_error_about_a_new_connection() {
    let rs = sa(rip(false, 0), 8080);
    let err = icmp_error(rs.ip(), client(1).ip(), 3, 3, &tcp(client(1), rs, SYN));
    let out = both(nat(1), &[vec![tcp(client(1), vs(80), SYN), err]]);
    assert!(is_tx(&out[0][0].0) && is_tx(&out[0][1].0), "{:?}", out[0].iter().map(|(v, _)| v).collect::<Vec<_>>());
}

/// More SYNs than the table holds, over several groups: eviction and refusals come out
/// the same.
#[test]
fn a_batch_of_syns_past_the_table_s_room() {
    let mut cfg = nat(4);
    cfg.max_connections = 40;
    let first: Vec<_> = (0..64).map(|i| tcp(client(i), vs(80), SYN)).collect();
    let second: Vec<_> = (64..128).map(|i| tcp(client(i), vs(80), SYN)).collect();
    let out = both(cfg, &[first, second]);
    assert!(out[0].iter().filter(|(v, _)| is_tx(v)).count() >= 40);
}
