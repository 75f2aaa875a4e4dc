//! Running operators' scripts as keepalived 2.2.7 runs them: MISC_CHECK's `misc_path`, and
//! the notify and track scripts of VRRP.
//!
//! What keepalived does, and so what this does:
//! - A script line is a program and its arguments, split on white space with `'…'` and
//!   `"…"` quoting and `\` escapes; it is executed directly, not by a shell (a line that
//!   needs one says `/bin/sh -c '…'`). A program without a `/` is looked up in `PATH`. A
//!   file that the kernel refuses to execute as a binary (no `#!`, ENOEXEC) runs under
//!   `/bin/sh`, as execvp(3) does.
//! - Every run is in a process group of its own, so a timeout kills the whole group
//!   (SIGTERM, then SIGKILL after a grace period), never just its leader.
//! - A script runs as the configured user (`script_user`; root when none is set). With
//!   `enable_script_security`, a script that a non-root user could change (the file or
//!   any directory above it writable by a non-root user, group or world) is refused when
//!   it would run as root; without it, the same finding is only a warning.
//!
//! Invariants: a run never blocks its caller past its timeout plus the grace period;
//! `Run::poll` never blocks at all, so the control loop can own many runs at once; every
//! child is reaped (a `Run` that is dropped early kills its group and waits).

use std::ffi::OsString;
use std::os::unix::fs::MetadataExt;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;

/// How long a timed-out group has between SIGTERM and SIGKILL.
pub const KILL_GRACE: Duration = Duration::from_millis(500);

/// Who scripts run as, and whether insecure ones are refused.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ScriptPolicy {
    /// (uid, gid); `None`: this process's own.
    pub user: Option<(u32, u32)>,
    /// keepalived's `enable_script_security`.
    pub security: bool,
}

/// A script line, split and resolved, ready to run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Script {
    /// The line as configured, for messages.
    pub line: String,
    pub program: PathBuf,
    pub args: Vec<String>,
    pub user: Option<(u32, u32)>,
    /// Warnings found while preparing it (e.g. an insecure path that was not refused).
    pub warnings: Vec<String>,
}

/// How a run ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    Exited(i32),
    Signalled(i32),
    /// It ran past its timeout; its group was killed.
    TimedOut,
    /// It could not be started.
    Failed(String),
}

/// Split a script line as keepalived does: white space separates words; `'…'` and `"…"`
/// quote (no escapes inside single quotes); `\` escapes the next character elsewhere.
pub fn split_line(line: &str) -> Result<Vec<String>, String> {
    let mut words = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            '\'' | '"' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some(q) if q == c => break,
                        Some('\\') if c == '"' => cur.push(chars.next().ok_or("a line ends in an escape")?),
                        Some(x) => cur.push(x),
                        None => return Err(format!("unterminated {c} quote in {line:?}")),
                    }
                }
            }
            '\\' => {
                in_word = true;
                cur.push(chars.next().ok_or_else(|| format!("{line:?} ends in an escape"))?);
            }
            c if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            c => {
                in_word = true;
                cur.push(c);
            }
        }
    }
    if in_word {
        words.push(cur);
    }
    Ok(words)
}

/// The file `program` names: itself when it has a `/`, else the first executable regular
/// file of that name in `PATH`.
fn resolve(program: &str) -> Result<PathBuf, String> {
    if program.contains('/') {
        return Ok(PathBuf::from(program));
    }
    let path = std::env::var_os("PATH").unwrap_or_else(|| OsString::from("/usr/local/bin:/usr/bin:/bin"));
    std::env::split_paths(&path)
        .map(|dir| dir.join(program))
        .find(|p| p.metadata().is_ok_and(|m| m.is_file() && m.mode() & 0o111 != 0))
        .ok_or_else(|| format!("{program}: not found in PATH"))
}

/// Why a root-run script at `file` is not safe, if it is not: a non-root owner, or write
/// access for a non-root group or for everyone, on the file or a directory above it
/// (a sticky directory is fine, as keepalived allows).
fn insecurity(file: &Path) -> Option<String> {
    let mut at = Some(file);
    while let Some(p) = at {
        let Ok(m) = p.metadata() else { return Some(format!("{} cannot be checked", p.display())) };
        let sticky_dir = m.is_dir() && m.mode() & 0o1000 != 0;
        let writable = (m.gid() != 0 && m.mode() & 0o020 != 0) || m.mode() & 0o002 != 0;
        if m.uid() != 0 || (writable && !sticky_dir) {
            return Some(format!("{} can be changed by a user other than root", p.display()));
        }
        at = p.parent().filter(|q| !q.as_os_str().is_empty());
    }
    None
}

impl Script {
    /// Split and resolve `line` for `policy`. Errors: an empty or badly quoted line, a
    /// program not found or not executable, an insecure script refused by the policy.
    pub fn prepare(line: &str, policy: &ScriptPolicy) -> Result<Script, String> {
        let mut words = split_line(line)?.into_iter();
        let first = words.next().ok_or("an empty script line")?;
        let program = resolve(&first)?;
        let meta = program.metadata().map_err(|e| format!("{}: {e}", program.display()))?;
        if !meta.is_file() || meta.mode() & 0o111 == 0 {
            return Err(format!("{}: not an executable file", program.display()));
        }
        let mut warnings = Vec::new();
        if !first.contains('/') {
            warnings.push(format!(
                "script {first:?} resolved by a PATH search to {}; give the full path",
                program.display()
            ));
        }
        let as_root = policy.user.map_or(nix::unistd::geteuid().is_root(), |(uid, _)| uid == 0);
        if let Some(why) = as_root.then(|| insecurity(&program)).flatten() {
            if policy.security {
                return Err(format!("{line:?} refused (enable_script_security): {why}"));
            }
            warnings.push(format!("{line:?} is unsafe to run as root: {why}"));
        }
        Ok(Script { line: line.to_string(), program, args: words.collect(), user: policy.user, warnings })
    }

    /// The same script with `extra` arguments after its own (keepalived's `notify`
    /// script gets `INSTANCE NAME STATE PRIORITY`).
    pub fn with_args(&self, extra: &[String]) -> Script {
        let mut s = self.clone();
        s.args.extend(extra.iter().cloned());
        s
    }

    fn command(&self, program: &Path, args: &[String]) -> Command {
        let mut c = Command::new(program);
        c.args(args).stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::null()).process_group(0);
        if let Some((uid, gid)) = self.user {
            c.gid(gid).uid(uid);
        }
        c
    }

    /// Start a run that must end within `timeout`.
    pub fn start(&self, timeout: Duration) -> Run {
        let spawned = self.command(&self.program, &self.args).spawn().or_else(|e| {
            // A file with no interpreter line: run it under the shell, as execvp does.
            if e.raw_os_error() == Some(nix::libc::ENOEXEC) {
                let mut args = vec![self.program.display().to_string()];
                args.extend(self.args.iter().cloned());
                self.command(Path::new("/bin/sh"), &args).spawn()
            } else {
                Err(e)
            }
        });
        match spawned {
            Ok(child) => Run { child: Some(child), deadline: Instant::now() + timeout, killed_at: None, done: None },
            Err(e) => Run {
                child: None,
                deadline: Instant::now(),
                killed_at: None,
                done: Some(Outcome::Failed(format!("{}: {e}", self.line))),
            },
        }
    }

    /// Run to the end (at most `timeout` plus [`KILL_GRACE`]), polling every 10 ms; for
    /// callers that have a thread of their own, such as a health check.
    pub fn run(&self, timeout: Duration) -> Outcome {
        let mut run = self.start(timeout);
        loop {
            if let Some(o) = run.poll() {
                return o;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

/// A script running, or ended.
#[derive(Debug)]
pub struct Run {
    child: Option<Child>,
    deadline: Instant,
    killed_at: Option<Instant>,
    done: Option<Outcome>,
}

fn outcome(s: ExitStatus) -> Outcome {
    match (s.code(), s.signal()) {
        (Some(c), _) => Outcome::Exited(c),
        (None, Some(sig)) => Outcome::Signalled(sig),
        (None, None) => Outcome::Failed("no exit status".into()),
    }
}

impl Run {
    fn signal_group(&self, sig: Signal) {
        if let Some(c) = &self.child {
            let _ = killpg(Pid::from_raw(c.id() as i32), sig);
        }
    }

    /// The outcome once the run has ended; `None` while it runs. Never blocks. Past the
    /// deadline the group gets SIGTERM, and SIGKILL [`KILL_GRACE`] later.
    pub fn poll(&mut self) -> Option<Outcome> {
        if self.done.is_some() {
            return self.done.clone();
        }
        let child = self.child.as_mut()?;
        match child.try_wait() {
            Ok(Some(status)) => {
                let o = if self.killed_at.is_some() { Outcome::TimedOut } else { outcome(status) };
                // The leader is gone; anything it left in its group goes too.
                self.signal_group(Signal::SIGKILL);
                self.done = Some(o);
            }
            Ok(None) => {
                let now = Instant::now();
                match self.killed_at {
                    None if now >= self.deadline => {
                        self.signal_group(Signal::SIGTERM);
                        self.killed_at = Some(now);
                    }
                    Some(t) if now >= t + KILL_GRACE => self.signal_group(Signal::SIGKILL),
                    _ => {}
                }
            }
            Err(e) => self.done = Some(Outcome::Failed(e.to_string())),
        }
        self.done.clone()
    }
}

impl Drop for Run {
    fn drop(&mut self) {
        if self.done.is_none() {
            self.signal_group(Signal::SIGKILL);
            if let Some(c) = &mut self.child {
                let _ = c.wait();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn root() -> ScriptPolicy {
        ScriptPolicy::default()
    }

    #[test]
    fn lines_split_as_keepalived_splits_them() {
        assert_eq!(split_line("/bin/sh -c 'exit 3'").unwrap(), ["/bin/sh", "-c", "exit 3"]);
        assert_eq!(split_line(r#"a "b c" d\ e "x\"y""#).unwrap(), ["a", "b c", "d e", "x\"y"]);
        assert_eq!(split_line("  a  ''  b ").unwrap(), ["a", "", "b"]);
        assert!(split_line("a 'b").is_err());
        assert!(split_line("a \\").is_err());
    }

    #[test]
    fn exit_codes_signals_and_path_search() {
        let s = Script::prepare("/bin/sh -c 'exit 7'", &root()).unwrap();
        assert_eq!(s.run(Duration::from_secs(5)), Outcome::Exited(7));
        let s = Script::prepare("true", &root()).unwrap();
        assert!(s.program.is_absolute() && s.warnings.iter().any(|w| w.contains("PATH")), "{s:?}");
        assert_eq!(s.run(Duration::from_secs(5)), Outcome::Exited(0));
        let s = Script::prepare("/bin/sh -c 'kill -9 $$'", &root()).unwrap();
        assert_eq!(s.run(Duration::from_secs(5)), Outcome::Signalled(9));
        assert!(Script::prepare("no-such-program-xvs", &root()).unwrap_err().contains("not found"));
        assert!(Script::prepare("/etc/passwd", &root()).unwrap_err().contains("not an executable"));
        assert!(Script::prepare("   ", &root()).is_err());
    }

    #[test]
    fn a_timeout_kills_the_whole_group() {
        let dir = tempdir();
        let marker = dir.join("grandchild-alive");
        // The script leaves a grandchild behind that would write the marker later.
        let line = format!("/bin/sh -c '(sleep 1; touch {}) & sleep 30'", marker.display());
        let s = Script::prepare(&line, &root()).unwrap();
        let t = Instant::now();
        assert_eq!(s.run(Duration::from_millis(200)), Outcome::TimedOut);
        assert!(t.elapsed() < Duration::from_millis(200) + KILL_GRACE + Duration::from_secs(1));
        std::thread::sleep(Duration::from_millis(1500));
        assert!(!marker.exists(), "the grandchild survived the timeout");
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn poll_never_blocks() {
        let s = Script::prepare("/bin/sleep 2", &root()).unwrap();
        let mut run = s.start(Duration::from_secs(5));
        let t = Instant::now();
        assert_eq!(run.poll(), None);
        assert!(t.elapsed() < Duration::from_millis(100));
        drop(run); // killed and reaped
    }

    #[test]
    fn a_file_without_interpreter_line_runs_under_the_shell() {
        let dir = tempdir();
        let line = script_file(&dir, "plain", "exit 4\n", 0o755);
        let s = Script::prepare(&line, &root()).unwrap();
        assert_eq!(s.run(Duration::from_secs(5)), Outcome::Exited(4));
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn script_security_refuses_what_others_can_change() {
        let dir = tempdir();
        let line = script_file(&dir, "check", "#!/bin/sh\nexit 0\n", 0o757);
        let f = dir.join("check");
        if !nix::unistd::geteuid().is_root() {
            panic!("this test checks root's view of script security: run it as root");
        }
        let strict = ScriptPolicy { user: None, security: true };
        assert!(Script::prepare(&line, &strict).unwrap_err().contains("refused"));
        let lax = Script::prepare(&line, &root()).unwrap();
        assert!(lax.warnings.iter().any(|w| w.contains("unsafe")), "{lax:?}");
        chmod(&f, 0o755);
        assert!(Script::prepare(&line, &strict).is_ok());
        // Run as another user, it is not root's problem.
        let nobody = ScriptPolicy { user: Some((65534, 65534)), security: true };
        chmod(&f, 0o757);
        assert!(Script::prepare(&line, &nobody).is_ok());
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn runs_as_the_script_user() {
        let dir = tempdir();
        let out = dir.join("id");
        chmod(&dir, 0o777);
        let line = format!("/bin/sh -c 'id -u > {}'", out.display());
        let s = Script::prepare(&line, &ScriptPolicy { user: Some((65534, 65534)), security: false }).unwrap();
        assert_eq!(s.run(Duration::from_secs(5)), Outcome::Exited(0));
        assert_eq!(std::fs::read_to_string(&out).unwrap().trim(), "65534");
        let _ = std::fs::remove_dir_all(dir);
    }

    fn chmod(path: &Path, mode: u32) {
        std::fs::set_permissions(path, std::os::unix::fs::PermissionsExt::from_mode(mode)).unwrap();
    }

    /// `dir/name` holding `text`, mode `mode`: its path as a script line.
    fn script_file(dir: &Path, name: &str, text: &str, mode: u32) -> String {
        let f = dir.join(name);
        std::fs::write(&f, text).unwrap();
        chmod(&f, mode);
        f.display().to_string()
    }

    /// A fresh directory owned by root, mode 0755 (script security checks its parents).
    fn tempdir() -> PathBuf {
        use std::sync::atomic::{AtomicU32, Ordering};
        static N: AtomicU32 = AtomicU32::new(0);
        let d = std::env::temp_dir().join(format!(
            "xvs-scripts-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&d).unwrap();
        chmod(&d, 0o755);
        d
    }
}
