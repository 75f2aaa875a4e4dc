//! `xvs run -c FILE`: the director daemon, split by lifetime.
//!
//! - [`load`] reads FILE (any of the three formats) and the config crate validates it;
//!   [`Checked::new`] judges the engine's own rules once, with the tunnel sources the
//!   first interface gives a model that names none. A bad file exits 2 before anything
//!   is touched.
//! - [`bringup::bring_up`] mounts bpffs if needed, adds the VIPs to `vip_device` (when
//!   `manage_vips`), loads and attaches the steering program to every interface, binds an
//!   AF_XDP socket to every queue of every interface, learns the reals' next hops from the
//!   kernel, starts the poll loops, and returns [`bringup::Running`], which owns all of it
//!   and undoes it on drop, in order, on every exit path.
//! - [`control_loop::ControlLoop`] runs until SIGINT/SIGTERM: SIGHUP re-reads FILE (an
//!   invalid file, or one the engine refuses, is reported and changes nothing; a valid one
//!   replaces services, reals and timeouts atomically while established connections keep
//!   their reals: a removed real stays in the steering maps and the next-hop refresh until
//!   the engine shows none of its connections left, `draining`), `xvs ctl` requests on
//!   `control_socket`, health verdicts, next hops every second.
//! - [`ctl_plane::Plane`] is the one path of a configuration change (SIGHUP, ctl, health):
//!   every poll loop acknowledges the new configuration (an epoch, a barrier) before the
//!   steering maps change, and a loop's apply error fails the change at once.
//!
//! `[director] metrics = ADDR` serves `GET /metrics` (Prometheus text) on ADDR from a
//! thread of its own, see `run_metrics`; the control loop feeds the one rate estimator
//! that metrics and ctl read.//!

use std::path::Path;
use std::process::ExitCode;

use xvs::engine_config::Checked;
use xvs::host;

mod bringup;
mod control_loop;
mod ctl_plane;
mod draining;
mod loops;
mod notify;
mod sync_roles;
mod system;
mod vips;

fn log(msg: impl AsRef<str>) {
    eprintln!("xvs: {}", msg.as_ref());
}

/// Settings given on the command line, which win over the file's `[director]` (a
/// keepalived.conf or ipvsadm-save file has no place for them).
#[derive(Clone, Debug, Default)]
pub struct Overrides {
    pub control_socket: Option<std::path::PathBuf>,
    pub poll: Option<xvs_config::PollMode>,
    pub cores: Option<Vec<usize>>,
}

/// A core list as `taskset -c` writes one: `0`, `0,2`, `1-3`, `0,2-3`.
pub fn parse_cores(s: &str) -> Result<Vec<usize>, String> {
    let mut out = Vec::new();
    for part in s.split(',').map(str::trim) {
        let num = |t: &str| t.trim().parse::<usize>().map_err(|_| format!("{t:?} is not a core number in {s:?}"));
        match part.split_once('-') {
            Some((a, b)) => {
                let (a, b) = (num(a)?, num(b)?);
                if a > b {
                    return Err(format!("{part:?}: a range goes up"));
                }
                out.extend(a..=b);
            }
            None => out.push(num(part)?),
        }
    }
    out.sort_unstable();
    out.dedup();
    Ok(out)
}

/// Read and validate FILE (any of the three formats), print its warnings, apply `ov`.
fn load(path: &Path, ov: &Overrides) -> Result<xvs_config::Config, String> {
    let (mut cfg, warnings) = xvs_config::load_with_warnings(path).map_err(|e| e.to_string())?;
    for w in &warnings {
        log(w.to_string());
    }
    if let Some(p) = &ov.control_socket {
        cfg.director.control_socket = p.clone();
    }
    if let Some(m) = ov.poll {
        cfg.director.poll = m;
    }
    if let Some(c) = &ov.cores {
        let have = core_affinity::get_core_ids().map_or(0, |v| v.len());
        if let Some(bad) = c.iter().find(|&&k| k >= have) {
            return Err(format!("--cores: this machine has cores 0 to {} (no core {bad})", have.saturating_sub(1)));
        }
        cfg.director.cores = Some(c.clone());
    }
    Ok(cfg)
}

pub fn run(path: &Path, ov: Overrides) -> ExitCode {
    if !host::is_root() {
        eprintln!("xvs run: error: needs root (CAP_NET_ADMIN, CAP_BPF, CAP_SYS_ADMIN for bpffs)");
        return ExitCode::from(1);
    }
    let model = match load(path, &ov) {
        Ok(m) => m,
        Err(e) => {
            eprint!("{e}");
            if !e.ends_with('\n') {
                eprintln!();
            }
            return ExitCode::from(2);
        }
    };
    let ifaces = match system::interfaces(&model) {
        Ok(i) => i,
        Err(e) => {
            eprintln!("xvs run: error: {e}");
            return ExitCode::from(1);
        }
    };
    let (a4, a6) = system::tunnel_sources(&ifaces[0]);
    let checked = match Checked::new(model, a4, a6) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{}: error: {e}", path.display());
            return ExitCode::from(2);
        }
    };
    match serve(path, checked, ifaces, &ov) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xvs run: error: {e}");
            ExitCode::from(1)
        }
    }
}

/// Bring the director up, run its control loop, take it down.
fn serve(path: &Path, checked: Checked, ifaces: Vec<String>, ov: &Overrides) -> Result<(), String> {
    let running = bringup::bring_up(checked, ifaces)?;
    let (running, result) = control_loop::ControlLoop::new(running, path, ov)?.run();
    running.shutdown();
    result
}

#[cfg(test)]
mod tests {
    use super::parse_cores;

    #[test]
    fn core_lists_as_taskset_writes_them() {
        assert_eq!(parse_cores("0").unwrap(), [0]);
        assert_eq!(parse_cores("0,2-3").unwrap(), [0, 2, 3]);
        assert_eq!(parse_cores("3,1-2,1").unwrap(), [1, 2, 3]);
        assert!(parse_cores("2-1").is_err() && parse_cores("a").is_err() && parse_cores("").is_err());
    }
}
