//! `xvs-bench engine`: synthetic traffic through `Engine::process` on in-memory frames,
//! one engine per core thread (the per-core-ownership model: each thread owns its flows).
//!
//! Phases, per core thread (threads meet at barriers so the main thread can read RSS):
//! 1. build the engine (baseline RSS is read after this);
//! 2. create the flows: SYN, then for NAT the real's SYN-ACK, then the client's ACK, so
//!    every flow is ESTABLISHED (DR/TUN: SYN, ACK through the INPUT_ONLY table); then move
//!    the clock past the SYN_RECV timeout and let the wheel settle (every flow re-armed at
//!    its ESTABLISHED deadline) so that re-arming is not charged to the measured phase
//!    (RSS is read again: `bytes_per_conn`);
//! 3. with `--mass-expiry N`: N UDP connections created at one frozen instant, so they
//!    share one deadline;
//! 4. the generator alone for a short while (`gen_ns_per_packet`);
//! 5. the measured phase: batches of generated frames through `process`, each call timed
//!    into an hdrhistogram; halfway through, the clock jumps past the mass-expiry
//!    deadline and the batches until the backlog drained are also recorded apart.
//!
//! The clock is synthetic: frozen during setup, then `run start + elapsed real time`
//! (plus the jump), so timers behave as in a live director.
//!
//! Table sizing: `max_connections` = flows + mass-expiry connections + room for the churn
//! of new flows. New flows are SYNs that stay in SYN_RECV, whose timeout is shortened
//! (`--syn-timeout-ms`, 1 s) so their creation and expiry reach a steady state inside a
//! run of seconds, with the expiry work charged to the run as it would be on a director;
//! the room is 6M connections per second of that timeout (above the rate one core
//! reaches), so eviction (a scan of up to 1024 entries per new flow, a different cost)
//! stays out of the figure; `conns_evicted` shows if it happened anyway.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Barrier;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use xvs_engine::{
    Engine, EngineConfig, Forward, FrameBuf, NeighborSpec, RealSpec, ServiceSpec, TcpState, Timeouts, Verdict,
    MAX_HANDLES,
};
use xvs_proto::tcp_flags;
use xvs_sched::SchedConfig;

use crate::memory;
use crate::report::{CoreResult, Report};
use crate::traffic::{self, client, Gen, Template, VIP, VPORT};

/// How the reals are reached.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Mode {
    Nat,
    Dr,
    Tun,
}

impl Mode {
    fn forward(self) -> Forward {
        match self {
            Mode::Nat => Forward::Nat,
            Mode::Dr => Forward::Dr,
            Mode::Tun => Forward::Tun,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Mode::Nat => "nat",
            Mode::Dr => "dr",
            Mode::Tun => "tun",
        }
    }
}

#[derive(Clone, Debug, clap::Args)]
pub struct EngineArgs {
    /// Established flows (split over the cores)
    #[arg(long, default_value_t = 1_000_000)]
    pub flows: u32,
    /// Fraction of packets that are SYNs of brand-new flows (0..=1)
    #[arg(long, default_value_t = 0.0)]
    pub new_ratio: f64,
    /// Length of the measured phase
    #[arg(long, default_value_t = 5.0)]
    pub seconds: f64,
    /// Forwarding method of the reals
    #[arg(long, value_enum, default_value_t = Mode::Nat)]
    pub mode: Mode,
    /// Core threads, one engine each, pinned
    #[arg(long, default_value_t = 1)]
    pub cores: usize,
    /// Connections (split over the cores) that expire at one instant mid-run
    #[arg(long, default_value_t = 0)]
    pub mass_expiry: u32,
    /// Print one JSON object instead of text
    #[arg(long)]
    pub json: bool,
    /// Frames per batch
    #[arg(long, default_value_t = 64)]
    pub batch: usize,
    /// Reals of the service
    #[arg(long, default_value_t = 16)]
    pub reals: u8,
    /// Scheduler (ipvsadm name)
    #[arg(long, default_value = "wlc")]
    pub scheduler: String,
    /// SYN_RECV timeout: how long a new flow's connection lives (churn)
    #[arg(long, default_value_t = 1000)]
    pub syn_timeout_ms: u32,
    /// Most expiry steps per batch (EngineConfig::expiry_budget)
    #[arg(long, default_value_t = EngineConfig::default().expiry_budget)]
    pub expiry_budget: u32,
}

/// UDP timeout of the mass-expiry connections; the clock jumps past it mid-run.
const MASS_TIMEOUT_MS: u32 = 30_000;
/// Port of the UDP service the mass-expiry connections belong to.
const MASS_PORT: u16 = 80;
/// Room for new-flow churn per second of SYN_RECV timeout.
const CHURN_PER_SEC: f64 = 6e6;
/// Synthetic clock at engine creation (ns).
const T0: u64 = 1_000_000_000_000;
/// Longest generator-only phase.
const GEN_SECONDS: f64 = 1.0;
const HIST_MAX_NS: u64 = 60_000_000_000;

fn real_addr(i: u8) -> Ipv4Addr {
    Ipv4Addr::new(10, 0, 2, 11 + i)
}

fn engine_config(a: &EngineArgs, max_connections: u32) -> EngineConfig {
    let fwd = a.mode.forward();
    let reals = |port: u16| -> Vec<RealSpec> {
        (0..a.reals)
            .map(|i| RealSpec {
                addr: IpAddr::V4(real_addr(i)),
                port,
                weight: 1,
                forward: fwd,
                upper_threshold: 0,
                lower_threshold: 0,
            })
            .collect()
    };
    let service = |proto: u8, port: u16, rport: u16| ServiceSpec {
        vip: IpAddr::V4(VIP),
        prefix_len: 32,
        port,
        proto,
        scheduler: a.scheduler.clone(),
        sched: SchedConfig::default(),
        ops: false,
        persistence: 0,
        persistence_netmask: 32,
        sorry_server: None,
        reals: reals(rport),
    };
    let nat = a.mode == Mode::Nat;
    let mut timeouts = Timeouts::default();
    timeouts.tcp[TcpState::SynRecv as usize] = a.syn_timeout_ms;
    timeouts.udp = MASS_TIMEOUT_MS;
    EngineConfig {
        max_connections,
        timeouts,
        address4: Some(Ipv4Addr::new(10, 0, 2, 1)),
        expiry_budget: a.expiry_budget,
        services: vec![
            service(xvs_proto::PROTO_TCP, VPORT, if nat { 8080 } else { VPORT }),
            service(xvs_proto::PROTO_UDP, MASS_PORT, MASS_PORT),
        ],
        neighbors: (0..a.reals)
            .map(|i| NeighborSpec {
                ip: IpAddr::V4(real_addr(i)),
                mac: [2, 0, 0, 0, 2, 11 + i],
                default: false,
                port: None,
            })
            .collect(),
        ..EngineConfig::default()
    }
}

/// Share `total` over `k` cores; core `c` gets its part.
fn share(total: u32, k: usize, c: usize) -> u32 {
    let k = k as u32;
    total / k + u32::from((c as u32) < total % k)
}

/// Table capacity for one core holding `flows` + `mass` connections plus churn.
fn capacity(a: &EngineArgs, flows: u32, mass: u32) -> u32 {
    let churn = if a.new_ratio > 0.0 { (CHURN_PER_SEC * (a.syn_timeout_ms as f64 / 1000.0 + 0.1)) as u64 } else { 0 };
    let want = flows as u64 + mass as u64 + churn + 1024;
    want.min(MAX_HANDLES as u64) as u32
}

fn validate(a: &EngineArgs) -> Result<(), String> {
    if !(0.0..=1.0).contains(&a.new_ratio) {
        return Err(format!("--new-ratio must be between 0 and 1 (got {})", a.new_ratio));
    }
    if a.flows == 0 && a.new_ratio < 1.0 {
        return Err("--flows 0 needs --new-ratio 1".into());
    }
    if a.cores == 0 || a.batch == 0 || a.reals == 0 || a.reals > 200 {
        return Err("--cores and --batch must be at least 1, --reals between 1 and 200".into());
    }
    if a.seconds.is_nan() || a.seconds <= 0.0 {
        return Err("--seconds must be positive".into());
    }
    let per_core = share(a.flows, a.cores, 0) as u64 + share(a.mass_expiry, a.cores, 0) as u64;
    if per_core + 1024 > MAX_HANDLES as u64 {
        return Err(format!(
            "{per_core} connections per core do not fit the engine's table (at most {MAX_HANDLES}); add --cores"
        ));
    }
    Ok(())
}

/// Run the benchmark.
pub fn run(a: &EngineArgs) -> Result<Report, String> {
    validate(a)?;
    let k = a.cores;
    let core_ids = core_affinity::get_core_ids().unwrap_or_default();
    let barrier = Barrier::new(k + 1);
    let mut rss = [0u64; 2];
    let results: Vec<Result<CoreResult, String>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..k)
            .map(|c| {
                let barrier = &barrier;
                let pin = core_ids.get(c % core_ids.len().max(1)).copied();
                s.spawn(move || {
                    let pinned = pin.is_some_and(core_affinity::set_for_current);
                    let mut r = core_thread(a, c, barrier);
                    if let Ok(r) = &mut r {
                        r.pinned = pinned;
                    }
                    r
                })
            })
            .collect();
        barrier.wait(); // engines built
        rss[0] = memory::rss_bytes().unwrap_or(0);
        barrier.wait();
        barrier.wait(); // flows created
        rss[1] = memory::rss_bytes().unwrap_or(0);
        barrier.wait();
        handles.into_iter().map(|h| h.join().unwrap_or_else(|_| Err("core thread panicked".into()))).collect()
    });
    let cores = results.into_iter().collect::<Result<Vec<_>, _>>()?;
    Ok(Report::new(a, cores, rss[0], rss[1]))
}

/// One core's whole run. Always reaches every barrier, also after an error.
fn core_thread(a: &EngineArgs, c: usize, barrier: &Barrier) -> Result<CoreResult, String> {
    let flows = share(a.flows, a.cores, c);
    let mass = share(a.mass_expiry, a.cores, c);
    let cap = capacity(a, flows, mass);
    let mut frames = vec![FrameBuf::default(); a.batch];
    let mut verdicts = vec![Verdict::Pass; a.batch];
    let mut engine = Engine::new(engine_config(a, cap), T0).map_err(|e| format!("engine: {e}"));
    barrier.wait();
    barrier.wait();
    let mut setup_secs = 0.0;
    let mut now = T0;
    let setup = engine.as_mut().map_err(|e| e.clone()).and_then(|e| {
        let t = Instant::now();
        let r = create_flows(e, a.mode, c, flows, &mut frames, &mut verdicts, &mut now);
        setup_secs = t.elapsed().as_secs_f64();
        r
    });
    barrier.wait();
    barrier.wait();
    setup?;
    let mut engine = engine?;
    if engine.live_connections() != flows {
        return Err(format!("core {c}: {} connections live after setup, expected {flows}", engine.live_connections()));
    }
    create_mass(&mut engine, c, mass, &mut frames, &mut verdicts, now)?;
    let mut gen = Gen::new(c, flows, a.new_ratio, 0x9e37_79b9_7f4a_7c15 ^ ((c as u64 + 1) * 0x1234_5678_9abc_def1));
    let (gen_packets, gen_secs) = gen_only(&mut gen.clone(), &mut frames, (a.seconds * 0.2).min(GEN_SECONDS));
    let mut r = measure(a, &mut engine, &mut gen, &mut frames, &mut verdicts, now, mass)?;
    r.core = c;
    r.flows = flows;
    r.max_connections = cap;
    r.setup_secs = setup_secs;
    r.gen_packets = gen_packets;
    r.gen_secs = gen_secs;
    Ok(r)
}

/// Run one setup batch; every frame must be transmitted.
fn setup_batch(
    e: &mut Engine,
    frames: &mut [FrameBuf],
    verdicts: &mut [Verdict],
    now: u64,
    what: &str,
) -> Result<(), String> {
    e.process(frames, now, verdicts);
    if let Some(v) = verdicts[..frames.len()].iter().find(|v| !matches!(v, Verdict::Tx { .. })) {
        let drops: Vec<_> = e.stats().drops_by_reason().map(|(n, c)| format!("{n}={c}")).collect();
        return Err(format!("setup: a {what} got {v:?} (drops: {})", drops.join(" ")));
    }
    Ok(())
}

/// Create flows `0..flows` of core `c` and bring them to ESTABLISHED, then let the
/// wheel settle. `now` is left at the settled clock.
fn create_flows(
    e: &mut Engine,
    mode: Mode,
    c: usize,
    flows: u32,
    frames: &mut [FrameBuf],
    verdicts: &mut [Verdict],
    now: &mut u64,
) -> Result<(), String> {
    let syn = Template::tcp_to_vip(tcp_flags::SYN);
    let ack = Template::tcp_to_vip(tcp_flags::ACK);
    let synack = Template::tcp_reply(tcp_flags::SYN | tcp_flags::ACK);
    let b = frames.len() as u32;
    let mut start = 0u32;
    while start < flows {
        let n = b.min(flows - start) as usize;
        let fr = &mut frames[..n];
        for (i, f) in fr.iter_mut().enumerate() {
            let (ip, port) = client(c, start + i as u32);
            syn.write_src(f, ip, port);
        }
        setup_batch(e, fr, verdicts, *now, "SYN")?;
        if mode == Mode::Nat {
            for (i, f) in fr.iter_mut().enumerate() {
                let real = traffic::dst_of(f);
                synack.write(f, real, client(c, start + i as u32));
            }
            setup_batch(e, fr, verdicts, *now, "SYN-ACK")?;
        }
        for (i, f) in fr.iter_mut().enumerate() {
            let (ip, port) = client(c, start + i as u32);
            ack.write_src(f, ip, port);
        }
        setup_batch(e, fr, verdicts, *now, "ACK")?;
        start += n as u32;
    }
    // Every flow is still armed at its SYN_RECV deadline: let the wheel hand them back
    // and re-arm them at their ESTABLISHED deadlines now, outside the measured phase.
    *now += (e.config().timeouts.tcp[TcpState::SynRecv as usize] as u64 + 2) * 1_000_000;
    e.tick(*now);
    while e.expiry_pending() {
        e.tick(*now);
    }
    Ok(())
}

/// Create `mass` UDP connections at the frozen instant `now`: one shared deadline.
fn create_mass(
    e: &mut Engine,
    c: usize,
    mass: u32,
    frames: &mut [FrameBuf],
    verdicts: &mut [Verdict],
    now: u64,
) -> Result<(), String> {
    let udp = Template::udp_to_vip(MASS_PORT);
    let before = e.live_connections();
    let b = frames.len() as u32;
    let mut start = 0u32;
    while start < mass {
        let n = b.min(mass - start) as usize;
        let fr = &mut frames[..n];
        for (i, f) in fr.iter_mut().enumerate() {
            let (ip, port) = client(c, start + i as u32);
            udp.write_src(f, ip, port);
        }
        setup_batch(e, fr, verdicts, now, "mass-expiry UDP datagram")?;
        start += n as u32;
    }
    if e.live_connections() - before != mass {
        return Err(format!(
            "core {c}: created {} mass-expiry connections, expected {mass}",
            e.live_connections() - before
        ));
    }
    Ok(())
}

/// The generator alone, for `secs`: (packets, seconds).
fn gen_only(gen: &mut Gen, frames: &mut [FrameBuf], secs: f64) -> (u64, f64) {
    let limit = Duration::from_secs_f64(secs);
    let start = Instant::now();
    let mut packets = 0u64;
    loop {
        for _ in 0..64 {
            gen.fill(frames);
            std::hint::black_box(&mut *frames);
            packets += frames.len() as u64;
        }
        let el = start.elapsed();
        if el >= limit {
            return (packets, el.as_secs_f64());
        }
    }
}

enum Mass {
    Off,
    Armed,
    Draining { live_before: u32, expired_before: u64, batches: u64, started: Instant },
    Done,
}

/// The measured phase.
fn measure(
    a: &EngineArgs,
    e: &mut Engine,
    gen: &mut Gen,
    frames: &mut [FrameBuf],
    verdicts: &mut [Verdict],
    clock: u64,
    mass: u32,
) -> Result<CoreResult, String> {
    let hist = || Histogram::<u64>::new_with_bounds(1, HIST_MAX_NS, 3).map_err(|e| e.to_string());
    let mut r = CoreResult::new(hist()?, hist()?);
    let limit = Duration::from_secs_f64(a.seconds);
    let half = limit / 2;
    let mut jump = 0u64;
    let mut state = if mass > 0 { Mass::Armed } else { Mass::Off };
    let created0 = e.stats().conns_created;
    let expired0 = e.stats().conns_expired;
    let evicted0 = e.stats().conns_evicted;
    let live0 = e.live_connections();
    let start = Instant::now();
    let mut engine_ns = 0u64;
    let mut packets = 0u64;
    let mut not_tx = 0u64;
    let elapsed = loop {
        gen.fill(frames);
        let t0 = Instant::now();
        let now = clock + (t0 - start).as_nanos() as u64 + jump;
        e.process(frames, now, verdicts);
        let t1 = Instant::now();
        let dt = (t1 - t0).as_nanos() as u64;
        r.batch_ns.saturating_record(dt);
        engine_ns += dt;
        packets += frames.len() as u64;
        not_tx += verdicts.iter().filter(|v| !matches!(v, Verdict::Tx { .. })).count() as u64;
        let el = t1 - start;
        match &mut state {
            Mass::Off | Mass::Done => {}
            Mass::Armed => {
                if el >= half {
                    // The next batch runs past the shared deadline.
                    jump = (MASS_TIMEOUT_MS as u64 + 1) * 1_000_000;
                    state = Mass::Draining {
                        live_before: e.live_connections(),
                        expired_before: e.stats().conns_expired,
                        batches: 0,
                        started: t1,
                    };
                }
            }
            Mass::Draining { live_before, expired_before, batches, started } => {
                *batches += 1;
                r.drain_ns.saturating_record(dt);
                if !e.expiry_pending() {
                    r.mass_batches = *batches;
                    r.mass_secs = (t1 - *started).as_secs_f64();
                    r.mass_live_drop = live_before.saturating_sub(e.live_connections());
                    r.mass_expired = e.stats().conns_expired - *expired_before;
                    r.mass_drained = r.mass_live_drop >= mass;
                    state = Mass::Done;
                }
            }
        }
        if el >= limit {
            break el;
        }
    };
    if let Mass::Draining { batches, .. } = state {
        r.mass_batches = batches; // the run ended first: not drained
    }
    let s = e.stats();
    r.packets = packets;
    r.secs = elapsed.as_secs_f64();
    r.engine_ns = engine_ns;
    r.not_tx = not_tx;
    r.new_conns = s.conns_created - created0;
    r.expired = s.conns_expired - expired0;
    r.evicted = s.conns_evicted - evicted0;
    r.live_start = live0;
    r.live_end = e.live_connections();
    r.drops = s.drops_by_reason().map(|(n, c)| (n.to_string(), c)).collect();
    r.mass = mass;
    Ok(r)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct T {
        #[command(flatten)]
        a: EngineArgs,
    }

    fn args(extra: &[&str]) -> EngineArgs {
        let mut v = vec!["t", "--seconds", "0.2", "--flows", "3000"];
        v.extend_from_slice(extra);
        T::parse_from(v).a
    }

    #[test]
    fn every_mode_forwards_everything() {
        for mode in ["nat", "dr", "tun"] {
            let r = run(&args(&["--mode", mode, "--new-ratio", "0.1"])).unwrap();
            let c = &r.cores[0];
            assert_eq!(c.not_tx, 0, "{mode}: {:?}", c.drops);
            assert!(c.packets > 0 && c.new_conns > 0, "{mode}");
        }
    }

    #[test]
    fn mass_expiry_drains() {
        let r = run(&args(&["--mass-expiry", "20000", "--cores", "2"])).unwrap();
        for c in &r.cores {
            assert!(c.mass_drained, "core {}: dropped {} of {}", c.core, c.mass_live_drop, c.mass);
            assert!(c.mass_batches >= 10000 / 256, "{}", c.mass_batches);
            assert_eq!(c.live_end, c.flows);
        }
    }
}
