//! `xvs-bench veth`: end to end through AF_XDP on a veth lab, one lab and one generator
//! for every director, side by side: the raw AF_XDP forwarder (the I/O limit), `xvs run`
//! in NAT and in DR mode, and the kernel (nftables DNAT, IP forwarding).
//!
//! Procedure: build the lab (`crate::veth_lab`), start the generator (`crate::xdpgen`) in
//! the client's namespace on `--gen-core`; then, `--repeat` times, for each director in
//! turn: start it on `--dir-core`, warm it up until the sinks see its traffic (every flow
//! seen once: connections, conntrack entries), on the first round measure the generator's
//! maximum, and offer each load (`--loads` steps up to the maximum; the last step sends as
//! fast as the generator can) for `--seconds`, reading the sinks, the director core's and
//! the director process's CPU time around each window; stop it. Rounds interleave the
//! directors so that the VM's slow spells hit all of them; every figure is a median over
//! the rounds.
//!
//! Invariants: the lab and every process started here go away on every exit path (the
//! lab's and the processes' `Drop`, the nftables table with the namespace); nothing is
//! skipped for want of root or namespaces: the run fails and says why.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use xvs_lab::director::{real_addrs, CLIENT4, DIRECTOR_DEV, VIP4};

use crate::cpu;
use crate::veth_lab::{mac_str, BenchLab, CLIENT_DEV};
use crate::veth_report::{Director, Point, Sample, VethReport};
use crate::xdpgen::{GenSpec, Generator, MAX_FLOWS};

/// The service port the generator sends to; NAT maps it to [`REAL_PORT`].
pub const VPORT: u16 = 53;
pub const REAL_PORT: u16 = 5353;
/// Warm-up before a director's first window: every flow gets created.
const WARMUP: Duration = Duration::from_millis(500);
/// After a window, time for frames still queued in the director to reach the sinks.
const SETTLE: Duration = Duration::from_millis(50);
/// How long warm-up rounds go on before a director that delivers nothing is an error.
const WARMUP_LIMIT: Duration = Duration::from_secs(5);

#[derive(Clone, Debug, clap::Args)]
pub struct VethArgs {
    /// Length of one measurement window
    #[arg(long, default_value_t = 2.0)]
    pub seconds: f64,
    /// Offered loads: this many even steps up to the generator's maximum (1 = the maximum only)
    #[arg(long, default_value_t = 4)]
    pub loads: usize,
    /// Rounds over all directors; figures are medians over them
    #[arg(long, default_value_t = 3)]
    pub repeat: usize,
    /// Real servers
    #[arg(long, default_value_t = 4)]
    pub reals: usize,
    /// Client flows (source ports), each sent again and again
    #[arg(long, default_value_t = 1024)]
    pub flows: u32,
    /// Ethernet frame length without FCS (60 = the minimum)
    #[arg(long, default_value_t = 60)]
    pub frame_len: usize,
    /// Directors to measure, in this order
    #[arg(long, value_enum, value_delimiter = ',', default_values_t = Director::ALL)]
    pub directors: Vec<Director>,
    /// The generator's core
    #[arg(long, default_value_t = 1)]
    pub gen_core: usize,
    /// The director's core
    #[arg(long, default_value_t = 0)]
    pub dir_core: usize,
    /// The `xvs` binary (default: `xvs` next to this executable)
    #[arg(long)]
    pub xvs: Option<PathBuf>,
    /// Print one JSON object instead of text
    #[arg(long)]
    pub json: bool,
    /// Also write the JSON object to this file (with the text on stdout)
    #[arg(long)]
    pub json_file: Option<PathBuf>,
    /// Print what each director said when it stopped (its counters), on stderr
    #[arg(long)]
    pub verbose: bool,
    /// Connections-per-second mode: new TCP connections through the VIP for xvs NAT and
    /// DR, nftables DNAT and HAProxy (what `xvs-bench cps` does, with --seconds,
    /// --repeat, --reals, --dir-core, --xvs and --json taken from here)
    #[arg(long)]
    pub cps: bool,
    /// With --cps: client threads, each one connection at a time
    #[arg(long, default_value_t = 16)]
    pub clients: usize,
}

impl VethArgs {
    /// The `cps` run that `--cps` stands for.
    pub fn cps_args(&self) -> crate::cps::CpsArgs {
        crate::cps::CpsArgs {
            seconds: self.seconds,
            repeat: self.repeat,
            reals: self.reals,
            clients: self.clients,
            directors: crate::cps::CpsDirector::ALL.to_vec(),
            dir_core: self.dir_core,
            xvs: self.xvs.clone(),
            json: self.json,
        }
    }
}

fn validate(a: &VethArgs) -> Result<(), String> {
    if a.seconds.is_nan() || a.seconds <= 0.0 || a.loads == 0 || a.repeat == 0 {
        return Err("--seconds must be positive, --loads and --repeat at least 1".into());
    }
    if a.reals == 0 || a.reals > 200 || a.flows == 0 || a.flows > MAX_FLOWS {
        return Err(format!("--reals must be 1..=200, --flows 1..={MAX_FLOWS}"));
    }
    if !(60..=1514).contains(&a.frame_len) {
        return Err("--frame-len must be 60..=1514".into());
    }
    if a.gen_core == a.dir_core {
        return Err("--gen-core and --dir-core must differ".into());
    }
    if a.directors.is_empty() {
        return Err("--directors is empty".into());
    }
    if !nix::unistd::geteuid().is_root() {
        return Err("needs root (network namespaces, veth, XDP, AF_XDP)".into());
    }
    Ok(())
}

fn xvs_binary(a: &VethArgs) -> Result<PathBuf, String> {
    let p = match &a.xvs {
        Some(p) => p.clone(),
        None => std::env::current_exe().map_err(|e| format!("locating this executable: {e}"))?.with_file_name("xvs"),
    };
    if !p.is_file() {
        return Err(format!(
            "the xvs binary {} is missing: build it (cargo build --release -p xvs) or pass --xvs PATH",
            p.display()
        ));
    }
    Ok(p)
}

/// The xvs config of the benchmark's service, in `mode` (nat | dr).
fn xvs_config(lab: &BenchLab, a: &VethArgs, mode: &str) -> String {
    let rport = if mode == "nat" { REAL_PORT } else { VPORT };
    let mut s = format!(
        "[director]\ncores = [{}]\ninterfaces = [\"{DIRECTOR_DEV}\"]\npoll = \"busy\"\nmax_connections = {}\n\
         control_socket = \"{}\"\naddress = \"10.0.2.1\"\n\n\
         [[service]]\nvip = \"{VIP4}:{VPORT}\"\nprotocol = \"udp\"\nscheduler = \"rr\"\nforward = \"{mode}\"\n",
        a.dir_core,
        (a.flows as u64 * 4).max(65536),
        lab.lab.dir().join("xvs.sock").display()
    );
    s.push_str(&reals_toml(a.reals, rport));
    s
}

/// The `[[service.real]]` tables of the lab's first `reals` reals on `port`.
pub fn reals_toml(reals: usize, port: u16) -> String {
    (0..reals).map(|i| format!("  [[service.real]]\n  addr = \"{}:{port}\"\n", real_addrs(i).0)).collect()
}

/// The kernel's configuration: table `table` DNATs `proto` to the VIP's `port` round
/// robin over the lab's first `reals` reals on `real_port` (the first packet of a flow
/// picks; conntrack keeps the rest of the flow there).
pub fn nft_dnat(table: &str, proto: &str, port: u16, reals: usize, real_port: u16) -> String {
    let map: Vec<String> = (0..reals).map(|i| format!("{i} : {}", real_addrs(i).0)).collect();
    format!(
        "table ip {table} {{\n  chain pre {{\n    type nat hook prerouting priority dstnat; policy accept;\n    \
         ip daddr {VIP4} {proto} dport {port} dnat to numgen inc mod {reals} map {{ {} }} : {real_port}\n  }}\n}}\n",
        map.join(", ")
    )
}

fn nft_rules(a: &VethArgs) -> String {
    nft_dnat("xvsbench", "udp", VPORT, a.reals, REAL_PORT)
}

/// A director started in the lab; `pid` for the userspace ones.
struct Running {
    pid: Option<u32>,
}

fn start(lab: &mut BenchLab, a: &VethArgs, d: Director, xvs: &std::path::Path) -> Result<Running, String> {
    match d {
        Director::Raw => {
            let exe = std::env::current_exe().map_err(|e| format!("locating this executable: {e}"))?;
            let exe = exe.display().to_string();
            let core = a.dir_core.to_string();
            let vip = VIP4.to_string();
            let port = VPORT.to_string();
            let macs: Vec<String> = lab.real_macs.iter().map(mac_str).collect();
            let mut cmd = vec![
                exe.as_str(),
                "raw-forward",
                "--iface",
                DIRECTOR_DEV,
                "--core",
                &core,
                "--vip",
                &vip,
                "--port",
                &port,
            ];
            for m in &macs {
                cmd.extend(["--real-mac", m.as_str()]);
            }
            let p = lab.lab.lab.spawn("dir", &cmd);
            lab.lab.procs.push(p);
            let p = lab.lab.procs.last_mut().expect("just pushed");
            p.try_wait_for("running:", Duration::from_secs(20), true)?;
            Ok(Running { pid: Some(p.pid()) })
        }
        Director::XvsNat | Director::XvsDr => {
            let mode = if d == Director::XvsNat { "nat" } else { "dr" };
            let path = lab.lab.dir().join(format!("xvs-{mode}.toml"));
            std::fs::write(&path, xvs_config(lab, a, mode)).map_err(|e| format!("{}: {e}", path.display()))?;
            let i = lab.lab.try_start_director(xvs, &path, &[])?;
            Ok(Running { pid: Some(lab.lab.procs[i].pid()) })
        }
        Director::Kernel => {
            let path = lab.lab.dir().join("kernel.nft");
            std::fs::write(&path, nft_rules(a)).map_err(|e| format!("{}: {e}", path.display()))?;
            let p = path.display().to_string();
            let o = lab.lab.lab.exec("dir", &["nft", "-f", &p], Duration::from_secs(10));
            if !o.status.success() {
                return Err(format!(
                    "nft -f {p}: {} (is nftables installed? scripts/setup.sh installs it)",
                    String::from_utf8_lossy(&o.stderr).trim()
                ));
            }
            Ok(Running { pid: None })
        }
    }
}

fn stop(lab: &mut BenchLab, d: Director, verbose: bool) -> Result<(), String> {
    match d {
        Director::Kernel => {
            let o = lab.lab.lab.exec("dir", &["nft", "delete", "table", "ip", "xvsbench"], Duration::from_secs(10));
            if !o.status.success() {
                return Err(format!("nft delete table: {}", String::from_utf8_lossy(&o.stderr).trim()));
            }
        }
        _ => {
            if let Some(mut p) = lab.lab.procs.pop() {
                let status = p.terminate(Duration::from_secs(10));
                if verbose {
                    eprintln!("--- {} stopped ({status}):\n{}", d.name(), p.stderr().trim_end());
                }
                if !status.success() {
                    return Err(format!("{} exited with {status}\n{}", d.name(), p.dump()));
                }
            }
        }
    }
    Ok(())
}

/// One window at `rate` (None: as fast as the generator can).
fn measure(
    lab: &BenchLab,
    gen: &Generator,
    a: &VethArgs,
    rate: Option<f64>,
    pid: Option<u32>,
    tick_ns: f64,
) -> Result<Sample, String> {
    let s0 = lab.sinks.counts()?;
    let c0 = cpu::core_times(a.dir_core).ok_or("reading /proc/stat")?;
    let p0 = pid.and_then(cpu::process_times);
    let sent = gen.run(rate, a.seconds)?;
    let c1 = cpu::core_times(a.dir_core).ok_or("reading /proc/stat")?;
    let p1 = pid.and_then(cpu::process_times);
    std::thread::sleep(SETTLE);
    let s1 = lab.sinks.counts()?;
    let proc_ticks = match (p0, p1) {
        (Some(x), Some(y)) => Some((y.0 + y.1).saturating_sub(x.0 + x.1)),
        _ => None,
    };
    Ok(Sample {
        offered: sent.packets,
        delivered: s1.0.saturating_sub(s0.0),
        other: s1.1.saturating_sub(s0.1),
        secs: sent.secs,
        core: c1.since(&c0),
        proc_ticks,
        tick_ns,
    })
}

/// Warm a director up at a quarter of the generator's maximum until the sinks have seen
/// its traffic. A director's first frames can be lost while its socket or the veth pair
/// settles, and a window measured then would report 0 pps; a director that delivers
/// nothing for [`WARMUP_LIMIT`] is an error, not a zero.
fn warm_up(lab: &BenchLab, gen: &Generator, gen_max: f64) -> Result<(), String> {
    let t = Instant::now();
    let mut rounds = 0u32;
    loop {
        let s0 = lab.sinks.counts()?;
        let sent = gen.run(Some(gen_max * 0.25), WARMUP.as_secs_f64())?;
        std::thread::sleep(SETTLE);
        let s1 = lab.sinks.counts()?;
        rounds += 1;
        if s1.0 > s0.0 {
            return Ok(());
        }
        if t.elapsed() >= WARMUP_LIMIT {
            return Err(format!(
                "the sinks saw nothing from the director in {rounds} warm-up rounds ({:.1} s; the last one offered {} \
                 frames)",
                t.elapsed().as_secs_f64(),
                sent.packets
            ));
        }
    }
}

/// Each director's points, one per load step, from its samples over the rounds.
fn points_of(a: &VethArgs, samples: Vec<Vec<Vec<Sample>>>) -> Vec<(Director, Vec<Point>)> {
    a.directors
        .iter()
        .zip(samples.iter())
        .map(|(&d, per_load)| {
            let points = per_load
                .iter()
                .enumerate()
                .map(|(li, s)| Point::from_samples((li + 1) as f64 / a.loads as f64, s))
                .collect();
            (d, points)
        })
        .collect()
}

/// A note for every point where the sinks saw UDP that the director did not send.
fn flooding_notes(results: &[(Director, Vec<Point>)]) -> Vec<String> {
    let mut notes = Vec::new();
    for (d, points) in results {
        for p in points {
            if p.other_pps > 0.01 * p.delivered_pps.max(1.0) {
                notes.push(format!(
                    "{}: the sinks saw {:.0} pps of UDP not from the director (flooding?)",
                    d.name(),
                    p.other_pps
                ));
            }
        }
    }
    notes
}

/// Run the benchmark.
pub fn run(a: &VethArgs) -> Result<VethReport, String> {
    validate(a)?;
    let wall = Instant::now();
    let needs_xvs = a.directors.iter().any(|d| matches!(d, Director::XvsNat | Director::XvsDr));
    let xvs = if needs_xvs { xvs_binary(a)? } else { PathBuf::new() };
    // The orchestration itself stays off the director's core.
    core_affinity::set_for_current(core_affinity::CoreId { id: a.gen_core });
    let mut lab = BenchLab::new(a.reals, a.dir_core, a.gen_core)?;
    let gen = Generator::start(GenSpec {
        netns: lab.netns_path("cl"),
        ifname: CLIENT_DEV.into(),
        core: a.gen_core,
        src_mac: lab.client_mac,
        dst_mac: lab.dir_mac,
        src_ip: CLIENT4,
        dst: std::net::SocketAddrV4::new(VIP4, VPORT),
        flows: a.flows,
        frame_len: a.frame_len,
    })?;
    let tick_ns = 1e9 / cpu::ticks_per_sec() as f64;
    let dirs = &a.directors;
    // samples[director][load] over the rounds
    let mut samples: Vec<Vec<Vec<Sample>>> = vec![vec![Vec::new(); a.loads]; dirs.len()];
    let mut gen_max = 0.0f64;
    let mut pinned = true;
    for round in 0..a.repeat {
        for (di, &d) in dirs.iter().enumerate() {
            let running = start(&mut lab, a, d, &xvs)?;
            let result = (|| -> Result<(), String> {
                std::thread::sleep(Duration::from_millis(200));
                if round == 0 && di == 0 {
                    let s = gen.run(None, a.seconds.min(1.0))?;
                    pinned &= s.pinned;
                    gen_max = s.packets as f64 / s.secs;
                    if gen_max <= 0.0 {
                        return Err("the generator sent nothing".into());
                    }
                }
                warm_up(&lab, &gen, gen_max)?;
                for (li, slot) in samples[di].iter_mut().enumerate() {
                    let step = li + 1;
                    let rate = (step < a.loads).then(|| gen_max * step as f64 / a.loads as f64);
                    slot.push(measure(&lab, &gen, a, rate, running.pid, tick_ns)?);
                }
                Ok(())
            })();
            if a.verbose && d == Director::Kernel {
                let o = lab.lab.lab.exec("dir", &["nstat", "-az"], Duration::from_secs(5));
                let keep = ["IpInReceives", "IpForwDatagrams", "IpOutRequests", "IpInDiscards", "IpOutNoRoutes"];
                let text = String::from_utf8_lossy(&o.stdout);
                let lines: Vec<&str> = text.lines().filter(|l| keep.iter().any(|k| l.starts_with(k))).collect();
                eprintln!("--- kernel (nstat in the director's namespace):\n{}", lines.join("\n"));
            }
            // A failed director's own output (its counters at exit) goes with the error.
            let stopped = stop(&mut lab, d, a.verbose || result.is_err());
            result.map_err(|e| format!("{}: {e}", d.name()))?;
            stopped?;
        }
    }
    let results = points_of(a, samples);
    let notes = flooding_notes(&results);
    drop(gen);
    drop(lab);
    Ok(VethReport {
        seconds: a.seconds,
        repeat: a.repeat,
        reals: a.reals,
        flows: a.flows,
        frame_len: a.frame_len,
        gen_core: a.gen_core,
        dir_core: a.dir_core,
        gen_max_pps: gen_max,
        pinned,
        results,
        notes,
        wall_secs: wall.elapsed().as_secs_f64(),
        bench_pid: std::process::id(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kernel_rules_map_every_real() {
        let a = VethArgs {
            seconds: 1.0,
            loads: 1,
            repeat: 1,
            reals: 3,
            flows: 10,
            frame_len: 60,
            directors: Director::ALL.to_vec(),
            gen_core: 1,
            dir_core: 0,
            xvs: None,
            json: false,
            json_file: None,
            verbose: false,
            cps: false,
            clients: 16,
        };
        let r = nft_rules(&a);
        assert!(r.contains("numgen inc mod 3 map { 0 : 10.0.2.11, 1 : 10.0.2.12, 2 : 10.0.2.13 } : 5353"), "{r}");
    }
}
