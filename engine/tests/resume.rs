//! Picking up established connections the engine does not know (after a restart): with
//! a consistent-hash scheduler (sh, dh, mh) a mid-connection ACK creates the connection on
//! the real the flow hashes to, ESTABLISHED at once; with any other scheduler, or with
//! persistence, it is dropped as `tcp_no_conn`. A RST never creates anything.

mod common;

use common::*;
use xvs_engine::{DropReason, Forward, Verdict};
use xvs_proto::tcp_flags::{ACK, PSH, RST, SYN};

fn restart_pickup(sched: &str, fwd: Forward) -> (Verdict, Verdict) {
    let cfg = simple(false, 6, 80, 80, fwd, sched, 3);
    let client = sa(cip(false, 1), 40000);
    let vip = sa(vip4(), 80);
    // The first director saw the SYN and picked a real.
    let mut before = Lb::new(cfg.clone());
    let (v, first) = before.send(&tcp(client, vip, SYN), 0);
    assert!(matches!(v, Verdict::Tx { .. }));
    // A new one (restarted) sees only the rest of the connection.
    let mut after = Lb::new(cfg);
    let (v_ack, out) = after.send(&tcp(client, vip, ACK | PSH), 1000);
    if matches!(v_ack, Verdict::Tx { .. }) {
        let reals: Vec<_> = (1..=3).map(|i| rip(false, i)).collect();
        assert_eq!(dst_mac(&out), dst_mac(&first), "{sched}: picked up on another real than {:?}", reals);
        assert_eq!(after.state(client), "ESTABLISHED");
    }
    let (v_rst, _) = after.send(&tcp(sa(cip(false, 2), 40001), vip, RST), 1001);
    after.check_totals();
    (v_ack, v_rst)
}

#[test]
fn consistent_hash_schedulers_pick_up_established_flows() {
    for sched in ["sh", "dh", "mh"] {
        for fwd in [Forward::Nat, Forward::Dr, Forward::Tun] {
            let (ack, rst) = restart_pickup(sched, fwd);
            assert!(matches!(ack, Verdict::Tx { .. }), "{sched} {fwd:?}: {ack:?}");
            assert_eq!(rst, Verdict::Drop(DropReason::TcpNoConn), "{sched} {fwd:?}");
        }
    }
}

#[test]
fn other_schedulers_drop_unknown_mid_connection_segments() {
    for sched in ["rr", "wrr", "wlc", "lc", "sed", "nq", "twos"] {
        let (ack, _) = restart_pickup(sched, Forward::Dr);
        assert_eq!(ack, Verdict::Drop(DropReason::TcpNoConn), "{sched}");
    }
}
