//! Every required error: exact line and column, message and an actionable hint.

mod common;

use common::Reader;
use xvs_config::{parse_str, parse_toml, Config, ConfigError};

const TOML: Reader<Config> = Reader { read: parse_toml, file: "xvs.toml" };

/// Asserts exactly one error at `line:col` whose message and hint contain the given texts,
/// and that it has a hint.
#[track_caller]
fn one(text: &str, line: usize, col: usize, message: &str, hint: &str) -> ConfigError {
    let e = TOML.one(text, line, col, message, hint);
    assert!(e.hint.is_some(), "a hint: {e}");
    e
}

const SVC: &str = "[[service]]\nvip = \"10.0.1.100:80\"\n"; // lines 1-2

#[test]
fn unknown_key_suggests_the_closest() {
    one(
        &format!("{SVC}schedular = \"rr\"\n"),
        3,
        1,
        "unknown key `schedular` in [[service]]",
        "did you mean `scheduler`?",
    );
    one(
        "[director]\n  max_conections = 5\n",
        2,
        3,
        "unknown key `max_conections` in [director]",
        "did you mean `max_connections`?",
    );
    one("[[services]]\nvip = \"10.0.1.100:80\"\n", 1, 3, "unknown key `services`", "did you mean `service`?");
    one(
        &format!("{SVC}[[service.real]]\naddr = \"10.0.2.11\"\nwieght = 2\n"),
        5,
        1,
        "unknown key `wieght` in [[service.real]]",
        "did you mean `weight`?",
    );
    // Nothing close: list the valid keys.
    one("[timeouts]\nfoo = 1\n", 2, 1, "unknown key `foo`", "expected one of: tcp, tcp_fin, udp");
}

#[test]
fn wrong_type() {
    one(
        &format!("{SVC}[[service.real]]\naddr = \"10.0.2.11\"\nweight = \"3\"\n"),
        5,
        10,
        "`weight` must be an integer, not a string",
        "for example `weight = 1`",
    );
    one("[director]\nmanage_vips = \"yes\"\n", 2, 15, "`manage_vips` must be `true` or `false`", "manage_vips = true");
    one("[director]\ncores = 0\n", 2, 9, "`cores` must be an array", "cores = [0, 1]");
    one("[[service]]\nvip = 80\n", 2, 7, "`vip` must be a string, not an integer", "vip = \"10.0.1.100:80\"");
    one("[service]\nvip = \"10.0.1.100:80\"\n", 1, 1, "`service` must be an array of tables", "[[service]]");
    one("[timeouts]\ntcp = -5\n", 2, 7, "`tcp` = -5 is out of range 0..=4294967295", "tcp = 900");
}

#[test]
fn bad_addresses() {
    one("[[service]]\nvip = \"10.0.1.300:80\"\n", 2, 7, "bad VIP `10.0.1.300:80`", "10.0.1.100:80");
    one("[[service]]\nvip = \"2001:db8::1:80\"\n", 2, 7, "must be in brackets", "[2001:db8::1]:80");
    one("[[service]]\nvip = \"10.0.1.100\"\n", 2, 7, "missing `:port`", "port 0 = every port");
    one(
        &format!("{SVC}[[service.real]]\naddr = \"10.0.2.11:http\"\n"),
        4,
        8,
        "bad real address `10.0.2.11:http`",
        "10.0.2.11:80",
    );
    one("[director]\nmetrics = \"localhost:9477\"\n", 2, 11, "bad metrics address", "127.0.0.1:9477");
    one("[director]\naddress = \"2001:db8::1\"\n", 2, 11, "`address` must be IPv4", "address6");
    one(
        "[[neighbor]]\nip = \"10.0.2.11\"\nmac = \"02:00:00:00:02\"\n",
        3,
        7,
        "bad MAC address `02:00:00:00:02`",
        "02:00:00:00:02:11",
    );
    one("[[neighbor]]\nip = \"10.0.2\"\nmac = \"02:00:00:00:02:11\"\n", 2, 6, "bad neighbor ip", "10.0.2.1");
}

#[test]
fn unknown_keywords() {
    let e = one(&format!("{SVC}scheduler = \"wrrr\"\n"), 3, 13, "unknown scheduler `wrrr`", "did you mean `wrr`?");
    let hint = e.hint.unwrap();
    for s in xvs_sched::SCHEDULER_NAMES {
        assert!(hint.split_whitespace().any(|w| w == s), "{s} missing from {hint}");
    }
    one(
        &format!("{SVC}protocol = \"tpc\"\n"),
        3,
        12,
        "unknown protocol `tpc` (expected one of: tcp, udp, sctp)",
        "did you mean `tcp`?",
    );
    one(&format!("{SVC}forward = \"natt\"\n"), 3, 11, "unknown forward `natt`", "did you mean `nat`?");
    one("[director]\nxdp_mode = \"skb\"\n", 2, 12, "unknown xdp_mode `skb`", "auto, native, generic");
}

#[test]
fn scheduler_flags() {
    one(
        &format!("{SVC}scheduler = \"mh\"\nscheduler_flags = [\"sh-port\"]\n"),
        4,
        19,
        "sh-fallback/sh-port need scheduler \"sh\"",
        "scheduler = \"sh\"",
    );
    one(
        &format!("{SVC}scheduler = \"sh\"\nscheduler_flags = \"sh-port,mh-fallback\"\n"),
        4,
        19,
        "mh-fallback/mh-port need scheduler \"mh\"",
        "scheduler = \"mh\"",
    );
    one(
        &format!("{SVC}scheduler = \"sh\"\nscheduler_flags = [\"sh-port\", \"sh-fallbak\"]\n"),
        4,
        31,
        "unknown scheduler flag `sh-fallbak`",
        "did you mean `sh-fallback`?",
    );
}

#[test]
fn mh_table_size_must_be_prime() {
    one(&format!("{SVC}mh_table_size = 65536\n"), 3, 17, "`mh_table_size` = 65536 is not prime", "65521 or 65537");
}

#[test]
fn port_mapping_needs_nat() {
    one(
        &format!("{SVC}[[service.real]]\naddr = \"10.0.2.11:8080\"\n"),
        4,
        8,
        "real 10.0.2.11:8080 has port 8080 but service port is 80 and forward is dr",
        "forward = \"nat\"",
    );
    one(
        &format!("{SVC}[[service.real]]\naddr = \"10.0.2.11:8080\"\nforward = \"tun\"\n"),
        4,
        8,
        "forward is tun",
        "use port 80",
    );
    // nat may map ports.
    parse_toml(&format!("{SVC}forward = \"nat\"\n[[service.real]]\naddr = \"10.0.2.11:8080\"\n"), "x").unwrap();
}

#[test]
fn duplicate_service_points_at_the_second() {
    let text = format!("{SVC}\n[[service]]\nvip = \"10.0.1.100:80\"\n");
    let e = one(&text, 5, 7, "duplicate service tcp 10.0.1.100:80: already defined at line 2", "line 2");
    assert!(e.hint.unwrap().contains("merge"));
    // Same address, other protocol or port: fine.
    parse_toml(&format!("{SVC}[[service]]\nvip = \"10.0.1.100:80\"\nprotocol = \"udp\"\n"), "x").unwrap();
    parse_toml(&format!("{SVC}[[service]]\nvip = \"10.0.1.100:81\"\n"), "x").unwrap();
}

#[test]
fn duplicate_real() {
    one(
        &format!("{SVC}real = [\n  {{ addr = \"10.0.2.11\" }},\n  {{ addr = \"10.0.2.11:80\" }},\n]\n"),
        5,
        12,
        "duplicate real 10.0.2.11:80 in service tcp 10.0.1.100:80 (first at line 4)",
        "list each real once",
    );
}

#[test]
fn port_zero_needs_persistence() {
    one(
        "[[service]]\nvip = \"10.0.1.100:0\"\n",
        2,
        7,
        "is on port 0 (every port) but not persistent",
        "persistence = 300",
    );
}

#[test]
fn families_must_match() {
    one(
        &format!("{SVC}[[service.real]]\naddr = \"[2001:db8::11]:80\"\n"),
        4,
        8,
        "real [2001:db8::11]:80 is IPv6 but the VIP 10.0.1.100 is IPv4",
        "use an IPv4 real",
    );
    one(
        "[[service]]\nvip = \"[2001:db8::1]:80\"\nforward = \"nat\"\n[[service.real]]\naddr = \"10.0.2.11:80\"\n",
        5,
        8,
        "is IPv4 but the VIP 2001:db8::1 is IPv6",
        "forward = \"tun\"",
    );
    // A tunnel carries either family in either, as IPVS's mixed-family TUN.
    let tun = "[[service]]\nvip = \"[2001:db8::1]:80\"\nforward = \"tun\"\n[[service.real]]\naddr = \"10.0.2.11:80\"\n";
    parse_toml(tun, "x.toml").unwrap_or_else(|e| panic!("{e}"));
    one(
        &format!("{SVC}sorry_server = \"[2001:db8::9]:80\"\n"),
        3,
        16,
        "sorry_server [2001:db8::9]:80 is IPv6 but the VIP 10.0.1.100 is IPv4",
        "IPv4 sorry server",
    );
}

#[test]
fn persistence_netmask_range() {
    one(
        &format!("{SVC}persistence = 60\npersistence_netmask = 33\n"),
        4,
        23,
        "`persistence_netmask` = 33 is out of range 1..=32 for an IPv4 service",
        "24",
    );
    one(
        "[[service]]\nvip = \"[2001:db8::1]:80\"\npersistence_netmask = 0\n",
        3,
        23,
        "out of range 1..=128 for an IPv6 service",
        "64",
    );
    one(&format!("{SVC}persistence_netmask = \"255.0.255.0\"\n"), 3, 23, "not a contiguous mask", "255.0.0.0");
    one(
        "[[service]]\nvip = \"[2001:db8::1]:80\"\npersistence_netmask = \"255.255.255.0\"\n",
        3,
        23,
        "dotted persistence_netmask is for IPv4",
        "persistence_netmask = 64",
    );
}

#[test]
fn ops_is_udp_only() {
    one(&format!("{SVC}ops = true\n"), 3, 7, "`ops`) is for UDP services only", "protocol = \"udp\"");
}

#[test]
fn weight_and_thresholds() {
    one(
        &format!("{SVC}[[service.real]]\naddr = \"10.0.2.11\"\nweight = 70000\n"),
        5,
        10,
        "weight 70000 is above the maximum 65535",
        "0..=65535",
    );
    one(
        &format!("{SVC}[[service.real]]\naddr = \"10.0.2.11\"\nupper_threshold = 10\nlower_threshold = 20\n"),
        6,
        19,
        "lower_threshold 20 is above upper_threshold 10",
        "lower_threshold must be <= upper_threshold",
    );
}

/// keepalived runs any checker against any virtual_server (a UDP service's real may have
/// an HTTP status page); what is refused is a setting the check's kind would ignore.
#[test]
fn any_check_fits_any_service_but_foreign_settings_do_not() {
    let udp = "[[service]]\nvip = \"10.0.1.53:53\"\nprotocol = \"udp\"\n[[service.real]]\naddr = \"10.0.2.21\"\n";
    parse_toml(&format!("{udp}[service.real.check]\nkind = \"http\"\n"), "x.toml").unwrap();
    parse_toml(&format!("{SVC}[[service.real]]\naddr = \"10.0.2.11\"\ncheck = {{ kind = \"dns\" }}\n"), "x.toml")
        .unwrap();
    let check = |body: &str| format!("{SVC}[[service.real]]\naddr = \"10.0.2.11\"\n[service.real.check]\n{body}");
    one(&check("kind = \"tcp\"\npath = \"/x\"\n"), 7, 8, "URL settings", "http and ssl");
    one(&check("kind = \"tcp\"\nhelo_name = \"me\"\n"), 7, 13, "`helo_name` applies to smtp checks only", "smtp");
    one(&check("kind = \"http\"\npayload = \"0a\"\n"), 7, 11, "`payload` applies to udp checks only", "udp");
    one(&check("kind = \"ping\"\nport = 80\n"), 7, 8, "`port` does not apply to a ping check", "remove");
    one(
        &check("kind = \"misc\"\ncommand = \"/bin/true\"\nbindto = \"10.0.2.1\"\n"),
        8,
        10,
        "makes no connection",
        "remove",
    );
    one(&check("kind = \"tcp\"\nbindto = \"2001:db8::1\"\n"), 7, 10, "`bindto` 2001:db8::1 is IPv6", "family");
    one(&check("kind = \"file\"\n"), 5, 1, "a file check needs the `file`", "file = ");
    one(
        &format!("{SVC}[[service.real]]\naddr = \"10.0.2.11\"\n[service.real.check]\nkind = \"misc\"\n"),
        5,
        1,
        "a misc check needs a `command`",
        "command = ",
    );
}

#[test]
fn neighbors() {
    one(
        "[[neighbor]]\nip = \"10.0.2.11\"\nmac = \"02:00:00:00:02:11\"\n\n[[neighbor]]\nip = \"10.0.2.11\"\nmac = \"02:00:00:00:02:12\"\n",
        6,
        6,
        "duplicate neighbor 10.0.2.11 (first at line 2)",
        "one [[neighbor]] per address",
    );
    one(
        "neighbor = [\n  { ip = \"10.0.2.1\", mac = \"02:00:00:00:02:01\", default = true },\n  { ip = \"10.0.2.2\", mac = \"02:00:00:00:02:02\", default = true },\n]\n",
        3,
        59,
        "more than one default neighbor (the first is at line 2)",
        "only one [[neighbor]] can have `default = true`",
    );
}

#[test]
fn timeouts_and_director_ranges() {
    let errs = TOML.errors("[timeouts]\ntcp = 0\ntcp_fin = 120\nudp = 3000000\n");
    assert_eq!(errs.len(), 2);
    assert_eq!((errs[0].line, errs[0].col), (2, 7));
    assert!(errs[0].message.contains("timeout `tcp` = 0 is out of range 1..=2000000"));
    assert!(errs[0].hint.as_deref().unwrap().contains("tcp = 900"));
    assert_eq!((errs[1].line, errs[1].col), (4, 7));
    assert!(errs[1].message.contains("`udp` = 3000000"));
    one("[director]\nmtu = 100\n", 2, 7, "`mtu` = 100 is out of range 576..=9216", "mtu = 1500");
    one("[director]\nmax_connections = 0\n", 2, 19, "`max_connections` must be at least 1", "2000000");
    one("[director]\ncores = []\n", 2, 9, "`cores` is empty", "remove `cores`");
}

#[test]
fn prefix_vip_with_host_bits() {
    one(
        "[[service]]\nvip = \"203.0.113.5/24:80\"\n",
        2,
        7,
        "VIP prefix 203.0.113.5/24:80 has host bits set",
        "did you mean `203.0.113.0/24:80`?",
    );
    one("[[service]]\nvip = \"[2001:db8::1/64]:80\"\n", 2, 7, "has host bits set", "[2001:db8::/64]:80");
}

#[test]
fn missing_required_keys_point_at_the_table() {
    one("\n[[service]]\nprotocol = \"tcp\"\n", 2, 1, "[[service]] is missing the required key `vip`", "add `vip = ");
    one("[[neighbor]]\nip = \"10.0.2.1\"\n", 1, 1, "missing the required key `mac`", "mac = \"02:00:00:00:02:11\"");
}

#[test]
fn toml_syntax_error_uses_the_parser_position() {
    // `10.0` reads as a float; the parser stops at the second dot.
    let e = one("[director]\nseed = 1\n\n[[service]]\nvip = 10.0.1.100:80\n", 5, 11, "TOML syntax", "quoted");
    assert!(e.to_string().starts_with("xvs.toml:5:11: error: TOML syntax"), "{e}");
    one("[director\n", 1, 10, "TOML syntax", "quoted");
}

#[test]
fn a_bad_value_is_reported_once() {
    // The VIP fails to read: no follow-up errors about its reals' ports or families.
    one(
        "[[service]]\nvip = \"10.0.1.1000:80\"\n[[service.real]]\naddr = \"10.0.2.11:8080\"\n[[service.real]]\naddr = \"[2001:db8::1]:80\"\n",
        2,
        7,
        "bad VIP",
        "10.0.1.100:80",
    );
}

#[test]
fn all_errors_in_one_file_are_reported_in_order() {
    let text = r#"[director]
max_conections = 10
mtu = 100

[timeouts]
tcp = 0

[[service]]
vip = "203.0.113.5/24:80"
scheduler = "foo"
mh_table_size = 100
ops = true

[[service.real]]
addr = "10.0.2.11:8080"
weight = 100000

[[service]]
vip = "203.0.113.5/24:80"
protocol = "udp"
scheduler = "wrr"

[[neighbor]]
ip = "10.0.2.11"
mac = "zz:00:00:00:00:00"
"#;
    let errs = TOML.errors(text);
    let got: Vec<(usize, usize)> = errs.iter().map(|e| (e.line, e.col)).collect();
    assert_eq!(
        got,
        vec![
            (2, 1),   // unknown key max_conections
            (3, 7),   // mtu range
            (6, 7),   // timeout
            (9, 7),   // host bits
            (10, 13), // unknown scheduler
            (11, 17), // mh not prime
            (12, 7),  // ops with tcp
            (15, 8),  // dr port mapping
            (16, 10), // weight
            (19, 7),  // host bits, second service (different protocol: not a duplicate)
            (25, 7),  // bad MAC
        ],
        "{errs:#?}"
    );
    assert!(errs.iter().all(|e| e.hint.is_some()));
    let shown = xvs_config::ConfigErrors(errs).to_string();
    assert!(shown.starts_with(
        "xvs.toml:2:1: error: unknown key `max_conections` in [director]\n  hint: did you mean `max_connections`?\nxvs.toml:3:7: error:"
    ), "{shown}");
}

#[test]
fn other_formats_are_read_by_content() {
    let keepalived = "! Configuration File for keepalived\nglobal_defs {\n   router_id LVS_1\n}\n\nvirtual_server 10.0.1.100 80 {\n    lb_algo wlc\n    lb_kind DR\n    protocol TCP\n    real_server 10.0.2.11 80 {\n        weight 1\n    }\n}\n";
    let c = parse_str(keepalived, "keepalived.conf").unwrap();
    assert_eq!(c.services.len(), 1);
    assert_eq!(c.services[0].reals[0].addr.to_string(), "10.0.2.11:80");

    let ipvsadm = "-A -t 10.0.1.100:80 -s wlc\n-a -t 10.0.1.100:80 -r 10.0.2.11:80 -g -w 1\n";
    let c = parse_str(ipvsadm, "rules").unwrap();
    assert_eq!(c.services[0].reals[0].addr.to_string(), "10.0.2.11:80");

    // A keepalived error carries the keepalived file's position.
    let e = parse_str("virtual_server 10.0.1.100 80 {\n  protocol TCP\n  lb_algo wrrr\n}\n", "k.conf").unwrap_err();
    assert_eq!((e.0[0].file.as_str(), e.0[0].line, e.0[0].col), ("k.conf", 3, 11), "{e}");
    assert!(e.0[0].message.contains("unknown scheduler `wrrr`"), "{e}");

    // TOML with a syntax error is still reported as TOML.
    let e = parse_str("[director\n", "x.toml").unwrap_err();
    assert!(e.0[0].message.contains("TOML syntax"));
}

#[test]
fn check_user_is_for_misc_checks_and_well_formed() {
    let check = |body: &str| format!("{SVC}[[service.real]]\naddr = \"10.0.2.11\"\n[service.real.check]\n{body}");
    one(&check("kind = \"tcp\"\nuser = \"nobody\"\n"), 7, 8, "`user` applies to misc checks only", "remove it");
    one(&check("kind = \"misc\"\ncommand = \"/bin/true\"\nuser = \"a b c\"\n"), 8, 8, "bad user `a b c`", "USER GROUP");
    let ok =
        parse_toml(&check("kind = \"misc\"\ncommand = \"/bin/true\"\nuser = \"nobody nogroup\"\n"), "x.toml").unwrap();
    let u = ok.services[0].reals[0].checks[0].user.clone().unwrap();
    assert_eq!((u.user.as_str(), u.group.as_deref()), ("nobody", Some("nogroup")));
}

#[test]
fn source_lists_are_prefixes_without_host_bits() {
    one(
        &format!("{SVC}deny = [\"10.0.0.1/8\"]\n"),
        3,
        9,
        "host bits are set (the network is 10.0.0.0/8)",
        "`10.0.0.0/8`",
    );
    one(
        &format!("{SVC}allow = [\"10.0.0.0/8\", \"nonsense\"]\n"),
        3,
        24,
        "`nonsense` is not an IP address",
        "10.0.0.0/8",
    );
    one(&format!("{SVC}allow = [\"2001:db8::/129\"]\n"), 3, 10, "prefix length `129` must be 0..=128", "");
    let c = parse_toml(&format!("{SVC}allow = [\"10.0.0.0/8\", \"2001:db8::/32\"]\ndeny = [\"10.6.6.6\"]\n"), "x.toml")
        .unwrap();
    let s = &c.services[0];
    let shown: Vec<String> = s.allow.iter().chain(&s.deny).map(|p| p.to_string()).collect();
    assert_eq!(shown, ["10.0.0.0/8", "2001:db8::/32", "10.6.6.6/32"]);
    // Printed and read back, the lists stay.
    let again = parse_toml(&c.to_toml(), "printed.toml").unwrap();
    assert_eq!((&again.services[0].allow, &again.services[0].deny), (&s.allow, &s.deny));
}

#[test]
fn tcp_checks_fit_udp_services_and_status_takes_ranges() {
    let udp = "[[service]]\nvip = \"10.0.1.53:53\"\nprotocol = \"udp\"\n[[service.real]]\naddr = \"10.0.2.21\"\n[service.real.check]\n";
    let c =
        parse_toml(&format!("{udp}kind = \"tcp\"\nport = 53\n"), "x.toml").expect("TCP_CHECK on UDP, as keepalived");
    assert_eq!(c.services[0].reals[0].checks[0].kind, xvs_config::CheckKind::Tcp);
    let http = |status: &str| {
        format!("{SVC}[[service.real]]\naddr = \"10.0.2.11\"\n[service.real.check]\nkind = \"http\"\n{status}")
    };
    let c = parse_toml(&http("status = \"200-299 301\"\n"), "x.toml").unwrap();
    let st = &c.services[0].reals[0].checks[0].urls[0].status;
    assert!(st.accepts(204) && st.accepts(301) && !st.accepts(302));
    let again = parse_toml(&c.to_toml(), "printed.toml").unwrap();
    assert_eq!(&again.services[0].reals[0].checks[0].urls[0].status, st);
    one(&http("status = \"200-abc\"\n"), 7, 10, "bad `status` `200-abc`", "200-299 301");
    one(&http("status = 700\n"), 7, 10, "HTTP status 700 is not a status code or range", "100..=599");
}

/// IPVS's tunnel types on TUN reals: GUE needs its port, checksums are GUE's and GRE's,
/// remcsum is refused, and a tunnel on a real that does not tunnel would do nothing.
#[test]
fn tunnel_options() {
    let svc = |extra: &str, real: &str| {
        format!("[[service]]\nvip = \"10.0.1.100:80\"\nforward = \"tun\"\n{extra}[[service.real]]\naddr = \"10.0.2.11:80\"\n{real}")
    };
    let c = parse_toml(&svc("tunnel = \"gue\"\ntun_port = 6080\n", ""), "x.toml").unwrap_or_else(|e| panic!("{e}"));
    use xvs_config::{Tunnel, TunnelCsum, TunnelType};
    assert_eq!(c.services[0].reals[0].tunnel, Tunnel { kind: TunnelType::Gue, port: 6080, csum: TunnelCsum::NoCsum });
    one(&svc("tunnel = \"gue\"\n", ""), 4, 10, "a GUE tunnel needs its UDP port", "tun_port");
    one(&svc("tunnel = \"gre\"\ntun_port = 1\n", ""), 5, 12, "`tun_port` applies to GUE tunnels only", "remove");
    one(&svc("tun_flags = \"csum\"\n", ""), 4, 13, "an IPIP tunnel has no checksum option", "gue or gre");
    one(&svc("", "forward = \"dr\"\ntunnel = \"gre\"\n"), 7, 10, "a tunnel (gre) on a dr real", "forward = \"tun\"");
}
