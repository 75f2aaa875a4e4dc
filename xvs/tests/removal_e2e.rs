//! Removing services live (issue "Hardening", items 5 and 9), through `xvs run` in a
//! namespace lab with real TCP connections:
//! - a reload that removes the TCP services keeps their established connections (an idle
//!   keep-alive connection answers, a 10 MB transfer read across the reload arrives byte
//!   for byte), and a new connection to the removed service times out: the kernel never
//!   sees it, so it never answers with a reset; `xvs ctl -D` behaves the same;
//! - the VIP of a removed service leaves the device once the service has drained, and the
//!   state file forgets it; a VIP still used stays;
//! - a service's `deny` list keeps a source's new connections out;
//! - after `kill -9` the watchdog removes the VIPs the run added.
//!
//! Needs root, namespaces and AF_XDP: fails, never skips.

mod common;

use std::io::ErrorKind;
use std::net::{SocketAddr, TcpStream};
use std::process::Command;
use std::time::{Duration, Instant};

use common::*;

/// A second VIP with one service and no traffic: it must go when its service goes.
const EXTRA_VIP: &str = "10.0.1.200";

fn with_extra_vip(lab: &DirectorLab) -> String {
    let (real, _) = real_addrs(0);
    format!(
        "{}[[service]]\nvip = \"{EXTRA_VIP}:80\"\nprotocol = \"tcp\"\nforward = \"nat\"\n  [[service.real]]\n  addr = \"{real}:{}\"\n\n",
        lab.config("rr", None, ""),
        lab.real_http_port()
    )
}

/// `cfg` without its TCP services.
fn without_tcp(cfg: &str) -> String {
    let mut parts = cfg.split("[[service]]\n");
    let mut out = parts.next().unwrap_or_default().to_string();
    for p in parts.filter(|p| !p.contains("protocol = \"tcp\"")) {
        out.push_str("[[service]]\n");
        out.push_str(p);
    }
    out
}

fn lo_addrs(run: &Running) -> String {
    run.lab.lab.run("dir", &["ip", "-o", "addr", "show", "dev", "lo"])
}

fn state_file(run: &Running) -> String {
    std::fs::read_to_string(run.lab.dir().join("xvs.sock.state")).unwrap_or_default()
}

fn wait_for(what: &str, limit: Duration, run: &Running, mut ok: impl FnMut() -> bool) {
    let t = Instant::now();
    while !ok() {
        assert!(t.elapsed() < limit, "{what}: not within {limit:?}\n{}", run.dump());
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A new connection to `vip`: it must time out (no reset from the director's kernel).
fn assert_no_reset(run: &Running, vip: SocketAddr, when: &str) {
    let r = run.client(|| TcpStream::connect_timeout(&vip, Duration::from_secs(2)).map(drop).map_err(|e| e.kind()));
    assert_eq!(r, Err(ErrorKind::TimedOut), "a new connection {when}\n{}", run.dump());
}

fn ctl(run: &Running, args: &[&str]) {
    let sock = run.lab.dir().join("xvs.sock");
    let o = Command::new(xvs()).arg("ctl").arg("-c").arg(&sock).args(args).output().expect("xvs ctl");
    assert!(o.status.success(), "xvs ctl {args:?}: {}", String::from_utf8_lossy(&o.stderr));
}

#[test]
fn removed_services_keep_connections_reset_nothing_and_leave_no_vip() {
    let mut run = Running::start("e2e_removal", LabMode::Nat, 2, 1, with_extra_vip);
    let base = with_extra_vip(&run.lab);
    let vip = vip_http(false);
    assert!(lo_addrs(&run).contains(EXTRA_VIP), "{}", lo_addrs(&run));
    assert!(state_file(&run).contains(&format!(" {EXTRA_VIP} 32")), "the state file:\n{}", state_file(&run));

    // Established: an idle keep-alive connection, and a transfer read half-way.
    let (mut idle, mut bulk) = run.client(|| {
        let mut idle = KeepAlive::open(vip);
        assert_eq!(idle.request("/").head.status, 200);
        let mut bulk = KeepAlive::open(vip);
        bulk.send(&format!("/bytes/{BIG}"));
        assert_eq!(bulk.head().status, 200);
        (idle, bulk)
    });
    let mut all = bulk.body(BIG / 2);

    // Reload without the TCP services (and without the extra VIP's).
    run.reload(&without_tcp(&base));
    assert_no_reset(&run, vip, "to a service removed by a reload");
    let again = idle.try_request("/").unwrap_or_else(|e| panic!("the idle connection after the reload: {e}"));
    assert_eq!(again.head.status, 200);
    all.extend(bulk.try_body(BIG - BIG / 2).unwrap_or_else(|e| panic!("the transfer after the reload: {e}")));
    assert!(all == pattern(BIG), "the transfer across the reload differs");
    // The unused VIP goes (its service had nothing to drain); the VIP of the UDP service
    // stays.
    wait_for("the extra VIP removed", Duration::from_secs(5), &run, || !lo_addrs(&run).contains(EXTRA_VIP));
    assert!(!state_file(&run).contains(&format!(" {EXTRA_VIP} 32")), "the state file:\n{}", state_file(&run));
    assert!(lo_addrs(&run).contains(&VIP4.to_string()));
    drop((idle, bulk));

    // The same through `xvs ctl -D`.
    run.reload(&base);
    wait_for("the extra VIP back", Duration::from_secs(5), &run, || lo_addrs(&run).contains(EXTRA_VIP));
    let mut k = run.client(|| {
        let mut k = KeepAlive::open(vip);
        assert_eq!(k.request("/").head.status, 200);
        k
    });
    ctl(&run, &["-D", "-t", &vip.to_string()]);
    assert_no_reset(&run, vip, "to a service removed by ctl -D");
    assert_eq!(k.try_request("/").map(|r| r.head.status).unwrap_or_else(|e| panic!("after ctl -D: {e}")), 200);
    ctl(&run, &["-D", "-t", &format!("{EXTRA_VIP}:80")]);
    wait_for("the extra VIP removed by ctl -D", Duration::from_secs(5), &run, || !lo_addrs(&run).contains(EXTRA_VIP));
    run.assert_alive();

    // `deny` on the client's address: its new connections are dropped on the packet path
    // (the host firewall no longer sees them); without it they work again.
    let denied = base.replace("protocol = \"tcp\"\n", "protocol = \"tcp\"\ndeny = [\"10.0.0.2\", \"2001:db8::2\"]\n");
    run.reload(&denied);
    assert_no_reset(&run, vip, "from a denied source");
    run.reload(&base);
    assert_eq!(run.client(|| get(vip, "/", None)).head.status, 200, "allowed again");
    run.assert_alive();

    // kill -9: the watchdog removes the VIPs this run added.
    run.director().signal(nix::sys::signal::Signal::SIGKILL);
    wait_for("the VIPs removed after kill -9", Duration::from_secs(5), &run, || {
        !lo_addrs(&run).contains(&VIP4.to_string())
    });
}
