//! Full example configs parse, validate, and survive `to_toml` -> `parse_toml` unchanged.

mod common;

use std::net::{IpAddr, SocketAddr};
use std::path::Path;

use common::round_trip;
use xvs_config::*;

const DESIGN: &str = include_str!("data/design_example.toml");
const FULL: &str = include_str!("data/full.toml");

fn parse(text: &str) -> Config {
    parse_toml(text, "test.toml").unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn design_example_is_valid_and_round_trips() {
    let c = parse(DESIGN);
    assert_eq!(c.services.len(), 1);
    assert_eq!(c.neighbors.len(), 1);
    let s = &c.services[0];
    assert_eq!(s.vip, Vip::single("10.0.1.100".parse().unwrap(), 80));
    assert_eq!(s.reals[0].forward, Forward::Nat);
    assert_eq!(s.reals[0].checks[0].urls[0].path, "/health");
    round_trip(&c);
}

#[test]
fn full_example_parses_every_feature() {
    let c = parse(FULL);
    let d = &c.director;
    assert_eq!(d.cores, Some(vec![0, 1]));
    assert_eq!(d.interfaces, Some(vec!["eth0".into(), "eth1".into()]));
    assert_eq!(d.xdp_mode, XdpMode::Native);
    assert_eq!(d.poll, PollMode::Adaptive);
    assert_eq!(d.metrics, Some("127.0.0.1:9477".parse().unwrap()));
    assert_eq!(d.address6, Some("2001:db8:2::1".parse().unwrap()));
    assert_eq!((d.mtu, d.seed, d.manage_vips), (Some(1500), 42, false));
    assert_eq!(c.timeouts, Timeouts { tcp: 600, tcp_fin: 60, udp: 120 });
    assert_eq!(c.services.len(), 6);

    let web = &c.services[0];
    assert_eq!(web.reals.len(), 3);
    assert_eq!(web.reals[1].addr, "10.0.2.12:80".parse::<SocketAddr>().unwrap());
    assert_eq!(web.reals[1].forward, Forward::Dr, "inherits the service forward");
    assert_eq!(web.reals[2].forward, Forward::Tun);
    assert_eq!(web.reals[2].checks, vec![Check::new(CheckKind::Tcp)]);

    let v6 = &c.services[1];
    assert_eq!(v6.vip.addr, "2001:db8::1".parse::<IpAddr>().unwrap());
    assert!(v6.scheduler_flags.mh_fallback && v6.scheduler_flags.mh_port);
    assert_eq!(v6.reals[1].addr, "[2001:db8:2::12]:443".parse::<SocketAddr>().unwrap());
    assert_eq!(v6.reals[1].forward, Forward::Tun);

    let dns = &c.services[2];
    assert!(dns.scheduler_flags.sh_fallback && dns.scheduler_flags.sh_port);
    assert!(!dns.scheduler_flags.mh_port);
    assert!(dns.ops);
    assert_eq!(dns.reals[1].checks[0].kind, CheckKind::Misc);

    assert_eq!(c.services[3].vip.prefix_len, 24);
    assert_eq!(c.services[4].persistence_netmask, 24, "dotted mask");
    assert_eq!(c.services[4].reals[0].addr.port(), 0, "port-0 service");
    assert_eq!(c.services[5].vip.prefix_len, 64);
    assert_eq!(c.services[5].persistence_netmask, 128, "v6 default");
    assert_eq!(c.neighbors[1].mac, [2, 0, 0, 0, 2, 0xfe]);
    assert!(c.neighbors[1].default);
    let daemon = SyncDaemon { maxlen: Some(1400), ttl: 2, ..SyncDaemon::on("eth1") };
    assert_eq!(c.sync, Sync { daemon: Some(daemon), threshold: 2, period: 40, refresh_period: 30 });
}

#[test]
fn full_example_round_trips() {
    round_trip(&parse(FULL));
}

#[test]
fn sync_round_trips() {
    let vrrp = "[[vrrp]]\nname = \"VI_1\"\ninterface = \"eth0\"\nvirtual_router_id = 51\n";
    for sync in [
        "[sync]\ninterface = \"eth1\"\ninstance = \"VI_1\"\n",
        "[sync]\ninterface = \"eth1\"\ninstance = \"VI_1\"\nsyncid = 0\ngroup = \"ff02::81\"\nport = 9000\n",
        "[sync]\nsync_refresh_period = 120\n",
    ] {
        let c = parse(&format!("{vrrp}{sync}"));
        assert_ne!(c.sync, Sync::default(), "{sync}");
        round_trip(&c);
    }
}

#[test]
fn empty_file_round_trips() {
    let c = parse("");
    assert_eq!(c, Config::default());
    round_trip(&c);
}

#[test]
fn normalized_output_spells_out_defaults() {
    let c = parse("[[service]]\nvip = \"10.0.1.100:80\"\n[[service.real]]\naddr = \"10.0.2.11\"\n");
    let t = c.to_toml();
    for line in [
        "xdp_mode = \"auto\"",
        "max_connections = 2000000",
        "tcp = 900",
        "scheduler = \"wlc\"",
        "mh_table_size = 65537",
        "persistence_netmask = 32",
        "forward = \"dr\"",
        "addr = \"10.0.2.11:80\"",
        "weight = 1",
        "# metrics: unset",
    ] {
        assert!(t.contains(line), "missing `{line}` in\n{t}");
    }
}

#[test]
fn load_reads_a_file() {
    let dir = std::env::temp_dir().join(format!("xvs-config-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("xvs.toml");
    std::fs::write(&path, FULL).unwrap();
    assert_eq!(load(&path).unwrap(), parse(FULL));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn load_reports_a_missing_file() {
    let e = load(Path::new("/nonexistent/xvs.toml")).unwrap_err();
    assert_eq!(e.len(), 1);
    assert!(e.to_string().starts_with("/nonexistent/xvs.toml: error: cannot read"), "{e}");
}

#[test]
fn keepalived_keys_read_and_round_trip_in_toml() {
    let text = r#"
[[service]]
vip = "10.0.1.53:53"
protocol = "udp"
alpha = true
quorum = 3
hysteresis = 1

[[service.real]]
addr = "10.0.2.21"

[service.real.check]
kind = "dns"
dns_type = "AAAA"
dns_name = "www.example.com"
"#;
    let c = parse(text);
    let s = &c.services[0];
    assert_eq!((s.alpha, s.quorum, s.hysteresis), (true, 3, 1));
    let ch = &s.reals[0].checks[0];
    assert_eq!((ch.dns_type.as_str(), ch.dns_name.as_str()), ("AAAA", "www.example.com"));
    round_trip(&c);
    // Defaults: keepalived's (alpha off, quorum 1, hysteresis 0; DNS SOA for ".").
    let d = parse("[[service]]\nvip = \"10.0.1.53:53\"\nprotocol = \"udp\"\n[[service.real]]\naddr = \"10.0.2.21\"\n[service.real.check]\nkind = \"dns\"\n");
    let s = &d.services[0];
    assert_eq!((s.alpha, s.quorum, s.hysteresis), (false, 1, 0));
    let ch = &s.reals[0].checks[0];
    assert_eq!((ch.dns_type.as_str(), ch.dns_name.as_str()), ("SOA", "."));
    let e = parse_toml("[[service]]\nvip = \"10.0.1.53:53\"\nquorum = 0\n", "x.toml").unwrap_err();
    assert_eq!((e.0[0].line, e.0[0].col), (3, 10), "{e}");
    assert!(e.0[0].message.contains("`quorum` must be at least 1"), "{e}");
}
