//! `xvs top` end to end: a director lab (NAT, three reals, rr, from a keepalived.conf
//! where reals 0 and 1 have a TCP_CHECK and real 2 none), `xvs run --control-socket`, HTTP
//! traffic from the client, then `xvs top -c SOCKET --once` from the root namespace:
//!
//! - it lists the service and every real, with non-zero rates (CPS, InPPS, OutPPS, InBPS)
//!   for each real and in the totals after ~5 s of traffic (the estimator samples every
//!   2 s), and the health column: UP for the checked reals, `–` for the unchecked one;
//! - a real whose server stops shows DOWN (and the header counts it) while still listed;
//! - a socket nobody answers on: exit 1 with the reason on stderr;
//! - the live view, in a pseudo-terminal (`script`): it draws on the alternate screen,
//!   quits on `q` with status 0 and leaves the alternate screen.
//!
//! Needs root, namespaces and AF_XDP: fails, never skips.

mod common;

use std::io::{Read, Write};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{keepalived_lab, keepalived_nat, TCP_CHECK};
use xvs_lab::director::VIP4;
use xvs_lab::http::http_get;

fn keepalived_conf() -> String {
    keepalived_nat("! keepalived.conf for the xvs top test\n", &[TCP_CHECK, TCP_CHECK, ""])
}

const REALS: [&str; 3] = ["10.0.2.11:8080", "10.0.2.12:8080", "10.0.2.13:8080"];

fn get(addr: SocketAddr) -> Option<String> {
    http_get(addr, "/").ok()
}

/// `xvs top -c SOCK --once`: (exit code, stdout, stderr).
fn top_once(xvs: &Path, sock: &Path) -> (i32, String, String) {
    let out = Command::new(xvs).args(["top", "-c"]).arg(sock).arg("--once").output().expect("xvs top");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The table row of `real`, split into its columns: address, forward, weight, health,
/// active, inactive, CPS, InPPS, OutPPS, InBPS, OutBPS (a byte figure with its unit is one
/// column), then the share bar and its percentage.
fn row(view: &str, real: &str) -> Vec<String> {
    let line = view
        .lines()
        .find(|l| l.contains(real))
        .unwrap_or_else(|| panic!("{real} is not in the view:\n{view}"))
        .trim_matches(|c: char| c == '│' || c.is_whitespace());
    let words: Vec<&str> = line.split_whitespace().collect();
    let mut cols: Vec<String> = Vec::new();
    let mut i = 0;
    while i < words.len() {
        if ["B", "kB", "MB", "GB", "TB"].contains(&words.get(i + 1).copied().unwrap_or("")) {
            cols.push(format!("{} {}", words[i], words[i + 1]));
            i += 2;
        } else {
            cols.push(words[i].to_string());
            i += 1;
        }
    }
    assert!(cols.len() >= 12, "{real}: {cols:?} in\n{view}");
    cols
}

/// Run `xvs top --once` until `cond` holds for its output, at most `limit`.
fn wait_for_view(xvs: &Path, sock: &Path, what: &str, limit: Duration, cond: impl Fn(&str) -> bool) {
    let t0 = Instant::now();
    loop {
        let (code, out, err) = top_once(xvs, sock);
        if code == 0 && cond(&out) {
            return;
        }
        assert!(t0.elapsed() < limit, "{what} did not happen within {limit:?}; the last view:\n{out}{err}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn top_shows_services_reals_rates_and_health() {
    let xvs = common::xvs();
    let (mut lab, sock, _) = keepalived_lab("top", &keepalived_conf());
    let sock_s = sock.display().to_string();
    // The checks' first verdicts: both checked reals UP.
    wait_for_view(xvs, &sock, "the checked reals UP", Duration::from_secs(6), |out| {
        out.lines().filter(|l| l.contains(" UP ")).count() == 2
    });

    // ~5 s of traffic: the estimator's 2 s samples see it.
    let vip = SocketAddr::new(VIP4.into(), 80);
    let answered = lab.lab.in_ns("cl", || {
        let t0 = Instant::now();
        let mut n = 0;
        while t0.elapsed() < Duration::from_millis(5000) {
            n += get(vip).is_some_and(|b| b.contains("real ")) as usize;
        }
        n
    });
    assert!(answered >= 30, "only {answered} HTTP answers through the director");

    let (code, view, err) = top_once(xvs, &sock);
    assert_eq!(code, 0, "xvs top --once: {err}\n{view}");
    println!("{view}");
    assert!(view.starts_with("xvs top — xvs "), "{view}");
    assert!(view.contains(" up "), "uptime: {view}");
    assert!(view.contains("1 service(s), 3 real(s)"), "{view}");
    assert!(view.contains("TCP 10.0.1.100:80  rr"), "{view}");
    for h in ["Real", "Forward", "Weight", "Health", "Active", "InAct", "CPS", "InPPS", "OutPPS", "InBPS", "OutBPS"] {
        assert!(view.contains(h), "column {h}: {view}");
    }
    let totals = view.lines().nth(1).unwrap();
    assert!(!totals.contains("conn/s 0 ") && totals.contains("live conns"), "totals: {totals}");
    for (i, real) in REALS.iter().enumerate() {
        let c = row(&view, real);
        assert_eq!((c[1].as_str(), c[2].as_str()), ("NAT", "1"), "{real}: {c:?}");
        let health = if i < 2 { "UP" } else { "–" };
        assert_eq!(c[3], health, "{real}: {c:?}");
        for (k, name) in [(6, "CPS"), (7, "InPPS"), (8, "OutPPS")] {
            assert_ne!(c[k], "0", "{real}: {name} is 0 after traffic: {c:?}\n{view}");
        }
        assert_ne!(c[9], "0 B", "{real}: InBPS is 0 after traffic: {c:?}");
        assert!(c.last().is_some_and(|p| p.ends_with('%')), "{real}: share: {c:?}");
    }
    // The service's total: active, inactive, then its CPS.
    let total = view.lines().find(|l| l.contains("│total")).unwrap_or_else(|| panic!("no total: {view}"));
    assert_ne!(total.split_whitespace().nth(3), Some("0"), "service CPS: {total}");

    // Stop real 0 (checked): DOWN within 1 + 1 x (1 + 1) s, and still listed.
    lab.procs[0].terminate(Duration::from_secs(5));
    wait_for_view(xvs, &sock, "10.0.2.11 DOWN in top", Duration::from_secs(8), |out| {
        out.lines().any(|l| l.contains("10.0.2.11:8080") && l.contains(" DOWN "))
    });
    let (_, view, _) = top_once(xvs, &sock);
    assert!(view.contains("3 real(s), 1 DOWN") && view.contains("2/3 reals in service"), "{view}");
    assert_eq!(row(&view, "10.0.2.12:8080")[3], "UP", "{view}");

    // Nobody answering: exit 1 and the reason.
    let (code, out, err) = top_once(xvs, &lab.dir().join("nobody.sock"));
    assert_eq!(code, 1, "{out}{err}");
    assert!(err.contains("cannot reach xvs at") && out.is_empty(), "{err}");

    // The live view in a pseudo-terminal: draws, and `q` quits cleanly.
    // `script` gives the pty no size when its own stdin is no terminal: set one.
    let cmd = format!("stty cols 132 rows 30; exec {} top -c {sock_s} --interval 0.5", xvs.display());
    let mut child = Command::new("script")
        .args(["-qfec", &cmd, "/dev/null"])
        .env("TERM", "xterm")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("script (util-linux)");
    let mut stdin = child.stdin.take().unwrap();
    std::thread::sleep(Duration::from_millis(2500));
    stdin.write_all(b"q").unwrap();
    stdin.flush().unwrap();
    let t0 = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if t0.elapsed() > Duration::from_secs(10) {
            let _ = child.kill();
            panic!("xvs top did not quit on q");
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    drop(stdin);
    let mut screen = String::new();
    child.stdout.take().unwrap().read_to_string(&mut screen).unwrap();
    assert!(status.success(), "xvs top (live) exited {status}: {screen}");
    assert!(screen.contains("\x1b[?1049h") && screen.contains("\x1b[?1049l"), "alternate screen: {screen:?}");
    assert!(screen.contains("10.0.2.12:8080") && screen.contains("quit"), "the live view: {screen:?}");
}
