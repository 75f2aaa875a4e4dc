//! Replay: run the pipeline over a finite port frame by frame, with each frame's capture
//! timestamp as the clock, and summarize what happened.
//!
//! Invariants: frames are processed one at a time in capture order with `now` = their
//! timestamp (never going backwards), so the same config and capture give the same
//! output byte for byte.

use std::fmt;
use std::io;

use crate::pipeline::Engine;
use crate::port::{FrameBuf, Port, Verdict};
use crate::stats::EngineStats;

/// What a replay did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReplaySummary {
    pub stats: EngineStats,
    /// (service, real, forward, connections, packets in, packets out), per real.
    pub per_real: Vec<RealLine>,
    pub live_connections: u32,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RealLine {
    pub service: String,
    pub real: String,
    pub forward: &'static str,
    pub conns: u64,
    pub pkts_in: u64,
    pub pkts_out: u64,
}

/// Run every frame of `port` through `engine`.
pub fn replay<P: Port<Frame = FrameBuf>>(engine: &mut Engine, port: &mut P) -> io::Result<ReplaySummary> {
    let mut batch: Vec<FrameBuf> = Vec::with_capacity(1);
    let mut verdict = [Verdict::Pass];
    let mut clock = 0u64;
    loop {
        let n = port.recv(&mut batch, 1)?;
        if n == 0 {
            break;
        }
        clock = clock.max(batch[0].ts_ns);
        engine.handle_batch(&mut batch[..], clock, &mut verdict);
        port.send(&mut batch, &verdict)?;
    }
    Ok(summarize(engine))
}

/// The summary of an engine's counters.
pub fn summarize(engine: &Engine) -> ReplaySummary {
    let svcs = engine.services();
    let per_real = svcs
        .reals
        .iter()
        .map(|r| {
            let s = &svcs[r.service].spec;
            let proto = if s.proto == 6 { "TCP" } else { "UDP" };
            RealLine {
                service: format!("{proto} {}", endpoint(s.vip, s.port, s.prefix_len)),
                real: format!(
                    "{}{}",
                    endpoint(r.addr, r.port, if r.addr.is_ipv4() { 32 } else { 128 }),
                    if r.is_sorry { " (sorry)" } else { "" }
                ),
                forward: r.forward.name(),
                conns: r.stats.conns,
                pkts_in: r.stats.pkts_in,
                pkts_out: r.stats.pkts_out,
            }
        })
        .collect();
    ReplaySummary { stats: engine.stats().clone(), per_real, live_connections: engine.live_connections() }
}

fn endpoint(ip: std::net::IpAddr, port: u16, prefix: u8) -> String {
    let full = if ip.is_ipv4() { 32 } else { 128 };
    let addr = if prefix < full { format!("{ip}/{prefix}") } else { ip.to_string() };
    if ip.is_ipv6() {
        format!("[{addr}]:{port}")
    } else {
        format!("{addr}:{port}")
    }
}

impl fmt::Display for ReplaySummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = &self.stats;
        writeln!(f, "packets in:  {}", s.rx)?;
        writeln!(f, "packets out: {}", s.tx)?;
        writeln!(f, "passed to the kernel: {}", s.passed)?;
        writeln!(f, "dropped: {}", s.dropped())?;
        for (name, n) in s.drops_by_reason() {
            writeln!(f, "  {name}: {n}")?;
        }
        writeln!(
            f,
            "connections: {} created, {} expired, {} evicted, {} live at end",
            s.conns_created, s.conns_expired, s.conns_evicted, self.live_connections
        )?;
        if s.templates_created > 0 {
            writeln!(f, "persistence templates: {} created, {} expired", s.templates_created, s.templates_expired)?;
        }
        if s.icmp_too_big_sent > 0 {
            writeln!(f, "ICMP too-big sent: {}", s.icmp_too_big_sent)?;
        }
        if s.ops_scheduled > 0 {
            writeln!(f, "one-packet scheduled: {}", s.ops_scheduled)?;
        }
        writeln!(f, "per real:")?;
        writeln!(
            f,
            "  {:<28} {:<28} {:<7} {:>8} {:>10} {:>10}",
            "service", "real", "forward", "conns", "pkts in", "pkts out"
        )?;
        for r in &self.per_real {
            writeln!(
                f,
                "  {:<28} {:<28} {:<7} {:>8} {:>10} {:>10}",
                r.service, r.real, r.forward, r.conns, r.pkts_in, r.pkts_out
            )?;
        }
        Ok(())
    }
}
