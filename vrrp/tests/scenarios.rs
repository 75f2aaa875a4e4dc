//! State-machine scenarios: two or three instances on a simulated LAN (tests/common's
//! [`Lan`]: one clock, adverts delivered at once), checking who is MASTER, when, and why —
//! failover after Master_Down_Interval within the skew, preemption, `nopreempt`,
//! `preempt_delay`, the tie-break by address, priority-0 fast failover, VRRPv3 at 0.1 s,
//! address owners, faults, priority changes and unicast.

mod common;

use common::{cfg, ip, Lan};
use xvs_vrrp::timers::{master_down_us, skew_us};
use xvs_vrrp::{Cause, Event, InitialState, Instance, InstanceConfig, State, Version};

/// Master_Down_Interval in ms, rounded up (as `poll_timeout` rounds).
fn mdi_ms(v: Version, prio: u8, int_cs: u16) -> u64 {
    master_down_us(v, prio, int_cs).div_ceil(1000)
}

/// Time of the last advert node `n` sent at or before `t`.
fn last_advert(lan: &Lan, n: usize, t: u64) -> u64 {
    lan.sent.iter().filter(|(at, i, _)| *i == n && *at <= t).map(|(at, _, _)| *at).max().expect("an advert")
}

/// A (150, 10.0.0.1) and B (100, 10.0.0.2), both `state BACKUP`, advert 1 s.
fn pair(v: Version, int_cs: u16) -> Lan {
    Lan::new(vec![cfg(v, 51, 150, int_cs, "10.0.0.1"), cfg(v, 51, 100, int_cs, "10.0.0.2")])
}

/// A v2 pair at 1 s whose MASTER (node 0) was killed at 10 s, run until 20 s.
fn pair_whose_master_died_at_10s() -> Lan {
    let mut lan = pair(Version::V2, 100);
    lan.run_until(10_000);
    lan.kill(0);
    lan.run_until(20_000);
    lan
}

/// Node A's configuration (150, 10.0.0.1) again, for its return.
fn node_a_again() -> InstanceConfig {
    cfg(Version::V2, 51, 150, 100, "10.0.0.1")
}

#[test]
fn both_start_backup_and_the_higher_priority_takes_over_after_its_master_down_interval() {
    let mut lan = pair(Version::V2, 100);
    assert_eq!((lan.state(0), lan.state(1)), (State::Backup, State::Backup));
    assert_eq!(lan.change_to(0, State::Backup, 0), Some((0, Cause::Startup)));
    lan.run_until(10_000);
    // A: 3 s + (256 - 150) × 3906 µs = 3.414036 s.
    assert_eq!(lan.change_to(0, State::Master, 0), Some((3415, Cause::MasterDownTimer)));
    assert_eq!(lan.change_to(1, State::Master, 0), None);
    assert_eq!(lan.nodes[1].inst.master(), Some(ip("10.0.0.1")));
    // One advert a second since then.
    let adverts: Vec<u64> = lan.sent.iter().filter(|(_, i, _)| *i == 0).map(|(t, _, _)| *t).collect();
    assert_eq!(adverts, vec![3415, 4415, 5415, 6415, 7415, 8415, 9415]);
}

#[test]
fn master_dies_and_the_backup_takes_over_after_three_intervals_plus_its_skew() {
    let lan = pair_whose_master_died_at_10s();
    let last = last_advert(&lan, 0, 10_000);
    let (t, cause) = lan.change_to(1, State::Master, 10_000).expect("B takes over");
    assert_eq!(cause, Cause::MasterDownTimer);
    // 3 × 1 s + (256 - 100) × 3906 µs = 3.609336 s after A's last advert.
    assert_eq!(t - last, mdi_ms(Version::V2, 100, 100));
    assert!(t - last >= 3000 && t - last <= 3000 + skew_us(Version::V2, 100, 100).div_ceil(1000));
    assert_eq!(lan.masters(), 1);
}

#[test]
fn a_returning_higher_priority_router_preempts() {
    let mut lan = pair_whose_master_died_at_10s();
    let back = lan.start(node_a_again());
    lan.run_until(30_000);
    // It discards B's lower adverts, so its own down timer runs out: MASTER after one MDI.
    let (t, cause) = lan.change_to(back, State::Master, 20_000).expect("preempts");
    assert_eq!((t - 20_000, cause), (mdi_ms(Version::V2, 150, 100), Cause::Preempted));
    assert_eq!(lan.change_to(1, State::Backup, 20_000), Some((t, Cause::HigherPriority)));
    assert!(lan.nodes[back].inst.stats().lower_priority_discarded >= 3);
    assert_eq!(lan.masters(), 1);
}

#[test]
fn nopreempt_leaves_the_lower_master_in_place() {
    let mut lan = pair_whose_master_died_at_10s();
    let mut c = node_a_again();
    c.preempt = false;
    let back = lan.start(c);
    lan.run_until(60_000);
    assert_eq!(lan.state(back), State::Backup);
    assert_eq!(lan.state(1), State::Master);
    assert_eq!(lan.nodes[back].inst.master(), Some(ip("10.0.0.2")));
}

#[test]
fn preempt_delay_counts_from_the_first_lower_priority_advert() {
    let mut lan = pair_whose_master_died_at_10s();
    let mut c = node_a_again();
    c.preempt_delay_ms = 5_000;
    let back = lan.start(c);
    lan.run_until(40_000);
    let first_lower = lan.sent.iter().find(|(t, i, _)| *i == 1 && *t >= 20_000).map(|(t, _, _)| *t).expect("B adverts");
    let (t, cause) = lan.change_to(back, State::Master, 20_000).expect("preempts after the delay");
    assert_eq!(cause, Cause::Preempted);
    // Adverts are taken while the delay runs (strictly before its end); from its end on
    // they are discarded, and the down timer restarted by the last one taken runs out.
    let last_taken = last_advert(&lan, 1, first_lower + 4_999);
    assert_eq!(t, last_taken + mdi_ms(Version::V2, 150, 100), "first lower advert at {first_lower}");
    assert!(t >= first_lower + 5_000);
}

#[test]
fn equal_priorities_are_settled_by_the_higher_primary_address() {
    for (a, b) in [("10.0.0.1", "10.0.0.2"), ("fe80::1", "fe80::2")] {
        let v = if a.contains(':') { Version::V3 } else { Version::V2 };
        let mut lan = Lan::new(vec![cfg(v, 51, 100, 100, a), cfg(v, 51, 100, 100, b)]);
        lan.run_until(10_000);
        // Both time out together and become MASTER; the lower address yields.
        let (t, _) = lan.change_to(1, State::Master, 0).expect("B master");
        assert_eq!(lan.change_to(0, State::Master, 0).map(|(t, _)| t), Some(t), "{a}");
        assert_eq!(lan.change_to(0, State::Backup, 1), Some((t, Cause::HigherAddress)), "{a}");
        assert_eq!((lan.state(0), lan.state(1)), (State::Backup, State::Master), "{a}");
        assert_eq!(lan.nodes[0].inst.master(), Some(ip(b)));
    }
}

#[test]
fn a_priority_zero_advert_hands_over_after_the_skew_only() {
    let mut lan = pair(Version::V2, 100);
    lan.run_until(10_000);
    lan.stop(0);
    assert_eq!(lan.nodes[0].inst.stats().priority_zero_sent, 1);
    assert_eq!(lan.change_to(0, State::Init, 10_000), Some((10_000, Cause::Shutdown)));
    lan.run_until(20_000);
    let (t, cause) = lan.change_to(1, State::Master, 10_000).expect("B takes over");
    // (256 - 100) × 3906 µs = 609.336 ms.
    assert_eq!((t - 10_000, cause), (610, Cause::MasterResigned));
}

#[test]
fn v3_at_a_tenth_of_a_second_takes_over_within_one_second() {
    let mut lan = pair(Version::V3, 10);
    lan.run_until(5_000);
    assert_eq!(lan.state(0), State::Master);
    lan.kill(0);
    lan.run_until(10_000);
    let last = last_advert(&lan, 0, 5_000);
    let (t, cause) = lan.change_to(1, State::Master, 5_000).expect("B takes over");
    // 3 × 100 ms + (256 - 100) × 10 cs × 625 / 16 µs = 360.9375 ms.
    assert_eq!((t - last, cause), (361, Cause::MasterDownTimer));
    assert!(t - 5_000 < 1_000);
}

#[test]
fn a_v3_backup_takes_the_masters_interval() {
    let mut lan = Lan::new(vec![cfg(Version::V3, 51, 150, 10, "10.0.0.1"), cfg(Version::V3, 51, 100, 100, "10.0.0.2")]);
    // B starts with its own 1 s interval: A (0.1 s) is master well before B's timer.
    lan.run_until(5_000);
    assert_eq!(lan.nodes[1].inst.master_interval_cs(), 10);
    assert!(lan.log.iter().any(|(_, i, e)| *i == 1 && *e == Event::MasterIntervalChanged { from_cs: 100, to_cs: 10 }));
    lan.kill(0);
    lan.run_until(10_000);
    let last = last_advert(&lan, 0, 5_000);
    let (t, _) = lan.change_to(1, State::Master, 5_000).expect("B takes over");
    assert_eq!(t - last, mdi_ms(Version::V3, 100, 10));
    // As MASTER it advertises at its own interval again.
    let b: Vec<u64> = lan.sent.iter().filter(|(at, i, _)| *i == 1 && *at >= t).map(|(at, _, _)| *at).take(2).collect();
    assert_eq!(b[1] - b[0], 1_000);
}

#[test]
fn three_routers_fail_over_in_priority_order() {
    let v = Version::V2;
    let mut lan = Lan::new(vec![
        cfg(v, 51, 200, 100, "10.0.0.1"),
        cfg(v, 51, 150, 100, "10.0.0.2"),
        cfg(v, 51, 100, 100, "10.0.0.3"),
    ]);
    lan.run_until(10_000);
    assert_eq!(lan.state(0), State::Master);
    lan.kill(0);
    lan.run_until(20_000);
    assert_eq!((lan.state(1), lan.state(2)), (State::Master, State::Backup));
    assert_eq!(lan.change_to(2, State::Master, 0), None, "the lowest never became master");
    lan.kill(1);
    lan.run_until(30_000);
    assert_eq!(lan.state(2), State::Master);
}

#[test]
fn an_address_owner_with_state_master_advertises_at_once() {
    let mut owner = cfg(Version::V2, 51, 255, 100, "10.0.0.1");
    owner.initial = InitialState::Master;
    let mut lan = Lan::new(vec![cfg(Version::V2, 51, 100, 100, "10.0.0.2"), owner]);
    assert_eq!(lan.change_to(1, State::Master, 0), Some((0, Cause::Startup)));
    assert_eq!(lan.sent.first(), Some(&(0, 1, 255)));
    lan.run_until(10_000);
    assert_eq!((lan.state(0), lan.state(1)), (State::Backup, State::Master));
}

#[test]
fn state_master_below_255_starts_as_backup_for_a_master_down_interval() {
    // keepalived 2.2.7: `state MASTER` with priority 100 sends its first advert after
    // 3 × advert_int + skew (the interop test sees the same of the real daemon).
    let mut c = cfg(Version::V2, 51, 100, 100, "10.0.0.1");
    c.initial = InitialState::Master;
    let i = Instance::new(c.clone(), 0).expect("config");
    assert_eq!(i.state(), State::Backup);
    assert_eq!(i.poll_timeout(), Some(mdi_ms(Version::V2, 100, 100)));
    // An address owner with `state BACKUP` waits too, with its (tiny) skew.
    c.priority = 255;
    c.initial = InitialState::Backup;
    let i = Instance::new(c, 0).expect("config");
    assert_eq!((i.state(), i.poll_timeout()), (State::Backup, Some(3004)));
}

#[test]
fn two_address_owners_both_drop_to_254_and_the_higher_address_wins() {
    let mut a = cfg(Version::V2, 51, 255, 100, "10.0.0.1");
    a.initial = InitialState::Master;
    let mut b = cfg(Version::V2, 51, 255, 100, "10.0.0.2");
    b.initial = InitialState::Master;
    let mut lan = Lan::new(vec![a, b]);
    lan.run_until(20_000);
    assert_eq!((lan.state(0), lan.state(1)), (State::Backup, State::Master));
    for n in 0..2 {
        assert_eq!(lan.nodes[n].inst.priority(), 254);
        assert!(lan.log.iter().any(|(_, i, e)| *i == n && *e == Event::PriorityChanged { from: 255, to: 254 }));
    }
}

#[test]
fn a_master_entering_fault_resigns_and_comes_back_through_backup() {
    let mut lan = pair(Version::V2, 100);
    lan.run_until(10_000);
    lan.nodes[0].inst.set_fault(true, 10_000);
    lan.settle();
    assert_eq!(lan.change_to(0, State::Fault, 0), Some((10_000, Cause::Fault)));
    assert_eq!(lan.nodes[0].inst.poll_timeout(), None);
    lan.run_until(15_000);
    assert_eq!(lan.change_to(1, State::Master, 10_000), Some((10_610, Cause::MasterResigned)));
    // Adverts are not heard in FAULT.
    assert!(lan.nodes[0].inst.stats().rejected(xvs_vrrp::Reject::Inactive) >= 4);
    lan.nodes[0].inst.set_fault(false, 15_000);
    lan.settle();
    assert_eq!(lan.change_to(0, State::Backup, 15_000), Some((15_000, Cause::FaultCleared)));
    lan.run_until(25_000);
    assert_eq!(
        lan.change_to(0, State::Master, 15_000),
        Some((15_000 + mdi_ms(Version::V2, 150, 100), Cause::Preempted))
    );
    assert_eq!(lan.masters(), 1);
}

#[test]
fn a_lowered_priority_hands_the_master_role_over() {
    let mut lan = pair(Version::V2, 100);
    lan.run_until(10_000);
    lan.nodes[0].inst.set_priority(50, 10_000);
    assert_eq!(lan.nodes[0].inst.poll_event(), Some(Event::PriorityChanged { from: 150, to: 50 }));
    lan.run_until(20_000);
    assert_eq!(lan.change_to(1, State::Master, 10_000).map(|(_, c)| c), Some(Cause::Preempted));
    assert_eq!(lan.change_to(0, State::Backup, 10_000).map(|(_, c)| c), Some(Cause::HigherPriority));
    // Clamped to 1..=254; an owner's priority never changes.
    lan.nodes[0].inst.set_priority(255, 20_000);
    assert_eq!(lan.nodes[0].inst.priority(), 254);
    let mut owner = cfg(Version::V2, 52, 255, 100, "10.0.0.9");
    owner.initial = InitialState::Master;
    let mut o = Instance::new(owner, 0).expect("config");
    o.set_priority(10, 0);
    assert_eq!(o.priority(), 255);
}

#[test]
fn a_backup_with_a_changed_priority_moves_its_running_timer() {
    let mut b = Instance::new(cfg(Version::V2, 51, 100, 100, "10.0.0.2"), 0).expect("config");
    assert_eq!(b.poll_timeout(), Some(3610));
    b.set_priority(200, 0);
    // 3 s + 56 × 3906 µs.
    assert_eq!(b.poll_timeout(), Some(3219));
}

#[test]
fn unicast_peers_get_one_advert_each_and_fail_over_the_same() {
    let mut a = cfg(Version::V3, 51, 150, 100, "10.0.0.1");
    a.unicast_peers = vec![ip("10.0.0.2"), ip("10.0.0.3")];
    let mut b = cfg(Version::V3, 51, 100, 100, "10.0.0.2");
    b.unicast_peers = vec![ip("10.0.0.1"), ip("10.0.0.3")];
    let mut c = cfg(Version::V3, 51, 50, 100, "10.0.0.3");
    c.unicast_peers = vec![ip("10.0.0.1"), ip("10.0.0.2")];
    let mut lan = Lan::new(vec![a, b, c]);
    lan.run_until(10_000);
    assert_eq!(lan.state(0), State::Master);
    assert_eq!(lan.nodes[0].inst.stats().adverts_sent, 7);
    assert_eq!(lan.nodes[1].inst.stats().adverts_received, 7);
    assert_eq!(lan.nodes[2].inst.stats().adverts_received, 7);
    lan.kill(0);
    lan.run_until(20_000);
    assert_eq!((lan.state(1), lan.state(2)), (State::Master, State::Backup));
    assert_eq!(lan.nodes[2].inst.stats().errors(), 0);
}

#[test]
fn a_backup_shutting_down_sends_nothing_and_stays_stopped() {
    let mut lan = pair(Version::V2, 100);
    lan.run_until(10_000);
    let sent = lan.sent.len();
    lan.stop(1);
    assert_eq!(lan.sent.len(), sent);
    let b = &mut lan.nodes[1].inst;
    assert_eq!((b.state(), b.poll_timeout()), (State::Init, None));
    b.set_fault(false, 11_000);
    b.handle_timeout(99_000);
    assert_eq!(b.state(), State::Init);
}

#[test]
fn a_timer_never_fires_early() {
    let mut b = Instance::new(cfg(Version::V2, 51, 100, 100, "10.0.0.2"), 1_000).expect("config");
    let due = b.poll_timeout().expect("down timer");
    b.handle_timeout(due - 1);
    assert_eq!(b.state(), State::Backup);
    b.handle_timeout(due);
    assert_eq!(b.state(), State::Master);
    assert!(b.poll_transmit().is_some());
    assert_eq!(b.poll_timeout(), Some(due + 1_000));
}

/// keepalived's sync group, as the runtime drives it: two instances of one director
/// (VRIDs 51 and 52) follow each other's MASTER / BACKUP changes. Forcing never touches
/// FAULT.
#[test]
fn a_sync_group_member_follows_the_other_to_master_and_back() {
    // This director: VI_1 (51, priority 150) and VI_2 (52, 100). The other director:
    // 51 and 52 at 200, the masters first.
    let mut lan = Lan::new(vec![
        cfg(Version::V2, 51, 150, 100, "10.0.0.1"),
        cfg(Version::V2, 52, 100, 100, "10.0.1.1"),
        cfg(Version::V2, 51, 200, 100, "10.0.0.3"),
        cfg(Version::V2, 52, 200, 100, "10.0.1.3"),
    ]);
    lan.run_until(5_000);
    assert_eq!((lan.state(0), lan.state(1)), (State::Backup, State::Backup));
    // The other director dies: VI_1 (the higher priority, the shorter timer) takes over
    // first; VI_2 follows at once instead of waiting for its own timer.
    lan.kill(2);
    lan.kill(3);
    let killed = lan.now;
    let mut forced = None;
    for _ in 0..10_000 {
        lan.run_for(1);
        if lan.state(0) == State::Master {
            let now = lan.now;
            lan.nodes[1].inst.follow_group(true, now);
            lan.settle();
            forced = Some(now);
            break;
        }
    }
    let now = forced.expect("VI_1 took over");
    assert_eq!(lan.change_to(0, State::Master, killed).map(|c| c.1), Some(Cause::MasterDownTimer));
    assert_eq!(lan.change_to(1, State::Master, killed), Some((now, Cause::SyncGroup)));
    assert!(lan.sent.iter().any(|(at, n, p)| *at == now && *n == 1 && *p == 100), "it advertised at once");
    // Back: the group follows a member to BACKUP, without a priority-0 advert.
    lan.nodes[1].inst.follow_group(false, now);
    lan.settle();
    assert_eq!(lan.change_to(1, State::Backup, now), Some((now, Cause::SyncGroup)));
    assert!(!lan.sent.iter().any(|(at, n, p)| *at == now && *n == 1 && *p == 0));
    // A member in FAULT stays there whatever the others do.
    lan.nodes[1].inst.set_fault(true, now);
    lan.nodes[1].inst.follow_group(true, now);
    assert_eq!(lan.state(1), State::Fault);
}
