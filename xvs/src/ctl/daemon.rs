//! The director's side of `xvs ctl`: the live configuration model, counter baselines for
//! `-Z`, the rate estimator, and the handling of one request.
//!
//! Invariants:
//! - [`CtlState::model`] is the configuration the engine runs (the file's, then every ctl
//!   edit since; a SIGHUP replaces it with the file's again, dropping ctl edits, as a
//!   keepalived reload does).
//! - An edit reaches [`Director::apply`] only as a whole validated model; the model is
//!   replaced only when `apply` succeeded, so a failed edit changes nothing anywhere.
//! - Listings take configuration (weights, forward, scheduler) from the model and counters
//!   from the poll loops' merged snapshot (at most ~0.5 s old), minus the `-Z` baselines.
//! - The JSON listing also carries a `director` object: version, uptime (since this state
//!   was made, i.e. since `xvs run` started), live connections, frames in/out and drops
//!   (from the same snapshot as the counters), and a `vrrp` array (one object per VRRP
//!   instance, absent when none runs) and `draining` (`xvs ctl --drain` in effect). The
//!   text listings are ipvsadm's, unchanged.
//! - `--vrrp` (an xvs extension) lists the VRRP instances instead of the table, one line
//!   each (or `{"vrrp":[...]}` with `--json`); without VRRP it is an error, as `--health`
//!   without health checks is.
//! - A real's counters are matched to the snapshot by its [`RealKey`] (never by a label);
//!   a service's counters are the sum of every snapshot line of that service (removed
//!   reals and the sorry server included).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Instant;

use crate::fleet::FleetRequest;
use crate::observe::baselines::ZeroBaselines;
use crate::observe::estimator::DirectorRates;
use crate::observe::listing::{DirectorListing, TimeoutsListing, VrrpListing};
use crate::observe::rates::SharedRates;
use crate::observe::vrrp;
use crate::observe::{real_key, service_key};
use crate::vrrp::runtime::InstanceStatus;
use xvs_config::Config;
use xvs_datapath::snapshot::Snapshot;
use xvs_engine::{ConnInfo, Counters, RealKey, ServiceKey};

use super::apply::{self, Step};
use super::args::{self, Command, ListOpts, ServiceOpts, SvcId};
use super::format::{self, RealView, ServiceView};
use super::{Request, Response};

/// What the daemon lends a request: the means to change and to observe the director.
pub trait Director {
    /// Make `model` the running configuration (engine, steering maps, VIPs), or say why it
    /// cannot be (and then change nothing).
    fn apply(&mut self, model: &Config) -> Result<(), String>;
    /// The poll loops' merged snapshot.
    fn snapshot(&self) -> Snapshot;
    /// Every live connection of every poll loop.
    fn connections(&self) -> Vec<ConnInfo>;
    /// The health checks' verdicts by (service, real); `None` when no checks run.
    fn health(&self) -> Option<HashMap<(SvcId, SocketAddr), bool>> {
        None
    }
    /// The VRRP instances' status, in configuration order; empty when VRRP does not run.
    fn vrrp(&self) -> Vec<InstanceStatus> {
        Vec::new()
    }
    /// Start or stop a connection-sync daemon (`--start-daemon`, `--stop-daemon`).
    fn sync_daemon(&mut self, _cmd: &Command) -> Result<(), String> {
        Err("connection sync is not available in this director".into())
    }
    /// ipvsadm's `-L --daemon` lines of the sync daemons that run (none: empty).
    fn sync_status(&self) -> Vec<String> {
        Vec::new()
    }
    /// Whether `xvs ctl --drain` is in effect.
    fn draining(&self) -> bool {
        false
    }
    /// A fleet request: its answer, one line of JSON without the newline.
    fn fleet(&mut self, _req: FleetRequest) -> Result<String, String> {
        Err("fleet requests (announce, drain) are not available in this director".into())
    }
}

/// The ctl state the daemon keeps between requests.
#[derive(Debug)]
pub struct CtlState {
    pub model: Config,
    baselines: ZeroBaselines,
    rates: SharedRates,
    origin: Instant,
}

impl CtlState {
    pub fn new(model: Config) -> CtlState {
        CtlState::with_rates(model, SharedRates::new())
    }

    /// A state that reads the director's shared estimator.
    pub fn with_rates(model: Config, rates: SharedRates) -> CtlState {
        CtlState { model, baselines: ZeroBaselines::default(), rates, origin: Instant::now() }
    }

    /// A SIGHUP reload: the file's configuration replaces the model (ctl edits dropped).
    pub fn set_model(&mut self, model: Config) {
        self.model = model;
    }

    /// Handle one request; the response says what to print and the exit status.
    pub fn handle(&mut self, req: &Request, dir: &mut dyn Director) -> Response {
        if let Some(f) = req.fleet {
            return match dir.fleet(f) {
                Ok(json) => Response::ok(format!("{json}\n")),
                Err(e) => Response::error(e),
            };
        }
        let cmd = match args::parse(&req.args) {
            Ok(c) => c,
            Err(e) => return Response::usage(e.to_string()),
        };
        let text = req.args.join(" ");
        match cmd {
            Command::Help => Response::ok(args::USAGE.to_string()),
            Command::Version => Response::ok(version()),
            Command::List(o) => self.list(&o, dir),
            Command::Save => Response::ok(format::save(&self.views(&dir.snapshot(), None))),
            Command::Zero(scope) => {
                if let Err(m) = apply::apply_command(&mut self.model.clone(), &Command::Zero(scope)) {
                    return Response::error(format!("{text}: {m}"));
                }
                let only = scope.as_ref().map(|id| service_key(id.protocol, &id.vip));
                self.baselines.zero(&dir.snapshot(), only);
                Response::ok(String::new())
            }
            Command::StartDaemon(_) | Command::StopDaemon(_) => match dir.sync_daemon(&cmd) {
                Ok(()) => Response::ok(String::new()),
                Err(e) => Response::error(format!("{text}: {e}")),
            },
            Command::Restore => {
                let steps = match apply::parse_restore(req.input.as_deref().unwrap_or("")) {
                    Ok(s) => s,
                    Err(e) if e.usage => return Response::usage(e.to_string()),
                    Err(e) => return Response::error(e.to_string()),
                };
                self.edit(&steps, dir)
            }
            cmd => self.edit(&[(None, text, cmd)], dir),
        }
    }

    fn edit(&mut self, steps: &[Step], dir: &mut dyn Director) -> Response {
        let new = match apply::apply_batch(&self.model, steps) {
            Ok(m) => m,
            Err(e) => return Response::error(e.to_string()),
        };
        if new == self.model {
            return Response::ok(String::new());
        }
        match dir.apply(&new) {
            Ok(()) => {
                self.model = new;
                Response::ok(String::new())
            }
            Err(e) => {
                let what = if steps.len() == 1 { format!("{}: ", steps[0].1) } else { String::new() };
                Response::error(format!("{what}{e}"))
            }
        }
    }

    fn list(&self, o: &ListOpts, dir: &mut dyn Director) -> Response {
        // Health checks run only for reals with a check: with none in the model, there is
        // no verdict to show (the director may still offer an empty map).
        let checked = self.model.services.iter().any(|s| s.reals.iter().any(|r| !r.checks.is_empty()));
        let health = dir.health().filter(|_| checked);
        if o.health && health.is_none() {
            return Response::error(
                "--health: health checks are not running in this xvs (no real has a [service.real.check])",
            );
        }
        if o.connections {
            let conns = dir.connections();
            return Response::ok(if o.json {
                json_line(&format::connections_json(&conns))
            } else {
                format::connections(&conns)
            });
        }
        if o.timeout {
            return Response::ok(if o.json {
                let t = &self.model.timeouts;
                json_line(&TimeoutsOnly { timeouts: TimeoutsListing { tcp: t.tcp, tcpfin: t.tcp_fin, udp: t.udp } })
            } else {
                format::timeouts(&self.model.timeouts)
            });
        }
        if o.daemon {
            // ipvsadm's lines, one per running daemon; none running prints nothing.
            let lines = dir.sync_status();
            return Response::ok(lines.iter().map(|l| format!("{l}\n")).collect::<String>());
        }
        if o.vrrp {
            return vrrp_only(o, &vrrp::listings(&dir.vrrp(), Instant::now()));
        }
        if let Some(id) = &o.service {
            if !self.model.services.iter().any(|s| s.protocol == id.protocol && s.vip == id.vip) {
                return Response::error("No such service");
            }
        }
        let snap = dir.snapshot();
        let views = self.views(&snap, health.as_ref());
        Response::ok(if o.json {
            let mut listing = format::list_json(&views, o, &self.model.timeouts);
            listing.director = Some(DirectorListing {
                version: env!("CARGO_PKG_VERSION").to_string(),
                uptime_s: self.origin.elapsed().as_secs(),
                live_connections: u64::from(snap.live_connections),
                rx: snap.stats.rx,
                tx: snap.stats.tx,
                passed: snap.stats.passed,
                conns_created: snap.stats.conns_created,
                drops: snap.stats.dropped(),
                drops_by_reason: snap.stats.drops_by_reason().map(|(n, c)| (n.to_string(), c)).collect(),
                health_checks: health.is_some(),
                draining: dir.draining(),
            });
            listing.vrrp = vrrp::listings(&dir.vrrp(), Instant::now());
            json_line(&listing)
        } else {
            format::list(&views, o)
        })
    }

    /// The model's services with their counters, rates and health.
    pub fn views(&self, snap: &Snapshot, health: Option<&HashMap<(SvcId, SocketAddr), bool>>) -> Vec<ServiceView> {
        let mut lines: HashMap<RealKey, (Counters, u32, u32)> = HashMap::new();
        for r in &snap.reals {
            let e = lines.entry(r.key).or_insert((Counters::default(), 0, 0));
            e.0 += r.counters;
            // Active/inactive are director-wide (shared by every loop): take them once.
            e.1 = e.1.max(r.active);
            e.2 = e.2.max(r.inactive);
        }
        let mut per_service: HashMap<ServiceKey, Counters> = HashMap::new();
        for (k, (c, _, _)) in &lines {
            *per_service.entry(k.service).or_default() += self.baselines.since_zero(k, c);
        }
        let rates = self.rates.read();
        self.model
            .services
            .iter()
            .map(|s| {
                let id = SvcId::of(s);
                let key = crate::observe::key_of(s);
                let (reals, failed) = self.real_views(s, id, key, &lines, health, &rates);
                ServiceView {
                    opts: ServiceOpts::of(s),
                    stats: per_service.get(&key).copied().unwrap_or_default(),
                    rate: rates.service(&key).unwrap_or_default(),
                    reals,
                    failed,
                }
            })
            .collect()
    }

    /// A service's reals as listed, and apart the ones out after a failed check.
    fn real_views(
        &self,
        s: &xvs_config::Service,
        id: SvcId,
        key: ServiceKey,
        lines: &HashMap<RealKey, (Counters, u32, u32)>,
        health: Option<&HashMap<(SvcId, SocketAddr), bool>>,
        rates: &DirectorRates,
    ) -> (Vec<RealView>, Vec<RealView>) {
        let mut reals = Vec::new();
        let mut failed = Vec::new();
        for r in &s.reals {
            // A checked real without a verdict yet is up: checks start from up, as
            // keepalived's do, and report only changes.
            let h = health.and_then(|h| h.get(&(id, r.addr)).copied().or((!r.checks.is_empty()).then_some(true)));
            let k = real_key(key, r.addr);
            let (c, active, inactive) = lines.get(&k).copied().unwrap_or_default();
            let mut view = RealView {
                addr: r.addr,
                forward: r.forward,
                tunnel: r.tunnel,
                weight: r.weight,
                upper: r.upper_threshold,
                lower: r.lower_threshold,
                active,
                inactive,
                persistent: 0,
                stats: self.baselines.since_zero(&k, &c),
                rate: rates.real(&k).unwrap_or_default(),
                health: h,
            };
            if h == Some(false) {
                // As IPVS shows it: a failed real is gone, or at weight 0 with
                // inhibit_on_failure. Gone from the listings; `--json` keeps it apart,
                // as `failed_reals`.
                if !r.inhibit_on_failure {
                    failed.push(view);
                    continue;
                }
                view.weight = 0;
            }
            reals.push(view);
        }
        (reals, failed)
    }
}

/// `-L --timeout --json`.
#[derive(serde::Serialize)]
struct TimeoutsOnly {
    timeouts: TimeoutsListing,
}

/// `--vrrp --json`.
#[derive(serde::Serialize)]
struct VrrpOnly<'a> {
    vrrp: &'a [VrrpListing],
}

/// `--vrrp`: the instances, as text or JSON; an error when VRRP does not run.
fn vrrp_only(o: &ListOpts, instances: &[VrrpListing]) -> Response {
    if instances.is_empty() {
        return Response::error("--vrrp: VRRP is not running in this xvs (no vrrp_instance in its configuration)");
    }
    Response::ok(if o.json { json_line(&VrrpOnly { vrrp: instances }) } else { vrrp::text(instances) })
}

/// A JSON document and a newline.
fn json_line<T: serde::Serialize>(v: &T) -> String {
    let mut s = serde_json::to_string(v).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"));
    s.push('\n');
    s
}

fn version() -> String {
    format!("xvs ctl {} (ipvsadm v1.31 command syntax)\n", env!("CARGO_PKG_VERSION"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use xvs_datapath::snapshot::RealSnapshot;

    struct Fake {
        applied: Vec<Config>,
        snap: Snapshot,
        refuse: bool,
        health: Option<HashMap<(SvcId, SocketAddr), bool>>,
        vrrp: Vec<InstanceStatus>,
    }

    impl Director for Fake {
        fn apply(&mut self, model: &Config) -> Result<(), String> {
            if self.refuse {
                return Err("the engine refused it".into());
            }
            self.applied.push(model.clone());
            Ok(())
        }
        fn snapshot(&self) -> Snapshot {
            self.snap.clone()
        }
        fn connections(&self) -> Vec<ConnInfo> {
            Vec::new()
        }
        fn health(&self) -> Option<HashMap<(SvcId, SocketAddr), bool>> {
            self.health.clone()
        }
        fn vrrp(&self) -> Vec<InstanceStatus> {
            self.vrrp.clone()
        }
    }

    fn model() -> Config {
        xvs_config::parse_str(
            "[[service]]\nvip = \"10.0.1.100:80\"\nforward = \"nat\"\nscheduler = \"rr\"\n\
             [[service.real]]\naddr = \"10.0.2.11:8080\"\n[[service.real]]\naddr = \"10.0.2.12:8080\"\nweight = 2\n",
            "t.toml",
        )
        .unwrap()
    }

    fn line(real: &str, conns: u64, active: u32) -> RealSnapshot {
        let a: SocketAddr = real.parse().unwrap();
        let svc = ServiceKey { proto: 6, vip: "10.0.1.100".parse().unwrap(), prefix_len: 32, port: 80, fwmark: 0 };
        RealSnapshot {
            key: real_key(svc, a),
            forward: xvs_engine::Forward::Nat,
            weight: 1,
            available: true,
            counters: Counters {
                conns,
                pkts_in: conns * 10,
                pkts_out: conns * 8,
                bytes_in: conns * 1000,
                bytes_out: 0,
            },
            active,
            inactive: 1,
        }
    }

    fn req(s: &str) -> Request {
        Request { args: s.split_whitespace().map(str::to_string).collect(), input: None, fleet: None }
    }

    fn fake() -> Fake {
        let snap =
            Snapshot { reals: vec![line("10.0.2.11:8080", 5, 2), line("10.0.2.12:8080", 7, 3)], ..Snapshot::default() };
        Fake { applied: Vec::new(), snap, refuse: false, health: None, vrrp: Vec::new() }
    }

    /// The ctl state of the test model, and a fake director.
    fn fresh() -> (CtlState, Fake) {
        (CtlState::new(model()), fake())
    }

    #[test]
    fn listing_from_model_and_snapshot() {
        let (mut st, mut d) = fresh();
        let r = st.handle(&req("-Ln"), &mut d);
        assert_eq!(r.exit, 0, "{r:?}");
        assert_eq!(
            r.stdout,
            "IP Virtual Server version 1.2.1 (size=4096)\nProt LocalAddress:Port Scheduler Flags\n  \
             -> RemoteAddress:Port           Forward Weight ActiveConn InActConn\nTCP  10.0.1.100:80 rr\n  \
             -> 10.0.2.11:8080               Masq    1      2          1         \n  \
             -> 10.0.2.12:8080               Masq    2      3          1         \n"
        );
        let r = st.handle(&req("-Ln --stats"), &mut d);
        assert!(
            r.stdout.contains("TCP  10.0.1.100:80                      12      120       96    12000        0"),
            "{}",
            r.stdout
        );
        // -Z: counters from now on.
        assert_eq!(st.handle(&req("-Z"), &mut d).exit, 0);
        d.snap.reals[0].counters.conns += 4;
        let r = st.handle(&req("-Ln --stats"), &mut d);
        assert!(r.stdout.contains("TCP  10.0.1.100:80                       4"), "{}", r.stdout);
        assert!(r.stdout.contains("  -> 10.0.2.11:8080                      4"), "{}", r.stdout);
        let r = st.handle(&req("-Ln --health"), &mut d);
        assert_eq!((r.exit, r.stderr.contains("health checks are not running")), (1, true));
        let r = st.handle(&req("-Ln -t 10.0.1.101:80"), &mut d);
        assert_eq!((r.exit, r.stderr.as_str()), (1, "No such service\n"));
        let r = st.handle(&req("-L --json"), &mut d);
        let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
        assert_eq!(v["services"][0]["reals"][1]["weight"], 2);
        assert_eq!(st.handle(&req("-L --timeout"), &mut d).stdout, "Timeout (tcp tcpfin udp): 900 120 300\n");
    }

    #[test]
    fn edits_apply_whole_models_or_nothing() {
        let (mut st, mut d) = fresh();
        let r = st.handle(&req("-a -t 10.0.1.100:80 -r 10.0.2.13:8080 -m -w 3"), &mut d);
        assert_eq!(r.exit, 0, "{r:?}");
        assert_eq!(d.applied.len(), 1);
        assert_eq!(st.model.services[0].reals.len(), 3);
        assert!(st.handle(&req("-S"), &mut d).stdout.contains("-a -t 10.0.1.100:80 -r 10.0.2.13:8080 -m -w 3\n"));
        // An error names the command; nothing is applied.
        let r = st.handle(&req("-a -t 10.0.1.101:80 -r 10.0.2.13"), &mut d);
        assert_eq!((r.exit, r.stderr.as_str()), (1, "-a -t 10.0.1.101:80 -r 10.0.2.13: Service not defined\n"));
        assert_eq!(d.applied.len(), 1);
        // The engine refusing leaves the model as it was.
        d.refuse = true;
        let r = st.handle(&req("-d -t 10.0.1.100:80 -r 10.0.2.13:8080"), &mut d);
        assert_eq!(r.exit, 1);
        assert_eq!(st.model.services[0].reals.len(), 3);
        d.refuse = false;
        // -R: all or nothing.
        let mut rq = req("-R");
        rq.input = Some("-C\n-A -t 10.0.1.100:80 -s wlc\n-A -t 10.0.1.100:80 -s rr\n".into());
        let r = st.handle(&rq, &mut d);
        assert_eq!((r.exit, r.stderr.as_str()), (1, "line 3: -A -t 10.0.1.100:80 -s rr: Service already exists\n"));
        assert_eq!(st.model.services[0].reals.len(), 3);
        // Usage errors are exit 2.
        assert_eq!(st.handle(&req("-a -t 10.0.1.100:80"), &mut d).exit, 2);
    }

    #[test]
    fn json_has_the_director_and_failed_reals() {
        let checked = xvs_config::parse_str(
            "[[service]]\nvip = \"10.0.1.100:80\"\nforward = \"nat\"\nscheduler = \"rr\"\n\
             [[service.real]]\naddr = \"10.0.2.11:8080\"\n[service.real.check]\nkind = \"tcp\"\n\
             [[service.real]]\naddr = \"10.0.2.12:8080\"\nweight = 2\n[service.real.check]\nkind = \"tcp\"\n\
             [[service.real]]\naddr = \"10.0.2.13:8080\"\n",
            "t.toml",
        )
        .unwrap();
        let mut st = CtlState::new(checked);
        let mut d = fake();
        let id = SvcId::at(xvs_config::Protocol::Tcp, st.model.services[0].vip);
        // 10.0.2.11 has no verdict yet (checks start from up), 10.0.2.12 failed, 10.0.2.13
        // is not checked.
        d.health = Some(HashMap::from([((id, "10.0.2.12:8080".parse().unwrap()), false)]));
        d.snap.live_connections = 5;
        // The text listing is IPVS's: the failed real is gone.
        let r = st.handle(&req("-Ln"), &mut d);
        assert!(!r.stdout.contains("10.0.2.12"), "{}", r.stdout);
        let r = st.handle(&req("-Ln --stats --rate --json"), &mut d);
        assert_eq!(r.exit, 0, "{r:?}");
        let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
        let svc = &v["services"][0];
        assert_eq!(svc["reals"].as_array().unwrap().len(), 2);
        assert_eq!(svc["reals"][0]["health"], "up");
        assert_eq!(svc["reals"][1]["health"], serde_json::Value::Null);
        assert_eq!(svc["failed_reals"][0]["address"], "10.0.2.12:8080");
        assert_eq!(svc["failed_reals"][0]["health"], "down");
        assert_eq!(svc["failed_reals"][0]["weight"], 2);
        assert_eq!(svc["failed_reals"][0]["active"], 3);
        assert_eq!(v["director"]["version"], env!("CARGO_PKG_VERSION"));
        assert_eq!(v["director"]["live_connections"], 5);
        assert_eq!(v["director"]["health_checks"], true);
        let r = st.handle(&req("-Ln --health"), &mut d);
        assert!(
            r.stdout.contains("10.0.2.11:8080               Masq    1      2          1          up\n"),
            "{}",
            r.stdout
        );
        // Without any check in the model, the director's (empty) verdicts mean no checks.
        let mut st = CtlState::new(model());
        let v: serde_json::Value = serde_json::from_str(&st.handle(&req("-Ln --json"), &mut d).stdout).unwrap();
        assert_eq!(v["director"]["health_checks"], false);
        assert_eq!(v["director"]["draining"], false);
        assert_eq!(v["services"][0]["reals"][0]["health"], serde_json::Value::Null);
        assert_eq!(st.handle(&req("-Ln --health"), &mut d).exit, 1);
        assert!(v["director"]["uptime_s"].is_u64());
    }

    #[test]
    fn vrrp_in_the_json_listing_and_as_lines() {
        let (mut st, mut d) = fresh();
        // Without VRRP: no `vrrp` in the JSON, `--vrrp` is an error.
        let plain = st.handle(&req("-Ln"), &mut d).stdout;
        let v: serde_json::Value = serde_json::from_str(&st.handle(&req("-L --json"), &mut d).stdout).unwrap();
        assert!(v.get("vrrp").is_none(), "{v}");
        let r = st.handle(&req("--vrrp"), &mut d);
        assert_eq!((r.exit, r.stderr.contains("VRRP is not running")), (1, true), "{r:?}");
        let mut stats = xvs_vrrp::Stats::default();
        (stats.adverts_sent, stats.adverts_received) = (12, 4);
        d.vrrp = vec![InstanceStatus {
            name: "VI_1".into(),
            state: xvs_vrrp::State::Master,
            priority: 150,
            master: Some("192.168.20.2".parse().unwrap()),
            last_transition: Some((Instant::now() - std::time::Duration::from_secs(12), "master down timer expired")),
            interface: "eth1".into(),
            vrid: 51,
            addresses: vec!["192.168.20.50".parse().unwrap()],
            transitions: 2,
            stats,
        }];
        // The text listing stays ipvsadm's, byte for byte; -L --daemon prints nothing.
        assert_eq!(st.handle(&req("-Ln"), &mut d).stdout, plain);
        assert_eq!(st.handle(&req("-L --daemon"), &mut d), Response::ok(String::new()));
        let r = st.handle(&req("--vrrp"), &mut d);
        assert_eq!(
            (r.exit, r.stdout.as_str()),
            (0, "VI_1  MASTER  prio 150  master 192.168.20.2  since 12s (master down timer expired)\n")
        );
        let v: serde_json::Value = serde_json::from_str(&st.handle(&req("-Ln --json"), &mut d).stdout).unwrap();
        let i = &v["vrrp"][0];
        assert_eq!(
            (i["name"].as_str(), i["state"].as_str(), &i["priority"]),
            (Some("VI_1"), Some("MASTER"), &150.into())
        );
        assert_eq!(
            (i["master"].as_str(), i["interface"].as_str(), &i["vrid"]),
            (Some("192.168.20.2"), Some("eth1"), &51.into())
        );
        assert_eq!(i["last_transition"]["seconds_ago"], 12);
        assert_eq!(i["last_transition"]["cause"], "master down timer expired");
        assert_eq!(i["virtual_addresses"][0], "192.168.20.50");
        assert_eq!(
            (&i["adverts_sent"], &i["adverts_received"], &i["rejected"]["bad_checksum"]),
            (&12.into(), &4.into(), &0.into())
        );
        // Read back as the one listing type (`xvs top` does).
        let l: crate::observe::listing::Listing = serde_json::from_value(v.clone()).unwrap();
        assert_eq!(l.vrrp[0].state, "MASTER");
        let v: serde_json::Value = serde_json::from_str(&st.handle(&req("--vrrp --json"), &mut d).stdout).unwrap();
        assert_eq!(v["vrrp"][0]["state"], "MASTER");
        assert_eq!(st.handle(&req("--vrrp --stats"), &mut d).exit, 2);
    }
}
