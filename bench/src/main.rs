//! `xvs-bench`: the throughput harness of xvs.
//!
//! Subcommands: `engine` drives synthetic traffic through the in-memory pipeline (see
//! `engine_bench`); `veth` (end to end through AF_XDP on a veth lab) is to come.
//! Every subcommand prints text, or one JSON object with `--json`.

mod engine_bench;
mod memory;
mod report;
mod traffic;

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
    }
}
