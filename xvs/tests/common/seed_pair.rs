//! The seed notes' LAN for the VRRP pair tests (the lab shape of `vrrp_pair_e2e.rs`, used
//! by `vrrp_crash_e2e.rs`): client, two directors (xvs in `xv`, keepalived in `ka`) and two LVS-DR reals on one
//! bridge, the seed's configuration files, and the checks an operator would make.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use xvs_lab::director::real_server_script;
use xvs_lab::http::try_get;
use xvs_lab::{Keepalived, Lab, Proc};

pub const VIP: &str = "192.168.20.50";
pub const REALS: [&str; 2] = ["192.168.20.233", "192.168.20.203"];

/// A seed configuration file (`config/tests/data/keepalived/FILE`).
pub fn seed(file: &str) -> String {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../config/tests/data/keepalived").join(file);
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// The LAN of the seed notes: client, two directors and two DR reals on one bridge.
pub fn lan(test: &str) -> Lab {
    let mut lab = Lab::new(test);
    lab.ns("sw").ns("cl").ns("xv").ns("ka").ns("r1").ns("r2");
    lab.run("sw", &["ip", "link", "add", "br0", "type", "bridge"]);
    lab.run("sw", &["ip", "link", "set", "br0", "up"]);
    let hosts = [("cl", "c0", "192.168.20.10"), ("xv", "d0", "192.168.20.2"), ("ka", "e0", "192.168.20.3")];
    let reals = [("r1", "e0", REALS[0]), ("r2", "e0", REALS[1])];
    for (i, (ns, dev, addr)) in hosts.iter().chain(reals.iter()).enumerate() {
        let port = format!("p{i}");
        lab.veth((ns, dev), ("sw", &port));
        lab.run("sw", &["ip", "link", "set", &port, "master", "br0"]);
        lab.run(ns, &["ip", "link", "set", "lo", "up"]);
        lab.addr(ns, dev, &format!("{addr}/24"));
    }
    for (ns, _, _) in reals {
        // LVS-DR reals: the VIP on lo, and no ARP answers for it.
        lab.run(ns, &["ip", "addr", "add", &format!("{VIP}/32"), "dev", "lo"]);
        lab.sysctl(ns, "net.ipv4.conf.all.arp_ignore", "1").sysctl(ns, "net.ipv4.conf.all.arp_announce", "2");
    }
    lab
}

/// The two DR reals' HTTP servers, running.
pub fn start_reals(lab: &Lab) -> Vec<Proc> {
    let mut reals = Vec::new();
    for (i, ns) in ["r1", "r2"].iter().enumerate() {
        let mut p = lab.spawn(ns, &["python3", "-u", "-c", &real_server_script(i + 1, 80, 53)]);
        p.wait_for_stdout("listening", Duration::from_secs(10));
        reals.push(p);
    }
    reals
}

/// The seed's files as the pair runs them: the MASTER's (interface `d0`, priority raised
/// to 150) written to `dir`, and the BACKUP's text (interface `e0`).
pub fn seed_configs(dir: &Path) -> (PathBuf, String) {
    let master = seed("seed_master.conf").replace("eno16777736", "d0").replace("priority 100", "priority 150");
    let backup = seed("seed_backup.conf").replace("eno16777736", "e0");
    let conf = dir.join("keepalived-master.conf");
    std::fs::write(&conf, master).unwrap();
    (conf, backup)
}

/// Whether `dev` in `ns` has the VIP.
pub fn has_vip(lab: &Lab, ns: &str, dev: &str) -> bool {
    lab.run(ns, &["ip", "-4", "addr", "show", "dev", dev]).contains(&format!("inet {VIP}/"))
}

/// Waits until `ok`, at most `timeout` (then panics with `log()`); how long it took.
pub fn wait(what: &str, timeout: Duration, mut ok: impl FnMut() -> bool, log: impl Fn() -> String) -> Duration {
    let t0 = Instant::now();
    while !ok() {
        assert!(t0.elapsed() < timeout, "{what}: not within {timeout:?}\n{}", log());
        std::thread::sleep(Duration::from_millis(20));
    }
    t0.elapsed()
}

/// The MAC the client has for the VIP (empty when none).
pub fn client_neigh(lab: &Lab) -> String {
    lab.run("cl", &["ip", "neigh", "show", VIP, "dev", "c0"])
}

/// `dev`'s MAC in `ns` as `ip` prints it.
pub fn mac_text(lab: &Lab, ns: &str, dev: &str) -> String {
    format!("{:02x?}", lab.mac(ns, dev)).replace(", ", ":").replace(['[', ']'], "")
}

/// Whether `GET /` through the VIP from the client answers 200.
pub fn http_ok(lab: &Lab) -> bool {
    let vip: SocketAddr = format!("{VIP}:80").parse().unwrap();
    lab.in_ns("cl", || try_get(vip, "/", None)).map(|r| r.head.status == 200).unwrap_or(false)
}

/// `xvs run` on `conf` in `xv`, with its control socket in `dir`, once it runs.
pub fn start_xvs(lab: &Lab, xvs: &Path, dir: &Path, conf: &Path) -> Proc {
    let sock = dir.join("xvs.sock").display().to_string();
    let conf = conf.display().to_string();
    let xvs = xvs.display().to_string();
    let mut p = lab.spawn("xv", &[&xvs, "run", "-c", &conf, "--control-socket", &sock, "--poll", "adaptive"]);
    p.wait_for_stderr("running:", Duration::from_secs(20));
    p
}

/// The seed pair running on a [`lan`]: the reals' HTTP servers, the seed's files in a
/// fresh directory and keepalived BACKUP in `ka`; `xvs run` (in `xv`) is the caller's.
/// Dropped in field order: the reals, keepalived, then the lab.
pub struct SeedPair {
    pub reals: Vec<Proc>,
    pub ka: Keepalived,
    pub xvs_bin: &'static Path,
    pub dir: PathBuf,
    pub conf: PathBuf,
    pub xv_mac: String,
    pub ka_mac: String,
    pub lab: Lab,
}

impl SeedPair {
    /// Starts the reals, keepalived and `xvs run` (the MASTER) on `lab`.
    pub fn start(lab: Lab) -> (SeedPair, Proc) {
        let dir = std::env::temp_dir().join(lab.name("files"));
        std::fs::create_dir_all(&dir).unwrap();
        let reals = start_reals(&lab);
        let (conf, backup) = seed_configs(&dir);
        let ka = Keepalived::start(&lab, "ka", &backup);
        let xvs_bin = super::xvs();
        let xvs = start_xvs(&lab, xvs_bin, &dir, &conf);
        let xv_mac = mac_text(&lab, "xv", "d0");
        let ka_mac = mac_text(&lab, "ka", "e0");
        (SeedPair { reals, ka, xvs_bin, dir, conf, xv_mac, ka_mac, lab }, xvs)
    }

    /// `xvs run` again on the same configuration and control socket.
    pub fn restart_xvs(&self) -> Proc {
        start_xvs(&self.lab, self.xvs_bin, &self.dir, &self.conf)
    }

    /// Both daemons' logs, for a failure's message.
    pub fn logs(&self, xvs: &Proc) -> String {
        format!("--- xvs\n{}\n--- keepalived\n{}", xvs.stderr(), self.ka.log())
    }

    /// Waits (10 s) until the VIP is on xvs's host and not on keepalived's.
    pub fn wait_vip_on_xvs_alone(&self, what: &str, xvs: &Proc) {
        let lab = &self.lab;
        let alone = || has_vip(lab, "xv", "d0") && !has_vip(lab, "ka", "e0");
        wait(what, Duration::from_secs(10), alone, || self.logs(xvs));
    }

    /// Waits (10 s) until HTTP through the VIP answers.
    pub fn wait_http(&self, what: &str, xvs: &Proc) {
        wait(what, Duration::from_secs(10), || http_ok(&self.lab), || self.logs(xvs));
    }

    /// Stops the reals and removes the directory; keepalived and the lab go with `self`.
    pub fn finish(mut self) {
        self.reals.clear();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
