//! The `xvs` command: a userspace LVS-class Layer-4 load balancer.
//!
//! Each subcommand lives in its own module; this file only parses the command line and
//! maps errors to exit codes (0 ok, 1 runtime failure, 2 bad input).

mod cmd_check;
mod cmd_replay;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser, Debug)]
#[command(name = "xvs", version, about = "A userspace LVS-class Layer-4 load balancer on AF_XDP")]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// Validate a config file and print it as normalized xvs TOML, or its errors.
    Check {
        /// xvs TOML config.
        #[arg(short, long)]
        config: PathBuf,
    },
    /// Run the pipeline over a capture (capture timestamps are the clock) and write
    /// every frame the director would transmit.
    Replay {
        #[arg(short, long)]
        config: PathBuf,
        /// Input capture (pcap or pcapng, Ethernet).
        input: PathBuf,
        /// Output capture (pcap).
        output: PathBuf,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.cmd {
        Cmd::Check { config } => cmd_check::run(&config),
        Cmd::Replay { config, input, output } => cmd_replay::run(&config, &input, &output),
    }
}
