//! `xvs-bench cps`: new TCP connections per second through the VIP, HTTP/1.0 style (one
//! request per connection), for xvs NAT and DR, the kernel's nftables DNAT and HAProxy in
//! TCP mode, on the same veth labs, in interleaved rounds; the figures that decide are
//! ratios within the run.
//!
//! Procedure: a NAT lab (xvs NAT, nftables, HAProxy) and a DR lab (xvs DR), both
//! `xvs_lab::director`; every real runs this harness's `cps-serve` (a plain accept loop per
//! thread: read the request, answer `200`, close). `--repeat` rounds, each over every
//! director in turn: start it (xvs on `--dir-core` with adaptive polling, HAProxy with one
//! thread pinned there; nftables needs no process), let `--clients` client threads open,
//! ask and close connections back to back for `--seconds`, count the complete answers,
//! stop it. A connection that fails or gets no `200` is an error, counted. Every figure
//! is a median over the rounds.
//!
//! Invariants: the labs and every process go away on every exit path (their `Drop`); the
//! client's ephemeral ports span 1024-65535 and no director reuses a port still in
//! TIME_WAIT for long (xvs and conntrack take a new SYN on a TIME_WAIT tuple); nothing is
//! skipped for want of root, HAProxy or nftables: the run fails and says why.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};

use serde_json::json;
use xvs_lab::director::{real_addrs, DirectorLab, LabMode, DIRECTOR_DEV, VIP4};

use crate::report::median;

/// The port the reals serve on in the NAT lab (the VIP's 80 maps to it); 80 in DR.
const NAT_REAL_PORT: u16 = 8080;
const ANSWER: &[u8] = b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok";

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum CpsDirector {
    /// `xvs run`, NAT
    XvsNat,
    /// `xvs run`, DR
    XvsDr,
    /// the kernel: nftables DNAT
    Kernel,
    /// HAProxy in TCP mode, one thread
    Haproxy,
}

impl CpsDirector {
    pub const ALL: [CpsDirector; 4] =
        [CpsDirector::XvsNat, CpsDirector::XvsDr, CpsDirector::Kernel, CpsDirector::Haproxy];

    fn key(self) -> &'static str {
        match self {
            CpsDirector::XvsNat => "xvs_nat",
            CpsDirector::XvsDr => "xvs_dr",
            CpsDirector::Kernel => "kernel",
            CpsDirector::Haproxy => "haproxy",
        }
    }
}

#[derive(Clone, Debug, clap::Args)]
pub struct CpsArgs {
    /// Length of one measurement window
    #[arg(long, default_value_t = 2.0)]
    pub seconds: f64,
    /// Rounds over all directors; figures are medians over them
    #[arg(long, default_value_t = 3)]
    pub repeat: usize,
    /// Real servers
    #[arg(long, default_value_t = 2)]
    pub reals: usize,
    /// Client threads, each one connection at a time
    #[arg(long, default_value_t = 16)]
    pub clients: usize,
    /// Directors to measure, in this order
    #[arg(long, value_enum, value_delimiter = ',', default_values_t = CpsDirector::ALL)]
    pub directors: Vec<CpsDirector>,
    /// The core xvs's poll loop and HAProxy run on
    #[arg(long, default_value_t = 0)]
    pub dir_core: usize,
    /// The `xvs` binary (default: beside this one)
    #[arg(long)]
    pub xvs: Option<PathBuf>,
    /// One JSON object instead of text
    #[arg(long)]
    pub json: bool,
}

/// `cps-serve`: what each real runs.
#[derive(Clone, Debug, clap::Args)]
pub struct ServeArgs {
    #[arg(long)]
    pub port: u16,
    /// Accept loops (threads)
    #[arg(long, default_value_t = 2)]
    pub threads: usize,
}

/// Answer every connection on `port` with [`ANSWER`] and close it, forever.
pub fn serve(a: &ServeArgs) -> Result<(), String> {
    let l = TcpListener::bind(("0.0.0.0", a.port)).map_err(|e| format!("bind :{}: {e}", a.port))?;
    println!("listening");
    let _ = std::io::stdout().flush();
    std::thread::scope(|s| {
        for _ in 0..a.threads.max(1) {
            let l = &l;
            s.spawn(move || loop {
                let Ok((mut c, _)) = l.accept() else { continue };
                let mut buf = [0u8; 1024];
                let mut got = 0;
                while got < buf.len() {
                    match c.read(&mut buf[got..]) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => got += n,
                    }
                    if buf[..got].windows(4).any(|w| w == b"\r\n\r\n") {
                        let _ = c.write_all(ANSWER);
                        break;
                    }
                }
            });
        }
    });
    Ok(())
}

/// One connection: connect, ask, read to the end; whether a `200` came.
fn one(vip: SocketAddr) -> bool {
    let Ok(mut s) = TcpStream::connect_timeout(&vip, Duration::from_secs(1)) else { return false };
    let _ = s.set_read_timeout(Some(Duration::from_secs(1)));
    if s.write_all(b"GET / HTTP/1.0\r\n\r\n").is_err() {
        return false;
    }
    let mut buf = Vec::with_capacity(64);
    s.read_to_end(&mut buf).is_ok() && buf.starts_with(b"HTTP/1.0 200")
}

/// `clients` threads in the lab's client namespace for `window`: (answers, errors).
fn drive(lab: &DirectorLab, clients: usize, window: Duration) -> (u64, u64) {
    let vip = SocketAddr::from((VIP4, 80));
    lab.lab.in_ns("cl", || {
        let (ok, err, stop) = (AtomicU64::new(0), AtomicU64::new(0), AtomicBool::new(false));
        std::thread::scope(|s| {
            for _ in 0..clients {
                s.spawn(|| {
                    while !stop.load(Relaxed) {
                        if one(vip) { &ok } else { &err }.fetch_add(1, Relaxed);
                    }
                });
            }
            std::thread::sleep(window);
            stop.store(true, Relaxed);
        });
        (ok.load(Relaxed), err.load(Relaxed))
    })
}

fn lab(mode: LabMode, a: &CpsArgs, exe: &Path, xvs: &Path) -> Result<DirectorLab, String> {
    let mut lab = DirectorLab::new(&format!("bench-cps-{}", mode.name()), mode, a.reals, 1);
    lab.lab.sysctl("cl", "net.ipv4.ip_local_port_range", "1024 65535");
    let port = if mode == LabMode::Nat { NAT_REAL_PORT } else { 80 };
    for i in 0..a.reals {
        let ns = format!("r{i}");
        let (exe, port) = (exe.display().to_string(), port.to_string());
        lab.procs.push(lab.lab.spawn(&ns, &[&exe, "cps-serve", "--port", &port]));
        lab.procs.last_mut().expect("pushed").try_wait_for("listening", Duration::from_secs(10), false)?;
        if mode == LabMode::Dr {
            let xvs = xvs.display().to_string();
            lab.procs.push(lab.lab.spawn(&ns, &[&xvs, "realserver", "--vip", "10.0.1.100"]));
            lab.procs.last_mut().expect("pushed").try_wait_for("VIPs on lo", Duration::from_secs(10), false)?;
        }
        // The director forwards to the reals' MACs from its kernel's neighbour table.
        lab.lab.exec("dir", &["ping", "-c1", "-W1", &real_addrs(i).0.to_string()], Duration::from_secs(3));
    }
    Ok(lab)
}

fn xvs_config(lab: &DirectorLab, a: &CpsArgs, mode: LabMode) -> String {
    let rport = if mode == LabMode::Nat { NAT_REAL_PORT } else { 80 };
    let mut s = format!(
        "[director]\ninterfaces = [\"{DIRECTOR_DEV}\"]\ncores = [{}]\npoll = \"adaptive\"\nmax_connections = 1000000\n\
         control_socket = \"{}\"\naddress = \"10.0.2.1\"\n\n[[service]]\nvip = \"{VIP4}:80\"\nprotocol = \"tcp\"\n\
         scheduler = \"rr\"\nforward = \"{}\"\n",
        a.dir_core,
        lab.dir().join("xvs.sock").display(),
        mode.name()
    );
    s.push_str(&crate::veth::reals_toml(a.reals, rport));
    s
}

fn nft_rules(a: &CpsArgs) -> String {
    crate::veth::nft_dnat("xvscps", "tcp", 80, a.reals, NAT_REAL_PORT)
}

fn haproxy_config(a: &CpsArgs) -> String {
    let mut s = format!(
        "global\n    nbthread 1\n    cpu-map 1/1 {}\n    maxconn 8000\n\ndefaults\n    mode tcp\n    \
         timeout connect 2s\n    timeout client 5s\n    timeout server 5s\n\nfrontend vip\n    bind {VIP4}:80\n    \
         default_backend reals\n\nbackend reals\n    balance roundrobin\n",
        a.dir_core
    );
    for i in 0..a.reals {
        s.push_str(&format!("    server r{i} {}:{NAT_REAL_PORT}\n", real_addrs(i).0));
    }
    s
}

fn run_cmd(lab: &DirectorLab, cmd: &[&str]) -> Result<(), String> {
    let o = lab.lab.exec("dir", cmd, Duration::from_secs(10));
    if o.status.success() {
        Ok(())
    } else {
        Err(format!("{}: {}", cmd.join(" "), String::from_utf8_lossy(&o.stderr).trim()))
    }
}

/// Start `d` in `lab`; the number of processes it added to `lab.procs`.
fn start(lab: &mut DirectorLab, a: &CpsArgs, d: CpsDirector, xvs: &Path) -> Result<usize, String> {
    match d {
        CpsDirector::XvsNat | CpsDirector::XvsDr => {
            let mode = if d == CpsDirector::XvsNat { LabMode::Nat } else { LabMode::Dr };
            let path = lab.dir().join("xvs.toml");
            std::fs::write(&path, xvs_config(lab, a, mode)).map_err(|e| format!("{}: {e}", path.display()))?;
            lab.try_start_director(xvs, &path, &[])?;
            Ok(1)
        }
        CpsDirector::Kernel => {
            let path = lab.dir().join("cps.nft");
            std::fs::write(&path, nft_rules(a)).map_err(|e| format!("{}: {e}", path.display()))?;
            run_cmd(lab, &["nft", "-f", &path.display().to_string()])?;
            Ok(0)
        }
        CpsDirector::Haproxy => {
            let path = lab.dir().join("haproxy.cfg");
            std::fs::write(&path, haproxy_config(a)).map_err(|e| format!("{}: {e}", path.display()))?;
            run_cmd(lab, &["ip", "addr", "add", &format!("{VIP4}/32"), "dev", "lo"])?;
            let cfg = path.display().to_string();
            lab.procs.push(lab.lab.spawn("dir", &["haproxy", "-db", "-f", &cfg]));
            // HAProxy says nothing when it is up: wait for its port.
            let t0 = Instant::now();
            while !lab.lab.run("dir", &["ss", "-Hltn", "sport = :80"]).contains(":80") {
                if t0.elapsed() > Duration::from_secs(10) {
                    let p = lab.procs.last().expect("pushed");
                    return Err(format!(
                        "haproxy did not listen within 10 s (is it installed? scripts/setup.sh installs it):\n{}",
                        p.dump()
                    ));
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            Ok(1)
        }
    }
}

fn stop(lab: &mut DirectorLab, d: CpsDirector, procs: usize) -> Result<(), String> {
    for _ in 0..procs {
        if let Some(mut p) = lab.procs.pop() {
            p.terminate(Duration::from_secs(10));
        }
    }
    match d {
        CpsDirector::Kernel => run_cmd(lab, &["nft", "delete", "table", "ip", "xvscps"]),
        CpsDirector::Haproxy => run_cmd(lab, &["ip", "addr", "del", &format!("{VIP4}/32"), "dev", "lo"]),
        _ => Ok(()),
    }
}

/// Connections per second and errors of each director, every round.
pub struct CpsReport {
    pub args: CpsArgs,
    /// (director, connections per second of each round, errors of each round)
    pub runs: Vec<(CpsDirector, Vec<f64>, Vec<u64>)>,
}

impl CpsReport {
    fn cps(&self, d: CpsDirector) -> Option<f64> {
        self.runs.iter().find(|r| r.0 == d).map(|r| median(r.1.clone()))
    }

    /// xvs's medians over the others': `xvs_nat_over_kernel`, ...
    fn ratios(&self) -> Vec<(String, f64)> {
        let mut out = Vec::new();
        for x in [CpsDirector::XvsNat, CpsDirector::XvsDr] {
            for o in [CpsDirector::Kernel, CpsDirector::Haproxy] {
                if let (Some(a), Some(b)) = (self.cps(x), self.cps(o)) {
                    out.push((format!("{}_over_{}", x.key(), o.key()), if b > 0.0 { a / b } else { 0.0 }));
                }
            }
        }
        out
    }

    pub fn to_json(&self) -> serde_json::Value {
        let mut v = json!({
            "seconds": self.args.seconds, "repeat": self.args.repeat, "clients": self.args.clients,
            "reals": self.args.reals,
        });
        for (d, cps, errors) in &self.runs {
            v[format!("{}_cps", d.key())] = json!(median(cps.clone()));
            v[format!("{}_cps_runs", d.key())] = json!(cps);
            v[format!("{}_errors", d.key())] = json!(errors.iter().sum::<u64>());
        }
        for (k, r) in self.ratios() {
            v[k] = json!(r);
        }
        v
    }

    pub fn to_text(&self) -> String {
        let mut s = format!(
            "new connections per second through the VIP ({} clients, {} reals, {} s windows, median of {}):\n",
            self.args.clients, self.args.reals, self.args.seconds, self.args.repeat
        );
        for (d, cps, errors) in &self.runs {
            s.push_str(&format!(
                "  {:<8} {:>9.0}  (runs {:?}, errors {})\n",
                d.key(),
                median(cps.clone()),
                cps.iter().map(|c| c.round() as u64).collect::<Vec<_>>(),
                errors.iter().sum::<u64>()
            ));
        }
        for (k, r) in self.ratios() {
            s.push_str(&format!("  {k}: {r:.2}\n"));
        }
        s
    }
}

pub fn run(a: &CpsArgs) -> Result<CpsReport, String> {
    let exe = std::env::current_exe().map_err(|e| format!("locating this executable: {e}"))?;
    let xvs = match &a.xvs {
        Some(p) => p.clone(),
        None => exe.with_file_name("xvs"),
    };
    if !xvs.exists() {
        return Err(format!("{}: no xvs binary (build it, or give --xvs)", xvs.display()));
    }
    let needs = |m: LabMode| a.directors.iter().any(|d| (*d == CpsDirector::XvsDr) == (m == LabMode::Dr));
    let mut nat = if needs(LabMode::Nat) { Some(lab(LabMode::Nat, a, &exe, &xvs)?) } else { None };
    let mut dr = if needs(LabMode::Dr) { Some(lab(LabMode::Dr, a, &exe, &xvs)?) } else { None };
    let mut runs: Vec<(CpsDirector, Vec<f64>, Vec<u64>)> =
        a.directors.iter().map(|d| (*d, Vec::new(), Vec::new())).collect();
    let window = Duration::from_secs_f64(a.seconds);
    for _ in 0..a.repeat.max(1) {
        for r in runs.iter_mut() {
            let d = r.0;
            let lab = if d == CpsDirector::XvsDr { dr.as_mut() } else { nat.as_mut() }.expect("made above");
            let procs = start(lab, a, d, &xvs)?;
            // Warm-up: the first connections resolve neighbours and fill caches.
            drive(lab, a.clients, Duration::from_millis(300));
            let (ok, err) = drive(lab, a.clients, window);
            stop(lab, d, procs)?;
            r.1.push(ok as f64 / window.as_secs_f64());
            r.2.push(err);
        }
    }
    Ok(CpsReport { args: a.clone(), runs })
}
