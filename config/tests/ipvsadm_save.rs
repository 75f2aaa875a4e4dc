//! ipvsadm-save output: every field read, fwmark services skipped with a warning,
//! `to_toml()` re-parses to the same `Config`, and errors at exact `line:col`.

mod common;

use std::path::Path;

use common::{sa, Reader};
use xvs_config::*;

const SAVE: Reader<(Config, Vec<ConfigWarning>)> = Reader { read: parse_ipvsadm_save, file: "rules" };

#[test]
fn a_saved_table_reads_field_by_field() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/ipvsadm/rules.save");
    let (c, w) = load_with_warnings(&path).unwrap_or_else(|e| panic!("{e}"));
    let shown: Vec<String> = w.iter().map(|w| format!("{}:{}: {}", w.line, w.col, w.message)).collect();
    assert!(shown.is_empty(), "{shown:?}");
    assert_eq!(c.services.len(), 6);

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

    let v6 = &c.services[4];
    assert_eq!(v6.vip.to_string(), "[2001:db8::1]:80");
    assert_eq!((v6.persistence, v6.persistence_netmask), (300, 64), "-p without a value is 300");
    assert_eq!((v6.reals[0].addr, v6.reals[0].forward), (sa("[2001:db8:2::11]:8080"), Forward::Nat));

    let sctp = c.services.iter().find(|s| s.protocol == Protocol::Sctp).expect("the SCTP service");
    assert_eq!((sctp.vip.to_string(), sctp.reals[0].forward), ("10.0.1.100:9".to_string(), Forward::Dr));
    assert_eq!(c.services[5].reals[0].forward, Forward::Tun);

    let printed = c.to_toml();
    assert_eq!(parse_toml(&printed, "printed.toml").unwrap_or_else(|e| panic!("{e}\n{printed}")), c);
    assert_eq!(load(&path).unwrap(), c);
}

/// A persistence engine or a GUE/GRE tunnel would change where traffic goes: the file
/// does not load (it used to load with IPIP, which a GUE real drops).
#[test]
fn what_would_change_the_traffic_does_not_load() {
    SAVE.one(
        "-A -t 10.0.1.100:8443 -s wrr --pe sip\n",
        1,
        30,
        "xvs has no persistence engines (--pe)",
        "keep this service on IPVS",
    );
    // A GUE tunnel is read; without its port it would send nowhere.
    SAVE.one(
        "-A -t 10.0.1.100:8443 -s wrr\n-a -t 10.0.1.100:8443 -r 10.0.2.11:8443 -i --tun-type gue -w 1\n",
        2,
        55,
        "a GUE tunnel needs its UDP port",
        "tun_port",
    );
    SAVE.one(
        "-A -t 10.0.1.100:8443 -s wrr\n-a -t 10.0.1.100:8443 -r 10.0.2.11:8443 -i --tun-type gue --tun-port 6080 --tun-remcsum\n",
        2,
        75,
        "remcsum",
        "nocsum",
    );
    let (c, _) = parse_ipvsadm_save(
        "-A -t 10.0.1.100:8443 -s wrr\n-a -t 10.0.1.100:8443 -r 10.0.2.11:8443 -i --tun-type gre --tun-csum\n",
        "rules",
    )
    .unwrap();
    assert_eq!(c.services[0].reals[0].tunnel, Tunnel { kind: TunnelType::Gre, port: 0, csum: TunnelCsum::Csum });
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
    // No port is port 0, as in ipvsadm: a service on every port, which must be persistent.
    SAVE.one("-A -t 10.0.1.100 -s wlc\n", 1, 7, "tcp 10.0.1.100:0 is on port 0 (every port)", "persistence");
    SAVE.one("-A -t www.example.com:http -s wlc\n", 1, 7, "illegal virtual server address", "ipvsadm-save -n");
    SAVE.one("-A -t 10.0.1.100:80 -s wlcc\n", 1, 24, "unknown scheduler `wlcc`", "did you mean `wlc`?");
    SAVE.one("-A -t 10.0.1.100:80 -s wlc -q\n", 1, 28, "invalid option `-q'", "ipvsadm -h");
    SAVE.one("-A -t 10.0.1.100:80 -w 2\n", 1, 1, "Illegal 'weight' option with the 'add-service'", "scheduler");
    SAVE.one("-A -t 10.0.1.100:80 -s\n", 1, 21, "missing argument to `-s'", "ipvsadm -h");
    SAVE.one("-A -s wlc\n", 1, 1, "You need to supply the 'service-address' option", "-t 10.0.1.100:80");
    SAVE.one(
        "-A -t 10.0.1.100:80 -p 60 -M 255.0.255.0\n",
        1,
        30,
        "illegal virtual server persistent mask",
        "`255.0.0.0`",
    );
    SAVE.one("-A -t [2001:db8::1]:80 -p -M 255.255.255.0\n", 1, 30, "illegal ipv6 netmask specified", "-M 64");
    SAVE.one("-A -t 10.0.1.100:80 -p 0\n", 1, 24, "invalid timeout value `0' specified", "-p` alone is 300");
    SAVE.one(
        "-A -t 10.0.1.100:80 -b sh-port\n",
        1,
        24,
        "sh-fallback/sh-port need scheduler \"sh\"",
        "scheduler = \"sh\"",
    );
    SAVE.one("-A -t 10.0.1.100:80 -b sh-prot\n", 1, 24, "invalid scheduler flag `sh-prot'", "did you mean `sh-port`?");
    SAVE.one("-A -t 10.0.1.100:0 -s rr\n", 1, 7, "is on port 0 (every port) but not persistent", "persistence");
    let no_a = "no `-A` line before this one defines service tcp 10.0.1.100:80";
    SAVE.one("-a -t 10.0.1.100:80 -r 10.0.2.11:80\n", 1, 7, no_a, "before its `-a` lines");
    SAVE.one(&format!("{SVC}-a -u 10.0.1.100:80 -r 10.0.2.11:80\n"), 2, 7, "defines service udp 10.0.1.100:80", "");
    SAVE.one(&format!("{SVC}-a -t 10.0.1.100:80 -r 10.0.2.11:80 -w x\n"), 2, 40, "illegal weight specified", "-w 1");
    SAVE.one(&format!("{SVC}-a -t 10.0.1.100:80 -r 10.0.2.11 -w 70000\n"), 2, 37, "illegal weight", "0..=65535");
    SAVE.one(&format!("{SVC}-a -t 10.0.1.100:80 -r nope\n"), 2, 24, "illegal real server address", "ipvsadm-save -n");
    SAVE.one(&format!("{SVC}-a -t 10.0.1.100:80 -r 10.0.2.11 -x 5 -y 9\n"), 2, 42, "9 is above upper_threshold 5", "");
    let twice = format!("{SVC}-a -t 10.0.1.100:80 -r 10.0.2.11\n-a -t 10.0.1.100:80 -r 10.0.2.11\n");
    SAVE.one(&twice, 3, 24, "duplicate real 10.0.2.11:80", "");
    SAVE.one(
        &format!("{SVC}-a -t 10.0.1.100:80\n"),
        2,
        1,
        "You need to supply the 'real-server' option",
        "-r 10.0.2.11",
    );
    SAVE.one(&format!("{SVC}-E -t 10.0.1.100:80 -s rr\n"), 2, 1, "`-E` is not an ipvsadm-save line", "ipvsadm-save -n");
    SAVE.one(&format!("{SVC}{SVC}"), 2, 7, "duplicate service tcp 10.0.1.100:80: already defined at line 1", "");
}

#[test]
fn a_fwmark_service_needs_its_marks() {
    // Read as a fwmark service, which loads once [[fwmark]] entries (--fwmarks) say what
    // the mark stands for (config/tests/fwmark.rs); without them, an error at the mark.
    SAVE.one("-A -f 7 -s rr -p 300\n-a -f 7 -r 10.0.2.11:0 -g\n", 1, 7, "fwmark 7 is not defined", "--fwmarks");
    // A fwmark real without its -A line is an error.
    SAVE.one("-a -f 8 -r 10.0.2.11:0 -g\n", 1, 7, "no `-A` line before this one defines fwmark service 8", "");
}

#[test]
fn a_dr_real_takes_the_service_port_as_in_ipvsadm() {
    // ipvsadm replaces the port of a -g / -i real with the service's; xvs does too, and says so.
    let (c, w) = parse_ipvsadm_save(&format!("{SVC}-a -t 10.0.1.100:80 -r 10.0.2.11:8080 -g\n"), "rules").unwrap();
    assert_eq!(c.services[0].reals[0].addr, sa("10.0.2.11:80"));
    let shown: Vec<String> = w.iter().map(|w| format!("{}:{}: {}", w.line, w.col, w.message)).collect();
    assert_eq!(
        shown,
        ["2:24: real port 8080 is replaced by the service port 80, as ipvsadm does: dr cannot change the port (use -m to map ports)"]
    );
    // NAT maps ports; a real without a port takes the service's, without a word.
    let text = format!("{SVC}-a -t 10.0.1.100:80 -r 10.0.2.11:8080 -m\n-a -t 10.0.1.100:80 -r 10.0.2.12 -i\n");
    let (c, w) = parse_ipvsadm_save(&text, "rules").unwrap();
    assert_eq!((c.services[0].reals[0].addr, c.services[0].reals[1].addr), (sa("10.0.2.11:8080"), sa("10.0.2.12:80")));
    assert!(w.is_empty(), "{w:?}");
}

#[test]
fn one_mistake_is_reported_once() {
    // The reals of a wrong -A line are passed over, not reported as reals without a service.
    let text = "-A -t 10.0.1.100:80 -s wlc -M 255.0.255.0\n-a -t 10.0.1.100:80 -r 10.0.2.11:80\n\
                -A -t 10.0.1.101:80 -s wlc -q\n-a -t 10.0.1.101:80 -r 10.0.2.11:80\n";
    let errs = SAVE.errors(text);
    let shown: Vec<(usize, usize)> = errs.iter().map(|e| (e.line, e.col)).collect();
    assert_eq!(shown, [(1, 31), (3, 28)], "{errs:#?}");
}

#[test]
fn clear_drops_what_came_before_as_ipvsadm_restore_does() {
    let text = format!("{SVC}-a -t 10.0.1.100:80 -r 10.0.2.11:80\n-C\n-A -t 10.0.1.101:80 -s rr\n");
    let (c, _) = parse_ipvsadm_save(&text, "rules").unwrap();
    assert_eq!(c.services.len(), 1);
    assert_eq!((c.services[0].vip.to_string(), c.services[0].scheduler.as_str()), ("10.0.1.101:80".into(), "rr"));
    // Positions are those of the lines after -C.
    SAVE.one(&format!("{SVC}-C\n-A -t 10.0.1.101:0 -s rr\n"), 3, 7, "is on port 0", "");
}

#[test]
fn what_ipvsadm_and_xvs_ctl_accept_too() {
    // A port-0 persistent service, a prefix VIP (as `xvs ctl -S` prints one), -b flag-N of sh,
    // attached values and clustered options, a trailing comment.
    let text = "-A -t 10.0.1.100 -p\n-A -t 203.0.113.0/24:80 -s dh  # a prefix\n\
                -A -u 10.0.1.53:53 -s sh -b flag-1 -o\n-a -u 10.0.1.53:53 -r 10.0.2.21 -mw3\n";
    let (c, w) = parse_ipvsadm_save(text, "rules").unwrap();
    assert!(w.is_empty(), "{w:?}");
    assert_eq!(c.services.len(), 3);
    assert_eq!((c.services[0].vip.port, c.services[0].persistence), (0, 300));
    assert_eq!(c.services[1].vip.prefix_len, 24);
    let dns = &c.services[2];
    assert!(dns.scheduler_flags.sh_fallback && !dns.scheduler_flags.sh_port && dns.ops);
    assert_eq!((dns.reals[0].addr, dns.reals[0].forward, dns.reals[0].weight), (sa("10.0.2.21:53"), Forward::Nat, 3));
}
