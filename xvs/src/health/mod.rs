//! Health checks with keepalived's semantics, run from the director's own kernel stack
//! (their traffic is not a service's, so the XDP program passes it to the kernel).
//!
//! Each checked real has its own thread. Every `delay_loop` seconds it probes the real
//! (TCP connect, HTTP GET, a script, a UDP exchange or a DNS query); a failure is retried
//! `retry` times, `delay_before_retry` seconds apart, and only when the last retry fails
//! too is the real declared down. One success brings it back. So a real that stops
//! answering is out within `delay_loop + retry x (delay_before_retry + connect_timeout)`.
//!
//! Invariants:
//! - Checks never run on a poll core and never block forwarding: they only send
//!   [`HealthEvent`]s, on state changes (and weight changes of `misc_dynamic` scripts),
//!   which the daemon turns into a new configuration between batches.
//! - [`Monitor::stop`] never waits on a probe: it sets the flag and returns. A check sends
//!   nothing once stopped; a MISC_CHECK script's process group is killed within 10 ms
//!   (dropping a monitor waits for that, at most half a second); a connect or read in
//!   flight ends within its own timeout in a thread that then just ends. Events carry the
//!   monitor's generation, so a late one from a replaced monitor is recognised.
//! - A check thread that cannot be started is reported, never a panic.

mod ping;
mod probe;
pub mod quorum;
mod smtp;
pub mod socket;
mod tls;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::Sender;
use std::sync::Arc;
use std::time::{Duration, Instant};

pub use probe::{probe, probe_from, ProbeResult};
pub use socket::Source;

/// Which real a check is about: the engine's own name for it (service and endpoint).
pub use xvs_engine::RealKey;

use crate::scripts::ScriptPolicy;

/// What to probe and how (from a real's `[service.real.check]`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ProbeKind {
    Tcp,
    /// HTTP_GET; SSL_GET when `tls` is set (the SNI name to send; empty: none). Every URL
    /// must pass.
    Http {
        urls: Vec<xvs_config::HttpUrl>,
        protocol: xvs_config::HttpProtocol,
        tls: Option<String>,
        /// A down real comes back after one pass over the URLs, not one URL a round.
        fast_recovery: bool,
    },
    /// `policy`: who runs it; an error (an unknown user) fails every probe with it, so the
    /// real is down with a reason instead of the script running as someone else.
    Misc {
        command: String,
        dynamic: bool,
        policy: Result<ScriptPolicy, String>,
    },
    Udp(xvs_config::UdpCheck),
    /// A query for `name` of type `qtype` (DNS's number: A 1, NS 2, CNAME 5, SOA 6, MX 15,
    /// TXT 16, AAAA 28).
    Dns {
        name: String,
        qtype: u16,
    },
    Smtp {
        helo: String,
    },
    Ping,
    File(xvs_config::FileCheck),
}

impl ProbeKind {
    /// The same check asking only URL `i` (a recovering HTTP check without fast_recovery
    /// walks its URLs one a round, as keepalived does).
    fn only_url(&self, i: usize) -> ProbeKind {
        match self {
            ProbeKind::Http { urls, protocol, tls, fast_recovery } => ProbeKind::Http {
                urls: urls.get(i).cloned().into_iter().collect(),
                protocol: *protocol,
                tls: tls.clone(),
                fast_recovery: *fast_recovery,
            },
            other => other.clone(),
        }
    }

    /// URLs walked one a round while the real is down (0: the whole probe at once).
    fn slow_recovery_urls(&self) -> usize {
        match self {
            ProbeKind::Http { urls, fast_recovery: false, .. } if urls.len() > 1 => urls.len(),
            _ => 0,
        }
    }
}

/// What a check says of its real's weight while up.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum WeightSay {
    /// Nothing: the configured weight.
    #[default]
    Keep,
    /// A `misc_dynamic` script's weight (exit code - 2), replacing the configured one.
    Set(u32),
    /// A tracked file's number times its weight, added to the weight.
    Add(i64),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CheckSpec {
    pub key: RealKey,
    /// Which of the real's checks this is (all must pass: [`combine`]).
    pub index: usize,
    /// The endpoint probed (`connect_ip` or the real's address, and the check's port).
    pub target: SocketAddr,
    /// Where the probe comes from (`bindto`, `bind_port`, `bind_if`, `fwmark`).
    pub source: Source,
    pub kind: ProbeKind,
    pub delay_loop: Duration,
    pub connect_timeout: Duration,
    pub retry: u32,
    pub delay_before_retry: Duration,
    /// The real's configured weight (a dynamic script's weight replaces it while up).
    pub weight: u32,
    /// keepalived `alpha`: the real starts down until its first probe passes.
    pub alpha: bool,
    /// The most the first probe waits, at random (keepalived `warmup`).
    pub warmup: Duration,
}

/// A change of a real's health.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HealthEvent {
    pub key: RealKey,
    pub up: bool,
    /// What the check says of the real's weight.
    pub weight: WeightSay,
    /// What the probe saw, for the log.
    pub detail: String,
    /// The generation of the monitor that sent it.
    pub generation: u64,
    /// Which of the real's checks changed (see [`CheckSpec::index`]).
    pub index: usize,
}

/// The running checks of one configuration (dropping it stops them).
#[derive(Debug, Default)]
pub struct Monitor {
    stop: Arc<AtomicBool>,
    /// Check threads still running.
    alive: Arc<AtomicUsize>,
}

/// Decrements the live-thread count when a check thread ends, however it ends.
struct Alive(Arc<AtomicUsize>);

impl Drop for Alive {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Monitor {
    /// Start a thread per check, its events tagged `generation`. `initially_up` gives
    /// the state of a real already known; a new one starts up, or down with `alpha`, as
    /// keepalived's do.
    /// Returns the monitor and the checks whose thread could not be started, with why
    /// (their reals keep their state).
    pub fn start(
        checks: Vec<CheckSpec>,
        initially_up: impl Fn(&CheckSpec) -> Option<bool>,
        events: Sender<HealthEvent>,
        generation: u64,
    ) -> (Monitor, Vec<(RealKey, String)>) {
        let m = Monitor::default();
        let mut failed = Vec::new();
        for c in checks {
            let events = events.clone();
            let up = initially_up(&c).unwrap_or(!c.alpha);
            let key = c.key;
            let (stop, alive) = (m.stop.clone(), Alive(m.alive.clone()));
            m.alive.fetch_add(1, Ordering::Relaxed);
            let spawned = std::thread::Builder::new().name(format!("xvs-check-{}", c.target)).spawn(move || {
                let _alive = alive;
                run_check(c, up, &stop, &events, generation)
            });
            if let Err(e) = spawned {
                // The closure (and its `Alive`) was dropped: the count is right again.
                failed.push((key, format!("starting its check thread: {e}")));
            }
        }
        (m, failed)
    }

    /// Stop every check (see the module invariants); returns at once.
    pub fn stop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }

    /// Stop and let go without waiting at all (a monitor replaced by a reload: its
    /// scripts are killed by their own threads within 10 ms all the same).
    pub fn retire(mut self) {
        self.stop();
        self.alive = Arc::new(AtomicUsize::new(0));
    }

    /// Check threads still running.
    pub fn running(&self) -> usize {
        self.alive.load(Ordering::Relaxed)
    }
}

impl Drop for Monitor {
    /// Stop, and give scripts the moment their groups take to be killed, so none outlives
    /// the process; a network probe in flight is not waited for.
    fn drop(&mut self) {
        self.stop();
        let end = Instant::now() + Duration::from_millis(500);
        while self.running() > 0 && Instant::now() < end {
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}

/// Sleep `d` unless `stop` is set meanwhile; false when stopped.
fn nap(d: Duration, stop: &AtomicBool) -> bool {
    let end = Instant::now() + d;
    while Instant::now() < end {
        if stop.load(Ordering::Relaxed) {
            return false;
        }
        std::thread::sleep((end - Instant::now()).min(Duration::from_millis(50)));
    }
    !stop.load(Ordering::Relaxed)
}

fn run_check(c: CheckSpec, mut up: bool, stop: &AtomicBool, events: &Sender<HealthEvent>, generation: u64) {
    let mut weight = WeightSay::Keep;
    if let ProbeKind::File(f) = &c.kind {
        init_track_file(f);
    }
    // A tracked file is read every second (keepalived watches it with inotify).
    let every =
        if matches!(c.kind, ProbeKind::File(_)) { c.delay_loop.min(Duration::from_secs(1)) } else { c.delay_loop };
    // keepalived's warmup: the first probe after a random part of `warmup`, so checks
    // started together do not probe together.
    let warmup_ms = c.warmup.as_millis() as u64;
    let mut wait =
        Duration::from_millis(if warmup_ms == 0 { 0 } else { getrandom::u64().unwrap_or(0) % (warmup_ms + 1) });
    // A down HTTP check without fast_recovery asks one URL a round; the next one to ask.
    let mut next_url = 0;
    loop {
        if !nap(wait, stop) {
            return;
        }
        wait = every;
        let walk = if up { 0 } else { c.kind.slow_recovery_urls() };
        let single;
        let kind = if walk > 0 {
            single = c.kind.only_url(next_url);
            &single
        } else {
            &c.kind
        };
        let mut tries = 0;
        let result = loop {
            let r = probe_from(kind, c.target, &c.source, c.connect_timeout, stop);
            if stop.load(Ordering::Relaxed) {
                return;
            }
            if r.ok || tries >= c.retry {
                break r;
            }
            tries += 1;
            if !nap(c.delay_before_retry, stop) {
                return;
            }
        };
        if walk > 0 {
            next_url = if result.ok { next_url + 1 } else { 0 };
            if next_url < walk {
                continue;
            }
            next_url = 0;
        }
        if result.ok != up || (result.ok && result.weight != weight) {
            up = result.ok;
            weight = if up { result.weight } else { WeightSay::Keep };
            let ev = HealthEvent { key: c.key, up, weight, detail: result.detail, generation, index: c.index };
            if events.send(ev).is_err() {
                return;
            }
        }
    }
}

/// keepalived's `init_file [VALUE] [overwrite]`: write VALUE when the file is missing, or
/// always with overwrite (a failure is the probe's to report: it reads what is there).
fn init_track_file(f: &xvs_config::FileCheck) {
    if let Some((value, overwrite)) = f.init {
        if overwrite || !std::path::Path::new(&f.path).exists() {
            let _ = std::fs::write(&f.path, format!("{value}\n"));
        }
    }
}

/// DNS's number of query type `name` (one of `xvs_config::DNS_TYPES`, checked at load).
fn dns_qtype(name: &str) -> u16 {
    match name {
        "A" => 1,
        "NS" => 2,
        "CNAME" => 5,
        "MX" => 15,
        "TXT" => 16,
        "AAAA" => 28,
        _ => 6,
    }
}

/// The probe of check `ch` (of a config `cfg`).
fn probe_kind(cfg: &xvs_config::Config, ch: &xvs_config::Check) -> ProbeKind {
    use xvs_config::CheckKind;
    match ch.kind {
        CheckKind::Tcp => ProbeKind::Tcp,
        CheckKind::Http | CheckKind::Ssl => ProbeKind::Http {
            urls: ch
                .urls
                .iter()
                .map(|u| xvs_config::HttpUrl { digest: u.digest.to_ascii_lowercase(), ..u.clone() })
                .collect(),
            protocol: ch.http_protocol,
            tls: (ch.kind == CheckKind::Ssl).then(|| ch.sni.clone()),
            fast_recovery: ch.fast_recovery,
        },
        CheckKind::Misc => ProbeKind::Misc {
            command: ch.command.clone(),
            dynamic: ch.dynamic,
            policy: crate::vrrp::spec::script_policy(&cfg.vrrp, ch.user.as_ref()),
        },
        CheckKind::Udp => ProbeKind::Udp(ch.udp.clone()),
        CheckKind::Dns => ProbeKind::Dns { name: ch.dns_name.clone(), qtype: dns_qtype(&ch.dns_type) },
        CheckKind::Smtp => ProbeKind::Smtp { helo: ch.helo_name.clone() },
        CheckKind::Ping => ProbeKind::Ping,
        CheckKind::File => ProbeKind::File(ch.file.clone()),
    }
}

/// The checks of a config model: one per check of every real.
pub fn checks_of(cfg: &xvs_config::Config) -> Vec<CheckSpec> {
    let mut out = Vec::new();
    for s in &cfg.services {
        for r in &s.reals {
            for (index, ch) in r.checks.iter().enumerate() {
                let port = ch.port.unwrap_or(r.addr.port());
                let delay_loop = ch.delay_loop.unwrap_or(s.delay_loop).max(1);
                out.push(CheckSpec {
                    key: crate::observe::real_key(crate::observe::key_of(s), r.addr),
                    index,
                    target: SocketAddr::new(ch.connect.ip.unwrap_or(r.addr.ip()), port),
                    source: Source::of(&ch.connect),
                    kind: probe_kind(cfg, ch),
                    delay_loop: Duration::from_secs(u64::from(delay_loop)),
                    connect_timeout: Duration::from_secs(ch.connect_timeout.max(1) as u64),
                    retry: ch.retry,
                    delay_before_retry: Duration::from_secs(ch.delay_before_retry as u64),
                    weight: r.weight,
                    // keepalived clears alpha for a FILE_CHECK: its state is known at once.
                    alpha: ch.alpha.unwrap_or(s.alpha) && ch.kind != xvs_config::CheckKind::File,
                    warmup: Duration::from_secs(u64::from(ch.warmup.unwrap_or(delay_loop))),
                });
            }
        }
    }
    out
}

/// A real's health from its checks' (keepalived: up only while every checker is up):
/// `states` has what each check last said, by (real, check index); a check that has not
/// said anything yet counts as it started (up, or down with `alpha`). The weight, when a
/// check says something of it: the first dynamic script's weight (else the configured
/// one) plus every tracked file's addition, within 0..=MAX_WEIGHT. `None` when `key` has
/// no check in `checks`.
pub fn combine(
    key: &RealKey,
    checks: &[CheckSpec],
    states: &std::collections::HashMap<(RealKey, usize), (bool, WeightSay)>,
) -> Option<(bool, Option<u32>)> {
    let mine: Vec<&CheckSpec> = checks.iter().filter(|c| c.key == *key).collect();
    let configured = mine.first()?.weight;
    let (mut set, mut add, mut said) = (None, 0i64, false);
    for c in mine {
        match states.get(&(c.key, c.index)) {
            Some((true, w)) => match *w {
                WeightSay::Keep => {}
                WeightSay::Set(v) => (set, said) = (set.or(Some(v)), true),
                WeightSay::Add(v) => (add, said) = (add.saturating_add(v), true),
            },
            Some((false, _)) => return Some((false, None)),
            None if c.alpha => return Some((false, None)),
            None => {}
        }
    }
    let weight = said.then(|| {
        let w = i64::from(set.unwrap_or(configured)).saturating_add(add);
        w.clamp(0, i64::from(xvs_config::MAX_WEIGHT)) as u32
    });
    Some((true, weight))
}

/// Apply health to a model: a down real is removed, or set to weight 0 when it has
/// `inhibit_on_failure`; an up real with a dynamic weight takes it. `state` maps each
/// checked real to (up, dynamic weight).
pub fn effective(
    cfg: &xvs_config::Config,
    state: &std::collections::HashMap<RealKey, (bool, Option<u32>)>,
) -> xvs_config::Config {
    let mut out = cfg.clone();
    for s in &mut out.services {
        let service = crate::observe::key_of(s);
        s.reals.retain_mut(|r| {
            let key = crate::observe::real_key(service, r.addr);
            match state.get(&key) {
                Some((true, Some(w))) => {
                    r.weight = *w;
                    true
                }
                // alpha: a checked real is down until its first probe passes.
                None if r
                    .checks
                    .iter()
                    .any(|c| c.alpha.unwrap_or(s.alpha) && c.kind != xvs_config::CheckKind::File) =>
                {
                    if r.inhibit_on_failure {
                        r.weight = 0;
                    }
                    r.inhibit_on_failure
                }
                Some((true, None)) | None => true,
                Some((false, _)) if r.inhibit_on_failure => {
                    r.weight = 0;
                    true
                }
                Some((false, _)) => false,
            }
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;
    use std::net::TcpListener;
    use std::sync::mpsc;

    /// The tests' service: TCP 10.0.1.100:80.
    fn web() -> xvs_engine::ServiceKey {
        crate::observe::service_key(
            xvs_config::Protocol::Tcp,
            &xvs_config::Vip::single("10.0.1.100".parse().unwrap(), 80),
        )
    }

    fn key(port: u16) -> RealKey {
        let service = web();
        RealKey { service, addr: "127.0.0.1".parse().unwrap(), port, sorry: false }
    }

    #[test]
    fn a_real_goes_down_after_its_retries_and_comes_back_on_one_success() {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let target = l.local_addr().unwrap();
        let spec = CheckSpec {
            key: key(target.port()),
            index: 0,
            target,
            source: Source::default(),
            kind: ProbeKind::Tcp,
            delay_loop: Duration::from_millis(200),
            connect_timeout: Duration::from_millis(200),
            retry: 2,
            delay_before_retry: Duration::from_millis(100),
            weight: 1,
            alpha: false,
            warmup: Duration::ZERO,
        };
        let (tx, rx) = mpsc::channel();
        let (mut m, failed) = Monitor::start(vec![spec], |_| Some(true), tx, 1);
        assert!(failed.is_empty());
        // Up at start and answering: no event.
        assert!(rx.recv_timeout(Duration::from_millis(500)).is_err());
        drop(l);
        let t0 = Instant::now();
        let ev = rx.recv_timeout(Duration::from_secs(3)).expect("a down event");
        assert!(!ev.up, "{ev:?}");
        // Declared down only after the retries: at least 2 x delay_before_retry later.
        assert!(t0.elapsed() >= Duration::from_millis(200), "{:?}", t0.elapsed());
        assert!(t0.elapsed() < Duration::from_millis(200 + 2 * 300 + 400), "{:?}", t0.elapsed());
        let _l = TcpListener::bind(target).unwrap();
        let ev = rx.recv_timeout(Duration::from_secs(3)).expect("an up event");
        assert!(ev.up, "{ev:?}");
        m.stop();
    }

    /// A directory of its own for one test's scripts (world-writable: `nobody` writes).
    fn scratch(name: &str) -> std::path::PathBuf {
        use std::os::unix::fs::PermissionsExt;
        let d = std::env::temp_dir().join(format!("xvs-health-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir(&d).unwrap();
        std::fs::set_permissions(&d, std::fs::Permissions::from_mode(0o777)).unwrap();
        d
    }

    fn script(dir: &std::path::Path, body: &str) -> String {
        use std::os::unix::fs::PermissionsExt;
        let p = dir.join("check.sh");
        std::fs::write(&p, format!("#!/bin/sh\n{body}\n")).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
        p.display().to_string()
    }

    fn misc_spec(command: String, policy: Result<ScriptPolicy, String>) -> CheckSpec {
        CheckSpec {
            key: key(1),
            index: 0,
            target: "127.0.0.1:1".parse().unwrap(),
            source: Source::default(),
            kind: ProbeKind::Misc { command, dynamic: false, policy },
            delay_loop: Duration::from_secs(60),
            connect_timeout: Duration::from_secs(30),
            retry: 0,
            delay_before_retry: Duration::from_secs(1),
            weight: 1,
            alpha: false,
            warmup: Duration::ZERO,
        }
    }

    fn wait_file(p: &std::path::Path) -> String {
        let t = Instant::now();
        loop {
            if let Ok(s) = std::fs::read_to_string(p) {
                if s.ends_with('\n') {
                    return s;
                }
            }
            assert!(t.elapsed() < Duration::from_secs(5), "{} not written", p.display());
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// The reported stall: a `sleep 25` MISC_CHECK held a reload (and `ctl`) for 23 s.
    /// Stopping returns at once, and the script's whole group is gone right after.
    #[test]
    fn stopping_never_waits_on_a_probe_and_kills_the_script() {
        let d = scratch("stop");
        let pidfile = d.join("pid");
        let cmd = script(&d, &format!("sleep 25 &\necho \"$$ $!\" > {}\nwait", pidfile.display()));
        let (tx, rx) = mpsc::channel();
        let (mut m, _) = Monitor::start(vec![misc_spec(cmd, Ok(ScriptPolicy::default()))], |_| Some(true), tx, 7);
        let pids: Vec<i32> = wait_file(&pidfile).split_whitespace().map(|p| p.parse().unwrap()).collect();
        let t0 = Instant::now();
        m.stop();
        assert!(t0.elapsed() < Duration::from_millis(50), "stop waited {:?}", t0.elapsed());
        drop(m);
        assert!(t0.elapsed() < Duration::from_millis(600), "drop waited {:?}", t0.elapsed());
        let gone = |pid: i32| std::fs::read_to_string(format!("/proc/{pid}/stat")).map_or(true, |s| s.contains(") Z "));
        let t = Instant::now();
        while !pids.iter().all(|p| gone(*p)) {
            assert!(t.elapsed() < Duration::from_secs(2), "script processes {pids:?} outlived the stop");
            std::thread::sleep(Duration::from_millis(10));
        }
        assert!(rx.try_recv().is_err(), "a stopped check sent an event");
        let _ = std::fs::remove_dir_all(&d);
    }

    /// MISC_CHECK runs as its `user` (or `script_user`), never as root regardless; an
    /// unknown user keeps the real down with the reason.
    #[test]
    fn misc_checks_run_as_their_user() {
        let d = scratch("user");
        let out = d.join("uid");
        let cmd = script(&d, &format!("id -u > {}", out.display()));
        let vrrp = xvs_config::Vrrp::default();
        let nobody = xvs_config::RunAs { user: "nobody".into(), group: None };
        let policy = crate::vrrp::spec::script_policy(&vrrp, Some(&nobody));
        let (tx, _rx) = mpsc::channel();
        let (m, _) = Monitor::start(vec![misc_spec(cmd.clone(), policy)], |_| Some(true), tx, 1);
        let uid = nix::unistd::User::from_name("nobody").unwrap().unwrap().uid.as_raw();
        assert_eq!(wait_file(&out).trim(), uid.to_string());
        drop(m);
        let ghost = xvs_config::RunAs { user: "no-such-user-xvs".into(), group: None };
        let policy = crate::vrrp::spec::script_policy(&vrrp, Some(&ghost));
        let (tx, rx) = mpsc::channel();
        let (_m, _) = Monitor::start(vec![misc_spec(cmd, policy)], |_| Some(true), tx, 1);
        let ev = rx.recv_timeout(Duration::from_secs(5)).expect("a down event");
        assert!(!ev.up && ev.detail.contains("no such user"), "{ev:?}");
        let _ = std::fs::remove_dir_all(&d);
    }

    /// alpha: a checked real starts down and comes up with its first passing probe;
    /// warmup: the first probe waits at random, at most `warmup`.
    #[test]
    fn alpha_starts_down_and_warmup_delays_the_first_probe() {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let target = l.local_addr().unwrap();
        let spec = |alpha, warmup| CheckSpec {
            key: key(target.port()),
            index: 0,
            target,
            source: Source::default(),
            kind: ProbeKind::Tcp,
            delay_loop: Duration::from_secs(60),
            connect_timeout: Duration::from_millis(200),
            retry: 0,
            delay_before_retry: Duration::from_millis(100),
            weight: 1,
            alpha,
            warmup,
        };
        let (tx, rx) = mpsc::channel();
        let (_m, _) = Monitor::start(vec![spec(true, Duration::ZERO)], |_| None, tx, 1);
        let ev = rx.recv_timeout(Duration::from_secs(2)).expect("an up event: alpha started it down");
        assert!(ev.up);
        // Without alpha an answering real starts up: no event.
        let (tx, rx) = mpsc::channel();
        let (_m, _) = Monitor::start(vec![spec(false, Duration::ZERO)], |_| None, tx, 1);
        assert!(rx.recv_timeout(Duration::from_millis(500)).is_err());
        // Warmup: ten alpha checks with warmup 1 s come up spread over that second.
        let (tx, rx) = mpsc::channel();
        let t0 = Instant::now();
        let (_m, _) = Monitor::start((0..10).map(|_| spec(true, Duration::from_secs(1))).collect(), |_| None, tx, 1);
        let mut at: Vec<Duration> =
            (0..10).map(|_| rx.recv_timeout(Duration::from_secs(3)).map(|_| t0.elapsed()).unwrap()).collect();
        at.sort();
        assert!(at[9] <= Duration::from_millis(1300), "within the warmup: {at:?}");
        assert!(at[9] - at[0] >= Duration::from_millis(100), "spread, not together: {at:?}");
    }

    /// keepalived: a real with several checkers is up only while all of them are.
    #[test]
    fn every_check_of_a_real_must_pass() {
        let text = "[[service]]\nvip = \"10.0.1.100:80\"\n[[service.real]]\naddr = \"10.0.2.11:80\"\n\
                    [[service.real.check]]\nkind = \"tcp\"\n[[service.real.check]]\nkind = \"http\"\nport = 8080\n";
        let cfg = xvs_config::parse_toml(text, "t.toml").unwrap();
        let checks = checks_of(&cfg);
        assert_eq!(checks.iter().map(|c| (c.index, c.target.port())).collect::<Vec<_>>(), [(0, 80), (1, 8080)]);
        let k = checks[0].key;
        let mut st = HashMap::new();
        assert_eq!(combine(&k, &checks, &st), Some((true, None)), "nothing said yet: as started");
        st.insert((k, 0), (true, WeightSay::Keep));
        st.insert((k, 1), (false, WeightSay::Keep));
        assert_eq!(combine(&k, &checks, &st), Some((false, None)), "one down: down");
        st.insert((k, 1), (true, WeightSay::Set(7)));
        assert_eq!(combine(&k, &checks, &st), Some((true, Some(7))));
        assert!(cfg.to_toml().matches("[[service.real.check]]").count() == 2, "{}", cfg.to_toml());
    }

    #[test]
    fn alpha_keeps_unchecked_verdicts_down() {
        let text = "[[service]]\nvip = \"10.0.1.100:80\"\nalpha = true\n\
                    [[service.real]]\naddr = \"10.0.2.11:80\"\n[service.real.check]\nkind = \"tcp\"\n\
                    [[service.real]]\naddr = \"10.0.2.12:80\"\ninhibit_on_failure = true\n[service.real.check]\nkind = \"tcp\"\n\
                    [[service.real]]\naddr = \"10.0.2.13:80\"\n";
        let cfg = xvs_config::parse_toml(text, "t.toml").unwrap();
        let eff = effective(&cfg, &HashMap::new());
        let reals: Vec<(String, u32)> = eff.services[0].reals.iter().map(|r| (r.addr.to_string(), r.weight)).collect();
        assert_eq!(
            reals,
            vec![("10.0.2.12:80".to_string(), 0), ("10.0.2.13:80".to_string(), 1)],
            "unchecked .13 is up"
        );
        let service = web();
        let k = RealKey { service, addr: "10.0.2.11".parse().unwrap(), port: 80, sorry: false };
        let eff = effective(&cfg, &HashMap::from([(k, (true, None))]));
        assert_eq!(eff.services[0].reals.len(), 3, "up after its first passing probe");
    }

    #[test]
    fn down_reals_leave_or_are_inhibited_and_dynamic_weights_apply() {
        // Reals .11 (plain), .12 (inhibit_on_failure) and .13 (weight 5).
        let reals: String = [(11, ""), (12, "inhibit_on_failure = true\n"), (13, "weight = 5\n")]
            .iter()
            .map(|(i, extra)| format!("[[service.real]]\naddr = \"10.0.2.{i}:80\"\n{extra}"))
            .collect();
        let text = format!("[[service]]\nvip = \"10.0.1.100:80\"\n{reals}");
        let cfg = xvs_config::parse_toml(&text, "t.toml").unwrap();
        let service = web();
        let k = |last: u8| RealKey { service, addr: format!("10.0.2.{last}").parse().unwrap(), port: 80, sorry: false };
        let mut state = HashMap::new();
        state.insert(k(11), (false, None));
        state.insert(k(12), (false, None));
        state.insert(k(13), (true, Some(3)));
        let eff = effective(&cfg, &state);
        let reals: Vec<(String, u32)> = eff.services[0].reals.iter().map(|r| (r.addr.to_string(), r.weight)).collect();
        assert_eq!(reals, vec![("10.0.2.12:80".to_string(), 0), ("10.0.2.13:80".to_string(), 3)]);
    }
}
