//! `xvs ctl [-c CONTROL_SOCKET | --config FILE] ARGS...`: ipvsadm's commands against a
//! running director, over its control socket.
//!
//! The socket is `-c PATH` (only as the first argument: after it, `-c` is ipvsadm's
//! "connections"), or the `control_socket` of `--config FILE`, or `/run/xvs.sock`. The
//! arguments are parsed here first (with the one ipvsadm grammar, `xvs_config::ipvsadm`,
//! which the daemon and the ipvsadm-save reader use too), so a usage error is reported
//! (exit 2) without a daemon;
//! `-R` reads standard input and sends it along. Prints what the daemon answers and exits
//! with its status: 0 ok, 1 refused or unreachable, 2 usage.

use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use xvs::ctl::args::{self, Command};
use xvs::ctl::client::{self, CallError};
use xvs::ctl::Request;

fn usage_error(msg: impl std::fmt::Display) -> ExitCode {
    eprintln!("xvs ctl: {msg}");
    eprintln!("Try `xvs ctl -h' or 'xvs ctl --help' for more information.");
    ExitCode::from(2)
}

pub fn run(mut argv: Vec<String>) -> ExitCode {
    let mut socket = PathBuf::from(xvs_config::DEFAULT_CONTROL_SOCKET);
    match argv.first().map(String::as_str) {
        Some("-c" | "--control-socket" | "--socket") if argv.len() >= 2 => {
            socket = PathBuf::from(&argv[1]);
            argv.drain(..2);
        }
        Some("--config") if argv.len() >= 2 => {
            let path = PathBuf::from(&argv[1]);
            match xvs_config::load(&path) {
                Ok(cfg) => socket = cfg.director.control_socket,
                Err(e) => {
                    eprintln!("{e}");
                    return ExitCode::from(2);
                }
            }
            argv.drain(..2);
        }
        _ => {}
    }
    if crate::cmd_drain::is_fleet_command(&argv) {
        return crate::cmd_drain::run(&socket, &argv);
    }
    let cmd = match args::parse(&argv) {
        Ok(c) => c,
        Err(e) => return usage_error(e),
    };
    match cmd {
        Command::Help => {
            print!("{}", args::USAGE);
            return ExitCode::SUCCESS;
        }
        Command::Version => {
            println!("xvs ctl {} (ipvsadm v1.31 command syntax)", env!("CARGO_PKG_VERSION"));
            return ExitCode::SUCCESS;
        }
        _ => {}
    }
    let mut input = None;
    if cmd == Command::Restore {
        let mut s = String::new();
        if let Err(e) = std::io::stdin().read_to_string(&mut s) {
            eprintln!("xvs ctl: reading standard input: {e}");
            return ExitCode::from(1);
        }
        input = Some(s);
    }
    let req = Request { args: argv, input, fleet: None };
    match client::call(&socket, &req) {
        Ok(r) => {
            let _ = std::io::stdout().write_all(r.stdout.as_bytes());
            let _ = std::io::stderr().write_all(r.stderr.as_bytes());
            ExitCode::from(r.exit)
        }
        Err(CallError::Connect(e)) if e.kind() == std::io::ErrorKind::PermissionDenied => {
            eprintln!(
                "xvs ctl: cannot reach xvs at {}: {e} (the control socket is root's: run xvs ctl as root)",
                socket.display()
            );
            ExitCode::from(1)
        }
        Err(e) => {
            eprintln!("xvs ctl: cannot reach xvs at {}: {e} (is `xvs run` running?)", socket.display());
            ExitCode::from(1)
        }
    }
}
