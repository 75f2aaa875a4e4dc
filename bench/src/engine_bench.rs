//! `xvs-bench engine`: synthetic traffic through `Engine::handle_batch` on in-memory frames,
//! one engine per core thread (the per-core-ownership model: each thread owns its flows).
//!
//! Phases, per core thread (threads meet at barriers so the main thread can read RSS):
//! 1. build the engine (baseline RSS is read after this);
//! 2. create the flows: SYN, then for NAT the real's SYN-ACK, then the client's ACK (and
//!    for NAT the real's ACK, which verifies it), so every flow is ESTABLISHED (DR/TUN:
//!    SYN, ACK through the INPUT_ONLY table); then move
//!    the clock past the SYN_RECV timeout and let the wheel settle (every flow re-armed at
//!    its ESTABLISHED deadline) so that re-arming is not charged to the measured phase
//!    (RSS is read again: `bytes_per_conn`);
//! 3. with `--mass-expiry N`: N UDP connections created at one frozen instant, so they
//!    share one deadline;
//! 4. the generator alone for a short while (`gen_ns_per_packet`);
//! 5. the measured phase: batches of generated frames through `handle_batch`, each call timed
//!    into an hdrhistogram; halfway through, the clock jumps past the mass-expiry
//!    deadline and the batches until the backlog drained are recorded apart (`drain_ns`,
//!    the others in `batch_ns`). A run whose span ends while the backlog still drains
//!    goes on until it drained, for at most [`MASS_OVERRUN`] times its span in all, so
//!    that a slow spell of the machine does not leave the drain unmeasured (the report's
//!    `secs` and packets then include the overrun; a backlog still left at the bound is
//!    reported as not drained).
//!
//! The clock is synthetic: frozen during setup, then `run start + elapsed real time`
//! (plus the jump), so timers behave as in a live director. With `--packets N` the
//! measured phase is N packets (rounded up to whole batches) instead of `--seconds`, and
//! the clock advances [`NS_PER_PACKET`] per packet processed, read from no real clock:
//! the engine sees the same inputs at the same instants in every run, so a run under
//! callgrind is repeatable to the instruction (`scripts/instructions.sh`). Real time is
//! still measured for the report, it just does not feed the engine.
//!
//! Every call into the engine's packet entry point goes through [`engine_entry`], one
//! function that is never inlined, so an instruction counter can attribute a packet's
//! whole cost to one symbol whatever the engine inlines or renames.
//!
//! Table sizing: `max_connections` = flows + mass-expiry connections + room for the churn
//! of new flows. New flows are SYNs that stay in SYN_RECV, whose timeout is shortened
//! (`--syn-timeout-ms`, 1 s) so their creation and expiry reach a steady state inside a
//! run of seconds, with the expiry work charged to the run as it would be on a director;
//! the room is 6M connections per second of that timeout (above the rate one core
//! reaches), so eviction (a scan of up to 1024 entries per new flow, a different cost)
//! stays out of the figure; `conns_evicted` shows if it happened anyway.

use std::net::IpAddr;
use std::sync::Barrier;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use xvs_datapath::handoff;
use xvs_engine::{
    Classified, Engine, EngineConfig, Forward, FrameBuf, NeighborSpec, RealSpec, ServiceSpec, TcpState, Timeouts,
    Verdict, MAX_HANDLES,
};
use xvs_proto::tcp_flags;
use xvs_sched::SchedConfig;

use crate::memory;
use crate::report::{CoreResult, Report};
use crate::traffic::{client, Family, Gen, Template, VPORT};

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
    /// Measure exactly this many packets per core (rounded up to whole batches) on a
    /// deterministic clock instead of --seconds of real time: repeatable to the instruction
    #[arg(long)]
    pub packets: Option<u64>,
    /// Address family of the service and of the traffic
    #[arg(long, value_enum, default_value_t = Family::V4)]
    pub family: Family,
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
    /// Leave the engine's tables on small pages (no MADV_HUGEPAGE), to measure what huge
    /// pages give
    #[arg(long)]
    pub no_huge_pages: bool,
    /// Send every packet the general way (Engine::set_fast_path(false)): the same results,
    /// to measure what the fast path saves
    #[arg(long)]
    pub no_fast_path: bool,
    /// Live connections per core from which the engine runs its prefetch stages
    /// (Engine::set_stage_from; 0: always, 4294967295: never): the same results, to
    /// compare the two batch loops [default: the engine's, xvs_engine::STAGE_FROM]
    #[arg(long)]
    pub stage_from: Option<u32>,
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
    /// Before the engine, find each frame's owning poll core among N, as `xvs run` with N
    /// poll cores does (`xvs_datapath::handoff`); the bench's flows all stay on this core,
    /// so the choice costs its work but is not acted on. 1 = one poll core: no choice.
    #[arg(long, default_value_t = 1)]
    pub owner_of: usize,
    /// Measure new-flow traffic from its first packet: skip the unmeasured phase that
    /// otherwise runs until the first new connections expire (see [`warm_up`])
    #[arg(long)]
    pub no_warm_up: bool,
}

/// How many times its span a run may last in all while a mass expiry drains.
const MASS_OVERRUN: u32 = 4;

/// UDP timeout of the mass-expiry connections; the clock jumps past it mid-run.
const MASS_TIMEOUT_MS: u32 = 30_000;
/// Port of the UDP service the mass-expiry connections belong to.
const MASS_PORT: u16 = 80;
/// Room for new-flow churn per second of SYN_RECV timeout.
const CHURN_PER_SEC: f64 = 6e6;
/// How much longer than the SYN_RECV timeout the warm-up of new-flow traffic runs: the
/// wheel's and the reaper's lag, with room to spare.
const WARM_UP_MARGIN_MS: u64 = 200;
/// Synthetic clock at engine creation (ns).
const T0: u64 = 1_000_000_000_000;
/// Longest generator-only phase.
const GEN_SECONDS: f64 = 1.0;
const HIST_MAX_NS: u64 = 60_000_000_000;
/// The clock's step per packet with `--packets`: 5 Mpps per core, below the churn room
/// ([`CHURN_PER_SEC`]) even when every packet is a new flow.
const NS_PER_PACKET: u64 = 200;

/// The engine's packet entry point, the one place the bench calls it: never inlined, so
/// that its symbol (`xvs_bench::engine_bench::engine_entry`) counts the engine's work per
/// batch, plus this one call (for `scripts/instructions.sh`; `Engine::handle_batch` itself is
/// generic, compiled here and inlined, so it has no symbol of its own).
///
/// With `owners` > 1 it does what a poll loop of that many cores does (`--owner-of`):
/// classify each frame to find its owning core, then hand the engine the frames with
/// their classes. `classes` holds at least `frames.len()`.
#[inline(never)]
fn engine_entry(
    e: &mut Engine,
    frames: &mut [FrameBuf],
    now: u64,
    verdicts: &mut [Verdict],
    (owners, classes): (usize, &mut [Classified]),
) {
    if owners > 1 {
        for (f, c) in frames.iter().zip(classes.iter_mut()) {
            e.classify_into(f.data(), c);
            std::hint::black_box(handoff::owner_of(e, c, owners, 32, 128));
        }
        e.handle_classified(frames, &classes[..frames.len()], now, verdicts);
    } else {
        e.handle_batch(frames, now, verdicts);
    }
}

/// How long the measured (and generator-only) phase runs, and where its clock comes from.
#[derive(Clone, Copy, Debug)]
enum Span {
    /// Real time; the engine's clock follows it.
    Time(Duration),
    /// At least this many packets, in whole batches; the engine's clock advances
    /// [`NS_PER_PACKET`] per packet.
    Packets(u64),
}

impl Span {
    /// Whether a phase that has run for `el` over `packets` packets has reached
    /// `1/part` of the span.
    fn reached(self, el: Duration, packets: u64, part: u32) -> bool {
        match self {
            Span::Time(d) => el >= d / part,
            Span::Packets(n) => packets >= n / u64::from(part),
        }
    }

    /// Whether a phase that has run for `el` over `packets` packets has lasted `times`
    /// spans.
    fn past(self, el: Duration, packets: u64, times: u32) -> bool {
        match self {
            Span::Time(d) => el >= d * times,
            Span::Packets(n) => packets >= n * u64::from(times),
        }
    }

    /// The engine's clock, relative to the phase's start, for a batch that starts `el`
    /// after it and after `packets` packets.
    fn clock(self, el: Duration, packets: u64) -> u64 {
        match self {
            Span::Time(_) => el.as_nanos() as u64,
            Span::Packets(_) => packets * NS_PER_PACKET,
        }
    }
}

pub(crate) fn engine_config(a: &EngineArgs, max_connections: u32) -> EngineConfig {
    let fwd = a.mode.forward();
    let net = a.family.net();
    let host_len = if net.vip.is_ipv4() { 32 } else { 128 };
    let reals = |port: u16| -> Vec<RealSpec> { (0..a.reals).map(|i| RealSpec::new(net.real(i), port, fwd)).collect() };
    let service = |proto: u8, port: u16, rport: u16| ServiceSpec {
        vip: net.vip,
        prefix_len: host_len,
        port,
        proto,
        scheduler: a.scheduler.clone(),
        sched: SchedConfig::default(),
        ops: false,
        persistence: 0,
        persistence_netmask: host_len,
        sorry_server: None,
        sorry_inhibit: false,
        fwmark: 0,
        marks: Vec::new(),
        reals: reals(rport),
        sources: Default::default(),
    };
    let nat = a.mode == Mode::Nat;
    let mut timeouts = Timeouts::default();
    timeouts.tcp[TcpState::SynRecv as usize] = a.syn_timeout_ms;
    timeouts.udp = MASS_TIMEOUT_MS;
    let (address4, address6) = match net.dip {
        IpAddr::V4(a) => (Some(a), None),
        IpAddr::V6(a) => (None, Some(a)),
    };
    EngineConfig {
        max_connections,
        timeouts,
        address4,
        address6,
        expiry_budget: a.expiry_budget,
        services: vec![
            service(xvs_proto::PROTO_TCP, VPORT, if nat { 8080 } else { VPORT }),
            service(xvs_proto::PROTO_UDP, MASS_PORT, MASS_PORT),
        ],
        neighbors: (0..a.reals)
            .map(|i| NeighborSpec {
                ip: net.real(i),
                mac: [2, 0, 0, 0, 2, 11 + i],
                default: false,
                port: None,
                clients_only: false,
            })
            .collect(),
        ..EngineConfig::default()
    }
}

/// The `xvs-bench engine` arguments `args` (without the program's name), the defaults
/// for the rest: how the other benchmarks describe the engine they build.
pub fn args_from<S: AsRef<str>>(args: &[S]) -> Result<EngineArgs, String> {
    #[derive(clap::Parser)]
    struct Wrap {
        #[command(flatten)]
        a: EngineArgs,
    }
    let argv = std::iter::once("engine").chain(args.iter().map(AsRef::as_ref));
    <Wrap as clap::Parser>::try_parse_from(argv).map(|w| w.a).map_err(|e| e.to_string())
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
    if a.owner_of == 0 {
        return Err("--owner-of must be at least 1".into());
    }
    if a.cores == 0 || a.batch == 0 || a.reals == 0 || a.reals > 200 {
        return Err("--cores and --batch must be at least 1, --reals between 1 and 200".into());
    }
    if a.seconds.is_nan() || a.seconds <= 0.0 || a.packets == Some(0) {
        return Err("--seconds and --packets must be positive".into());
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
    let mut r = run_engine(a)?;
    // One dependent random access, measured in this run (not with --packets: a run under
    // an instruction counter wants no timing, and would take minutes).
    if a.packets.is_none() {
        let m = crate::miss::measure(crate::miss::BYTES, crate::miss::STEPS);
        r.miss_ns = Some(m.dependent_ns);
        r.miss_parallel_ns = Some(m.parallel_ns);
    }
    Ok(r)
}

/// The benchmark without its `miss_ns` (for the figures that do not use it).
pub fn run_engine(a: &EngineArgs) -> Result<Report, String> {
    validate(a)?;
    let k = a.cores;
    let core_ids = core_affinity::get_core_ids().unwrap_or_default();
    let barrier = Barrier::new(k + 1);
    let mut rss = [0u64; 2];
    let mut huge = 0;
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
        huge = xvs::sys::anon_huge_bytes().unwrap_or(0);
        barrier.wait();
        handles.into_iter().map(|h| h.join().unwrap_or_else(|_| Err("core thread panicked".into()))).collect()
    });
    let cores = results.into_iter().collect::<Result<Vec<_>, _>>()?;
    let mut r = Report::new(a, cores, rss[0], rss[1]);
    r.anon_huge_bytes = huge;
    Ok(r)
}

/// One core's whole run. Always reaches every barrier, also after an error.
fn core_thread(a: &EngineArgs, c: usize, barrier: &Barrier) -> Result<CoreResult, String> {
    let flows = share(a.flows, a.cores, c);
    let mass = share(a.mass_expiry, a.cores, c);
    let cap = capacity(a, flows, mass);
    let mut frames = vec![FrameBuf::default(); a.batch];
    let mut verdicts = vec![Verdict::Pass; a.batch];
    let mut engine = Engine::new(engine_config(a, cap), T0).map_err(|e| format!("engine: {e}"));
    let mut advised = 0;
    if let Ok(e) = &mut engine {
        e.set_fast_path(!a.no_fast_path);
        e.set_stage_from(a.stage_from.unwrap_or(xvs_engine::STAGE_FROM));
        if !a.no_huge_pages {
            advised = xvs::sys::advise_huge_pages(&e.table_spans()).unwrap_or(0);
        }
    }
    barrier.wait();
    barrier.wait();
    let mut setup_secs = 0.0;
    let mut now = T0;
    let setup = engine.as_mut().map_err(|e| e.clone()).and_then(|e| {
        let t = Instant::now();
        let r = create_flows(e, a, c, flows, &mut frames, &mut verdicts, &mut now);
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
    create_mass(&mut engine, a.family, c, mass, &mut frames, &mut verdicts, now)?;
    let seed = 0x9e37_79b9_7f4a_7c15 ^ ((c as u64 + 1) * 0x1234_5678_9abc_def1);
    let mut gen = Gen::new(a.family, c, flows, a.new_ratio, seed);
    let span = match a.packets {
        Some(n) => Span::Packets(n),
        None => Span::Time(Duration::from_secs_f64(a.seconds)),
    };
    let gen_span = match span {
        Span::Time(_) => Span::Time(Duration::from_secs_f64((a.seconds * 0.2).min(GEN_SECONDS))),
        packets => packets,
    };
    let (gen_packets, gen_secs) = gen_only(&mut gen.clone(), &mut frames, gen_span);
    let mut warm_secs = 0.0;
    if a.new_ratio > 0.0 && !a.no_warm_up && matches!(span, Span::Time(_)) {
        let d = Duration::from_millis(a.syn_timeout_ms as u64 + WARM_UP_MARGIN_MS);
        let el = warm_up(d, &mut engine, &mut gen, (&mut frames, &mut verdicts), now, a.owner_of);
        now += el.as_nanos() as u64;
        warm_secs = el.as_secs_f64();
    }
    let mut r = measure(span, &mut engine, &mut gen, (&mut frames, &mut verdicts), now, (mass, a.owner_of))?;
    r.warm_up_secs = warm_secs;
    r.core = c;
    r.huge_pages_advised = advised as u64;
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
    engine_entry(e, frames, now, verdicts, (1, &mut []));
    if let Some(v) = verdicts[..frames.len()].iter().find(|v| !matches!(v, Verdict::Tx { .. })) {
        let drops: Vec<_> = e.stats().drops_by_reason().map(|(n, c)| format!("{n}={c}")).collect();
        return Err(format!("setup: a {what} got {v:?} (drops: {})", drops.join(" ")));
    }
    Ok(())
}

/// `batch(first, frames)` for flows `0..flows` in batches of at most `frames.len()`: the
/// batch of flows `first..first + n` gets `frames[..n]`.
fn in_batches(
    flows: u32,
    frames: &mut [FrameBuf],
    mut batch: impl FnMut(u32, &mut [FrameBuf]) -> Result<(), String>,
) -> Result<(), String> {
    let b = frames.len() as u32;
    let mut start = 0u32;
    while start < flows {
        let n = b.min(flows - start);
        batch(start, &mut frames[..n as usize])?;
        start += n;
    }
    Ok(())
}

/// Create flows `0..flows` of core `c` and bring them to ESTABLISHED, then let the
/// wheel settle. `now` is left at the settled clock.
fn create_flows(
    e: &mut Engine,
    a: &EngineArgs,
    c: usize,
    flows: u32,
    frames: &mut [FrameBuf],
    verdicts: &mut [Verdict],
    now: &mut u64,
) -> Result<(), String> {
    let syn = Template::tcp_to_vip(a.family, tcp_flags::SYN);
    let ack = Template::tcp_to_vip(a.family, tcp_flags::ACK);
    let synack = Template::tcp_reply(a.family, tcp_flags::SYN | tcp_flags::ACK);
    let real_ack = Template::tcp_reply(a.family, tcp_flags::ACK);
    let net = a.family.net();
    in_batches(flows, frames, |start, fr| {
        syn.write_clients(fr, c, start);
        setup_batch(e, fr, verdicts, *now, "SYN")?;
        if a.mode == Mode::Nat {
            for (i, f) in fr.iter_mut().enumerate() {
                let real = net.dst_of(f);
                synack.write(f, real, client(c, start + i as u32));
            }
            setup_batch(e, fr, verdicts, *now, "SYN-ACK")?;
        }
        ack.write_clients(fr, c, start);
        setup_batch(e, fr, verdicts, *now, "ACK")?;
        if a.mode == Mode::Nat {
            // The real's first segment after the handshake: it verifies the connection, as
            // on a director (README "Defences").
            for (i, f) in fr.iter_mut().enumerate() {
                let real = net.dst_of(f);
                real_ack.write(f, real, client(c, start + i as u32));
            }
            setup_batch(e, fr, verdicts, *now, "real's ACK")?;
        }
        Ok(())
    })?;
    // Every flow is still armed at its SYN_RECV deadline: let the wheel hand them back
    // and re-arm them at their ESTABLISHED deadlines now, outside the measured phase.
    *now += (e.config().timeouts.tcp[TcpState::SynRecv as usize] as u64 + 2) * 1_000_000;
    e.handle_timeout(*now);
    while e.expiry_pending() {
        e.handle_timeout(*now);
    }
    Ok(())
}

/// Create `mass` UDP connections at the frozen instant `now`: one shared deadline.
fn create_mass(
    e: &mut Engine,
    family: Family,
    c: usize,
    mass: u32,
    frames: &mut [FrameBuf],
    verdicts: &mut [Verdict],
    now: u64,
) -> Result<(), String> {
    let udp = Template::udp_to_vip(family, MASS_PORT);
    let before = e.live_connections();
    in_batches(mass, frames, |start, fr| {
        udp.write_clients(fr, c, start);
        setup_batch(e, fr, verdicts, now, "mass-expiry UDP datagram")
    })?;
    if e.live_connections() - before != mass {
        return Err(format!(
            "core {c}: created {} mass-expiry connections, expected {mass}",
            e.live_connections() - before
        ));
    }
    Ok(())
}

/// Run the measured phase's traffic for `d` of real time, unmeasured, with the engine's
/// clock following it from `clock`; returns how long it ran.
///
/// Why: with new flows, the table grows until the first of them reach their SYN_RECV
/// timeout, and only then settles to as many expiring as opening. Until then each new
/// connection takes a slot never used before, and its first write faults a fresh page
/// in (a huge page cleared by the kernel: a fifth of the time in a profile). A director
/// pays that once per slot of its table, not per connection; the measured phase is the
/// steady state that follows, where slots come back from the free list.
fn warm_up(
    d: Duration,
    e: &mut Engine,
    gen: &mut Gen,
    (frames, verdicts): (&mut [FrameBuf], &mut [Verdict]),
    clock: u64,
    owners: usize,
) -> Duration {
    let mut classes = vec![Classified::EMPTY; frames.len()];
    let start = Instant::now();
    loop {
        gen.fill(frames);
        let el = start.elapsed();
        if el >= d {
            return el;
        }
        engine_entry(e, frames, clock + el.as_nanos() as u64, verdicts, (owners, &mut classes));
    }
}

/// The generator alone, for `span`: (packets, seconds).
fn gen_only(gen: &mut Gen, frames: &mut [FrameBuf], span: Span) -> (u64, f64) {
    let start = Instant::now();
    let mut packets = 0u64;
    loop {
        for _ in 0..64 {
            gen.fill(frames);
            std::hint::black_box(&mut *frames);
            packets += frames.len() as u64;
        }
        let el = start.elapsed();
        if span.reached(el, packets, 1) {
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

/// The measured phase: `mass` connections wait to expire at once, frames go through a
/// poll loop's steps for `owners` cores.
fn measure(
    span: Span,
    e: &mut Engine,
    gen: &mut Gen,
    (frames, verdicts): (&mut [FrameBuf], &mut [Verdict]),
    clock: u64,
    (mass, owners): (u32, usize),
) -> Result<CoreResult, String> {
    let hist = || Histogram::<u64>::new_with_bounds(1, HIST_MAX_NS, 3).map_err(|e| e.to_string());
    let mut r = CoreResult::new(hist()?, hist()?);
    let mut jump = 0u64;
    let mut classes = vec![Classified::EMPTY; frames.len()];
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
        let now = clock + span.clock(t0 - start, packets) + jump;
        engine_entry(e, frames, now, verdicts, (owners, &mut classes));
        let t1 = Instant::now();
        let dt = (t1 - t0).as_nanos() as u64;
        if !matches!(state, Mass::Draining { .. }) {
            r.batch_ns.saturating_record(dt);
        }
        engine_ns += dt;
        packets += frames.len() as u64;
        not_tx += verdicts.iter().filter(|v| !matches!(v, Verdict::Tx { .. })).count() as u64;
        let el = t1 - start;
        match &mut state {
            Mass::Off | Mass::Done => {}
            Mass::Armed => {
                if span.reached(el, packets, 2) {
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
        let draining = matches!(state, Mass::Draining { .. });
        if span.reached(el, packets, 1) && (!draining || span.past(el, packets, MASS_OVERRUN)) {
            break el;
        }
    };
    if let Mass::Draining { live_before, expired_before, batches, .. } = state {
        // The run ended first: not drained; how far it got.
        r.mass_batches = batches;
        r.mass_live_drop = live_before.saturating_sub(e.live_connections());
        r.mass_expired = e.stats().conns_expired - expired_before;
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
        for family in ["v4", "v6"] {
            for mode in ["nat", "dr", "tun"] {
                let a = args(&["--mode", mode, "--family", family, "--new-ratio", "0.1", "--syn-timeout-ms", "50"]);
                let r = run(&a).unwrap();
                let c = &r.cores[0];
                assert_eq!(c.not_tx, 0, "{mode} {family}: {:?}", c.drops);
                assert!(c.packets > 0 && c.new_conns > 0, "{mode} {family}");
            }
        }
    }

    /// New-flow traffic is measured once the first new connections expire: the table then
    /// holds the churn beside the established flows, and connections expire while the
    /// measured phase runs. `--no-warm-up` measures from the first new packet.
    #[test]
    fn new_flow_traffic_is_measured_after_its_warm_up() {
        let warm = run_engine(&args(&["--new-ratio", "0.5", "--syn-timeout-ms", "100"])).unwrap();
        let c = &warm.cores[0];
        assert!(c.warm_up_secs >= 0.3, "warm-up {} s, SYN_RECV timeout 0.1 s + margin 0.2 s", c.warm_up_secs);
        assert!(c.live_start > 3000, "{} live at the start: the churn is in the table", c.live_start);
        assert!(c.expired > 0 && c.not_tx == 0, "{} expired while measured; {:?}", c.expired, c.drops);
        let cold = run_engine(&args(&["--new-ratio", "0.5", "--syn-timeout-ms", "100", "--no-warm-up"])).unwrap();
        let c = &cold.cores[0];
        assert_eq!((c.warm_up_secs, c.live_start), (0.0, 3000));
        // Established traffic alone has nothing to settle.
        let est = run_engine(&args(&["--new-ratio", "0"])).unwrap();
        assert_eq!(est.cores[0].warm_up_secs, 0.0);
    }

    #[test]
    fn a_packet_count_is_whole_batches_on_a_repeatable_clock() {
        let once = || {
            let r = run(&args(&["--packets", "10000", "--new-ratio", "0.3", "--family", "v6"])).unwrap();
            let c = &r.cores[0];
            assert_eq!(c.not_tx, 0, "{:?}", c.drops);
            (c.packets, c.new_conns, c.expired, c.live_end, r.cores[0].gen_packets)
        };
        let first = once();
        assert_eq!(first.0, 10048, "157 batches of 64");
        assert_eq!(once(), first);
    }

    #[test]
    fn mass_expiry_drains() {
        // A packet count, not a time: a stall of the machine cannot end the run before
        // the backlog drained (the clock jumps after half of the packets).
        // 5000 per core at the default 4 expiry steps per batch: 1250 batches at least,
        // within the 1562 batches after the jump.
        let r = run(&args(&["--mass-expiry", "10000", "--cores", "2", "--packets", "200000"])).unwrap();
        let budget = u64::from(EngineConfig::default().expiry_budget);
        for c in &r.cores {
            assert!(c.mass_drained, "core {}: dropped {} of {}", c.core, c.mass_live_drop, c.mass);
            assert!(c.mass_batches >= 5000 / budget, "{}", c.mass_batches);
            assert_eq!(c.live_end, c.flows);
        }
    }

    #[test]
    fn mass_expiry_outlasting_the_span_extends_the_run() {
        // 2000 connections at 4 steps a batch take 500 batches after the jump: more than
        // the 157 left of a 20000-packet span, fewer than the 1094 of four spans.
        let r = run(&args(&["--mass-expiry", "2000", "--packets", "20000", "--expiry-budget", "4"])).unwrap();
        let c = &r.cores[0];
        assert!(c.mass_drained, "dropped {} of {}", c.mass_live_drop, c.mass);
        assert!(c.packets > 20_032 && c.packets < 80_000, "{}", c.packets);
        // Four spans are the bound: a backlog that needs more is reported as not drained.
        let r = run(&args(&["--mass-expiry", "20000", "--packets", "20000", "--expiry-budget", "4"])).unwrap();
        let c = &r.cores[0];
        assert!(!c.mass_drained && c.mass_live_drop < 20_000);
        assert!(c.packets >= 80_000 && c.packets < 80_000 + 64, "{}", c.packets);
    }
}
