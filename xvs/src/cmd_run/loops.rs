//! The running poll loops (one thread per poll core, each with its control channel and
//! its published snapshot) and the barrier a configuration change waits on.
//!
//! Invariants:
//! - Dropping [`Loops`] stops every loop and joins its thread (a loop's sockets close
//!   with it), so whoever owns `Loops` undoes the steering maps and VIPs only after.
//! - [`Loops::apply`] returns once every loop acknowledged the new configuration's epoch
//!   (`poll::Ack`), or with the first failure: a loop's apply error (the engine's message)
//!   or a loop that did not answer within [`ACK_TIMEOUT`]. On failure every loop that did
//!   not refuse is given the previous configuration back and waited for again, so all
//!   loops run the same configuration whatever happens (`Engine::apply` changes nothing
//!   when it fails, so a refusing loop still runs the previous one).

use std::sync::atomic::AtomicBool;
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use xvs_datapath::handoff::Handoff;
use xvs_datapath::poll::{self, Ack, Control, PollMode};
use xvs_datapath::snapshot::Snapshot;
use xvs_datapath::sync_link::SyncLink;
use xvs_datapath::xsk::XskPort;
use xvs_engine::{ConnInfo, Engine, EngineConfig, ListCursor};

use xvs::workers::Workers;

use super::log;

/// How long a loop may take to acknowledge a configuration: a loop takes control
/// messages between batches, at the latest after one adaptive-mode sleep (10 ms), so
/// this only runs out for a loop that hangs.
pub(super) const ACK_TIMEOUT: Duration = Duration::from_secs(5);

/// Why a loop did not take a configuration.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Refusal {
    /// Its engine refused it, with this message (it runs the previous one).
    Engine(String),
    /// It did not answer in time, or is gone.
    Silent(String),
}

/// The loop body a thread runs: the poll loop, or a test's stand-in.
pub(super) type Body = Box<dyn FnOnce(&AtomicBool, &Receiver<Control>, &Arc<Mutex<Snapshot>>) + Send>;

pub(super) struct Loops {
    workers: Workers,
    controls: Vec<Sender<Control>>,
    /// Each loop's latest snapshot (the metrics thread reads them too).
    pub snapshots: Vec<Arc<Mutex<Snapshot>>>,
    /// The epoch of the last configuration sent.
    epoch: u64,
    /// Connection sync between the loops and the sync daemon.
    pub sync: Arc<SyncLink>,
}

impl Default for Loops {
    fn default() -> Self {
        Loops::new(1)
    }
}

impl Loops {
    /// No loops yet, with a sync link for `n` of them.
    pub fn new(n: usize) -> Loops {
        Loops {
            workers: Workers::default(),
            controls: Vec::new(),
            snapshots: Vec::new(),
            epoch: 0,
            sync: Arc::new(SyncLink::new(n)),
        }
    }

    /// Start a poll loop pinned to `core`, running `engine` over `ports`.
    pub fn spawn_poll(
        &mut self,
        core: usize,
        engine: Engine,
        ports: Vec<XskPort>,
        mode: PollMode,
        origin: Instant,
        mut handoff: Handoff,
    ) -> Result<(), String> {
        let sync = self.sync.clone();
        self.spawn(
            format!("xvs-poll-{core}"),
            Box::new(move |stop, control, snapshot| {
                if !core_affinity::set_for_current(core_affinity::CoreId { id: core }) {
                    log(format!("could not pin a poll loop to core {core}"));
                }
                let (mut engine, mut ports) = (engine, ports);
                poll::run(&mut engine, &mut ports, mode, stop, control, snapshot, origin, &mut handoff, &sync);
            }),
        )
    }

    /// Start a thread named `name` running `body` with this loop's stop flag, control
    /// channel and snapshot.
    pub fn spawn(&mut self, name: String, body: Body) -> Result<(), String> {
        let snapshot = Arc::new(Mutex::new(Snapshot::default()));
        let snap = snapshot.clone();
        let (tx, rx) = mpsc::channel::<Control>();
        self.workers
            .spawn(name, move |stop| body(stop, &rx, &snap))
            .map_err(|e| format!("starting a poll loop: {e}"))?;
        self.controls.push(tx);
        self.snapshots.push(snapshot);
        Ok(())
    }

    pub fn len(&self) -> usize {
        self.controls.len()
    }

    /// Whether a loop ended (they only end when stopped, or when they panic).
    pub fn any_finished(&self) -> bool {
        self.workers.any_finished()
    }

    /// Send `msg` to every loop, answered by none (next hops).
    pub fn send(&self, msg: Control) {
        for c in &self.controls {
            let _ = c.send(msg.clone());
        }
    }

    /// The director's snapshot: every loop's, merged.
    pub fn merged(&self) -> Snapshot {
        let parts: Vec<Snapshot> =
            self.snapshots.iter().map(|s| s.lock().map(|g| g.clone()).unwrap_or_default()).collect();
        Snapshot::merge(&parts)
    }

    /// Every live connection of every loop, a page at a time (each loop forwards between
    /// pages); a loop that does not answer a page within 2 s is left out from there.
    pub fn connections(&self) -> Vec<ConnInfo> {
        let mut out = Vec::new();
        for c in &self.controls {
            let mut from = Some(ListCursor::default());
            while let Some(cursor) = from {
                let (tx, rx) = mpsc::channel();
                if c.send(Control::Connections { from: cursor, reply: tx }).is_err() {
                    break;
                }
                match rx.recv_timeout(Duration::from_secs(2)) {
                    Ok((page, next)) => {
                        out.extend(page);
                        from = next;
                    }
                    Err(_) => break,
                }
            }
        }
        out
    }

    /// Make `new` every loop's configuration and wait for all (see the module
    /// invariants); `previous` is what they run now, restored where needed on failure.
    pub fn apply(&mut self, new: &EngineConfig, previous: &EngineConfig) -> Result<(), String> {
        let all: Vec<usize> = (0..self.len()).collect();
        let outcome = self.apply_to(&all, new);
        let Some((i, why)) = outcome.iter().find_map(|(i, r)| r.as_ref().err().map(|e| (*i, e.clone()))) else {
            return Ok(());
        };
        let back: Vec<usize> =
            outcome.iter().filter(|(_, r)| !matches!(r, Err(Refusal::Engine(_)))).map(|(i, _)| *i).collect();
        for (j, r) in self.apply_to(&back, previous) {
            if let Err(Refusal::Engine(e) | Refusal::Silent(e)) = r {
                log(format!("poll loop {j}: restoring the previous configuration: {e}"));
            }
        }
        Err(match why {
            Refusal::Engine(e) => format!("the engine refused the configuration (poll loop {i}): {e}"),
            Refusal::Silent(e) => format!("poll loop {i}: {e}"),
        })
    }

    /// Send `cfg` with a new epoch to the loops `which`; each one's acknowledgement.
    fn apply_to(&mut self, which: &[usize], cfg: &EngineConfig) -> Vec<(usize, Result<(), Refusal>)> {
        self.epoch += 1;
        let epoch = self.epoch;
        let waiting: Vec<(usize, Option<Receiver<Ack>>)> = which
            .iter()
            .map(|&i| {
                let (ack, rx) = mpsc::channel();
                let msg = Control::Apply { config: Box::new(cfg.clone()), epoch, ack };
                (i, self.controls[i].send(msg).ok().map(|()| rx))
            })
            .collect();
        let deadline = Instant::now() + ACK_TIMEOUT;
        waiting.into_iter().map(|(i, rx)| (i, wait_ack(rx, epoch, deadline))).collect()
    }

    /// Stop every loop and wait for it; the final merged snapshot.
    pub fn stop(&mut self) -> Snapshot {
        self.workers.stop();
        self.merged()
    }
}

impl Drop for Loops {
    fn drop(&mut self) {
        // Before the control channels and snapshots go.
        self.workers.stop();
    }
}

/// The acknowledgement of `epoch` on `rx` (`None`: the loop is gone), by `deadline`.
fn wait_ack(rx: Option<Receiver<Ack>>, epoch: u64, deadline: Instant) -> Result<(), Refusal> {
    let gone = || Refusal::Silent("the loop has stopped".into());
    let rx = rx.ok_or_else(gone)?;
    loop {
        match rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
            Ok(a) if a.epoch == epoch => return a.result.map_err(Refusal::Engine),
            Ok(_) => continue,
            Err(mpsc::RecvTimeoutError::Disconnected) => return Err(gone()),
            Err(mpsc::RecvTimeoutError::Timeout) => {
                return Err(Refusal::Silent(format!(
                    "no acknowledgement of configuration epoch {epoch} within {} s",
                    ACK_TIMEOUT.as_secs()
                )))
            }
        }
    }
}
