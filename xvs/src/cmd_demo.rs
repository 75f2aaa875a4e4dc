//! `xvs demo [--mode nat|dr|tun] [--scheduler S] [--seconds N]`: the embedded default.
//!
//! Builds a throwaway [`DirectorLab`] (client `cl`, one-armed director `dir`, three reals
//! running a small python3 HTTP + UDP echo service), starts `xvs run` on it (this very
//! binary, adaptive polling, weights 1:2:3), drives HTTP/1.1 and UDP traffic from the
//! client to both VIPs (IPv4 and IPv6) for N seconds, shows a live table once a second
//! (rates, errors, per-real shares as the client saw them, the director's own counters),
//! prints a summary and tears the lab down.
//!
//! Invariants:
//! - Everything the demo creates belongs to one `DirectorLab`: namespaces
//!   `xvs-demo-<pid>-<n>-*`, their processes, a scratch directory. It goes on every exit
//!   path: success, failure, SIGINT/SIGTERM (flags checked between set-up steps and every
//!   100 ms while running) and panic (the lab's `Drop`).
//! - The lab's processes run in their own process groups, so a Ctrl-C at the terminal
//!   reaches only the demo, which stops in order: client traffic, then the director
//!   (SIGTERM: it detaches XDP and prints its `stopped:` line), then the reals, then the
//!   namespaces.
//! - The client's view is the ground truth for shares: a response counts for the real its
//!   body names ("real N"); both requests of a keep-alive connection must name the same
//!   real (else it counts as a pinning error). The director's numbers come from its
//!   control socket, as `xvs ctl -Ln --stats --json` (and `xvs top`) read them.
//! - Exit status: 0 after a complete run, 130 after SIGINT/SIGTERM (with full teardown), 1
//!   when something failed (not root, a tool missing, the lab or director did not come up,
//!   the director died, no HTTP request or no UDP query succeeded, or more than 10% of
//!   attempts failed), 2 for
//!   a bad argument.

use std::collections::HashSet;
use std::fmt::Write as _;
use std::io::{IsTerminal, Write};
use std::net::{IpAddr, SocketAddr, TcpStream, UdpSocket};
use std::panic::AssertUnwindSafe;
use std::path::Path;
use std::process::{Command, ExitCode, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use std::time::{Duration, Instant};
use xvs::observe::listing::Listing;

use xvs::host;
use xvs_lab::director::{real_addrs, DirectorLab, LabMode, VIP4, VIP6};
use xvs_lab::http::KeepAlive;
use xvs_lab::Proc;

const REALS: usize = 3;
const WEIGHTS: [u32; REALS] = [1, 2, 3];
const SCHEDULERS: [&str; 14] = xvs_sched::SCHEDULER_NAMES;
/// Client threads opening HTTP connections (alternating IPv4 and IPv6 VIPs).
const TCP_WORKERS: usize = 4;
/// Requests per TCP connection: keep-alive, then `Connection: close` on the last.
const REQS_PER_CONN: u64 = 2;
/// UDP queries per second (one new socket, so one new director connection, each).
const UDP_RATE: u64 = 40;
const BAR: usize = 20;

/// What the client saw; shared by the traffic threads and the display.
#[derive(Default)]
struct Tally {
    tcp: [AtomicU64; REALS],
    udp: [AtomicU64; REALS],
    requests: AtomicU64,
    conns: AtomicU64,
    v4: AtomicU64,
    v6: AtomicU64,
    udp_ok: AtomicU64,
    errors: AtomicU64,
    split: AtomicU64,
    last_error: Mutex<String>,
}

impl Tally {
    fn error(&self, e: String) {
        self.errors.fetch_add(1, Ordering::Relaxed);
        if let Ok(mut l) = self.last_error.lock() {
            *l = e;
        }
    }

    fn get(a: &AtomicU64) -> u64 {
        a.load(Ordering::Relaxed)
    }
}

/// Why the demo ended early.
enum Stop {
    Interrupted,
    Failed(String),
}

fn say(msg: impl AsRef<str>) {
    println!("xvs demo: {}", msg.as_ref());
}

pub fn run(mode: &str, scheduler: &str, seconds: u64) -> ExitCode {
    let Some(mode) = LabMode::parse(mode) else {
        eprintln!("xvs demo: error: --mode must be nat, dr or tun (got {mode:?})");
        return ExitCode::from(2);
    };
    if !SCHEDULERS.contains(&scheduler) {
        eprintln!("xvs demo: error: unknown scheduler {scheduler:?}; one of: {}", SCHEDULERS.join(" "));
        return ExitCode::from(2);
    }
    if seconds == 0 {
        eprintln!("xvs demo: error: --seconds must be at least 1");
        return ExitCode::from(2);
    }
    if let Err(e) = preflight() {
        eprintln!("xvs demo: error: {e}");
        return ExitCode::from(1);
    }
    let term = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        if let Err(e) = signal_hook::flag::register(sig, Arc::clone(&term)) {
            eprintln!("xvs demo: error: installing a signal handler: {e}");
            return ExitCode::from(1);
        }
    }
    match demo(mode, scheduler, seconds, &term) {
        Ok(()) => ExitCode::SUCCESS,
        Err(Stop::Interrupted) => {
            say("interrupted; the lab is torn down");
            ExitCode::from(130)
        }
        Err(Stop::Failed(e)) => {
            eprintln!("xvs demo: error: {e}");
            ExitCode::from(1)
        }
    }
}

/// Root, iproute2, ethtool and python3, checked before anything is changed.
fn preflight() -> Result<(), String> {
    if !host::is_root() {
        return Err("needs root (it creates network namespaces and veths and loads XDP programs); \
                    run it with sudo"
            .into());
    }
    for (cmd, arg, why) in [
        ("ip", "-V", "iproute2 (`ip`), to build the namespaces"),
        ("ethtool", "--version", "ethtool, to turn veth checksum offload off"),
        ("python3", "--version", "python3, which runs the real servers' HTTP service"),
    ] {
        let ok = Command::new(cmd)
            .arg(arg)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        if !ok {
            return Err(format!("`{cmd}` not found: the demo needs {why}; scripts/setup.sh installs it"));
        }
    }
    Ok(())
}

/// Runs `f`, turning a panic (the lab's way to fail) into an error, without the panic
/// message being printed by the default hook.
fn quietly<T>(f: impl FnOnce() -> T) -> Result<T, String> {
    let prev = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let r = std::panic::catch_unwind(AssertUnwindSafe(f));
    std::panic::set_hook(prev);
    r.map_err(|p| {
        p.downcast_ref::<String>()
            .cloned()
            .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_else(|| "unknown panic".into())
    })
}

fn check(term: &AtomicBool) -> Result<(), Stop> {
    if term.load(Ordering::Relaxed) {
        Err(Stop::Interrupted)
    } else {
        Ok(())
    }
}

fn expected_shares(scheduler: &str) -> Option<[f64; REALS]> {
    let total: u32 = WEIGHTS.iter().sum();
    match scheduler {
        "rr" | "lc" => Some([1.0 / REALS as f64; REALS]),
        "wrr" | "wlc" | "sed" | "nq" | "twos" | "sh" | "mh" => Some(WEIGHTS.map(|w| w as f64 / total as f64)),
        "fo" => Some([0.0, 0.0, 1.0]),
        _ => None,
    }
}

fn scheduler_note(scheduler: &str) -> Option<String> {
    match scheduler {
        "sh" | "mh" => Some(format!(
            "hashes the client's address and port here (-b {scheduler}-port: one client, many ports), \
             so the shares follow the weights only approximately"
        )),
        "dh" | "lblc" | "lblcr" => {
            Some("hashes the destination: each service's VIP goes to one real (a prefix VIP would spread)".into())
        }
        "ovf" => Some("sends to the highest-weight real until its active connections exceed its weight".into()),
        "fo" => Some("failover: the highest-weight available real takes everything".into()),
        "lc" => Some("ignores weights: the real with the fewest connections gets the next one".into()),
        "rr" => Some("ignores weights (other than 0)".into()),
        _ => None,
    }
}

fn demo(mode: LabMode, scheduler: &str, seconds: u64, term: &Arc<AtomicBool>) -> Result<(), Stop> {
    let xvs = std::env::current_exe().map_err(|e| Stop::Failed(format!("locating the xvs binary: {e}")))?;
    say(format!(
        "building a lab of network namespaces: client, director, {REALS} reals ({} mode)",
        mode.name().to_uppercase()
    ));
    let mut lab = quietly(|| DirectorLab::new("demo", mode, REALS, 1))
        .map_err(|e| Stop::Failed(format!("building the lab: {e}")))?;
    lab.lab.own_process_groups(true);
    check(term)?;
    say(format!(
        "starting the real servers (python3 HTTP on :{}{})",
        lab.real_http_port(),
        match mode {
            LabMode::Nat => "",
            LabMode::Dr => ", `xvs realserver` with the VIPs on lo",
            LabMode::Tun => ", `xvs realserver` with the VIPs on lo and decap on e0",
        }
    ));
    quietly(|| lab.try_start_reals(&xvs))
        .and_then(|r| r)
        .map_err(|e| Stop::Failed(format!("starting the real servers: {e}")))?;
    check(term)?;
    // Talk to every real from the director once, so the kernel has their MACs before
    // the director asks for them: the first connections need no ARP/ND retry.
    warm_neighbours(&lab).map_err(Stop::Failed)?;
    check(term)?;

    let mut extra = String::new();
    if scheduler == "sh" || scheduler == "mh" {
        extra = format!("scheduler_flags = [\"{scheduler}-port\"]\n");
    }
    let cfg_text = lab.config(scheduler, Some(&WEIGHTS), &extra);
    let cfg = lab.write_config(&cfg_text);
    let socket = lab.dir().join("xvs.sock");
    say(format!("starting the director: {} run -c {}", xvs.display(), cfg.display()));
    let director = quietly(|| lab.try_start_director(&xvs, &cfg, &[]))
        .and_then(|r| r)
        .map_err(|e| Stop::Failed(format!("starting the director: {e}")))?;
    check(term)?;

    let tally = Tally::default();
    let stop = AtomicBool::new(false);
    let started = Instant::now();
    let outcome = std::thread::scope(|s| {
        for k in 0..TCP_WORKERS {
            let (lab, tally, stop) = (&lab.lab, &tally, &stop);
            s.spawn(move || lab.in_ns("cl", || tcp_worker(k, tally, stop)));
        }
        {
            let (lab, tally, stop) = (&lab.lab, &tally, &stop);
            s.spawn(move || lab.in_ns("cl", || udp_worker(tally, stop)));
        }
        let mode = lab.mode;
        let r = watch(&mut lab.procs[director], mode, scheduler, seconds, started, &tally, term, &socket);
        stop.store(true, Ordering::Relaxed);
        r
    });
    let elapsed = started.elapsed();
    let final_stats = settled_stats(&socket);
    say("stopping the director (SIGTERM: it detaches XDP and reports)");
    let status = lab.procs[director].terminate(Duration::from_secs(10));
    let log = lab.procs[director].stderr();
    let stopped = log.lines().find(|l| l.contains("stopped:")).map(str::to_string);
    let namespaces = lab.lab.name("*");
    drop(lab);
    let left = leftover_namespaces(&namespaces);
    if !matches!(outcome, Err(Stop::Failed(_))) {
        summary(mode, scheduler, elapsed, &tally, final_stats.as_ref(), stopped.as_deref());
    }
    if left.is_empty() {
        say(format!("lab removed: namespaces {namespaces} deleted, processes stopped"));
    } else {
        say(format!("warning: namespaces left behind: {}", left.join(" ")));
    }
    outcome?;
    if !status.success() || stopped.is_none() {
        return Err(Stop::Failed(format!("the director did not stop cleanly ({status}):\n{log}")));
    }
    let (requests, errors) = (Tally::get(&tally.requests), Tally::get(&tally.errors));
    let attempts = Tally::get(&tally.conns) + Tally::get(&tally.udp_ok) + errors;
    let last_error = || tally.last_error.lock().map(|l| l.clone()).unwrap_or_default();
    if requests == 0 {
        return Err(Stop::Failed(format!("no HTTP request succeeded; last error: {}", last_error())));
    }
    if Tally::get(&tally.udp_ok) == 0 {
        return Err(Stop::Failed(format!("no UDP query was answered; last error: {}", last_error())));
    }
    if errors * 10 > attempts {
        return Err(Stop::Failed(format!("{errors} of {attempts} attempts failed")));
    }
    Ok(())
}

/// A TCP connection from the director's namespace to every real's HTTP port, IPv4 and
/// IPv6: the kernel resolves (and keeps) their MACs.
fn warm_neighbours(lab: &DirectorLab) -> Result<(), String> {
    let port = lab.real_http_port();
    lab.lab.in_ns("dir", || {
        for i in 0..REALS {
            let (v4, v6) = real_addrs(i);
            for ip in [IpAddr::V4(v4), IpAddr::V6(v6)] {
                let addr = SocketAddr::new(ip, port);
                TcpStream::connect_timeout(&addr, Duration::from_secs(3))
                    .map_err(|e| format!("the director cannot reach real {i} at {addr}: {e}"))?;
            }
        }
        Ok(())
    })
}

/// The client's HTTP load: new connections, alternating between the IPv4 and IPv6 VIPs.
fn tcp_worker(k: usize, tally: &Tally, stop: &AtomicBool) {
    let mut n = k;
    while !stop.load(Ordering::Relaxed) {
        let v6 = n % 2 == 1;
        n += 1;
        let vip = if v6 { SocketAddr::new(VIP6.into(), 80) } else { SocketAddr::new(VIP4.into(), 80) };
        match http_connection(vip, tally) {
            Ok(real) => {
                tally.conns.fetch_add(1, Ordering::Relaxed);
                tally.tcp[real].fetch_add(1, Ordering::Relaxed);
                if v6 { &tally.v6 } else { &tally.v4 }.fetch_add(1, Ordering::Relaxed);
            }
            Err(e) => {
                if stop.load(Ordering::Relaxed) {
                    break; // cut short by the end of the run, not a failure
                }
                tally.error(format!("{vip}: {e}"));
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    }
}

/// One connection carrying `REQS_PER_CONN` requests; returns the real that served it.
fn http_connection(vip: SocketAddr, tally: &Tally) -> Result<usize, String> {
    let mut conn = KeepAlive::try_open(vip).map_err(|e| format!("connect: {e}"))?;
    let mut served_by = None;
    for i in 0..REQS_PER_CONN {
        let close = i + 1 == REQS_PER_CONN;
        let r = conn.try_request_closing("/", close).map_err(|e| format!("request: {e}"))?;
        if r.head.status != 200 {
            return Err(format!("status {}", r.head.status));
        }
        let body = String::from_utf8_lossy(&r.body);
        let real = parse_real(&body).ok_or_else(|| format!("unexpected body {body:?}"))?;
        tally.requests.fetch_add(1, Ordering::Relaxed);
        match served_by {
            Some(first) if first != real => {
                tally.split.fetch_add(1, Ordering::Relaxed);
                return Err(format!("one connection answered by real {first} and real {real}"));
            }
            _ => served_by = Some(real),
        }
    }
    served_by.ok_or_else(|| "no request".into())
}

/// "real N..." -> N.
fn parse_real(text: &str) -> Option<usize> {
    let rest = text.strip_prefix("real ")?;
    let digits: String = rest.chars().take_while(|c| c.is_ascii_digit()).collect();
    digits.parse().ok().filter(|n| *n < REALS)
}

/// UDP queries to VIP:53, each from a new socket on a source port not used before in the
/// run (a new flow), alternating families. The answer must come from the VIP.
///
/// Why the ports are checked: the kernel picks a random free ephemeral port for each new
/// socket, and with a few hundred queries it picks a port of this run again about once
/// per family. To the director that query is then the same UDP connection (still live:
/// the UDP timeout is minutes), as to IPVS, and the summary's "the director counted"
/// would be one short of the queries it is set beside.
fn udp_worker(tally: &Tally, stop: &AtomicBool) {
    let mut n = 0u64;
    let start = Instant::now();
    let mut used = HashSet::new();
    while !stop.load(Ordering::Relaxed) {
        let vip = if n % 2 == 1 { SocketAddr::new(VIP6.into(), 53) } else { SocketAddr::new(VIP4.into(), 53) };
        n += 1;
        match udp_query(vip, n, &mut used) {
            Ok(real) => {
                tally.udp_ok.fetch_add(1, Ordering::Relaxed);
                tally.udp[real].fetch_add(1, Ordering::Relaxed);
            }
            Err(e) if !stop.load(Ordering::Relaxed) => tally.error(format!("udp {vip}: {e}")),
            Err(_) => break,
        }
        let due = start + Duration::from_micros(n * 1_000_000 / UDP_RATE);
        if let Some(wait) = due.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
    }
}

fn udp_query(vip: SocketAddr, n: u64, used: &mut HashSet<SocketAddr>) -> Result<usize, String> {
    let bind: SocketAddr = if vip.is_ipv4() { "0.0.0.0:0".parse().unwrap() } else { "[::]:0".parse().unwrap() };
    let sock = fresh_socket(bind, used)?;
    sock.set_read_timeout(Some(Duration::from_secs(1))).map_err(|e| e.to_string())?;
    let query = format!("query {n}");
    sock.send_to(query.as_bytes(), vip).map_err(|e| format!("send: {e}"))?;
    let mut buf = [0u8; 512];
    let (len, from) = sock.recv_from(&mut buf).map_err(|e| format!("no answer: {e}"))?;
    if from != vip {
        return Err(format!("answer from {from}, not from the VIP"));
    }
    let text = String::from_utf8_lossy(&buf[..len]);
    let real = parse_real(&text).ok_or_else(|| format!("unexpected answer {text:?}"))?;
    if !text.ends_with(&query) {
        return Err(format!("answer {text:?} to another query"));
    }
    Ok(real)
}

/// A UDP socket bound to `bind` (port 0) whose local address is not in `used`, which
/// then holds it. A socket on a used port is closed and another one bound (the kernel
/// picks ports at random, so a second try finds a new one nearly always).
fn fresh_socket(bind: SocketAddr, used: &mut HashSet<SocketAddr>) -> Result<UdpSocket, String> {
    for _ in 0..64 {
        let sock = UdpSocket::bind(bind).map_err(|e| format!("bind: {e}"))?;
        let local = sock.local_addr().map_err(|e| format!("local address: {e}"))?;
        if used.insert(local) {
            return Ok(sock);
        }
    }
    Err("bind: no source port left that this run has not used".into())
}

/// The director's counters per real (summed over its four services), from its stats file.
#[derive(Clone, Copy, Default)]
struct DirReal {
    conns: u64,
    pkts_in: u64,
    pkts_out: u64,
    live: u64,
}

/// The director's counters once the traffic has stopped: the poll loops publish every
/// 0.5 s, so a listing taken 0.7 s after the last client packet has counted it.
fn settled_stats(socket: &Path) -> Option<Listing> {
    std::thread::sleep(Duration::from_millis(700));
    read_stats(socket)
}

fn read_stats(socket: &Path) -> Option<Listing> {
    crate::cmd_top::fetch(socket).ok()
}

fn real_index(label: &str) -> Option<usize> {
    let ip = label.parse::<SocketAddr>().ok()?.ip();
    (0..REALS).find(|&i| {
        let (v4, v6) = real_addrs(i);
        ip == IpAddr::V4(v4) || ip == IpAddr::V6(v6)
    })
}

fn director_reals(stats: &Listing) -> [DirReal; REALS] {
    let mut out = [DirReal::default(); REALS];
    for r in stats.services.iter().flat_map(|s| s.reals.iter().chain(s.failed_reals.iter())) {
        let Some(i) = real_index(&r.address) else { continue };
        out[i].conns += r.stats.conns;
        out[i].pkts_in += r.stats.pkts_in;
        out[i].pkts_out += r.stats.pkts_out;
        out[i].live += u64::from(r.active) + u64::from(r.inactive);
    }
    out
}

fn director_line(stats: &Listing) -> String {
    let d = stats.director.clone().unwrap_or_default();
    let mut s = format!(
        "rx {} tx {} passed {} dropped {} | connections created {} live {}",
        d.rx, d.tx, d.passed, d.drops, d.conns_created, d.live_connections
    );
    if !d.drops_by_reason.is_empty() {
        let parts: Vec<String> = d.drops_by_reason.iter().map(|(k, v)| format!("{k} {v}")).collect();
        s.push_str(&format!(" | drops: {}", parts.join(", ")));
    }
    s
}

fn bar(frac: f64) -> String {
    let n = ((frac * BAR as f64).round() as usize).min(BAR);
    format!("{}{}", "█".repeat(n), "·".repeat(BAR - n))
}

fn pct(part: u64, total: u64) -> f64 {
    if total == 0 {
        0.0
    } else {
        part as f64 / total as f64
    }
}

/// Per real: (TCP connections, UDP answers, both).
fn served(tally: &Tally) -> [(u64, u64, u64); REALS] {
    std::array::from_fn(|i| {
        let (t, u) = (Tally::get(&tally.tcp[i]), Tally::get(&tally.udp[i]));
        (t, u, t + u)
    })
}

/// Shows the live table once a second until `seconds` pass, a signal comes, or the
/// director dies.
#[allow(clippy::too_many_arguments)]
fn watch(
    director: &mut Proc,
    mode: LabMode,
    scheduler: &str,
    seconds: u64,
    started: Instant,
    tally: &Tally,
    term: &AtomicBool,
    socket: &Path,
) -> Result<(), Stop> {
    let tty = std::io::stdout().is_terminal();
    let mut drawn = 0usize;
    let mut last = (Instant::now(), 0u64, 0u64, 0u64);
    let end = started + Duration::from_secs(seconds);
    let mut next = started + Duration::from_secs(1);
    loop {
        std::thread::sleep(Duration::from_millis(100));
        check(term)?;
        if let Some(st) = director.try_status() {
            return Err(Stop::Failed(format!("the director exited ({st}):\n{}", director.dump())));
        }
        let now = Instant::now();
        if now < next && now < end {
            continue;
        }
        next += Duration::from_secs(1);
        let (req, conns, udp) = (Tally::get(&tally.requests), Tally::get(&tally.conns), Tally::get(&tally.udp_ok));
        let dt = now.duration_since(last.0).as_secs_f64().max(1e-3);
        let rates = ((req - last.1) as f64 / dt, (conns - last.2) as f64 / dt, (udp - last.3) as f64 / dt);
        last = (now, req, conns, udp);
        let log = director.stderr();
        let text = table(mode, scheduler, started.elapsed(), seconds, tally, rates, socket, &log);
        let mut out = std::io::stdout().lock();
        if tty && drawn > 0 {
            let _ = write!(out, "\x1b[{drawn}F\x1b[J");
        } else if !tty {
            let _ = writeln!(out);
        }
        let _ = write!(out, "{text}");
        let _ = out.flush();
        drawn = screen_rows(&text, terminal_columns());
        if now >= end {
            return Ok(());
        }
    }
}

/// The terminal's width (80 when stdout is not a terminal or does not say).
fn terminal_columns() -> usize {
    xvs::sys::terminal_columns().unwrap_or(80)
}

/// Rows `text` takes on a terminal `cols` wide (long lines wrap), so a redraw moves the
/// cursor back up exactly over the previous table.
fn screen_rows(text: &str, cols: usize) -> usize {
    text.lines().map(|l| l.chars().count().max(1).div_ceil(cols.max(1))).sum()
}

#[allow(clippy::too_many_arguments)]
fn table(
    mode: LabMode,
    scheduler: &str,
    elapsed: Duration,
    seconds: u64,
    tally: &Tally,
    (rps, cps, ups): (f64, f64, f64),
    socket: &Path,
    director_log: &str,
) -> String {
    let mut t = String::new();
    let _ = writeln!(
        t,
        "xvs demo — {} mode, scheduler {scheduler}, weights {}   {:>4.1}s / {seconds}s",
        mode.name().to_uppercase(),
        WEIGHTS.map(|w| w.to_string()).join(":"),
        elapsed.as_secs_f64()
    );
    let _ =
        writeln!(t, "VIPs {VIP4}:80 [{VIP6}]:80 (HTTP, {TCP_WORKERS} client threads)   {VIP4}:53 [{VIP6}]:53 (UDP)");
    let _ = writeln!(
        t,
        "requests {:>7} ({rps:>5.0}/s)   connections {:>6} ({cps:>5.0}/s; IPv4 {}, IPv6 {})",
        Tally::get(&tally.requests),
        Tally::get(&tally.conns),
        Tally::get(&tally.v4),
        Tally::get(&tally.v6),
    );
    let _ = writeln!(
        t,
        "udp answers {:>4} ({ups:>3.0}/s)   errors {}   connections answered by two reals {}",
        Tally::get(&tally.udp_ok),
        Tally::get(&tally.errors),
        Tally::get(&tally.split),
    );
    let stats = read_stats(socket);
    t.push('\n');
    real_rows(&mut t, scheduler, tally, stats.as_ref());
    t.push('\n');
    let _ = match &stats {
        Some(s) => writeln!(t, "director: {}", director_line(s)),
        None => writeln!(t, "director: (no counters yet)"),
    };
    for l in director_log.lines().rev().take(2).collect::<Vec<_>>().into_iter().rev() {
        let _ = writeln!(t, "  log: {l}");
    }
    let err = tally.last_error.lock().map(|l| l.clone()).unwrap_or_default();
    if !err.is_empty() {
        let _ = writeln!(t, "last error: {err}");
    }
    t
}

/// The per-real rows of the live table: what the client saw, and the director's counters.
fn real_rows(t: &mut String, scheduler: &str, tally: &Tally, stats: Option<&Listing>) {
    let served = served(tally);
    let total: u64 = served.iter().map(|s| s.2).sum();
    let expected = expected_shares(scheduler);
    let dir = stats.map(director_reals);
    t.push_str(&format!(
        "{:<4} {:<10} {:>3} {:>7} {:>5} {:>6}  {:<BAR$}  {:>5}  │ {:>7} {:>8} {:>8} {:>6}\n",
        "real", "address", "w", "tcp", "udp", "share", "client view", "want", "dir conn", "pkts in", "pkts out", "live"
    ));
    for (i, (tcp, udp, both)) in served.iter().enumerate() {
        let share = pct(*both, total);
        let want = expected.map(|e| format!("{:>4.0}%", e[i] * 100.0)).unwrap_or_else(|| "    -".into());
        let dcol = match dir.map(|d| d[i]) {
            Some(d) => format!("{:>8} {:>8} {:>8} {:>6}", d.conns, d.pkts_in, d.pkts_out, d.live),
            None => format!("{:>8} {:>8} {:>8} {:>6}", "-", "-", "-", "-"),
        };
        t.push_str(&format!(
            "r{i:<3} {:<10} {:>3} {tcp:>7} {udp:>5} {:>5.1}%  {}  {want}  │ {dcol}\n",
            real_addrs(i).0,
            WEIGHTS[i],
            share * 100.0,
            bar(share),
        ));
    }
}

fn summary(
    mode: LabMode,
    scheduler: &str,
    elapsed: Duration,
    tally: &Tally,
    stats: Option<&Listing>,
    stopped: Option<&str>,
) {
    let secs = elapsed.as_secs_f64().max(1e-3);
    let (req, conns, udp, errors) =
        (Tally::get(&tally.requests), Tally::get(&tally.conns), Tally::get(&tally.udp_ok), Tally::get(&tally.errors));
    println!();
    println!("summary: {} mode, scheduler {scheduler}, {secs:.1} s", mode.name().to_uppercase());
    println!(
        "  {req} HTTP requests ({:.0}/s) over {conns} TCP connections ({:.0}/s; IPv4 {}, IPv6 {}), \
         {udp} UDP answers, {errors} errors ({} connections answered by two reals)",
        req as f64 / secs,
        conns as f64 / secs,
        Tally::get(&tally.v4),
        Tally::get(&tally.v6),
        Tally::get(&tally.split),
    );
    let served = served(tally);
    let total: u64 = served.iter().map(|s| s.2).sum();
    let expected = expected_shares(scheduler);
    let dir = stats.map(director_reals);
    for (i, (tcp, udp, both)) in served.iter().enumerate() {
        let want = expected.map(|e| format!("{:.1}%", e[i] * 100.0)).unwrap_or_else(|| "-".into());
        let seen = dir.map(|d| format!("; the director counted {}", d[i].conns)).unwrap_or_default();
        println!(
            "  real {i} {:<10} weight {}: connections {tcp} + udp {udp} = {both}, share {:.1}% (expected {want}){seen}",
            real_addrs(i).0,
            WEIGHTS[i],
            pct(*both, total) * 100.0
        );
    }
    if let Some(note) = scheduler_note(scheduler) {
        println!("  note: {scheduler} {note}");
    }
    if let Some(s) = stats {
        println!("  director: {}", director_line(s));
    }
    match stopped {
        Some(l) => println!("  {l}"),
        None => println!("  director: no `stopped:` line (it did not stop cleanly)"),
    }
}

/// Namespaces matching `pattern` (a lab name with `*` for the short name) that still
/// exist.
fn leftover_namespaces(pattern: &str) -> Vec<String> {
    let prefix = pattern.trim_end_matches('*');
    std::fs::read_dir("/run/netns")
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.starts_with(prefix))
                .collect()
        })
        .unwrap_or_default()
}
