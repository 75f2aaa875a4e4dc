//! The seed notes' deployment, with xvs in it: a keepalived master/backup pair of LVS-DR
//! directors (`vrrp_instance VI_1`, VRID 51, PASS 1111, VIP 192.168.20.50) where the
//! MASTER is `xvs run` reading the seed's own keepalived.conf (interface renamed, priority
//! raised to 150, as keepalived's manual advises different priorities) and the BACKUP is
//! the distribution's keepalived reading the seed's other file.
//!
//! What an operator would check: the VIP is on the master only and HTTP through it works;
//! stopping the master hands the VIP to keepalived at once (its ARP announcement moves the
//! client); starting it again takes the VIP back (xvs's own announcement moves the client
//! back) and HTTP works again; and `xvs ctl --vrrp` / `-L --json` show xvs as the MASTER.
//! Needs root, namespaces, AF_XDP and keepalived; it fails, never skips, without them.

mod common;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use xvs_lab::director::real_server_script;
use xvs_lab::http::try_get;
use xvs_lab::{Keepalived, Lab, Proc};

const VIP: &str = "192.168.20.50";
const REALS: [&str; 2] = ["192.168.20.233", "192.168.20.203"];

fn seed(file: &str) -> String {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../config/tests/data/keepalived").join(file);
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// The LAN of the seed notes: client, two directors and two DR reals on one bridge.
fn lan() -> Lab {
    let mut lab = Lab::new("vrrp-pair");
    lab.ns("sw").ns("cl").ns("xv").ns("ka").ns("r1").ns("r2");
    lab.run("sw", &["ip", "link", "add", "br0", "type", "bridge"]);
    lab.run("sw", &["ip", "link", "set", "br0", "up"]);
    let hosts = [("cl", "c0", "192.168.20.10"), ("xv", "d0", "192.168.20.2"), ("ka", "e0", "192.168.20.3")];
    let reals = [("r1", "e0", REALS[0]), ("r2", "e0", REALS[1])];
    for (i, (ns, dev, addr)) in hosts.iter().chain(reals.iter()).enumerate() {
        let port = format!("p{i}");
        lab.veth((ns, dev), ("sw", &port));
        lab.run("sw", &["ip", "link", "set", &port, "master", "br0"]);
        lab.run(ns, &["ip", "link", "set", "lo", "up"]);
        lab.addr(ns, dev, &format!("{addr}/24"));
    }
    for (ns, _, _) in reals {
        // LVS-DR reals: the VIP on lo, and no ARP answers for it.
        lab.run(ns, &["ip", "addr", "add", &format!("{VIP}/32"), "dev", "lo"]);
        lab.sysctl(ns, "net.ipv4.conf.all.arp_ignore", "1").sysctl(ns, "net.ipv4.conf.all.arp_announce", "2");
    }
    lab
}

fn has_vip(lab: &Lab, ns: &str, dev: &str) -> bool {
    lab.run(ns, &["ip", "-4", "addr", "show", "dev", dev]).contains(&format!("inet {VIP}/"))
}

fn wait(what: &str, timeout: Duration, mut ok: impl FnMut() -> bool, log: impl Fn() -> String) -> Duration {
    let t0 = Instant::now();
    while !ok() {
        assert!(t0.elapsed() < timeout, "{what}: not within {timeout:?}\n{}", log());
        std::thread::sleep(Duration::from_millis(20));
    }
    t0.elapsed()
}

/// The MAC the client has for the VIP (empty when none).
fn client_neigh(lab: &Lab) -> String {
    lab.run("cl", &["ip", "neigh", "show", VIP, "dev", "c0"])
}

fn http_ok(lab: &Lab) -> bool {
    let vip: SocketAddr = format!("{VIP}:80").parse().unwrap();
    lab.in_ns("cl", || try_get(vip, "/", None)).map(|r| r.head.status == 200).unwrap_or(false)
}

/// `xvs ctl -c SOCKET ARGS...`: its standard output (it must succeed).
fn ctl(dir: &std::path::Path, args: &[&str]) -> String {
    let sock = dir.join("xvs.sock");
    let out = std::process::Command::new(common::xvs())
        .arg("ctl")
        .arg("-c")
        .arg(&sock)
        .args(args)
        .output()
        .expect("running xvs ctl");
    assert!(out.status.success(), "xvs ctl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

/// What `xvs ctl` shows of the MASTER: its line, and the JSON listing's `vrrp` array.
fn assert_ctl_shows_master(dir: &std::path::Path) {
    let line = ctl(dir, &["--vrrp"]);
    assert!(line.starts_with("VI_1  MASTER  prio 150  master 192.168.20.2  since "), "{line}");
    assert_eq!(line.lines().count(), 1, "{line}");
    let v: serde_json::Value = serde_json::from_str(&ctl(dir, &["-L", "--json"])).unwrap();
    let i = &v["vrrp"][0];
    let names = (i["name"].as_str(), i["state"].as_str(), i["interface"].as_str());
    assert_eq!(names, (Some("VI_1"), Some("MASTER"), Some("d0")), "{i}");
    assert_eq!((&i["vrid"], &i["priority"], &i["virtual_addresses"][0]), (&51.into(), &150.into(), &VIP.into()));
    assert!(i["adverts_sent"].as_u64().unwrap() > 0 && i["last_transition"]["cause"].is_string(), "{i}");
    // No connection-sync daemon runs: ipvsadm prints nothing then.
    assert_eq!(ctl(dir, &["-L", "--daemon"]), "");
}

fn start_xvs(lab: &Lab, dir: &std::path::Path, conf: &std::path::Path) -> Proc {
    let sock = dir.join("xvs.sock").display().to_string();
    let conf = conf.display().to_string();
    let xvs = common::xvs().display().to_string();
    let mut p = lab.spawn("xv", &[&xvs, "run", "-c", &conf, "--control-socket", &sock, "--poll", "adaptive"]);
    p.wait_for_stderr("running:", Duration::from_secs(20));
    p
}

#[test]
fn xvs_master_keepalived_backup_failover_and_back() {
    let lab = lan();
    let dir = std::env::temp_dir().join(lab.name("files"));
    std::fs::create_dir_all(&dir).unwrap();
    let mut reals: Vec<Proc> = Vec::new();
    for (i, ns) in ["r1", "r2"].iter().enumerate() {
        let mut p = lab.spawn(ns, &["python3", "-u", "-c", &real_server_script(i + 1, 80, 53)]);
        p.wait_for_stdout("listening", Duration::from_secs(10));
        reals.push(p);
    }
    let master = seed("seed_master.conf").replace("eno16777736", "d0").replace("priority 100", "priority 150");
    let backup = seed("seed_backup.conf").replace("eno16777736", "e0");
    let conf = dir.join("keepalived-master.conf");
    std::fs::write(&conf, master).unwrap();
    let ka = Keepalived::start(&lab, "ka", &backup);
    let mut xvs = start_xvs(&lab, &dir, &conf);
    let xv_mac = format!("{:02x?}", lab.mac("xv", "d0")).replace(", ", ":").replace(['[', ']'], "");
    let ka_mac = format!("{:02x?}", lab.mac("ka", "e0")).replace(", ", ":").replace(['[', ']'], "");
    let logs = |xvs: &Proc| format!("--- xvs\n{}\n--- keepalived\n{}", xvs.stderr(), ka.log());

    // Both start as BACKUP; xvs's higher priority wins the first election.
    wait(
        "the VIP on xvs alone",
        Duration::from_secs(10),
        || has_vip(&lab, "xv", "d0") && !has_vip(&lab, "ka", "e0"),
        || logs(&xvs),
    );
    wait("HTTP through the VIP", Duration::from_secs(10), || http_ok(&lab), || logs(&xvs));
    assert!(client_neigh(&lab).contains(&xv_mac), "{}", client_neigh(&lab));
    assert!(xvs.stderr().contains("VRRP VI_1: BACKUP -> MASTER"), "{}", xvs.stderr());
    assert_ctl_shows_master(&dir);

    // A clean stop: xvs resigns (priority 0), keepalived takes over within its skew and
    // announces the VIP; xvs gave the address back.
    xvs.terminate(Duration::from_secs(10));
    let took = wait("keepalived holding the VIP", Duration::from_secs(2), || has_vip(&lab, "ka", "e0"), || logs(&xvs));
    assert!(!has_vip(&lab, "xv", "d0"), "xvs kept the VIP after its stop");
    wait(
        "the client's ARP entry on keepalived",
        Duration::from_secs(3),
        || client_neigh(&lab).contains(&ka_mac),
        || logs(&xvs),
    );
    eprintln!("takeover by keepalived after xvs's stop: {took:?}");

    // xvs again: it preempts (150 > 100) and its announcement moves the client back.
    let xvs = start_xvs(&lab, &dir, &conf);
    wait(
        "the VIP back on xvs alone",
        Duration::from_secs(10),
        || has_vip(&lab, "xv", "d0") && !has_vip(&lab, "ka", "e0"),
        || logs(&xvs),
    );
    wait(
        "the client's ARP entry on xvs",
        Duration::from_secs(3),
        || client_neigh(&lab).contains(&xv_mac),
        || logs(&xvs),
    );
    wait("HTTP through the VIP again", Duration::from_secs(10), || http_ok(&lab), || logs(&xvs));
    drop(xvs);
    drop(reals);
    let _ = std::fs::remove_dir_all(&dir);
}
