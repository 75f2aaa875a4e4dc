//! Results of a benchmark run: per-core figures, their aggregate, and its text and JSON
//! forms.
//!
//! Definitions (aggregate over cores):
//! - `mpps` = sum over cores of packets / elapsed, in millions;
//! - `ns_per_packet` = mean over cores of elapsed / packets: wall time per packet on one
//!   core, generator and timing included; `engine_ns_per_packet` counts only the time
//!   inside `handle_batch`; `gen_ns_per_packet` is the generator alone (a separate short phase);
//! - `ns_per_packet_per_miss` and `engine_ns_per_packet_per_miss` = those two ÷ `miss_ns`;
//! - `miss_parallel_ns` = ns per random access with 16 independent ones at a time, and
//!   `memory_parallelism` = `miss_ns` ÷ it: how many misses the machine overlaps for a core;
//! - `new_conns_per_sec` = connections created in the measured phase / elapsed, all cores;
//! - `bytes_per_conn` = growth of the process's RSS while the flows were created / flows;
//! - `batch_*_us` = quantiles (and the mean) of the time of one `handle_batch` call, all
//!   cores merged, but the batches while a mass expiry drained: those are
//!   `mass_expiry_batch_*_us`.

use hdrhistogram::Histogram;
use serde_json::{json, Value};

use crate::engine_bench::EngineArgs;

/// What one core thread measured.
#[derive(Debug)]
pub struct CoreResult {
    pub core: usize,
    pub pinned: bool,
    /// Bytes of the engine's tables advised for huge pages.
    pub huge_pages_advised: u64,
    pub flows: u32,
    pub max_connections: u32,
    pub setup_secs: f64,
    /// Unmeasured new-flow traffic before the measured phase (`engine_bench::warm_up`).
    pub warm_up_secs: f64,
    pub packets: u64,
    pub secs: f64,
    pub engine_ns: u64,
    pub gen_packets: u64,
    pub gen_secs: f64,
    pub not_tx: u64,
    pub drops: Vec<(String, u64)>,
    pub new_conns: u64,
    pub expired: u64,
    pub evicted: u64,
    pub live_start: u32,
    pub live_end: u32,
    pub batch_ns: Histogram<u64>,
    pub drain_ns: Histogram<u64>,
    pub mass: u32,
    pub mass_batches: u64,
    pub mass_secs: f64,
    pub mass_live_drop: u32,
    pub mass_expired: u64,
    pub mass_drained: bool,
}

impl CoreResult {
    /// Empty figures with these (empty) histograms.
    pub fn new(batch_ns: Histogram<u64>, drain_ns: Histogram<u64>) -> CoreResult {
        CoreResult {
            core: 0,
            pinned: false,
            huge_pages_advised: 0,
            flows: 0,
            max_connections: 0,
            setup_secs: 0.0,
            warm_up_secs: 0.0,
            packets: 0,
            secs: 0.0,
            engine_ns: 0,
            gen_packets: 0,
            gen_secs: 0.0,
            not_tx: 0,
            drops: Vec::new(),
            new_conns: 0,
            expired: 0,
            evicted: 0,
            live_start: 0,
            live_end: 0,
            batch_ns,
            drain_ns,
            mass: 0,
            mass_batches: 0,
            mass_secs: 0.0,
            mass_live_drop: 0,
            mass_expired: 0,
            mass_drained: false,
        }
    }
}

#[derive(Debug)]
pub struct Report {
    pub args: EngineArgs,
    pub cores: Vec<CoreResult>,
    pub rss_before: u64,
    pub rss_after: u64,
    pub batch_ns: Histogram<u64>,
    pub drain_ns: Histogram<u64>,
    /// One dependent random memory access in ns (`miss`), measured after the engine.
    pub miss_ns: Option<f64>,
    /// The same access, [`crate::miss::CHAINS`] independent ones at a time
    /// (`miss_parallel_ns`), measured with it.
    pub miss_parallel_ns: Option<f64>,
    /// The process's anonymous memory on huge pages once the flows are created.
    pub anon_huge_bytes: u64,
}

/// The median of `v` (the mean of the middle two when their number is even; 0 for none).
pub fn median(mut v: Vec<f64>) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    v.sort_by(|a, b| a.total_cmp(b));
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// A batch slower than this is counted apart (`batch_over_20us_*`). On this project's VMs
/// a timer interrupt makes a batch that slow a few hundred times a second, whatever the
/// batch holds; where those are more than a thousandth of the batches, the p99.9 is theirs.
pub const SLOW_BATCH_NS: u64 = 20_000;

fn us(ns: u64) -> f64 {
    ns as f64 / 1000.0
}

fn round(x: f64, places: i32) -> f64 {
    let m = 10f64.powi(places);
    (x * m).round() / m
}

impl Report {
    pub fn new(args: &EngineArgs, cores: Vec<CoreResult>, rss_before: u64, rss_after: u64) -> Report {
        let mut batch_ns = cores[0].batch_ns.clone();
        let mut drain_ns = cores[0].drain_ns.clone();
        for c in &cores[1..] {
            // Same bounds everywhere: adding cannot fail.
            let _ = batch_ns.add(&c.batch_ns);
            let _ = drain_ns.add(&c.drain_ns);
        }
        Report {
            args: args.clone(),
            cores,
            rss_before,
            rss_after,
            batch_ns,
            drain_ns,
            miss_ns: None,
            miss_parallel_ns: None,
            anon_huge_bytes: 0,
        }
    }

    fn mean(&self, f: impl Fn(&CoreResult) -> f64) -> f64 {
        self.cores.iter().map(f).sum::<f64>() / self.cores.len() as f64
    }

    pub fn mpps(&self) -> f64 {
        self.cores.iter().map(|c| c.packets as f64 / c.secs).sum::<f64>() / 1e6
    }

    pub fn ns_per_packet(&self) -> f64 {
        self.mean(|c| c.secs * 1e9 / c.packets as f64)
    }

    pub fn engine_ns_per_packet(&self) -> f64 {
        self.mean(|c| c.engine_ns as f64 / c.packets as f64)
    }

    pub fn gen_ns_per_packet(&self) -> f64 {
        self.mean(|c| c.gen_secs * 1e9 / c.gen_packets.max(1) as f64)
    }

    pub fn new_conns_per_sec(&self) -> f64 {
        self.cores.iter().map(|c| c.new_conns as f64 / c.secs).sum()
    }

    pub fn bytes_per_conn(&self) -> f64 {
        let flows: u64 = self.cores.iter().map(|c| c.flows as u64).sum();
        self.rss_after.saturating_sub(self.rss_before) as f64 / flows.max(1) as f64
    }

    /// Batch latency p99.9 of the measured phase, outside a mass expiry's drain.
    pub fn batch_p999_us(&self) -> f64 {
        Self::q(&self.batch_ns, 0.999)
    }

    /// Batch latency p99.9 while a mass expiry drained (`--mass-expiry`).
    pub fn mass_expiry_p999_us(&self) -> f64 {
        Self::q(&self.drain_ns, 0.999)
    }

    /// Mean time of one `handle_batch` call in the measured phase, outside a mass expiry's
    /// drain.
    pub fn batch_mean_us(&self) -> f64 {
        self.batch_ns.mean() / 1000.0
    }

    /// Mean time of one `handle_batch` call while a mass expiry drained.
    pub fn mass_expiry_mean_us(&self) -> f64 {
        self.drain_ns.mean() / 1000.0
    }

    /// Batches slower than [`SLOW_BATCH_NS`] outside a mass expiry's drain: their share of
    /// those batches, and how many a second of that phase (all cores' time summed).
    pub fn slow_batches(&self) -> (f64, f64) {
        let secs: f64 = self.cores.iter().map(|c| c.secs - c.mass_secs).sum();
        Self::slow(&self.batch_ns, secs)
    }

    /// [`slow_batches`](Self::slow_batches) while a mass expiry drained.
    pub fn mass_expiry_slow_batches(&self) -> (f64, f64) {
        Self::slow(&self.drain_ns, self.cores.iter().map(|c| c.mass_secs).sum())
    }

    fn slow(h: &Histogram<u64>, secs: f64) -> (f64, f64) {
        let n = h.count_between(SLOW_BATCH_NS, u64::MAX) as f64;
        (n / h.len().max(1) as f64, if secs > 0.0 { n / secs } else { 0.0 })
    }

    /// Whether every core's mass-expiry connections expired within the run.
    pub fn mass_drained(&self) -> bool {
        self.cores.iter().all(|c| c.mass_drained)
    }

    fn q(h: &Histogram<u64>, q: f64) -> f64 {
        if h.is_empty() {
            0.0
        } else {
            us(h.value_at_quantile(q))
        }
    }

    pub fn to_json(&self) -> Value {
        let a = &self.args;
        let slow = self.slow_batches();
        let mut v = json!({
            "mpps": round(self.mpps(), 3),
            "ns_per_packet": round(self.ns_per_packet(), 2),
            "new_conns_per_sec": self.new_conns_per_sec().round(),
            "bytes_per_conn": round(self.bytes_per_conn(), 1),
            "batch_p50_us": round(Self::q(&self.batch_ns, 0.5), 3),
            "batch_p99_us": round(Self::q(&self.batch_ns, 0.99), 3),
            "batch_p999_us": round(self.batch_p999_us(), 3),
            "batch_max_us": round(us(self.batch_ns.max()), 3),
            "batch_mean_us": round(self.batch_mean_us(), 3),
            "batch_over_20us_share": round(slow.0, 6),
            "batch_over_20us_per_sec": round(slow.1, 1),
            "engine_ns_per_packet": round(self.engine_ns_per_packet(), 2),
            "gen_ns_per_packet": round(self.gen_ns_per_packet(), 2),
            "new_conns_per_sec_per_core": (self.new_conns_per_sec() / self.cores.len() as f64).round(),
            "flows": a.flows,
            "new_ratio": a.new_ratio,
            "cores": a.cores,
            "mode": a.mode.name(),
            "family": a.family.net().name,
            "clock": if a.packets.is_some() { "per-packet" } else { "real-time" },
            "scheduler": a.scheduler,
            "reals": a.reals,
            "batch": a.batch,
            "seconds": round(self.mean(|c| c.secs), 3),
            "packets": self.cores.iter().map(|c| c.packets).sum::<u64>(),
            "not_transmitted": self.cores.iter().map(|c| c.not_tx).sum::<u64>(),
            "conns_expired": self.cores.iter().map(|c| c.expired).sum::<u64>(),
            "conns_evicted": self.cores.iter().map(|c| c.evicted).sum::<u64>(),
            "max_connections_per_core": self.cores[0].max_connections,
            "rss_before_flows": self.rss_before,
            "rss_after_flows": self.rss_after,
            "setup_seconds": round(self.cores.iter().map(|c| c.setup_secs).fold(0.0, f64::max), 3),
            "warm_up_seconds": round(self.cores.iter().map(|c| c.warm_up_secs).fold(0.0, f64::max), 3),
            "pinned": self.cores.iter().all(|c| c.pinned),
            "fast_path": !a.no_fast_path,
            "stage_from": a.stage_from.unwrap_or(xvs_engine::STAGE_FROM),
            "huge_pages_advised_bytes": self.cores.iter().map(|c| c.huge_pages_advised).sum::<u64>(),
            "anon_huge_bytes": self.anon_huge_bytes,
        });
        if a.mass_expiry > 0 {
            let m = v.as_object_mut().expect("an object");
            m.insert("mass_expiry".into(), json!(a.mass_expiry));
            m.insert("mass_expiry_drained".into(), json!(self.mass_drained()));
            m.insert("mass_expiry_batches".into(), json!(self.cores.iter().map(|c| c.mass_batches).max()));
            m.insert(
                "mass_expiry_ms".into(),
                json!(round(self.cores.iter().map(|c| c.mass_secs).fold(0.0, f64::max) * 1e3, 3)),
            );
            m.insert(
                "mass_expiry_live_drop".into(),
                json!(self.cores.iter().map(|c| c.mass_live_drop as u64).sum::<u64>()),
            );
            m.insert("mass_expiry_batch_p99_us".into(), json!(round(Self::q(&self.drain_ns, 0.99), 3)));
            m.insert("mass_expiry_batch_p999_us".into(), json!(round(self.mass_expiry_p999_us(), 3)));
            m.insert("mass_expiry_batch_max_us".into(), json!(round(us(self.drain_ns.max()), 3)));
            m.insert("mass_expiry_batch_mean_us".into(), json!(round(self.mass_expiry_mean_us(), 3)));
            let (share, per_sec) = self.mass_expiry_slow_batches();
            m.insert("mass_expiry_batch_over_20us_share".into(), json!(round(share, 6)));
            m.insert("mass_expiry_batch_over_20us_per_sec".into(), json!(round(per_sec, 1)));
        }
        let drops: serde_json::Map<String, Value> = self
            .cores
            .iter()
            .flat_map(|c| c.drops.iter())
            .fold(std::collections::BTreeMap::<String, u64>::new(), |mut m, (n, c)| {
                *m.entry(n.clone()).or_default() += c;
                m
            })
            .into_iter()
            .map(|(k, v)| (k, json!(v)))
            .collect();
        v.as_object_mut().expect("an object").insert("drops".into(), Value::Object(drops));
        if let Some(m) = self.miss_ns {
            let o = v.as_object_mut().expect("an object");
            o.insert("miss_ns".into(), json!(round(m, 2)));
            o.insert("ns_per_packet_per_miss".into(), json!(round(self.ns_per_packet() / m, 3)));
            o.insert("engine_ns_per_packet_per_miss".into(), json!(round(self.engine_ns_per_packet() / m, 3)));
            if let Some(p) = self.miss_parallel_ns {
                o.insert("miss_parallel_ns".into(), json!(round(p, 2)));
                o.insert("memory_parallelism".into(), json!(round(m / p, 2)));
            }
        }
        v
    }

    pub fn to_text(&self) -> String {
        let slow = self.slow_batches();
        use std::fmt::Write;
        let a = &self.args;
        let mut s = String::new();
        let _ = writeln!(
            s,
            "xvs-bench engine: {} flows, mode {} {}, {} core(s), new-ratio {}, {} reals ({}), batch {}",
            a.flows,
            a.mode.name(),
            a.family.net().name,
            a.cores,
            a.new_ratio,
            a.reals,
            a.scheduler,
            a.batch
        );
        let packets: u64 = self.cores.iter().map(|c| c.packets).sum();
        let clock = if a.packets.is_some() { " (engine clock: a fixed step per packet)" } else { "" };
        let _ = writeln!(s, "  measured         {:.2} s, {} packets{clock}", self.mean(|c| c.secs), packets);
        let _ = writeln!(s, "  throughput       {:.3} Mpps", self.mpps());
        let _ = writeln!(
            s,
            "  per packet       {:.2} ns/core (engine {:.2} ns, generator alone {:.2} ns)",
            self.ns_per_packet(),
            self.engine_ns_per_packet(),
            self.gen_ns_per_packet()
        );
        let _ = writeln!(
            s,
            "  new connections  {:.0}/s ({:.0}/s per core)",
            self.new_conns_per_sec(),
            self.new_conns_per_sec() / self.cores.len() as f64
        );
        let _ = writeln!(
            s,
            "  memory           {:.1} bytes/conn (RSS {:.1} -> {:.1} MiB)",
            self.bytes_per_conn(),
            self.rss_before as f64 / 1048576.0,
            self.rss_after as f64 / 1048576.0
        );
        let _ = writeln!(
            s,
            "  batch latency    p50 {:.2} us, p99 {:.2} us, p99.9 {:.2} us, max {:.2} us; over 20 us: {:.3} % of batches, {:.0} a second",
            Self::q(&self.batch_ns, 0.5),
            Self::q(&self.batch_ns, 0.99),
            Self::q(&self.batch_ns, 0.999),
            us(self.batch_ns.max()),
            slow.0 * 100.0,
            slow.1
        );
        if let Some(m) = self.miss_ns {
            let _ = writeln!(
                s,
                "  memory latency   {m:.2} ns per dependent random access; {:.3} of it per packet \
                 ({:.3} in the engine)",
                self.ns_per_packet() / m,
                self.engine_ns_per_packet() / m
            );
            if let Some(p) = self.miss_parallel_ns {
                let _ = writeln!(
                    s,
                    "                   {p:.2} ns per access with {} independent at a time: {:.2} overlapped",
                    crate::miss::CHAINS,
                    m / p
                );
            }
        }
        if a.mass_expiry > 0 {
            let drained = self.cores.iter().all(|c| c.mass_drained);
            let drain_slow = self.mass_expiry_slow_batches();
            let _ = writeln!(
                s,
                "  mass expiry      {} conns: {} in {} batches / {:.2} ms (live fell by {}); \
                 batch p99 {:.2} us, p99.9 {:.2} us, max {:.2} us while draining; over 20 us: {:.3} % of them, \
                 {:.0} a second",
                a.mass_expiry,
                if drained { "drained" } else { "NOT drained" },
                self.cores.iter().map(|c| c.mass_batches).max().unwrap_or(0),
                self.cores.iter().map(|c| c.mass_secs).fold(0.0, f64::max) * 1e3,
                self.cores.iter().map(|c| c.mass_live_drop as u64).sum::<u64>(),
                Self::q(&self.drain_ns, 0.99),
                Self::q(&self.drain_ns, 0.999),
                us(self.drain_ns.max()),
                drain_slow.0 * 100.0,
                drain_slow.1
            );
        }
        let not_tx: u64 = self.cores.iter().map(|c| c.not_tx).sum();
        let expired: u64 = self.cores.iter().map(|c| c.expired).sum();
        let evicted: u64 = self.cores.iter().map(|c| c.evicted).sum();
        let _ = writeln!(
            s,
            "  connections      {} expired, {} evicted, {} not transmitted; table {} per core; setup {:.2} s, warm-up {:.2} s",
            expired,
            evicted,
            not_tx,
            self.cores[0].max_connections,
            self.cores.iter().map(|c| c.setup_secs).fold(0.0, f64::max),
            self.cores.iter().map(|c| c.warm_up_secs).fold(0.0, f64::max)
        );
        for c in &self.cores {
            if !c.drops.is_empty() {
                let d: Vec<_> = c.drops.iter().map(|(n, k)| format!("{n}={k}")).collect();
                let _ = writeln!(s, "  core {} drops     {}", c.core, d.join(" "));
            }
        }
        if self.cores.len() > 1 {
            for c in &self.cores {
                let _ = writeln!(
                    s,
                    "  core {}{}          {:.3} Mpps, {:.2} ns/packet",
                    c.core,
                    if c.pinned { "" } else { " (unpinned)" },
                    c.packets as f64 / c.secs / 1e6,
                    c.secs * 1e9 / c.packets as f64
                );
            }
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The slow batches' share counts those of at least 20 us among all, and their rate
    /// divides by the phase's seconds.
    #[test]
    fn slow_batches_are_counted_from_20_us() {
        let mut h = Histogram::<u64>::new_with_bounds(1, 1_000_000_000, 3).unwrap();
        for _ in 0..997 {
            h.record(5_000).unwrap();
        }
        h.record(19_000).unwrap();
        h.record(20_000).unwrap();
        h.record(70_000).unwrap();
        let (share, per_sec) = Report::slow(&h, 0.5);
        assert_eq!(share, 2.0 / 1000.0);
        assert_eq!(per_sec, 4.0);
        assert_eq!(Report::slow(&h, 0.0).1, 0.0, "a phase that did not run has no rate");
    }
}
