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
//! - A monitor's threads stop within about 100 ms of [`Monitor::stop`] or its drop.

mod probe;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::Sender;
use std::time::{Duration, Instant};

pub use probe::{probe, ProbeResult};

/// Which real a check is about: the engine's own name for it (service and endpoint).
pub use xvs_engine::RealKey;

use crate::workers::Workers;

/// What to probe and how (from a real's `[service.real.check]`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ProbeKind {
    Tcp,
    Http { path: String, status: u16, digest: String },
    Misc { command: String, dynamic: bool },
    Udp { payload: Vec<u8> },
    Dns { name: String },
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CheckSpec {
    pub key: RealKey,
    /// The endpoint probed (the real's address and the check's port).
    pub target: SocketAddr,
    pub kind: ProbeKind,
    pub delay_loop: Duration,
    pub connect_timeout: Duration,
    pub retry: u32,
    pub delay_before_retry: Duration,
    /// The real's configured weight (a dynamic script's weight replaces it while up).
    pub weight: u32,
}

/// A change of a real's health.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HealthEvent {
    pub key: RealKey,
    pub up: bool,
    /// A `misc_dynamic` script's weight (exit code - 2), when it set one.
    pub weight: Option<u32>,
    /// What the probe saw, for the log.
    pub detail: String,
}

/// The running checks of one configuration (dropping it stops them).
#[derive(Debug, Default)]
pub struct Monitor {
    workers: Workers,
}

impl Monitor {
    /// Start a thread per check. `initially_up` gives each real's state to start from
    /// (reals not in it start up, as keepalived's do).
    pub fn start(
        checks: Vec<CheckSpec>,
        initially_up: impl Fn(&RealKey) -> bool,
        events: Sender<HealthEvent>,
    ) -> Monitor {
        let mut workers = Workers::default();
        for c in checks {
            let events = events.clone();
            let up = initially_up(&c.key);
            let name = format!("xvs-check-{}", c.target);
            workers.spawn(name, move |stop| run_check(c, up, stop, &events)).expect("spawning a health-check thread");
        }
        Monitor { workers }
    }

    pub fn stop(&mut self) {
        self.workers.stop();
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

fn run_check(c: CheckSpec, mut up: bool, stop: &AtomicBool, events: &Sender<HealthEvent>) {
    let mut weight: Option<u32> = None;
    // The first check comes right away, so a real that is down at start leaves quickly.
    let mut wait = Duration::ZERO;
    loop {
        if !nap(wait, stop) {
            return;
        }
        wait = c.delay_loop;
        let mut tries = 0;
        let result = loop {
            let r = probe(&c.kind, c.target, c.connect_timeout);
            if r.ok || tries >= c.retry {
                break r;
            }
            tries += 1;
            if !nap(c.delay_before_retry, stop) {
                return;
            }
        };
        let new_weight = result.weight;
        if result.ok != up || (result.ok && new_weight != weight) {
            up = result.ok;
            weight = if up { new_weight } else { None };
            let ev = HealthEvent { key: c.key, up, weight, detail: result.detail };
            if events.send(ev).is_err() {
                return;
            }
        }
    }
}

/// The checks of a config model: one per real that has a `check`.
pub fn checks_of(cfg: &xvs_config::Config) -> Vec<CheckSpec> {
    use xvs_config::CheckKind;
    let mut out = Vec::new();
    for s in &cfg.services {
        for r in &s.reals {
            let Some(ch) = &r.check else { continue };
            let port = ch.port.unwrap_or(r.addr.port());
            let kind = match ch.kind {
                CheckKind::Tcp => ProbeKind::Tcp,
                CheckKind::Http => {
                    ProbeKind::Http { path: ch.path.clone(), status: ch.status, digest: ch.digest.to_ascii_lowercase() }
                }
                CheckKind::Misc => ProbeKind::Misc { command: ch.command.clone(), dynamic: ch.dynamic },
                CheckKind::Udp => ProbeKind::Udp { payload: b"xvs health check".to_vec() },
                CheckKind::Dns => ProbeKind::Dns { name: ".".into() },
            };
            out.push(CheckSpec {
                key: crate::observe::real_key(crate::observe::service_key(s.protocol, &s.vip), r.addr),
                target: SocketAddr::new(r.addr.ip(), port),
                kind,
                delay_loop: Duration::from_secs(s.delay_loop.max(1) as u64),
                connect_timeout: Duration::from_secs(ch.connect_timeout.max(1) as u64),
                retry: ch.retry,
                delay_before_retry: Duration::from_secs(ch.delay_before_retry as u64),
                weight: r.weight,
            });
        }
    }
    out
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
        let service = crate::observe::service_key(s.protocol, &s.vip);
        s.reals.retain_mut(|r| {
            let key = crate::observe::real_key(service, r.addr);
            match state.get(&key) {
                Some((true, Some(w))) => {
                    r.weight = *w;
                    true
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

    fn key(port: u16) -> RealKey {
        let service = xvs_engine::ServiceKey { proto: 6, vip: "10.0.1.100".parse().unwrap(), prefix_len: 32, port: 80 };
        RealKey { service, addr: "127.0.0.1".parse().unwrap(), port, sorry: false }
    }

    #[test]
    fn a_real_goes_down_after_its_retries_and_comes_back_on_one_success() {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let target = l.local_addr().unwrap();
        let spec = CheckSpec {
            key: key(target.port()),
            target,
            kind: ProbeKind::Tcp,
            delay_loop: Duration::from_millis(200),
            connect_timeout: Duration::from_millis(200),
            retry: 2,
            delay_before_retry: Duration::from_millis(100),
            weight: 1,
        };
        let (tx, rx) = mpsc::channel();
        let mut m = Monitor::start(vec![spec], |_| true, tx);
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

    #[test]
    fn down_reals_leave_or_are_inhibited_and_dynamic_weights_apply() {
        // Reals .11 (plain), .12 (inhibit_on_failure) and .13 (weight 5).
        let reals: String = [(11, ""), (12, "inhibit_on_failure = true\n"), (13, "weight = 5\n")]
            .iter()
            .map(|(i, extra)| format!("[[service.real]]\naddr = \"10.0.2.{i}:80\"\n{extra}"))
            .collect();
        let text = format!("[[service]]\nvip = \"10.0.1.100:80\"\n{reals}");
        let cfg = xvs_config::parse_toml(&text, "t.toml").unwrap();
        let service = xvs_engine::ServiceKey { proto: 6, vip: "10.0.1.100".parse().unwrap(), prefix_len: 32, port: 80 };
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
