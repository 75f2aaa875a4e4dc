//! `xvs-bench flood`: what hash flooding costs (README "Defences").
//!
//! Two sets of `--flows` TCP flows to one DR service (wlc over 16 reals): random clients,
//! and clients whose keys' home slots all fall in a window of [`WINDOW`] slots of the
//! index: what an attacker who knew the hash seed would send (`xvs run` draws its seed
//! from the OS; the bench keeps the engine's fixed default, so it can compute them).
//! Scenario `flows` collides in the connection index; scenario `templates` makes the
//! service persistent (/32) and collides in the template index.
//!
//! Per set: every flow's SYN and three ACKs (batches of 64), then the clock moves past
//! every timeout and the engine expires everything. Rounds alternate the two sets on
//! fresh engines; reported: the median seconds of each and the median of the per-round
//! ratios colliding / random (the target is at most 2), and how many colliding flows the
//! engine refused (`hash_probe_limit`: their keys found no slot within the probe bound).

use std::net::{IpAddr, SocketAddr};
use std::time::Instant;

use xvs_engine::{DropReason, Engine, FrameBuf, Verdict};
use xvs_proto::tcp_flags::{ACK, SYN};
use xvs_proto::PROTO_TCP;

use crate::engine_bench::{args_from, engine_config};
use crate::report::median;
use crate::traffic::{Family, Template, VPORT};

#[derive(Debug, clap::Args)]
pub struct FloodArgs {
    /// Flows per set
    #[arg(long, default_value_t = 40_000)]
    pub flows: u32,
    /// Rounds (each runs both sets; medians reported)
    #[arg(long, default_value_t = 5)]
    pub rounds: usize,
    /// Print one JSON object instead of text
    #[arg(long)]
    pub json: bool,
}

/// Home slots of the colliding keys fall in `0..WINDOW`.
const WINDOW: usize = 256;
const BATCH: usize = 64;
const T0: u64 = 1_000_000_000_000;
/// Past every timeout: the expiry of all flows is part of the cost.
const EXPIRE_AFTER_NS: u64 = 3_000 * 1_000_000_000;

/// One scenario's figures.
#[derive(Debug, Default)]
pub struct Scenario {
    pub name: &'static str,
    pub random_secs: f64,
    pub colliding_secs: f64,
    pub ratio: f64,
    /// Colliding flows refused for the probe bound (first round).
    pub refused: u64,
}

#[derive(Debug, Default)]
pub struct FloodReport {
    pub flows: u32,
    pub rounds: usize,
    pub scenarios: Vec<Scenario>,
}

fn engine(flows: u32, persistence: u32) -> Result<Engine, String> {
    let a = args_from(&["--mode", "dr", "--scheduler", "wlc"])?;
    let mut cfg = engine_config(&a, flows * 2);
    cfg.services[0].persistence = persistence;
    Engine::new(cfg, T0).map_err(|e| format!("engine: {e}"))
}

/// xorshift64*.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// A client endpoint in 10.0.0.0/8, port 1024 and up.
    fn client(&mut self) -> ([u8; 4], u16) {
        let r = self.next();
        let ip = [10, (r >> 8) as u8, (r >> 16) as u8, (r >> 24) as u8];
        (ip, 1024 + ((r >> 40) as u16 % 60_000))
    }
}

fn addr(c: ([u8; 4], u16)) -> SocketAddr {
    SocketAddr::new(IpAddr::from(c.0), c.1)
}

/// `n` clients: random, or (with `collide`) kept only when `home(client)` is in the window.
fn clients(n: u32, seed: u64, collide: Option<&dyn Fn(SocketAddr) -> usize>) -> Vec<([u8; 4], u16)> {
    let mut rng = Rng(seed | 1);
    let mut out = Vec::with_capacity(n as usize);
    while out.len() < n as usize {
        let c = rng.client();
        if collide.is_none_or(|home| home(addr(c)) < WINDOW) {
            out.push(c);
        }
    }
    out
}

/// Seconds for every client's SYN and three ACKs, then the expiry of everything.
fn run_set(e: &mut Engine, set: &[([u8; 4], u16)]) -> f64 {
    let (syn, ack) = (Template::tcp_to_vip(Family::V4, SYN), Template::tcp_to_vip(Family::V4, ACK));
    let mut frames = vec![FrameBuf::default(); BATCH];
    let mut verdicts = vec![Verdict::Pass; BATCH];
    let mut now = T0;
    let mut secs = 0.0;
    for chunk in set.chunks(BATCH) {
        for t in [&syn, &ack, &ack, &ack] {
            for (f, c) in frames.iter_mut().zip(chunk) {
                t.write_src(f, c.0, c.1);
            }
            let k = chunk.len();
            let start = Instant::now();
            e.handle_batch(&mut frames[..k], now, &mut verdicts[..k]);
            secs += start.elapsed().as_secs_f64();
            now += 1_000;
        }
    }
    let start = Instant::now();
    now += EXPIRE_AFTER_NS;
    e.handle_timeout(now);
    while e.expiry_pending() {
        e.handle_timeout(now);
    }
    secs + start.elapsed().as_secs_f64()
}

fn scenario(a: &FloodArgs, name: &'static str, persistence: u32) -> Result<Scenario, String> {
    let probe = engine(a.flows, persistence)?;
    let vip = SocketAddr::new(Family::V4.net().vip, VPORT);
    let home: Box<dyn Fn(SocketAddr) -> usize> = if persistence == 0 {
        Box::new(|c| probe.flow_home_slot(PROTO_TCP, c, vip).unwrap_or(usize::MAX))
    } else {
        Box::new(|c: SocketAddr| probe.template_home_slot(PROTO_TCP, c.ip(), vip).unwrap_or(usize::MAX))
    };
    let random = clients(a.flows, 0x5eed, None);
    let colliding = clients(a.flows, 0xc011, Some(&*home));
    let (mut r, mut c, mut ratios, mut refused) = (Vec::new(), Vec::new(), Vec::new(), None);
    for _ in 0..a.rounds {
        let mut e = engine(a.flows, persistence)?;
        let rs = run_set(&mut e, &random);
        let mut e = engine(a.flows, persistence)?;
        let cs = run_set(&mut e, &colliding);
        refused.get_or_insert(e.stats().drops[DropReason::HashProbeLimit as usize]);
        r.push(rs);
        c.push(cs);
        ratios.push(cs / rs);
    }
    Ok(Scenario {
        name,
        random_secs: median(r),
        colliding_secs: median(c),
        ratio: median(ratios),
        refused: refused.unwrap_or(0),
    })
}

pub fn run(a: &FloodArgs) -> Result<FloodReport, String> {
    if a.flows == 0 || a.rounds == 0 {
        return Err("--flows and --rounds must be at least 1".into());
    }
    if let Some(c) = core_affinity::get_core_ids().unwrap_or_default().first() {
        core_affinity::set_for_current(*c);
    }
    let scenarios = vec![scenario(a, "flows", 0)?, scenario(a, "templates", 300)?];
    Ok(FloodReport { flows: a.flows, rounds: a.rounds, scenarios })
}

impl FloodReport {
    pub fn to_text(&self) -> String {
        let mut o = format!(
            "hash flooding: {} flows per set, SYN + 3 ACKs each, then expiry; median of {} rounds\n",
            self.flows, self.rounds
        );
        for s in &self.scenarios {
            o += &format!(
                "  {:<9} random {:>8.4} s   colliding {:>8.4} s   ratio {:.2} (target <= 2)   refused {}\n",
                s.name, s.random_secs, s.colliding_secs, s.ratio, s.refused
            );
        }
        o
    }

    pub fn to_json(&self) -> serde_json::Value {
        let sc: Vec<_> = self
            .scenarios
            .iter()
            .map(|s| {
                serde_json::json!({
                    "name": s.name,
                    "random_secs": s.random_secs,
                    "colliding_secs": s.colliding_secs,
                    "ratio": s.ratio,
                    "refused": s.refused,
                })
            })
            .collect();
        serde_json::json!({ "flows": self.flows, "rounds": self.rounds, "scenarios": sc })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The colliding set does collide (all in the window), and both sets run.
    #[test]
    fn colliding_clients_land_in_the_window() {
        let e = engine(1000, 0).unwrap();
        let vip = SocketAddr::new(Family::V4.net().vip, VPORT);
        let home = |c: SocketAddr| e.flow_home_slot(PROTO_TCP, c, vip).unwrap();
        let set = clients(50, 7, Some(&home));
        assert!(set.iter().all(|c| home(addr(*c)) < WINDOW));
        let r = run(&FloodArgs { flows: 300, rounds: 1, json: false }).unwrap();
        assert_eq!(r.scenarios.len(), 2);
        assert!(r.scenarios.iter().all(|s| s.random_secs > 0.0 && s.colliding_secs > 0.0));
    }
}
