//! `xvs-bench poll`: what adaptive polling costs against busy polling, through `xvs run`
//! in the namespace lab (NAT, one real, one poll core): request latency after idle gaps
//! (when an adaptive loop has gone to sleep in `poll()`), back-to-back request latency,
//! the director's CPU while idle, and closed-loop requests per second. Both modes run in
//! the same invocation, one after the other, so they meet the same machine.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use clap::Args;
use xvs_lab::director::{DirectorLab, LabMode, VIP4};
use xvs_lab::http::http_get;

#[derive(Args, Debug)]
pub struct PollArgs {
    /// Requests after an idle gap, per mode.
    #[arg(long, default_value_t = 100)]
    pub gapped: usize,
    /// The idle gap before each of those, in milliseconds.
    #[arg(long, default_value_t = 50)]
    pub gap_ms: u64,
    /// Back-to-back requests, per mode.
    #[arg(long, default_value_t = 300)]
    pub back_to_back: usize,
    /// Seconds of closed-loop requests, per mode.
    #[arg(long, default_value_t = 3)]
    pub seconds: u64,
    /// The xvs binary (default: next to this one).
    #[arg(long)]
    pub xvs: Option<PathBuf>,
    #[arg(long)]
    pub json: bool,
}

fn get(addr: SocketAddr) -> Result<Duration, String> {
    let t = Instant::now();
    http_get(addr, "/").map_err(|e| e.to_string())?;
    Ok(t.elapsed())
}

fn cpu_ticks(pid: u32) -> u64 {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let f: Vec<&str> = s.rsplit(')').next().unwrap_or("").split_whitespace().collect();
    let n = |i: usize| f.get(i).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
    n(11) + n(12)
}

fn pct(v: &mut [Duration], p: usize) -> f64 {
    v.sort();
    v.get((v.len() * p / 100).min(v.len().saturating_sub(1))).map(|d| d.as_secs_f64() * 1e6).unwrap_or(0.0)
}

/// One mode's figures (microseconds, percent of a core, requests per second).
#[derive(Debug)]
pub struct ModeFigures {
    pub mode: &'static str,
    pub idle_p50_us: f64,
    pub idle_p99_us: f64,
    pub b2b_p50_us: f64,
    pub b2b_p99_us: f64,
    pub idle_cpu_pct: f64,
    pub closed_loop_rps: f64,
}

fn one(mode: &'static str, a: &PollArgs, xvs: &std::path::Path) -> Result<ModeFigures, String> {
    let mut lab = DirectorLab::new(&format!("poll_{mode}"), LabMode::Nat, 1, 1);
    lab.try_start_reals(xvs)?;
    let cfg = lab.config("rr", None, "").replace("poll = \"adaptive\"", &format!("poll = \"{mode}\"\ncores = [0]"));
    let cfg = lab.write_config(&cfg);
    let d = lab.try_start_director(xvs, &cfg, &[])?;
    let pid = lab.procs[d].pid();
    let vip = SocketAddr::new(VIP4.into(), 80);
    let (gap, n, sec) = (Duration::from_millis(a.gap_ms), a.gapped, a.back_to_back);
    let (mut gapped, mut b2b) = lab.lab.in_ns("cl", move || -> Result<(Vec<Duration>, Vec<Duration>), String> {
        for _ in 0..20 {
            get(vip)?;
        }
        let mut g = Vec::with_capacity(n);
        for _ in 0..n {
            std::thread::sleep(gap);
            g.push(get(vip)?);
        }
        let mut b = Vec::with_capacity(sec);
        for _ in 0..sec {
            b.push(get(vip)?);
        }
        Ok((g, b))
    })?;
    let t0 = cpu_ticks(pid);
    std::thread::sleep(Duration::from_secs(3));
    let tick = nix::unistd::sysconf(nix::unistd::SysconfVar::CLK_TCK).ok().flatten().unwrap_or(100) as f64;
    let idle_cpu_pct = (cpu_ticks(pid) - t0) as f64 / tick / 3.0 * 100.0;
    let secs = a.seconds;
    let done = lab.lab.in_ns("cl", move || -> Result<u64, String> {
        let t = Instant::now();
        let mut k = 0;
        while t.elapsed() < Duration::from_secs(secs) {
            get(vip)?;
            k += 1;
        }
        Ok(k)
    })?;
    Ok(ModeFigures {
        mode,
        idle_p50_us: pct(&mut gapped, 50),
        idle_p99_us: pct(&mut gapped, 99),
        b2b_p50_us: pct(&mut b2b, 50),
        b2b_p99_us: pct(&mut b2b, 99),
        idle_cpu_pct,
        closed_loop_rps: done as f64 / secs as f64,
    })
}

pub fn run(a: &PollArgs) -> Result<Vec<ModeFigures>, String> {
    if !nix::unistd::geteuid().is_root() {
        return Err("needs root (network namespaces, XDP, AF_XDP)".into());
    }
    let xvs = match &a.xvs {
        Some(p) => p.clone(),
        None => std::env::current_exe().map_err(|e| e.to_string())?.with_file_name("xvs"),
    };
    if !xvs.is_file() {
        return Err(format!(
            "the xvs binary {} is missing: cargo build --release -p xvs, or --xvs PATH",
            xvs.display()
        ));
    }
    Ok(vec![one("busy", a, &xvs)?, one("adaptive", a, &xvs)?])
}

pub fn print(figs: &[ModeFigures], json: bool) {
    if json {
        let v: Vec<serde_json::Value> = figs
            .iter()
            .map(|f| {
                serde_json::json!({
                    "mode": f.mode, "idle_p50_us": f.idle_p50_us, "idle_p99_us": f.idle_p99_us,
                    "b2b_p50_us": f.b2b_p50_us, "b2b_p99_us": f.b2b_p99_us,
                    "idle_cpu_pct": f.idle_cpu_pct, "closed_loop_rps": f.closed_loop_rps,
                })
            })
            .collect();
        println!("{}", serde_json::Value::Array(v));
        return;
    }
    println!("mode      after-idle p50/p99 (us)   back-to-back p50/p99 (us)   idle CPU   closed-loop req/s");
    for f in figs {
        println!(
            "{:<9} {:>9.0} / {:<12.0} {:>11.0} / {:<13.0} {:>6.1}%   {:>10.0}",
            f.mode, f.idle_p50_us, f.idle_p99_us, f.b2b_p50_us, f.b2b_p99_us, f.idle_cpu_pct, f.closed_loop_rps
        );
    }
}
