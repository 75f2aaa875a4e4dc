//! `xvs-bench`: the throughput harness of xvs.
//!
//! Subcommands: `engine` drives synthetic traffic through the in-memory pipeline (see
//! `engine_bench`); `veth` measures end to end through AF_XDP on a veth lab, side by side
//! with a raw AF_XDP forwarder and the kernel (see `veth`); `raw-forward` (hidden) is that
//! raw forwarder, which `veth` starts in the lab. Every subcommand prints text, or one
//! JSON object with `--json`.

mod cpu;
mod engine_bench;
mod memory;
mod poll_modes;
mod raw_fwd;
mod report;
mod sink;
mod traffic;
mod veth;
mod veth_lab;
mod veth_report;
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
    /// The raw AF_XDP forwarder `veth` runs in the director's namespace.
    #[command(hide = true)]
    RawForward(raw_fwd::RawArgs),
}

fn main() {
    let cli = Cli::parse();
    match cli.cmd {
        Cmd::Engine(args) => match engine_bench::run(&args) {
            Ok(report) => {
                if args.json {
                    println!("{}", report.to_json());
                } else {
                    print!("{}", report.to_text());
                }
            }
            Err(e) => {
                eprintln!("xvs-bench engine: {e}");
                std::process::exit(1);
            }
        },
        Cmd::Veth(args) => match veth::run(&args) {
            Ok(report) => {
                if let Some(p) = &args.json_file {
                    if let Err(e) = std::fs::write(p, format!("{}\n", report.to_json())) {
                        eprintln!("xvs-bench veth: {}: {e}", p.display());
                        std::process::exit(1);
                    }
                }
                if args.json {
                    println!("{}", report.to_json());
                } else {
                    print!("{}", report.to_text());
                }
            }
            Err(e) => {
                eprintln!("xvs-bench veth: {e}");
                std::process::exit(1);
            }
        },
        Cmd::Poll(args) => match poll_modes::run(&args) {
            Ok(figs) => poll_modes::print(&figs, args.json),
            Err(e) => {
                eprintln!("xvs-bench poll: {e}");
                std::process::exit(1);
            }
        },
        Cmd::RawForward(args) => {
            if let Err(e) = raw_fwd::run(&args) {
                eprintln!("xvs-bench raw-forward: {e}");
                std::process::exit(1);
            }
        }
    }
}
