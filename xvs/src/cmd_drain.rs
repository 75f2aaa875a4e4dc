//! `xvs ctl --drain | --undrain | --drain-status`: taking a fleet member out for
//! maintenance (xvs's own words, handled before ipvsadm's grammar).
//!
//! `--drain` tells the director to drain (its announcer withdraws the routes), then asks
//! every [`POLL`] what still arrives, until no service frame came for `--idle` seconds
//! (exit 0) or `--timeout` passed (exit 1), and reports what it saw. The drain stays after
//! the command returns: the director keeps forwarding whatever still comes and announces
//! nothing until `--undrain` or a restart. Without an announcer following the director
//! nothing is withdrawn: said on standard error, and the wait goes on.

use std::path::Path;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use xvs::ctl::client;
use xvs::ctl::Request;
use xvs::fleet::{DrainStatus, FleetRequest};

const POLL: Duration = Duration::from_millis(200);
/// An announcer that asked within this long follows the director.
const ANNOUNCER_RECENT_MS: u64 = 3000;

/// Whether `argv` is one of these commands.
pub fn is_fleet_command(argv: &[String]) -> bool {
    matches!(argv.first().map(String::as_str), Some("--drain" | "--undrain" | "--drain-status"))
}

struct DrainOpts {
    idle: Duration,
    timeout: Duration,
    json: bool,
}

fn seconds(flag: &str, v: Option<&String>) -> Result<Duration, String> {
    let v = v.ok_or_else(|| format!("{flag} needs a number of seconds"))?;
    let s: f64 = v.parse().map_err(|_| format!("{flag} {v}: not a number of seconds"))?;
    if !(0.0..=86400.0).contains(&s) {
        return Err(format!("{flag} {v}: out of range (0 to 86400 seconds)"));
    }
    Ok(Duration::from_secs_f64(s))
}

fn parse(argv: &[String]) -> Result<(FleetRequest, DrainOpts), String> {
    let req = match argv[0].as_str() {
        "--drain" => FleetRequest::Drain,
        "--undrain" => FleetRequest::Undrain,
        _ => FleetRequest::DrainStatus,
    };
    let mut o = DrainOpts { idle: Duration::from_secs(5), timeout: Duration::from_secs(120), json: false };
    let mut it = argv[1..].iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--idle" if req == FleetRequest::Drain => o.idle = seconds(a, it.next())?,
            "--timeout" if req == FleetRequest::Drain => o.timeout = seconds(a, it.next())?,
            "--json" => o.json = true,
            _ => return Err(format!("{}: unexpected argument `{a}`", argv[0])),
        }
    }
    Ok((req, o))
}

fn ask(socket: &Path, req: FleetRequest) -> Result<DrainStatus, (u8, String)> {
    let r = client::call(socket, &Request { fleet: Some(req), ..Request::default() })
        .map_err(|e| (1, format!("cannot reach xvs at {}: {e} (is `xvs run` running?)", socket.display())))?;
    if r.exit != 0 {
        return Err((r.exit, r.stderr.trim().to_string()));
    }
    serde_json::from_str(r.stdout.trim()).map_err(|e| (1, format!("a malformed answer: {e}")))
}

fn secs(ms: u64) -> String {
    format!("{:.1} s", ms as f64 / 1000.0)
}

fn describe(s: &DrainStatus) -> String {
    if !s.draining {
        return "not draining: ready VIPs are announced".into();
    }
    let withdrawn = match s.withdrawn_after_ms {
        Some(ms) => format!("routes withdrawn {} after the drain", secs(ms)),
        None => "no announcer has seen the drain: nothing was withdrawn".into(),
    };
    let last = if s.frames == 0 { "none".to_string() } else { format!("the last {} ago", secs(s.idle_ms)) };
    format!(
        "draining for {}: {withdrawn}; {} service frame(s) arrived since ({last}); {} connection(s) in the table",
        secs(s.since_ms),
        s.frames,
        s.live_connections
    )
}

pub fn run(socket: &Path, argv: &[String]) -> ExitCode {
    let (req, o) = match parse(argv) {
        Ok(x) => x,
        Err(e) => {
            eprintln!("xvs ctl: {e}");
            return ExitCode::from(2);
        }
    };
    let fail = |(code, msg): (u8, String)| {
        eprintln!("xvs ctl: {msg}");
        ExitCode::from(code)
    };
    let first = match ask(socket, req) {
        Ok(s) => s,
        Err(e) => return fail(e),
    };
    let print = |s: &DrainStatus, outcome: &str| {
        if o.json {
            let mut v = serde_json::to_value(s).unwrap_or_default();
            v["outcome"] = serde_json::Value::from(outcome);
            println!("{v}");
        } else {
            println!("{}", describe(s));
        }
    };
    if req != FleetRequest::Drain {
        print(&first, if first.draining { "draining" } else { "serving" });
        return ExitCode::SUCCESS;
    }
    if first.announcer_seen_ms.is_none_or(|ms| ms > ANNOUNCER_RECENT_MS) {
        eprintln!(
            "xvs ctl: warning: no `xvs announce` follows this director: no route is withdrawn, so traffic stops only \
             if the routers stop sending for another reason"
        );
    }
    let t0 = Instant::now();
    let mut last_report = Instant::now();
    loop {
        std::thread::sleep(POLL);
        let s = match ask(socket, FleetRequest::DrainStatus) {
            Ok(s) => s,
            Err(e) => return fail(e),
        };
        if !s.draining {
            eprintln!("xvs ctl: the drain was ended (--undrain) while waiting");
            print(&s, "undrained");
            return ExitCode::from(1);
        }
        if s.idle_ms >= o.idle.as_millis() as u64 {
            print(&s, "quiet");
            return ExitCode::SUCCESS;
        }
        if t0.elapsed() >= o.timeout {
            eprintln!("xvs ctl: --timeout {:?} passed and frames still arrive", o.timeout);
            print(&s, "timeout");
            return ExitCode::from(1);
        }
        if !o.json && last_report.elapsed() >= Duration::from_secs(5) {
            last_report = Instant::now();
            eprintln!("xvs ctl: {}", describe(&s));
        }
    }
}
