//! `xvs-bench`: the throughput harness of xvs.
//!
//! Subcommands: `engine` drives synthetic traffic through the in-memory pipeline (see
//! `engine_bench`); `veth` measures end to end through AF_XDP on a veth lab, side by side
//! with a raw AF_XDP forwarder and the kernel (see `veth`); `raw-forward` (hidden) is that
//! raw forwarder, which `veth` starts in the lab; `sync` measures connection sync (see
//! `sync_bench`); `flood` what colliding keys cost (see `flood_bench`); `ratios` the time ratios of the
//! performance targets, from engine runs back to back (see `ratios`); `cps` new connections per
//! second through the VIP against nftables and HAProxy (see `cps`, whose reals run the
//! hidden `cps-serve`). Every subcommand prints text, or one
//! JSON object with `--json`.
//!
//! `unsafe` is denied but in three named modules of the harness (not the product): the
//! AF_XDP traffic generator's TX rings (`xdpgen`), real-time pinning of the lab's threads
//! (`veth_lab`) and the clock-tick rate (`cpu`).

#![deny(unsafe_code)]

mod cps;
#[allow(unsafe_code)]
mod cpu;
mod engine_bench;
mod flood_bench;
mod memory;
mod miss;
mod poll_modes;
mod ratios;
mod raw_fwd;
mod report;
mod sink;
mod sync_bench;
mod traffic;
mod veth;
#[allow(unsafe_code)]
mod veth_lab;
mod veth_report;
#[allow(unsafe_code)]
mod xdpgen;

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(name = "xvs-bench", version, about = "xvs throughput harness")]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Debug, Subcommand)]
enum Cmd {
    /// Synthetic traffic through the engine pipeline on in-memory frames: Mpps, ns per
    /// packet, new connections per second, bytes per connection, batch latency.
    Engine(engine_bench::EngineArgs),
    /// End to end on a veth lab (needs root): a raw AF_XDP forwarder, xvs NAT and DR, and
    /// the kernel's nftables DNAT under the same offered loads; delivered pps, loss and
    /// director CPU per packet.
    Veth(veth::VethArgs),
    /// Busy against adaptive polling through `xvs run` (needs root): latency after idle
    /// gaps, back-to-back latency, idle CPU, closed-loop requests per second.
    Poll(poll_modes::PollArgs),
    /// Connection sync (IPVS's protocol): new connections per second on one core with
    /// sync off and on, entries one core packs and sends, entries one core installs.
    Sync(sync_bench::SyncArgs),
    Flood(flood_bench::FloodArgs),
    /// The time ratios of the performance targets (ns per packet / miss_ns, new /
    /// established, mass expiry, 2 cores / 1), engine runs back to back, medians of rounds.
    Ratios(ratios::RatiosArgs),
    /// New TCP connections per second through the VIP (needs root): xvs NAT and DR, the
    /// kernel's nftables DNAT and HAProxy in TCP mode on the same veth labs, interleaved.
    Cps(cps::CpsArgs),
    /// The reals' server of `cps` (answers one request per connection).
    #[command(hide = true)]
    CpsServe(cps::ServeArgs),
    /// The raw AF_XDP forwarder `veth` runs in the director's namespace.
    #[command(hide = true)]
    RawForward(raw_fwd::RawArgs),
}

fn main() {
    let cli = Cli::parse();
    let (name, done) = match cli.cmd {
        Cmd::Engine(args) => {
            ("engine", engine_bench::run(&args).map(|r| show(args.json, || r.to_json(), || r.to_text())))
        }
        Cmd::Veth(args) => ("veth", run_veth(&args)),
        Cmd::Poll(args) => ("poll", poll_modes::run(&args).map(|figs| poll_modes::print(&figs, args.json))),
        Cmd::Sync(args) => ("sync", sync_bench::run(&args).map(|r| show(args.json, || r.to_json(), || r.to_text()))),
        Cmd::Flood(args) => ("flood", flood_bench::run(&args).map(|r| show(args.json, || r.to_json(), || r.to_text()))),
        Cmd::Ratios(args) => ("ratios", ratios::run(&args).map(|r| show(args.json, || r.to_json(), || r.to_text()))),
        Cmd::Cps(args) => ("cps", cps::run(&args).map(|r| show(args.json, || r.to_json(), || r.to_text()))),
        Cmd::CpsServe(args) => ("cps-serve", cps::serve(&args)),
        Cmd::RawForward(args) => ("raw-forward", raw_fwd::run(&args)),
    };
    if let Err(e) = done {
        eprintln!("xvs-bench {name}: {e}");
        std::process::exit(1);
    }
}

/// `veth`: the report, also written as JSON to `--json-file` when given.
fn run_veth(args: &veth::VethArgs) -> Result<(), String> {
    if args.cps {
        let report = cps::run(&args.cps_args())?;
        show(args.json, || report.to_json(), || report.to_text());
        return Ok(());
    }
    let report = veth::run(args)?;
    if let Some(p) = &args.json_file {
        std::fs::write(p, format!("{}\n", report.to_json())).map_err(|e| format!("{}: {e}", p.display()))?;
    }
    show(args.json, || report.to_json(), || report.to_text());
    Ok(())
}

/// A report on stdout: one JSON object with `--json`, else text.
fn show<J: std::fmt::Display>(json: bool, to_json: impl FnOnce() -> J, to_text: impl FnOnce() -> String) {
    if json {
        println!("{}", to_json());
    } else {
        print!("{}", to_text());
    }
}
