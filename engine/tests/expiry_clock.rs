//! Expiry does not depend on where the clock stands: connections (TCP, UDP) and
//! persistence templates expire on time at start clocks spread over the whole 2^32 ms
//! range that deadlines are truncated to, across its wraps too. (A template armed on the
//! timing wheel before its deadline was set lived up to 24 days at half of these clocks.)

mod common;

use common::*;
use xvs_engine::{Engine, Forward, FrameBuf, Verdict};

const P: u64 = 300; // persistence, s

/// Start clocks (ms): around 0, 2^31 and 2^32, and odd places in between and beyond.
fn starts() -> Vec<u64> {
    let w = 1u64 << 32;
    vec![
        0,
        1_000,
        (1 << 31) - 100_000,
        (1 << 31) - 1,
        1 << 31,
        (1 << 31) + 12_345,
        3 << 30,
        w - 200_000,
        w - 1,
        w,
        w + (1 << 31) + 7,
        5 * w + 123_456_789,
    ]
}

fn run(e: &mut Engine, frame: &[u8], t_ms: u64) -> (Verdict, Vec<u8>) {
    let mut b = [FrameBuf::from_bytes(frame)];
    let mut v = [Verdict::Pass];
    e.handle_batch(&mut b, t_ms * NS_PER_MS, &mut v);
    (v[0], b[0].data().to_vec())
}

/// Tick the engine second by second from `from` to `to` (ms), so the reaper runs.
fn tick(e: &mut Engine, from: u64, to: u64) {
    let mut t = from;
    while t < to {
        t = (t + 1000).min(to);
        e.handle_timeout(t * NS_PER_MS);
    }
}

#[test]
fn templates_and_connections_expire_on_time_wherever_the_clock_starts() {
    let reals: Vec<_> = (0..3).map(|i| rip(false, i)).collect();
    for start in starts() {
        let mut cfg = simple(false, TCP, 80, 80, Forward::Dr, "rr", 3);
        cfg.services[0].persistence = P as u32;
        let mut e = Engine::new(cfg, start * NS_PER_MS).unwrap();
        let client = sa(cip(false, 0), 1000);
        let (v, out) = run(&mut e, &tcp(client, sa(vip4(), 80), SYN), start);
        assert!(matches!(v, Verdict::Tx { .. }), "start {start}: {v:?}");
        let first = which_real(&out, &reals);
        assert_eq!((e.live_connections(), e.live_templates()), (1, 1), "start {start}");
        // The half-open connection goes after its timeout, the template P s after the
        // last connection through it (rechecked every 60 s while that one lived).
        tick(&mut e, start, start + (P + 65) * 1000);
        assert_eq!((e.live_connections(), e.live_templates()), (0, 0), "start {start}: not expired on time");
        // An hour later the client is scheduled afresh (rr moves on), not pinned.
        let later = start + 3_600_000;
        tick(&mut e, start + (P + 65) * 1000, later);
        let (_, out) = run(&mut e, &tcp(sa(cip(false, 0), 1001), sa(vip4(), 80), SYN), later);
        assert_ne!(which_real(&out, &reals), first, "start {start}: the client kept its old real");
    }
}

#[test]
fn udp_connections_expire_on_time_wherever_the_clock_starts() {
    for start in starts() {
        let mut e = Engine::new(simple(false, UDP, 53, 53, Forward::Dr, "rr", 2), start * NS_PER_MS).unwrap();
        let (v, _) = run(&mut e, &udp(sa(cip(false, 1), 5000), sa(vip4(), 53), b"q"), start);
        assert!(matches!(v, Verdict::Tx { .. }), "start {start}: {v:?}");
        tick(&mut e, start, start + 299_000);
        assert_eq!(e.live_connections(), 1, "start {start}: gone before its 300 s");
        tick(&mut e, start + 299_000, start + 302_000);
        assert_eq!(e.live_connections(), 0, "start {start}: not gone after its 300 s");
    }
}
