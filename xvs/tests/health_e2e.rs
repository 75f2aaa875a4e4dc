//! Health checks end to end, from a keepalived.conf: a NAT service whose reals are checked
//! with TCP_CHECK and HTTP_GET. A real whose server stops leaves the service within
//! delay_loop + retry x (delay_before_retry + connect_timeout) — it disappears from
//! `xvs ctl -Ln` and gets no new connections — and comes back when its server does.

mod common;

use std::net::SocketAddr;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use common::{keepalived_lab, keepalived_nat, TCP_CHECK};
use xvs_lab::director::{real_server_script, VIP4};
use xvs_lab::http::http_get;

/// real 1's checker: HTTP_GET of `/`, expecting 200.
const HTTP_GET: &str = "HTTP_GET {
            url {
              path /
              status_code 200
            }
            connect_timeout 1
            retry 1
            delay_before_retry 1
        }";

/// The keepalived.conf of the test; real 1 runs `notes/note.sh up|down` (keepalived's
/// notify_up/notify_down) when its check brings it up or takes it down.
fn keepalived_conf(notes: &Path) -> String {
    // router_id is read (VRRP's); notification_email_from is the global_defs key warned about.
    let head = "! Configuration File for keepalived (health-check test)\nglobal_defs {\n   router_id LVS_TEST\n   \
                notification_email_from lb@example.com\n}\n\n";
    let n = notes.display();
    let real1 = format!("notify_up \"{n}/note.sh up\"\n        notify_down \"{n}/note.sh down\"\n        {HTTP_GET}");
    // omega: a clean stop runs the up reals' notify_down.
    keepalived_nat(head, &[TCP_CHECK, &real1, TCP_CHECK]).replacen(
        "    protocol TCP\n",
        "    protocol TCP\n    omega\n",
        1,
    )
}

/// A directory with `note.sh`, which appends its argument to `events` there.
fn notes_dir() -> std::path::PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let d = std::env::temp_dir().join(format!("xvs-notify-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir(&d).unwrap();
    let script = d.join("note.sh");
    std::fs::write(&script, format!("#!/bin/sh\necho \"$1\" >> {}/events\n", d.display())).unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    d
}

fn events(notes: &Path) -> String {
    std::fs::read_to_string(notes.join("events")).unwrap_or_default()
}

fn get(addr: SocketAddr) -> String {
    http_get(addr, "/").expect("HTTP GET through the VIP")
}

fn listing(xvs: &Path, sock: &Path) -> String {
    let out = Command::new(xvs).args(["ctl", "-c"]).arg(sock).arg("-Ln").output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn wait_for(what: &str, limit: Duration, mut cond: impl FnMut() -> bool) -> Duration {
    let t0 = Instant::now();
    while !cond() {
        assert!(t0.elapsed() < limit, "{what} did not happen within {limit:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
    t0.elapsed()
}

#[test]
fn failed_reals_leave_and_come_back() {
    let xvs = common::xvs();
    let notes = notes_dir();
    let (mut lab, sock, d) = keepalived_lab("health", &keepalived_conf(&notes));
    let log = lab.procs[d].stderr();
    assert!(log.contains("vrrp") || log.contains("global_defs"), "keepalived warnings missing: {log}");
    wait_for("three reals listed", Duration::from_secs(5), || listing(xvs, &sock).matches("Masq").count() == 3);
    let vip = SocketAddr::new(VIP4.into(), 80);

    // Stop real 1 (10.0.2.12, HTTP_GET): it must leave within 1 + 1 x (1 + 1) = 3 s.
    lab.procs[1].terminate(Duration::from_secs(5));
    let left =
        wait_for("10.0.2.12 leaving", Duration::from_secs(6), || !listing(xvs, &sock).contains("10.0.2.12:8080"));
    assert!(left <= Duration::from_millis(3000 + 1200), "took {left:?}");
    let bodies: Vec<String> = lab.lab.in_ns("cl", || (0..12).map(|_| get(vip)).collect());
    assert!(bodies.iter().all(|b| !b.ends_with("real 1\n")), "a down real got traffic: {bodies:?}");
    assert_eq!(bodies.iter().filter(|b| b.ends_with("real 0\n")).count(), 6);
    wait_for("notify_down run", Duration::from_secs(3), || events(&notes) == "down\n");

    // Start it again: it comes back after one successful check.
    let p = lab.lab.spawn("r1", &["python3", "-u", "-c", &real_server_script(1, 8080, 5353)]);
    lab.procs.push(p);
    let n = lab.procs.len() - 1;
    lab.procs[n].wait_for_stdout("listening", Duration::from_secs(10));
    wait_for("10.0.2.12 coming back", Duration::from_secs(5), || listing(xvs, &sock).contains("10.0.2.12:8080"));
    let bodies: Vec<String> = lab.lab.in_ns("cl", || (0..12).map(|_| get(vip)).collect());
    assert_eq!(bodies.iter().filter(|b| b.ends_with("real 1\n")).count(), 4, "{bodies:?}");
    wait_for("notify_up run", Duration::from_secs(3), || events(&notes) == "down\nup\n");

    // ctl shows health with --health, and the director logged both changes.
    let out = Command::new(xvs).args(["ctl", "-c"]).arg(&sock).args(["-Ln", "--health"]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let log = lab.procs[d].stderr();
    assert!(log.contains("10.0.2.12:8080") && log.contains("DOWN") && log.contains("UP"), "{log}");

    // omega: stopping the director runs the up real's notify_down before it exits.
    lab.procs[d].terminate(Duration::from_secs(10));
    assert_eq!(events(&notes), "down\nup\ndown\n", "{}", lab.procs[d].stderr());
    let _ = std::fs::remove_dir_all(&notes);
}

/// Processes running `script` (by their command line), in any namespace.
fn running(script: &Path) -> usize {
    let needle = script.display().to_string();
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| std::fs::read(e.ok()?.path().join("cmdline")).ok())
        .filter(|c| String::from_utf8_lossy(c).contains(&needle))
        .count()
}

/// The reported stall: with a `sleep 25` MISC_CHECK, `xvs ctl -Ln` took 23 s after a
/// reload and SIGTERM 45 s. Neither may wait on a probe, and no script outlives its check.
#[test]
fn a_slow_misc_check_never_stalls_ctl_reload_or_stop() {
    use std::os::unix::fs::PermissionsExt;
    let xvs = common::xvs();
    let (mut lab, sock, d) = keepalived_lab("health-slow", "");
    let slow = lab.dir().join("slow-check.sh");
    std::fs::write(&slow, "#!/bin/sh\nsleep 25\n").unwrap();
    std::fs::set_permissions(&slow, std::fs::Permissions::from_mode(0o755)).unwrap();
    let conf = |timeout: u32| {
        let misc = format!(
            "MISC_CHECK {{\n            misc_path {}\n            misc_timeout {timeout}\n        }}",
            slow.display()
        );
        keepalived_nat("", &[&misc, TCP_CHECK])
    };
    let path = lab.dir().join("keepalived.conf");
    std::fs::write(&path, conf(30)).unwrap();
    let reload = |lab: &xvs_lab::director::DirectorLab, n: usize| {
        lab.procs[d].signal(nix::sys::signal::Signal::SIGHUP);
        wait_for("the reload", Duration::from_secs(10), || lab.procs[d].stderr().matches("reloaded").count() >= n);
    };
    // The lab started on an empty file: load the checked one, and let the script start.
    reload(&lab, 1);
    wait_for("the slow check running", Duration::from_secs(5), || running(&slow) == 1);

    // A change of the check restarts it: the control loop must not wait for the script.
    std::fs::write(&path, conf(31)).unwrap();
    let t0 = Instant::now();
    reload(&lab, 2);
    let l = listing(xvs, &sock);
    let took = t0.elapsed();
    assert!(took < Duration::from_secs(2), "reload + ctl -Ln took {took:?}");
    assert!(l.contains("10.0.2.11:8080"), "{l}");
    // The old run's group was killed; the new check runs its own.
    wait_for("one slow check left", Duration::from_secs(2), || running(&slow) == 1);

    let t0 = Instant::now();
    let status = lab.procs[d].terminate(Duration::from_secs(10));
    let took = t0.elapsed();
    assert!(status.success(), "{status}: {}", lab.procs[d].stderr());
    assert!(took < Duration::from_secs(3), "SIGTERM took {took:?}");
    wait_for("no slow check left", Duration::from_secs(2), || running(&slow) == 0);
}
