//! TCP and UDP connection lifecycles driven by timestamps: every reachable IPVS state on
//! the NAT path (INPUT/OUTPUT tables) and the DR/TUN path (INPUT_ONLY), the state names
//! `Engine::connections()` reports, the real's active/inactive counters, and expiry at
//! exactly the configured timeout (there 1 ms before, gone at it). Also: UDP timeout, a
//! SYN on a closing connection starting a new one, non-SYN strays (`tcp_no_conn`), and
//! expiry of connections that the bounded reaper has not reached yet.

mod common;

use std::net::SocketAddr;

use common::*;
use xvs_engine::{DropReason, EngineConfig, Forward, FrameBuf, TcpState, Timeouts, Verdict};

const TX: Verdict = Verdict::Tx { port: 0 };

/// ESTABLISHED 100 s, FIN_WAIT 30 s, UDP 50 s; the rest at IPVS defaults.
fn timeouts() -> Timeouts {
    Timeouts::from_secs(100, 30, 50)
}

fn timeout_ms(s: TcpState) -> u64 {
    timeouts().tcp[s as usize] as u64
}

fn cfg(fwd: Forward, proto: u8, n: u8) -> EngineConfig {
    let rport = if fwd == Forward::Nat { 8080 } else { 80 };
    let mut c = simple(false, proto, 80, rport, fwd, "rr", n);
    c.timeouts = timeouts();
    c
}

struct Flow {
    client: SocketAddr,
    vs: SocketAddr,
    rs: SocketAddr,
}

impl Flow {
    fn new(i: u32, rport: u16) -> Flow {
        Flow { client: sa(cip(false, i), 40000 + i as u16), vs: sa(vip4(), 80), rs: sa(rip(false, 0), rport) }
    }
    fn c(&self, flags: u8) -> Vec<u8> {
        tcp(self.client, self.vs, flags)
    }
    fn r(&self, flags: u8) -> Vec<u8> {
        reply_tcp(self.rs, self.client, flags)
    }
}

/// Checks the connection is in `state` with `timeout` ms to live from `t`, that it is still
/// there 1 ms before the deadline and gone (counters released) at it.
fn expires_exactly(lb: &mut Lb, f: &Flow, state: &str, t: u64, timeout: u64) {
    let c = lb.conn(f.client).unwrap_or_else(|| panic!("no connection in {state}"));
    assert_eq!(c.state, state);
    assert_eq!(lb.e.now_ms() + c.expires_ms, t + timeout, "deadline of {state}");
    lb.tick(t + timeout - 1);
    assert_eq!(lb.state(f.client), state, "{state} gone before its timeout");
    lb.tick(t + timeout);
    assert_eq!(lb.state(f.client), "gone", "{state} still there at its timeout");
    assert_eq!(lb.counts(f.rs.ip()), (0, 0, 0), "counters after {state} expired");
    assert_eq!(lb.e.live_connections(), 0);
}

#[test]
fn nat_full_lifecycle_client_closes_first() {
    let mut lb = Lb::new(cfg(Forward::Nat, TCP, 1));
    let f = Flow::new(1, 8080);
    let r = f.rs.ip();
    assert_eq!(lb.verdict(&f.c(SYN), 1_000), TX);
    assert_eq!(lb.state(f.client), "SYN_RECV");
    assert_eq!(lb.counts(r), (0, 1, 0));
    assert_eq!(lb.verdict(&f.r(SYN | ACK), 1_010), TX);
    assert_eq!(lb.state(f.client), "SYN_RECV");
    assert_eq!(lb.verdict(&f.c(ACK), 1_020), TX);
    assert_eq!(lb.state(f.client), "ESTABLISHED");
    assert_eq!(lb.counts(r), (1, 0, 0));
    // Data both ways keeps it established.
    for t in [2_000, 3_000] {
        assert_eq!(lb.verdict(&f.c(ACK | PSH_FLAG), t), TX);
        assert_eq!(lb.verdict(&f.r(ACK | PSH_FLAG), t + 1), TX);
    }
    assert_eq!(lb.state(f.client), "ESTABLISHED");
    assert_eq!(lb.verdict(&f.c(FIN | ACK), 4_000), TX);
    assert_eq!(lb.state(f.client), "CLOSE_WAIT");
    assert_eq!(lb.counts(r), (0, 1, 0));
    assert_eq!(lb.verdict(&f.r(ACK), 4_001), TX);
    assert_eq!(lb.state(f.client), "CLOSE_WAIT");
    assert_eq!(lb.verdict(&f.r(FIN | ACK), 4_002), TX);
    assert_eq!(lb.state(f.client), "TIME_WAIT");
    assert_eq!(lb.verdict(&f.c(ACK), 4_003), TX);
    assert_eq!(lb.state(f.client), "TIME_WAIT");
    expires_exactly(&mut lb, &f, "TIME_WAIT", 4_003, timeout_ms(TcpState::TimeWait));
    // Once gone, a stray ACK has no connection.
    assert_eq!(lb.verdict(&f.c(ACK), 200_000), Verdict::Drop(DropReason::TcpNoConn));
    assert_eq!(lb.e.stats().conns_expired, 1);
}

/// Bit value of PSH (kept local: common exports only the flags the state machine reads).
const PSH_FLAG: u8 = xvs_proto::tcp_flags::PSH;

#[test]
fn nat_server_closes_first() {
    let mut lb = Lb::new(cfg(Forward::Nat, TCP, 1));
    let f = Flow::new(2, 8080);
    lb.send(&f.c(SYN), 0);
    lb.send(&f.r(SYN | ACK), 1);
    lb.send(&f.c(ACK), 2);
    assert_eq!(lb.verdict(&f.r(FIN | ACK), 10), TX);
    assert_eq!(lb.state(f.client), "FIN_WAIT");
    assert_eq!(lb.counts(f.rs.ip()), (0, 1, 0));
    assert_eq!(lb.verdict(&f.c(ACK), 11), TX);
    assert_eq!(lb.state(f.client), "FIN_WAIT");
    let mut probe = Lb::new(cfg(Forward::Nat, TCP, 1));
    probe.send(&f.c(SYN), 0);
    probe.send(&f.r(SYN | ACK), 1);
    probe.send(&f.c(ACK), 2);
    probe.send(&f.r(FIN | ACK), 10);
    expires_exactly(&mut probe, &f, "FIN_WAIT", 10, timeout_ms(TcpState::FinWait));
    assert_eq!(timeout_ms(TcpState::FinWait), 30_000, "tcp_fin sets FIN_WAIT");

    assert_eq!(lb.verdict(&f.c(FIN | ACK), 12), TX);
    assert_eq!(lb.state(f.client), "TIME_WAIT");
    expires_exactly(&mut lb, &f, "TIME_WAIT", 12, timeout_ms(TcpState::TimeWait));
}

/// Drives a fresh NAT engine with `(from_client, flags)` segments 1 ms apart from t = 0
/// and returns it with the flow.
fn nat_after(segs: &[(bool, u8)]) -> (Lb, Flow, u64) {
    let mut lb = Lb::new(cfg(Forward::Nat, TCP, 1));
    let f = Flow::new(3, 8080);
    let mut t = 0;
    for &(client, flags) in segs {
        let frame = if client { f.c(flags) } else { f.r(flags) };
        assert_eq!(lb.verdict(&frame, t), TX, "segment {flags:#x} at {t}");
        t += 1;
    }
    (lb, f, t - 1)
}

#[test]
fn every_reachable_nat_state_expires_at_its_timeout() {
    use TcpState::*;
    let est: &[(bool, u8)] = &[(true, SYN), (false, SYN | ACK), (true, ACK)];
    type Case = (Vec<(bool, u8)>, TcpState, (u32, u32));
    let cases: Vec<Case> = vec![
        (vec![(true, SYN)], SynRecv, (0, 1)),
        (vec![(true, SYN), (false, SYN | ACK)], SynRecv, (0, 1)),
        (est.to_vec(), Established, (1, 0)),
        ([est, &[(true, FIN | ACK)]].concat(), CloseWait, (0, 1)),
        ([est, &[(false, FIN | ACK)]].concat(), FinWait, (0, 1)),
        ([est, &[(true, FIN | ACK), (false, FIN | ACK)]].concat(), TimeWait, (0, 1)),
        ([est, &[(true, RST)]].concat(), Close, (0, 1)),
        ([est, &[(false, RST)]].concat(), Close, (0, 1)),
        // A segment with none of RST/SYN/FIN/ACK closes, as in the kernel.
        ([est, &[(true, 0)]].concat(), Close, (0, 1)),
        // The real opening toward a closed connection: SYN_SENT (OUTPUT syn from CLOSE).
        ([est, &[(true, RST), (false, SYN)]].concat(), SynSent, (0, 1)),
        // RST in SYN_RECV from the client keeps SYN_RECV (INPUT rst row), from the real closes.
        (vec![(true, SYN), (true, RST)], SynRecv, (0, 1)),
        (vec![(true, SYN), (false, RST)], Close, (0, 1)),
    ];
    for (segs, want, counts) in cases {
        let (mut lb, f, t) = nat_after(&segs);
        assert_eq!(lb.state(f.client), want.name(), "after {segs:?}");
        assert_eq!(lb.counts(f.rs.ip()), (counts.0, counts.1, 0), "counters in {}", want.name());
        expires_exactly(&mut lb, &f, want.name(), t, timeout_ms(want));
    }
}

#[test]
fn a_packet_refreshes_the_timeout() {
    let (mut lb, f, t) = nat_after(&[(true, SYN), (false, SYN | ACK), (true, ACK)]);
    let es = timeout_ms(TcpState::Established);
    lb.send(&f.c(ACK), t + es - 1);
    lb.send(&f.r(ACK), t + es + 500);
    expires_exactly(&mut lb, &f, "ESTABLISHED", t + es + 500, es);
}

#[test]
fn leaving_established_moves_active_to_inactive_and_back() {
    let (mut lb, f, t) = nat_after(&[(true, SYN), (false, SYN | ACK), (true, ACK)]);
    assert_eq!(lb.counts(f.rs.ip()), (1, 0, 0));
    lb.send(&f.c(FIN | ACK), t + 1);
    assert_eq!(lb.counts(f.rs.ip()), (0, 1, 0));
    // CLOSE_WAIT + ACK from the client stays CLOSE_WAIT (inactive).
    lb.send(&f.c(ACK), t + 2);
    assert_eq!(lb.counts(f.rs.ip()), (0, 1, 0));
    // A SYN with ACK is not a new connection; INPUT syn row: CLOSE_WAIT -> SYN_RECV.
    lb.send(&f.c(SYN | ACK), t + 3);
    assert_eq!(lb.state(f.client), "SYN_RECV");
    lb.send(&f.c(ACK), t + 4);
    assert_eq!(lb.state(f.client), "ESTABLISHED");
    assert_eq!(lb.counts(f.rs.ip()), (1, 0, 0));
    assert_eq!(lb.e.stats().conns_created, 1);
}

#[test]
fn dr_input_only_lifecycle() {
    for fwd in [Forward::Dr, Forward::Tun] {
        let mut lb = Lb::new(cfg(fwd, TCP, 1));
        let f = Flow::new(4, 80);
        let r = f.rs.ip();
        for (t, flags, state, counts) in [
            (0, SYN, "SYN_RECV", (0, 1, 0)),
            (1, ACK, "ESTABLISHED", (1, 0, 0)),
            (2, ACK | PSH_FLAG, "ESTABLISHED", (1, 0, 0)),
            (3, FIN | ACK, "FIN_WAIT", (0, 1, 0)),
            (4, ACK, "FIN_WAIT", (0, 1, 0)),
        ] {
            assert_eq!(lb.verdict(&f.c(flags), t), TX);
            assert_eq!(lb.state(f.client), state, "{fwd:?} after {flags:#x}");
            assert_eq!(lb.counts(r), counts, "{fwd:?} after {flags:#x}");
        }
        expires_exactly(&mut lb, &f, "FIN_WAIT", 4, timeout_ms(TcpState::FinWait));

        // SYN, ACK, RST -> CLOSE (10 s); SYN alone expires as SYN_RECV.
        let g = Flow::new(5, 80);
        lb.send(&g.c(SYN), 100_000);
        expires_exactly(&mut lb, &g, "SYN_RECV", 100_000, timeout_ms(TcpState::SynRecv));
        lb.send(&g.c(SYN), 200_000);
        lb.send(&g.c(ACK), 200_001);
        expires_exactly(&mut lb, &g, "ESTABLISHED", 200_001, timeout_ms(TcpState::Established));
        lb.send(&g.c(SYN), 400_000);
        lb.send(&g.c(ACK), 400_001);
        lb.send(&g.c(RST), 400_002);
        expires_exactly(&mut lb, &g, "CLOSE", 400_002, timeout_ms(TcpState::Close));
        // INPUT_ONLY: SYN_RECV + RST stays SYN_RECV; FIN in SYN_RECV -> TIME_WAIT.
        lb.send(&g.c(SYN), 500_000);
        lb.send(&g.c(RST), 500_001);
        assert_eq!(lb.state(g.client), "SYN_RECV");
        lb.send(&g.c(FIN), 500_002);
        expires_exactly(&mut lb, &g, "TIME_WAIT", 500_002, timeout_ms(TcpState::TimeWait));
        assert_eq!(lb.e.connections().len(), 0);
    }
}

#[test]
fn udp_timeout_both_directions_refresh() {
    let mut lb = Lb::new(cfg(Forward::Nat, UDP, 1));
    let client = sa(cip(false, 9), 5000);
    let rs = sa(rip(false, 0), 8080);
    assert_eq!(lb.verdict(&udp(client, sa(vip4(), 80), b"q"), 1_000), TX);
    let c = lb.conn(client).unwrap();
    assert_eq!((c.state, c.expires_ms), ("UDP", 50_000));
    assert_eq!(lb.counts(rs.ip()), (0, 1, 0), "UDP connections are inactive");
    assert_eq!(lb.verdict(&reply_udp(rs, client, b"a"), 30_000), TX);
    lb.tick(30_000 + 49_999);
    assert!(lb.conn(client).is_some());
    lb.tick(80_000);
    assert!(lb.conn(client).is_none());
    assert_eq!(lb.counts(rs.ip()), (0, 0, 0));
    // A reply after expiry is not NAT traffic any more: the kernel's.
    assert_eq!(lb.verdict(&reply_udp(rs, client, b"a"), 80_001), Verdict::Pass);
}

#[test]
fn syn_on_a_closing_connection_starts_a_new_one() {
    let mut lb = Lb::new(cfg(Forward::Nat, TCP, 2));
    let f = Flow::new(6, 8080);
    let first = lb.conn(f.client);
    assert!(first.is_none());
    lb.send(&f.c(SYN), 0);
    let r0 = lb.conn(f.client).unwrap().real;
    lb.send(&reply_tcp(sa(r0, 8080), f.client, SYN | ACK), 1);
    lb.send(&f.c(ACK), 2);
    // A SYN while ESTABLISHED is not a reuse.
    lb.send(&f.c(SYN), 3);
    assert_eq!(lb.state(f.client), "ESTABLISHED");
    assert_eq!(lb.e.stats().conns_created, 1);
    lb.send(&f.c(FIN | ACK), 4);
    lb.send(&reply_tcp(sa(r0, 8080), f.client, FIN | ACK), 5);
    assert_eq!(lb.state(f.client), "TIME_WAIT");
    // Same client port, new SYN: the old connection ends, a new one is scheduled (rr: the
    // other real).
    assert_eq!(lb.verdict(&f.c(SYN), 6), TX);
    let c = lb.conn(f.client).unwrap();
    assert_eq!(c.state, "SYN_RECV");
    assert_ne!(c.real, r0);
    assert_eq!(lb.e.stats().conns_created, 2);
    assert_eq!(lb.e.stats().conns_expired, 1);
    assert_eq!(lb.counts(r0), (0, 0, 0));
    assert_eq!(lb.counts(c.real), (0, 1, 0));
    assert_eq!(lb.e.live_connections(), 1);
    // The old real's reply tuple is not the connection's any more.
    assert_eq!(lb.verdict(&reply_tcp(sa(r0, 8080), f.client, ACK), 7), Verdict::Pass);

    // Every closing state is reusable.
    for segs in [
        vec![(true, SYN), (false, SYN | ACK), (true, ACK), (true, FIN)],
        vec![(true, SYN), (false, SYN | ACK), (true, ACK), (false, FIN)],
        vec![(true, SYN), (false, SYN | ACK), (true, ACK), (true, RST)],
    ] {
        let (mut lb, f, t) = nat_after(&segs);
        lb.send(&f.c(SYN), t + 1);
        assert_eq!(lb.state(f.client), "SYN_RECV", "after {segs:?}");
        assert_eq!(lb.e.stats().conns_created, 2, "after {segs:?}");
    }
}

#[test]
fn non_syn_without_connection_is_dropped() {
    let mut lb = Lb::new(cfg(Forward::Dr, TCP, 1));
    let f = Flow::new(7, 80);
    for flags in [ACK, FIN, FIN | ACK, RST, RST | ACK, SYN | ACK, SYN | RST, PSH_FLAG, 0] {
        assert_eq!(lb.verdict(&f.c(flags), 0), Verdict::Drop(DropReason::TcpNoConn), "flags {flags:#x}");
    }
    assert_eq!(lb.drops(DropReason::TcpNoConn), 9);
    assert_eq!(lb.e.live_connections(), 0);
    assert_eq!(lb.e.stats().conns_created, 0);
}

/// With no reaping budget at all, a connection past its deadline is still never used:
/// the packet that finds it expires it (and is then handled as a new flow).
#[test]
fn lagging_reaper_never_keeps_a_dead_connection_alive() {
    let mut c = cfg(Forward::Dr, TCP, 1);
    c.expiry_budget = 0;
    let mut lb = Lb::new(c);
    let f = Flow::new(8, 80);
    lb.send(&f.c(SYN), 0);
    lb.send(&f.c(ACK), 1);
    let es = timeout_ms(TcpState::Established);
    lb.tick(1 + es + 10);
    assert_eq!(lb.e.live_connections(), 1, "budget 0 reaps nothing");
    assert!(lb.e.expiry_pending());
    assert_eq!(lb.verdict(&f.c(ACK), 1 + es + 20), Verdict::Drop(DropReason::TcpNoConn));
    assert_eq!(lb.e.live_connections(), 0);
    assert_eq!(lb.counts(f.rs.ip()), (0, 0, 0));
}

#[test]
fn mass_expiry_is_spread_over_batches() {
    let mut c = cfg(Forward::Dr, UDP, 1);
    c.expiry_budget = 4;
    let mut lb = Lb::new(c);
    for i in 0..40 {
        lb.send(&udp(sa(cip(false, i), 1000), sa(vip4(), 80), b"x"), 0);
    }
    assert_eq!(lb.e.live_connections(), 40);
    assert_eq!(lb.e.indexed_keys(), 40, "DR: one key per connection");
    // The reap after their creation may take 40 more steps (pace), with nothing due yet.
    lb.tick(1);
    lb.tick(50_000);
    let after_one = lb.e.live_connections();
    assert!((36..40).contains(&after_one), "one tick expired {} with a budget of 4", 40 - after_one);
    let mut t = 50_000;
    while lb.e.expiry_pending() {
        t += 1;
        lb.tick(t);
        assert!(t < 50_100, "expiry never finished");
    }
    assert_eq!(lb.e.live_connections(), 0);
    assert_eq!(lb.e.connections().len(), 0);
    assert_eq!(lb.e.stats().conns_expired, 40);
    assert_eq!(lb.e.indexed_keys(), 0, "an expired connection's key stayed in the index");
    assert_eq!(lb.counts(rip(false, 0)), (0, 0, 0));
}

/// The same for NAT, whose connections have two keys (request and reply), several of them
/// due in one reap: the keys go with their connections.
#[test]
fn mass_expiry_of_nat_connections_empties_the_index() {
    let mut c = cfg(Forward::Nat, TCP, 2);
    c.expiry_budget = 16;
    let mut lb = Lb::new(c);
    for i in 0..100 {
        assert_eq!(lb.send(&Flow::new(i, 8080).c(SYN), 0).0, TX);
    }
    assert_eq!(lb.e.live_connections(), 100);
    assert_eq!(lb.e.indexed_keys(), 200, "NAT: request and reply key per connection");
    lb.tick_until_reaped(timeout_ms(TcpState::SynRecv));
    assert_eq!(lb.e.live_connections(), 0);
    assert_eq!(lb.e.indexed_keys(), 0, "an expired connection's key stayed in the index");
}

/// Connections whose deadline moved later lie on the due list among the ones that are
/// due (the wheel hands them back early, to be re-armed): the reaper's look-ahead, which
/// hashes one group of due connections while it removes the one before, must skip them
/// and remove exactly the others, keys and all (a key hashed for the wrong connection
/// fails the debug check at removal).
#[test]
fn reaping_among_connections_whose_deadline_moved() {
    let mut c = cfg(Forward::Nat, TCP, 2);
    c.expiry_budget = 64;
    let mut lb = Lb::new(c);
    for i in 0..100 {
        assert_eq!(lb.send(&Flow::new(i, 8080).c(SYN), 0).0, TX);
    }
    // Every tenth one is established a moment later: its deadline moves far out. Sparse,
    // so that most groups the reaper looks at hold one: the connections after it shift
    // by one place between one look and the next.
    for i in (0..100).step_by(10) {
        assert_eq!(lb.send(&Flow::new(i, 8080).c(ACK), 10).0, TX);
    }
    lb.tick_until_reaped(timeout_ms(TcpState::SynRecv) + 20);
    assert_eq!(lb.e.live_connections(), 10);
    assert_eq!(lb.e.indexed_keys(), 20, "two keys for each connection left, none for the others");
    assert_eq!(lb.e.stats().conns_expired, 90);
    for i in 0..100 {
        let (v, _) = lb.send(&Flow::new(i, 8080).c(ACK), timeout_ms(TcpState::SynRecv) + 30);
        let want = if i % 10 == 0 { TX } else { Verdict::Drop(DropReason::TcpNoConn) };
        assert_eq!(v, want, "flow {i}");
    }
}

/// Expiry keeps pace with creation: the reap after a batch that created connections may
/// take one step per connection beyond the budget, so a director that creates as many
/// connections per batch as its budget allows never falls behind.
#[test]
fn expiry_keeps_pace_with_creation() {
    let mut c = cfg(Forward::Dr, UDP, 1);
    c.expiry_budget = 0;
    let mut lb = Lb::new(c);
    for i in 0..40 {
        lb.send(&udp(sa(cip(false, i), 1000), sa(vip4(), 80), b"x"), 0);
    }
    // Each send was a batch of one, whose reap took the step the one before it earned:
    // the last connection's step is still owed.
    lb.tick(50_000);
    assert_eq!(lb.e.stats().conns_expired, 1);
    // A batch of 20 new flows earns the next reap 20 steps.
    let mut frames: Vec<FrameBuf> =
        (0..20).map(|i| FrameBuf::from_bytes(&udp(sa(cip(false, 100 + i), 1000), sa(vip4(), 80), b"x"))).collect();
    let mut verdicts = vec![Verdict::Pass; frames.len()];
    lb.e.handle_batch(&mut frames, 50_001 * NS_PER_MS, &mut verdicts);
    assert!(verdicts.iter().all(|v| matches!(v, Verdict::Tx { .. })), "{verdicts:?}");
    lb.tick(50_002);
    assert_eq!(lb.e.stats().conns_expired, 21);
    assert_eq!(lb.e.live_connections(), 39);
}

/// IPv6 goes through the same machine.
#[test]
fn ipv6_nat_lifecycle() {
    let mut c = simple(true, TCP, 443, 8443, Forward::Nat, "rr", 1);
    c.timeouts = timeouts();
    let mut lb = Lb::new(c);
    let client = sa(cip(true, 1), 50000);
    let vs = sa(vip6(), 443);
    let rs = sa(rip(true, 0), 8443);
    lb.send(&tcp(client, vs, SYN), 0);
    lb.send(&reply_tcp(rs, client, SYN | ACK), 1);
    lb.send(&tcp(client, vs, ACK), 2);
    assert_eq!(lb.state(client), "ESTABLISHED");
    assert_eq!(lb.counts(rs.ip()), (1, 0, 0));
    lb.send(&reply_tcp(rs, client, FIN | ACK), 3);
    lb.send(&tcp(client, vs, FIN | ACK), 4);
    assert_eq!(lb.state(client), "TIME_WAIT");
    let f = Flow { client, vs, rs };
    expires_exactly(&mut lb, &f, "TIME_WAIT", 4, timeout_ms(TcpState::TimeWait));
}
