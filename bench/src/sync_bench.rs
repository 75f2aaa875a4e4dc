//! `xvs-bench sync`: what connection sync costs and carries, on the code `xvs run` runs.
//!
//! 1. New connections on one poll core with sync off and on, alternating, `--rounds`
//!    times: each connection is a SYN, an ACK and an ACK (synced on its third packet, as
//!    IPVS's `sync_threshold` 3 does), through `Engine::handle_batch` and the loop's
//!    `LoopSync::exchange` (recording and writing IPVS messages, as the poll loop does).
//!    Reported: connections per second each way (medians) and the ratio within each round:
//!    what syncing costs the poll core (sending is another core's work, item 2).
//! 2. Send: one core packs every entry into IPVS sync messages (`SyncWriter`, 1472 bytes)
//!    and sends each over UDP on loopback: entries per second.
//! 3. Install: one core checks the received messages (`SyncMessage::parse`) and installs
//!    every entry into an engine (`Engine::handle_sync`): entries per second.
//!
//! Times exclude writing the frames (as `engine` does); the ratio is within one run, which
//! is what holds across machines.

use std::net::UdpSocket;
use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, Instant};

use xvs_datapath::sync_link::{LoopSync, SyncLink};
use xvs_engine::sync::SyncOutcome;
use xvs_engine::{Engine, FrameBuf, Verdict};
use xvs_proto::ipvs_sync::{SyncConn, SyncEntry, SyncMessage, SyncWriter, SYNC_MAXLEN_DEFAULT};
use xvs_proto::tcp_flags::{ACK, SYN};

use crate::engine_bench::{args_from, engine_config};
use crate::report::median;
use crate::traffic::{client, Family, Template};

#[derive(Debug, clap::Args)]
pub struct SyncArgs {
    /// New connections per measurement
    #[arg(long, default_value_t = 200_000)]
    pub connections: u32,
    /// Rounds of the sync-off / sync-on comparison (medians reported)
    #[arg(long, default_value_t = 3)]
    pub rounds: usize,
    /// Print one JSON object instead of text
    #[arg(long)]
    pub json: bool,
}

/// Engine time per batch of the new-connection run, and the simulated clock's step.
const BATCH: usize = 64;
const NS_PER_PACKET: u64 = 200;
const T0: u64 = 1_000_000_000_000;
const SYNCID: u8 = 51;

#[derive(Debug, Default)]
pub struct SyncReport {
    pub connections: u32,
    /// New connections per second on one core: sync off, sync on (medians).
    pub rate_off: f64,
    pub rate_on: f64,
    /// rate_on / rate_off within each round.
    pub ratios: Vec<f64>,
    /// Entries one core packs and sends per second, and the messages that took.
    pub send_rate: f64,
    pub messages: u64,
    pub send_errors: u64,
    /// Entries one core checks and installs per second, and how many were installed.
    pub install_rate: f64,
    pub installed: u64,
}

/// The engine of the runs: DR, wrr over 16 reals, room for `n` connections.
fn engine(n: u32) -> Result<Engine, String> {
    let a = args_from(&["--mode", "dr", "--scheduler", "wrr"])?;
    Engine::new(engine_config(&a, n.max(1024)), T0).map_err(|e| format!("engine: {e}"))
}

pub fn run(a: &SyncArgs) -> Result<SyncReport, String> {
    if a.connections == 0 || a.rounds == 0 {
        return Err("--connections and --rounds must be at least 1".into());
    }
    let (mut off, mut on, mut ratios) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..a.rounds {
        let t_off = new_connections(a.connections, false)?;
        let t_on = new_connections(a.connections, true)?;
        off.push(a.connections as f64 / t_off);
        on.push(a.connections as f64 / t_on);
        ratios.push(t_off / t_on);
    }
    let entries = recorded(a.connections)?;
    let (send_secs, messages, send_errors, received) = send(&entries)?;
    let (install_secs, installed) = install(&received, a.connections)?;
    Ok(SyncReport {
        connections: a.connections,
        rate_off: median(off),
        rate_on: median(on),
        ratios,
        send_rate: entries.len() as f64 / send_secs,
        messages,
        send_errors,
        install_rate: installed as f64 / install_secs,
        installed,
    })
}

/// Seconds of engine time for `n` new connections (three packets each) on this core,
/// with the loop's sync exchange after every batch (recording, writing messages). With
/// `sync` the messages are taken off the link after each batch, outside the timed part:
/// sending them is the master daemon's core's work, measured by [`send`].
fn new_connections(n: u32, sync: bool) -> Result<f64, String> {
    let mut e = engine(n)?;
    let link = SyncLink::new(1);
    link.set_format(SYNCID, SYNC_MAXLEN_DEFAULT);
    link.master.store(sync, Relaxed);
    let mut lsync = LoopSync::new(0);
    let (syn, ack) = (Template::tcp_to_vip(Family::V4, SYN), Template::tcp_to_vip(Family::V4, ACK));
    let mut frames = vec![FrameBuf::default(); BATCH];
    let mut verdicts = vec![Verdict::Pass; BATCH];
    let total = n as u64 * 3;
    if let Some(c) = core_affinity::get_core_ids().unwrap_or_default().first() {
        core_affinity::set_for_current(*c);
    }
    let (mut p, mut now, mut secs) = (0u64, T0, 0.0);
    // The loop takes up the master flag between batches: before the first one here.
    lsync.exchange(&link, &mut e, now);
    while p < total {
        let k = (total - p).min(BATCH as u64) as usize;
        for (i, f) in frames[..k].iter_mut().enumerate() {
            let q = p + i as u64;
            let (ip, port) = client(0, (q / 3) as u32);
            if q.is_multiple_of(3) { &syn } else { &ack }.write_src(f, ip, port);
        }
        let t = Instant::now();
        e.handle_batch(&mut frames[..k], now, &mut verdicts[..k]);
        lsync.exchange(&link, &mut e, now);
        secs += t.elapsed().as_secs_f64();
        while let Some(buf) = link.pop_outbound() {
            link.recycle(buf);
        }
        if verdicts[..k].iter().any(|v| !matches!(v, Verdict::Tx { .. })) {
            let drops: Vec<_> = e.stats().drops_by_reason().collect();
            return Err(format!("a packet was not transmitted: {drops:?}"));
        }
        p += k as u64;
        now += k as u64 * NS_PER_PACKET;
    }
    let want = if sync { n as u64 } else { 0 };
    if e.stats().sync.recorded != want || link.out_full.load(Relaxed) != 0 {
        return Err(format!("{} connections recorded for sync, expected {want}", e.stats().sync.recorded));
    }
    Ok(secs)
}

/// A UDP sender connected to a receiver on loopback (with room for a few MB).
fn loopback() -> Result<(UdpSocket, UdpSocket), String> {
    let e = |e: std::io::Error| format!("loopback socket: {e}");
    let rx = UdpSocket::bind("127.0.0.1:0").map_err(e)?;
    let tx = UdpSocket::bind("127.0.0.1:0").map_err(e)?;
    tx.connect(rx.local_addr().map_err(e)?).map_err(e)?;
    Ok((tx, rx))
}

/// The entries an engine records for `n` new connections.
fn recorded(n: u32) -> Result<Vec<SyncConn>, String> {
    let mut e = engine(n)?;
    e.set_sync_master(true);
    let (syn, ack) = (Template::tcp_to_vip(Family::V4, SYN), Template::tcp_to_vip(Family::V4, ACK));
    let mut out = Vec::with_capacity(n as usize);
    let mut frames = vec![FrameBuf::default(); 3];
    let mut verdicts = [Verdict::Pass; 3];
    for c in 0..n {
        let (ip, port) = client(0, c);
        for (f, t) in frames.iter_mut().zip([&syn, &ack, &ack]) {
            t.write_src(f, ip, port);
        }
        e.handle_batch(&mut frames, T0 + c as u64 * 1000, &mut verdicts);
        e.poll_sync(|s| out.push(*s));
    }
    Ok(out)
}

/// What [`send`] measured: seconds, messages, send errors, the messages received.
type Sent = (f64, u64, u64, Vec<Vec<u8>>);

/// Pack and send `entries` on this core (a receiver thread on the other core keeps the
/// messages).
fn send(entries: &[SyncConn]) -> Result<Sent, String> {
    let (tx, rx) = loopback()?;
    rx.set_read_timeout(Some(Duration::from_millis(300))).map_err(|e| e.to_string())?;
    let cores = core_affinity::get_core_ids().unwrap_or_default();
    std::thread::scope(|s| {
        let pin = cores.get(1).copied();
        let keeper = s.spawn(move || {
            pin.map(core_affinity::set_for_current);
            let mut got = Vec::new();
            let mut buf = [0u8; 65536];
            while let Ok(n) = rx.recv(&mut buf) {
                got.push(buf[..n].to_vec());
            }
            got
        });
        if let Some(c) = cores.first() {
            core_affinity::set_for_current(*c);
        }
        let mut buf = [0u8; SYNC_MAXLEN_DEFAULT];
        let mut w = SyncWriter::new(&mut buf, SYNCID).expect("room for a header");
        let (mut messages, mut errors) = (0u64, 0u64);
        let mut flush = |w: &mut SyncWriter| {
            messages += 1;
            if tx.send(w.bytes()).is_err() {
                errors += 1;
            }
            // Paced a little, as a daemon is by its queue, so loopback does not drop.
            if messages % 64 == 0 {
                std::thread::yield_now();
            }
            w.reset();
        };
        let t = Instant::now();
        for c in entries {
            if !w.push(c) {
                flush(&mut w);
                w.push(c);
            }
        }
        if !w.is_empty() {
            flush(&mut w);
        }
        let secs = t.elapsed().as_secs_f64();
        let got = keeper.join().map_err(|_| "the receiver panicked".to_string())?;
        Ok((secs, messages, errors, got))
    })
}

/// Check and install every entry of `messages` into a fresh engine: seconds, entries
/// installed.
fn install(messages: &[Vec<u8>], n: u32) -> Result<(f64, u64), String> {
    let mut e = engine(n)?;
    let t = Instant::now();
    let mut installed = 0u64;
    for m in messages {
        let msg = SyncMessage::parse(m, SYNCID).map_err(|e| format!("a message sent does not parse: {e}"))?;
        for entry in msg.entries() {
            if let SyncEntry::Conn(c) = entry {
                installed += u64::from(e.handle_sync(&c, T0) == SyncOutcome::Installed);
            }
        }
    }
    Ok((t.elapsed().as_secs_f64(), installed))
}

impl SyncReport {
    pub fn to_text(&self) -> String {
        let ratios: Vec<String> = self.ratios.iter().map(|r| format!("{r:.3}")).collect();
        format!(
            "new connections on one core (SYN, ACK, ACK; {} per run): {:.0}/s without sync, {:.0}/s with \
             (medians); with/without per round: {}\n\
             send: {:.0} entries/s packed and sent on one core ({} messages, {} send errors)\n\
             install: {:.0} entries/s checked and installed on one core ({} installed)\n",
            self.connections,
            self.rate_off,
            self.rate_on,
            ratios.join(" "),
            self.send_rate,
            self.messages,
            self.send_errors,
            self.install_rate,
            self.installed
        )
    }

    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "connections": self.connections,
            "new_conns_per_sec_sync_off": self.rate_off,
            "new_conns_per_sec_sync_on": self.rate_on,
            "on_off_ratios": self.ratios,
            "send_entries_per_sec": self.send_rate,
            "messages": self.messages,
            "send_errors": self.send_errors,
            "install_entries_per_sec": self.install_rate,
            "installed": self.installed,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_connection_is_recorded_sent_and_installed() {
        let r = run(&SyncArgs { connections: 3000, rounds: 1, json: true }).unwrap();
        assert_eq!((r.installed, r.send_errors, r.ratios.len()), (3000, 0, 1));
        // 40 IPv4 entries fill a 1472-byte message.
        assert_eq!(r.messages, 3000u64.div_ceil(40));
        assert!(r.rate_off > 0.0 && r.rate_on > 0.0 && r.send_rate > 0.0 && r.install_rate > 0.0);
    }
}
