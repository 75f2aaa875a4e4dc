//! What a received advert must pass, reason by reason, as keepalived 2.2.7 checks it: each
//! bad advert is refused with its reason, counted once, and changes neither the state nor
//! the timer; a flood of them does not keep a BACKUP from taking over; WrongVrid is not an
//! error; TTL 255 only on multicast; `vrrp_skip_check_adv_addr`; `vrrp_strict`; VRRPv3's
//! interval, IPv6 and the old unicast checksum form.

mod common;

use std::net::IpAddr;

use common::{cfg, ip, pass};
use xvs_vrrp::wire::{self, Advert};
use xvs_vrrp::{Adjustment, InitialState, Instance, InstanceConfig, Reject, State, Version};

const MASTER: &str = "10.0.0.1";
const GROUP: &str = "224.0.0.18";

/// The seed pair's BACKUP: VRRPv2, VRID 51, PASS 1111, VIP 192.168.20.50.
fn seed_backup() -> InstanceConfig {
    let mut c = cfg(Version::V2, 51, 100, 100, "10.0.0.2");
    c.auth_pass = Some(pass("1111"));
    c
}

/// The advert its MASTER (priority 150) sends.
fn seed_advert() -> Advert {
    Advert {
        version: Version::V2,
        vrid: 51,
        priority: 150,
        auth_type: wire::AUTH_PASS,
        adver_int: 1,
        addresses: vec![ip("192.168.20.50")],
        auth_data: pass("1111"),
        checksum: 0,
    }
}

fn send(i: &mut Instance, a: &Advert, src: &str, dst: &str, ttl: u8, now: u64) -> Result<(), Reject> {
    let (src, dst) = (ip(src), ip(dst));
    i.handle_advert(src, dst, ttl, &a.encode(src, dst), now)
}

/// Feeds `msg` as from the master and checks it is refused for `why` with nothing changed.
fn refused(i: &mut Instance, msg: &[u8], dst: &str, ttl: u8, why: Reject) {
    let before = (i.state(), i.poll_timeout(), i.master(), i.stats().rejected(why), i.stats().adverts_received);
    assert_eq!(i.handle_advert(ip(MASTER), ip(dst), ttl, msg, 500), Err(why));
    assert_eq!(
        (i.state(), i.poll_timeout(), i.master()),
        (before.0, before.1, before.2),
        "{why:?} changed the instance"
    );
    assert_eq!(i.stats().rejected(why), before.3 + 1, "{why:?} counted once");
    assert_eq!(i.stats().adverts_received, before.4);
}

fn with(f: impl FnOnce(&mut Advert)) -> Vec<u8> {
    let mut a = seed_advert();
    f(&mut a);
    a.encode(ip(MASTER), ip(GROUP))
}

#[test]
fn the_seed_masters_advert_is_taken() {
    let mut b = Instance::new(seed_backup(), 0).expect("config");
    assert_eq!(b.poll_timeout(), Some(3610));
    assert_eq!(send(&mut b, &seed_advert(), MASTER, GROUP, 255, 1_000), Ok(()));
    assert_eq!((b.state(), b.master(), b.poll_timeout()), (State::Backup, Some(ip(MASTER)), Some(1_000 + 3610)));
    assert_eq!((b.stats().adverts_received, b.stats().errors()), (1, 0));
}

#[test]
fn every_bad_advert_is_refused_for_its_reason_and_changes_nothing() {
    let mut b = Instance::new(seed_backup(), 0).expect("config");
    let good = with(|_| {});
    refused(&mut b, &good[..7], GROUP, 255, Reject::Truncated);
    refused(&mut b, &good[..19], GROUP, 255, Reject::Truncated);
    refused(&mut b, &[good.clone(), vec![0]].concat(), GROUP, 255, Reject::BadLength);
    refused(&mut b, &with(|a| a.vrid = 52), GROUP, 255, Reject::WrongVrid);
    refused(&mut b, &good, GROUP, 254, Reject::BadTtl);
    refused(&mut b, &good, GROUP, 1, Reject::BadTtl);
    let v3 = Advert { version: Version::V3, auth_type: 0, adver_int: 100, auth_data: [0; 8], ..seed_advert() };
    refused(&mut b, &v3.encode(ip(MASTER), ip(GROUP)), GROUP, 255, Reject::BadVersion);
    refused(&mut b, &with(|a| a.auth_type = 7), GROUP, 255, Reject::BadAuthType);
    refused(&mut b, &with(|a| a.auth_type = wire::AUTH_NONE), GROUP, 255, Reject::AuthTypeMismatch);
    refused(&mut b, &with(|a| a.auth_type = wire::AUTH_AH), GROUP, 255, Reject::AuthTypeMismatch);
    refused(&mut b, &with(|a| a.auth_data = pass("1112")), GROUP, 255, Reject::AuthMismatch);
    refused(&mut b, &with(|a| a.adver_int = 2), GROUP, 255, Reject::AdvertIntervalMismatch);
    let mut t = good.clone();
    t[0] = 0x22;
    let csum = wire::checksum(&t, 2, ip(MASTER), ip(GROUP));
    t[6..8].copy_from_slice(&csum.to_be_bytes());
    refused(&mut b, &t, GROUP, 255, Reject::BadType);
    refused(&mut b, &with(|a| a.addresses.push(ip("192.168.20.51"))), GROUP, 255, Reject::AddressMismatch);
    refused(&mut b, &with(|a| a.addresses = vec![ip("192.168.20.99")]), GROUP, 255, Reject::AddressMismatch);
    let mut c = good.clone();
    c[6] ^= 0x80;
    refused(&mut b, &c, GROUP, 255, Reject::BadChecksum);
    let to_me = seed_advert().encode(ip(MASTER), ip("10.0.0.2"));
    refused(&mut b, &to_me, "10.0.0.2", 255, Reject::CastMismatch);
    assert_eq!(b.handle_advert(ip("fe80::1"), ip("ff02::12"), 255, &good, 500), Err(Reject::WrongFamily));
    assert_eq!(b.stats().errors(), b.stats().rejections().map(|(_, n)| n).sum::<u64>() - 1, "all but WrongVrid");
    assert!(!Reject::WrongVrid.is_error() && !Reject::Inactive.is_error());
}

#[test]
fn a_flood_of_bad_adverts_does_not_keep_a_backup_from_taking_over() {
    let mut b = Instance::new(seed_backup(), 0).expect("config");
    let bad = with(|a| a.auth_data = pass("nope"));
    for t in 0..12_000u64 {
        let _ = b.handle_advert(ip(MASTER), ip(GROUP), 255, &bad, t / 3);
        b.handle_timeout(t / 3);
    }
    assert_eq!(b.state(), State::Master);
    assert_eq!(b.stats().rejected(Reject::AuthMismatch), 12_000);
    assert_eq!(b.stats().adverts_received, 0);
}

#[test]
fn a_master_ignores_bad_adverts_too() {
    let mut c = seed_backup();
    c.priority = 200;
    let mut m = Instance::new(c, 0).expect("config");
    m.handle_timeout(4_000);
    assert_eq!(m.state(), State::Master);
    while m.poll_transmit().is_some() {}
    let higher = with(|a| {
        a.priority = 250;
        a.auth_data = pass("wrong");
    });
    assert_eq!(m.handle_advert(ip(MASTER), ip(GROUP), 255, &higher, 4_100), Err(Reject::AuthMismatch));
    assert_eq!((m.state(), m.poll_transmit()), (State::Master, None));
}

#[test]
fn unicast_takes_any_ttl_and_multicast_only_255() {
    let mut c = seed_backup();
    c.unicast_peers = vec![ip(MASTER)];
    let mut u = Instance::new(c, 0).expect("config");
    assert_eq!(send(&mut u, &seed_advert(), MASTER, "10.0.0.2", 64, 100), Ok(()));
    assert_eq!(send(&mut u, &seed_advert(), MASTER, GROUP, 255, 200), Err(Reject::CastMismatch));
    let mut m = Instance::new(seed_backup(), 0).expect("config");
    assert_eq!(send(&mut m, &seed_advert(), MASTER, GROUP, 64, 100), Err(Reject::BadTtl));
}

#[test]
fn skip_check_adv_addr_checks_only_a_new_masters_first_advert() {
    let mut c = seed_backup();
    c.skip_check_adv_addr = true;
    let mut b = Instance::new(c, 0).expect("config");
    let other_vips = Advert { addresses: vec![ip("192.168.20.99")], ..seed_advert() };
    assert_eq!(send(&mut b, &other_vips, MASTER, GROUP, 255, 100), Err(Reject::AddressMismatch));
    assert_eq!(send(&mut b, &seed_advert(), MASTER, GROUP, 255, 200), Ok(()));
    assert_eq!(send(&mut b, &other_vips, MASTER, GROUP, 255, 300), Ok(()), "same master: not checked");
    assert_eq!(send(&mut b, &other_vips, "10.0.0.3", GROUP, 255, 400), Err(Reject::AddressMismatch));
}

#[test]
fn strict_ignores_authentication_and_demotes_state_master() {
    let mut c = seed_backup();
    c.strict = true;
    c.initial = InitialState::Master;
    c.preempt_delay_ms = 1_000;
    let mut b = Instance::new(c, 0).expect("config");
    assert_eq!(
        b.adjustments(),
        &[
            Adjustment::StrictStateFollowsPriority(InitialState::Backup),
            Adjustment::AuthInStrict,
            Adjustment::PreemptDelayInStrict
        ]
    );
    assert_eq!((b.state(), b.config().auth_pass), (State::Backup, None));
    // A PASS advert is refused; one without authentication is taken.
    assert_eq!(send(&mut b, &seed_advert(), MASTER, GROUP, 255, 100), Err(Reject::AuthTypeMismatch));
    let plain = Advert { auth_type: wire::AUTH_NONE, auth_data: [0; 8], ..seed_advert() };
    assert_eq!(send(&mut b, &plain, MASTER, GROUP, 255, 200), Ok(()));
    // What it sends carries no authentication.
    let mut m = Instance::new(seed_backup(), 0).expect("config");
    m.handle_timeout(4_000);
    assert_eq!(m.poll_transmit().map(|t| t.payload[4]), Some(wire::AUTH_PASS), "non-strict sends PASS");
    let mut s = Instance::new(InstanceConfig { strict: true, ..seed_backup() }, 0).expect("c");
    s.handle_timeout(4_000);
    let t = s.poll_transmit().expect("advert");
    assert_eq!((t.payload[4], &t.payload[12..]), (wire::AUTH_NONE, &[0u8; 8][..]));
}

#[test]
fn strict_master_does_not_answer_a_lower_priority_advert() {
    for strict in [false, true] {
        let mut c = cfg(Version::V2, 51, 200, 100, "10.0.0.2");
        c.strict = strict;
        let mut m = Instance::new(c, 0).expect("config");
        m.handle_timeout(4_000);
        while m.poll_transmit().is_some() {}
        let lower = Advert { priority: 100, auth_type: 0, auth_data: [0; 8], ..seed_advert() };
        assert_eq!(send(&mut m, &lower, MASTER, GROUP, 255, 4_500), Ok(()));
        assert_eq!(m.poll_transmit().is_some(), !strict, "strict {strict}");
        assert_eq!(m.state(), State::Master);
        // A priority-0 advert is answered in both modes.
        let zero = Advert { priority: 0, ..lower };
        assert_eq!(send(&mut m, &zero, MASTER, GROUP, 255, 4_600), Ok(()));
        assert!(m.poll_transmit().is_some());
        assert_eq!(m.poll_timeout(), Some(5_600), "the advert restarted the timer");
    }
}

#[test]
fn v3_ignores_authentication_and_takes_any_interval() {
    let mut c = cfg(Version::V3, 51, 100, 100, "10.0.0.2");
    c.auth_pass = Some(pass("1111"));
    let mut b = Instance::new(c, 0).expect("config");
    assert_eq!(b.adjustments(), &[Adjustment::AuthInV3]);
    let a = Advert { version: Version::V3, auth_type: 0, adver_int: 25, auth_data: [0; 8], ..seed_advert() };
    assert_eq!(send(&mut b, &a, MASTER, GROUP, 255, 0), Ok(()));
    assert_eq!(b.master_interval_cs(), 25);
    // 3 × 250 ms + 156 × 25 × 625 / 16 µs = 902.34375 ms.
    assert_eq!(b.poll_timeout(), Some(903));
}

#[test]
fn v3_ipv6_checks_the_hop_limit_and_the_pseudo_header_checksum() {
    let mut b = Instance::new(cfg(Version::V3, 51, 100, 100, "fe80::2"), 0).expect("config");
    let a = Advert {
        version: Version::V3,
        auth_type: 0,
        adver_int: 100,
        auth_data: [0; 8],
        addresses: vec![ip("2001:db8::50")],
        ..seed_advert()
    };
    let (src, dst) = (ip("fe80::1"), ip("ff02::12"));
    let msg = a.encode(src, dst);
    assert_eq!(b.handle_advert(src, dst, 255, &msg, 0), Ok(()));
    assert_eq!(b.handle_advert(src, dst, 64, &msg, 0), Err(Reject::BadTtl));
    assert_eq!(b.handle_advert(ip("fe80::3"), dst, 255, &msg, 0), Err(Reject::BadChecksum));
    assert_eq!(b.handle_advert(src, ip("fe80::2"), 255, &a.encode(src, ip("fe80::2")), 0), Err(Reject::CastMismatch));
}

#[test]
fn an_old_keepalived_unicast_checksum_is_taken_and_then_spoken() {
    let mut c = cfg(Version::V3, 51, 100, 100, "10.0.0.2");
    c.unicast_peers = vec![ip(MASTER)];
    let mut b = Instance::new(c, 0).expect("config");
    let a = Advert { version: Version::V3, auth_type: 0, adver_int: 100, auth_data: [0; 8], ..seed_advert() };
    let (src, me) = (ip(MASTER), ip("10.0.0.2"));
    assert_eq!(b.handle_advert(src, me, 255, &a.encode(src, me), 0), Ok(()));
    assert_eq!(b.stats().old_unicast_checksums, 0);
    // keepalived <= 1.3.6 summed the multicast group into the pseudo-header.
    let old = a.encode(src, ip(GROUP));
    assert_eq!(b.handle_advert(src, me, 255, &old, 100), Ok(()));
    assert_eq!(b.stats().old_unicast_checksums, 1);
    // From then on only that form is accepted, and sent.
    assert_eq!(b.handle_advert(src, me, 255, &a.encode(src, me), 200), Err(Reject::BadChecksum));
    b.handle_timeout(10_000);
    let t = b.poll_transmit().expect("advert");
    assert_eq!(t.dst, src);
    assert!(wire::checksum_ok(&t.payload, me, ip(GROUP)));
}

#[test]
fn adverts_in_fault_are_ignored_and_other_families_refused() {
    let mut b = Instance::new(seed_backup(), 0).expect("config");
    b.set_fault(true, 0);
    assert_eq!(send(&mut b, &seed_advert(), MASTER, GROUP, 255, 100), Err(Reject::Inactive));
    assert_eq!(b.stats().errors(), 0);
    let v6: IpAddr = ip("fe80::1");
    assert_eq!(b.handle_advert(v6, v6, 255, &[0x21, 51, 0, 0, 0, 0, 0, 0], 0), Err(Reject::WrongFamily));
}

#[test]
fn the_instance_sends_keepalived_s_bytes() {
    // The configuration keepalived sent "21 33 64 01 01 01 0c d3 ..." for (tests/wire.rs).
    let mut c = cfg(Version::V2, 51, 100, 100, "10.99.0.1");
    c.auth_pass = Some(pass("1111"));
    c.addresses = vec![ip("10.99.0.50")];
    let mut m = Instance::new(c, 0).expect("config");
    m.handle_timeout(3_610);
    let t = m.poll_transmit().expect("advert");
    assert_eq!((t.src, t.dst, t.ttl), (ip("10.99.0.1"), ip(GROUP), 255));
    assert_eq!(t.payload, common::unhex("21 33 64 01 01 01 0c d3 0a 63 00 32 31 31 31 31 00 00 00 00"));
    m.shutdown(4_000);
    let t = m.poll_transmit().expect("priority 0");
    assert_eq!(t.payload, common::unhex("21 33 00 01 01 01 70 d3 0a 63 00 32 31 31 31 31 00 00 00 00"));
}
