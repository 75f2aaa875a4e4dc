//! The poll loop: one per poll core, pinned by its caller, over every AF_XDP socket the
//! core owns.
//!
//! Invariants:
//! - All sockets of one engine are polled by the same thread; with several poll cores,
//!   each connection is owned by one core (by client address, `crate::handoff`) and a
//!   frame that arrives on another core's queue is handed to its owner, so a NAT reply
//!   that arrives on another queue than its request still meets its connection.
//! - Between batches, and only there, the loop takes control messages (a new config, new
//!   next hops) and publishes a stats snapshot; no lock is held across a batch. A new
//!   config is acknowledged (its epoch, `Ok` or the engine's error) as soon as it is
//!   applied, so a waiting control plane hears of it within one batch or idle sleep.
//! - `Busy` spins on the rings. `Adaptive` spins while there is traffic and, after
//!   `IDLE_SPINS` empty rounds, sleeps in `poll()` on every socket for at most
//!   `IDLE_SLEEP_MS`, so an idle director costs almost no CPU; the price is up to that
//!   much extra latency for the first packet after a quiet spell.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, Sender};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use xvs_engine::{Classified, ConnInfo, Engine, EngineConfig, FrameBuf, ListCursor, NeighborSpec, PacketBuf, Verdict};

use crate::handoff::{owner_masks, owner_of, Handoff};
use crate::snapshot::{batch_histogram, snapshot_reals, Snapshot};
use crate::sync_link::{LoopSync, SyncLink};
use crate::xsk::XskPort;

/// Frames per batch.
pub const BATCH: usize = 64;
/// Connections per page of a listing: about half a millisecond of work between batches.
pub const LIST_PAGE: usize = 8192;

/// A page of a loop's connection listing and where the next starts (`None`: the last).
pub type ConnectionsPage = (Vec<ConnInfo>, Option<ListCursor>);
const IDLE_SPINS: u32 = 2000;
const IDLE_SLEEP_MS: i32 = 10;
/// How often a loop publishes its stats snapshot.
const PUBLISH_EVERY_NS: u64 = 500_000_000;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PollMode {
    Busy,
    Adaptive,
}

/// What the control plane may ask of a running loop.
#[derive(Clone, Debug)]
pub enum Control {
    /// Replace the configuration (an atomic reload; connections keep their reals). The
    /// loop answers on `ack` right after `Engine::apply`, with `epoch` and the outcome,
    /// so the control plane can wait for every loop (a barrier) and fail the change that
    /// a loop refused.
    Apply { config: Box<EngineConfig>, epoch: u64, ack: Sender<Ack> },
    /// New next hops from the kernel's neighbour table.
    Neighbors(Vec<NeighborSpec>),
    /// Send a page of this loop's connections from `from` on, with where the next page
    /// starts (slow path: `xvs ctl -L -c`, a page at a time between batches).
    Connections { from: ListCursor, reply: Sender<ConnectionsPage> },
}

/// A loop's answer to [`Control::Apply`]: the epoch it was sent with, and `Ok` when the
/// engine runs the new configuration, or the engine's error (and then it runs the one it
/// had: `Engine::apply` changes nothing when it fails).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ack {
    pub epoch: u64,
    pub result: Result<(), String>,
}

/// Act on one control message. The poll loop calls this between batches; it is public so
/// a control plane can be tested against an engine without sockets.
pub fn handle_control(engine: &mut Engine, msg: Control) {
    match msg {
        Control::Apply { config, epoch, ack } => {
            let result = engine.apply(*config).map_err(|e| e.to_string());
            let _ = ack.send(Ack { epoch, result });
        }
        Control::Neighbors(n) => engine.set_neighbors(&n),
        Control::Connections { from, reply } => {
            let _ = reply.send(engine.connections_page(from, LIST_PAGE));
        }
    }
}

/// One poll loop's state between batches.
struct PollLoop<'l> {
    engine: &'l mut Engine,
    handoff: &'l mut Handoff,
    clock_origin: Instant,
    /// The engine's clock (ns since `clock_origin`) as last read: at the start of a loop
    /// round and at the end of each batch, so each batch starts from its predecessor's end
    /// and an idle round reads the clock once (a read was 15 % of a busy poll core's
    /// samples with five a round).
    clock: u64,
    verdicts: [Verdict; BATCH],
    /// The classes of the batch's frames this core handles (with several poll cores).
    classes: [Classified; BATCH],
    handed: Vec<FrameBuf>,
    masks: (u8, u8),
    batch_ns: hdrhistogram::Histogram<u64>,
    /// The sync message this loop is writing.
    sync: LoopSync,
}

impl PollLoop<'_> {
    /// Read the clock into `clock`, and return it.
    fn tick(&mut self) -> u64 {
        self.clock = self.clock_origin.elapsed().as_nanos() as u64;
        self.clock
    }

    /// One batch from port `pi`: hand frames of other cores' connections over, run the
    /// pipeline on ours, send what leaves by another interface by copy and the rest back
    /// out in place. Returns the number of frames received.
    fn poll_port(&mut self, ports: &mut [XskPort], pi: usize) -> usize {
        let (before, rest) = ports.split_at_mut(pi);
        let Some((port, after)) = rest.split_first_mut() else { return 0 };
        let here = port.port_no();
        let now = self.clock;
        let (engine, handoff, masks, classes) = (&mut *self.engine, &mut *self.handoff, self.masks, &mut self.classes);
        let got = port.rx_batch(BATCH, &mut self.verdicts, |batch, verdicts| {
            let n = batch.len();
            if handoff.n > 1 {
                // Frames of connections another core owns go to it, with their class;
                // ours move to the front, and the engine takes them from their class.
                let mut mine = 0;
                for i in 0..n {
                    // Classified into the slot it keeps if the frame is ours.
                    engine.classify_into(batch[i].bytes(), &mut classes[mine]);
                    let owner = owner_of(engine, &classes[mine], handoff.n, masks.0, masks.1);
                    if owner == handoff.me {
                        batch.swap(i, mine);
                        mine += 1;
                    } else {
                        let port_no = batch[i].port();
                        handoff.send(owner, batch[i].bytes(), port_no, &classes[mine]);
                    }
                }
                verdicts[mine..n].fill(Verdict::Pass);
                engine.handle_classified(&mut batch[..mine], &classes[..mine], now, &mut verdicts[..mine]);
            } else {
                engine.handle_batch(&mut batch[..], now, &mut verdicts[..n]);
            }
            // Frames for another interface leave by copy on this core's socket there.
            send_elsewhere(before.iter_mut().chain(after.iter_mut()), batch, verdicts, Some(here));
        });
        let got = got.unwrap_or_else(|e| {
            eprintln!("xvs: receive or transmit on {} queue {}: {e}", port.ifname(), port.queue());
            0
        });
        if got > 0 {
            let end = self.tick();
            self.batch_ns.saturating_record(end.saturating_sub(now));
        }
        got
    }

    /// Frames other cores handed here: handled by this engine, sent by copy.
    fn poll_handed(&mut self, ports: &mut [XskPort]) -> usize {
        if self.handoff.n <= 1 {
            return 0;
        }
        let n = self.handoff.recv(&mut self.handed, BATCH);
        if n > 0 {
            let now = self.clock;
            // Classified by the core that received them (a copy it could not carry the
            // class with is classified here).
            for (c, b) in self.classes.iter_mut().zip(&self.handed) {
                *c = match &b.class {
                    Some(theirs) => self.engine.adopt(theirs),
                    None => self.engine.classify(b.data()),
                };
            }
            self.engine.handle_classified(&mut self.handed[..], &self.classes[..n], now, &mut self.verdicts[..n]);
            // Handed frames live in another core's buffers: all leave by copy.
            send_elsewhere(ports.iter_mut(), &mut self.handed[..], &mut self.verdicts[..n], None);
            self.handoff.recycle(&mut self.handed);
            let end = self.tick();
            self.batch_ns.saturating_record(end.saturating_sub(now));
        }
        n
    }

    /// Take every pending control message (between batches only); after any, the clock
    /// is read again (a reload or a page of a listing takes time).
    fn take_control(&mut self, control: &Receiver<Control>, sync: &SyncLink) {
        let mut took = false;
        while let Ok(msg) = control.try_recv() {
            took = true;
            let apply = matches!(msg, Control::Apply { .. });
            handle_control(self.engine, msg);
            if apply {
                self.masks = owner_masks(self.engine.config());
                sync.set_masks(self.masks);
            }
        }
        if took {
            self.tick();
        }
    }

    /// Replace the published snapshot.
    fn publish(&mut self, ports: &[XskPort], snapshot: &Mutex<Snapshot>) {
        let snap = Snapshot {
            stats: self.engine.stats().clone(),
            live_connections: self.engine.live_connections(),
            reals: snapshot_reals(self.engine.services()),
            sockets: ports.iter().map(|p| (p.ifname().to_string(), p.queue(), p.stats)).collect(),
            handoff_full: self.handoff.full,
            connections: self.engine.connections_sample(64),
            batch_ns: self.batch_ns.clone(),
        };
        if let Ok(mut s) = snapshot.lock() {
            *s = snap;
        }
    }
}

/// Run until `stop` is set. `clock_origin` is the instant the engine's clock counts from.
/// `handoff` connects this loop to the other poll cores' (see [`crate::handoff`]): frames
/// whose connection another core owns are passed to it, and frames passed here are
/// handled here and sent on this core's socket of their interface.
#[allow(clippy::too_many_arguments)]
pub fn run(
    engine: &mut Engine,
    ports: &mut [XskPort],
    mode: PollMode,
    stop: &AtomicBool,
    control: &Receiver<Control>,
    snapshot: &Arc<Mutex<Snapshot>>,
    clock_origin: Instant,
    handoff: &mut Handoff,
    sync: &SyncLink,
) {
    let masks = owner_masks(engine.config());
    sync.set_masks(masks);
    let me = handoff.me;
    let mut lp = PollLoop {
        engine,
        handoff,
        clock_origin,
        clock: 0,
        verdicts: [Verdict::Pass; BATCH],
        classes: [Classified::EMPTY; BATCH],
        handed: Vec::with_capacity(BATCH),
        masks,
        batch_ns: batch_histogram(),
        sync: LoopSync::new(me),
    };
    let mut idle_rounds = 0u32;
    let mut last_publish = lp.tick();
    while !stop.load(Ordering::Relaxed) {
        lp.tick();
        let mut got = 0;
        for pi in 0..ports.len() {
            got += lp.poll_port(ports, pi);
        }
        got += lp.poll_handed(ports);
        if got == 0 {
            lp.engine.handle_timeout(lp.clock);
            idle_rounds = idle_rounds.saturating_add(1);
            if mode == PollMode::Adaptive && idle_rounds > IDLE_SPINS && !lp.engine.expiry_pending() {
                wait_any(ports, IDLE_SLEEP_MS);
                lp.tick();
            }
        } else {
            idle_rounds = 0;
        }
        lp.take_control(control, sync);
        lp.sync.exchange(sync, lp.engine, lp.clock);
        if lp.clock.saturating_sub(last_publish) >= PUBLISH_EVERY_NS {
            last_publish = lp.clock;
            lp.publish(ports, snapshot);
        }
    }
}

/// Transmit by copy every frame whose verdict names a port other than `except`, on this
/// core's first socket of that port; those verdicts become `Pass` (the frame itself is
/// recycled by its owner). A frame for a port this core has no socket on is dropped.
fn send_elsewhere<'p, F: PacketBuf>(
    ports: impl Iterator<Item = &'p mut XskPort>,
    frames: &mut [F],
    verdicts: &mut [Verdict],
    except: Option<u16>,
) {
    if !verdicts.iter().any(|v| matches!(v, Verdict::Tx { port } if Some(*port) != except)) {
        return;
    }
    let mut these = [Verdict::Pass; BATCH];
    for port in ports {
        let slot = port.port_no();
        if Some(slot) == except {
            continue;
        }
        let mut any = false;
        for (t, v) in these.iter_mut().zip(verdicts.iter()) {
            *t = if *v == (Verdict::Tx { port: slot }) {
                any = true;
                *v
            } else {
                Verdict::Pass
            };
        }
        if !any {
            continue;
        }
        if let Err(e) = port.send_copies(frames, &these[..verdicts.len()]) {
            eprintln!("xvs: transmit on {} queue {}: {e}", port.ifname(), port.queue());
        }
        for v in verdicts.iter_mut() {
            if *v == (Verdict::Tx { port: slot }) {
                *v = Verdict::Pass;
            }
        }
    }
    // Whatever is left for another port has no socket on this core.
    for v in verdicts.iter_mut() {
        if matches!(v, Verdict::Tx { port } if Some(*port) != except) {
            *v = Verdict::Pass;
        }
    }
}

/// Sleep until any socket has frames or `timeout_ms` passes.
fn wait_any(ports: &mut [XskPort], timeout_ms: i32) {
    let mut fds: [libc::pollfd; 64] = [libc::pollfd { fd: -1, events: 0, revents: 0 }; 64];
    let n = ports.len().min(fds.len());
    for (fd, p) in fds.iter_mut().zip(ports.iter()) {
        fd.fd = p.fd();
        fd.events = libc::POLLIN;
    }
    // SAFETY: `fds[..n]` are initialized pollfd structs.
    unsafe {
        libc::poll(fds.as_mut_ptr(), n as libc::nfds_t, timeout_ms);
    }
}
