//! The sync daemons of `xvs run` (IPVS's `ipvs-m` and `ipvs-b` kernel threads): a master
//! that sends the IPVS sync messages the poll loops wrote (`xvs_datapath::sync_link`), and
//! a backup that receives messages, checks them and hands their entries to the
//! poll loops. Either, both or neither run; ipvsadm's `--start-daemon`/`--stop-daemon`
//! and VRRP transitions start and stop them.
//!
//! Invariants:
//! - A message leaves as soon as a loop hands it over (full, or its first entry 2 s old:
//!   IPVS's `IPVS_SYNC_FLUSH_TIME`); the master naps [`BUSY_NAP`] between rounds while the
//!   loops send, [`SEND_DELAY`] when they are quiet.
//! - Every message received is counted once: accepted, or dropped with its reason
//!   (`SyncError::reason`); every entry of an accepted message is handed on or counted
//!   as skipped. Engines count what installing did (`SyncOutcome`).
//! - Starting a role that runs is refused (the kernel's EEXIST), stopping one that does
//!   not is refused (ESRCH); a stopped daemon's thread is joined before `stop` returns.

use std::net::{IpAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use xvs_datapath::sync_link::SyncLink;
use xvs_proto::ipvs_sync::{SyncEntry, SyncError, SyncMessage};

use xvs_config::ipvsadm::{DaemonOpts, DaemonRole};
use xvs_config::{SyncDaemon, DEFAULT_SYNC_GROUP, DEFAULT_SYNC_PORT, DEFAULT_SYNC_TTL};

use super::socket;

/// How long the master sleeps when the loops have been quiet (IPVS wakes its master
/// thread 20 ms after queueing; the loops hold 32 buffers each meanwhile).
pub const SEND_DELAY: Duration = Duration::from_millis(5);
/// How long it sleeps between rounds while the loops are sending.
pub const BUSY_NAP: Duration = Duration::from_micros(100);
/// IP and UDP header bytes IPVS subtracts from the MTU for `sync_maxlen` (IPv4).
const HEADERS_V4: usize = 28;
const HEADERS_V6: usize = 48;
/// Drop reasons of received messages, in metric order.
pub const DROP_REASONS: [&str; 4] = ["length", "version", "syncid", "malformed"];

/// Which daemon.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Role {
    Master,
    Backup,
}

impl Role {
    pub fn name(self) -> &'static str {
        match self {
            Role::Master => "master",
            Role::Backup => "backup",
        }
    }
}

/// One daemon's settings (ipvsadm's `--start-daemon` options, keepalived's
/// `lvs_sync_daemon`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Settings {
    pub interface: String,
    pub syncid: u8,
    /// `None`: IPVS's default for the role (see [`Settings::maxlen_for`]).
    pub maxlen: Option<u16>,
    pub group: IpAddr,
    pub port: u16,
    pub ttl: u8,
}

impl From<&SyncDaemon> for Settings {
    /// A configured daemon (`lvs_sync_daemon`, `[sync]`).
    fn from(d: &SyncDaemon) -> Settings {
        Settings {
            interface: d.interface.clone(),
            syncid: d.syncid,
            maxlen: d.maxlen,
            group: d.group,
            port: d.port,
            ttl: d.ttl,
        }
    }
}

impl From<&DaemonOpts> for Settings {
    /// `xvs ctl --start-daemon`, IPVS's defaults for what it leaves out.
    fn from(o: &DaemonOpts) -> Settings {
        Settings {
            interface: o.interface.clone(),
            syncid: o.syncid,
            maxlen: o.maxlen,
            group: o.group.unwrap_or(DEFAULT_SYNC_GROUP),
            port: o.port.unwrap_or(DEFAULT_SYNC_PORT),
            ttl: o.ttl.unwrap_or(DEFAULT_SYNC_TTL),
        }
    }
}

impl From<DaemonRole> for Role {
    fn from(r: DaemonRole) -> Role {
        match r {
            DaemonRole::Master => Role::Master,
            DaemonRole::Backup => Role::Backup,
        }
    }
}

impl Settings {
    /// The largest message, resolved as `start_sync_thread` does: a master assumes a
    /// 1500-byte MTU, a backup takes the interface's (at least 1500); a configured
    /// `maxlen` is clamped to what UDP carries.
    pub fn maxlen_for(&self, role: Role) -> usize {
        let headers = if self.group.is_ipv6() { HEADERS_V6 } else { HEADERS_V4 };
        match (self.maxlen, role) {
            (Some(m), Role::Master) => (m as usize).clamp(1, 65535 - headers),
            (Some(m), Role::Backup) => (m as usize).clamp(1024, 65535 - headers),
            (None, Role::Master) => 1500 - headers,
            (None, Role::Backup) => (mtu(&self.interface).clamp(1500, 65535)) - headers,
        }
    }

    /// ipvsadm's `-L --daemon` line for `role`.
    pub fn describe(&self, role: Role) -> String {
        format!(
            "{} sync daemon (mcast={}, syncid={}, maxlen={}, group={}, port={}, ttl={})",
            role.name(),
            self.interface,
            self.syncid,
            self.maxlen_for(role),
            self.group,
            self.port,
            self.ttl
        )
    }
}

fn mtu(ifname: &str) -> usize {
    std::fs::read_to_string(format!("/sys/class/net/{ifname}/mtu"))
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(1500)
}

/// The daemons' counters, shared with metrics and ctl.
#[derive(Debug, Default)]
pub struct SyncCounters {
    pub sent_messages: AtomicU64,
    pub sent_entries: AtomicU64,
    pub send_errors: AtomicU64,
    pub received_messages: AtomicU64,
    pub received_entries: AtomicU64,
    /// Messages dropped, by [`DROP_REASONS`].
    pub dropped: [AtomicU64; 4],
    /// Entries of accepted messages that were not usable here (`SkipReason`).
    pub skipped_entries: AtomicU64,
}

impl SyncCounters {
    /// The counters now, with `link`'s queue drops, for the metrics.
    pub fn view(&self, link: &SyncLink) -> crate::metrics::SyncView {
        crate::metrics::SyncView {
            sent_messages: self.sent_messages.load(Relaxed),
            sent_entries: self.sent_entries.load(Relaxed),
            send_errors: self.send_errors.load(Relaxed),
            received_messages: self.received_messages.load(Relaxed),
            received_entries: self.received_entries.load(Relaxed),
            dropped: std::array::from_fn(|i| self.dropped[i].load(Relaxed)),
            skipped_entries: self.skipped_entries.load(Relaxed),
            in_dropped: link.in_dropped.load(Relaxed),
            out_full: link.out_full.load(Relaxed),
        }
    }

    fn drop_message(&self, e: SyncError) {
        let i = DROP_REASONS.iter().position(|r| *r == e.reason()).unwrap_or(3);
        self.dropped[i].fetch_add(1, Relaxed);
    }
}

struct Running {
    settings: Settings,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Running {
    fn halt(&mut self) {
        self.stop.store(true, Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The master and backup daemons of one director.
pub struct SyncDaemons {
    link: Arc<SyncLink>,
    pub counters: Arc<SyncCounters>,
    master: Option<Running>,
    backup: Option<Running>,
}

impl SyncDaemons {
    pub fn new(link: Arc<SyncLink>) -> SyncDaemons {
        SyncDaemons { link, counters: Arc::default(), master: None, backup: None }
    }

    fn slot(&mut self, role: Role) -> &mut Option<Running> {
        match role {
            Role::Master => &mut self.master,
            Role::Backup => &mut self.backup,
        }
    }

    /// Start the `role` daemon with `s`.
    pub fn start(&mut self, role: Role, s: &Settings) -> Result<(), String> {
        if self.slot(role).is_some() {
            return Err(format!("a {} sync daemon is already running", role.name()));
        }
        let ifindex =
            crate::host::ifindex(&s.interface).map_err(|e| format!("sync daemon: interface {}: {e}", s.interface))?;
        let stop = Arc::new(AtomicBool::new(false));
        let (link, counters, flag) = (self.link.clone(), self.counters.clone(), stop.clone());
        let thread = match role {
            Role::Master => {
                let sock = socket::sender(&s.interface, ifindex, s.group, s.port, s.ttl)?;
                link.set_format(s.syncid, s.maxlen_for(role));
                link.master.store(true, Relaxed);
                spawn("xvs-sync-master", move || send_messages(&link, &flag, |m, n| send(&sock, m, n, &counters)))?
            }
            Role::Backup => {
                let sock = socket::receiver(&s.interface, ifindex, s.group, s.port)?;
                let syncid = s.syncid;
                spawn("xvs-sync-backup", move || receive_loop(&sock, &link, &counters, &flag, syncid))?
            }
        };
        *self.slot(role) = Some(Running { settings: s.clone(), stop, thread: Some(thread) });
        Ok(())
    }

    /// Stop the `role` daemon.
    pub fn stop(&mut self, role: Role) -> Result<(), String> {
        let Some(mut r) = self.slot(role).take() else {
            return Err(format!("no {} sync daemon is running", role.name()));
        };
        if role == Role::Master {
            self.link.master.store(false, Relaxed);
        }
        r.halt();
        Ok(())
    }

    /// Make `role` run with `s` (restarting it if its settings differ) or not run.
    pub fn ensure(&mut self, role: Role, s: Option<&Settings>) -> Result<(), String> {
        let same = match (self.slot(role).as_ref(), s) {
            (Some(r), Some(s)) => r.settings == *s,
            (None, None) => true,
            _ => false,
        };
        if same {
            return Ok(());
        }
        if self.slot(role).is_some() {
            self.stop(role)?;
        }
        match s {
            Some(s) => self.start(role, s),
            None => Ok(()),
        }
    }

    /// What runs: (role, settings), master first.
    pub fn status(&self) -> Vec<(Role, Settings)> {
        let m = self.master.as_ref().map(|r| (Role::Master, r.settings.clone()));
        let b = self.backup.as_ref().map(|r| (Role::Backup, r.settings.clone()));
        m.into_iter().chain(b).collect()
    }
}

impl Drop for SyncDaemons {
    fn drop(&mut self) {
        for role in [Role::Master, Role::Backup] {
            let _ = self.stop(role);
        }
    }
}

fn spawn(name: &str, f: impl FnOnce() + Send + 'static) -> Result<JoinHandle<()>, String> {
    std::thread::Builder::new().name(name.into()).spawn(f).map_err(|e| format!("starting {name}: {e}"))
}

/// The master daemon's work: give every message the loops wrote to `send` (the message,
/// its entries) and the buffer back, until `stop`. It sleeps only after rounds that found
/// nothing: [`BUSY_NAP`] while the loops have been sending lately, [`SEND_DELAY`] once they
/// are quiet.
pub fn send_messages(link: &SyncLink, stop: &AtomicBool, mut send: impl FnMut(&[u8], u8)) {
    let mut last_busy = Instant::now();
    while !stop.load(Relaxed) {
        while let Some(buf) = link.pop_outbound() {
            last_busy = Instant::now();
            let len = (u16::from_be_bytes([buf[2], buf[3]]) as usize).min(buf.len());
            send(&buf[..len], buf[4]);
            link.recycle(buf);
        }
        std::thread::sleep(if last_busy.elapsed() < SEND_DELAY { BUSY_NAP } else { SEND_DELAY });
    }
}

fn send(sock: &UdpSocket, msg: &[u8], entries: u8, counters: &SyncCounters) {
    match sock.send(msg) {
        Ok(_) => {
            counters.sent_messages.fetch_add(1, Relaxed);
            counters.sent_entries.fetch_add(entries as u64, Relaxed);
        }
        Err(_) => {
            counters.send_errors.fetch_add(1, Relaxed);
        }
    }
}

/// The backup: check every message, hand its entries to the loops.
fn receive_loop(sock: &UdpSocket, link: &SyncLink, counters: &SyncCounters, stop: &AtomicBool, syncid: u8) {
    let mut buf = vec![0u8; 65536];
    while !stop.load(Relaxed) {
        let Ok(n) = sock.recv(&mut buf) else { continue };
        match SyncMessage::parse(&buf[..n], syncid) {
            Ok(m) => {
                counters.received_messages.fetch_add(1, Relaxed);
                for e in m.entries() {
                    match e {
                        SyncEntry::Conn(c) => {
                            counters.received_entries.fetch_add(1, Relaxed);
                            link.push_inbound(c);
                        }
                        SyncEntry::Skip(_) => {
                            counters.skipped_entries.fetch_add(1, Relaxed);
                        }
                    }
                }
            }
            Err(e) => counters.drop_message(e),
        }
    }
}
