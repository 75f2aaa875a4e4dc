//! `xvs ctl` end to end: a director lab (NAT, three reals, wrr), `xvs run` with its control
//! socket in the lab's directory, and `xvs ctl` run as a separate process from the root
//! namespace (a Unix socket is a filesystem object, reachable from any namespace).
//!
//! - Edits under traffic: delete a real, add it back with weight 2, quiesce one to weight 0,
//!   change another's weight; after each, new connections follow the weights while an idle
//!   keep-alive connection and a 10 MB transfer read across all the edits go on unbroken;
//!   `-L -c` lists the established connection; `-Ln --stats` counts the traffic.
//! - `-S > f; -C; -R < f` gives the same `-Ln` listing; a `-R` with a bad line changes
//!   nothing and says which line; `--set` shows in `-L --timeout`.
//! - Only root: the socket is 0600 root's; another uid cannot connect, and even with the
//!   file opened up (chmod 666) the daemon refuses it by its credentials.
//!
//! Needs root, namespaces and AF_XDP: fails, never skips.

mod common;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use common::*;

const REALS: usize = 3;

struct Ctl {
    socket: PathBuf,
}

impl Ctl {
    fn new(run: &Running) -> Ctl {
        Ctl { socket: run.lab.dir().join("xvs.sock") }
    }

    /// `xvs ctl -c SOCKET ARGS` with `stdin`; the whole output.
    fn raw(&self, args: &str, stdin: Option<&str>) -> Output {
        let mut cmd = Command::new(xvs());
        cmd.arg("ctl").arg("-c").arg(&self.socket).args(args.split_whitespace());
        cmd.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("spawn xvs ctl");
        let mut input = child.stdin.take().unwrap();
        if let Some(s) = stdin {
            input.write_all(s.as_bytes()).unwrap();
        }
        drop(input);
        child.wait_with_output().expect("xvs ctl")
    }

    /// `xvs ctl ARGS`, which must succeed; its standard output.
    fn ok(&self, args: &str) -> String {
        self.ok_in(args, None)
    }

    fn ok_in(&self, args: &str, stdin: Option<&str>) -> String {
        let o = self.raw(args, stdin);
        assert!(
            o.status.success(),
            "xvs ctl {args}: {}\nstdout: {}\nstderr: {}",
            o.status,
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
        String::from_utf8(o.stdout).unwrap()
    }
}

fn web() -> std::net::SocketAddr {
    vip_http(false)
}

/// The `-Ln` lines of the IPv4 HTTP service's reals: (address, weight).
fn http_reals(listing: &str) -> Vec<(String, u32)> {
    let mut out = Vec::new();
    let mut inside = false;
    for l in listing.lines() {
        if l.starts_with("TCP  ") || l.starts_with("UDP  ") {
            inside = l.starts_with("TCP  10.0.1.100:80 ");
            continue;
        }
        if inside {
            let f: Vec<&str> = l.split_whitespace().collect();
            if f.len() >= 4 && f[0] == "->" {
                out.push((f[1].to_string(), f[3].parse().unwrap()));
            }
        }
    }
    out
}

/// A listing without the connection counts (the last two columns of real lines).
fn shape(listing: &str) -> String {
    listing
        .lines()
        .map(|l| {
            if l.starts_with("  -> ") && !l.starts_with("  -> RemoteAddress") {
                let f: Vec<&str> = l.split_whitespace().collect();
                f[..f.len() - 2].join(" ")
            } else {
                l.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn counts(run: &Running, n: usize) -> Vec<usize> {
    per_real(&run.client(|| spread(web(), n, 4, &[])), REALS)
}

#[test]
fn edits_under_traffic_keep_established_connections() {
    let mut run = Running::start("ctl_edits", LabMode::Nat, REALS, 1, |lab| lab.config("wrr", None, ""));
    let ctl = Ctl::new(&run);
    let real = |i: usize| format!("{}:8080", real_addrs(i).0);

    // Connections that must live through every edit: an idle keep-alive one, and a 10 MB
    // transfer read half before and half after the edits.
    let mut idle = run.client(|| KeepAlive::open(web()));
    let first = idle.request("/");
    assert_eq!(first.head.status, 200);
    let idle_real = first.real();
    let mut bulk = run.client(|| KeepAlive::open(web()));
    bulk.send(&format!("/bytes/{BIG}"));
    let head = bulk.head();
    assert_eq!((head.status, head.content_length), (200, BIG));
    let bulk_real = head.real.expect("X-Real");
    let mut body = bulk.body(BIG / 2);

    // Delete real 2: the listing and new connections follow.
    ctl.ok(&format!("-d -t 10.0.1.100:80 -r {}", real(2)));
    let l = ctl.ok("-Ln");
    assert_eq!(http_reals(&l), vec![(real(0), 1), (real(1), 1)], "{l}");
    let c = counts(&run, 40);
    assert_eq!(c[2], 0, "a deleted real got new connections: {c:?}");
    assert_shares(&c[..2], &[1, 1], 0.2);

    // Add it back with weight 2.
    ctl.ok(&format!("-a -t 10.0.1.100:80 -r {} -m -w 2", real(2)));
    let c = counts(&run, 80);
    assert_shares(&c, &[1, 1, 2], 0.2);

    // Quiesce real 0 and give real 1 weight 3.
    ctl.ok(&format!("-e -t 10.0.1.100:80 -r {} -m -w 0", real(0)));
    ctl.ok(&format!("-e -t 10.0.1.100:80 -r {} -m -w 3", real(1)));
    let l = ctl.ok("-Ln");
    assert_eq!(http_reals(&l), vec![(real(0), 0), (real(1), 3), (real(2), 2)], "{l}");
    let c = counts(&run, 50);
    assert_eq!(c[0], 0, "a quiesced real got new connections: {c:?}");
    assert_shares(&c[1..], &[3, 2], 0.2);

    // The held connections: still on their reals, unbroken.
    let again =
        idle.try_request("/").unwrap_or_else(|e| panic!("the idle connection after the edits: {e}\n{}", run.dump()));
    assert_eq!((again.head.status, again.real()), (200, idle_real));
    body.extend(bulk.try_body(BIG - BIG / 2).unwrap_or_else(|e| panic!("the transfer after the edits: {e}")));
    assert!(body == pattern(BIG), "the 10 MB transfer across the edits differs from the pattern");
    let _ = bulk_real;

    // -L -c lists the held (established) connections.
    let conns = ctl.ok("-L -n -c");
    assert!(
        conns.starts_with(
            "IPVS connection entries\npro expire state       source             virtual            destination\n"
        ),
        "{conns}"
    );
    let established: Vec<&str> = conns
        .lines()
        .filter(|l| l.starts_with("TCP ") && l.contains(" ESTABLISHED ") && l.contains(" 10.0.1.100:80 "))
        .collect();
    assert!(established.len() >= 2, "the two held connections are not listed as established:\n{conns}");
    assert!(established.iter().any(|l| l.ends_with(&real(idle_real))), "{conns}");

    // The counters saw it all: 170 new connections + 2 held, in the service's stats.
    std::thread::sleep(Duration::from_millis(1200));
    let stats = ctl.ok("-Ln --stats --exact");
    let line = stats.lines().find(|l| l.starts_with("TCP  10.0.1.100:80")).unwrap_or_else(|| panic!("{stats}"));
    let conns: u64 = line.split_whitespace().nth(2).unwrap().parse().unwrap();
    assert!(conns >= 172, "{stats}");
    // -Z zeroes them.
    ctl.ok("-Z");
    let stats = ctl.ok("-Ln --stats");
    let line = stats.lines().find(|l| l.starts_with("TCP  10.0.1.100:80")).unwrap();
    assert_eq!(line.split_whitespace().nth(2), Some("0"), "{stats}");
    // JSON: the same table.
    let json: serde_json::Value = serde_json::from_str(&ctl.ok("-Ln --json")).unwrap();
    let svc = json["services"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["vip"] == "10.0.1.100:80" && s["protocol"] == "tcp")
        .unwrap()
        .clone();
    assert_eq!(svc["reals"][1]["weight"], 3);
    // --health: no checks configured, so a clear error rather than a column of guesses.
    let o = ctl.raw("-Ln --health", None);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("health checks are not running"));
    run.assert_alive();
}

fn ls_mode(p: &Path) -> (u32, u32) {
    use std::os::unix::fs::MetadataExt;
    let m = std::fs::metadata(p).expect("socket file");
    (m.mode() & 0o777, m.uid())
}

#[test]
fn save_clear_restore_and_root_only() {
    let mut run = Running::start("ctl_save", LabMode::Nat, REALS, 1, |lab| lab.config("wrr", Some(&[1, 2, 3]), ""));
    let ctl = Ctl::new(&run);
    let before = ctl.ok("-Ln");
    assert!(before.starts_with("IP Virtual Server version 1.2.1 (size=4096)\nProt LocalAddress:Port Scheduler Flags\n"));
    assert!(
        before.contains(
            "TCP  10.0.1.100:80 wrr\n  -> 10.0.2.11:8080               Masq    1      0          0         \n"
        ),
        "{before}"
    );

    // -S > f; -C; -R < f: the same table.
    let saved = ctl.ok("-S -n");
    assert!(saved.contains("-A -t 10.0.1.100:80 -s wrr\n-a -t 10.0.1.100:80 -r 10.0.2.11:8080 -m -w 1\n"), "{saved}");
    ctl.ok("-C");
    let empty = ctl.ok("-Ln");
    assert_eq!(empty.lines().count(), 3, "after -C: {empty}");
    ctl.ok_in("-R", Some(&saved));
    assert_eq!(ctl.ok("-Ln"), before);
    let c = counts(&run, 60);
    assert_shares(&c, &[1, 2, 3], 0.25);

    // A -R with a bad line: nothing of it applies, and the error says where.
    let o = ctl.raw("-R", Some("-A -t 10.0.1.101:80 -s rr\n-A -t 10.0.1.100:80 -s rr\n"));
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(String::from_utf8_lossy(&o.stderr), "line 2: -A -t 10.0.1.100:80 -s rr: Service already exists\n");
    let after = ctl.ok("-Ln");
    assert!(!after.contains("10.0.1.101"), "{after}");
    // Errors in ipvsadm's words, usage errors exit 2.
    let o = ctl.raw("-a -t 10.0.1.102:80 -r 10.0.2.11", None);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(String::from_utf8_lossy(&o.stderr), "-a -t 10.0.1.102:80 -r 10.0.2.11: Service not defined\n");
    let o = ctl.raw("-a -t 10.0.1.100:80 -r 10.0.2.11 -w heavy", None);
    assert_eq!(o.status.code(), Some(2));
    // --set, --timeout.
    ctl.ok("--set 600 0 60");
    assert_eq!(ctl.ok("-L --timeout"), "Timeout (tcp tcpfin udp): 600 120 60\n");

    // Only root: the file is root's, 0600.
    let sock = ctl.socket.clone();
    assert_eq!(ls_mode(&sock), (0o600, 0));
    // A copy of the binary that uid 65534 may run, wherever the build tree is.
    let bin = run.lab.dir().join("xvs-ctl-bin");
    std::fs::copy(xvs(), &bin).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&bin, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::set_permissions(run.lab.dir(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let as_nobody = || {
        Command::new("setpriv")
            .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
            .arg(&bin)
            .args(["ctl", "-c"])
            .arg(&sock)
            .args(["-Ln"])
            .output()
            .expect("setpriv")
    };
    let o = as_nobody();
    let err = String::from_utf8_lossy(&o.stderr).to_string();
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.contains("Permission denied") && o.stdout.is_empty(), "{err}");
    // With the file opened up, the daemon still refuses by the peer's credentials.
    std::fs::set_permissions(&sock, std::fs::Permissions::from_mode(0o666)).unwrap();
    let o = as_nobody();
    std::fs::set_permissions(&sock, std::fs::Permissions::from_mode(0o600)).unwrap();
    let err = String::from_utf8_lossy(&o.stderr).to_string();
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.contains("accepts only root (uid 0), not uid 65534") && o.stdout.is_empty(), "{err}");

    // A reload (SIGHUP) brings the file's configuration back: ctl edits are dropped.
    ctl.ok("-D -t 10.0.1.100:80");
    assert!(!ctl.ok("-Ln").contains("TCP  10.0.1.100:80 "));
    let text = std::fs::read_to_string(run.lab.dir().join("xvs.toml")).unwrap();
    run.reload(&text);
    assert_eq!(shape(&ctl.ok("-Ln")), shape(&before));
    run.assert_alive();

    // No daemon: a clear error, exit 1.
    let o = Command::new(xvs()).args(["ctl", "-c", "/nonexistent/xvs.sock", "-Ln"]).output().unwrap();
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.starts_with("xvs ctl: cannot reach xvs at /nonexistent/xvs.sock: ")
            && err.contains("is `xvs run` running?"),
        "{err}"
    );
}
