//! VRRP from keepalived.conf: the seed pair and Debian's sample load to the model
//! keepalived 2.2.7 would run (checked field by field, with their warnings at exact
//! positions); keepalived's fix-ups warn as keepalived does (the messages were compared
//! with `keepalived -t` 2.2.7 on the same text); what xvs cannot do is refused by name;
//! every rule of validation points at its value. Everything that loads round-trips
//! through the printed TOML.

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use common::{ip, round_trip, Reader};
use xvs_config::*;

fn data(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/keepalived").join(name)
}

const KEEPALIVED: Reader<(Config, Vec<ConfigWarning>)> = Reader { read: parse_keepalived, file: "keepalived.conf" };

/// `text` loaded (and round-tripped) with exactly the warnings (line, col, message start).
#[track_caller]
fn loads(text: &str, expected: &[(usize, usize, &str)]) -> Config {
    let (c, w) = parse_keepalived(text, "keepalived.conf").unwrap_or_else(|e| panic!("{e}"));
    assert_warnings(&w, expected);
    round_trip(&c);
    c
}

#[track_caller]
fn assert_warnings(w: &[ConfigWarning], expected: &[(usize, usize, &str)]) {
    let shown: Vec<String> = w.iter().map(|w| w.to_string()).collect();
    assert_eq!(w.len(), expected.len(), "{shown:#?}");
    for (w, (line, col, msg)) in w.iter().zip(expected) {
        assert_eq!((w.line, w.col), (*line, *col), "{w}");
        assert!(w.message.starts_with(msg), "{w}\n  expected to start with: {msg}");
    }
}

/// The seed notes' instance: `state MASTER`, VRID 51, priority 100, advert_int 1, PASS
/// 1111, 192.168.20.50 on eno16777736; everything else keepalived's default.
fn seed_instance(state: VrrpState) -> VrrpInstance {
    VrrpInstance {
        state,
        interface: Some("eno16777736".into()),
        virtual_router_id: 51,
        authentication: Some(Auth { kind: AuthType::Pass, pass: "1111".into() }),
        virtual_ipaddress: vec![VirtualAddress::single(ip("192.168.20.50"))],
        ..VrrpInstance::new("VI_1")
    }
}

#[test]
fn the_seed_pair_loads_to_keepalived_model() {
    for (file, state) in [("seed_master.conf", VrrpState::Master), ("seed_backup.conf", VrrpState::Backup)] {
        let (c, w) = load_with_warnings(&data(file)).unwrap_or_else(|e| panic!("{e}"));
        let expected =
            Vrrp { instances: vec![seed_instance(state)], router_id: Some("LVS_DEVEL".into()), ..Vrrp::default() };
        assert_eq!(c.vrrp, expected, "{file}");
        let i = &c.vrrp.instances[0];
        assert_eq!((i.priority, i.advert_int, i.version, i.accept), (100, Duration::from_secs(1), 2, true));
        assert_eq!((i.garp_master_delay, i.garp_master_repeat, i.garp_master_refresh), (5, 5, 0));
        // xvs run runs VRRP: nothing about the instance is a warning.
        assert!(!w.iter().any(|w| w.message.contains("vrrp_instance")), "{w:?}");
        let t = c.to_toml();
        for line in [
            "[vrrp_global]\nversion = 2\nrouter_id = \"LVS_DEVEL\"\n",
            &format!(
                "[[vrrp]]\nname = \"VI_1\"\nstate = \"{state}\"\ninterface = \"eno16777736\"\nvirtual_router_id = 51\n"
            ),
            "virtual_ipaddress = [\"192.168.20.50/32\"]\n",
            "[vrrp.authentication]\nauth_type = \"pass\"\nauth_pass = \"1111\"\n",
        ] {
            assert!(t.contains(line), "`{line}` in\n{t}");
        }
        round_trip(&c);
    }
}

/// Debian's /etc/keepalived/keepalived.conf.sample of keepalived 2.2.7, unchanged:
/// `vrrp_strict` demotes the MASTER at priority 100 and drops the PASS authentication,
/// with the two configuration errors `keepalived -t` prints for it ("State MASTER must
/// match being address owner", "Strict mode does not support authentication"). keepalived
/// also calls `vrrp_garp_interval 0` invalid, but keeps its default, which is 0: xvs
/// reads 0.
#[test]
fn debian_sample_loads_with_strict_mode() {
    let (c, w) = load_with_warnings(&data("debian_sample.conf")).unwrap_or_else(|e| panic!("{e}"));
    let expected: Vec<(usize, usize, &str)> = vec![
        (3, 1, "global_defs: xvs reads only `lvs_timeouts`, `lvs_sync_daemon` and the VRRP settings here; `notification_email`"),
        (20, 11, "vrrp_instance VI_1: strict mode: state MASTER with priority 100 (MASTER if and only if priority 255"),
        (25, 5, "vrrp_instance VI_1: strict mode does not support authentication; it is ignored, as keepalived does"),
    ];
    assert_warnings(&w, &expected);
    // Every url of its HTTP_GETs is fetched now (it had three per checker).
    let urls: Vec<usize> =
        c.services.iter().flat_map(|s| &s.reals).flat_map(|r| &r.checks).map(|ch| ch.urls.len()).collect();
    assert!(urls.contains(&3), "{urls:?}");
    let v = &c.vrrp;
    assert!(v.strict && v.skip_check_adv_addr);
    assert_eq!((v.garp_interval, v.gna_interval, v.version), (Duration::ZERO, Duration::ZERO, 2));
    let i = &v.instances[0];
    assert_eq!((i.state, i.priority, i.strict, i.accept), (VrrpState::Backup, 100, true, false));
    assert_eq!((i.authentication.as_ref(), i.virtual_router_id), (None, 51));
    let addrs: Vec<String> = i.virtual_ipaddress.iter().map(|a| a.to_string()).collect();
    assert_eq!(addrs, ["192.168.200.16/32", "192.168.200.17/32", "192.168.200.18/32"]);
    assert_eq!(c.services.len(), 3, "the SSL_GET service and two HTTP_GET ones");
    assert_eq!(c.services[0].reals[0].checks.first().map(|ch| ch.kind), Some(CheckKind::Ssl));
    round_trip(&c);
}

/// One instance with the common keywords, and what each becomes.
#[test]
fn every_instance_keyword_is_read() {
    let c = loads(
        r#"global_defs {
  vrrp_version 3
  script_user nobody nogroup
  enable_script_security
  vrrp_garp_master_refresh 60
  vrrp_gna_interval 0.000001
}
vrrp_script chk_web {
  script "/usr/bin/curl -sf http://127.0.0.1/"
  interval 2
  weight -20
  fall 3
  rise 2
  user www-data
  init_fail
}
vrrp_instance VI_6 {
  interface eth1
  virtual_router_id 60
  priority 150
  advert_int 0.25
  preempt_delay 4.12
  dont_track_primary
  unicast_src_ip 2001:db8::1
  unicast_peer {
    2001:db8::2
  }
  virtual_ipaddress {
    2001:db8::10/64 dev eth1 label eth1:v
  }
  virtual_ipaddress_excluded {
    10.0.1.100/24 dev eth2
  }
  track_interface {
    eth2 weight -10
  }
  track_script {
    chk_web
  }
  notify_master "/etc/keepalived/notify.sh master" root
  notify "/etc/keepalived/notify.sh"
  garp_master_delay 1
  garp_master_repeat 2
}
"#,
        &[],
    );
    let v = &c.vrrp;
    assert_eq!((v.version, v.enable_script_security), (3, true));
    assert_eq!(v.script_user, Some(RunAs { user: "nobody".into(), group: Some("nogroup".into()) }));
    assert_eq!(v.gna_interval, Duration::from_micros(1));
    let s = &v.scripts[0];
    assert_eq!(
        (s.script.as_str(), s.interval, s.timeout, s.weight),
        ("/usr/bin/curl -sf http://127.0.0.1/", 2, 2, -20)
    );
    assert_eq!((s.rise, s.fall, s.init_fail, s.user.as_ref().map(|u| u.user.as_str())), (2, 3, true, Some("www-data")));
    let i = &v.instances[0];
    assert_eq!((i.state, i.version, i.advert_int), (VrrpState::Backup, 3, Duration::from_millis(250)));
    assert_eq!((i.nopreempt, i.preempt_delay, i.dont_track_primary), (false, Duration::from_millis(4120), true));
    assert_eq!((i.unicast_src_ip, i.unicast_peer.clone()), (Some(ip("2001:db8::1")), vec![ip("2001:db8::2")]));
    assert_eq!(i.virtual_ipaddress[0].to_string(), "2001:db8::10/64 dev eth1 label eth1:v");
    assert_eq!(i.virtual_ipaddress_excluded[0].to_string(), "10.0.1.100/24 dev eth2", "excluded may mix families");
    assert_eq!(i.track_interface, [TrackInterface { name: "eth2".into(), weight: -10 }]);
    assert_eq!(i.track_script, [TrackScript { name: "chk_web".into(), weight: None }]);
    let master = i.notify.master.as_ref().unwrap();
    assert_eq!(
        (master.script.as_str(), master.user.as_ref().map(|u| u.user.as_str())),
        ("/etc/keepalived/notify.sh master", Some("root"))
    );
    assert_eq!(i.notify.notify.as_ref().unwrap().user, None);
    assert_eq!((i.garp_master_delay, i.garp_master_repeat, i.garp_master_refresh), (1, 2, 60));
}

/// The fix-ups of `vrrp_complete_instance`, each with keepalived's reason: `keepalived
/// -t` 2.2.7 on this text says (in its order) "Truncating auth_pass to 8 characters",
/// "(C) duplicate track_script chk_w - ignoring", "(A) VRRP version 3 does not support
/// authentication", "(A) nopreempt will not work with initial state MASTER", "(A) VRRPv3
/// advertisement interval 1.005000s must be in units of 10ms - rounding", "(A) ignoring
/// eth1 tracked interface weight due to SYNC group", "(A) ignoring tracked script chk_w
/// with weights due to SYNC group", "(B) preempt_delay is incompatible with nopreempt
/// mode", "(B) VRRPv2 advertisement interval 1.500000s must be an integer. rounding", "(C)
/// State MASTER must match being address owner", "(C) ignoring tracked script chk_w with
/// weights due to address_owner".
#[test]
fn keepalived_fixups_warn_as_keepalived_does() {
    let text = "global_defs {\n  vrrp_version 3\n}\nvrrp_script chk_w {\n  script /bin/true\n  weight 10\n}\n\
vrrp_sync_group G {\n  group {\n    A\n    B\n  }\n}\n\
vrrp_instance A {\n  state MASTER\n  interface eth0\n  virtual_router_id 1\n  priority 100\n  advert_int 1.005\n  nopreempt\n  \
authentication {\n    auth_type PASS\n    auth_pass 123456789\n  }\n  virtual_ipaddress {\n    192.168.200.10\n  }\n  \
track_script {\n    chk_w\n  }\n  track_interface {\n    eth1 weight 5\n  }\n}\n\
vrrp_instance B {\n  interface eth0\n  virtual_router_id 2\n  version 2\n  advert_int 1.5\n  preempt_delay 3\n  \
nopreempt\n  virtual_ipaddress {\n    192.168.200.11\n  }\n}\n\
vrrp_instance C {\n  interface eth1\n  virtual_router_id 3\n  priority 255\n  state BACKUP\n  strict_mode\n  \
version 2\n  virtual_ipaddress {\n    192.168.200.12\n  }\n  track_script {\n    chk_w\n    chk_w\n  }\n}\n";
    let c = loads(
        text,
        &[
            (19, 14, "vrrp_instance A: advert_int 1.005 must be in units of 10 ms under VRRP version 3; 1.01 is used"),
            (20, 3, "vrrp_instance A: nopreempt does not work with state MASTER; it is cleared"),
            (21, 3, "vrrp_instance A: VRRP version 3 has no authentication; it is ignored"),
            (23, 15, "auth_pass `123456789` is cut to its first 8 characters `12345678`"),
            (28, 3, "vrrp_instance A: weighted tracked scripts (chk_w) in a vrrp_sync_group; they are not tracked"),
            (
                31,
                3,
                "vrrp_instance A: weighted tracked interfaces (eth1) in a vrrp_sync_group; their weights are set to 0",
            ),
            (
                39,
                14,
                "vrrp_instance B: advert_int 1.5 must be an integer number of seconds under VRRP version 2; 2 is used",
            ),
            (40, 17, "vrrp_instance B: preempt_delay is incompatible with nopreempt; it is cleared"),
            (50, 9, "vrrp_instance C: strict mode: state BACKUP with priority 255"),
            (56, 3, "vrrp_instance C: a script is tracked twice; the second is ignored"),
            (56, 3, "vrrp_instance C: weighted tracked scripts (chk_w) at priority 255"),
        ],
    );
    let [a, b, cc] = &c.vrrp.instances[..] else { panic!("three instances") };
    assert_eq!((a.advert_int, a.nopreempt, a.authentication.is_none()), (Duration::from_millis(1010), false, true));
    assert_eq!((a.track_script.len(), a.track_interface[0].weight), (0, 0));
    assert_eq!((b.advert_int, b.preempt_delay, b.version), (Duration::from_secs(2), Duration::ZERO, 2));
    assert_eq!((cc.state, cc.track_script.len(), cc.accept), (VrrpState::Master, 0, true));
}

#[test]
fn what_xvs_cannot_do_is_refused_by_name() {
    let head = "vrrp_instance VI_1 {\n  interface eth0\n  virtual_router_id 51\n"; // lines 1-3
    for (line, at, message) in [
        (
            "  authentication {\n    auth_type AH\n  }\n",
            (5, 15),
            "`auth_type AH` (vrrp_instance VI_1) is not supported",
        ),
        ("  use_vmac\n", (4, 3), "`use_vmac` (vrrp_instance VI_1) is not supported: VRRP virtual MACs"),
        ("  vmac_xmit_base\n", (4, 3), "`vmac_xmit_base` (vrrp_instance VI_1) is not supported"),
        ("  virtual_routes {\n    10.9.0.0/16 via 10.0.0.1\n  }\n", (4, 3), "`virtual_routes` (vrrp_instance VI_1)"),
        ("  track_file {\n    f\n  }\n", (4, 3), "`track_file` (vrrp_instance VI_1) is not supported"),
        ("  mcast_dst_ip 224.0.0.19\n", (4, 16), "`mcast_dst_ip` (vrrp_instance VI_1) is not supported"),
        ("  down_timer_adverts 5\n", (4, 3), "`down_timer_adverts` (vrrp_instance VI_1) is not supported"),
        ("  virtual_ipaddress {\n    10.0.1.1 use_vmac\n  }\n", (5, 14), "`use_vmac` (virtual address 10.0.1.1)"),
        (
            "  unicast_peer {\n    10.0.0.2 min_ttl 250\n  }\n",
            (5, 14),
            "`min_ttl` (vrrp_instance VI_1) is not supported",
        ),
        ("  track_interface {\n    eth1 weight 10 reverse\n  }\n", (5, 20), "`reverse` (track_interface eth1)"),
    ] {
        let text = format!("{head}{line}}}\n");
        KEEPALIVED.one(&text, at.0, at.1, message, "remove");
    }
    KEEPALIVED.one(
        "global_defs {\n  vrrp_mcast_group4 224.0.0.20\n}\n",
        2,
        21,
        "`vrrp_mcast_group4` (global_defs) is not supported",
        "remove",
    );
    KEEPALIVED.one(
        "vrrp_sync_group G {\n  group {\n    A\n  }\n  track_script {\n    s\n  }\n}\n\
         vrrp_instance A {\n  interface eth0\n  virtual_router_id 51\n}\n",
        5,
        3,
        "`track_script` (vrrp_sync_group G) is not supported: tracking is per instance in xvs",
        "remove",
    );
}

#[test]
fn what_changes_nothing_is_one_warning() {
    let c = loads(
        "vrrp_instance VI_1 {\n  interface eth0\n  virtual_router_id 51\n  smtp_alert\n  debug 2\n  \
         virtual_ipaddress {\n    10.0.1.1/24 brd 10.0.1.255 scope global\n  }\n  priorty 100\n}\n",
        &[
            (4, 3, "`smtp_alert` in vrrp_instance VI_1 is not supported by xvs (email alerts are not sent); ignored"),
            (5, 3, "`debug` in vrrp_instance VI_1 is not supported by xvs"),
            (7, 17, "`brd` of virtual address 10.0.1.1/24 is ignored"),
            (7, 32, "`scope` of virtual address 10.0.1.1/24 is ignored"),
            (9, 3, "unknown keyword `priorty` in vrrp_instance VI_1 (did you mean `priority`?)"),
        ],
    );
    assert_eq!(c.vrrp.instances[0].virtual_ipaddress[0].prefix_len, 24);
}

#[test]
fn an_unquoted_script_line_ends_at_its_first_word() {
    // keepalived 2.2.7 runs `/bin/echo` alone here (its configuration dump says
    // "Command = '/usr/bin/echo'").
    let c = loads(
        "vrrp_script chk {\n  script /bin/echo hello world\n}\n",
        &[(2, 20, "vrrp_script chk: keepalived runs only `/bin/echo` of `/bin/echo hello world`")],
    );
    assert_eq!(c.vrrp.scripts[0].script, "/bin/echo");
}

#[test]
fn bad_values_and_broken_rules_at_their_position() {
    let vi = "vrrp_instance VI_1 {\n  interface eth0\n"; // lines 1-2
    let vip = "  virtual_ipaddress {\n    10.0.1.1\n  }\n";
    KEEPALIVED.one(
        &format!("{vi}  virtual_router_id 51\n  state master\n}}\n"),
        4,
        9,
        "unknown state `master`",
        "upper case",
    );
    KEEPALIVED.one(
        &format!("{vi}  virtual_router_id 256\n}}\n"),
        3,
        21,
        "bad `virtual_router_id` value `256`",
        "virtual_router_id 51",
    );
    KEEPALIVED.one(
        &format!("{vi}  virtual_router_id 51\n  priority 0\n}}\n"),
        4,
        12,
        "expected 1..=255",
        "priority 100",
    );
    KEEPALIVED.one(&format!("{vi}{vip}}}\n"), 1, 1, "vrrp_instance VI_1 has no virtual_router_id", "1..=255");
    KEEPALIVED.one(
        "vrrp_instance VI_1 {\n  virtual_router_id 51\n}\n",
        1,
        1,
        "vrrp_instance VI_1 has no interface",
        "interface eth0",
    );
    KEEPALIVED.one(
        &format!("{vi}  virtual_router_id 51\n  version 3\n}}\n"),
        1,
        1,
        "has no virtual_ipaddress, which VRRP version 3 requires",
        "virtual_ipaddress",
    );
    KEEPALIVED.one(
        &format!("{vi}  virtual_router_id 51\n  virtual_ipaddress {{\n    10.0.1.1\n    2001:db8::1\n  }}\n}}\n"),
        6,
        5,
        "virtual address 2001:db8::1 is IPv6 but the instance is IPv4",
        "virtual_ipaddress_excluded",
    );
    KEEPALIVED.one(
        &format!("vrrp_script chk_web {{\n  script /bin/true\n}}\n{vi}  virtual_router_id 51\n  track_script {{\n    chk_wbe\n  }}\n}}\n"),
        8,
        5,
        "track_script chk_wbe is not a defined vrrp_script",
        "did you mean `chk_web`?",
    );
    KEEPALIVED.one(
        &format!("{vi}  virtual_router_id 51\n  unicast_peer {{\n    10.0.0.2\n  }}\n  strict_mode\n{vip}}}\n"),
        4,
        3,
        "strict mode does not allow unicast peers",
        "unicast_peer",
    );
}

#[test]
fn vrids_and_sync_groups_across_instances() {
    let inst = |name: &str, ifname: &str, vrid: u8| {
        format!("vrrp_instance {name} {{\n  interface {ifname}\n  virtual_router_id {vrid}\n}}\n")
    };
    // The same VRID on another interface is fine; on the same one it is not.
    let text = format!("{}{}{}", inst("A", "eth0", 51), inst("B", "eth1", 51), inst("C", "eth0", 51));
    KEEPALIVED.one(&text, 11, 21, "vrrp_instance C: virtual_router_id 51 is already used by A (at line 3)", "its own");
    let group = "vrrp_sync_group G {\n  group {\n    A\n    X\n  }\n}\n";
    KEEPALIVED.one(
        &format!("{}{group}", inst("A", "eth0", 51)),
        8,
        5,
        "vrrp_sync_group G: X is not a vrrp_instance",
        "",
    );
    let two = format!(
        "{}{}vrrp_sync_group H {{\n  group {{\n    A\n    B\n  }}\n}}\n",
        inst("A", "eth0", 51),
        inst("B", "eth0", 52)
    );
    let both = format!("{two}vrrp_sync_group I {{\n  group {{\n    B\n  }}\n}}\n");
    KEEPALIVED.one(&both, 17, 5, "vrrp_sync_group I: B is already in vrrp_sync_group H", "one sync group");
}
