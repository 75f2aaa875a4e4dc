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
//! Then the roles reversed: keepalived the MASTER (the seed's master file, priority 150),
//! xvs the BACKUP (the seed's backup file); SIGTERM of keepalived and xvs serves HTTP
//! through the VIP within 2 s.
//! Needs root, namespaces, AF_XDP and keepalived; it fails, never skips, without them.

mod common;

use std::time::Duration;

use common::seed_pair::{client_neigh, has_vip, http_ok, lan, seed, start_reals, start_xvs, wait, SeedPair, VIP};
use xvs_lab::{Keepalived, Proc};

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

#[test]
fn xvs_master_keepalived_backup_failover_and_back() {
    let (pair, mut xvs) = SeedPair::start(lan("vrrp-pair"));
    let SeedPair { lab, dir, xv_mac, ka_mac, .. } = &pair;
    let logs = |xvs: &Proc| pair.logs(xvs);

    // Both start as BACKUP; xvs's higher priority wins the first election.
    pair.wait_vip_on_xvs_alone("the VIP on xvs alone", &xvs);
    pair.wait_http("HTTP through the VIP", &xvs);
    assert!(client_neigh(lab).contains(xv_mac), "{}", client_neigh(lab));
    assert!(xvs.stderr().contains("VRRP VI_1: BACKUP -> MASTER"), "{}", xvs.stderr());
    assert_ctl_shows_master(dir);

    // A clean stop: xvs resigns (priority 0), keepalived takes over within its skew and
    // announces the VIP; xvs gave the address back.
    xvs.terminate(Duration::from_secs(10));
    let took = wait("keepalived holding the VIP", Duration::from_secs(2), || has_vip(lab, "ka", "e0"), || logs(&xvs));
    assert!(!has_vip(lab, "xv", "d0"), "xvs kept the VIP after its stop");
    wait(
        "the client's ARP entry on keepalived",
        Duration::from_secs(3),
        || client_neigh(lab).contains(ka_mac),
        || logs(&xvs),
    );
    eprintln!("takeover by keepalived after xvs's stop: {took:?}");

    // xvs again: it preempts (150 > 100) and its announcement moves the client back.
    let xvs = pair.restart_xvs();
    pair.wait_vip_on_xvs_alone("the VIP back on xvs alone", &xvs);
    wait("the client's ARP entry on xvs", Duration::from_secs(3), || client_neigh(lab).contains(xv_mac), || logs(&xvs));
    pair.wait_http("HTTP through the VIP again", &xvs);
    drop(xvs);
    pair.finish();
}

#[test]
fn keepalived_master_xvs_backup_and_xvs_serves_within_2_s_of_its_sigterm() {
    let lab = lan("vrrp-pair-rev");
    let dir = std::env::temp_dir().join(lab.name("files"));
    std::fs::create_dir_all(&dir).unwrap();
    let reals = start_reals(&lab);
    let master = seed("seed_master.conf").replace("eno16777736", "e0").replace("priority 100", "priority 150");
    let backup = seed("seed_backup.conf").replace("eno16777736", "d0");
    let conf = dir.join("keepalived-backup.conf");
    std::fs::write(&conf, backup).unwrap();
    let ka = Keepalived::start(&lab, "ka", &master);
    let xvs = start_xvs(&lab, common::xvs(), &dir, &conf);
    let logs = || format!("--- xvs\n{}\n--- keepalived\n{}", xvs.stderr(), ka.log());
    let on_ka = || has_vip(&lab, "ka", "e0") && !has_vip(&lab, "xv", "d0");
    wait("the VIP on keepalived alone", Duration::from_secs(10), on_ka, logs);
    ka.signal(nix::sys::signal::Signal::SIGTERM);
    let took = wait("xvs serving HTTP through the VIP", Duration::from_secs(2), || http_ok(&lab), logs);
    assert!(has_vip(&lab, "xv", "d0") && !has_vip(&lab, "ka", "e0"), "{}", logs());
    eprintln!("xvs served {took:?} after keepalived's SIGTERM");
    drop((xvs, ka, reals));
    let _ = std::fs::remove_dir_all(&dir);
}
