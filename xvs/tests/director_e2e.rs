//! The director end to end, forwarding: `xvs run` in a namespace lab (client `cl`,
//! one-armed director `dir`, reals `r0..r2` on one bridge) forwards real TCP and UDP
//! traffic in NAT, DR and TUN, over IPv4 and IPv6; NAT with two queues on the director's
//! interface; and the director's own services (a TCP service on its address, ping) keep
//! working while xvs runs.
//!
//! Every check is made with real sockets in the client namespace against the lab's Python
//! reals: HTTP requests (the answering real names itself), a 10 MB transfer compared byte
//! for byte, and UDP echo. Needs root, namespaces and AF_XDP: fails, never skips.
//! Schedulers, persistence and reloads are in `director_e2e_sched.rs`.

mod common;

use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::net::{IpAddr, SocketAddr, TcpListener};
use std::time::Duration;

use common::*;

const REALS: usize = 3;

/// HTTP, a 10 MB transfer and UDP echo to the VIP of the family `v6`, from the client.
fn basics(run: &Running, v6: bool) {
    let fam = if v6 { "IPv6" } else { "IPv4" };
    let (http, udp) = (vip_http(v6), vip_udp(v6));
    // HTTP: rr spreads six requests over the three reals, each naming itself.
    let answers: Vec<Response> = run.client(|| (0..6).map(|_| get(http, "/", None)).collect());
    let mut seen = BTreeSet::new();
    for r in &answers {
        assert_eq!(r.head.status, 200, "{fam}: {r:?}");
        let real = r.real();
        assert_eq!(r.body, format!("real {real}\n").as_bytes(), "{fam}: body of real {real}");
        seen.insert(real);
    }
    assert_eq!(seen.len(), REALS, "{fam}: HTTP answers came from {seen:?}\n{}", run.dump());

    // 10 MB, byte for byte.
    let big = run.client(|| get(http, &format!("/bytes/{BIG}"), None));
    assert_eq!(big.head.status, 200);
    assert_eq!(big.body.len(), BIG, "{fam}: transfer length");
    if big.body != pattern(BIG) {
        let at = big.body.iter().zip(pattern(BIG)).position(|(a, b)| *a != b).unwrap_or(0);
        panic!("{fam}: the 10 MB transfer differs from the pattern at byte {at}");
    }

    // UDP echo: one datagram per new source port; rr spreads them too.
    let echoes: Vec<(usize, String)> =
        run.client(|| (0..6).map(|k| udp_echo(udp, &format!("hello {fam} {k}"))).collect());
    let seen: BTreeSet<usize> = echoes.iter().map(|e| e.0).collect();
    assert_eq!(seen.len(), REALS, "{fam}: UDP echoes came from {seen:?}: {echoes:?}");
}

/// TUN with IPVS's other tunnel types: GUE (to the reals' GUE port, checksum off and on)
/// and GRE (without and with its checksum), decapsulated by the reals' `xvs decap`.
#[test]
fn tun_gue_and_gre() {
    for (test, extra) in [
        ("e2e_gue", format!("tunnel = \"gue\"\ntun_port = {GUE_PORT}\n")),
        ("e2e_guec", format!("tunnel = \"gue\"\ntun_port = {GUE_PORT}\ntun_flags = \"csum\"\n")),
        ("e2e_gre", "tunnel = \"gre\"\n".to_string()),
        ("e2e_grec", "tunnel = \"gre\"\ntun_flags = \"csum\"\n".to_string()),
    ] {
        let run = Running::start(test, LabMode::Tun, REALS, 1, |lab| lab.config("rr", None, &extra));
        for v6 in [false, true] {
            basics(&run, v6);
        }
    }
}

/// NAT, DR and TUN, a lab each: the basics over IPv4, then over IPv6.
#[test]
fn every_mode_http_bulk_udp() {
    for (test, mode) in [("e2e_nat", LabMode::Nat), ("e2e_dr", LabMode::Dr), ("e2e_tun", LabMode::Tun)] {
        let run = Running::start(test, mode, REALS, 1, |lab| lab.config("rr", None, ""));
        for v6 in [false, true] {
            basics(&run, v6);
        }
    }
}

/// Per-queue XDP packet counters of the director's veth (`ethtool -S`): rx queue -> count.
fn xdp_rx_per_queue(lab: &DirectorLab) -> Vec<(u32, u64)> {
    let out = must(lab, "dir", &["ethtool", "-S", DIRECTOR_DEV], Duration::from_secs(5));
    let mut v = Vec::new();
    for line in out.lines() {
        let line = line.trim();
        // veth names them rx_queue_<q>_xdp_packets.
        let Some(rest) = line.strip_prefix("rx_queue_") else { continue };
        let Some((q, tail)) = rest.split_once('_') else { continue };
        let Some(n) = tail.strip_prefix("xdp_packets:") else { continue };
        if let (Ok(q), Ok(n)) = (q.parse(), n.trim().parse()) {
            v.push((q, n));
        }
    }
    v
}

#[test]
fn nat_two_queues() {
    let run = Running::start("e2e_nat_2q", LabMode::Nat, REALS, 2, |lab| lab.config("rr", None, ""));
    let log = run.director().stderr();
    for q in 0..2 {
        assert!(log.contains(&format!("{DIRECTOR_DEV} queue {q}: ")), "no AF_XDP socket on queue {q}:\n{log}");
    }
    for v6 in [false, true] {
        basics(&run, v6);
        // Many flows: veth spreads them over both RX queues (and so over two poll cores);
        // every reply must still meet its connection, and rr still share evenly (within
        // 5% of each share: each poll core may run its own rr).
        let conns = run.client(|| spread(vip_http(v6), 600, 4, &[]));
        assert_shares(&per_real(&conns, REALS), &[1; REALS], 0.05);
    }
    let per_queue = xdp_rx_per_queue(&run.lab);
    eprintln!("XDP packets per RX queue: {per_queue:?}");
    assert!(
        per_queue.len() == 2 && per_queue.iter().all(|&(_, n)| n > 0),
        "XDP packets per RX queue of {DIRECTOR_DEV}: {per_queue:?}: the test did not use both queues"
    );
}

/// An echo server on the director's own address (its "SSH"): accepts `n` connections.
fn echo_server(listener: TcpListener, n: usize) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        for _ in 0..n {
            let (mut s, _) = listener.accept().expect("accept");
            s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            let mut buf = [0u8; 256];
            let k = s.read(&mut buf).expect("read");
            s.write_all(&buf[..k]).expect("write");
        }
    })
}

#[test]
fn director_own_services_work_while_xvs_runs() {
    let mut run = Running::start("e2e_own", LabMode::Nat, REALS, 1, |lab| lab.config("rr", None, ""));
    // A TCP service on the director itself, dual-stack, port 2222.
    let listener = run.lab.lab.in_ns("dir", || TcpListener::bind("[::]:2222").expect("bind [::]:2222"));
    let server = echo_server(listener, 2);
    // VIP traffic before and after, so xvs is busy on the same interface.
    run.client(|| get(vip_http(false), "/", None));
    for ip in [IpAddr::V4(DIRECTOR4), IpAddr::V6(DIRECTOR6)] {
        let addr = SocketAddr::new(ip, 2222);
        let reply = run.client(|| {
            let mut s = connect(addr, None).unwrap_or_else(|e| panic!("connect {addr}: {e}"));
            s.write_all(b"SSH-2.0-test\r\n").unwrap();
            let mut buf = [0u8; 64];
            let k = s.read(&mut buf).unwrap_or_else(|e| panic!("read from {addr}: {e}"));
            buf[..k].to_vec()
        });
        assert_eq!(reply, b"SSH-2.0-test\r\n", "echo from the director's own service at {addr}");
    }
    server.join().expect("echo server");
    for target in [DIRECTOR4.to_string(), DIRECTOR6.to_string()] {
        let mut cmd = vec!["ping", "-c", "3", "-i", "0.2", "-W", "2"];
        if target.contains(':') {
            cmd.push("-6");
        }
        cmd.push(&target);
        let out = must(&run.lab, "cl", &cmd, Duration::from_secs(10));
        assert!(out.contains("3 received"), "ping {target}:\n{out}");
    }
    run.client(|| get(vip_http(true), "/", None));
    run.assert_alive();
}

/// TUN across families (IPVS's mixed-family tunnels): the IPv4 VIP's reals are reached
/// over IPv6 (IPv4 in IPv6) and the IPv6 VIP's over IPv4 (IPv6 in IPv4); the reals'
/// `xvs decap` takes either and they answer the client directly.
#[test]
fn tun_across_families() {
    let run = Running::start("e2e_tunx", LabMode::Tun, REALS, 1, |lab| {
        let text = lab.config("rr", None, "");
        let mut out = String::new();
        let mut v6_service = false;
        for line in text.lines() {
            if let Some(vip) = line.strip_prefix("vip = \"") {
                v6_service = vip.starts_with('[');
            }
            let swapped = (0..REALS).find_map(|i| {
                let (v4, v6) = real_addrs(i);
                let (from, to) = if v6_service {
                    (format!("[{v6}]:"), format!("{v4}:"))
                } else {
                    (format!("{v4}:"), format!("[{v6}]:"))
                };
                line.contains(&format!("addr = \"{from}")).then(|| line.replace(&from, &to))
            });
            out.push_str(&swapped.unwrap_or_else(|| line.to_string()));
            out.push('\n');
        }
        assert!(out.contains("addr = \"[2001:db8:2::b]:80\"") && out.contains("addr = \"10.0.2.11:80\""), "{out}");
        out
    });
    for v6 in [false, true] {
        basics(&run, v6);
    }
}
