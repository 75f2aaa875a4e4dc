//! Connection sync as the engine sees it (IPVS's `ip_vs_sync.c`): when a connection is
//! worth telling the backups about, and what an installed sync entry did. The wire format
//! is `xvs_proto::ipvs_sync`; sockets and threads belong to the daemon.
//!
//! Invariants:
//! - The outbox is preallocated ([`OUTBOX_CAPACITY`]): recording never allocates; when it
//!   is full the entry is counted (`out_full`) and dropped, never blocked on. The poll loop
//!   empties it after every batch (into IPVS sync messages, `xvs_datapath::sync_link`).
//! - Nothing is recorded unless the engine is a sync master ([`SyncOutbox::master`]).
//! - Every entry given to `Engine::handle_sync` is counted once, under one
//!   [`SyncOutcome`].

use xvs_proto::ipvs_sync::SyncConn;

/// Entries an outbox buffer holds (a batch records at most two per frame).
pub const OUTBOX_CAPACITY: usize = 1024;

/// IPVS's sync sysctls: `sync_threshold` (`threshold`, `period`) and
/// `sync_refresh_period`. A connection is synced on its `threshold`-th incoming packet
/// and every `period` packets after, on every state change to a non-ESTABLISHED synced
/// state, and, with a refresh period, no more often than that unless its timeout moved by
/// more than it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SyncParams {
    pub threshold: u8,
    /// 0: sync once, at `threshold` (and on state changes).
    pub period: u8,
    /// Milliseconds; 0 disables the refresh rule.
    pub refresh_period_ms: u32,
}

impl Default for SyncParams {
    fn default() -> Self {
        // The kernel's defaults: net.ipv4.vs.sync_threshold = "3 50", sync_refresh_period = 0.
        SyncParams { threshold: 3, period: 50, refresh_period_ms: 0 }
    }
}

impl SyncParams {
    /// Check the values as the kernel's sysctl handler does (threshold below a non-zero
    /// period).
    pub fn check(&self) -> Result<(), String> {
        if self.period != 0 && self.threshold >= self.period {
            return Err(format!(
                "sync_threshold: the threshold ({}) must be below the period ({})",
                self.threshold, self.period
            ));
        }
        Ok(())
    }
}

/// What became of one received sync entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum SyncOutcome {
    /// A new connection or template, bound to a configured real.
    Installed,
    /// An existing entry's state and timeout were refreshed.
    Updated,
    /// Installed for a real this director does not have (IPVS keeps such a connection
    /// unbound): it forwards to the synced address, and binds if the real is configured.
    Unbound,
    /// The expiry notice of a connection that was already replaced: ignored, as the kernel
    /// does.
    Stale,
    /// No service here matches the entry's protocol, address and port (or, for a
    /// template, the service is not persistent).
    NoService,
    /// A protocol or state this engine does not handle.
    Unsupported,
    /// The table is full and nothing could be evicted.
    TableFull,
    /// Its NAT reply tuple belongs to another connection.
    NatClash,
}

impl SyncOutcome {
    pub const ALL: [SyncOutcome; 8] = [
        SyncOutcome::Installed,
        SyncOutcome::Updated,
        SyncOutcome::Unbound,
        SyncOutcome::Stale,
        SyncOutcome::NoService,
        SyncOutcome::Unsupported,
        SyncOutcome::TableFull,
        SyncOutcome::NatClash,
    ];
    pub const COUNT: usize = Self::ALL.len();

    /// Stable names: metric labels.
    pub fn name(self) -> &'static str {
        match self {
            SyncOutcome::Installed => "installed",
            SyncOutcome::Updated => "updated",
            SyncOutcome::Unbound => "unbound",
            SyncOutcome::Stale => "stale",
            SyncOutcome::NoService => "no_service",
            SyncOutcome::Unsupported => "unsupported",
            SyncOutcome::TableFull => "table_full",
            SyncOutcome::NatClash => "nat_clash",
        }
    }
}

/// The engine's sync counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SyncStats {
    /// Entries recorded for sending (connections and templates).
    pub recorded: u64,
    /// Entries lost because the outbox was full.
    pub out_full: u64,
    /// Entries not sent: tunnelled to a real of the other family (IPVS's sync messages
    /// hold addresses of one family).
    pub mixed_family: u64,
    /// Received entries by outcome.
    pub received: [u64; SyncOutcome::COUNT],
}

impl std::ops::AddAssign<&SyncStats> for SyncStats {
    fn add_assign(&mut self, b: &SyncStats) {
        self.recorded += b.recorded;
        self.out_full += b.out_full;
        self.mixed_family += b.mixed_family;
        for (x, y) in self.received.iter_mut().zip(b.received) {
            *x += y;
        }
    }
}

/// Entries waiting to be sent, and whether this engine is a sync master.
#[derive(Debug)]
pub struct SyncOutbox {
    pub master: bool,
    entries: Vec<SyncConn>,
}

impl Default for SyncOutbox {
    fn default() -> Self {
        SyncOutbox { master: false, entries: Vec::with_capacity(OUTBOX_CAPACITY) }
    }
}

impl SyncOutbox {
    /// Record `c`; false when full (nothing allocated).
    #[inline]
    pub fn push(&mut self, c: SyncConn) -> bool {
        if self.entries.len() >= self.entries.capacity() {
            return false;
        }
        self.entries.push(c);
        true
    }

    /// Hand every recorded entry to `f`, oldest first, and empty the outbox.
    pub fn drain(&mut self, mut f: impl FnMut(&SyncConn)) {
        for c in &self.entries {
            f(c);
        }
        self.entries.clear();
    }
}
