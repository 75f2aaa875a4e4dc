//! `xvs announce` as ExaBGP runs it, without a director or with one that goes away: it
//! says the whole state at start (withdrawing the configuration's VIPs while the director
//! does not answer), never exits because the director is missing, and exits at once when
//! its standard input closes. Needs no privileges.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

fn xvs() -> &'static str {
    env!("CARGO_BIN_EXE_xvs")
}

#[test]
fn it_withdraws_the_files_vips_keeps_running_without_a_director_and_exits_on_eof() {
    let dir = std::env::temp_dir().join(format!("xvs-announce-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let sock = dir.join("absent.sock");
    let conf = dir.join("fleet.toml");
    std::fs::write(
        &conf,
        format!(
            "[director]\ncontrol_socket = \"{}\"\nmanage_vips = false\n\n[[service]]\nvip = \"10.7.0.100:80\"\n\
             scheduler = \"mh\"\nforward = \"dr\"\n  [[service.real]]\n  addr = \"10.8.0.21:80\"\n\n\
             [[service]]\nvip = \"[2001:db8::7]:443\"\nscheduler = \"mh\"\nforward = \"dr\"\n  [[service.real]]\n  \
             addr = \"[2001:db8:8::21]:443\"\n",
            sock.display()
        ),
    )
    .unwrap();
    let mut child = Command::new(xvs())
        .args(["announce", "--config", &conf.display().to_string(), "--interval-ms", "50"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (tx, rx) = mpsc::channel();
    let out = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        for l in BufReader::new(out).lines().map_while(Result::ok) {
            let _ = tx.send(l);
        }
    });
    let first: Vec<String> = (0..2).map(|_| rx.recv_timeout(Duration::from_secs(5)).unwrap()).collect();
    assert_eq!(
        first,
        ["withdraw route 10.7.0.100/32 next-hop self", "withdraw route 2001:db8::7/128 next-hop self"],
        "at start, with no director answering, the file's VIPs are withdrawn"
    );
    std::thread::sleep(Duration::from_millis(600));
    assert!(child.try_wait().unwrap().is_none(), "it must not exit because the director is missing");
    assert!(rx.try_recv().is_err(), "nothing more to say while nothing changes");
    drop(child.stdin.take());
    let t0 = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(t0.elapsed() < Duration::from_secs(2), "it exits when its standard input closes");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(status.success());
    let mut err = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
    assert!(err.contains("does not answer") && err.contains("standard input closed"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_bad_config_is_a_usage_error() {
    let out = Command::new(xvs()).args(["announce", "--config", "/nonexistent/xvs.toml"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent/xvs.toml"));
}
