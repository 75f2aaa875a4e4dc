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
    pub fn kill9(&self) {
        let out = Command::new("ip").args(["netns", "pids", &self.ns]).output().expect("ip netns pids");
        for pid in String::from_utf8_lossy(&out.stdout).split_whitespace().filter_map(|p| p.parse::<i32>().ok()) {
            let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), nix::sys::signal::Signal::SIGKILL);
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
