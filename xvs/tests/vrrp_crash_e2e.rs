//! Death must not hurt the survivor: the seed pair (xvs MASTER reading the seed's
//! keepalived.conf, priority raised to 150; the distribution's keepalived BACKUP), with the
//! directors' `ip_forward=1`, and `kill -9` of `xvs run`.
//!
//! What must hold: within a second the dead master's host no longer has the VIP (its
//! watchdog removed it) while keepalived takes it over within 3 × advert_int + skew; a SYN
//! to the VIP that still reaches the dead director (a client with a static neighbour entry
//! for its MAC) gets no reset: the pinned steering program is still attached and drops it
//! (the kernel would forward it to keepalived's host, which answers with RST, as a control
//! shows); a new `xvs run` on the same control socket stops the old watchdog, removes its
//! pins, takes the VIP back and serves HTTP; its clean stop leaves no process, no address
//! and no XDP program behind.
//! Needs root, namespaces, AF_XDP and keepalived; it fails, never skips, without them.

mod common;

use std::io::ErrorKind;
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use common::seed_pair::{client_neigh, has_vip, lan, wait, SeedPair, VIP};
use xvs_lab::{Lab, Proc};

/// A TCP connect from the client to VIP:80: Ok, or the error's kind.
fn connect_from_client(lab: &Lab) -> Result<(), ErrorKind> {
    let vip: SocketAddr = format!("{VIP}:80").parse().unwrap();
    lab.in_ns("cl", || TcpStream::connect_timeout(&vip, Duration::from_secs(2)).map(drop).map_err(|e| e.kind()))
}

/// Whether an XDP program is attached to `d0` in `xv`.
fn xdp_attached(lab: &Lab) -> bool {
    lab.run("xv", &["ip", "link", "show", "dev", "d0"]).contains("xdp")
}

#[test]
fn kill_9_of_the_xvs_master_hands_over_cleanly() {
    let mut lab = lan("vrrp-crash");
    lab.forwarding("xv").forwarding("ka");
    let (pair, mut old) = SeedPair::start(lab);
    let SeedPair { lab, dir, xv_mac, ka_mac, .. } = &pair;
    let logs = |xvs: &Proc| pair.logs(xvs);

    pair.wait_vip_on_xvs_alone("the VIP on xvs alone", &old);
    pair.wait_http("HTTP through the VIP", &old);
    let state = std::fs::read_to_string(dir.join("xvs.sock.state")).unwrap();
    assert!(state.contains(&format!(" {VIP} 32")), "the state file does not record the VIP:\n{state}");

    // kill -9: the watchdog removes the VIP at once; keepalived takes over on its own
    // timeout (3 × advert_int 1 s + skew (256 - 100) / 256 s), announcing the VIP.
    old.signal(nix::sys::signal::Signal::SIGKILL);
    let t0 = Instant::now();
    let gone = wait(
        "the VIP gone from the dead xvs's host",
        Duration::from_secs(1),
        || !has_vip(lab, "xv", "d0"),
        || logs(&old),
    );
    wait("keepalived holding the VIP", Duration::from_millis(4500), || has_vip(lab, "ka", "e0"), || logs(&old));
    let took = t0.elapsed();
    eprintln!("after kill -9: VIP removed by the watchdog in {gone:?}, held by keepalived after {took:?}");
    assert!(old.try_status().is_some(), "xvs run survived SIGKILL");
    wait(
        "the watchdog's report",
        Duration::from_secs(1),
        || old.stderr().contains(&format!("xvs watchdog: removed {VIP}/32 from d0")),
        || logs(&old),
    );
    for line in old.stderr().lines().filter(|l| l.starts_with("xvs watchdog:")) {
        eprintln!("  {line}");
    }
    assert!(xdp_attached(lab), "the steering program was detached when xvs died");
    wait(
        "the client's ARP entry on keepalived",
        Duration::from_secs(3),
        || client_neigh(lab).contains(ka_mac),
        || logs(&old),
    );

    // Control: through keepalived's host the kernel answers (no IPVS here): a reset.
    assert_eq!(connect_from_client(lab), Err(ErrorKind::ConnectionRefused));
    // A SYN that still reaches the dead director is dropped there: no reset, no answer.
    lab.run("cl", &["ip", "neigh", "replace", VIP, "lladdr", xv_mac, "dev", "c0", "nud", "permanent"]);
    let r = connect_from_client(lab);
    lab.run("cl", &["ip", "neigh", "del", VIP, "dev", "c0"]);
    assert_eq!(r, Err(ErrorKind::TimedOut), "a SYN to the VIP at the dead director was answered\n{}", logs(&old));

    // xvs again on the same control socket: it stops the old watchdog, removes its pins,
    // joins as BACKUP, preempts and serves.
    let mut new = pair.restart_xvs();
    assert!(new.stderr().contains("an earlier run's watchdog"), "{}", new.stderr());
    wait(
        "the old watchdog gone",
        Duration::from_secs(2),
        || old.stderr().contains("xvs watchdog: stopped"),
        || logs(&old),
    );
    pair.wait_vip_on_xvs_alone("the VIP back on xvs alone", &new);
    pair.wait_http("HTTP through the VIP again", &new);

    // A clean stop leaves nothing: no watchdog, no address, no program, no state file.
    assert!(new.terminate(Duration::from_secs(10)).success(), "{}", new.dump());
    assert!(!new.stderr().contains("xvs watchdog:"), "the watchdog spoke on a clean stop:\n{}", new.stderr());
    assert!(!has_vip(lab, "xv", "d0"));
    wait("the steering program detached", Duration::from_secs(1), || !xdp_attached(lab), || logs(&new));
    let left = lab.run("sw", &["ip", "netns", "pids", &lab.name("xv")]);
    assert!(left.trim().is_empty(), "processes left in the director's namespace: {left}");
    assert!(!dir.join("xvs.sock.state").exists());
    drop((old, new));
    pair.finish();
}
