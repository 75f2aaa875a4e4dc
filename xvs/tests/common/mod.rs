//! Shared helpers of the director end-to-end tests (`director_e2e*.rs`, ...): a running
//! director lab (`xvs-lab`), a UDP client and (re-exported) the lab's HTTP client that speak
//! to it from the client namespace, parallel connection loops, share checks, config edits
//! for reloads, and a keepalived.conf director with a control socket.
//!
//! Sockets are created inside the client namespace (`Lab::in_ns`) and keep belonging to it
//! wherever they are used afterwards, so a test can open a connection in `cl`, reload the
//! director from the main thread, and go on using the connection.
//!
//! Nothing here skips: without root, namespaces or AF_XDP the lab or the director panics
//! with the reason.

#![allow(dead_code)]

pub mod fleet;
pub mod seed_pair;
pub mod sync_pair;

use std::collections::BTreeMap;
use std::io;
use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

#[allow(unused_imports)]
pub use xvs_lab::director::{
    real_addrs, DirectorLab, LabMode, DIRECTOR4, DIRECTOR6, DIRECTOR_DEV, GUE_PORT, VIP4, VIP6,
};
#[allow(unused_imports)]
pub use xvs_lab::http::{connect, get, read_head, try_get, Head, KeepAlive, Response};
use xvs_lab::Proc;

/// The `xvs` binary under test.
pub fn xvs() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_xvs"))
}

/// The 10 MB transfer of the tests.
pub const BIG: usize = 10 * 1024 * 1024;

/// A lab with its director running.
pub struct Running {
    pub lab: DirectorLab,
    director: usize,
}

impl Running {
    /// Build the lab for `mode` with `reals` reals and `queues` queues on the director's
    /// interface, start the reals, write `config(&lab)` and start `xvs run` on it.
    pub fn start(
        test: &str,
        mode: LabMode,
        reals: usize,
        queues: u32,
        config: impl FnOnce(&DirectorLab) -> String,
    ) -> Running {
        let mut lab = DirectorLab::new(test, mode, reals, queues);
        lab.start_reals(xvs());
        // The director learns the reals' MACs from its kernel's neighbour table, refreshed
        // every second; resolve them now so the first packets do not wait for a refresh.
        for i in 0..reals {
            let (v4, v6) = real_addrs(i);
            for a in [v4.to_string(), v6.to_string()] {
                lab.lab.exec("dir", &["ping", "-c", "1", "-W", "2", &a], Duration::from_secs(5));
            }
        }
        let text = config(&lab);
        let cfg = lab.write_config(&text);
        let director = lab.start_director(xvs(), &cfg);
        Running { lab, director }
    }

    /// The `xvs run` process.
    pub fn director(&self) -> &Proc {
        &self.lab.procs[self.director]
    }

    /// Panics unless the director is still running.
    pub fn assert_alive(&mut self) {
        let p = &mut self.lab.procs[self.director];
        if let Some(s) = p.try_status() {
            panic!("the director exited ({s}):\n{}", p.dump());
        }
    }

    /// Its output, for failure messages.
    pub fn dump(&self) -> String {
        self.director().dump()
    }

    /// Rewrite the config file with `text`, send SIGHUP, and wait until the director has
    /// reloaded it.
    pub fn reload(&mut self, text: &str) {
        let needle = "xvs: reloaded ";
        let before = self.director().stderr().matches(needle).count();
        self.lab.write_config(text);
        self.director().signal(nix::sys::signal::Signal::SIGHUP);
        let deadline = Instant::now() + Duration::from_secs(10);
        while self.director().stderr().matches(needle).count() == before {
            assert!(Instant::now() < deadline, "the director did not reload within 10 s\n{}", self.dump());
            std::thread::sleep(Duration::from_millis(20));
        }
        // The poll loop takes the new config between batches; give it a moment.
        std::thread::sleep(Duration::from_millis(100));
    }

    /// Run `f` in the client namespace.
    pub fn client<T: Send>(&self, f: impl FnOnce() -> T + Send) -> T {
        self.lab.lab.in_ns("cl", f)
    }
}

/// The VIP's HTTP (TCP 80) endpoint.
pub fn vip_http(v6: bool) -> SocketAddr {
    SocketAddr::new(if v6 { IpAddr::V6(VIP6) } else { IpAddr::V4(VIP4) }, 80)
}

/// The VIP's UDP echo (UDP 53) endpoint.
pub fn vip_udp(v6: bool) -> SocketAddr {
    SocketAddr::new(if v6 { IpAddr::V6(VIP6) } else { IpAddr::V4(VIP4) }, 53)
}

/// `n` bytes of the reals' `/bytes/N` pattern: `bytes(range(256))` repeated.
pub fn pattern(n: usize) -> Vec<u8> {
    (0..n).map(|i| i as u8).collect()
}

/// Send `payload` to the UDP `dst` from a new socket (new source port) and return the
/// echo; the reals answer "real N: " + payload. UDP may lose a datagram: up to 3 tries,
/// 1 s apart. Call inside the client namespace.
pub fn udp_echo(dst: SocketAddr, payload: &str) -> (usize, String) {
    let bind: SocketAddr = if dst.is_ipv4() { "0.0.0.0:0".parse().unwrap() } else { "[::]:0".parse().unwrap() };
    let s = UdpSocket::bind(bind).expect("udp bind");
    // Connected: only datagrams from `dst` itself are received.
    s.connect(dst).expect("udp connect");
    s.set_read_timeout(Some(Duration::from_secs(1))).unwrap();
    let mut buf = [0u8; 2048];
    for _ in 0..3 {
        s.send(payload.as_bytes()).expect("udp send");
        match s.recv(&mut buf) {
            Ok(n) => {
                let reply = String::from_utf8_lossy(&buf[..n]).into_owned();
                let real = reply
                    .strip_prefix("real ")
                    .and_then(|r| r.split_once(": "))
                    .filter(|(_, p)| *p == payload)
                    .and_then(|(n, _)| n.parse().ok())
                    .unwrap_or_else(|| panic!("UDP {dst}: unexpected reply {reply:?} to {payload:?}"));
                return (real, reply);
            }
            Err(e) if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut) => continue,
            Err(e) => panic!("UDP {dst}: {e}"),
        }
    }
    panic!("UDP {dst}: no echo of {payload:?} after 3 tries");
}

/// `total` connections (`GET /`, `Connection: close`) to `dst` from `threads` parallel
/// client threads, source addresses taken round-robin from `srcs` (none: the kernel's
/// choice). Returns, per connection, (source, real). Call inside the client namespace:
/// the threads it starts inherit the namespace. Panics on the first failed connection.
pub fn spread(dst: SocketAddr, total: usize, threads: usize, srcs: &[IpAddr]) -> Vec<(Option<IpAddr>, usize)> {
    let next = AtomicUsize::new(0);
    let out = Mutex::new(Vec::with_capacity(total));
    let failed = Mutex::new(None);
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| {
                let mut mine = Vec::new();
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= total || failed.lock().unwrap().is_some() {
                        break;
                    }
                    let src = (!srcs.is_empty()).then(|| srcs[i % srcs.len()]);
                    match try_get(dst, "/", src) {
                        Ok(r) if r.head.status == 200 && r.head.real.is_some() => mine.push((src, r.real())),
                        Ok(r) => {
                            *failed.lock().unwrap() = Some(format!("connection {i} from {src:?}: {r:?}"));
                        }
                        Err(e) => {
                            *failed.lock().unwrap() = Some(format!("connection {i} from {src:?}: {e}"));
                        }
                    }
                }
                out.lock().unwrap().extend(mine);
            });
        }
    });
    if let Some(f) = failed.into_inner().unwrap() {
        panic!("{total} connections to {dst}: {f}");
    }
    out.into_inner().unwrap()
}

/// Connections per real (index = real).
pub fn per_real(conns: &[(Option<IpAddr>, usize)], reals: usize) -> Vec<usize> {
    let mut n = vec![0; reals];
    for &(_, r) in conns {
        assert!(r < reals, "answer from real {r}, but the lab has {reals}");
        n[r] += 1;
    }
    n
}

/// The reals each source address landed on.
pub fn reals_by_source(conns: &[(Option<IpAddr>, usize)]) -> BTreeMap<IpAddr, BTreeMap<usize, usize>> {
    let mut m: BTreeMap<IpAddr, BTreeMap<usize, usize>> = BTreeMap::new();
    for &(src, r) in conns {
        *m.entry(src.expect("a source address")).or_default().entry(r).or_default() += 1;
    }
    m
}

/// Each real's count is within `tol` (a fraction *of that real's own expected share*) of
/// its weight's share of the total.
pub fn assert_shares(counts: &[usize], weights: &[u32], tol: f64) {
    let total: usize = counts.iter().sum();
    let wsum: u32 = weights.iter().sum();
    for (i, (&n, &w)) in counts.iter().zip(weights).enumerate() {
        let expect = total as f64 * w as f64 / wsum as f64;
        let dev = (n as f64 - expect).abs() / expect;
        assert!(
            dev <= tol,
            "real {i}: {n} of {total} connections, expected {expect:.0} (weights {weights:?}): off by {:.1}% \
             of its share, more than {:.1}%; all: {counts:?}",
            dev * 100.0,
            tol * 100.0
        );
    }
}

/// `cfg` (made by `DirectorLab::config`) without real `i` in any service.
pub fn without_real(cfg: &str, i: usize) -> String {
    let (v4, v6) = real_addrs(i);
    let (a4, a6) = (format!("\"{v4}:"), format!("\"[{v6}]:"));
    let lines: Vec<&str> = cfg.lines().collect();
    let mut out = String::new();
    let mut k = 0;
    let mut removed = 0;
    while k < lines.len() {
        if lines[k].trim() == "[[service.real]]"
            && lines
                .get(k + 1)
                .is_some_and(|l| l.trim_start().starts_with("addr") && (l.contains(&a4) || l.contains(&a6)))
        {
            // Skip the real's table: its header and key lines, up to the next blank line or
            // table header.
            k += 1;
            while k < lines.len() && !lines[k].trim().is_empty() && !lines[k].trim_start().starts_with('[') {
                k += 1;
            }
            removed += 1;
            continue;
        }
        out.push_str(lines[k]);
        out.push('\n');
        k += 1;
    }
    assert!(removed > 0, "real {i} is not in the config:\n{cfg}");
    out
}

/// Run `cmd` in `ns` of the lab; panic with its output unless it succeeds.
pub fn must(lab: &DirectorLab, ns: &str, cmd: &[&str], timeout: Duration) -> String {
    let o = lab.lab.exec(ns, cmd, timeout);
    let (out, err) = (String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
    assert!(o.status.success(), "{cmd:?} in {ns}: {}\nstdout: {out}\nstderr: {err}", o.status);
    out.into_owned()
}

/// keepalived's TCP_CHECK as the tests use it: 1 s to connect, one retry 1 s later.
pub const TCP_CHECK: &str = "TCP_CHECK {
            connect_timeout 1
            retry 1
            delay_before_retry 1
        }";

/// A keepalived.conf: `head`, then a NAT rr TCP service on VIP4:80 checked every second,
/// with one real per entry of `checkers` (real `i` at its lab address, port 8080, weight 1)
/// checked by that checker block ("" for none).
pub fn keepalived_nat(head: &str, checkers: &[&str]) -> String {
    let mut c = format!(
        "{head}virtual_server {VIP4} 80 {{\n    delay_loop 1\n    lb_algo rr\n    lb_kind NAT\n    protocol TCP\n\n"
    );
    for (i, checker) in checkers.iter().enumerate() {
        c += &format!("    real_server {} 8080 {{\n        weight 1\n", real_addrs(i).0);
        if !checker.is_empty() {
            c += &format!("        {checker}\n");
        }
        c += "    }\n";
    }
    c + "}\n"
}

/// A NAT lab `test` with three reals running, and its director (`xvs run`) on the
/// keepalived.conf `text` with a control socket and adaptive polling: (the lab, the
/// socket, the director's index in `lab.procs`).
pub fn keepalived_lab(test: &str, text: &str) -> (DirectorLab, PathBuf, usize) {
    let mut lab = DirectorLab::new(test, LabMode::Nat, 3, 1);
    lab.start_reals(xvs());
    let conf = lab.dir().join("keepalived.conf");
    std::fs::write(&conf, text).unwrap();
    let sock = lab.dir().join("ctl.sock");
    let sock_s = sock.display().to_string();
    let d = lab
        .try_start_director(xvs(), &conf, &["--control-socket", &sock_s, "--poll", "adaptive"])
        .unwrap_or_else(|e| panic!("{e}"));
    (lab, sock, d)
}
