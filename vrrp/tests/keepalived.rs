//! Interop with the distribution's keepalived 2.2.7, live, in network namespaces (needs
//! root; fails, never skips, without keepalived — scripts/setup.sh installs it).
//!
//! keepalived as MASTER: its adverts, read with a raw socket, decode with the expected
//! fields (VRRPv2 with PASS, VRRPv3 over IPv4 at 0.1 s, over IPv6, and unicast), and an
//! [`Instance`] as BACKUP fed them at their arrival times takes every one without a reject,
//! then takes over as keepalived's timers would (after its priority-0 advert: Skew_Time;
//! after `kill -9`: Master_Down_Interval). keepalived as BACKUP: adverts built by our
//! encoder keep it BACKUP well past its Master_Down_Interval (read from its log), our
//! priority-0 advert hands it the master role within Skew_Time, and adverts with a broken
//! checksum do not hold it (the control that shows the check can fail).
//!
//! Every lab is torn down (keepalived killed, namespaces deleted) by its guard's `Drop`.

mod common;
mod kalab;

use std::net::IpAddr;
use std::time::{Duration, Instant};

use common::{cfg, pass};
use kalab::{capture, send, KaLab, Rx, KA_V4, KA_V6, US_V4, US_V6};
use nix::sys::signal::Signal;
use xvs_vrrp::wire::{self, decode};
use xvs_vrrp::{Cause, Event, Instance, InstanceConfig, State, Version};

const SEED_VIP: &str = "192.168.20.50";

/// The seed notes' instance (VRRPv2, VRID 51, advert_int 1, PASS 1111, one VIP) on `e0`.
fn seed_conf(state: &str, priority: u8) -> String {
    format!(
        "vrrp_instance VI_1 {{\n  state {state}\n  interface e0\n  virtual_router_id 51\n  priority {priority}\n  \
         advert_int 1\n  authentication {{\n    auth_type PASS\n    auth_pass 1111\n  }}\n  \
         virtual_ipaddress {{\n    {SEED_VIP}\n  }}\n}}\n"
    )
}

/// A VRRPv3 instance; `extra` lines go inside it.
fn v3_conf(state: &str, priority: u8, advert_int: &str, vip: &str, extra: &str) -> String {
    format!(
        "global_defs {{\n  vrrp_version 3\n}}\nvrrp_instance VI_3 {{\n  state {state}\n  interface e0\n  \
         virtual_router_id 52\n  priority {priority}\n  advert_int {advert_int}\n{extra}  \
         virtual_ipaddress {{\n    {vip}\n  }}\n}}\n"
    )
}

/// Our side's configuration: `primary`, VIP `vip`.
fn ours(v: Version, vrid: u8, priority: u8, int_cs: u16, primary: IpAddr, vip: &str) -> InstanceConfig {
    let mut c = cfg(v, vrid, priority, int_cs, &primary.to_string());
    c.addresses = vec![vip.parse().expect("vip")];
    c
}

/// Feeds captured adverts to `b` at their arrival times; every one must be taken and `b`
/// must stay BACKUP with keepalived as its master.
fn backup_takes(b: &mut Instance, got: &[Rx], ka: IpAddr, log: &str) {
    let before = b.stats().adverts_received;
    for rx in got {
        b.handle_timeout(rx.at_ms);
        let r = b.handle_advert(rx.src, rx.dst, rx.ttl, &rx.msg, rx.at_ms);
        assert_eq!(r, Ok(()), "advert at {} ms: {}\n{log}", rx.at_ms, common_hex(&rx.msg));
        assert_eq!((b.state(), b.master()), (State::Backup, Some(ka)), "after the advert at {} ms", rx.at_ms);
    }
    assert_eq!(b.stats().errors(), 0);
    assert_eq!(b.stats().adverts_received - before, got.len() as u64);
}

fn common_hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn takeover(b: &mut Instance) -> (u64, Cause) {
    let at = b.poll_timeout().expect("a BACKUP has a down timer");
    b.handle_timeout(at);
    while let Some(e) = b.poll_event() {
        if let Event::StateChanged { to: State::Master, cause, .. } = e {
            return (at, cause);
        }
    }
    panic!("no takeover at {at} ms")
}

#[test]
fn keepalived_v2_pass_master_adverts_decode_and_our_backup_takes_them() {
    let mut k = KaLab::new("ka_v2_master");
    let sock = k.reader_v4();
    let t0 = Instant::now();
    k.start(&seed_conf("MASTER", 150));
    let got = capture(&sock, false, t0, t0 + Duration::from_secs(15), 3);
    assert_eq!(got.len(), 3, "keepalived's adverts in 15 s\n{}", k.log());
    // keepalived 2.2.7 with `state MASTER` below priority 255 first waits a whole
    // Master_Down_Interval (3 s + 106 × 3906 µs) as BACKUP.
    assert!(got[0].at_ms >= 3_000, "first advert after {} ms\n{}", got[0].at_ms, k.log());
    eprintln!("keepalived state MASTER priority 150: first advert {} ms after its start", got[0].at_ms);
    for rx in &got {
        assert_eq!((rx.src, rx.dst, rx.ttl), (IpAddr::V4(KA_V4), IpAddr::V4(wire::MCAST_V4), 255));
        let a = decode(&rx.msg, rx.src, rx.dst).unwrap_or_else(|e| panic!("{e}: {}", common_hex(&rx.msg)));
        assert_eq!(
            (a.version, a.vrid, a.priority, a.auth_type, a.adver_int),
            (Version::V2, 51, 150, wire::AUTH_PASS, 1)
        );
        assert_eq!((a.addresses, a.auth_data), (vec![SEED_VIP.parse().unwrap()], pass("1111")));
    }
    let mut c = ours(Version::V2, 51, 100, 100, IpAddr::V4(US_V4), SEED_VIP);
    c.auth_pass = Some(pass("1111"));
    let mut b = Instance::new(c, got[0].at_ms).expect("config");
    backup_takes(&mut b, &got, IpAddr::V4(KA_V4), &k.log());

    // A clean stop: keepalived sends priority 0, and we take over after our skew only.
    k.signal(Signal::SIGTERM);
    let zero = kalab::first(&sock, false, t0, Instant::now() + Duration::from_secs(5), |rx| rx.msg.get(2) == Some(&0))
        .unwrap_or_else(|| panic!("no priority-0 advert within 5 s of SIGTERM\n{}", k.log()));
    assert_eq!(decode(&zero.msg, zero.src, zero.dst).map(|a| a.priority), Ok(0));
    b.handle_timeout(zero.at_ms);
    assert_eq!(b.handle_advert(zero.src, zero.dst, zero.ttl, &zero.msg, zero.at_ms), Ok(()));
    assert_eq!(takeover(&mut b), (zero.at_ms + 610, Cause::MasterResigned));
}

#[test]
fn keepalived_v3_at_a_tenth_of_a_second_and_our_backup_takes_over_within_a_second_of_kill_9() {
    let mut k = KaLab::new("ka_v3_fast");
    let sock = k.reader_v4();
    let t0 = Instant::now();
    k.start(&v3_conf("BACKUP", 150, "0.1", SEED_VIP, ""));
    let got = capture(&sock, false, t0, t0 + Duration::from_secs(10), 15);
    assert_eq!(got.len(), 15, "keepalived's adverts in 10 s\n{}", k.log());
    let mut gaps: Vec<u64> = got.windows(2).map(|w| w[1].at_ms - w[0].at_ms).collect();
    gaps.sort_unstable();
    assert!((60..=200).contains(&gaps[gaps.len() / 2]), "median gap {} ms: {gaps:?}", gaps[gaps.len() / 2]);
    eprintln!("keepalived advert_int 0.1: gaps {gaps:?} ms");
    for rx in &got {
        let a = decode(&rx.msg, rx.src, rx.dst).unwrap_or_else(|e| panic!("{e}: {}", common_hex(&rx.msg)));
        assert_eq!((a.version, a.vrid, a.priority, a.auth_type, a.adver_int), (Version::V3, 52, 150, 0, 10));
        assert_eq!((rx.ttl, a.addresses.len()), (255, 1));
    }
    // Our BACKUP is configured with 1 s and takes the master's 0.1 s.
    let mut b = Instance::new(ours(Version::V3, 52, 100, 100, IpAddr::V4(US_V4), SEED_VIP), got[0].at_ms).expect("cfg");
    backup_takes(&mut b, &got, IpAddr::V4(KA_V4), &k.log());
    assert_eq!(b.master_interval_cs(), 10);

    k.kill9();
    let after = capture(&sock, false, t0, Instant::now() + Duration::from_secs(1), 100);
    let heard: Vec<&Rx> = got.iter().chain(after.iter()).collect();
    assert!(after.iter().all(|rx| rx.msg.get(2) != Some(&0)), "kill -9 sent a priority-0 advert");
    backup_takes(&mut b, &after, IpAddr::V4(KA_V4), &k.log());
    let last = heard.last().expect("adverts").at_ms;
    let (at, cause) = takeover(&mut b);
    // 3 × 100 ms + 156 × 10 × 625 / 16 µs = 360.9375 ms.
    assert_eq!((at - last, cause), (361, Cause::MasterDownTimer));
}

#[test]
fn keepalived_v3_ipv6_owner_advertises_at_once_and_our_backup_takes_it() {
    let mut k = KaLab::new("ka_v3_ipv6");
    let sock = k.reader_v6();
    let t0 = Instant::now();
    k.start(&v3_conf("MASTER", 255, "0.5", "2001:db8:77::50/64", "  unicast_src_ip fe80::1\n"));
    let got = capture(&sock, true, t0, t0 + Duration::from_secs(10), 4);
    assert_eq!(got.len(), 4, "keepalived's adverts in 10 s\n{}", k.log());
    assert!(got[0].at_ms < 2_000, "an address owner advertises at once; first after {} ms\n{}", got[0].at_ms, k.log());
    eprintln!("keepalived state MASTER priority 255: first advert {} ms after its start", got[0].at_ms);
    for rx in &got {
        assert_eq!((rx.src, rx.dst, rx.ttl), (IpAddr::V6(KA_V6), IpAddr::V6(wire::MCAST_V6), 255));
        let a = decode(&rx.msg, rx.src, rx.dst).unwrap_or_else(|e| panic!("{e}: {}", common_hex(&rx.msg)));
        assert_eq!((a.version, a.vrid, a.priority, a.adver_int), (Version::V3, 52, 255, 50));
        assert_eq!(a.addresses, vec!["2001:db8:77::50".parse::<IpAddr>().unwrap()]);
    }
    let mut b = Instance::new(ours(Version::V3, 52, 100, 50, IpAddr::V6(US_V6), "2001:db8:77::50"), got[0].at_ms)
        .expect("config");
    backup_takes(&mut b, &got, IpAddr::V6(KA_V6), &k.log());
}

#[test]
fn keepalived_v3_unicast_checksum_covers_the_peer() {
    let mut k = KaLab::new("ka_v3_unicast");
    let sock = k.reader_v4();
    let t0 = Instant::now();
    let extra = "  unicast_src_ip 10.77.0.1\n  unicast_peer {\n    10.77.0.2\n  }\n";
    k.start(&v3_conf("BACKUP", 200, "0.2", SEED_VIP, extra));
    let got = capture(&sock, false, t0, t0 + Duration::from_secs(10), 4);
    assert_eq!(got.len(), 4, "keepalived's adverts in 10 s\n{}", k.log());
    for rx in &got {
        assert_eq!((rx.src, rx.dst), (IpAddr::V4(KA_V4), IpAddr::V4(US_V4)));
        assert!(wire::checksum_ok(&rx.msg, rx.src, rx.dst), "checksum with the peer in the pseudo-header");
        assert!(!wire::checksum_ok(&rx.msg, rx.src, IpAddr::V4(wire::MCAST_V4)));
    }
    let mut c = ours(Version::V3, 52, 100, 20, IpAddr::V4(US_V4), SEED_VIP);
    c.unicast_peers = vec![IpAddr::V4(KA_V4)];
    let mut b = Instance::new(c, got[0].at_ms).expect("config");
    backup_takes(&mut b, &got, IpAddr::V4(KA_V4), &k.log());
    assert_eq!(b.stats().old_unicast_checksums, 0);
}

/// Runs `m` (already MASTER at virtual time `vt0`) on the real clock for `dur`, sending
/// its adverts through `s` (each payload passed through `mangle`); returns the virtual
/// time reached.
fn serve(
    m: &mut Instance,
    vt0: u64,
    s: &socket2::Socket,
    scope: u32,
    dur: Duration,
    mangle: &dyn Fn(&mut Vec<u8>),
) -> u64 {
    let start = Instant::now();
    let mut now = vt0;
    while start.elapsed() < dur {
        now = vt0 + start.elapsed().as_millis() as u64;
        m.handle_timeout(now);
        while let Some(mut t) = m.poll_transmit() {
            mangle(&mut t.payload);
            send(s, t.dst, scope, &t.payload);
        }
        let next = m.poll_timeout().expect("a MASTER has an advert timer");
        std::thread::sleep(Duration::from_millis(next.saturating_sub(now).clamp(1, 100)));
    }
    now
}

/// An instance made MASTER at once in virtual time (its down timer run out).
fn master_now(c: InstanceConfig) -> (Instance, u64) {
    let mut m = Instance::new(c, 0).expect("config");
    let at = m.poll_timeout().expect("down timer");
    m.handle_timeout(at);
    assert_eq!(m.state(), State::Master);
    (m, at)
}

#[test]
fn keepalived_as_backup_stays_backup_under_our_v2_adverts_and_takes_over_at_our_priority_0() {
    let mut k = KaLab::new("ka_v2_backup");
    k.start(&seed_conf("BACKUP", 100));
    k.wait_log("Entering BACKUP STATE", Duration::from_secs(10));
    let mut c = ours(Version::V2, 51, 150, 100, IpAddr::V4(US_V4), SEED_VIP);
    c.auth_pass = Some(pass("1111"));
    let (mut m, vt0) = master_now(c);
    let tx = k.sender_v4();
    // Well past keepalived's Master_Down_Interval (3.609 s): only our adverts hold it.
    let vt = serve(&mut m, vt0, &tx, 0, Duration::from_secs(8), &|_| {});
    let log = k.log();
    assert!(!log.contains("Entering MASTER STATE"), "keepalived became MASTER under our adverts\n{log}");
    for complaint in ["invalid passwd", "checksum", "wrong version", "interval mismatch", "ip address associated"] {
        assert!(!log.contains(complaint), "keepalived complained ({complaint})\n{log}");
    }
    m.shutdown(vt);
    let t = m.poll_transmit().expect("priority-0 advert");
    assert_eq!(t.payload[2], 0);
    send(&tx, t.dst, 0, &t.payload);
    // Skew_Time (0.609 s), far less than its Master_Down_Interval.
    let took = k.wait_log("Entering MASTER STATE", Duration::from_secs(3));
    assert!(took < Duration::from_millis(2_500), "keepalived took over {took:?} after our priority 0\n{}", k.log());
    eprintln!("keepalived took over {took:?} after our priority-0 advert");
}

#[test]
fn keepalived_as_v3_ipv6_backup_is_held_by_our_adverts_and_not_by_broken_ones() {
    let mut k = KaLab::new("ka_v3_ipv6_backup");
    k.start(&v3_conf("BACKUP", 100, "1", "2001:db8:77::50/64", "  unicast_src_ip fe80::1\n"));
    k.wait_log("Entering BACKUP STATE", Duration::from_secs(10));
    let (mut m, vt0) = master_now(ours(Version::V3, 52, 150, 100, IpAddr::V6(US_V6), "2001:db8:77::50"));
    let (tx, scope) = (k.sender_v6(), k.us_ifindex());
    let vt = serve(&mut m, vt0, &tx, scope, Duration::from_secs(7), &|_| {});
    assert!(!k.log().contains("Entering MASTER STATE"), "keepalived became MASTER under our adverts\n{}", k.log());
    // The control: the same adverts with a broken checksum (the kernel drops them for
    // keepalived's IPV6_CHECKSUM socket) leave it without a master.
    serve(&mut m, vt, &tx, scope, Duration::from_secs(6), &|p| p[7] ^= 0xff);
    assert!(k.log().contains("Entering MASTER STATE"), "keepalived stayed BACKUP without valid adverts\n{}", k.log());
}
