//! `xvs announce`: the helper ExaBGP runs as a `process` to announce this director's VIPs.
//!
//! Every `--interval` it asks the director (over its control socket) which VIPs it is
//! ready to serve and prints ExaBGP's `announce route P next-hop self` / `withdraw route
//! P next-hop self` for what changed (`xvs::fleet::announcer`). It behaves as an ExaBGP
//! helper must:
//! - it reads its standard input (ExaBGP's acknowledgements: `done`, `error`; errors are
//!   logged) and exits when it closes (ExaBGP stopped);
//! - it never exits because the director went away: an answer that does not come within
//!   the deadline, a refused connection or a removed socket withdraws everything, and it
//!   keeps asking;
//! - it says the whole state when it starts (announces what is ready, withdraws every
//!   other prefix it knows, from `--config` when given), since it cannot know what a
//!   predecessor left announced.
//!
//! Logs go to standard error (ExaBGP passes them to its log); standard output carries
//! only the API lines, each flushed at once.

use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use xvs::ctl::client;
use xvs::ctl::Request;
use xvs::fleet::announcer::Announcer;
use xvs::fleet::{readiness, AnnounceState, FleetRequest};

/// The helper's options (see `xvs announce --help`).
pub struct Options {
    pub control_socket: Option<PathBuf>,
    pub config: Option<PathBuf>,
    pub interval: Duration,
    pub next_hop: String,
    pub attributes: String,
    /// Announce NAT-only VIPs too.
    pub nat: bool,
}

fn log(msg: impl AsRef<str>) {
    eprintln!("xvs announce: {}", msg.as_ref());
}

/// The prefixes `path`'s configuration names, and its control socket.
fn from_config(path: &Path) -> Result<(Vec<String>, PathBuf), String> {
    let model = xvs_config::load(path).map_err(|e| e.to_string())?;
    let cfg = xvs::engine_config::engine_config(&model);
    let prefixes = readiness::vip_states(&cfg, false).into_iter().map(|v| v.prefix).collect();
    Ok((prefixes, model.director.control_socket))
}

/// One question to the director: `Ok(state)` or why there is none.
fn ask(socket: &Path, deadline: Duration) -> Result<AnnounceState, String> {
    let req = Request { fleet: Some(FleetRequest::Announce), ..Request::default() };
    let r = client::call_within(socket, &req, deadline).map_err(|e| e.to_string())?;
    if r.exit != 0 {
        return Err(r.stderr.trim().to_string());
    }
    serde_json::from_str(r.stdout.trim()).map_err(|e| format!("a malformed answer: {e}"))
}

pub fn run(o: Options) -> ExitCode {
    let (configured, file_socket) = match o.config.as_deref().map(from_config).transpose() {
        Ok(Some((p, s))) => (p, Some(s)),
        Ok(None) => (Vec::new(), None),
        Err(e) => {
            log(format!("error: {e}"));
            return ExitCode::from(2);
        }
    };
    let socket = o.control_socket.or(file_socket).unwrap_or_else(|| PathBuf::from(xvs_config::DEFAULT_CONTROL_SOCKET));
    // ExaBGP closes our standard input when it stops: that is our end.
    let stdin = std::thread::Builder::new().name("xvs-announce-stdin".into()).spawn(|| {
        for line in std::io::stdin().lock().lines() {
            match line {
                Ok(l) if l.trim() == "error" => log("ExaBGP refused the last command (see its log)"),
                Ok(_) => {}
                Err(_) => break,
            }
        }
        log("standard input closed (ExaBGP stopped): exiting");
        std::process::exit(0);
    });
    if let Err(e) = stdin {
        log(format!("error: starting the input reader: {e}"));
        return ExitCode::from(1);
    }
    log(format!("following the director at {} every {:?}", socket.display(), o.interval));
    let mut announcer = Announcer::new(configured, &o.next_hop, &o.attributes);
    if o.nat {
        announcer = announcer.allow_nat();
    }
    let deadline = (o.interval * 3).max(Duration::from_millis(500)).min(Duration::from_millis(900));
    let mut lost: Option<String> = None;
    let mut out = std::io::stdout().lock();
    loop {
        let t0 = Instant::now();
        let answer = ask(&socket, deadline);
        match (&answer, &lost) {
            (Err(e), None) => log(format!("the director does not answer ({e}): withdrawing its routes")),
            (Ok(_), Some(_)) => log("the director answers again"),
            _ => {}
        }
        lost = answer.as_ref().err().cloned();
        for p in announcer.take_nat_warnings(answer.as_ref().ok()) {
            log(format!(
                "not announcing {p}: its services forward by NAT, whose replies must come back through this \
                 director, which ECMP across a fleet cannot promise (use DR or TUN, or --nat for a fleet of one)"
            ));
        }
        for line in announcer.handle_state(answer.as_ref().ok()) {
            log(&line);
            if writeln!(out, "{line}").and_then(|_| out.flush()).is_err() {
                log("standard output closed (ExaBGP stopped): exiting");
                return ExitCode::SUCCESS;
            }
        }
        std::thread::sleep(o.interval.saturating_sub(t0.elapsed()));
    }
}
