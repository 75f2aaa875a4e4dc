//! xvs's VRRP runtime (socket, protocol, addresses, announcements) with the
//! distribution's keepalived 2.2.7 as its peer, in two namespaces on one link: whoever is
//! MASTER, and only it, holds the virtual address; a clean stop of either side hands the
//! address over at once (priority 0), and the higher priority takes it back.
//! Needs root, network namespaces and keepalived (scripts/setup.sh installs it); it fails,
//! never skips, without them.

use std::net::IpAddr;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use xvs::scripts::{Script, ScriptPolicy};
use xvs::vrrp::group::GroupSpec;
use xvs::vrrp::runtime::{GarpPolicy, InstanceSpec, VirtualAddress, VrrpRuntime};
use xvs_lab::{Keepalived, Lab};
use xvs_vrrp::{InitialState, InstanceConfig, State, Version};

const VIP: &str = "192.168.20.50";

fn lab(test: &str) -> Lab {
    let mut lab = Lab::new(test);
    lab.ns("ka").ns("xv").veth(("ka", "e0"), ("xv", "e0"));
    lab.addr("ka", "e0", "10.20.0.1/24").addr("xv", "e0", "10.20.0.2/24");
    lab
}

/// keepalived's side: the seed notes' instance (VRID 51, PASS 1111) at `priority`.
fn keepalived_conf(state: &str, priority: u8, version: u8) -> String {
    let auth =
        if version == 2 { "    authentication {\n        auth_type PASS\n        auth_pass 1111\n    }\n" } else { "" };
    format!(
        "global_defs {{\n    vrrp_version {version}\n}}\n\
         vrrp_instance VI_1 {{\n    state {state}\n    interface e0\n    virtual_router_id 51\n    priority {priority}\n\
         \x20   advert_int 1\n{auth}    virtual_ipaddress {{\n        {VIP}/24\n    }}\n}}\n"
    )
}

fn xvs_spec(priority: u8, version: Version) -> InstanceSpec {
    let mut pass = [0u8; 8];
    pass[..4].copy_from_slice(b"1111");
    InstanceSpec {
        protocol: InstanceConfig {
            name: "VI_1".into(),
            vrid: 51,
            version,
            priority,
            advert_int_cs: 100,
            preempt: true,
            preempt_delay_ms: 0,
            initial: InitialState::Master,
            auth_pass: (version == Version::V2).then_some(pass),
            addresses: vec![VIP.parse().unwrap()],
            primary: "10.20.0.2".parse().unwrap(),
            unicast_peers: Vec::new(),
            strict: false,
            skip_check_adv_addr: false,
        },
        interface: "e0".into(),
        addresses: vec![VirtualAddress { addr: VIP.parse().unwrap(), prefix_len: 24, dev: None, label: None }],
        garp: GarpPolicy { delay: Duration::from_secs(5), repeat: 1, refresh: None },
        notify: Default::default(),
        tracking: Default::default(),
    }
}

fn has_vip(lab: &Lab, ns: &str) -> bool {
    lab.run(ns, &["ip", "-4", "addr", "show", "dev", "e0"]).contains(&format!("{VIP}/24"))
}

/// Wait until the VIP is on `owner` only; panics after `timeout`. Returns the time taken.
fn wait_owner(lab: &Lab, owner: &str, other: &str, timeout: Duration, ka: &Keepalived) -> Duration {
    let t0 = Instant::now();
    while !has_vip(lab, owner) || has_vip(lab, other) {
        assert!(t0.elapsed() < timeout, "the VIP is not on {owner} alone after {timeout:?}\nkeepalived:\n{}", ka.log());
        std::thread::sleep(Duration::from_millis(20));
    }
    t0.elapsed()
}

fn start_xvs(lab: &Lab, spec: InstanceSpec) -> (VrrpRuntime, mpsc::Receiver<xvs::vrrp::runtime::Transition>) {
    let (tx, rx) = mpsc::channel();
    let rt = lab.in_ns("xv", || VrrpRuntime::start(vec![spec], tx)).unwrap();
    (rt, rx)
}

/// The transitions reported since the last call, waiting up to 2 s until there are at
/// least `n`: the VIP can appear on (or leave) the device a moment before the runtime
/// reports the transition it belongs to, so a test that just saw the VIP move may be
/// ahead of the report.
fn states(rx: &mpsc::Receiver<xvs::vrrp::runtime::Transition>, n: usize) -> Vec<State> {
    let mut seen: Vec<State> = rx.try_iter().map(|t| t.to).collect();
    let deadline = Instant::now() + Duration::from_secs(2);
    while seen.len() < n {
        match rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
            Ok(t) => seen.push(t.to),
            Err(_) => break,
        }
    }
    seen.extend(rx.try_iter().map(|t| t.to));
    seen
}

#[test]
fn xvs_master_keepalived_backup_and_back_v2_pass() {
    let lab = lab("vrrp-ka-v2");
    let ka = Keepalived::start(&lab, "ka", &keepalived_conf("BACKUP", 100, 2));
    // keepalived's `notify` script: INSTANCE NAME STATE PRIORITY after its own arguments.
    let out = std::env::temp_dir().join(lab.name("notify"));
    let line = format!("/bin/sh -c 'echo $1 $2 $3 $4 >> {}' notify", out.display());
    let mut spec = xvs_spec(150, Version::V2);
    spec.notify.any = Some(Script::prepare(&line, &ScriptPolicy::default()).unwrap());
    let (rt, rx) = start_xvs(&lab, spec);
    // Both start as BACKUP; the higher priority's down timer runs out first.
    wait_owner(&lab, "xv", "ka", Duration::from_secs(8), &ka);
    assert_eq!(states(&rx, 2), [State::Backup, State::Master]);
    std::thread::sleep(Duration::from_secs(3)); // keepalived stays BACKUP while we advertise
    assert!(has_vip(&lab, "xv") && !has_vip(&lab, "ka"), "keepalived took the VIP:\n{}", ka.log());
    // A clean stop: priority 0, keepalived takes over after its skew (~0.6 s).
    drop(rt);
    let took = wait_owner(&lab, "ka", "xv", Duration::from_secs(2), &ka);
    assert!(took < Duration::from_secs(2), "{took:?}");
    let notified = std::fs::read_to_string(&out).unwrap_or_default();
    let _ = std::fs::remove_file(&out);
    assert_eq!(
        notified, "INSTANCE VI_1 BACKUP 150\nINSTANCE VI_1 MASTER 150\nINSTANCE VI_1 STOP 150\n",
        "notify ran for every state, in order"
    );
    // Back: the higher priority preempts after its down interval.
    let (_rt, rx) = start_xvs(&lab, xvs_spec(150, Version::V2));
    wait_owner(&lab, "xv", "ka", Duration::from_secs(8), &ka);
    assert_eq!(states(&rx, 2), [State::Backup, State::Master]);
}

#[test]
fn keepalived_master_xvs_backup_v3_takes_over_on_sigterm() {
    let lab = lab("vrrp-ka-v3");
    let ka = Keepalived::start(&lab, "ka", &keepalived_conf("MASTER", 150, 3));
    ka.wait_log("Entering MASTER STATE", Duration::from_secs(8));
    let (rt, rx) = start_xvs(&lab, xvs_spec(100, Version::V3));
    wait_owner(&lab, "ka", "xv", Duration::from_secs(2), &ka);
    std::thread::sleep(Duration::from_secs(4)); // longer than our down interval: we stay BACKUP
    assert!(has_vip(&lab, "ka") && !has_vip(&lab, "xv"));
    assert_eq!(states(&rx, 1), [State::Backup]);
    ka.signal(nix::sys::signal::Signal::SIGTERM);
    let took = wait_owner(&lab, "xv", "ka", Duration::from_secs(2), &ka);
    assert!(took < Duration::from_secs(2), "{took:?}");
    assert_eq!(states(&rx, 1), [State::Master]);
    let status = rt.status();
    assert_eq!((status[0].state, status[0].priority), (State::Master, 100));
    let _: Option<IpAddr> = status[0].master;
}

#[test]
fn ipv6_v3_xvs_master_keepalived_backup() {
    const VIP6: &str = "2001:db8:20::50";
    let mut lab = lab("vrrp-ka-v6");
    lab.addr("ka", "e0", "fe80::1/64").addr("xv", "e0", "fe80::2/64");
    let conf = format!(
        "global_defs {{\n    vrrp_version 3\n}}\nvrrp_instance VI_6 {{\n    state BACKUP\n    interface e0\n    \
         virtual_router_id 52\n    priority 100\n    advert_int 1\n    virtual_ipaddress {{\n        {VIP6}/64\n    }}\n}}\n"
    );
    let ka = Keepalived::start(&lab, "ka", &conf);
    let mut spec = xvs_spec(150, Version::V3);
    spec.protocol.name = "VI_6".into();
    spec.protocol.vrid = 52;
    spec.protocol.addresses = vec![VIP6.parse().unwrap()];
    spec.protocol.primary = "fe80::2".parse().unwrap();
    spec.addresses = vec![VirtualAddress { addr: VIP6.parse().unwrap(), prefix_len: 64, dev: None, label: None }];
    let (rt, rx) = start_xvs(&lab, spec);
    let has6 = |ns: &str| lab.run(ns, &["ip", "-6", "addr", "show", "dev", "e0"]).contains(&format!("{VIP6}/64"));
    let t0 = Instant::now();
    while !has6("xv") || has6("ka") {
        assert!(t0.elapsed() < Duration::from_secs(8), "the IPv6 VIP is not on xvs alone\nkeepalived:\n{}", ka.log());
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(states(&rx, 2), [State::Backup, State::Master]);
    // keepalived hears us (it stays BACKUP), and takes over when we resign.
    std::thread::sleep(Duration::from_secs(3));
    assert!(!has6("ka"), "keepalived took the VIP:\n{}", ka.log());
    drop(rt);
    let t0 = Instant::now();
    while !has6("ka") || has6("xv") {
        assert!(t0.elapsed() < Duration::from_secs(2), "keepalived did not take over\n{}", ka.log());
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn unicast_peers_v2_keepalived_master_xvs_backup() {
    let lab = lab("vrrp-ka-uni");
    let conf = format!(
        "vrrp_instance VI_1 {{\n    state MASTER\n    interface e0\n    virtual_router_id 51\n    priority 150\n    \
         advert_int 1\n    authentication {{\n        auth_type PASS\n        auth_pass 1111\n    }}\n    \
         unicast_src_ip 10.20.0.1\n    unicast_peer {{\n        10.20.0.2\n    }}\n    virtual_ipaddress {{\n        \
         {VIP}/24\n    }}\n}}\n"
    );
    let ka = Keepalived::start(&lab, "ka", &conf);
    ka.wait_log("Entering MASTER STATE", Duration::from_secs(8));
    let mut spec = xvs_spec(100, Version::V2);
    spec.protocol.unicast_peers = vec!["10.20.0.1".parse().unwrap()];
    let (_rt, rx) = start_xvs(&lab, spec);
    std::thread::sleep(Duration::from_secs(5)); // more than our down interval: keepalived's unicast adverts hold us
    assert!(has_vip(&lab, "ka") && !has_vip(&lab, "xv"), "xvs took the VIP:\n{}", ka.log());
    assert_eq!(states(&rx, 1), [State::Backup]);
    ka.signal(nix::sys::signal::Signal::SIGTERM);
    let took = wait_owner(&lab, "xv", "ka", Duration::from_secs(2), &ka);
    assert!(took < Duration::from_secs(2), "{took:?}");
}

#[test]
fn tracked_script_and_interface_move_the_master_as_keepalived_would() {
    use xvs::vrrp::track::{TrackedScript, Tracking};
    let mut lab = lab("vrrp-ka-track");
    // A second link of xvs's host to track (its peer end sits in the other namespace).
    lab.veth(("xv", "t0"), ("ka", "t1"));
    let ka = Keepalived::start(&lab, "ka", &keepalived_conf("BACKUP", 100, 2));
    // chk succeeds while FLAG exists; failing costs 60 (150 -> 90, below keepalived's 100).
    let flag = std::env::temp_dir().join(lab.name("flag"));
    std::fs::write(&flag, "").unwrap();
    let chk = TrackedScript {
        name: "chk".into(),
        script: Script::prepare(&format!("/bin/sh -c 'test -e {}'", flag.display()), &ScriptPolicy::default()).unwrap(),
        interval: Duration::from_millis(200),
        timeout: Duration::from_secs(1),
        rise: 1,
        fall: 1,
        init_fail: false,
    };
    let mut spec = xvs_spec(150, Version::V2);
    spec.tracking = Tracking { interfaces: vec![("t0".into(), 0)], scripts: vec![(0, -60)] };
    let (tx, rx) = mpsc::channel();
    let rt = lab.in_ns("xv", || VrrpRuntime::start_with(vec![spec], vec![chk], Vec::new(), tx, None)).unwrap();
    wait_owner(&lab, "xv", "ka", Duration::from_secs(8), &ka);
    // The script fails: priority 90, keepalived (100) preempts after its down interval.
    std::fs::remove_file(&flag).unwrap();
    wait_owner(&lab, "ka", "xv", Duration::from_secs(6), &ka);
    assert_eq!(rt.status()[0].priority, 90);
    // It succeeds again: 150 preempts back.
    std::fs::write(&flag, "").unwrap();
    wait_owner(&lab, "xv", "ka", Duration::from_secs(8), &ka);
    // The tracked interface goes down (weight 0): FAULT, the VIP goes, keepalived takes it.
    lab.run("xv", &["ip", "link", "set", "t0", "down"]);
    wait_owner(&lab, "ka", "xv", Duration::from_secs(6), &ka);
    assert_eq!(rt.status()[0].state, State::Fault);
    lab.run("xv", &["ip", "link", "set", "t0", "up"]);
    wait_owner(&lab, "xv", "ka", Duration::from_secs(8), &ka);
    // BACKUP, MASTER, FAULT, then (through BACKUP or not) MASTER again; the last report
    // may trail the VIP's move.
    let mut seen = states(&rx, 4);
    let deadline = Instant::now() + Duration::from_secs(2);
    while seen.last() != Some(&State::Master) && Instant::now() < deadline {
        seen.extend(states(&rx, 1));
    }
    assert!(seen.contains(&State::Fault) && seen.last() == Some(&State::Master), "{seen:?}");
    let _ = std::fs::remove_file(&flag);
}

/// A `vrrp_sync_group` of two instances on both sides, keepalived MASTER. When keepalived
/// dies (`kill -9`, no priority-0 advert), both of xvs's down timers run out within the
/// same millisecond: the adverts for both came back to back. keepalived's rule, which the
/// runtime keeps by settling one instance at a time, is that the first member to go
/// MASTER takes the other with it: one transition by its timer, the other by the group.
#[test]
fn a_sync_group_losing_its_master_goes_over_as_one_group() {
    let lab = lab("vrrp-ka-group");
    const VIP2: &str = "192.168.20.51";
    let instance = |name: &str, vrid: u8, vip: &str| {
        format!(
            "vrrp_instance {name} {{\n    state MASTER\n    interface e0\n    virtual_router_id {vrid}\n    priority 150\n\
             \x20   advert_int 1\n    authentication {{\n        auth_type PASS\n        auth_pass 1111\n    }}\n\
             \x20   virtual_ipaddress {{\n        {vip}/24\n    }}\n}}\n"
        )
    };
    let conf = format!(
        "vrrp_sync_group VG_1 {{\n    group {{\n        VI_1\n        VI_2\n    }}\n}}\n{}{}",
        instance("VI_1", 51, VIP),
        instance("VI_2", 52, VIP2)
    );
    let ka = Keepalived::start(&lab, "ka", &conf);
    ka.wait_log("Entering MASTER STATE", Duration::from_secs(8));
    let first = xvs_spec(100, Version::V2);
    let mut second = xvs_spec(100, Version::V2);
    second.protocol.name = "VI_2".into();
    second.protocol.vrid = 52;
    second.protocol.addresses = vec![VIP2.parse().unwrap()];
    second.addresses[0].addr = VIP2.parse().unwrap();
    let group = GroupSpec { name: "VG_1".into(), members: vec![0, 1], notify: Default::default() };
    let (tx, rx) = mpsc::channel();
    let rt =
        lab.in_ns("xv", || VrrpRuntime::start_with(vec![first, second], Vec::new(), vec![group], tx, None)).unwrap();
    // Longer than the down interval: both stay BACKUP while keepalived advertises.
    std::thread::sleep(Duration::from_secs(5));
    assert!(rt.status().iter().all(|s| s.state == State::Backup), "{:?}\n{}", rt.status(), ka.log());
    let _: Vec<_> = rx.try_iter().collect();
    ka.kill9();
    let mut to_master = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(6);
    while to_master.len() < 2 {
        match rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
            Ok(t) if t.to == State::Master => to_master.push((t.instance, t.cause)),
            Ok(_) => {}
            Err(_) => panic!("not both MASTER: {to_master:?} {:?}", rt.status()),
        }
    }
    let mut causes: Vec<&str> = to_master.iter().map(|t| t.1).collect();
    causes.sort_unstable();
    assert_eq!(
        causes,
        ["another member of its sync group changed state", "master down timer expired"],
        "{to_master:?}"
    );
    assert!(has_vip(&lab, "xv"), "VI_1's address is not on xvs");
}
