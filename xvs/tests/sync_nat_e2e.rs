//! LVS-NAT, two-armed, as a keepalived pair runs it: two xvs directors with a front
//! interface (the VIP, `VI_1`) and a back interface (the reals' gateway address, `VI_2`),
//! both instances in one `vrrp_sync_group` so they change state together, connection
//! sync on the front LAN (`lvs_sync_daemon IF VI_1`), wrr (not a hash: only sync keeps a
//! flow on its real). Clients come through a router, as on the internet.
//!
//! What must hold: the sync group keeps both addresses on one director (a lone MASTER of
//! one of them would cut the reals' replies off); a rate-limited 30 MB download through
//! the VIP survives the master going away, byte-exact, with no RST at the client: the
//! backup takes both addresses together and forwards the synced connection's requests to
//! its real and its replies (arriving at the gateway address) back to the client by the
//! route, before the client's MAC is known. Two ways to go: the whole host (both links
//! down), and `kill -9` of `xvs run`, after which no reply the reals still send to the
//! dead director may leave it untranslated (its kernel forwards, `ip_forward=1`): the
//! pinned steering program drops them, and the client sees no packet from a real's
//! address.
//! Needs root, namespaces and AF_XDP; it fails, never skips, without them.

mod common;

use std::time::{Duration, Instant};

use common::seed_pair::{wait, VIP};
use common::sync_pair::{ctl, pattern, real_script, start_xvs, stop_capture_after_fins, try_fetch, SIZE};
use xvs_lab::{Lab, Proc};

const GATEWAY: &str = "10.0.0.1";
const REALS: [&str; 2] = ["10.0.0.11", "10.0.0.12"];

/// One director's keepalived.conf: front `front`, back `back`, priority `prio`.
fn config(front: &str, back: &str, prio: u32, state: &str) -> String {
    format!(
        "global_defs {{\n    router_id LVS_{state}\n    lvs_sync_daemon {front} VI_1\n}}\n\
         vrrp_sync_group VG_1 {{\n    group {{\n        VI_1\n        VI_2\n    }}\n}}\n\
         vrrp_instance VI_1 {{\n    state {state}\n    interface {front}\n    virtual_router_id 51\n    \
         priority {prio}\n    advert_int 1\n    authentication {{\n        auth_type PASS\n        auth_pass 1111\n    }}\n    \
         virtual_ipaddress {{\n        {VIP}\n    }}\n}}\n\
         vrrp_instance VI_2 {{\n    state {state}\n    interface {back}\n    virtual_router_id 52\n    \
         priority {prio}\n    advert_int 1\n    virtual_ipaddress {{\n        {GATEWAY}/24\n    }}\n}}\n\
         virtual_server {VIP} 80 {{\n    lb_algo wrr\n    lb_kind NAT\n    protocol TCP\n    \
         real_server {} 80 {{\n        weight 1\n    }}\n    real_server {} 80 {{\n        weight 2\n    }}\n}}\n",
        REALS[0], REALS[1]
    )
}

/// Client — router — front LAN (two directors) — back LAN (two directors, two reals).
fn lab(name: &str) -> Lab {
    let mut lab = Lab::new(name);
    lab.ns("cl").ns("rt").ns("sw").ns("xv").ns("ka").ns("r1").ns("r2");
    lab.veth(("cl", "c0"), ("rt", "t0"));
    lab.addr("cl", "c0", "172.16.0.10/24").addr("rt", "t0", "172.16.0.1/24");
    lab.route("cl", "default via 172.16.0.1");
    for br in ["front", "back"] {
        lab.run("sw", &["ip", "link", "add", br, "type", "bridge"]);
        lab.run("sw", &["ip", "link", "set", br, "up"]);
    }
    let ports = [
        ("rt", "t1", "front", "192.168.20.1/24"),
        ("xv", "d0", "front", "192.168.20.2/24"),
        ("ka", "e0", "front", "192.168.20.3/24"),
        ("xv", "d1", "back", "10.0.0.2/24"),
        ("ka", "e1", "back", "10.0.0.3/24"),
        ("r1", "e0", "back", "10.0.0.11/24"),
        ("r2", "e0", "back", "10.0.0.12/24"),
    ];
    for (i, (ns, dev, br, addr)) in ports.iter().enumerate() {
        let port = format!("p{i}");
        lab.veth((ns, dev), ("sw", &port));
        lab.run("sw", &["ip", "link", "set", &port, "master", br]);
        lab.addr(ns, dev, addr);
    }
    for ns in ["cl", "rt", "xv", "ka", "r1", "r2"] {
        lab.run(ns, &["ip", "link", "set", "lo", "up"]);
    }
    lab.forwarding("rt").forwarding("xv").forwarding("ka");
    for ns in ["xv", "ka"] {
        lab.route(ns, "default via 192.168.20.1");
    }
    for ns in ["r1", "r2"] {
        lab.route(ns, &format!("default via {GATEWAY}"));
    }
    lab
}

fn has(lab: &Lab, ns: &str, dev: &str, addr: &str) -> bool {
    lab.run(ns, &["ip", "-4", "addr", "show", "dev", dev]).contains(&format!("inet {addr}/"))
}

/// How the master goes.
#[derive(Clone, Copy, Debug)]
enum Death {
    /// Both its links down; the process lives on, cut off.
    Host,
    /// `kill -9` of `xvs run`.
    Kill9,
}

#[test]
fn the_sync_group_moves_both_addresses_and_a_nat_download_survives_the_masters_host_going_away() {
    survives(Death::Host, "sync-nat-host");
}

#[test]
fn a_nat_download_survives_kill_9_of_the_master_and_no_reply_leaves_it_untranslated() {
    survives(Death::Kill9, "sync-nat-kill");
}

fn survives(death: Death, name: &str) {
    let lab = lab(name);
    let dir = std::env::temp_dir().join(lab.name("files"));
    std::fs::create_dir_all(&dir).unwrap();
    let mut reals: Vec<Proc> = Vec::new();
    for (ns, name) in [("r1", "r1"), ("r2", "r2")] {
        let mut p = lab.spawn(ns, &["python3", "-u", "-c", &real_script(name)]);
        p.wait_for_stdout("listening", Duration::from_secs(10));
        reals.push(p);
    }
    let backup = start_xvs(&lab, "ka", &dir, "b", &config("e0", "e1", 100, "BACKUP"));
    let master = start_xvs(&lab, "xv", &dir, "a", &config("d0", "d1", 150, "MASTER"));
    let logs = || format!("--- master\n{}\n--- backup\n{}", master.stderr(), backup.stderr());
    let on = |ns: &str, f: &str, b: &str| has(&lab, ns, f, VIP) && has(&lab, ns, b, GATEWAY);
    let both_on_master = || on("xv", "d0", "d1") && !has(&lab, "ka", "e0", VIP) && !has(&lab, "ka", "e1", GATEWAY);
    wait("both addresses on the master alone", Duration::from_secs(10), both_on_master, logs);
    let serves = || try_fetch(&lab, 80, "/id", Duration::from_secs(2)).is_ok();
    wait("HTTP through the VIP", Duration::from_secs(10), serves, logs);

    let cap = dir.join("rst.pcap").display().to_string();
    // FINs and RSTs, and anything from the reals' network (an untranslated reply).
    let filter = "tcp[tcpflags] & (tcp-rst|tcp-fin) != 0 or src net 10.0.0.0/24";
    let mut dumpcap = lab.spawn("cl", &["dumpcap", "-i", "c0", "-f", filter, "-w", &cap]);
    dumpcap.wait_for_stderr("Capturing on", Duration::from_secs(20));
    let t0 = Instant::now();
    let got = std::thread::scope(|s| {
        let dl = s.spawn(|| try_fetch(&lab, 80, "/big", Duration::from_secs(30)));
        std::thread::sleep(Duration::from_secs(3));
        let conns = ctl(&lab, "ka", &dir, "b", &["-L", "-c", "-n"]);
        assert!(conns.contains(&format!("{VIP}:80")) && conns.contains("ESTABLISHED"), "not synced:\n{conns}");
        match death {
            Death::Host => {
                lab.run("xv", &["ip", "link", "set", "d0", "down"]);
                lab.run("xv", &["ip", "link", "set", "d1", "down"]);
            }
            Death::Kill9 => master.signal(nix::sys::signal::Signal::SIGKILL),
        }
        eprintln!("{death:?} {:?} into the download", t0.elapsed());
        dl.join().expect("the download thread")
    });
    eprintln!("download ended {:?} after it started", t0.elapsed());
    let got = got.unwrap_or_else(|e| panic!("the download failed: {e}\n{}", logs()));
    assert!(got.len() == SIZE && got == pattern(), "not byte-exact ({} bytes)\n{}", got.len(), logs());
    assert!(on("ka", "e0", "e1"), "the backup does not hold both addresses\n{}", logs());
    stop_capture_after_fins(&lab, "cl", cap.as_str(), &mut dumpcap, logs);
    let fields = ["-e", "tcp.flags.fin", "-e", "tcp.flags.reset", "-e", "ip.src"];
    let mut args = vec!["tshark", "-r", cap.as_str(), "-T", "fields"];
    args.extend_from_slice(&fields);
    let flags = lab.run("cl", &args);
    let count =
        |col: usize| flags.lines().filter(|l| l.split('\t').nth(col).is_some_and(|v| v == "1" || v == "True")).count();
    assert!(count(0) >= 2, "the capture saw no FIN of the download, so it proves nothing:\n{flags}");
    assert_eq!(count(1), 0, "the client saw resets:\n{flags}");
    assert!(!flags.contains("\t10.0.0."), "an untranslated reply reached the client:\n{flags}");
    // The backup's log: both instances MASTER, the second one by the group.
    let b = backup.stderr();
    assert!(b.contains("VRRP sync group VG_1: MASTER"), "{b}");
    assert!(b.contains("(another member of its sync group changed state)"), "{b}");
    drop((master, backup, dumpcap, reals));
    let _ = std::fs::remove_dir_all(&dir);
}
