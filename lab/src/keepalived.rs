//! The distribution's keepalived as a VRRP peer in a lab namespace: `keepalived --vrrp`
//! (this kernel has no IPVS), in the foreground, logging to the console.
//!
//! Invariants: nothing skips (without the keepalived program, `start` panics saying how to
//! get it); dropping a [`Keepalived`] kills every keepalived process of its namespace
//! (parent and VRRP child) and removes its directory; every wait is bounded.

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use crate::{Lab, Proc};

/// One keepalived in one namespace of a lab.
pub struct Keepalived {
    proc: Option<Proc>,
    ns: String,
    dir: PathBuf,
}

impl Keepalived {
    /// Start keepalived in `ns` (a short name of `lab`) with the configuration `conf`.
    pub fn start(lab: &Lab, ns: &str, conf: &str) -> Keepalived {
        let ok = Command::new("keepalived").arg("--version").output().map(|o| o.status.success()).unwrap_or(false);
        assert!(ok, "keepalived not found: the VRRP peer tests need the distribution's keepalived (scripts/setup.sh installs it)");
        let dir = crate::private_dir(&format!("xvs-keepalived-{ns}"));
        let file = |n: &str| dir.join(n).to_string_lossy().into_owned();
        std::fs::write(file("keepalived.conf"), conf).expect("write keepalived.conf");
        let (conf, pid, vrrp_pid) = (file("keepalived.conf"), file("keepalived.pid"), file("vrrp.pid"));
        let args = ["keepalived", "--vrrp", "--dont-fork", "--log-console", "-f", &conf, "-p", &pid, "-r", &vrrp_pid];
        Keepalived { proc: Some(lab.spawn(ns, &args)), ns: lab.name(ns), dir }
    }

    /// Its log so far (stdout and stderr: `--log-console`).
    pub fn log(&self) -> String {
        self.proc.as_ref().map(|p| format!("{}{}", p.stdout(), p.stderr())).unwrap_or_default()
    }

    /// Wait until the log contains `needle`; panics with the log after `timeout`. Returns
    /// how long it took.
    pub fn wait_log(&self, needle: &str, timeout: Duration) -> Duration {
        let t0 = Instant::now();
        while !self.log().contains(needle) {
            assert!(t0.elapsed() < timeout, "keepalived did not log {needle:?} within {timeout:?}\n{}", self.log());
            std::thread::sleep(Duration::from_millis(20));
        }
        t0.elapsed()
    }

    /// Send `sig` to the parent (it stops its VRRP child; SIGTERM: a clean stop).
    pub fn signal(&self, sig: nix::sys::signal::Signal) {
        self.proc.as_ref().expect("keepalived started").signal(sig);
    }

    /// `kill -9` of every process in its namespace at once (parent and VRRP child).
    ///
    /// Every process is stopped before any is killed: keepalived's children ask for a
    /// signal when their parent dies, and a VRRP child told so in time stops cleanly and
    /// sends a priority-0 advert, which is not what a crash does. A stopped process runs
    /// no handler, so SIGKILL finds it where SIGSTOP left it.
    pub fn kill9(&self) {
        use nix::sys::signal::{kill, Signal};
        let out = Command::new("ip").args(["netns", "pids", &self.ns]).output().expect("ip netns pids");
        let pids: Vec<_> = String::from_utf8_lossy(&out.stdout)
            .split_whitespace()
            .filter_map(|p| p.parse::<i32>().ok())
            .map(nix::unistd::Pid::from_raw)
            .collect();
        for &pid in &pids {
            let _ = kill(pid, Signal::SIGSTOP);
        }
        // SIGSTOP is only queued when `kill` returns: wait (bounded) until each process
        // shows state T, or is gone, before the first SIGKILL.
        let t0 = Instant::now();
        for &pid in &pids {
            while !stopped_or_gone(pid) && t0.elapsed() < Duration::from_secs(1) {
                std::thread::sleep(Duration::from_millis(1));
            }
        }
        for &pid in &pids {
            let _ = kill(pid, Signal::SIGKILL);
        }
    }
}

impl Drop for Keepalived {
    fn drop(&mut self) {
        self.kill9();
        drop(self.proc.take());
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Whether `pid` is stopped (state `T` in `/proc/<pid>/stat`), a zombie, or gone.
fn stopped_or_gone(pid: nix::unistd::Pid) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        // The state follows the command name, which is in parentheses and may hold spaces.
        Ok(stat) => stat.rsplit_once(')').is_some_and(|(_, rest)| rest.trim_start().starts_with(['T', 't', 'Z', 'X'])),
        Err(_) => true,
    }
}
