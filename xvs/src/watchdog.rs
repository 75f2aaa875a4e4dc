//! What keeps a dead `xvs run` from hurting the survivor of a VRRP pair: a watchdog
//! process, a state file, pinned steering links, and the reconciliation a starting run
//! does. keepalived gets the same from a parent process that outlives its VRRP child.
//!
//! Mechanism:
//! - **State file** `<control_socket>.state` (one per control socket, since network
//!   namespaces share `/run`): the run's pid, its watchdog's pid, and every address the
//!   VRRP runtime or `manage_vips` added and has not removed yet ([`Ledger`], fed by
//!   their address hook; rewritten whole, atomically, on each change).
//! - **Watchdog** `xvs watchdog --state FILE` (hidden), spawned by `xvs run` at bring-up
//!   with the read end of a pipe as stdin; only the run holds the write end (close on
//!   exec), so the watchdog's read returns at once when the run dies, however it dies. A
//!   clean stop writes `clean` first: the watchdog exits quietly. Otherwise it removes the
//!   addresses the state file lists, logs each, clears them from the file, and stays
//!   until SIGTERM/SIGINT or until the next run on the same control socket replaces it.
//!   While the run lives it ignores SIGINT/SIGTERM (a Ctrl-C or `systemctl stop` reaches
//!   both; the run's own clean stop then ends it).
//! - **Pinned steering**: the XDP links are pinned under [`pin_dir`] (per control socket),
//!   so the steering program stays attached after the run dies and drops what it steers
//!   (VIP traffic, NAT replies) for lack of a socket, instead of handing it to the kernel.
//!   A clean stop unpins (detaches). Under `ip netns exec` bpffs is private to the
//!   command's mount namespace: the pins last as long as the watchdog, which keeps that
//!   namespace alive.
//! - **Reconciliation** ([`reconcile`]) before a run joins: an earlier run's watchdog is
//!   told to go (SIGTERM, after checking its command line), the addresses its state file
//!   still lists are removed, its pins are removed, its state file is replaced. (The stale
//!   control socket is `ctl::server::listen`'s.)

use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use xvs::host;
use xvs::vrrp::runtime::{AddressChange, AddressHook};

/// Where the steering links of all runs are pinned, one directory per control socket.
pub const PIN_ROOT: &str = "/sys/fs/bpf/xvs";

/// How long a clean stop waits for the watchdog, and a reconciliation for an old one.
const WAIT: Duration = Duration::from_secs(3);

/// The state file of the run on `control_socket`.
pub fn state_path(control_socket: &Path) -> PathBuf {
    let mut s = control_socket.as_os_str().to_owned();
    s.push(".state");
    PathBuf::from(s)
}

/// The pin directory of the run on `control_socket`: `PIN_ROOT/<its path, sanitized>`.
pub fn pin_dir(control_socket: &Path) -> PathBuf {
    Path::new(PIN_ROOT).join(pin_name(&control_socket.display().to_string()))
}

/// `name` as a bpffs file name (bpffs refuses dots): what is not alphanumeric, `-` or `_`
/// becomes `_`.
pub fn pin_name(name: &str) -> String {
    name.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' { c } else { '_' }).collect()
}

/// What a run owns on the host, as its state file records it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct State {
    pub run: u32,
    pub watchdog: u32,
    /// (interface index, address, prefix length)
    pub addrs: BTreeSet<(u32, IpAddr, u8)>,
}

impl State {
    pub fn to_text(&self) -> String {
        let mut t = format!("# xvs run state (the watchdog's)\nrun {}\nwatchdog {}\n", self.run, self.watchdog);
        for (i, a, l) in &self.addrs {
            t.push_str(&format!("addr {i} {a} {l}\n"));
        }
        t
    }

    /// Parse what [`State::to_text`] wrote; lines it does not know are skipped.
    pub fn parse(text: &str) -> State {
        let mut s = State::default();
        for line in text.lines() {
            let w: Vec<&str> = line.split_whitespace().collect();
            match w.as_slice() {
                ["run", p] => s.run = p.parse().unwrap_or(0),
                ["watchdog", p] => s.watchdog = p.parse().unwrap_or(0),
                ["addr", i, a, l] => {
                    if let (Ok(i), Ok(a), Ok(l)) = (i.parse(), a.parse(), l.parse()) {
                        s.addrs.insert((i, a, l));
                    }
                }
                _ => {}
            }
        }
        s
    }

    fn read(path: &Path) -> Option<State> {
        std::fs::read_to_string(path).ok().map(|t| State::parse(&t))
    }

    /// Write atomically (a temporary file renamed over it).
    fn write(&self, path: &Path) -> std::io::Result<()> {
        let mut tmp = path.as_os_str().to_owned();
        tmp.push(".tmp");
        std::fs::write(&tmp, self.to_text())?;
        std::fs::rename(&tmp, path)
    }
}

/// The state file of this run, shared with the VRRP thread (through [`Ledger::hook`]).
#[derive(Clone, Debug)]
pub struct Ledger {
    path: PathBuf,
    state: Arc<Mutex<State>>,
}

impl Ledger {
    /// A fresh state file at `path` for this process.
    pub fn create(path: PathBuf) -> Result<Ledger, String> {
        let l = Ledger { path, state: Arc::new(Mutex::new(State { run: std::process::id(), ..State::default() })) };
        l.change(|_| {})?;
        Ok(l)
    }

    fn change(&self, f: impl FnOnce(&mut State)) -> Result<(), String> {
        let mut s = self.state.lock().map_err(|_| "state file lock poisoned".to_string())?;
        f(&mut s);
        s.write(&self.path).map_err(|e| format!("state file {}: {e}", self.path.display()))
    }

    /// The VRRP runtime's address hook: every change is recorded at once.
    pub fn hook(&self) -> AddressHook {
        let l = self.clone();
        Arc::new(move |c: AddressChange| {
            let r = l.change(|s| match c {
                AddressChange::Added { ifindex, addr, prefix_len } => {
                    s.addrs.insert((ifindex, addr, prefix_len));
                }
                AddressChange::Removed { ifindex, addr, prefix_len } => {
                    s.addrs.remove(&(ifindex, addr, prefix_len));
                }
            });
            if let Err(e) = r {
                log(e);
            }
        })
    }
}

fn log(msg: impl AsRef<str>) {
    eprintln!("xvs: {}", msg.as_ref());
}

/// The running watchdog; dropping it is the clean stop (it exits quietly, the state file
/// is removed). Drop it last: after the addresses and the pins are gone.
#[derive(Debug)]
pub struct Watchdog {
    child: Child,
    pipe: Option<std::io::PipeWriter>,
    state: PathBuf,
}

impl Watchdog {
    /// Start `xvs watchdog` for `ledger`'s state file and record its pid there.
    pub fn start(ledger: &Ledger) -> Result<Watchdog, String> {
        let (r, w) = std::io::pipe().map_err(|e| format!("watchdog pipe: {e}"))?;
        let mut cmd = Command::new("/proc/self/exe");
        std::os::unix::process::CommandExt::arg0(&mut cmd, "xvs");
        let child = cmd
            .arg("watchdog")
            .arg("--state")
            .arg(&ledger.path)
            .stdin(Stdio::from(r))
            .spawn()
            .map_err(|e| format!("starting the watchdog: {e}"))?;
        let pid = child.id();
        let wd = Watchdog { child, pipe: Some(w), state: ledger.path.clone() };
        ledger.change(|s| s.watchdog = pid)?;
        Ok(wd)
    }
}

impl Drop for Watchdog {
    fn drop(&mut self) {
        if let Some(mut w) = self.pipe.take() {
            let _ = w.write_all(b"clean\n");
        }
        let until = Instant::now() + WAIT;
        while matches!(self.child.try_wait(), Ok(None)) && Instant::now() < until {
            std::thread::sleep(Duration::from_millis(10));
        }
        if matches!(self.child.try_wait(), Ok(None)) {
            log("the watchdog did not exit after the clean stop: killed");
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        let _ = std::fs::remove_file(&self.state);
    }
}

/// Before a run on `control_socket` joins: undo what an earlier one left (module doc).
/// Returns whether anything was found (then an XDP link may still be going away).
pub fn reconcile(control_socket: &Path) -> bool {
    let path = state_path(control_socket);
    let mut found = false;
    if let Some(old) = State::read(&path) {
        found = true;
        if old.watchdog != 0 && is_watchdog(old.watchdog, &path) {
            log(format!("an earlier run's watchdog (pid {}) is still there: stopping it", old.watchdog));
            let pid = nix::unistd::Pid::from_raw(old.watchdog as i32);
            let _ = nix::sys::signal::kill(pid, nix::sys::signal::SIGTERM);
            let until = Instant::now() + WAIT;
            while is_watchdog(old.watchdog, &path) && Instant::now() < until {
                std::thread::sleep(Duration::from_millis(10));
            }
        }
        // What the old watchdog did not remove (it may have been killed too).
        let left = State::read(&path).unwrap_or(old);
        for (i, a, l) in &left.addrs {
            if host::del_address(*i, *a, *l).is_ok() {
                log(format!("removed {a}/{l} from {}, left by an earlier run (pid {})", ifname(*i), left.run));
            }
        }
        let _ = std::fs::remove_file(&path);
    }
    let dir = pin_dir(control_socket);
    if let Ok(entries) = std::fs::read_dir(&dir) {
        for e in entries.flatten() {
            found = true;
            match std::fs::remove_file(e.path()) {
                Ok(()) => {
                    log(format!("removed the pinned steering link {}, left by an earlier run", e.path().display()))
                }
                Err(err) => log(format!("removing {}: {err}", e.path().display())),
            }
        }
    }
    found
}

/// Whether `pid` is alive (not a zombie) and is the watchdog of `state`.
fn is_watchdog(pid: u32, state: &Path) -> bool {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let zombie = stat.rsplit_once(')').is_some_and(|(_, rest)| rest.trim_start().starts_with('Z'));
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    let args: Vec<&[u8]> = cmdline.split(|b| *b == 0).collect();
    let ours = args.contains(&b"watchdog".as_slice()) && args.contains(&state.as_os_str().as_encoded_bytes());
    !zombie && ours
}

fn ifname(index: u32) -> String {
    nix::net::if_::if_indextoname(index)
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|_| format!("interface {index}"))
}

/// `xvs watchdog --state FILE`: the process itself (module doc).
pub fn run(state: &Path) -> ExitCode {
    let term = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGTERM, signal_hook::consts::SIGINT, signal_hook::consts::SIGHUP] {
        // Flags only: while the run lives these change nothing (module doc).
        if let Err(e) = signal_hook::flag::register(sig, term.clone()) {
            eprintln!("xvs watchdog: signal handler: {e}");
            return ExitCode::from(1);
        }
    }
    let run = nix::unistd::getppid();
    let mut said = Vec::new();
    let _ = std::io::stdin().lock().read_to_end(&mut said);
    if said.starts_with(b"clean") {
        return ExitCode::SUCCESS;
    }
    let t0 = Instant::now();
    let say = |m: String| eprintln!("xvs watchdog: {m}");
    say(format!("xvs run (pid {run}) ended without a clean stop"));
    let mut s = State::read(state).unwrap_or_default();
    for (i, a, l) in std::mem::take(&mut s.addrs) {
        match host::del_address(i, a, l) {
            Ok(()) => say(format!("removed {a}/{l} from {} ({:?} after)", ifname(i), t0.elapsed())),
            Err(e) => say(format!("removing {a}/{l} from {}: {e}", ifname(i))),
        }
    }
    if let Err(e) = s.write(state) {
        say(format!("state file {}: {e}", state.display()));
    }
    say("the steering program stays attached and drops the director's traffic until the next xvs run on this \
         control socket (or until this watchdog is stopped)"
        .into());
    while !term.load(Ordering::Relaxed) {
        std::thread::sleep(Duration::from_millis(100));
    }
    say("stopped".into());
    ExitCode::SUCCESS
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_round_trips() {
        let mut s = State { run: 10, watchdog: 11, ..State::default() };
        s.addrs.insert((3, "192.168.20.50".parse().unwrap(), 32));
        s.addrs.insert((4, "2001:db8::5".parse().unwrap(), 64));
        assert_eq!(State::parse(&s.to_text()), s);
        assert_eq!(State::parse("garbage\naddr x y z\nrun 5\n"), State { run: 5, ..State::default() });
    }

    #[test]
    fn names_are_per_control_socket_and_bpffs_safe() {
        assert_eq!(pin_dir(Path::new("/run/xvs.sock")), Path::new("/sys/fs/bpf/xvs/_run_xvs_sock"));
        assert_eq!(state_path(Path::new("/run/xvs.sock")), Path::new("/run/xvs.sock.state"));
        assert_eq!(pin_name("eth0.100"), "eth0_100");
    }
}
