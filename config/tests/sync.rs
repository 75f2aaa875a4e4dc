//! Connection sync: keepalived's `lvs_sync_daemon` (and the deprecated
//! `lvs_sync_daemon_interface`) and xvs TOML's `[sync]` load to the same model, with the
//! sync id resolved as keepalived resolves it (`id`, else the instance's VRID, else 0);
//! bad values, unknown instances and the kernel's `sync_threshold` rule are errors at
//! their position; a second daemon line is a warning; everything round-trips through the
//! printed TOML.

mod common;

use common::{ip, round_trip, Reader};
use xvs_config::*;

const KEEPALIVED: Reader<(Config, Vec<ConfigWarning>)> = Reader { read: parse_keepalived, file: "keepalived.conf" };
const TOML: Reader<Config> = Reader { read: parse_toml, file: "xvs.toml" };

/// `global` (line 2 on) in global_defs, then vrrp_instance VI_1 (VRID 51) with `extra`
/// as its first line.
fn conf(global: &str, extra: &str) -> String {
    format!(
        "global_defs {{\n{global}\n}}\nvrrp_instance VI_1 {{\n{extra}\nstate MASTER\ninterface eth0\n\
         virtual_router_id 51\nvirtual_ipaddress {{\n10.0.1.100\n}}\n}}\n"
    )
}

/// `text` loaded (and round-tripped) with exactly the warnings (line, col, message start).
#[track_caller]
fn loads(text: &str, expected: &[(usize, usize, &str)]) -> Config {
    let (c, w) = parse_keepalived(text, "keepalived.conf").unwrap_or_else(|e| panic!("{e}"));
    let shown: Vec<String> = w.iter().map(|w| w.to_string()).collect();
    assert_eq!(w.len(), expected.len(), "{shown:#?}");
    for (w, (line, col, msg)) in w.iter().zip(expected) {
        assert_eq!((w.line, w.col), (*line, *col), "{w}");
        assert!(w.message.starts_with(msg), "{w}\n  expected to start with: {msg}");
    }
    round_trip(&c);
    c
}

fn daemon(c: &Config) -> &SyncDaemon {
    c.sync.daemon.as_ref().expect("a sync daemon")
}

/// The daemon of `lvs_sync_daemon eth1 VI_1 id 7 maxlen 1400 port 9000 ttl 2 group 224.0.0.99`.
fn every_option() -> SyncDaemon {
    SyncDaemon {
        interface: "eth1".into(),
        instance: Some("VI_1".into()),
        syncid: 7,
        maxlen: Some(1400),
        port: 9000,
        ttl: 2,
        group: ip("224.0.0.99"),
    }
}

#[test]
fn keepalived_every_option() {
    let c = loads(&conf("lvs_sync_daemon eth1 VI_1 id 7 maxlen 1400 port 9000 ttl 2 group 224.0.0.99", ""), &[]);
    let expected = every_option();
    assert_eq!(c.sync, Sync { daemon: Some(expected), ..Sync::default() });
    let t = c.to_toml();
    let table = "[sync]\ninterface = \"eth1\"\ninstance = \"VI_1\"\nsyncid = 7\nmaxlen = 1400\nport = 9000\n\
                 ttl = 2\ngroup = \"224.0.0.99\"\nsync_threshold = [3, 50]\nsync_refresh_period = 0\n";
    assert!(t.contains(table), "{t}");
}

#[test]
fn keepalived_sync_id_is_the_instance_vrid_else_0() {
    let c = loads(&conf("lvs_sync_daemon eth1 VI_1", ""), &[]);
    assert_eq!(daemon(&c), &SyncDaemon { instance: Some("VI_1".into()), syncid: 51, ..SyncDaemon::on("eth1") });
    let c = loads(&conf("lvs_sync_daemon eth1", ""), &[]);
    assert_eq!(daemon(&c), &SyncDaemon::on("eth1"));
    assert_eq!((daemon(&c).port, daemon(&c).ttl, daemon(&c).group), (8848, 1, ip("224.0.0.81")));
    // An option right after the interface: no instance.
    let c = loads(&conf("lvs_sync_daemon eth1 id 5 group ff02::81", ""), &[]);
    assert_eq!(daemon(&c), &SyncDaemon { syncid: 5, group: ip("ff02::81"), ..SyncDaemon::on("eth1") });
    // The instance may come after global_defs.
    let text = "vrrp_instance VI_1 {\ninterface eth0\nvirtual_router_id 9\nvirtual_ipaddress {\n10.0.1.1\n}\n}\n\
                global_defs {\nlvs_sync_daemon eth1 VI_1\n}\n";
    assert_eq!(daemon(&loads(text, &[])).syncid, 9);
    // Without any: nothing printed.
    let c = loads(&conf("", ""), &[]);
    assert_eq!(c.sync, Sync::default());
    assert!(!c.to_toml().contains("[sync]"));
}

#[test]
fn keepalived_old_and_deprecated_spellings() {
    // The bare sync id after the instance (before keepalived had `id`).
    let c = loads(&conf("lvs_sync_daemon eth1 VI_1 12", ""), &[(2, 27, "lvs_sync_daemon: write `id 12`")]);
    assert_eq!(daemon(&c).syncid, 12);
    // lvs_sync_daemon_interface in an instance: `lvs_sync_daemon IF <instance>`.
    let c = loads(
        &conf("", "lvs_sync_daemon_interface eth1"),
        &[(5, 1, "vrrp_instance VI_1: `lvs_sync_daemon_interface` is deprecated; read as `lvs_sync_daemon eth1 VI_1`")],
    );
    assert_eq!(daemon(&c), &SyncDaemon { instance: Some("VI_1".into()), syncid: 51, ..SyncDaemon::on("eth1") });
    // ... unless global_defs has one.
    let c = loads(
        &conf("lvs_sync_daemon eth2 id 3", "lvs_sync_daemon_interface eth1"),
        &[(
            5,
            1,
            "vrrp_instance VI_1: `lvs_sync_daemon_interface` is deprecated, and lvs_sync_daemon has already been \
             specified as eth2; ignored",
        )],
    );
    assert_eq!(daemon(&c), &SyncDaemon { syncid: 3, ..SyncDaemon::on("eth2") });
}

#[test]
fn keepalived_second_line_is_ignored_with_a_warning() {
    let c = loads(
        &conf("lvs_sync_daemon eth1 VI_1\nlvs_sync_daemon eth2", ""),
        &[(3, 1, "lvs_sync_daemon has already been specified as eth1 VI_1; this one is ignored, as keepalived does")],
    );
    assert_eq!(daemon(&c).interface, "eth1");
}

#[test]
fn keepalived_errors_at_their_position() {
    let one = |global: &str, col: usize, message: &str, hint: &str| {
        KEEPALIVED.one(&conf(global, ""), 2, col, message, hint);
    };
    one("lvs_sync_daemon eth1 VI_9", 22, "lvs_sync_daemon: no vrrp_instance named VI_9", "did you mean `VI_1`?");
    one("lvs_sync_daemon eth1 VI_1 id 300", 30, "bad lvs_sync_daemon `id` value `300`: expected 0..=255", "`id 7`");
    one("lvs_sync_daemon eth1 maxlen 0", 29, "bad lvs_sync_daemon `maxlen` value `0`: expected 1..=65507", "");
    one("lvs_sync_daemon eth1 port 65536", 27, "bad lvs_sync_daemon `port` value `65536`", "`port 8848`");
    one("lvs_sync_daemon eth1 ttl 0", 26, "bad lvs_sync_daemon `ttl` value `0`: expected 1..=255", "");
    one("lvs_sync_daemon eth1 VI_1 prot 9000", 27, "unknown lvs_sync_daemon option `prot`", "did you mean `port`?");
    one("lvs_sync_daemon eth1 VI_1 ttl", 27, "lvs_sync_daemon `ttl` needs a value", "`ttl 1`");
    one("lvs_sync_daemon eth1 group 10.0.0.1", 28, "sync `group` 10.0.0.1 is not a multicast address", "224.0.0.81");
    one("lvs_sync_daemon eth1 group x", 28, "bad lvs_sync_daemon `group` `x`: not an IP address", "224.0.0.81");
    one("lvs_sync_daemon", 1, "`lvs_sync_daemon` needs a value", "eth1 VI_1");
    one("lvs_sync_daemon interface-too-long", 17, "interface name `interface-too-long` is longer than 15", "");
    one("lvs_sync_daemon eth1 VI_1 256", 27, "bad lvs_sync_daemon sync id `256`: expected 0..=255", "`id 7`");
    one("lvs_sync_daemon eth1 VI_1 id 7 tll 2", 32, "unknown lvs_sync_daemon option `tll`", "did you mean `ttl`?");
}

/// `[[vrrp]]` VI_1 (VRID 51) on lines 1-4, then `[sync]` on line 5.
const VI: &str = "[[vrrp]]\nname = \"VI_1\"\ninterface = \"eth0\"\nvirtual_router_id = 51\n[sync]\n";

fn parse(text: &str) -> Config {
    parse_toml(text, "xvs.toml").unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn toml_every_key_and_the_round_trip() {
    let text = format!(
        "{VI}interface = \"eth1\"\ninstance = \"VI_1\"\nsyncid = 7\nmaxlen = 1400\nport = 9000\nttl = 2\n\
         group = \"224.0.0.99\"\nsync_threshold = [2, 10]\nsync_refresh_period = 60\n"
    );
    let c = parse(&text);
    let d = every_option();
    assert_eq!(c.sync, Sync { daemon: Some(d), threshold: 2, period: 10, refresh_period: 60 });
    round_trip(&c);
    // The same daemon from keepalived.conf prints the same [sync] (but the sysctls).
    let k = loads(&conf("lvs_sync_daemon eth1 VI_1 id 7 maxlen 1400 port 9000 ttl 2 group 224.0.0.99", ""), &[]);
    assert_eq!(k.sync.daemon, c.sync.daemon);
}

#[test]
fn toml_defaults_and_resolution() {
    let c = parse(&format!("{VI}interface = \"eth1\"\ninstance = \"VI_1\"\n"));
    assert_eq!(daemon(&c), &SyncDaemon { instance: Some("VI_1".into()), syncid: 51, ..SyncDaemon::on("eth1") });
    round_trip(&c);
    let c = parse("[sync]\ninterface = \"eth1\"\n");
    assert_eq!(c.sync, Sync { daemon: Some(SyncDaemon::on("eth1")), ..Sync::default() });
    round_trip(&c);
    // The sysctls alone: no daemon.
    let c = parse("[sync]\nsync_threshold = [1, 0]\nsync_refresh_period = 30\n");
    assert_eq!(c.sync, Sync { daemon: None, threshold: 1, period: 0, refresh_period: 30 });
    round_trip(&c);
    assert!(c.to_toml().contains("[sync]\n# interface: unset = no sync daemon\nsync_threshold = [1, 0]\n"));
    // An empty [sync] is the default, and prints nothing.
    let c = parse("[sync]\n");
    assert_eq!(c.sync, Sync::default());
    assert!(!c.to_toml().contains("[sync]"));
}

#[test]
fn toml_errors_at_their_position() {
    TOML.one("[sync]\nport = 9000\n", 1, 1, "[sync] is missing the required key `interface`", "interface = ");
    TOML.one(&format!("{VI}interface = \"eth1\"\nprot = 1\n"), 7, 1, "unknown key `prot` in [sync]", "`port`");
    TOML.one(
        &format!("{VI}interface = \"eth1\"\ninstance = \"VI_2\"\n"),
        7,
        12,
        "sync: no vrrp_instance named VI_2",
        "did you mean `VI_1`?",
    );
    TOML.one("[sync]\ninterface = \"eth1\"\nsyncid = 256\n", 3, 10, "`syncid` = 256 is out of range 0..=255", "");
    TOML.one("[sync]\ninterface = \"eth1\"\nmaxlen = 65508\n", 3, 10, "`maxlen` = 65508 is out of range 1..=65507", "");
    TOML.one("[sync]\ninterface = \"eth1\"\nttl = 0\n", 3, 7, "`ttl` = 0 is out of range 1..=255", "");
    TOML.one(
        "[sync]\ninterface = \"eth1\"\ngroup = \"10.0.0.1\"\n",
        3,
        9,
        "sync `group` 10.0.0.1 is not a multicast address",
        "224.0.0.81",
    );
    TOML.one("[sync]\ninterface = \"eth1\"\ngroup = 1\n", 3, 9, "`group` must be a string, not an integer", "");
    TOML.one("[sync]\ninterface = \"\"\n", 2, 13, "sync `interface` `` is not an interface name", "eth1");
}

#[test]
fn toml_sync_threshold_follows_the_kernel() {
    for ok in ["[0, 0]", "[3, 50]", "[254, 255]", "[200, 0]"] {
        parse(&format!("[sync]\nsync_threshold = {ok}\n"));
    }
    let bad = |value: &str, col: usize, message: &str| {
        TOML.one(&format!("[sync]\nsync_threshold = {value}\n"), 2, col, message, "[3, 50]");
    };
    bad("[50, 50]", 18, "`sync_threshold` = [50, 50]: the threshold must be below the period");
    bad("[60, 50]", 18, "`sync_threshold` = [60, 50]: the threshold must be below the period");
    bad("[255, 0]", 19, "`sync_threshold`: the threshold must be an integer in 0..=254, not 255");
    bad("[3, 256]", 22, "`sync_threshold`: the period must be an integer in 0..=255, not 256");
    bad("[3]", 18, "`sync_threshold` must hold two integers [threshold, period], not 1");
    bad("[\"3\", 50]", 19, "the threshold must be an integer in 0..=254, not \"3\"");
    TOML.one("[sync]\nsync_threshold = 3\n", 2, 18, "`sync_threshold` must be an array of two integers", "");
}

#[test]
fn in_memory_rules() {
    let mut c = Config::default();
    c.sync.threshold = 5;
    c.sync.period = 3;
    let e = c.validate().unwrap_err();
    assert!(e.to_string().contains("the threshold must be below the period"), "{e}");
    let mut c = Config::default();
    c.sync.daemon = Some(SyncDaemon { port: 0, ttl: 0, maxlen: Some(0), ..SyncDaemon::on("eth1") });
    let e = c.validate().unwrap_err();
    assert_eq!(e.len(), 3, "{e}");
}
