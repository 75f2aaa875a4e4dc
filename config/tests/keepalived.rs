//! keepalived.conf files in the styles operators write them: each one is checked field by
//! field, its warnings at their exact `file:line:col`, and its `to_toml()` re-parses to
//! the same `Config`. Errors are checked at exact positions too.

mod common;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use common::{ip, round_trip, sa, Reader};
use xvs_config::*;

fn data(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/keepalived").join(name)
}

fn load_ok(name: &str) -> (Config, Vec<ConfigWarning>) {
    let (c, w) = load_with_warnings(&data(name)).unwrap_or_else(|e| panic!("{e}"));
    round_trip(&c);
    (c, w)
}

/// `name` loaded (and round-tripped) with exactly the warnings `expected`, all in `name`:
/// (line, col, message start).
#[track_caller]
fn load_warned(name: &str, expected: &[(usize, usize, &str)]) -> Config {
    let (c, w) = load_ok(name);
    let in_name: Vec<(&str, usize, usize, &str)> =
        expected.iter().map(|&(line, col, m)| (name, line, col, m)).collect();
    assert_warnings(&w, &in_name);
    c
}

/// Warnings as (file name relative to the data dir, line, col, message start).
#[track_caller]
fn assert_warnings(w: &[ConfigWarning], expected: &[(&str, usize, usize, &str)]) {
    let base = data("").display().to_string();
    let got: Vec<String> = w.iter().map(|w| w.to_string()).collect();
    assert_eq!(w.len(), expected.len(), "{got:#?}");
    for (w, (file, line, col, msg)) in w.iter().zip(expected) {
        assert_eq!(w.file.strip_prefix(&base).unwrap_or(&w.file), *file, "{w}");
        assert_eq!((w.line, w.col), (*line, *col), "{w}");
        assert!(w.message.starts_with(msg), "{w}\n  expected to start with: {msg}");
    }
}

const KEEPALIVED: Reader<(Config, Vec<ConfigWarning>)> = Reader { read: parse_keepalived, file: "keepalived.conf" };

#[test]
fn classic_dr_with_tcp_check() {
    let c = load_warned(
        "lvs_dr_tcp_check.conf",
        &[(
            3,
            1,
            "global_defs: xvs reads only `lvs_timeouts`, `lvs_sync_daemon` and the VRRP settings here; `notification_email`, \
                 `notification_email_from`, `smtp_server`, `smtp_connect_timeout` are ignored",
        )],
    );
    assert_eq!(c.timeouts, Timeouts::default());
    assert_eq!(c.services.len(), 1);
    let s = &c.services[0];
    assert_eq!(s.vip, Vip::single(ip("192.168.200.16"), 80));
    assert_eq!(s.protocol, Protocol::Tcp);
    assert_eq!(s.scheduler, "rr");
    assert_eq!(s.forward, Forward::Dr);
    assert_eq!((s.persistence, s.persistence_netmask), (50, 32));
    assert_eq!(s.delay_loop, 6);
    assert_eq!((s.alpha, s.quorum, s.hysteresis), (false, 1, 0));
    assert_eq!(s.sorry_server, None);
    assert_eq!(s.reals.len(), 2);
    let r = &s.reals[0];
    assert_eq!((r.addr, r.weight, r.forward, r.inhibit_on_failure), (sa("192.168.200.2:80"), 1, Forward::Dr, false));
    let ch = &r.checks[0];
    assert_eq!(ch.kind, CheckKind::Tcp);
    assert_eq!(ch.port, Some(80));
    assert_eq!((ch.connect_timeout, ch.retry, ch.delay_before_retry), (3, 3, 3), "nb_get_retry is retry");
    let r = &s.reals[1];
    assert_eq!((r.addr, r.weight), (sa("192.168.200.3:80"), 2));
    let ch = &r.checks[0];
    assert_eq!((ch.port, ch.connect_timeout, ch.retry, ch.delay_before_retry), (None, 3, 2, 3));
}

#[test]
fn nat_with_http_get_digest_and_quorum() {
    let c = load_warned("nat_http_get.conf", &[]);
    // Both urls are fetched, each with the virtual_server's virtualhost as its Host.
    let urls = &c.services[0].reals[0].checks[0].urls;
    let got: Vec<(&str, &str)> = urls.iter().map(|u| (u.path.as_str(), u.virtualhost.as_str())).collect();
    assert_eq!(got, [("/testurl/test.jsp", "www.example.com"), ("/testurl2/test.jsp", "www.example.com")]);
    let down = c.services[0].reals[1].notify_down.clone().expect("notify_down");
    assert_eq!((down.script.as_str(), down.user), ("/usr/local/bin/page-oncall rs3", None), "quoted: one script line");
    assert_eq!(c.timeouts, Timeouts { tcp: 7200, tcp_fin: 60, udp: 300 }, "lvs_timeouts");
    let s = &c.services[0];
    assert_eq!(s.vip, Vip::single(ip("10.10.10.2"), 80));
    assert_eq!((s.scheduler.as_str(), s.forward, s.protocol), ("wlc", Forward::Nat, Protocol::Tcp));
    assert_eq!((s.persistence, s.persistence_netmask), (600, 24));
    assert_eq!(s.delay_loop, 10);
    assert_eq!((s.alpha, s.quorum, s.hysteresis), (true, 2, 1));
    assert_eq!(s.sorry_server, Some(sa("192.168.100.250:8080")));
    let r = &s.reals[0];
    assert_eq!((r.addr, r.weight, r.forward), (sa("192.168.100.2:8080"), 3, Forward::Nat));
    assert_eq!((r.upper_threshold, r.lower_threshold), (1000, 800));
    assert!(r.inhibit_on_failure, "inherited from the virtual_server");
    let ch = &r.checks[0];
    assert_eq!(ch.kind, CheckKind::Http);
    assert_eq!(
        (ch.urls[0].path.as_str(), ch.urls[0].digest.as_str()),
        ("/testurl/test.jsp", "640205b7b0fc66c1ea91c463fac6334d")
    );
    assert_eq!(ch.urls[0].status, StatusCodes::default(), "no status_code: any 2xx");
    assert_eq!(ch.port, Some(8080));
    assert_eq!((ch.connect_timeout, ch.retry, ch.delay_before_retry), (3, 3, 2));
    let r = &s.reals[1];
    assert!(!r.inhibit_on_failure, "`inhibit_on_failure false` on the real wins");
    let ch = &r.checks[0];
    assert_eq!(
        (ch.urls[0].path.as_str(), &ch.urls[0].status, ch.urls[0].digest.as_str()),
        ("/health", &StatusCodes(vec![(200, 200)]), "")
    );
    // keepalived's defaults: connect_timeout 5, retry 1, HTTP delay_before_retry 3.
    assert_eq!((ch.port, ch.connect_timeout, ch.retry, ch.delay_before_retry), (None, 5, 1, 3));
}

#[test]
fn groups_and_includes() {
    let (c, w) = load_ok("groups/keepalived.conf");
    assert_warnings(
        &w,
        &[("groups/vrrp.conf", 6, 1, "vrrp_sync_group VG1: only one member; this is probably not what you want")],
    );
    // `lvs_sync_daemon eth1 VI_1` in keepalived.conf, VI_1 (VRID 61) in the included vrrp.conf.
    let d = c.sync.daemon.as_ref().expect("lvs_sync_daemon");
    assert_eq!((d.interface.as_str(), d.instance.as_deref(), d.syncid), ("eth1", Some("VI_1"), 61));
    // conf.d/10-web.conf (glob order), one service per group address, then 20-dns.conf.
    let vips: Vec<String> = c.services.iter().map(|s| format!("{} {}", s.protocol, s.vip)).collect();
    assert_eq!(
        vips,
        ["tcp 10.0.1.100:80", "tcp 10.0.1.101:80", "tcp 10.0.1.102:80", "tcp 10.0.1.200:80", "udp 10.0.1.53:53"]
    );
    for s in &c.services[..4] {
        assert_eq!((s.scheduler.as_str(), s.forward, s.delay_loop), ("wrr", Forward::Dr, 5));
        let addrs: Vec<SocketAddr> = s.reals.iter().map(|r| r.addr).collect();
        assert_eq!(addrs, [sa("10.0.2.11:80"), sa("10.0.2.12:80")]);
        assert!(s.reals.iter().all(|r| r.weight == 5));
        let ch = &s.reals[0].checks[0];
        assert_eq!((ch.kind, ch.connect_timeout, ch.retry, ch.delay_before_retry), (CheckKind::Tcp, 2, 1, 1));
    }
    let dns = &c.services[4];
    assert_eq!((dns.scheduler.as_str(), dns.delay_loop, dns.ops), ("sh", 15, true));
    assert!(dns.scheduler_flags.sh_port && dns.scheduler_flags.sh_fallback);
    let ch = &dns.reals[0].checks[0];
    assert_eq!((ch.kind, ch.dns_type.as_str(), ch.dns_name.as_str()), (CheckKind::Dns, "A", "www.example.com"));
    assert_eq!((ch.retry, ch.delay_before_retry), (2, 15), "DNS_CHECK: delay_before_retry defaults to delay_loop");
    let ch = &dns.reals[1].checks[0];
    assert_eq!((ch.dns_type.as_str(), ch.retry), ("A", 3), "type is case-insensitive; DNS retry defaults to 3");
}

#[test]
fn printed_toml_expands_groups_one_service_per_address() {
    let (c, _) = load_ok("groups/keepalived.conf");
    let t = c.to_toml();
    assert_eq!(t.matches("[[service]]").count(), 5);
    for vip in ["10.0.1.100:80", "10.0.1.101:80", "10.0.1.102:80", "10.0.1.200:80", "10.0.1.53:53"] {
        assert!(t.contains(&format!("vip = \"{vip}\"")), "{vip} in\n{t}");
    }
    assert!(t.contains("dns_type = \"A\"") && t.contains("quorum = 1") && t.contains("alpha = false"), "{t}");
}

#[test]
fn odd_indentation_braces_and_comments() {
    let c = load_warned(
        "odd_style.conf",
        &[(31, 2, "unknown keyword `frobnicate` in virtual_server (virtual_server 172.16.0.10 443); ignored")],
    );
    let s = &c.services[0];
    assert_eq!(s.vip, Vip::single(ip("172.16.0.10"), 443));
    assert_eq!((s.scheduler.as_str(), s.forward, s.protocol, s.delay_loop), ("sed", Forward::Tun, Protocol::Tcp, 3));
    assert_eq!(s.persistence, 360, "persistence_timeout without a value is keepalived's 6 minutes");
    let weights: Vec<u32> = s.reals.iter().map(|r| r.weight).collect();
    assert_eq!(weights, [4, 4, 2], "one-liner block, inline comment, line continuation");
    assert!(s.reals[0].checks.is_empty());
    let ch = &s.reals[1].checks[0];
    assert_eq!(ch.kind, CheckKind::Misc);
    assert_eq!(ch.command, "/usr/local/bin/check_tls.sh 172.16.1.2 --sni www.example.com", "quoted, with spaces");
    assert!(ch.dynamic);
    assert_eq!((ch.connect_timeout, ch.retry), (4, 0), "misc_timeout; MISC_CHECK retry defaults to 0");
    assert_eq!(s.reals[2].checks.len(), 2, "the MISC_CHECK and the TCP_CHECK after it");
    let ch = &s.reals[2].checks[0];
    assert_eq!((ch.kind, ch.command.as_str(), ch.dynamic), (CheckKind::Misc, "/usr/local/bin/check_tls.sh", false));
    assert_eq!(ch.connect_timeout, 3, "no misc_timeout: the delay_loop");
    assert_eq!(ch.user, Some(RunAs { user: "nobody".into(), group: None }), "MISC_CHECK user");
    assert!(c.to_toml().contains("user = \"nobody\""), "{}", c.to_toml());
}

#[test]
fn ipv6_tunnel_service() {
    let c = load_warned("ipv6.conf", &[]);
    assert_eq!(c.services[0].reals[1].checks[0].connect.bind, Some(ip("2001:db8:2::1")), "bindto");
    let s = &c.services[0];
    assert_eq!(s.vip, Vip::single(ip("2001:db8::10"), 443));
    assert_eq!((s.scheduler.as_str(), s.forward), ("mh", Forward::Tun));
    assert!(s.scheduler_flags.mh_port && !s.scheduler_flags.mh_fallback);
    assert_eq!((s.persistence, s.persistence_netmask), (300, 64));
    assert_eq!(s.reals[0].addr, sa("[2001:db8:2::11]:443"));
    let kinds: Vec<CheckKind> = s.reals[0].checks.iter().map(|c| c.kind).collect();
    assert_eq!(kinds, [CheckKind::Ssl, CheckKind::Tcp], "both checkers, both must pass");
    let ssl = &s.reals[0].checks[0];
    assert_eq!(
        (ssl.kind, &ssl.urls[0].status, ssl.sni.as_str()),
        (CheckKind::Ssl, &StatusCodes(vec![(200, 200)]), ""),
        "SSL_GET"
    );
    assert_eq!(s.reals[1].checks[0].connect_timeout, 3);
}

#[test]
fn fwmark_service_needs_its_marks() {
    // keepalived's fwmark service is read; what the mark stands for comes from --fwmarks
    // (config/tests/fwmark.rs), and without it the file does not load.
    let e = load(&data("fwmark.conf")).unwrap_err();
    assert_eq!((e.0[0].line, e.0[0].col), (2, 23), "{e}");
    assert!(e.0[0].message.contains("fwmark 1 is not defined"), "{e}");
}

#[test]
fn the_seed_notes_config() {
    let master = load_warned(
        "seed_master.conf",
        &[(25, 1, "`nat_mask` in virtual_server (virtual_server 192.168.20.50 80) is not supported")],
    );
    let s = &master.services[0];
    assert_eq!(s.vip, Vip::single(ip("192.168.20.50"), 80));
    assert_eq!((s.scheduler.as_str(), s.forward, s.protocol), ("wrr", Forward::Dr, Protocol::Tcp));
    assert_eq!((s.persistence, s.delay_loop), (0, 6), "persistence_timeout 0 = off");
    let reals: Vec<(SocketAddr, u32)> = s.reals.iter().map(|r| (r.addr, r.weight)).collect();
    assert_eq!(reals, [(sa("192.168.20.233:80"), 1), (sa("192.168.20.203:80"), 2)]);
    for r in &s.reals {
        let ch = &r.checks[0];
        assert_eq!(
            (ch.kind, ch.port, ch.connect_timeout, ch.retry, ch.delay_before_retry),
            (CheckKind::Tcp, Some(80), 10, 3, 3)
        );
    }
    let (backup, w) = load_ok("seed_backup.conf");
    assert_eq!(backup.services, master.services);
    let mut vrrp = backup.vrrp.clone();
    assert_eq!(vrrp.instances[0].state, VrrpState::Backup);
    vrrp.instances[0].state = VrrpState::Master;
    assert_eq!(vrrp, master.vrrp, "the pair differs in its state only");
    assert_eq!(w.iter().map(|w| w.line).collect::<Vec<_>>(), [48]);
}

#[test]
fn load_and_parse_str_agree_and_load_drops_warnings() {
    let path = data("nat_http_get.conf");
    let text = std::fs::read_to_string(&path).unwrap();
    let name = path.display().to_string();
    let (c, w) = parse_str_with_warnings(&text, &name).unwrap();
    assert!(w.is_empty(), "{w:?}");
    assert_eq!(load(&path).unwrap(), c);
    assert_eq!(parse_str(&text, &name).unwrap(), c);
    assert_eq!(detect_format(&text).0, Format::Keepalived);
    // A warning carries the file and position: one from an unknown keyword.
    let (_, w) = parse_str_with_warnings(&text.replace("    alpha\n", "    alphaa\n"), &name).unwrap();
    assert_eq!(
        w[0].to_string(),
        format!(
            "{name}:16:5: warning: unknown keyword `alphaa` in virtual_server (virtual_server 10.10.10.2 80) \
             (did you mean `alpha`?); ignored, as keepalived does"
        )
    );
}

const VS: &str = "virtual_server 10.0.1.100 80 {\n  protocol TCP\n"; // lines 1-2

#[test]
fn defaults_are_keepalived_defaults() {
    let (c, w) =
        parse_keepalived(&format!("{VS}  real_server 10.0.2.11 80 {{\n    TCP_CHECK {{\n    }}\n  }}\n}}\n"), "k.conf")
            .unwrap();
    assert!(w.is_empty(), "{w:?}");
    let s = &c.services[0];
    assert_eq!((s.scheduler.as_str(), s.forward, s.delay_loop, s.persistence), ("wlc", Forward::Nat, 60, 0));
    let ch = &s.reals[0].checks[0];
    assert_eq!((ch.connect_timeout, ch.retry, ch.delay_before_retry), (5, 1, 1));
    // Check timing falls back real_server -> virtual_server.
    let text = "virtual_server 10.0.1.100 80 {\n protocol TCP\n connect_timeout 7\n retry 4\n real_server 10.0.2.11 80 {\n  delay_before_retry 9\n  TCP_CHECK {\n   retry 2\n  }\n }\n}\n";
    let (c, _) = parse_keepalived(text, "k.conf").unwrap();
    let ch = &c.services[0].reals[0].checks[0];
    assert_eq!((ch.connect_timeout, ch.retry, ch.delay_before_retry), (7, 2, 9));
}

#[test]
fn missing_protocol_is_udp_with_a_warning() {
    let (c, w) =
        parse_keepalived("virtual_server 10.0.1.53 53 {\n  real_server 10.0.2.11 53 {\n  }\n}\n", "k.conf").unwrap();
    assert_eq!(c.services[0].protocol, Protocol::Udp);
    assert_eq!(w.len(), 1);
    assert_eq!(
        w[0].to_string(),
        "k.conf:1:1: warning: virtual_server 10.0.1.53 53: no `protocol`; UDP is assumed, as keepalived does (add `protocol TCP`)"
    );
}

#[test]
fn unknown_keywords_warn_with_a_suggestion() {
    let text =
        format!("{VS}  lb_algoo rr\n  real_server 10.0.2.11 80 {{\n    wieght 2\n  }}\n}}\nvrrp_instanse X {{\n}}\n");
    let (_, w) = parse_keepalived(&text, "k.conf").unwrap();
    let shown: Vec<String> = w.iter().map(|w| w.to_string()).collect();
    assert_eq!(
        shown,
        [
            "k.conf:3:3: warning: unknown keyword `lb_algoo` in virtual_server (virtual_server 10.0.1.100 80) (did you mean `lb_algo`?); ignored, as keepalived does",
            "k.conf:5:5: warning: unknown keyword `wieght` in real_server (real_server 10.0.2.11 80) (did you mean `weight`?); ignored, as keepalived does",
            "k.conf:8:1: warning: unknown top-level keyword `vrrp_instanse` (did you mean `vrrp_instance`?); ignored, as keepalived does",
        ]
    );
}

#[test]
fn undefined_parameters_are_errors() {
    KEEPALIVED.one("$NOPE\n", 1, 1, "`$NOPE` is not a defined parameter", "$NAME=value");
}

/// keepalived's conditional lines: `@ID` lines are read only on the config id `ID` (the
/// host name by default, `--config-id`), `@^ID` lines everywhere else.
#[test]
fn conditional_lines_follow_the_config_id() {
    let me = xvs_config::config_id();
    let text = format!(
        "virtual_server 10.0.1.100 80 {{\n  protocol TCP\n  @{me} lb_algo rr\n  @not-{me} lb_algo sh\n  @^{me} delay_loop 9\n  @^not-{me} delay_loop 7\n  @not-{me} real_server 10.0.2.99 80 {{\n    weight 5\n  }}\n  real_server 10.0.2.11 80 {{\n  }}\n}}\n"
    );
    let (c, w) = parse_keepalived(&text, "k.conf").unwrap();
    assert!(w.is_empty(), "{w:?}");
    let s = &c.services[0];
    assert_eq!((s.scheduler.as_str(), s.delay_loop), ("rr", 7));
    assert_eq!(s.reals.len(), 1, "another host's real_server (and its block) is not read");
}

/// keepalived's parameters: `$NAME=value` (also over several lines with `\`) and `$NAME`
/// or `${NAME}` where they are used, included files too; positions stay the file's own.
#[test]
fn parameters_are_replaced_as_keepalived_does() {
    let text = "$VIP=10.0.1.100\n$PORT = 80\n$REAL=real_server 10.0.2.11 ${PORT} { \\\n  weight 3 \\\n}\n\
                virtual_server $VIP ${PORT} {\n  protocol TCP\n  $REAL\n  real_server 10.0.2.12 $PORT {\n  }\n}\n\
                virtual_server 10.0.1.300 80 {\n}\n";
    let e = parse_keepalived(text, "k.conf").unwrap_err();
    let first = e.0.first().unwrap();
    assert_eq!((first.line, first.col), (12, 16), "a later error keeps its place: {first}");
    let (c, _) = parse_keepalived(text.split("virtual_server 10.0.1.300").next().unwrap(), "k.conf").unwrap();
    let s = &c.services[0];
    assert_eq!(s.vip.to_string(), "10.0.1.100:80");
    let reals: Vec<(String, u32)> = s.reals.iter().map(|r| (r.addr.to_string(), r.weight)).collect();
    assert_eq!(reals, [("10.0.2.11:80".to_string(), 3), ("10.0.2.12:80".to_string(), 1)], "a block from one parameter");
}

#[test]
fn value_errors_at_their_position() {
    KEEPALIVED.one(
        "virtual_server 10.0.1.300 80 {\n}\n",
        1,
        16,
        "bad virtual_server address `10.0.1.300`",
        "virtual_server 10.0.1.100 80",
    );
    KEEPALIVED.one("virtual_server 10.0.1.100 http {\n}\n", 1, 27, "bad virtual_server port `http`", "0..=65535");
    KEEPALIVED.one(&format!("{VS}  lb_algo wrrr\n}}\n"), 3, 11, "unknown scheduler `wrrr`", "did you mean `wrr`?");
    KEEPALIVED.one(&format!("{VS}  lb_kind NATT\n}}\n"), 3, 11, "unknown lb_kind `NATT`", "NAT, DR or TUN");
    KEEPALIVED.one(
        &format!("{VS}  protocol DCCP\n}}\n"),
        3,
        12,
        "protocol `DCCP` is not supported",
        "TCP, UDP or SCTP",
    );
    KEEPALIVED.one(
        &format!("{VS}  persistence_granularity 255.0.255.0\n}}\n"),
        3,
        27,
        "persistence_granularity `255.0.255.0` is not a contiguous mask",
        "255.0.0.0",
    );
    KEEPALIVED.one(&format!("{VS}  delay_loop soon\n}}\n"), 3, 14, "bad `delay_loop` value `soon`", "delay_loop 6");
    KEEPALIVED.one(
        &format!("{VS}  delay_loop 0\n}}\n"),
        3,
        14,
        "`delay_loop` must be at least 1 second",
        "delay_loop = 6",
    );
    KEEPALIVED.one(&format!("{VS}  quorum 0\n}}\n"), 3, 10, "`quorum` must be at least 1", "quorum = 1");
    KEEPALIVED.one(
        &format!("{VS}  real_server 10.0.2.11 80 {{\n    weight 70000\n  }}\n}}\n"),
        4,
        12,
        "weight 70000 is above the maximum 65535",
        "0..=65535",
    );
    KEEPALIVED.one(
        &format!("{VS}  lb_kind DR\n  real_server 10.0.2.11 8080 {{\n  }}\n}}\n"),
        4,
        15,
        "has port 8080 but service port is 80 and forward is dr",
        "forward = \"nat\"",
    );
    KEEPALIVED.one(
        &format!("{VS}  real_server 10.0.2.11 80 {{\n    UDP_CHECK {{\n      payload 0g\n    }}\n  }}\n}}\n"),
        5,
        15,
        "bad hex in `payload`: `g` is not a hex digit",
        "0a 1b ff",
    );
    KEEPALIVED.one(
        &format!("{VS}  real_server 10.0.2.11 80 {{\n    HTTP_GET {{\n      url {{\n        path health\n      }}\n    }}\n  }}\n}}\n"),
        6,
        14,
        "HTTP check path `health` must start with `/`",
        "/health",
    );
    KEEPALIVED.one(
        &format!("{VS}  real_server 10.0.2.11 80 {{\n    HTTP_GET {{\n      url {{\n        status_code ok\n      }}\n    }}\n  }}\n}}\n"),
        6,
        21,
        "bad status_code `ok`",
        "status_code 200",
    );
    KEEPALIVED.one(
        "virtual_server 10.0.1.53 53 {\n  protocol UDP\n  real_server 10.0.2.11 53 {\n    DNS_CHECK {\n      type AXFR\n    }\n  }\n}\n",
        5,
        12,
        "unknown DNS query type `AXFR`",
        "A, NS, CNAME, SOA, MX, TXT, AAAA",
    );
    KEEPALIVED.one(
        "virtual_server 2001:db8::1 80 {\n  protocol TCP\n  persistence_granularity 255.255.255.0\n}\n",
        3,
        27,
        "a dotted persistence_granularity is for IPv4 services only",
        "64",
    );
    KEEPALIVED.one(
        "virtual_server 10.0.1.100 80 {\n  protocol TCP\n  real_server 2001:db8::11 80 {\n  }\n}\n",
        3,
        15,
        "real [2001:db8::11]:80 is IPv6 but the VIP 10.0.1.100 is IPv4",
        "IPv4 real",
    );
    KEEPALIVED.one(
        "virtual_server 10.0.1.100 0 {\n  protocol TCP\n}\n",
        1,
        16,
        "is on port 0 (every port) but not persistent",
        "persistence",
    );
}

#[test]
fn structure_errors_at_their_position() {
    KEEPALIVED.one(
        "real_server 10.0.2.11 80 {\n}\n",
        1,
        1,
        "`real_server` outside a virtual_server",
        "virtual_server IP PORT",
    );
    KEEPALIVED.one(
        &format!("{VS}}}\nTCP_CHECK {{\n}}\n"),
        4,
        1,
        "`TCP_CHECK` outside a real_server",
        "real_server IP PORT",
    );
    KEEPALIVED.one(
        &format!("{VS}  real_server 10.0.2.11 80 {{\n  }}\n"),
        1,
        30,
        "this `{` is never closed",
        "add the missing `}`",
    );
    KEEPALIVED.one(&format!("{VS}}}\n}}\n"), 4, 1, "unmatched `}`", "remove it");
    KEEPALIVED.one(
        "virtual_server 10.0.1.100 80\n",
        1,
        1,
        "`virtual_server 10.0.1.100 80` has no `{ ... }` block",
        "real_server",
    );
    KEEPALIVED.one(
        "virtual_server group WEBB {\n  protocol TCP\n}\nvirtual_server_group WEB {\n  10.0.1.100 80\n}\n",
        1,
        22,
        "virtual_server_group `WEBB` is not defined",
        "did you mean `WEB`?",
    );
    KEEPALIVED.one(
        "virtual_server_group WEB {\n  10.0.1.100-90 80\n}\n",
        2,
        3,
        "bad virtual_server_group entry `10.0.1.100-90`: the range ends before it starts",
        "10.0.1.100-110 80",
    );
    KEEPALIVED.one("virtual_server_group WEB {\n  10.0.0.0/16 80\n}\n", 2, 3, "it holds 65536 addresses", "");
    KEEPALIVED.one(
        &format!("{VS}  misc_path \"/bin/true\n}}\n"),
        3,
        13,
        "unterminated quoted string",
        "close the string",
    );
    KEEPALIVED.one(&format!("{VS}  weight\n}}\n"), 3, 3, "`weight` needs a value", "weight 1");
}

#[test]
fn duplicate_service_from_two_groups_points_at_both() {
    let text = "virtual_server_group A {\n  10.0.1.100-101 80\n}\nvirtual_server_group B {\n  10.0.1.101 80\n}\n\
                virtual_server group A {\n  protocol TCP\n}\nvirtual_server group B {\n  protocol TCP\n}\n";
    let errs = KEEPALIVED.errors(text);
    assert_eq!(errs.len(), 1, "{errs:?}");
    assert_eq!((errs[0].line, errs[0].col), (5, 3));
    assert!(errs[0].message.contains("duplicate service tcp 10.0.1.101:80: already defined at line 2"), "{}", errs[0]);
}

#[test]
fn every_error_is_reported_in_one_pass() {
    let text = format!(
        "{VS}  lb_algo nope\n  real_server 10.0.2.x 80 {{\n  }}\n  delay_loop x\n}}\nreal_server 1.2.3.4 80 {{\n}}\n"
    );
    let errs = KEEPALIVED.errors(&text);
    let at: Vec<(usize, usize)> = errs.iter().map(|e| (e.line, e.col)).collect();
    assert_eq!(at, [(3, 11), (4, 15), (6, 14), (8, 1)], "{errs:#?}");
}

/// A fresh directory under the system temp dir, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> TempDir {
        let dir = std::env::temp_dir().join(format!("xvs-keepalived-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    fn write(&self, name: &str, text: &str) -> PathBuf {
        let p = self.0.join(name);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, text).unwrap();
        p
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[test]
fn include_errors_name_the_included_file() {
    let d = TempDir::new("incerr");
    let main = d.write(
        "keepalived.conf",
        "global_defs {\n  smtp_server x\n}\ninclude services/*.conf\ninclude nothing/*.conf\n",
    );
    let svc = d.write("services/web.conf", "virtual_server 10.0.1.100 80 {\n  protocol TCP\n  lb_algo rrr\n}\n");
    let e = load(&main).unwrap_err();
    assert_eq!(e.len(), 1, "{e}");
    assert_eq!((e.0[0].file.as_str(), e.0[0].line, e.0[0].col), (svc.display().to_string().as_str(), 3, 11), "{e}");
    // Fixed, the empty glob is a warning at the include.
    d.write("services/web.conf", "virtual_server 10.0.1.100 80 {\n  protocol TCP\n}\n");
    let (c, w) = load_with_warnings(&main).unwrap();
    assert_eq!(c.services.len(), 1);
    let main_s = main.display().to_string();
    assert_eq!((w[0].file.as_str(), w[0].line, w[0].col), (main_s.as_str(), 1, 1));
    assert_eq!((w[1].file.as_str(), w[1].line, w[1].col), (main_s.as_str(), 5, 9));
    assert!(w[1].message.starts_with("include `nothing/*.conf` matches no file"), "{}", w[1]);
}

#[test]
fn include_of_a_missing_file_and_loops_are_errors() {
    let d = TempDir::new("incloop");
    let main = d.write("keepalived.conf", "include missing.conf\ninclude a.conf\n");
    d.write("a.conf", "include b.conf\n");
    let b = d.write("b.conf", "\n  include a.conf\n");
    let e = load(&main).unwrap_err();
    let main_s = main.display().to_string();
    let b_s = b.display().to_string();
    let got: Vec<(&str, usize, usize)> = e.iter().map(|e| (e.file.as_str(), e.line, e.col)).collect();
    assert_eq!(got, [(main_s.as_str(), 1, 9), (b_s.as_str(), 2, 11)], "{e}");
    assert!(e.0[0].message.starts_with("cannot read included file"), "{e}");
    assert!(e.0[1].message.starts_with("include loop"), "{e}");
}

#[test]
fn include_inside_a_block() {
    let d = TempDir::new("incblock");
    let main =
        d.write("keepalived.conf", "virtual_server 10.0.1.100 80 {\n  protocol TCP\n  include reals/*.conf\n}\n");
    d.write("reals/1.conf", "real_server 10.0.2.11 80 {\n  weight 3\n}\n");
    d.write("reals/2.conf", "real_server 10.0.2.12 80 {\n}\n");
    let c = load(&main).unwrap();
    let reals: Vec<(SocketAddr, u32)> = c.services[0].reals.iter().map(|r| (r.addr, r.weight)).collect();
    assert_eq!(reals, [(sa("10.0.2.11:80"), 3), (sa("10.0.2.12:80"), 1)]);
}

/// A checker xvs does not have never leaves its real unguarded: the file does not load.
#[test]
fn unimplemented_checkers_refuse_to_load() {
    let kw = "BFD_CHECK";
    KEEPALIVED.one(
        &format!("virtual_server 10.0.1.100 80 {{\n  protocol TCP\n  real_server 10.0.2.11 80 {{\n    {kw} {{\n    }}\n  }}\n}}\n"),
        4,
        5,
        &format!("{kw} is not implemented in xvs: the real would run unguarded"),
        "MISC_CHECK",
    );
}

/// SSL_GET: url, status ranges, SNI only with enable_sni.
#[test]
fn ssl_get_reads_as_keepalived_means_it() {
    let vs = |body: &str| {
        format!("virtual_server 10.0.1.100 443 {{\n  protocol TCP\n  real_server 10.0.2.11 443 {{\n    SSL_GET {{\n{body}    }}\n  }}\n}}\n")
    };
    let (c, _) = parse_keepalived(&vs("      url {\n        path /up\n        status_code 200-299 401\n      }\n      enable_sni\n      sni_name www.example.com\n"), "k.conf").unwrap();
    let ch = &c.services[0].reals[0].checks[0];
    assert_eq!((ch.kind, ch.urls[0].path.as_str(), ch.sni.as_str()), (CheckKind::Ssl, "/up", "www.example.com"));
    assert!(ch.urls[0].status.accepts(401) && ch.urls[0].status.accepts(250) && !ch.urls[0].status.accepts(302));
    assert!(c.to_toml().contains("kind = \"ssl\"") && c.to_toml().contains("sni = \"www.example.com\""));
    // keepalived 2.2.7's enable_sni sends the virtualhost; without one, no SNI.
    let (c, _) = parse_keepalived(
        &vs("      enable_sni\n      virtualhost api.example.com\n      url {\n        path /\n      }\n"),
        "k.conf",
    )
    .unwrap();
    assert_eq!(c.services[0].reals[0].checks[0].sni, "api.example.com");
    let (c, _) = parse_keepalived(&vs("      enable_sni\n"), "k.conf").unwrap();
    assert_eq!(c.services[0].reals[0].checks[0].sni, "");
}

/// warmup, inherited as the other timers are (virtual_server, real_server, checker).
#[test]
fn warmup_is_read_and_inherited() {
    let text = "virtual_server 10.0.1.100 80 {\n  protocol TCP\n  delay_loop 10\n  warmup 4\n  real_server 10.0.2.11 80 {\n    TCP_CHECK {\n    }\n  }\n  real_server 10.0.2.12 80 {\n    TCP_CHECK {\n      warmup 0\n    }\n  }\n  real_server 10.0.2.13 80 {\n  }\n}\n";
    let (c, w) = parse_keepalived(text, "k.conf").unwrap();
    assert!(w.is_empty(), "{w:?}");
    let warmups: Vec<Option<u32>> =
        c.services[0].reals.iter().map(|r| r.checks.first().and_then(|ch| ch.warmup)).collect();
    assert_eq!(warmups, [Some(4), Some(0), None]);
    let (c, _) = parse_keepalived(&text.replace("  warmup 4\n", ""), "k.conf").unwrap();
    assert_eq!(c.services[0].reals[0].checks[0].warmup, None, "unset: up to delay_loop");
}

/// `include` with brace groups, as keepalived's glob(GLOB_BRACE) reads them.
#[test]
fn include_expands_brace_groups() {
    let dir = std::env::temp_dir().join(format!("xvs-brace-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("svc")).unwrap();
    let vs = |ip: &str, port: u16, proto: &str| {
        format!("virtual_server {ip} {port} {{\n  protocol {proto}\n  real_server 10.0.2.11 {port} {{\n  }}\n}}\n")
    };
    std::fs::write(dir.join("svc/web.conf"), vs("10.0.1.100", 80, "TCP")).unwrap();
    std::fs::write(dir.join("svc/dns.conf"), vs("10.0.1.53", 53, "UDP")).unwrap();
    let main = dir.join("keepalived.conf");
    std::fs::write(&main, "include svc/{web,dns}.conf\ninclude svc/{nope,none}.conf\n").unwrap();
    let (c, w) = load_with_warnings(&main).unwrap_or_else(|e| panic!("{e}"));
    let vips: Vec<String> = c.services.iter().map(|s| s.vip.to_string()).collect();
    assert_eq!(vips, ["10.0.1.100:80", "10.0.1.53:53"], "each alternative in turn");
    assert_eq!(w.len(), 1, "{w:?}");
    assert!(w[0].to_string().contains("include `svc/{nope,none}.conf` matches no file"), "{}", w[0]);
    let _ = std::fs::remove_dir_all(&dir);
}

/// notify_up/notify_down (real_server) and quorum_up/quorum_down (virtual_server) are read
/// whole, as keepalived runs them, and printed back.
#[test]
fn notify_and_quorum_scripts_are_read() {
    let text = "virtual_server 10.0.1.100 80 {\n  protocol TCP\n  quorum 2\n  quorum_up \"/usr/local/bin/q up\"\n  quorum_down /usr/local/bin/q down\n  real_server 10.0.2.11 80 {\n    notify_up /usr/local/bin/rs up\n    notify_down \"/usr/local/bin/rs down\"\n  }\n}\n";
    let (c, w) = parse_keepalived(text, "k.conf").unwrap();
    assert!(w.is_empty(), "{w:?}");
    let s = &c.services[0];
    // keepalived's SCRIPT [USER [GROUP]]: a quoted script carries its arguments, an
    // unquoted one's next word is the user it runs as.
    let line =
        |n: &Option<NotifyScript>| n.as_ref().map(|n| (n.script.clone(), n.user.as_ref().map(|u| u.user.clone())));
    assert_eq!(line(&s.quorum_up), Some(("/usr/local/bin/q up".into(), None)));
    assert_eq!(line(&s.quorum_down), Some(("/usr/local/bin/q".into(), Some("down".into()))));
    let r = &s.reals[0];
    assert_eq!(line(&r.notify_up), Some(("/usr/local/bin/rs".into(), Some("up".into()))));
    assert_eq!(line(&r.notify_down), Some(("/usr/local/bin/rs down".into(), None)));
    let again = parse_toml(&c.to_toml(), "printed.toml").unwrap();
    assert_eq!(again.services, c.services, "printed as TOML and read back");
}

/// Every checker and checker option keepalived.conf(5) lists, field by field against
/// what keepalived means by it, and printed as TOML that reads back the same.
#[test]
fn every_checker_option_has_its_meaning() {
    let c = load_warned("checkers.conf", &[]);
    let s = &c.services[0];
    assert!(s.scheduler_flags.sh_fallback && s.scheduler_flags.sh_port, "flag-1/flag-2 are sh's fallback/port");
    assert_eq!((s.sorry_forward, s.sorry_inhibit), (Some(Forward::Nat), true));
    let r = &s.reals[0];
    let kinds: Vec<CheckKind> = r.checks.iter().map(|c| c.kind).collect();
    assert_eq!(kinds, [CheckKind::Http, CheckKind::Smtp, CheckKind::Ping, CheckKind::File, CheckKind::File]);
    let http = &r.checks[0];
    assert_eq!((http.http_protocol, http.fast_recovery), (xvs_config::HttpProtocol::Http11, true));
    assert_eq!((http.connect.ip, http.port), (Some(ip("10.0.3.11")), Some(8080)));
    assert_eq!((http.connect.bind, http.connect.bind_port), (Some(ip("10.0.2.1")), Some(5000)));
    assert_eq!((http.connect.bind_if.as_str(), http.connect.fwmark), ("eth1", 7));
    assert_eq!((http.delay_loop, http.alpha), (Some(3), Some(true)), "the checker's delay_loop, the real's alpha");
    let hosts: Vec<&str> = http.urls.iter().map(|u| u.virtualhost.as_str()).collect();
    assert_eq!(hosts, ["url.example.com", "rs.example.com"], "url, else real_server, else virtual_server");
    let re = http.urls[0].regex.as_ref().unwrap();
    assert_eq!(
        (re.pattern.as_str(), re.options.as_slice(), re.max_offset),
        ("ok|fine", &["caseless".to_string()][..], Some(100))
    );
    assert!(http.urls[1].status.accepts(301) && !http.urls[1].status.accepts(302));
    assert_eq!(r.checks[1].helo_name, "mail.example.com");
    assert_eq!(r.checks[2].alpha, Some(false), "the checker's alpha over the real's");
    let maint = &r.checks[3].file;
    assert_eq!(
        (maint.path.as_str(), maint.weight, maint.reverse, maint.init),
        ("/run/xvs-test/maint", 0, false, Some((0, false)))
    );
    let cap = &r.checks[4].file;
    assert_eq!((cap.weight, cap.reverse), (5, false), "the checker's weight overrides the track_file's");
    let udp = &s.reals[1].checks[0].udp;
    assert_eq!(udp.payload.as_deref(), Some(&[0x0a, 0x1b][..]));
    assert_eq!(
        (udp.require_reply, udp.reply.clone(), udp.min_reply_length, udp.max_reply_length),
        (true, vec![(0x0a, 0), (0x10, 0x0f)], 2, 64)
    );
    // The TOML printed reads back to the same model.
    let again = xvs_config::parse_toml(&c.to_toml(), "again.toml").unwrap_or_else(|e| panic!("{e}\n{}", c.to_toml()));
    assert_eq!(again.services, c.services);
}

/// What would change traffic or a check's verdict and that xvs cannot honour does not load.
#[test]
fn unhonourable_options_refuse_to_load() {
    KEEPALIVED.one(
        &format!("{VS}  persistence_engine sip\n}}\n"),
        3,
        3,
        "persistence_engine is not implemented",
        "persistence_timeout",
    );
    KEEPALIVED.one(
        &format!("{VS}  lvs_method TUN type gue\n}}\n"),
        3,
        18,
        "a GUE tunnel needs `port N`",
        "TUN type gue port 6080",
    );
    KEEPALIVED.one(
        &format!("{VS}  lvs_method TUN type gue port 6080 remcsum\n  real_server 10.0.2.11 80 {{\n  }}\n}}\n"),
        3,
        18,
        "remcsum",
        "nocsum",
    );
    KEEPALIVED.one(
        "SSL {\n  certificate /etc/ssl/c.pem\n}\n",
        2,
        3,
        "SSL `certificate`: xvs's SSL_GET presents no client certificate",
        "remove",
    );
    KEEPALIVED.one(
        &format!("{VS}  real_server 10.0.2.11 80 {{\n    FILE_CHECK {{\n      track_file nope\n    }}\n  }}\n}}\n"),
        5,
        18,
        "track_file `nope` is not defined",
        "track_file nope",
    );
    KEEPALIVED.one(&format!("{VS}  real_server 10.0.2.11 80 {{\n    HTTP_GET {{\n      url {{\n        path /\n        regex \"(a)\\1\"\n      }}\n    }}\n  }}\n}}\n"), 7, 15, "does not compile", "backreferences");
    let (c, _) = parse_keepalived(&format!("{VS}  lvs_method TUN type ipip\n}}\n"), "k.conf").unwrap();
    assert_eq!(c.services[0].forward, Forward::Tun, "`type ipip` is the default");
    // IPVS's tunnel types: the virtual_server's is its TUN reals', a real_server's its own.
    let text = format!(
        "{VS}  lvs_method TUN type gue port 6080 csum\n  real_server 10.0.2.11 80 {{\n  }}\n  \
         real_server 10.0.2.12 80 {{\n    lvs_method TUN type gre\n  }}\n}}\n"
    );
    let (c, w) = parse_keepalived(&text, "k.conf").unwrap();
    assert!(w.is_empty(), "{w:?}");
    let t: Vec<Tunnel> = c.services[0].reals.iter().map(|r| r.tunnel).collect();
    assert_eq!(
        t,
        [
            Tunnel { kind: TunnelType::Gue, port: 6080, csum: TunnelCsum::Csum },
            Tunnel { kind: TunnelType::Gre, port: 0, csum: TunnelCsum::NoCsum }
        ]
    );
    assert_eq!(parse_toml(&c.to_toml(), "again.toml").unwrap().services, c.services, "{}", c.to_toml());
}
