//! Omitted keys take their documented defaults.

use std::net::SocketAddr;
use std::path::PathBuf;

use xvs_config::*;

#[test]
fn director_and_timeouts_defaults() {
    let c = parse_toml("", "x.toml").unwrap();
    let d = &c.director;
    assert_eq!(d.cores, None);
    assert_eq!(d.interfaces, None);
    assert_eq!(d.xdp_mode, XdpMode::Auto);
    assert_eq!(d.poll, PollMode::Busy);
    assert_eq!(d.control_socket, PathBuf::from("/run/xvs.sock"));
    assert_eq!(d.metrics, None);
    assert_eq!(d.max_connections, 2_000_000);
    assert!(d.manage_vips);
    assert_eq!(d.vip_device, "lo");
    assert_eq!((d.address, d.address6, d.mtu), (None, None, None));
    assert!(!d.expire_nodest_conn && !d.expire_quiescent_template);
    assert_eq!(d.seed, 0);
    assert_eq!(c.timeouts, Timeouts { tcp: 900, tcp_fin: 120, udp: 300 });
    assert!(c.services.is_empty() && c.neighbors.is_empty());
    // An explicit but empty section is the same.
    assert_eq!(parse_toml("[director]\n[timeouts]\n", "x.toml").unwrap(), c);
}

#[test]
fn service_real_check_neighbor_defaults() {
    let text = r#"
[[service]]
vip = "10.0.1.100:80"

[[service.real]]
addr = "10.0.2.11"

[service.real.check]
kind = "http"

[[service]]
vip = "[2001:db8::1]:443"
forward = "nat"
real = [{ addr = "2001:db8:2::11" }]

[[neighbor]]
ip = "10.0.2.11"
mac = "02:00:00:00:02:11"
"#;
    let c = parse_toml(text, "x.toml").unwrap();
    let s = &c.services[0];
    assert_eq!(s.protocol, Protocol::Tcp);
    assert_eq!(s.scheduler, "wlc");
    assert_eq!(s.scheduler_flags, SchedulerFlags::default());
    assert_eq!(s.mh_table_size, 65537);
    assert!(!s.ops);
    assert_eq!(s.persistence, 0);
    assert_eq!(s.persistence_netmask, 32);
    assert_eq!(s.forward, Forward::Dr);
    assert_eq!(s.delay_loop, 6);
    assert_eq!(s.sorry_server, None);
    let r = &s.reals[0];
    assert_eq!(r.addr, "10.0.2.11:80".parse::<SocketAddr>().unwrap());
    assert_eq!(r.weight, 1);
    assert_eq!(r.forward, Forward::Dr);
    assert_eq!((r.upper_threshold, r.lower_threshold), (0, 0));
    assert!(!r.inhibit_on_failure);
    let ch = &r.checks[0];
    assert_eq!(ch, &Check::new(CheckKind::Http));
    assert_eq!(ch.port, None);
    assert_eq!((ch.connect_timeout, ch.retry, ch.delay_before_retry), (3, 3, 3));
    assert_eq!(
        (ch.urls[0].path.as_str(), &ch.urls[0].status),
        ("/", &StatusCodes::default()),
        "no status: any 2xx, as keepalived"
    );
    assert!(ch.urls[0].status.accepts(204) && !ch.urls[0].status.accepts(301));
    assert!(ch.urls[0].digest.is_empty() && ch.command.is_empty() && !ch.dynamic);

    let s6 = &c.services[1];
    assert_eq!(s6.persistence_netmask, 128);
    assert_eq!(s6.reals[0].addr, "[2001:db8:2::11]:443".parse::<SocketAddr>().unwrap());
    assert_eq!(s6.reals[0].forward, Forward::Nat, "inherits the service's forward");
    assert!(!c.neighbors[0].default);
}

#[test]
fn model_constructors_match_the_reader() {
    let vip = Vip::single("10.0.1.100".parse().unwrap(), 80);
    let mut s = Service::new(vip, Protocol::Tcp);
    s.reals.push(Real::new("10.0.2.11:80".parse().unwrap(), Forward::Dr));
    let c = Config { services: vec![s], ..Config::default() };
    c.validate().unwrap();
    let parsed =
        parse_toml("[[service]]\nvip = \"10.0.1.100:80\"\n[[service.real]]\naddr = \"10.0.2.11\"\n", "x.toml").unwrap();
    assert_eq!(parsed, c);
}

#[test]
fn in_memory_configs_use_the_same_rules() {
    let mut s = Service::new(Vip::single("10.0.1.100".parse().unwrap(), 0), Protocol::Tcp);
    s.scheduler = "bogus".into();
    let c = Config { services: vec![s], ..Config::default() };
    let e = c.validate().unwrap_err();
    assert_eq!(e.len(), 2, "{e}");
    assert!(e.iter().all(|e| e.line == 0 && e.hint.is_some()));
    assert!(e.to_string().contains("<config>: error: unknown scheduler `bogus`"), "{e}");
}
