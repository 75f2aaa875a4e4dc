//! VRRP in xvs TOML: every key read (keepalived's names), keepalived's defaults, the
//! round trip through the printed TOML, the not-run warning, and errors at their
//! position, including what keepalived would have to fix up (the TOML says it directly).

mod common;

use std::time::Duration;

use common::{ip, round_trip, Reader};
use xvs_config::*;

const VRRP: &str = include_str!("data/vrrp.toml");
const TOML: Reader<Config> = Reader { read: parse_toml, file: "xvs.toml" };

fn parse(text: &str) -> Config {
    parse_toml(text, "xvs.toml").unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn every_key_is_read_and_round_trips() {
    let c = parse(VRRP);
    round_trip(&c);
    let v = &c.vrrp;
    assert_eq!((v.version, v.router_id.as_deref(), v.strict, v.skip_check_adv_addr), (2, Some("lb-a"), false, true));
    assert_eq!((v.garp_interval, v.gna_interval), (Duration::from_millis(1), Duration::from_micros(1)));
    assert_eq!(v.script_user, Some(RunAs { user: "keepalived_script".into(), group: Some("keepalived".into()) }));
    assert!(v.enable_script_security);
    let s = &v.scripts[0];
    assert_eq!((s.interval, s.timeout, s.weight, s.rise, s.fall, s.init_fail), (2, 3, 20, 2, 3, true));
    let [vi1, vi6, gw] = &v.instances[..] else { panic!("three instances") };
    assert_eq!((vi1.state, vi1.priority, vi1.version, vi1.accept), (VrrpState::Master, 150, 2, true));
    assert_eq!(vi1.authentication, Some(Auth { kind: AuthType::Pass, pass: "secret".into() }));
    let addrs: Vec<String> = vi1.virtual_ipaddress.iter().map(|a| a.to_string()).collect();
    assert_eq!(addrs, ["192.168.20.50/32", "192.168.20.51/24 dev eth0 label eth0:1"]);
    assert_eq!(vi1.unicast_peer, [ip("192.168.20.2"), ip("192.168.20.3")]);
    assert_eq!(vi1.track_interface[1], TrackInterface { name: "eth2".into(), weight: -30 });
    assert_eq!(vi1.track_script[0], TrackScript { name: "chk_haproxy".into(), weight: Some(10) });
    let backup = vi1.notify.backup.as_ref().unwrap();
    assert_eq!(backup.user, Some(RunAs { user: "root".into(), group: Some("root".into()) }));
    assert_eq!((vi1.garp_master_delay, vi1.garp_master_repeat, vi1.garp_master_refresh), (10, 1, 60));
    assert_eq!(
        (vi6.version, vi6.advert_int, vi6.state, vi6.priority),
        (3, Duration::from_millis(100), VrrpState::Backup, 100)
    );
    assert_eq!(v.sync_group_of(&gw.name).map(|g| g.name.as_str()), Some("VG"));
}

#[test]
fn vrrp_in_toml_has_no_warning() {
    // xvs run runs VRRP, so an instance is not a warning any more (xvs TOML has none).
    let (_, w) = parse_toml_with_warnings(VRRP, "xvs.toml").unwrap();
    assert!(w.is_empty(), "{w:?}");
}

const VI: &str = "[[vrrp]]\nname = \"VI_1\"\ninterface = \"eth0\"\nvirtual_router_id = 51\n"; // lines 1-4

#[test]
fn defaults_are_keepalived_defaults() {
    let i = &parse(&format!("{VI}virtual_ipaddress = [\"10.0.1.1\"]\n")).vrrp.instances[0];
    assert_eq!((i.state, i.priority, i.version, i.advert_int), (VrrpState::Backup, 100, 2, Duration::from_secs(1)));
    assert_eq!((i.strict, i.accept, i.nopreempt, i.garp_master_repeat), (false, true, false, 5));
    // State MASTER alone is the address owner; priority 255 alone is MASTER.
    let i = &parse(&format!("{VI}state = \"master\"\n")).vrrp.instances[0];
    assert_eq!((i.state, i.priority), (VrrpState::Master, 255));
    let i = &parse(&format!("{VI}priority = 255\n")).vrrp.instances[0];
    assert_eq!((i.state, i.priority), (VrrpState::Master, 255));
    // Global settings are the instances' defaults; strict mode clears accept mode.
    let g = "[vrrp_global]\nversion = 3\nstrict = true\n";
    let i = &parse(&format!("{g}{VI}virtual_ipaddress = [\"10.0.1.1\"]\n")).vrrp.instances[0];
    assert_eq!((i.version, i.strict, i.accept), (3, true, false));
    // An IPv6 instance runs version 3.
    let i = &parse(&format!("{VI}virtual_ipaddress = [\"fe80::1\"]\n")).vrrp.instances[0];
    assert_eq!(i.version, 3);
}

#[test]
fn a_configuration_without_vrrp_prints_none() {
    let t = parse("").to_toml();
    assert!(!t.contains("vrrp"), "{t}");
}

#[test]
fn errors_at_their_position() {
    TOML.one(&format!("{VI}priorty = 100\n"), 5, 1, "unknown key `priorty` in [[vrrp]]", "did you mean `priority`?");
    TOML.one(
        "[[vrrp]]\nname = \"VI_1\"\ninterface = \"eth0\"\n",
        1,
        1,
        "missing the required key `virtual_router_id`",
        "51",
    );
    TOML.one(&VI.replace("= 51", "= 0"), 4, 21, "`virtual_router_id` = 0 is out of range 1..=255", "");
    TOML.one(&format!("{VI}state = \"MASTER\"\n"), 5, 9, "unknown state `MASTER`", "master");
    TOML.one(
        &format!("{VI}virtual_ipaddress = [\"10.0.1.1 brd 10.0.1.255\"]\n"),
        5,
        22,
        "`10.0.1.1 brd 10.0.1.255`: `brd` of virtual address 10.0.1.1 is ignored",
        "remove",
    );
    TOML.one(
        &format!("{VI}virtual_ipaddress = [\"10.0.1.1\"]\ntrack_script = [\"chk\"]\n"),
        6,
        17,
        "track_script chk is not a defined vrrp_script",
        "vrrp_script chk",
    );
    TOML.one(
        &format!("{VI}virtual_ipaddress = [\"10.0.1.1\", \"2001:db8::1\"]\n"),
        5,
        34,
        "virtual address 2001:db8::1 is IPv6 but the instance is IPv4",
        "",
    );
    TOML.one(
        &format!("{VI}[[vrrp_sync_group]]\nname = \"G\"\ngroup = [\"VI_1\", \"VI_2\"]\n"),
        7,
        18,
        "vrrp_sync_group G: VI_2 is not a vrrp_instance",
        "did you mean `VI_1`?",
    );
    TOML.one(&format!("{VI}advert_int = 0\n"), 5, 14, "advert_int must be above 0", "1 second");
    TOML.one(&format!("{VI}garp_master_repeat = 0\n"), 5, 22, "garp_master_repeat must be at least 1", "write 1");
    let two = format!("{VI}{}", VI.replace("VI_1", "VI_2"));
    TOML.one(&two, 8, 21, "vrrp_instance VI_2: virtual_router_id 51 is already used by VI_1 (at line 4)", "");
}

/// What keepalived would fix up (and a keepalived.conf is read with a warning) is an
/// error in TOML, whose hint is what keepalived would run.
#[test]
fn what_keepalived_fixes_up_is_an_error_here() {
    let vip = "virtual_ipaddress = [\"10.0.1.1\"]\n"; // line 5
    TOML.one(
        &format!("{VI}{vip}strict = true\nstate = \"master\"\npriority = 100\n"),
        7,
        9,
        "vrrp_instance VI_1: strict mode: state MASTER with priority 100",
        "it starts as BACKUP; write `state = \"backup\"`",
    );
    TOML.one(
        &format!("{VI}{vip}advert_int = 1.5\n"),
        6,
        14,
        "advert_int 1.5 must be an integer number of seconds under VRRP version 2",
        "write `advert_int = 2`",
    );
    TOML.one(
        &format!("{VI}{vip}version = 3\n[vrrp.authentication]\nauth_pass = \"1111\"\n"),
        7,
        1,
        "VRRP version 3 has no authentication",
        "remove `[vrrp.authentication]`",
    );
    TOML.one(
        &format!("{VI}{vip}[vrrp.authentication]\nauth_pass = \"123456789\"\n"),
        6,
        1,
        "auth_pass `123456789` is longer than 8 characters",
        "write `auth_pass = \"12345678\"`",
    );
    TOML.one(
        &format!("{VI}{vip}state = \"master\"\nnopreempt = true\n"),
        7,
        13,
        "nopreempt does not work with priority 255 (the address owner)",
        "remove `nopreempt = true`",
    );
}
