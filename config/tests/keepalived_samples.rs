//! keepalived's own sample files (the distribution's `samples/` directory, installed with
//! the keepalived package by `scripts/setup.sh`), each read as keepalived means it:
//! what loads is compared field by field with keepalived.conf(5); what does not load
//! fails for a reason xvs states (a VRRP feature it does not have).
//!
//! The fwmark samples need what the marks stand for: this test binary sets a `--fwmarks`
//! file for every load it makes (entries of a mark no service uses change nothing).

use std::path::PathBuf;
use std::sync::Once;

use xvs_config::*;

const SAMPLES: &str = "/usr/share/doc/keepalived/samples";

fn sample(name: &str) -> PathBuf {
    let p = PathBuf::from(SAMPLES).join(format!("keepalived.conf.{name}"));
    assert!(p.exists(), "{} is missing: install the keepalived package (scripts/setup.sh does)", p.display());
    static MARKS: Once = Once::new();
    MARKS.call_once(|| {
        let f = std::env::temp_dir().join(format!("xvs-sample-marks-{}.toml", std::process::id()));
        let text = "[[fwmark]]\nmark = 1\ndst = \"192.168.200.100\"\nports = [80, 443]\n\n\
                    [[fwmark]]\nmark = 2\ndst = \"192.168.200.101\"\nports = [80]\n";
        std::fs::write(&f, text).unwrap();
        assert!(set_fwmarks_file(&f));
    });
    p
}

fn loads(name: &str) -> Config {
    load(&sample(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn refused(name: &str, why: &str) {
    let e = load(&sample(name)).expect_err(name).to_string();
    assert!(e.contains(why), "{name}: {e}");
}

fn ip(s: &str) -> std::net::IpAddr {
    s.parse().unwrap()
}

#[test]
fn ssl_get_with_a_connect_port_and_digest() {
    let c = loads("HTTP_GET.port");
    let s = &c.services[0];
    assert_eq!(
        (s.vip, s.protocol, s.scheduler.as_str(), s.forward),
        (Vip::single(ip("192.168.200.100"), 443), Protocol::Tcp, "rr", Forward::Nat)
    );
    assert_eq!((s.persistence, s.delay_loop), (50, 6));
    let ch = &s.reals[0].checks[0];
    assert_eq!(
        (ch.kind, ch.port, ch.connect_timeout, ch.retry, ch.delay_before_retry),
        (CheckKind::Ssl, Some(444), 3, 3, 3)
    );
    assert_eq!((ch.urls[0].path.as_str(), ch.urls[0].digest.as_str()), ("/", "ff20ad2481f97b1754ef3e12ecd3a9cc"));
}

#[test]
fn ipv6_service_with_smtp_check() {
    let c = loads("IPv6");
    let s = &c.services[0];
    assert_eq!(s.vip, Vip::single(ip("ae00::1"), 80));
    assert_eq!(s.reals[0].addr, "[ae00::10]:25".parse().unwrap(), "NAT maps the port");
    let ch = &s.reals[0].checks[0];
    assert_eq!((ch.kind, ch.helo_name.as_str(), ch.retry), (CheckKind::Smtp, "foo.bar.com", 3));
}

#[test]
fn ping_and_udp_checks() {
    let c = loads("PING_CHECK");
    let ch = &c.services[0].reals[0].checks[0];
    assert_eq!((c.services[0].protocol, ch.kind, ch.retry), (Protocol::Udp, CheckKind::Ping, 4));
    let c = loads("UDP_CHECK");
    let ch = &c.services[0].reals[0].checks[0];
    assert_eq!((ch.kind, ch.connect_timeout, ch.retry, ch.delay_before_retry), (CheckKind::Udp, 3, 3, 3));
    assert_eq!(ch.udp, UdpCheck::default(), "a random payload, silence is up");
}

/// keepalived 2.2.7 makes one SMTP check per `host`; a checker that sets its own
/// connect_timeout keeps the real's address as a check of its own too.
#[test]
fn smtp_host_blocks_are_one_check_each() {
    let c = loads("SMTP_CHECK");
    let r =
        c.services.iter().flat_map(|s| &s.reals).find(|r| r.addr.ip() == ip("172.16.1.11")).expect("real 172.16.1.11");
    let targets: Vec<Option<std::net::IpAddr>> = r.checks.iter().map(|ch| ch.connect.ip).collect();
    assert_eq!(targets, [None, Some(ip("172.16.1.11")), Some(ip("192.168.155.10")), Some(ip("64.233.167.99"))]);
    assert!(r.checks.iter().all(|ch| ch.kind == CheckKind::Smtp && ch.helo_name == "foo.bar.com" && ch.retry == 2));
    assert!(r.checks.iter().all(|ch| ch.connect_timeout == 10 && ch.delay_before_retry == 5));
}

#[test]
fn fwmark_service_with_its_marks() {
    let c = loads("fwmark");
    let s = &c.services[0];
    assert_eq!((s.fwmark, s.persistence, s.forward), (Some(1), 900, Forward::Nat));
    assert_eq!(s.reals[0].addr, "192.168.201.100:0".parse().unwrap(), "no port: NAT keeps the client's");
    assert_eq!(s.reals[0].checks[0].port, Some(80));
}

#[test]
fn group_of_addresses_ranges_and_marks() {
    let c = loads("virtual_server_group");
    let labels: Vec<String> = c.services.iter().map(Service::label).collect();
    let mut want = vec!["tcp 10.0.0.1:8080".to_string(), "tcp 10.0.0.2:80".into(), "tcp 192.168.200.1:1358".into()];
    want.extend((3..=10).map(|i| format!("tcp 192.168.200.{i}:80")));
    want.extend(["fwmark 1".to_string(), "fwmark 2".into()]);
    assert_eq!(labels[..13], want[..], "{labels:?}");
    assert!(c.services[..13].iter().all(|s| s.reals.len() == 2 && s.persistence == 50));
}

#[test]
fn inhibit_misc_arguments_quorum_and_status_codes() {
    let c = loads("inhibit");
    assert!(c.services[0].reals[0].inhibit_on_failure);
    let c = loads("misc_check_arg");
    assert_eq!(c.services[0].reals[0].checks[0].command, "/usr/local/bin/script.sh arg1 arg2");
    let c = loads("quorum");
    let s = &c.services[0];
    assert_eq!((s.alpha, s.omega, s.quorum, s.hysteresis), (true, true, 7, 2));
    assert_eq!(
        (s.quorum_up.as_ref().map(|q| q.script.as_str()), s.quorum_down.as_ref().map(|q| q.script.as_str())),
        (Some("/usr/local/sbin/quorum-up.sh"), Some("/usr/local/sbin/quorum-down.sh"))
    );
    let c = loads("status_code");
    let urls = &c.services[0].reals[0].checks[0].urls;
    assert_eq!(urls.len(), 2, "both urls must pass");
    assert!(urls[0].status.accepts(404) && urls[0].status.accepts(505) && !urls[0].status.accepts(302));
    assert_eq!(
        (urls[1].status.clone(), urls[1].digest.as_str()),
        (StatusCodes(vec![(200, 200)]), "9b3a0c85a887a256d6939da88aabd8cd")
    );
}

#[test]
fn virtualhost_reaches_every_url() {
    let c = loads("virtualhost");
    let hosts: Vec<&str> = c.services[0].reals[0].checks[0].urls.iter().map(|u| u.virtualhost.as_str()).collect();
    assert_eq!(hosts, ["www.firewall.loc", "www.firewall.loc"]);
}

#[test]
fn vrrp_samples_load_or_name_what_xvs_lacks() {
    for name in ["sample", "misc_check", "vrrp", "vrrp.localcheck", "vrrp.lvs_syncd", "vrrp.scripts", "vrrp.sync"] {
        loads(name);
    }
    refused("SSL_GET", "IPsec AH authentication is not supported");
    refused("vrrp.routes", "routes that follow the state are not supported");
    refused("vrrp.rules", "rules that follow the state are not supported");
    refused("vrrp.static_ipaddress", "routes that follow the state are not supported");
    refused("track_interface", "routes that follow the state are not supported");
    refused("conditional_conf", "VRRP virtual MACs are not supported");
}
