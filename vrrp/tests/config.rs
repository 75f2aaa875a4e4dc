//! keepalived 2.2.7's completion of an instance (`vrrp_complete_instance`): what it refuses
//! ([`ConfigError`]) and what it silently fixes ([`Adjustment`]); and the timer arithmetic
//! (Skew_Time, Master_Down_Interval) against values worked out by hand.

mod common;

use common::{cfg, ip, pass};
use xvs_vrrp::config::max_addresses;
use xvs_vrrp::timers::{master_down_us, skew_us};
use xvs_vrrp::{Adjustment, ConfigError, InitialState, Instance, InstanceConfig, Version};

fn normalized(mut c: InstanceConfig) -> (InstanceConfig, Vec<Adjustment>) {
    let adj = c.normalize().expect("valid");
    (c, adj)
}

#[test]
fn refused_configurations() {
    let base = cfg(Version::V2, 51, 100, 100, "10.0.0.1");
    let err = |f: &dyn Fn(&mut InstanceConfig)| {
        let mut c = base.clone();
        f(&mut c);
        Instance::new(c, 0).err()
    };
    assert_eq!(err(&|c| c.vrid = 0), Some(ConfigError::Vrid("VI_51".into())));
    assert_eq!(err(&|c| c.priority = 0), Some(ConfigError::Priority("VI_51".into())));
    assert_eq!(
        err(&|c| c.addresses.push(ip("2001:db8::1"))),
        Some(ConfigError::MixedFamilies("VI_51".into(), ip("2001:db8::1")))
    );
    assert_eq!(
        err(&|c| c.unicast_peers = vec![ip("fe80::2")]),
        Some(ConfigError::MixedFamilies("VI_51".into(), ip("fe80::2")))
    );
    assert_eq!(
        err(&|c| {
            c.strict = true;
            c.unicast_peers = vec![ip("10.0.0.2")];
        }),
        Some(ConfigError::UnicastInStrict("VI_51".into()))
    );
    // No VIP: refused under v3 and strict, allowed (with keepalived's warning) under v2.
    assert_eq!(
        err(&|c| {
            c.addresses.clear();
            c.version = Version::V3;
        }),
        Some(ConfigError::NoAddresses("VI_51".into()))
    );
    assert_eq!(err(&|c| c.addresses.clear()), None);
    assert_eq!(ConfigError::Vrid("VI_1".into()).to_string(), "(VI_1) VRID must be between 1 and 255");
}

#[test]
fn keepalived_fixes_up_preemption() {
    let mut c = cfg(Version::V2, 51, 255, 100, "10.0.0.1");
    c.preempt = false;
    assert_eq!(normalized(c).1, vec![Adjustment::NopreemptWithOwner]);
    let mut c = cfg(Version::V2, 51, 100, 100, "10.0.0.1");
    c.initial = InitialState::Master;
    c.preempt = false;
    c.preempt_delay_ms = 3_000;
    let (n, adj) = normalized(c);
    assert_eq!(adj, vec![Adjustment::NopreemptWithMaster, Adjustment::PreemptDelayWithMaster]);
    assert!(n.preempt && n.preempt_delay_ms == 0);
    let mut c = cfg(Version::V2, 51, 100, 100, "10.0.0.1");
    c.preempt = false;
    c.preempt_delay_ms = 3_000;
    assert_eq!(normalized(c).1, vec![Adjustment::PreemptDelayWithNopreempt]);
}

#[test]
fn keepalived_fixes_up_authentication() {
    let mut c = cfg(Version::V2, 51, 100, 100, "10.0.0.1");
    c.auth_pass = Some([0; 8]);
    assert_eq!(normalized(c).1, vec![Adjustment::AuthEmpty]);
    let mut c = cfg(Version::V2, 51, 100, 100, "fe80::1");
    c.auth_pass = Some(pass("1111"));
    let (n, adj) = normalized(c);
    assert_eq!((n.version, n.auth_pass, adj), (Version::V2, None, vec![Adjustment::AuthOverIpv6]));
    let mut c = cfg(Version::V2, 51, 100, 100, "10.0.0.1");
    c.auth_pass = Some(pass("1111"));
    assert_eq!(normalized(c.clone()), (c, vec![]));
}

#[test]
fn strict_v2_over_ipv6_becomes_v3_and_state_follows_the_owner() {
    let mut c = cfg(Version::V2, 51, 255, 100, "fe80::1");
    c.strict = true;
    let (n, adj) = normalized(c);
    assert_eq!(n.version, Version::V3);
    assert_eq!(n.initial, InitialState::Master);
    assert_eq!(adj, vec![Adjustment::V2OverIpv6InStrict, Adjustment::StrictStateFollowsPriority(InitialState::Master)]);
    assert_eq!(adj[0].to_string(), "cannot use IPv6 with VRRP version 2; setting version 3");
}

#[test]
fn intervals_are_brought_into_the_versions_range() {
    let int = |v: Version, cs: u16| {
        let (n, adj) = normalized(cfg(v, 51, 100, cs, "10.0.0.1"));
        (n.advert_int_cs, adj)
    };
    assert_eq!(int(Version::V2, 0), (100, vec![Adjustment::IntervalDefault]));
    assert_eq!(int(Version::V2, 150), (200, vec![Adjustment::IntervalAdjusted(200)]));
    assert_eq!(int(Version::V2, 149), (100, vec![Adjustment::IntervalAdjusted(100)]));
    assert_eq!(int(Version::V2, 10), (100, vec![Adjustment::IntervalAdjusted(100)]));
    assert_eq!(int(Version::V2, 30_000), (25_500, vec![Adjustment::IntervalAdjusted(25_500)]));
    assert_eq!(int(Version::V2, 25_550), (25_500, vec![Adjustment::IntervalAdjusted(25_500)]));
    assert_eq!(int(Version::V2, 300), (300, vec![]));
    assert_eq!(int(Version::V3, 10), (10, vec![]));
    assert_eq!(int(Version::V3, 5_000), (4_095, vec![Adjustment::IntervalAdjusted(4_095)]));
}

#[test]
fn more_addresses_than_an_advert_holds_are_not_advertised() {
    assert_eq!(max_addresses(Version::V2, false), 255);
    assert_eq!(max_addresses(Version::V3, true), 89);
    let mut c = cfg(Version::V3, 51, 100, 100, "fe80::1");
    c.addresses = (1..=100u16).map(|i| ip(&format!("2001:db8::{i:x}"))).collect();
    let mut i = Instance::new(c, 0).expect("config");
    assert_eq!(i.adjustments(), &[Adjustment::AddressesNotAdvertised(89)]);
    i.handle_timeout(10_000);
    let t = i.poll_transmit().expect("advert");
    assert_eq!((t.payload[3], t.payload.len()), (89, 8 + 89 * 16));
}

#[test]
fn skew_and_master_down_interval_as_keepalived_computes_them() {
    // v2: (256 - p) × 3906 µs, whatever the interval.
    assert_eq!(skew_us(Version::V2, 100, 100), 609_336);
    assert_eq!(skew_us(Version::V2, 100, 500), 609_336);
    assert_eq!(skew_us(Version::V2, 255, 100), 3_906);
    assert_eq!(master_down_us(Version::V2, 100, 100), 3_609_336);
    assert_eq!(master_down_us(Version::V2, 150, 300), 9_414_036);
    // v3: (256 - p) × interval_cs × 625 / 16 µs.
    assert_eq!(skew_us(Version::V3, 100, 100), 609_375);
    assert_eq!(skew_us(Version::V3, 100, 10), 60_937);
    assert_eq!(skew_us(Version::V3, 1, 4095), 255 * 4095 * 625 / 16);
    assert_eq!(master_down_us(Version::V3, 100, 10), 360_937);
    assert_eq!(master_down_us(Version::V3, 254, 0), 0);
}
