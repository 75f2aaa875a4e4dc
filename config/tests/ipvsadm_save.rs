//! ipvsadm-save output: every field read, fwmark services skipped with a warning,
//! `to_toml()` re-parses to the same `Config`, and errors at exact `line:col`.

use std::net::SocketAddr;
use std::path::Path;

use xvs_config::*;

fn sa(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

fn errors(text: &str) -> Vec<ConfigError> {
    match parse_ipvsadm_save(text, "rules") {
        Ok((c, _)) => panic!("expected errors, got {c:#?}"),
        Err(e) => e.0,
    }
}

/// Exactly one error at `line:col` whose message and hint contain the given texts.
#[track_caller]
fn one(text: &str, line: usize, col: usize, message: &str, hint: &str) {
    let errs = errors(text);
    let shown: Vec<String> = errs.iter().map(|e| e.to_string()).collect();
    assert_eq!(errs.len(), 1, "{shown:#?}");
    let e = &errs[0];
    assert_eq!((e.file.as_str(), e.line, e.col), ("rules", line, col), "{e}");
    assert!(e.message.contains(message), "message of {e}");
    assert!(e.hint.as_deref().unwrap_or_default().contains(hint), "hint of {e}");
}

#[test]
fn a_saved_table_reads_field_by_field() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/ipvsadm/rules.save");
    let (c, w) = load_with_warnings(&path).unwrap_or_else(|e| panic!("{e}"));
    let shown: Vec<String> = w.iter().map(|w| format!("{}:{}: {}", w.line, w.col, w.message)).collect();
    assert_eq!(
        shown,
        [
            "10:7: fwmark service 1: xvs cannot serve it (XDP steers packets before netfilter could mark them); the service and its reals are skipped",
            "14:30: persistence engine `sip` is not implemented in xvs; ignored",
            "15:44: `--tun-type gue` is not supported: xvs tunnels with IPIP; ignored",
            "15:59: `--tun-port 6080` is not supported: xvs tunnels with IPIP; ignored",
        ]
    );
    assert_eq!(c.services.len(), 5);

    let web = &c.services[0];
    assert_eq!(
        (web.protocol, web.vip.to_string(), web.scheduler.as_str()),
        (Protocol::Tcp, "10.0.1.100:80".into(), "wlc")
    );
    assert_eq!((web.persistence, web.persistence_netmask), (300, 24));
    assert_eq!(web.forward, Forward::Dr, "all reals are -g");
    let r = &web.reals[1];
    assert_eq!(
        (r.addr, r.weight, r.forward, r.upper_threshold, r.lower_threshold),
        (sa("10.0.2.12:80"), 3, Forward::Dr, 1000, 800)
    );

    let tls = &c.services[1];
    assert_eq!(tls.scheduler, "mh");
    assert!(tls.scheduler_flags.mh_fallback && tls.scheduler_flags.mh_port);
    assert_eq!((tls.reals[0].forward, tls.reals[1].forward, tls.reals[1].weight), (Forward::Tun, Forward::Dr, 0));
    assert_eq!(tls.forward, Forward::Dr, "mixed reals: the service keeps the default");

    let dns = &c.services[2];
    assert_eq!((dns.protocol, dns.scheduler.as_str(), dns.ops), (Protocol::Udp, "sh", true));
    assert!(dns.scheduler_flags.sh_fallback && dns.scheduler_flags.sh_port, "flag-1,flag-2 of sh");
    assert_eq!((dns.forward, dns.reals[1].addr, dns.reals[1].weight), (Forward::Nat, sa("10.0.2.22:5353"), 2));

    let v6 = &c.services[3];
    assert_eq!(v6.vip.to_string(), "[2001:db8::1]:80");
    assert_eq!((v6.persistence, v6.persistence_netmask), (300, 64), "-p without a value is 300");
    assert_eq!((v6.reals[0].addr, v6.reals[0].forward), (sa("[2001:db8:2::11]:8080"), Forward::Nat));

    assert_eq!(c.services[4].reals[0].forward, Forward::Tun);

    let printed = c.to_toml();
    assert_eq!(parse_toml(&printed, "printed.toml").unwrap_or_else(|e| panic!("{e}\n{printed}")), c);
    assert_eq!(load(&path).unwrap(), c);
}

#[test]
fn defaults_long_options_comments_and_clear() {
    let text = "# saved by hand\n-C\n\n--add-service --tcp-service 10.0.1.100:80\n--add-server --tcp-service 10.0.1.100:80 --real-server 10.0.2.11 --masquerading --weight 2\n-a -t 10.0.1.100:80 -r 10.0.2.12\n";
    let (c, w) = parse_ipvsadm_save(text, "rules").unwrap();
    assert!(w.is_empty());
    let s = &c.services[0];
    assert_eq!((s.scheduler.as_str(), s.persistence, s.persistence_netmask), ("wlc", 0, 32));
    assert_eq!((s.reals[0].addr, s.reals[0].forward, s.reals[0].weight), (sa("10.0.2.11:80"), Forward::Nat, 2));
    assert_eq!(
        (s.reals[1].addr, s.reals[1].forward, s.reals[1].weight),
        (sa("10.0.2.12:80"), Forward::Dr, 1),
        "-g, weight 1"
    );
    assert_eq!(detect_format(text).0, Format::IpvsadmSave);
    assert_eq!(parse_str(text, "rules").unwrap(), c);
}

const SVC: &str = "-A -t 10.0.1.100:80 -s wlc\n"; // line 1

#[test]
fn errors_at_their_word() {
    one("-A -t 10.0.1.100 -s wlc\n", 1, 7, "bad VIP `10.0.1.100`: missing `:port`", "10.0.1.100:80");
    one("-A -t www.example.com:http -s wlc\n", 1, 7, "bad port `http`", "ipvsadm-save -n");
    one("-A -t 10.0.1.100:80 -s wlcc\n", 1, 24, "unknown scheduler `wlcc`", "did you mean `wlc`?");
    one("-A -t 10.0.1.100:80 -s wlc -q\n", 1, 28, "unknown service option `-q`", "-s, -p, -M");
    one("-A -t 10.0.1.100:80 -s\n", 1, 21, "`-s` needs a value", "ipvsadm --help");
    one("-A -s wlc\n", 1, 1, "`-A` without a service", "-A -t 10.0.1.100:80");
    one("-A -t 10.0.1.100:80 -p 60 -M 255.0.255.0\n", 1, 30, "not a contiguous mask", "255.0.0.0");
    one(
        "-A -t 10.0.1.100:80 -b sh-port\n",
        1,
        24,
        "scheduler flags sh-fallback/sh-port need scheduler \"sh\"",
        "scheduler = \"sh\"",
    );
    one("-A -t 10.0.1.100:80 -b sh-prot\n", 1, 24, "unknown scheduler flag `sh-prot`", "sh-port");
    one("-A -t 10.0.1.100:0 -s rr\n", 1, 7, "is on port 0 (every port) but not persistent", "persistence");
    one(
        "-a -t 10.0.1.100:80 -r 10.0.2.11:80 -g\n",
        1,
        7,
        "no `-A` line before this one defines service tcp 10.0.1.100:80",
        "before its `-a` lines",
    );
    one(&format!("{SVC}-a -u 10.0.1.100:80 -r 10.0.2.11:80\n"), 2, 7, "defines service udp 10.0.1.100:80", "");
    one(&format!("{SVC}-a -t 10.0.1.100:80 -r 10.0.2.11:80 -w x\n"), 2, 40, "bad weight `x`", "-w 1");
    one(
        &format!("{SVC}-a -t 10.0.1.100:80 -r 10.0.2.11:80 -w 70000\n"),
        2,
        40,
        "weight 70000 is above the maximum 65535",
        "",
    );
    one(
        &format!("{SVC}-a -t 10.0.1.100:80 -r 10.0.2.11:8080 -g\n"),
        2,
        24,
        "has port 8080 but service port is 80 and forward is dr",
        "nat",
    );
    one(
        &format!("{SVC}-a -t 10.0.1.100:80 -r 10.0.2.11:80 -x 5 -y 9\n"),
        2,
        45,
        "lower_threshold 9 is above upper_threshold 5",
        "",
    );
    one(
        &format!("{SVC}-a -t 10.0.1.100:80 -r 10.0.2.11:80\n-a -t 10.0.1.100:80 -r 10.0.2.11:80\n"),
        3,
        24,
        "duplicate real 10.0.2.11:80",
        "",
    );
    one(&format!("{SVC}-a -t 10.0.1.100:80\n"), 2, 1, "`-a` without `-r REAL`", "-r 10.0.2.11:80");
    one(&format!("{SVC}-E -t 10.0.1.100:80 -s rr\n"), 2, 1, "`-E` is not an ipvsadm-save line", "ipvsadm-save -n");
    one(&format!("{SVC}{SVC}"), 2, 7, "duplicate service tcp 10.0.1.100:80: already defined at line 1", "");
}

#[test]
fn reals_of_a_skipped_fwmark_service_are_not_errors() {
    let (c, w) = parse_ipvsadm_save("-A -f 7 -s rr -p 300\n-a -f 7 -r 10.0.2.11:0 -g\n", "rules").unwrap();
    assert!(c.services.is_empty());
    assert_eq!(w.len(), 1);
    assert_eq!((w[0].line, w[0].col), (1, 7));
    // A fwmark real without its -A line is still an error.
    one("-a -f 8 -r 10.0.2.11:0 -g\n", 1, 7, "no `-A` line before this one defines fwmark service 8", "");
}
