//! The VRRP runtime of `xvs run`: one thread that owns every instance's socket and state
//! machine (`xvs_vrrp::Instance`), feeds them adverts and the time, sends what they
//! produce, and makes each state change real on the host — a MASTER owns and announces
//! its virtual addresses, any other state does not have them.
//!
//! Invariants:
//! - The thread never blocks longer than the nearest protocol deadline (or
//!   [`MAX_SLEEP`], to see a stop request); nothing it calls waits on the network.
//! - An address this runtime added is removed when its instance leaves MASTER, and on
//!   every exit path of the thread (a stop sends priority-0 adverts first, as keepalived
//!   does, so the backup takes over at once).
//! - Every address it adds or removes is told to the address hook, if any (`xvs run`'s
//!   watchdog records them, to remove them should the process die without a stop).
//! - Every state change is reported once to the caller (for the services it gates, the
//!   log and the listings) and logged with its cause.

use std::net::IpAddr;
use std::os::fd::AsFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::Sender;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use xvs_vrrp::{Cause, Event, Instance, InstanceConfig, State};

use super::announce;
use super::group::{GroupSpec, Groups};
use super::socket::VrrpSocket;
use super::track::{effective, ScriptTracker, TrackedScript, Tracking};
use crate::host;
use crate::scripts::{Outcome, Run, Script};

/// The longest the thread sleeps before it looks at its stop flag.
pub const MAX_SLEEP: Duration = Duration::from_millis(50);
/// The most messages one instance's socket is read for in one round.
pub const RECV_BURST: usize = 64;

/// A virtual address of an instance.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VirtualAddress {
    pub addr: IpAddr,
    pub prefix_len: u8,
    /// The interface it goes on (`dev`); `None`: the instance's.
    pub dev: Option<String>,
    /// Its address label (`label`).
    pub label: Option<String>,
}

/// The scripts run on state changes (keepalived's `notify_*`).
#[derive(Clone, Debug, Default)]
pub struct Notify {
    pub master: Option<Script>,
    pub backup: Option<Script>,
    pub fault: Option<Script>,
    pub stop: Option<Script>,
    /// `notify`: every change, with `INSTANCE NAME STATE PRIORITY` after its own arguments.
    pub any: Option<Script>,
}

/// How long a notify script may run before its process group is killed (keepalived sets
/// none; an unbounded child is not something a director should keep).
pub const NOTIFY_TIMEOUT: Duration = Duration::from_secs(60);

/// keepalived's `garp_master_delay` / `garp_master_repeat` / `garp_master_refresh`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GarpPolicy {
    /// After the first announcements on becoming MASTER, another round this much later.
    pub delay: Duration,
    /// Announcements per round.
    pub repeat: u32,
    /// While MASTER, a round this often (`None`: never).
    pub refresh: Option<Duration>,
}

impl Default for GarpPolicy {
    /// keepalived's defaults: 5 s, 5 per round, no refresh.
    fn default() -> Self {
        GarpPolicy { delay: Duration::from_secs(5), repeat: 5, refresh: None }
    }
}

/// Everything one instance needs at run time.
#[derive(Clone, Debug)]
pub struct InstanceSpec {
    pub protocol: InstanceConfig,
    pub interface: String,
    pub addresses: Vec<VirtualAddress>,
    pub garp: GarpPolicy,
    pub notify: Notify,
    /// Interfaces and scripts it tracks (FAULT or a priority change).
    pub tracking: Tracking,
}

/// An address the runtime added to the host or removed from it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AddressChange {
    Added { ifindex: u32, addr: IpAddr, prefix_len: u8 },
    Removed { ifindex: u32, addr: IpAddr, prefix_len: u8 },
}

/// Told of every [`AddressChange`], from the runtime's thread.
pub type AddressHook = Arc<dyn Fn(AddressChange) + Send + Sync>;

/// A state change, as the caller hears of it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Transition {
    pub instance: String,
    pub from: State,
    pub to: State,
    pub cause: &'static str,
}

/// What the listings show of an instance.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InstanceStatus {
    pub name: String,
    pub state: State,
    pub priority: u8,
    pub master: Option<IpAddr>,
    pub last_transition: Option<(Instant, &'static str)>,
    /// The interface its adverts go out on.
    pub interface: String,
    pub vrid: u8,
    /// Its virtual addresses.
    pub addresses: Vec<IpAddr>,
    /// State changes since the start (the startup one included).
    pub transitions: u64,
    /// The protocol's counters (adverts sent and received, rejects by reason).
    pub stats: xvs_vrrp::Stats,
}

/// A reader of a runtime's status (cheap to clone), for the listings and the metrics.
#[derive(Clone, Debug, Default)]
pub struct StatusReader(Arc<Mutex<Vec<InstanceStatus>>>);

impl StatusReader {
    /// Every instance's state as of the runtime's last round.
    pub fn read(&self) -> Vec<InstanceStatus> {
        self.0.lock().map(|s| s.clone()).unwrap_or_default()
    }
}

/// The running VRRP thread.
#[derive(Debug)]
pub struct VrrpRuntime {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
    status: Arc<Mutex<Vec<InstanceStatus>>>,
}

/// One instance on the wire.
struct Running {
    spec: InstanceSpec,
    socket: VrrpSocket,
    ifindex: u32,
    mac: [u8; 6],
    instance: Instance,
    /// Addresses this runtime added (to remove them again).
    added: Vec<(u32, IpAddr, u8)>,
    hook: Option<AddressHook>,
    /// When the next round of announcements is due, and how many rounds of the
    /// delayed kind are left.
    next_garp: Option<Instant>,
    delayed_rounds: u32,
    /// Notify scripts still running (polled, never waited for).
    scripts: Vec<Run>,
    /// Whether tracking has put the instance in FAULT.
    faulted: bool,
    /// State changes so far.
    transitions: u64,
}

impl Running {
    fn open(spec: InstanceSpec, now_ms: u64) -> Result<Running, String> {
        let name = spec.protocol.name.clone();
        let ifindex =
            host::ifindex(&spec.interface).map_err(|e| format!("{name}: interface {}: {e}", spec.interface))?;
        let mac = host::mac_of(&spec.interface).map_err(|e| format!("{name}: {e}"))?;
        let multicast = spec.protocol.unicast_peers.is_empty();
        let socket = VrrpSocket::open(&spec.interface, ifindex, spec.protocol.primary, multicast)
            .map_err(|e| format!("{name}: VRRP socket on {}: {e}", spec.interface))?;
        let instance = Instance::new(spec.protocol.clone(), now_ms).map_err(|e| format!("{name}: {e}"))?;
        Ok(Running {
            spec,
            socket,
            ifindex,
            mac,
            instance,
            added: Vec::new(),
            hook: None,
            next_garp: None,
            delayed_rounds: 0,
            scripts: Vec::new(),
            transitions: 0,
            faulted: false,
        })
    }

    fn name(&self) -> &str {
        &self.spec.protocol.name
    }

    /// Own the virtual addresses and announce them.
    fn take_addresses(&mut self) {
        for va in &self.spec.addresses {
            let index = match &va.dev {
                Some(dev) => match host::ifindex(dev) {
                    Ok(i) => i,
                    Err(e) => {
                        log(format!("{}: {} on {dev}: {e}", self.spec.protocol.name, va.addr));
                        continue;
                    }
                },
                None => self.ifindex,
            };
            let added = match &va.label {
                Some(l) => host::add_labeled_address(index, va.addr, va.prefix_len, l),
                None => host::add_address(index, va.addr, va.prefix_len),
            };
            match added {
                Ok(()) => {
                    self.added.push((index, va.addr, va.prefix_len));
                    if let Some(h) = &self.hook {
                        h(AddressChange::Added { ifindex: index, addr: va.addr, prefix_len: va.prefix_len });
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
                Err(e) => log(format!("{}: adding {}/{}: {e}", self.spec.protocol.name, va.addr, va.prefix_len)),
            }
        }
        self.announce();
        self.next_garp = Some(Instant::now() + self.spec.garp.delay);
        self.delayed_rounds = 1;
    }

    /// Give the addresses this runtime added back.
    fn drop_addresses(&mut self) {
        for (index, addr, len) in self.added.drain(..) {
            match host::del_address(index, addr, len) {
                Ok(()) => {
                    if let Some(h) = &self.hook {
                        h(AddressChange::Removed { ifindex: index, addr, prefix_len: len });
                    }
                }
                Err(e) => log(format!("{}: removing {addr}/{len}: {e}", self.spec.protocol.name)),
            }
        }
        self.next_garp = None;
    }

    /// One round of announcements of every address.
    fn announce(&self) {
        for _ in 0..self.spec.garp.repeat.max(1) {
            for va in &self.spec.addresses {
                let frame = announce::frame(va.addr, self.mac);
                if let Err(e) = crate::sys::send_on_link(self.ifindex, &frame) {
                    log(format!("{}: announcing {}: {e}", self.name(), va.addr));
                }
            }
        }
    }

    /// Announcement rounds that are due: the delayed one after a takeover, then the
    /// refresh while MASTER.
    fn garp_due(&mut self, now: Instant) {
        let Some(t) = self.next_garp.filter(|t| now >= *t) else { return };
        self.announce();
        if self.delayed_rounds > 0 {
            self.delayed_rounds -= 1;
        }
        self.next_garp = self.spec.garp.refresh.map(|r| t + r);
    }

    fn send_pending(&mut self) {
        while let Some(t) = self.instance.poll_transmit() {
            if let Err(e) = self.socket.send(t.dst, &t.payload) {
                log(format!("{}: sending an advert to {}: {e}", self.name(), t.dst));
            }
        }
    }

    /// Take what arrived, at most [`RECV_BURST`] messages a round, so a flood cannot hold
    /// the thread away from its timers (the rest waits for the next round).
    fn receive_pending(&mut self, now_ms: u64) {
        for _ in 0..RECV_BURST {
            match self.socket.recv() {
                Ok(Some(r)) => {
                    // A reject is counted by the instance (its stats, by reason).
                    let _ = self.instance.handle_advert(r.src, r.dst, r.ttl, &r.msg, now_ms);
                }
                Ok(None) => break,
                Err(e) => {
                    log(format!("{}: receive: {e}", self.name()));
                    break;
                }
            }
        }
    }

    /// Act on the instance's events; state changes go to `report`. Returns the state
    /// changes, in order.
    fn handle_events(&mut self, report: &Sender<Transition>) -> Vec<(State, State, Cause)> {
        let mut changes = Vec::new();
        while let Some(ev) = self.instance.poll_event() {
            let Event::StateChanged { from, to, cause } = ev else { continue };
            self.transitions += 1;
            log(format!("VRRP {}: {from} -> {to} ({})", self.name(), cause.describe()));
            if to == State::Master {
                self.take_addresses();
            } else if from == State::Master {
                self.drop_addresses();
            }
            self.notify(to);
            let _ = report.send(Transition { instance: self.name().to_string(), from, to, cause: cause.describe() });
            changes.push((from, to, cause));
        }
        changes
    }

    /// Start the notify scripts of entering `to`.
    fn notify(&mut self, to: State) {
        let runs = notify_runs(&self.spec.notify, "INSTANCE", self.name(), to, Some(self.instance.priority()));
        self.scripts.extend(runs);
    }

    /// Reap the notify scripts that ended (a failure is logged; it changes nothing).
    fn reap_scripts(&mut self) {
        let name = self.spec.protocol.name.clone();
        self.scripts.retain_mut(|r| match r.poll() {
            None => true,
            Some(Outcome::Exited(0)) => false,
            Some(o) => {
                log(format!("{name}: a notify script ended with {o:?}"));
                false
            }
        });
    }

    /// FAULT and the effective priority from what the instance tracks (`None`: it
    /// tracks nothing).
    fn tracked(&self, scripts_ok: &[bool]) -> Option<(bool, u8)> {
        let t = &self.spec.tracking;
        if t.interfaces.is_empty() && t.scripts.is_empty() {
            return None;
        }
        let ok = |i: usize| scripts_ok.get(i).copied().unwrap_or(true);
        Some(effective(self.spec.protocol.priority, t, host::is_running, ok))
    }

    /// Enter or leave FAULT (`fault`: its own tracking's or its sync group's) and take the
    /// effective priority `prio`.
    fn apply_tracking(&mut self, fault: bool, prio: u8, now_ms: u64) {
        if fault != self.faulted {
            self.faulted = fault;
            self.instance.set_fault(fault, now_ms);
        }
        if prio != self.instance.priority() && !fault {
            self.instance.set_priority(prio, now_ms);
        }
    }

    fn status(&self, last: Option<(Instant, &'static str)>) -> InstanceStatus {
        InstanceStatus {
            name: self.name().to_string(),
            state: self.instance.state(),
            priority: self.instance.priority(),
            master: self.instance.master(),
            last_transition: last,
            interface: self.spec.interface.clone(),
            vrid: self.spec.protocol.vrid,
            addresses: self.spec.addresses.iter().map(|a| a.addr).collect(),
            transitions: self.transitions,
            stats: self.instance.stats().clone(),
        }
    }
}

fn log(msg: String) {
    eprintln!("xvs: {msg}");
}

/// The notify scripts of `who` (`INSTANCE` or `GROUP`) `name` entering `to`, started, in
/// keepalived's order: the state's own script, then `notify` with `WHO NAME STATE` and,
/// for an instance, its priority.
pub(super) fn notify_runs(n: &Notify, who: &str, name: &str, to: State, priority: Option<u8>) -> Vec<Run> {
    let (own, word) = match to {
        State::Master => (&n.master, "MASTER"),
        State::Backup => (&n.backup, "BACKUP"),
        State::Fault => (&n.fault, "FAULT"),
        State::Init => (&n.stop, "STOP"),
    };
    let mut args = vec![who.to_string(), name.to_string(), word.to_string()];
    args.extend(priority.map(|p| p.to_string()));
    own.iter().cloned().chain(n.any.as_ref().map(|s| s.with_args(&args))).map(|s| s.start(NOTIFY_TIMEOUT)).collect()
}

impl VrrpRuntime {
    /// Open every instance's socket and start the thread; state changes are sent to
    /// `report`. Fails (starting nothing) if any socket or instance cannot be made.
    pub fn start(specs: Vec<InstanceSpec>, report: Sender<Transition>) -> Result<VrrpRuntime, String> {
        Self::start_with(specs, Vec::new(), Vec::new(), report, None)
    }

    /// [`VrrpRuntime::start`], telling `hook` of every address added or removed.
    /// `scripts` are the `vrrp_script`s the specs' tracking refers to by index, `groups`
    /// the sync groups (members by index into `specs`).
    pub fn start_with(
        specs: Vec<InstanceSpec>,
        scripts: Vec<TrackedScript>,
        groups: Vec<GroupSpec>,
        report: Sender<Transition>,
        hook: Option<AddressHook>,
    ) -> Result<VrrpRuntime, String> {
        let origin = Instant::now();
        let open = |s| Running::open(s, 0).map(|r| Running { hook: hook.clone(), ..r });
        let running = specs.into_iter().map(open).collect::<Result<Vec<_>, _>>()?;
        let status = Arc::new(Mutex::new(running.iter().map(|r| r.status(None)).collect()));
        let stop = Arc::new(AtomicBool::new(false));
        let (st, sp) = (status.clone(), stop.clone());
        let thread = std::thread::Builder::new()
            .name("xvs-vrrp".into())
            .spawn(move || run(running, scripts, Groups::new(groups), origin, &sp, &st, &report))
            .map_err(|e| format!("starting the VRRP thread: {e}"))?;
        Ok(VrrpRuntime { stop, thread: Some(thread), status })
    }

    /// Every instance's state as of the last round.
    pub fn status(&self) -> Vec<InstanceStatus> {
        self.reader().read()
    }

    /// A reader of [`VrrpRuntime::status`] for another thread (the ctl plane, the metrics).
    pub fn reader(&self) -> StatusReader {
        StatusReader(self.status.clone())
    }
}

impl Drop for VrrpRuntime {
    /// Stop: a MASTER sends its priority-0 advert and gives its addresses back.
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn run(
    mut running: Vec<Running>,
    scripts: Vec<TrackedScript>,
    mut groups: Groups,
    origin: Instant,
    stop: &AtomicBool,
    status: &Mutex<Vec<InstanceStatus>>,
    report: &Sender<Transition>,
) {
    let now_ms = || origin.elapsed().as_millis() as u64;
    let mut last: Vec<Option<(Instant, &'static str)>> = vec![None; running.len()];
    let used: Vec<bool> =
        (0..scripts.len()).map(|i| running.iter().any(|r| r.spec.tracking.scripts.iter().any(|s| s.0 == i))).collect();
    let mut trackers: Vec<ScriptTracker> = scripts.into_iter().map(|s| ScriptTracker::new(s, Instant::now())).collect();
    while !stop.load(Ordering::Relaxed) {
        let ok = poll_trackers(&mut trackers, &used);
        let now = now_ms();
        let next = running.iter().filter_map(|r| r.instance.poll_timeout()).min();
        let sleep = next.map_or(MAX_SLEEP, |t| Duration::from_millis(t.saturating_sub(now))).min(MAX_SLEEP);
        wait_readable(&running, sleep);
        let now = now_ms();
        let tracked: Vec<Option<(bool, u8)>> = running.iter().map(|r| r.tracked(&ok)).collect();
        let own_fault: Vec<bool> = tracked.iter().map(|t| t.is_some_and(|t| t.0)).collect();
        // One instance at a time, each one's changes settled before the next is looked at,
        // as keepalived's scheduler runs one timer at a time: when the members of a sync
        // group lose their master's adverts together (sent back to back, received in one
        // round), their down timers expire in the same millisecond, and the first one
        // looked at takes the others with it (`Cause::SyncGroup`) instead of each going
        // MASTER on its own timer.
        for i in 0..running.len() {
            let r = &mut running[i];
            let prio = tracked[i].map_or(r.instance.priority(), |t| t.1);
            if tracked[i].is_some() || groups.is_member(i) {
                r.apply_tracking(groups.fault(i, &own_fault), prio, now);
            }
            r.receive_pending(now);
            r.instance.handle_timeout(now);
            settle(&mut running, &mut groups, &mut last, report, now, i);
        }
        for r in running.iter_mut() {
            r.garp_due(Instant::now());
            r.reap_scripts();
        }
        groups.reap();
        if let Ok(mut s) = status.lock() {
            *s = running.iter().zip(&last).map(|(r, l)| r.status(*l)).collect();
        }
    }
    let now = now_ms();
    for r in &mut running {
        r.instance.shutdown(now);
        r.send_pending();
        r.handle_events(report);
        r.drop_addresses();
    }
    // The stop scripts get their time, bounded, before the thread ends.
    let until = Instant::now() + Duration::from_secs(5);
    while (running.iter().any(|r| !r.scripts.is_empty()) || groups.busy()) && Instant::now() < until {
        running.iter_mut().for_each(Running::reap_scripts);
        groups.reap();
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Send what instance `first` produced and act on its state changes; a change of a sync
/// group member moves the others (`group`), whose changes are then acted on too. (An
/// instance's events come only from its own step of the round or from its group: the
/// others' are settled in their own steps.)
fn settle(
    running: &mut [Running],
    groups: &mut Groups,
    last: &mut [Option<(Instant, &'static str)>],
    report: &Sender<Transition>,
    now: u64,
    first: usize,
) {
    let mut todo = vec![first];
    // Each round follows only changes with a cause of their own: two rounds settle a group.
    for _ in 0..3 {
        let mut next = Vec::new();
        for i in todo {
            running[i].send_pending();
            for (from, to, cause) in running[i].handle_events(report) {
                last[i] = Some((Instant::now(), cause.describe()));
                let (others, follow) = groups.on_change(i, from, to, cause);
                let Some(master) = follow else { continue };
                for j in others {
                    running[j].instance.follow_group(master, now);
                    next.push(j);
                }
            }
        }
        if next.is_empty() {
            return;
        }
        todo = next;
    }
}

/// Run the tracked scripts that are due and take their results; each one's verdict.
fn poll_trackers(trackers: &mut [ScriptTracker], used: &[bool]) -> Vec<bool> {
    let now = Instant::now();
    trackers
        .iter_mut()
        .zip(used)
        .map(|(t, &used)| {
            if !used {
                return true;
            }
            let (ok, changed) = t.poll(now);
            if changed {
                log(format!("VRRP script {}: {}", t.name(), if ok { "succeeded" } else { "failed" }));
            }
            ok
        })
        .collect()
}

/// Sleep until a socket has something or `timeout` passes.
fn wait_readable(running: &[Running], timeout: Duration) {
    let mut fds: Vec<PollFd<'_>> = running.iter().map(|r| PollFd::new(r.socket.as_fd(), PollFlags::POLLIN)).collect();
    let ms = u16::try_from(timeout.as_millis()).unwrap_or(u16::MAX);
    if fds.is_empty() {
        std::thread::sleep(timeout);
        return;
    }
    let _ = poll(&mut fds, PollTimeout::from(ms));
}
