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
//!
//! With `--bird-include FILE` the speaker is BIRD 2 instead: the announced set is written
//! to FILE as two static protocols (`xvs::fleet::bird`) and `--birdc` (`birdc configure`)
//! is run after each change, again on the next round while it fails; standard input is
//! not read (run it as a service of its own).

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
    /// BIRD 2 instead of ExaBGP: the include file to keep, and the command that makes
    /// BIRD read it.
    pub bird_include: Option<PathBuf>,
    pub birdc: String,
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

/// Where the announcements go.
enum Speaker {
    /// ExaBGP: API lines on standard output.
    ExaBgp(std::io::StdoutLock<'static>),
    /// BIRD 2: the include file, then the reconfiguration command; `dirty` until the
    /// command succeeded for the current set.
    Bird { include: PathBuf, birdc: Vec<String>, dirty: bool, failing: Option<String> },
}

impl Speaker {
    /// Tell the speaker `lines` (ExaBGP) or the new `announced` set (BIRD); `false` when
    /// the speaker is gone for good (ExaBGP closed our output).
    fn tell(&mut self, lines: &[String], announced: &[String]) -> bool {
        match self {
            Speaker::ExaBgp(out) => {
                for line in lines {
                    if writeln!(out, "{line}").and_then(|_| out.flush()).is_err() {
                        log("standard output closed (ExaBGP stopped): exiting");
                        return false;
                    }
                }
            }
            Speaker::Bird { include, birdc, dirty, failing } => {
                *dirty |= !lines.is_empty();
                if *dirty {
                    match write_and_reconfigure(include, birdc, announced) {
                        Ok(()) => {
                            *dirty = false;
                            if failing.take().is_some() {
                                log("BIRD took the announcements");
                            }
                        }
                        // Said once per different reason: retried every round.
                        Err(e) if failing.as_ref() != Some(&e) => {
                            log(format!("BIRD not told yet, retrying every round: {e}"));
                            *failing = Some(e);
                        }
                        Err(_) => {}
                    }
                }
            }
        }
        true
    }
}

/// Write `include` (atomically) for `announced` and run `birdc`.
fn write_and_reconfigure(include: &Path, birdc: &[String], announced: &[String]) -> Result<(), String> {
    let tmp = include.with_extension("tmp");
    std::fs::write(&tmp, xvs::fleet::bird::include_text(announced))
        .and_then(|_| std::fs::rename(&tmp, include))
        .map_err(|e| format!("writing {}: {e}", include.display()))?;
    let out = std::process::Command::new(&birdc[0])
        .args(&birdc[1..])
        .output()
        .map_err(|e| format!("running {}: {e}", birdc.join(" ")))?;
    let text = String::from_utf8_lossy(&out.stdout);
    // birdc exits 0 even when BIRD refuses the configuration: read what it said.
    if !out.status.success() || text.to_ascii_lowercase().contains("error") {
        return Err(format!(
            "{} said: {}{}",
            birdc.join(" "),
            text.trim(),
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(())
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
    let mut speaker = match &o.bird_include {
        Some(include) => {
            let birdc: Vec<String> = o.birdc.split_whitespace().map(String::from).collect();
            if birdc.is_empty() {
                log("error: --birdc is empty");
                return ExitCode::from(2);
            }
            Speaker::Bird { include: include.clone(), birdc, dirty: true, failing: None }
        }
        None => Speaker::ExaBgp(std::io::stdout().lock()),
    };
    // ExaBGP closes our standard input when it stops: that is our end (BIRD's helper is
    // a service of its own, stopped by a signal).
    let stdin = if o.bird_include.is_some() {
        Ok(None)
    } else {
        std::thread::Builder::new()
            .name("xvs-announce-stdin".into())
            .spawn(|| {
                for line in std::io::stdin().lock().lines() {
                    match line {
                        Ok(l) if l.trim() == "error" => log("ExaBGP refused the last command (see its log)"),
                        Ok(_) => {}
                        Err(_) => break,
                    }
                }
                log("standard input closed (ExaBGP stopped): exiting");
                std::process::exit(0);
            })
            .map(Some)
    };
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
        let lines = announcer.handle_state(answer.as_ref().ok());
        for line in &lines {
            log(line);
        }
        if !speaker.tell(&lines, announcer.announced()) {
            return ExitCode::SUCCESS;
        }
        std::thread::sleep(o.interval.saturating_sub(t0.elapsed()));
    }
}
