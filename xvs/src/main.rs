//! The `xvs` command: a userspace LVS-class Layer-4 load balancer.
//!
//! Each subcommand lives in its own module; this file only parses the command line and
//! maps errors to exit codes (0 ok, 1 runtime failure, 2 bad input).

#![deny(unsafe_code)]

mod cmd_announce;
mod cmd_check;
mod cmd_ctl;
mod cmd_decap;
mod cmd_demo;
mod cmd_drain;
mod cmd_realserver;
mod cmd_replay;
mod cmd_run;
mod cmd_top;
mod nexthop;
mod run_metrics;
mod steering;
mod watchdog;

use std::net::IpAddr;
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
        /// xvs TOML config (or a keepalived.conf, or ipvsadm-save output).
        #[arg(short, long)]
        config: PathBuf,
        /// Treat every warning as an error (exit 2): for CI pipelines that must not let a
        /// keyword xvs reads without acting on it pass unnoticed.
        #[arg(long)]
        strict: bool,
        /// keepalived's config id for `@ID` lines (default: the host name up to its dot).
        #[arg(long, short = 'i')]
        config_id: Option<String>,
        /// `[[fwmark]]` tables (what each firewall mark stands for) added to the config, for
        /// a keepalived.conf or ipvsadm-save with fwmark services.
        #[arg(long)]
        fwmarks: Option<PathBuf>,
    },
    /// The embedded default: build a throwaway lab of network namespaces (client,
    /// director, three reals), run the director on it, drive HTTP and UDP traffic, show
    /// per-real shares and rates live, and tear it all down (also on Ctrl-C).
    Demo {
        /// Forwarding mode: nat, dr or tun.
        #[arg(long, default_value = "nat")]
        mode: String,
        /// Scheduler (rr wrr lc wlc fo ovf lblc lblcr dh sh mh sed nq twos); the reals
        /// have weights 1:2:3.
        #[arg(long, default_value = "wrr")]
        scheduler: String,
        /// How long to drive traffic.
        #[arg(long, default_value_t = 10)]
        seconds: u64,
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
    /// Run the director: attach to the interfaces and forward (SIGHUP reloads FILE,
    /// SIGINT/SIGTERM detach everything and exit).
    Run {
        /// The config: xvs TOML, a keepalived.conf or ipvsadm-save output.
        #[arg(short, long)]
        config: PathBuf,
        /// The control socket for `xvs ctl` (wins over the file's control_socket).
        #[arg(long)]
        control_socket: Option<PathBuf>,
        /// busy | adaptive (wins over the file's poll).
        #[arg(long)]
        poll: Option<String>,
        /// Poll cores, e.g. 0 or 0,2-3 (win over the file's cores).
        #[arg(long)]
        cores: Option<String>,
        /// keepalived's config id for `@ID` lines (default: the host name up to its dot).
        #[arg(long, short = 'i')]
        config_id: Option<String>,
        /// `[[fwmark]]` tables (what each firewall mark stands for) added to the config, for
        /// a keepalived.conf or ipvsadm-save with fwmark services.
        #[arg(long)]
        fwmarks: Option<PathBuf>,
    },
    /// Print shell completions for xvs (bash, zsh, fish, elvish, powershell).
    Completions { shell: clap_complete::Shell },
    /// On a real server: attach the IP-in-IP (either family in either) decapsulation XDP program to an
    /// interface and stay in the foreground; detach on SIGINT/SIGTERM.
    Decap {
        /// The interface tunnelled packets arrive on.
        #[arg(long)]
        iface: String,
        /// A UDP port GUE tunnels come to (the director's `tun_port`); repeatable.
        #[arg(long = "gue-port")]
        gue_ports: Vec<u16>,
    },
    /// ipvsadm's commands against a running director, over its control socket:
    /// `xvs ctl [-c SOCKET | --config FILE] -Ln`, `-A -t VIP:PORT -s rr`, `-S`, `-R`, ...
    /// (`xvs ctl -h` lists them).
    #[command(disable_help_flag = true)]
    Ctl {
        /// ipvsadm arguments.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true, num_args = 0..)]
        args: Vec<String>,
    },
    /// A live terminal view of a running director's services and reals: rates, health,
    /// shares of the active connections, refreshed every interval (q quits, s sorts,
    /// arrows scroll); `--once` prints one view as text and exits.
    Top {
        /// The director's control socket (default /run/xvs.sock).
        #[arg(short = 'c', long = "control-socket", conflicts_with = "config")]
        control_socket: Option<PathBuf>,
        /// Take the control socket from this config file.
        #[arg(long)]
        config: Option<PathBuf>,
        /// Seconds between refreshes.
        #[arg(long, default_value_t = 1.0)]
        interval: f64,
        /// Print one view as plain text and exit (1 if the director cannot be reached).
        #[arg(long)]
        once: bool,
    },
    /// The real-server side of DR/TUN: VIPs on lo, arp_ignore=1, arp_announce=2, optional
    /// decap; stays in the foreground and undoes it all on SIGINT/SIGTERM.
    Realserver {
        /// A VIP (IPv4 or IPv6 address), added to lo as /32 or /128; repeatable.
        #[arg(long = "vip", required = true)]
        vips: Vec<IpAddr>,
        /// Also attach the decapsulation program to this interface (TUN).
        #[arg(long)]
        decap: Option<String>,
        /// With --decap: a UDP port GUE tunnels come to; repeatable.
        #[arg(long = "gue-port", requires = "decap")]
        gue_ports: Vec<u16>,
    },
    /// ExaBGP's helper for a fleet member: run by ExaBGP as a `process`, it prints
    /// `announce route VIP/32 next-hop self` for every VIP the director is ready to serve
    /// (datapath up, a live real, not draining) and `withdraw route` when that ends, also
    /// when the director dies; it exits when ExaBGP closes its standard input.
    Announce {
        /// The director's control socket (default: the config's `control_socket`, else
        /// /run/xvs.sock).
        #[arg(long)]
        control_socket: Option<PathBuf>,
        /// The director's config: its VIPs are withdrawn at start while the director does
        /// not answer yet, and its `control_socket` is followed.
        #[arg(short, long)]
        config: Option<PathBuf>,
        /// How often to ask the director, in milliseconds.
        #[arg(long, default_value_t = 200, value_parser = clap::value_parser!(u64).range(20..=1000))]
        interval_ms: u64,
        /// The announcements' next hop (ExaBGP's `self`: its local address).
        #[arg(long, default_value = "self")]
        next_hop: String,
        /// Route attributes appended to each announce, in ExaBGP's syntax (e.g.
        /// `med 100 community [65000:1]`).
        #[arg(long, default_value = "")]
        attributes: String,
        /// Announce VIPs whose services all forward by NAT too (only for a fleet of one:
        /// NAT replies must come back through the director that made the connection).
        #[arg(long)]
        nat: bool,
        /// BIRD 2 instead of ExaBGP: keep this include file (static protocols `xvs_vips4`
        /// and `xvs_vips6`) and run `--birdc` after each change.
        #[arg(long)]
        bird_include: Option<PathBuf>,
        /// The command that makes BIRD re-read its configuration.
        #[arg(long, default_value = "birdc configure")]
        birdc: String,
    },
    /// Started by `xvs run` (not by hand): removes the run's VRRP addresses if it dies
    /// without a clean stop (see the `watchdog` module).
    #[command(hide = true)]
    Watchdog {
        /// The run's state file.
        #[arg(long)]
        state: PathBuf,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.cmd {
        Cmd::Check { config, strict, config_id, fwmarks } => {
            if let Some(id) = config_id {
                xvs_config::set_config_id(&id);
            }
            if let Some(f) = fwmarks {
                xvs_config::set_fwmarks_file(&f);
            }
            cmd_check::run(&config, strict)
        }
        Cmd::Demo { mode, scheduler, seconds } => cmd_demo::run(&mode, &scheduler, seconds),
        Cmd::Replay { config, input, output } => cmd_replay::run(&config, &input, &output),
        Cmd::Run { config, control_socket, poll, cores, config_id, fwmarks } => {
            if let Some(id) = config_id {
                xvs_config::set_config_id(&id);
            }
            if let Some(f) = fwmarks {
                xvs_config::set_fwmarks_file(&f);
            }
            let poll = match poll.as_deref().map(xvs_config::PollMode::from_name) {
                None => None,
                Some(Some(m)) => Some(m),
                Some(None) => {
                    eprintln!("xvs run: error: --poll takes busy or adaptive");
                    return ExitCode::from(2);
                }
            };
            let cores = match cores.as_deref().map(cmd_run::parse_cores).transpose() {
                Ok(c) => c,
                Err(e) => {
                    eprintln!("xvs run: error: --cores: {e}");
                    return ExitCode::from(2);
                }
            };
            cmd_run::run(&config, cmd_run::Overrides { control_socket, poll, cores })
        }
        Cmd::Completions { shell } => {
            use clap::CommandFactory;
            clap_complete::generate(shell, &mut Cli::command(), "xvs", &mut std::io::stdout());
            ExitCode::SUCCESS
        }
        Cmd::Decap { iface, gue_ports } => cmd_decap::run(&iface, &gue_ports),
        Cmd::Ctl { args } => cmd_ctl::run(args),
        Cmd::Top { control_socket, config, interval, once } => {
            cmd_top::run(control_socket, config.as_deref(), interval, once)
        }
        Cmd::Realserver { vips, decap, gue_ports } => cmd_realserver::run(&vips, decap.as_deref(), &gue_ports),
        Cmd::Watchdog { state } => watchdog::run(&state),
        Cmd::Announce { control_socket, config, interval_ms, next_hop, attributes, nat, bird_include, birdc } => {
            cmd_announce::run(cmd_announce::Options {
                control_socket,
                config,
                interval: std::time::Duration::from_millis(interval_ms),
                next_hop,
                attributes,
                nat,
                bird_include,
                birdc,
            })
        }
    }
}
