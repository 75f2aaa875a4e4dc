//! The poll loops' side of connection sync: messages out of every loop to the sync
//! daemon, entries into each loop from it, and whether the loops record connections (the
//! director is a sync master).
//!
//! Invariants:
//! - As IPVS does on its packet path, a loop writes what its engine recorded straight into
//!   an IPVS sync message ([`LoopSync`], `SyncWriter`), in the format the master daemon
//!   set ([`SyncLink::set_format`]: sync id, largest message). A full message, or one whose
//!   first entry waited [`FLUSH_NS`] (IPVS's flush time), goes to the daemon, which only
//!   sends it. Message buffers are preallocated ([`SPARES`] per loop) and recycled: no
//!   allocation, one queue operation per message. Without a spare buffer the entry is
//!   dropped and counted (`out_full`), nobody blocks.
//! - Entries come in one at a time; a full inbound queue drops the entry and counts it
//!   (`in_dropped`).
//! - An entry received is installed by the loop that owns its client (the same
//!   [`crate::handoff::owner_of_client`] that steers the client's packets), so a synced
//!   connection lives where its packets will be handled.
//! - A loop drains its inbound queue between batches, at most [`INSTALL_BUDGET`] per round.

use std::sync::atomic::{AtomicBool, AtomicU16, AtomicU32, AtomicU64, Ordering::Relaxed};

use crossbeam::queue::ArrayQueue;
use xvs_engine::Engine;
use xvs_proto::ipvs_sync::{SyncConn, SyncWriter, SYNC_MAXLEN_DEFAULT};

use crate::handoff::owner_of_client;

/// Entries waiting for each loop to install them.
pub const QUEUE: usize = 65536;
/// Message buffers per loop, in flight or spare.
pub const SPARES: usize = 32;
/// The largest message a buffer holds (UDP's limit over IPv4).
pub const MESSAGE_CAPACITY: usize = 65507;
/// The longest a partial message waits in a loop for more entries (IPVS's
/// `IPVS_SYNC_FLUSH_TIME`, 2 s).
pub const FLUSH_NS: u64 = 2_000_000_000;
/// Entries a loop installs between two batches.
pub const INSTALL_BUDGET: usize = 1024;

#[derive(Debug)]
pub struct SyncLink {
    /// Loops record connections for sync.
    pub master: AtomicBool,
    /// The master's sync id << 16 | its largest message.
    format: AtomicU32,
    outbound: ArrayQueue<Vec<u8>>,
    spares: ArrayQueue<Vec<u8>>,
    inbound: Vec<ArrayQueue<SyncConn>>,
    /// The owner masks (IPv4 << 8 | IPv6) the loops run with, for routing entries in.
    masks: AtomicU16,
    pub out_full: AtomicU64,
    pub in_dropped: AtomicU64,
}

impl SyncLink {
    /// A link for `loops` poll loops.
    pub fn new(loops: usize) -> SyncLink {
        let buffers = SPARES * loops.max(1);
        let spares = ArrayQueue::new(buffers);
        for _ in 0..buffers {
            let _ = spares.push(vec![0u8; MESSAGE_CAPACITY]);
        }
        SyncLink {
            master: AtomicBool::new(false),
            format: AtomicU32::new(SYNC_MAXLEN_DEFAULT as u32),
            outbound: ArrayQueue::new(buffers),
            spares,
            inbound: (0..loops.max(1)).map(|_| ArrayQueue::new(QUEUE)).collect(),
            masks: AtomicU16::new(32 << 8 | 128),
            out_full: AtomicU64::new(0),
            in_dropped: AtomicU64::new(0),
        }
    }

    /// Master daemon: the messages the loops write from now on.
    pub fn set_format(&self, syncid: u8, maxlen: usize) {
        let maxlen = maxlen.min(MESSAGE_CAPACITY) as u32;
        self.format.store((syncid as u32) << 16 | maxlen, Relaxed);
    }

    /// Loop side, after a configuration change: the masks that route entries.
    pub fn set_masks(&self, (m4, m6): (u8, u8)) {
        self.masks.store((m4 as u16) << 8 | m6 as u16, Relaxed);
    }

    /// Daemon side: the next message to send (its length is in its header); give the
    /// buffer back with [`SyncLink::recycle`].
    pub fn pop_outbound(&self) -> Option<Vec<u8>> {
        self.outbound.pop()
    }

    /// Daemon side: a buffer whose message was sent, back to the loops.
    pub fn recycle(&self, buf: Vec<u8>) {
        let _ = self.spares.push(buf);
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

/// One loop's message being written.
#[derive(Debug)]
pub struct LoopSync {
    me: usize,
    /// The buffer and its message's length limit; `None` between messages.
    msg: Option<(Vec<u8>, usize)>,
    /// When the message's first entry was written (the loop's clock, ns).
    started: u64,
}

impl LoopSync {
    /// The sync side of loop `me`.
    pub fn new(me: usize) -> LoopSync {
        LoopSync { me, msg: None, started: 0 }
    }

    /// Between batches: follow the master flag, write what the engine recorded into the
    /// current message (handing full or old ones to the daemon), install up to
    /// [`INSTALL_BUDGET`] received entries.
    pub fn exchange(&mut self, link: &SyncLink, engine: &mut Engine, now_ns: u64) {
        let master = link.master.load(Relaxed);
        if master != engine.is_sync_master() {
            engine.set_sync_master(master);
        }
        engine.poll_sync(|c| self.write(link, c, now_ns));
        if self.msg.is_some() && now_ns.saturating_sub(self.started) >= FLUSH_NS {
            self.hand_over(link);
        }
        if let Some(q) = link.inbound.get(self.me) {
            for _ in 0..INSTALL_BUDGET {
                let Some(c) = q.pop() else { break };
                engine.handle_sync(&c, now_ns);
            }
        }
    }

    fn write(&mut self, link: &SyncLink, c: &SyncConn, now_ns: u64) {
        for _ in 0..2 {
            if self.msg.is_none() {
                let Some(mut buf) = link.spares.pop() else { break };
                let f = link.format.load(Relaxed);
                let limit = (f as usize & 0xffff).clamp(128, buf.len());
                SyncWriter::new(&mut buf[..limit], (f >> 16) as u8).expect("room for a header");
                self.msg = Some((buf, limit));
                self.started = now_ns;
            }
            let (buf, limit) = self.msg.as_mut().expect("just set");
            let mut w = SyncWriter::resume(&mut buf[..*limit]).expect("a message this loop started");
            if w.push(c) {
                return;
            }
            self.hand_over(link);
        }
        link.out_full.fetch_add(1, Relaxed);
    }

    fn hand_over(&mut self, link: &SyncLink) {
        if let Some((buf, _)) = self.msg.take() {
            // Never full: it has room for every buffer there is.
            let _ = link.outbound.push(buf);
        }
    }
}
