//! The grammar's tests: the commands of `xvs ctl` (moved here from `xvs/src/ctl/args.rs`
//! with the grammar), and what one line reads as, with positions, notes and defaults.

use super::*;
use crate::model::{Forward, Protocol, SchedulerFlags, Tunnel, TunnelCsum, TunnelType, Vip};

fn p(s: &str) -> Result<Command, ArgError> {
    parse(&s.split_whitespace().map(str::to_string).collect::<Vec<_>>())
}

fn svc(s: &str) -> SvcId {
    let (addr, prefix_len, port) = parse_service(s).unwrap();
    SvcId::at(Protocol::Tcp, Vip { addr, prefix_len, port: port.unwrap_or(0) })
}

fn e(s: &str) -> String {
    p(s).unwrap_err().to_string()
}

#[test]
fn services() {
    assert_eq!(
        p("-A -t 10.0.1.100:80 -s rr").unwrap(),
        Command::AddService(ServiceOpts {
            id: svc("10.0.1.100:80"),
            scheduler: "rr".into(),
            flags: SchedulerFlags::default(),
            persistence: 0,
            netmask: 32,
            ops: false
        })
    );
    let Command::AddService(o) = p("-A -t 10.0.1.100:80 -p").unwrap() else { panic!() };
    assert_eq!((o.scheduler.as_str(), o.persistence, o.netmask), ("wlc", 300, 32));
    let Command::EditService(o) = p("-E -t 10.0.1.100:80 -s wlc -p 600 -M 255.255.255.0").unwrap() else { panic!() };
    assert_eq!((o.persistence, o.netmask), (600, 24));
    let Command::AddService(o) = p("-A -u [2001:db8::1]:53 --ops -s mh -b mh-port,mh-fallback -p600 -M 64").unwrap()
    else {
        panic!()
    };
    assert!(o.ops && o.flags.mh_port && o.flags.mh_fallback);
    assert_eq!((o.id.protocol, o.persistence, o.netmask), (Protocol::Udp, 600, 64));
    assert_eq!(o.id.vip.to_string(), "[2001:db8::1]:53");
    let Command::AddService(o) = p("-A -t 203.0.113.0/24:80 -s dh").unwrap() else { panic!() };
    assert_eq!(o.id.vip.prefix_len, 24);
    assert_eq!(p("-D -t 10.0.1.100:80").unwrap(), Command::DelService(svc("10.0.1.100:80")));
    assert_eq!(p("-C").unwrap(), Command::Flush);
    assert_eq!(p("--clear").unwrap(), Command::Flush);
    // Long forms and attached values.
    let Command::AddService(o) =
        p("--add-service --tcp-service=10.0.1.100:80 --scheduler=sh --sched-flags sh-port").unwrap()
    else {
        panic!()
    };
    assert!(o.flags.sh_port);
}

#[test]
fn reals() {
    let Command::AddReal(o) = p("-a -t 10.0.1.100:80 -r 10.0.2.11:8080 -m -w 3 -x 100 -y 50").unwrap() else {
        panic!()
    };
    assert_eq!(
        (o.addr.to_string(), o.forward, o.weight, o.upper, o.lower),
        ("10.0.2.11:8080".into(), Forward::Nat, 3, 100, 50)
    );
    // Defaults: -g, weight 1, and DR/TUN take the service's port.
    let Command::AddReal(o) = p("-a -t 10.0.1.100:80 -r 10.0.2.11:8080").unwrap() else { panic!() };
    assert_eq!((o.addr.to_string(), o.forward, o.weight), ("10.0.2.11:80".into(), Forward::Dr, 1));
    let Command::EditReal(o) = p("-e -t 10.0.1.100:80 -r 10.0.2.11 -i -w0").unwrap() else { panic!() };
    assert_eq!((o.addr.to_string(), o.forward, o.weight), ("10.0.2.11:80".into(), Forward::Tun, 0));
    let Command::AddReal(o) = p("-a -t 10.0.1.100:80 -r 10.0.2.11 -m").unwrap() else { panic!() };
    assert_eq!(o.addr.port(), 80, "no port: the service's");
    assert_eq!(
        p("-d -t 10.0.1.100:80 -r 10.0.2.11:8080").unwrap(),
        Command::DelReal { svc: svc("10.0.1.100:80"), addr: "10.0.2.11:8080".parse().unwrap() }
    );
    let Command::AddReal(o) = p("-a -u [2001:db8::1]:53 -r [2001:db8:2::11]:5353 -m").unwrap() else { panic!() };
    assert_eq!(o.addr.to_string(), "[2001:db8:2::11]:5353");
    assert!(p("-a -t 10.0.1.100:80 -r 10.0.2.11 -i --tun-type ipip").is_ok());
}

#[test]
fn listings() {
    assert_eq!(p("").unwrap(), Command::List(ListOpts::default()));
    assert_eq!(p("--").unwrap(), Command::List(ListOpts::default()));
    let Command::List(l) = p("-Ln").unwrap() else { panic!() };
    assert!(l.numeric && !l.stats);
    let Command::List(l) = p("-L -n --stats --exact").unwrap() else { panic!() };
    assert!(l.stats && l.exact);
    let Command::List(l) = p("-l --rate").unwrap() else { panic!() };
    assert!(l.rate);
    let Command::List(l) = p("-Lnc").unwrap() else { panic!() };
    assert!(l.connections);
    let Command::List(l) = p("-L --timeout").unwrap() else { panic!() };
    assert!(l.timeout);
    let Command::List(l) = p("-Ln -t 10.0.1.100:80 --json --health --thresholds --nosort").unwrap() else { panic!() };
    assert!(l.json && l.health && l.thresholds && l.nosort && l.service.is_some());
    // xvs's --vrrp: alone it is `-L --vrrp`; it takes -n and --json.
    for args in ["--vrrp", "-L --vrrp", "-Ln --vrrp --json"] {
        let Command::List(l) = p(args).unwrap() else { panic!("{args}") };
        assert!(l.vrrp && !l.stats, "{args}");
    }
    assert_eq!(p("-S -n").unwrap(), Command::Save);
    assert_eq!(p("-R").unwrap(), Command::Restore);
    assert_eq!(p("-Z").unwrap(), Command::Zero(None));
    assert_eq!(p("-Z -t 10.0.1.100:80").unwrap(), Command::Zero(Some(svc("10.0.1.100:80"))));
    assert_eq!(p("--set 900 120 300").unwrap(), Command::SetTimeouts { tcp: 900, tcp_fin: 120, udp: 300 });
    assert_eq!(p("--set 0 60 0").unwrap(), Command::SetTimeouts { tcp: 0, tcp_fin: 60, udp: 0 });
    assert_eq!(p("-h").unwrap(), Command::Help);
}

#[test]
fn errors_in_ipvsadm_words_with_positions() {
    for (args, message) in [
        ("-a -t 10.0.1.100:80 -r 10.0.2.11 -w x", "illegal weight specified (argument 7: `x`)"),
        ("-a -t 10.0.1.100:80 -r 10.0.2.11 -w 70000", "illegal weight specified (argument 7: `70000`)"),
        ("-A -t 10.0.1.300:80", "illegal virtual server address[:port] specified (argument 3: `10.0.1.300:80`)"),
        ("-a -t 10.0.1.100:80 -r nope", "illegal real server address[:port] specified (argument 5: `nope`)"),
        ("-a -t 10.0.1.100:80", "You need to supply the 'real-server' option for the 'add-server' command"),
        ("-a -r 10.0.2.11", "You need to supply the 'service-address' option for the 'add-server' command"),
        ("-A -t 10.0.1.100:80 -w 2", "Illegal 'weight' option with the 'add-service' command"),
        (
            "-L -c -t 10.0.1.100:80",
            "The option 'service-address' conflicts with the 'connection' option in the 'list' command",
        ),
        ("-L -c --stats", "options conflicts in the list command"),
        ("--vrrp --stats", "options conflicts in the list command"),
        ("-L -t 10.0.1.100:80 --vrrp", "options conflicts in the list command"),
        ("-A -t 10.0.1.100:80 --vrrp", "Illegal 'vrrp' option with the 'add-service' command"),
        ("-A -t 10.0.1.100:0", "Zero port specified for non-persistent service (argument 3: `10.0.1.100:0`)"),
        ("-A -t 10.0.1.100:80 --ops", "One-Packet Scheduling is only for UDP virtual services"),
        ("-A -t 10.0.1.100:80 -s rr -b sh-port", "incompatible scheduler flag `sh-port' (argument 7: `sh-port`)"),
        ("-A -t 10.0.1.100:80 -s sh -b nope", "invalid scheduler flag `nope' (argument 7: `nope`)"),
        ("-A -t 10.0.1.100:80 -p 0", "invalid timeout value `0' specified (argument 5: `0`)"),
        (
            "-A -t 10.0.1.100:80 -p -M 255.0.255.0",
            "illegal virtual server persistent mask specified (argument 6: `255.0.255.0`)",
        ),
        ("--set 900 120", "--set option requires 3 timeout values"),
        ("--set 900 120 x", "invalid timeout value `x' specified (argument 4: `x`)"),
        ("-C extra", "unexpected argument extra (argument 2: `extra`)"),
        ("-A -D -t 10.0.1.100:80", "multiple commands specified (argument 2: `-D`)"),
        ("-Q", "invalid option `-Q' (argument 1: `-Q`)"),
        ("--frobnicate", "invalid option `--frobnicate' (argument 1: `--frobnicate`)"),
        ("-a -t 10.0.1.100:80 -r", "missing argument to `-r' (argument 4: `-r`)"),
    ] {
        assert_eq!(e(args), message, "{args}");
    }
    assert!(e("-A -t 10.0.1.100:80 -s fast").starts_with("Scheduler not found: `fast'"));
    assert!(e("-n").starts_with("no command given"));
    assert!(e("-a -t 10.0.1.100:80 -r 2001:db8::11 -g").starts_with("Different address family"));
    assert!(e("-a -t 10.0.1.100:80 -r 10.0.2.11 -m -x 10 -y 20").contains("lower threshold"));
}

#[test]
fn restore_lines() {
    assert_eq!(split_line("-A -t 10.0.1.100:80 -s wlc  # web"), vec!["-A", "-t", "10.0.1.100:80", "-s", "wlc"]);
    assert!(split_line("   # only a comment").is_empty());
    assert_eq!(split_line("ipvsadm -C"), vec!["-C"]);
}

#[test]
fn words_and_their_columns() {
    let w = split_words("  -A  -t 10.0.1.100:80");
    let got: Vec<(&str, usize)> = w.iter().map(|w| (w.text, w.col)).collect();
    assert_eq!(got, [("-A", 3), ("-t", 7), ("10.0.1.100:80", 10)]);
    let w = split_words("ipvsadm -a\t-t é:1 # comment");
    let got: Vec<(&str, usize)> = w.iter().map(|w| (w.text, w.col)).collect();
    assert_eq!(got, [("-a", 9), ("-t", 12), ("é:1", 15)]);
}

fn entry(s: &str) -> Entry {
    Entry::parse(&split_line(s)).unwrap_or_else(|e| panic!("{s}: {e}"))
}

#[test]
fn an_entry_keeps_where_each_option_was() {
    let en = entry("-a -t 10.0.1.100:80 -r 10.0.2.11:8080 -m -w3 --u-threshold=9");
    assert_eq!(en.cmd, Cmd::AddDest);
    assert_eq!((en.cmd_at, en.value_at(Opt::Service), en.value_at(Opt::Server)), (0, Some(2), Some(4)));
    assert_eq!(
        (en.option_at(Opt::Forward), en.value_at(Opt::Weight), en.value_at(Opt::UThreshold)),
        (Some(5), Some(6), Some(7))
    );
    assert_eq!((en.weight, en.upper, en.lower), (3, 9, 0));
    assert_eq!(en.value_at(Opt::LThreshold), None, "not given: the default, and no position");
    let en = entry("-A -t 10.0.1.100:80 -p");
    assert_eq!((en.persistence, en.value_at(Opt::Persistent)), (300, Some(3)), "-p without a value: at -p");
}

#[test]
fn what_xvs_does_not_do_is_read_then_refused_by_ctl() {
    // The grammar reads it all; the file reader warns (config/tests/ipvsadm_save.rs), ctl refuses.
    // A fwmark service is a service (its mark's traffic is defined by [[fwmark]] entries).
    let en = entry("-A -f 7 -6 -s rr -p");
    assert_eq!(en.target, Some(Target::Fwmark { mark: 7, ipv6: true }));
    assert_eq!(en.netmask, 128, "-6: an IPv6 mark");
    let Command::AddService(o) = p("-A -f 7 -6 -s rr -p").unwrap() else { panic!() };
    assert_eq!((o.id.fwmark, o.id.vip.addr.is_ipv6(), o.id.rule()), (Some(7), true, "-f 7 -6".to_string()));
    let en = entry("-A --sctp-service 10.0.1.100:80 -s rr --pe sip");
    assert_eq!(en.target.and_then(|t| t.service()).map(|s| s.protocol), Some(Protocol::Sctp));
    assert_eq!(en.notes, [Note { at: 5, kind: NoteKind::PersistenceEngine("sip".into()) }]);
    let Command::AddService(o) = p("-A --sctp-service 10.0.1.100:80").unwrap() else { panic!() };
    assert_eq!(o.id.rule(), "--sctp-service 10.0.1.100:80");
    assert_eq!(e("-A -t 10.0.1.100:80 --pe sip"), "xvs has no persistence engines (--pe) (argument 4: `--pe`)");
    // IPVS's tunnel types are read into the real (their rules are validation's).
    let Command::AddReal(o) =
        p("-a -t 10.0.1.100:80 -r 10.0.2.11 -i --tun-type gue --tun-port 6080 --tun-csum").unwrap()
    else {
        panic!()
    };
    assert_eq!(o.tunnel, Tunnel { kind: TunnelType::Gue, port: 6080, csum: TunnelCsum::Csum });
    assert!(entry("-a -t 10.0.1.100:80 -r 10.0.2.11 -i --tun-type gre").notes.is_empty());
    assert_eq!(
        e("-a -t 10.0.1.100:80 -r 10.0.2.11 --tun-type vxlan"),
        "illegal tunnel type specified (argument 7: `vxlan`)"
    );
    assert_eq!(e("-A -t 10.0.1.100:80 --pe"), "missing argument to `--pe' (argument 4: `--pe`)");
    assert!(e("-A -t 10.0.1.100:80 -6").starts_with("-6 used before -f"));
    assert!(e("-A -t 10.0.1.100:80 --syncid 1").starts_with("Illegal 'syncid' option with the 'add-service' command"));
    assert_eq!(e("-A -t 10.0.1.100:80 -a"), "multiple commands specified (argument 4: `-a`)");
}

#[test]
fn numbered_scheduler_flags_mean_what_they_mean_to_ipvsadm() {
    // ipvsadm: flag-1 / flag-2 are IP_VS_SVC_F_SCHED1 / 2, sh's and mh's fallback and port.
    let Command::AddService(o) = p("-A -t 10.0.1.100:80 -s sh -b flag-1,flag-2").unwrap() else { panic!() };
    assert!(o.flags.sh_fallback && o.flags.sh_port);
    let Command::AddService(o) = p("-A -t 10.0.1.100:80 -s mh -b flag-2").unwrap() else { panic!() };
    assert!(o.flags.mh_port && !o.flags.mh_fallback);
    // A flag that means nothing to the scheduler: a note, which ctl refuses.
    let en = entry("-A -t 10.0.1.100:80 -s wlc -b flag-1");
    assert_eq!(en.notes[0].kind, NoteKind::Flag { flag: "flag-1".into(), scheduler: "wlc".into() });
    assert_eq!(
        e("-A -t 10.0.1.100:80 -s sh -b flag-3"),
        "scheduler flag `flag-3' has no meaning for sh in xvs (argument 7: `flag-3`)"
    );
}

#[test]
fn the_ctl_checks_are_not_the_grammars() {
    // These lines read (a file reports them from validate.rs, at file:line:col) ...
    for line in [
        "-A -t 10.0.1.100:0 -s rr",
        "-A -t 10.0.1.100:80 --ops",
        "-A -t 10.0.1.100:80 -s fast",
        "-A -t 10.0.1.100:80 -s rr -b sh-port",
        "-a -t 10.0.1.100:80 -r 2001:db8::11 -g",
        "-a -t 10.0.1.100:80 -r 10.0.2.11 -m -x 10 -y 20",
    ] {
        let en = entry(line);
        // ... and ctl refuses them, as ipvsadm (or the kernel) does.
        assert!(en.into_command().is_err(), "{line}");
    }
}

#[test]
fn a_wrong_line_still_tells_what_it_is_about() {
    let args = split_line("-A -t 10.0.1.100:80 -M 255.0.255.0 -q");
    assert!(Entry::parse(&args).is_err());
    let (cmd, target) = Entry::scan(&args);
    assert_eq!((cmd, target.and_then(|t| t.service())), (Some(Cmd::Add), Some(svc("10.0.1.100:80"))));
    assert_eq!(Entry::scan(&split_line("-Q")), (None, None));
}

#[test]
fn usage_names_every_scheduler() {
    let line = USAGE.lines().find(|l| l.contains("--scheduler")).unwrap();
    assert!(line.contains(&xvs_sched::SCHEDULER_NAMES.join("|")), "{line}");
}

#[test]
fn sync_daemon_commands_as_ipvsadm_reads_them() {
    let Command::StartDaemon(o) = p("--start-daemon master --mcast-interface eth1").unwrap() else { panic!() };
    assert_eq!(o, DaemonOpts { role: DaemonRole::Master, interface: "eth1".into(), ..DaemonOpts::default() });
    let line = "--start-daemon backup --mcast-interface eth1 --syncid 7 --sync-maxlen 1400 \
                --mcast-group 224.0.0.99 --mcast-port 9000 --mcast-ttl 2";
    let Command::StartDaemon(o) = p(line).unwrap() else { panic!() };
    assert_eq!(
        o,
        DaemonOpts {
            role: DaemonRole::Backup,
            interface: "eth1".into(),
            syncid: 7,
            maxlen: Some(1400),
            group: Some("224.0.0.99".parse().unwrap()),
            port: Some(9000),
            ttl: Some(2),
        }
    );
    assert_eq!(p("--stop-daemon backup").unwrap(), Command::StopDaemon(DaemonRole::Backup));
    assert!(e("--start-daemon master").starts_with("You need to supply the 'mcast-interface' option"));
    assert!(e("--start-daemon primary --mcast-interface eth1").starts_with("illegal start-daemon parameter specified"));
    assert!(e("--start-daemon master --mcast-interface eth1 --syncid 256").starts_with("illegal syncid specified"));
    assert!(e("--start-daemon master --mcast-interface eth1 --mcast-group 10.0.0.1")
        .starts_with("illegal multicast group specified"));
    assert!(e("--stop-daemon master --syncid 1").starts_with("Illegal 'syncid' option with the 'stop-daemon' command"));
}
