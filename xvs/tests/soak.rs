//! The soak: minutes of mixed traffic through `xvs run` in a NAT namespace lab (HTTP over
//! IPv4 and IPv6 from four client threads, UDP echoes, and a SYN flood from spoofed
//! sources in bursts), with a reload every 30 s (a real removed, then back) and a real
//! quiesced and restored by `xvs ctl` in between. Run by `scripts/soak.sh` (default 10
//! minutes, `SOAK_MINUTES`), not by the gate.
//!
//! It passes when: client requests fail at most 0.1 % of the time; the director's RSS in
//! the second half stays within 10 % (or 16 MiB) of its level after the first quarter; once
//! traffic stops, the connection table drains back to empty; every frame is accounted for
//! (`rx == tx + passed + dropped` from the metrics); and traffic flows afterwards (no frame
//! stuck in a ring). The figures are printed for the record.

mod common;

use std::net::{IpAddr, Ipv4Addr, SocketAddr, SocketAddrV4, UdpSocket};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use common::*;

const METRICS: &str = "127.0.0.1:9477";

/// The lab's config with metrics, a short UDP timeout (so the table drains in minutes)
/// and `weights`.
fn config(lab: &DirectorLab, weights: &[u32]) -> String {
    lab.config("wlc", Some(weights), "").replacen("[director]\n", &format!("[director]\nmetrics = \"{METRICS}\"\n"), 1)
        + "[timeouts]\nudp = 20\n"
}

/// One metric's value (the sum over its samples).
fn metric(text: &str, name: &str) -> u64 {
    text.lines()
        .filter(|l| l.starts_with(name) && l[name.len()..].starts_with([' ', '{']))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum::<f64>() as u64
}

fn scrape(run: &Running) -> String {
    let addr: SocketAddr = METRICS.parse().unwrap();
    run.lab.lab.in_ns("dir", || xvs_lab::http::http_get(addr, "/metrics")).unwrap_or_default()
}

fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("VmRSS:"))?.split_whitespace().nth(1)?.parse().ok())
        .unwrap_or(0)
}

/// One UDP echo, no retry: whether it came back.
fn udp_once(dst: SocketAddr) -> bool {
    let bind: SocketAddr = if dst.is_ipv4() { "0.0.0.0:0".parse().unwrap() } else { "[::]:0".parse().unwrap() };
    let Ok(s) = UdpSocket::bind(bind) else { return false };
    let _ = s.set_read_timeout(Some(Duration::from_secs(1)));
    let mut buf = [0u8; 512];
    s.connect(dst).is_ok() && s.send(b"soak").is_ok() && s.recv(&mut buf).is_ok()
}

/// `n` TCP SYNs to `vip` from random sources in 198.18.0.0/15, through a raw socket.
fn syn_burst(vip: Ipv4Addr, n: u32, seed: &mut u64) -> u32 {
    use socket2::{Domain, Protocol, Socket, Type};
    let Ok(s) = Socket::new(Domain::IPV4, Type::RAW, Some(Protocol::from(255))) else { return 0 };
    let mut sent = 0;
    for _ in 0..n {
        *seed ^= *seed << 13;
        *seed ^= *seed >> 7;
        *seed ^= *seed << 17;
        let src = Ipv4Addr::from(0xc612_0000u32 | (*seed as u32 & 0x1_ffff));
        let mut pkt = Vec::with_capacity(40);
        etherparse::PacketBuilder::ipv4(src.octets(), vip.octets(), 64)
            .tcp((*seed >> 20) as u16 | 1024, 80, *seed as u32, 65535)
            .syn()
            .write(&mut pkt, &[])
            .unwrap();
        let dst = socket2::SockAddr::from(SocketAddrV4::new(vip, 0));
        if s.send_to(&pkt, &dst).is_ok() {
            sent += 1;
        }
    }
    sent
}

#[derive(Default)]
struct Tally {
    http_ok: AtomicU64,
    http_failed: AtomicU64,
    udp_ok: AtomicU64,
    udp_lost: AtomicU64,
    syns: AtomicU64,
}

#[test]
#[ignore = "minutes long: run by scripts/soak.sh"]
fn soak() {
    let minutes: u64 = std::env::var("SOAK_MINUTES").ok().and_then(|m| m.parse().ok()).unwrap_or(10);
    let length = Duration::from_secs(minutes * 60);
    let mut run = Running::start("soak", LabMode::Nat, 3, 1, |lab| config(lab, &[1, 1, 1]));
    let pid = run.director().pid();
    let tally = Tally::default();
    let stop = AtomicBool::new(false);
    let mut samples: Vec<(Duration, u64, u64)> = Vec::new(); // (time, RSS KiB, table entries)
    let t0 = Instant::now();
    run.lab.lab.in_ns("cl", || {
        std::thread::scope(|s| {
            for k in 0..4 {
                let (tally, stop) = (&tally, &stop);
                s.spawn(move || {
                    while !stop.load(Ordering::Relaxed) {
                        match try_get(vip_http(k % 2 == 1), "/", None) {
                            Ok(r) if r.head.status == 200 => tally.http_ok.fetch_add(1, Ordering::Relaxed),
                            _ => tally.http_failed.fetch_add(1, Ordering::Relaxed),
                        };
                    }
                });
            }
            s.spawn(|| {
                while !stop.load(Ordering::Relaxed) {
                    let ok = udp_once(vip_udp(false));
                    if ok { &tally.udp_ok } else { &tally.udp_lost }.fetch_add(1, Ordering::Relaxed);
                    std::thread::sleep(Duration::from_millis(20));
                }
            });
            s.spawn(|| {
                // Bursts: 20 s of 2000 spoofed SYNs a second, then 40 s of quiet.
                let mut seed = 0x5eed_u64;
                while !stop.load(Ordering::Relaxed) {
                    let flooding = t0.elapsed().as_secs() % 60 < 20;
                    if flooding {
                        tally.syns.fetch_add(u64::from(syn_burst(VIP4, 200, &mut seed)), Ordering::Relaxed);
                    }
                    std::thread::sleep(Duration::from_millis(100));
                }
            });
            // The control plane's part, and the samples, from here (the main thread).
            let mut step = 0u64;
            while t0.elapsed() < length {
                std::thread::sleep(Duration::from_secs(10));
                step += 1;
                let text = match step % 6 {
                    0 => Some(config(&run.lab, &[1, 1, 1])),
                    3 => Some(without_real(&config(&run.lab, &[1, 1, 1]), 2)),
                    _ => None,
                };
                if let Some(text) = text {
                    run.lab.write_config(&text);
                    run.director().signal(nix::sys::signal::Signal::SIGHUP);
                }
                if step % 6 == 1 || step % 6 == 2 {
                    let w = if step % 6 == 1 { "0" } else { "1" };
                    let sock = run.lab.dir().join("xvs.sock");
                    let real = format!("{}:{}", real_addrs(1).0, run.lab.real_http_port());
                    let _ = std::process::Command::new(xvs())
                        .args(["ctl", "-c"])
                        .arg(&sock)
                        .args(["-e", "-t", &vip_http(false).to_string(), "-r", &real, "-m", "-w", w])
                        .output();
                }
                let m = scrape(&run);
                samples.push((t0.elapsed(), rss_kib(pid), metric(&m, "xvs_connection_table_entries")));
            }
            stop.store(true, Ordering::Relaxed);
        });
    });
    run.assert_alive();

    // Quiet: the table drains (TIME_WAIT 120 s, SYN_RECV 60 s, UDP 20 s).
    let drained = Instant::now();
    let mut entries = u64::MAX;
    while drained.elapsed() < Duration::from_secs(240) {
        entries = metric(&scrape(&run), "xvs_connection_table_entries");
        if entries == 0 {
            break;
        }
        std::thread::sleep(Duration::from_secs(5));
    }
    let m = scrape(&run);
    let (rx, tx, passed, dropped) = (
        metric(&m, "xvs_rx_packets_total"),
        metric(&m, "xvs_tx_packets_total"),
        metric(&m, "xvs_passed_packets_total"),
        metric(&m, "xvs_drops_total"),
    );
    let after = run.client(|| try_get(vip_http(false), "/", None).map(|r| r.head.status));

    let (ok, failed) = (tally.http_ok.load(Ordering::Relaxed), tally.http_failed.load(Ordering::Relaxed));
    let quarter = samples.iter().find(|s| s.0 >= length / 4).map_or(0, |s| s.1);
    let late_max = samples.iter().filter(|s| s.0 >= length / 2).map(|s| s.1).max().unwrap_or(0);
    let peak_entries = samples.iter().map(|s| s.2).max().unwrap_or(0);
    eprintln!(
        "soak: {minutes} min; HTTP {ok} ok, {failed} failed; UDP {} ok, {} lost; {} spoofed SYNs",
        tally.udp_ok.load(Ordering::Relaxed),
        tally.udp_lost.load(Ordering::Relaxed),
        tally.syns.load(Ordering::Relaxed)
    );
    eprintln!(
        "soak: RSS {quarter} KiB at 1/4, at most {late_max} KiB in the second half; table peak {peak_entries}, \
               {entries} after {:?} of quiet",
        drained.elapsed()
    );
    eprintln!(
        "soak: frames rx {rx} = tx {tx} + passed {passed} + dropped {dropped}; drops: {}",
        m.lines().filter(|l| l.starts_with("xvs_drops_total{") && !l.ends_with(" 0")).collect::<Vec<_>>().join(", ")
    );
    for (t, rss, n) in &samples {
        eprintln!("soak: t={:>4}s rss={rss} KiB entries={n}", t.as_secs());
    }

    assert!(failed * 1000 <= ok + failed, "more than 0.1 % of HTTP requests failed: {failed} of {}", ok + failed);
    assert!(late_max <= quarter + (quarter / 10).max(16 * 1024), "RSS grew: {quarter} KiB -> {late_max} KiB");
    assert_eq!(entries, 0, "the table did not drain");
    assert_eq!(rx, tx + passed + dropped, "frames unaccounted for");
    assert_eq!(after.ok(), Some(200), "no traffic after the soak");
    let _: IpAddr = VIP4.into();
}
