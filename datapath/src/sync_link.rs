//! The poll loops' side of connection sync: one queue out of every loop to the sync
//! daemon, one queue into each loop from it, and whether the loops record connections
//! (the director is a sync master).
//!
//! Invariants:
//! - Queues are bounded and lock-free; a full queue drops the entry and counts it
//!   (`out_dropped`, `in_dropped`), nobody blocks on one.
//! - An entry received is installed by the loop that owns its client (the same
//!   [`crate::handoff::owner_of_client`] that steers the client's packets), so a synced
//!   connection lives where its packets will be handled.
//! - A loop drains its inbound queue between batches, at most [`INSTALL_BUDGET`] per round.

use std::sync::atomic::{AtomicBool, AtomicU16, AtomicU64, Ordering::Relaxed};

use crossbeam::queue::ArrayQueue;
use xvs_engine::Engine;
use xvs_proto::ipvs_sync::SyncConn;

use crate::handoff::owner_of_client;

/// Entries waiting between the loops and the daemon, each way and per loop.
pub const QUEUE: usize = 65536;
/// Entries a loop installs between two batches.
pub const INSTALL_BUDGET: usize = 1024;

#[derive(Debug)]
pub struct SyncLink {
    /// Loops record connections for sync.
    pub master: AtomicBool,
    outbound: ArrayQueue<SyncConn>,
    inbound: Vec<ArrayQueue<SyncConn>>,
    /// The owner masks (IPv4 << 8 | IPv6) the loops run with, for routing entries in.
    masks: AtomicU16,
    pub out_dropped: AtomicU64,
    pub in_dropped: AtomicU64,
}

impl SyncLink {
    /// A link for `loops` poll loops.
    pub fn new(loops: usize) -> SyncLink {
        SyncLink {
            master: AtomicBool::new(false),
            outbound: ArrayQueue::new(QUEUE),
            inbound: (0..loops.max(1)).map(|_| ArrayQueue::new(QUEUE)).collect(),
            masks: AtomicU16::new(32 << 8 | 128),
            out_dropped: AtomicU64::new(0),
            in_dropped: AtomicU64::new(0),
        }
    }

    /// Loop side, between batches: follow the master flag, pass on what the engine
    /// recorded, install up to [`INSTALL_BUDGET`] received entries.
    pub fn exchange(&self, me: usize, engine: &mut Engine, now_ns: u64) {
        let master = self.master.load(Relaxed);
        if master != engine.is_sync_master() {
            engine.set_sync_master(master);
        }
        engine.poll_sync(|c| {
            if self.outbound.push(*c).is_err() {
                self.out_dropped.fetch_add(1, Relaxed);
            }
        });
        if let Some(q) = self.inbound.get(me) {
            for _ in 0..INSTALL_BUDGET {
                let Some(c) = q.pop() else { break };
                engine.handle_sync(&c, now_ns);
            }
        }
    }

    /// Loop side, after a configuration change: the masks that route entries.
    pub fn set_masks(&self, (m4, m6): (u8, u8)) {
        self.masks.store((m4 as u16) << 8 | m6 as u16, Relaxed);
    }

    /// Daemon side: the next entry to send.
    pub fn pop_outbound(&self) -> Option<SyncConn> {
        self.outbound.pop()
    }

    /// Daemon side: give a received entry to the loop that owns its client.
    pub fn push_inbound(&self, c: SyncConn) {
        let m = self.masks.load(Relaxed);
        let owner = owner_of_client(c.caddr, self.inbound.len(), (m >> 8) as u8, m as u8);
        if self.inbound[owner].push(c).is_err() {
            self.in_dropped.fetch_add(1, Relaxed);
        }
    }
}
