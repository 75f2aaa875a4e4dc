//! `xvs demo` end to end: the binary builds its lab, runs the director, drives traffic and
//! tears everything down, in each forwarding mode, and also when interrupted (SIGINT mid-
//! run: exit status 130, after the same teardown).
//!
//! "Nothing left behind" is checked two ways: no namespace named `xvs-demo-<pid>-...`
//! remains (`ip netns list`), and no process is still inside any of the namespaces the
//! demo had (their inodes, recorded while it ran, against every `/proc/*/ns/net`).

use std::collections::HashSet;
use std::io::Read;
use std::os::unix::fs::MetadataExt;
use std::process::{Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// One demo at a time: each is a whole lab with a director on 2 shared cores.
static SERIAL: Mutex<()> = Mutex::new(());

struct DemoRun {
    status: ExitStatus,
    stdout: String,
    stderr: String,
    pid: u32,
    /// (device, inode) of every namespace the demo had while it ran.
    namespaces: HashSet<(u64, u64)>,
}

fn demo_namespaces(pid: u32) -> Vec<String> {
    let out = Command::new("ip").args(["netns", "list"]).output().expect("ip netns list");
    let prefix = format!("xvs-demo-{pid}-");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .filter(|n| n.starts_with(&prefix))
        .map(str::to_string)
        .collect()
}

/// Runs `xvs demo ARGS`; with `interrupt`, sends SIGINT that long after the first live
/// table appears.
fn run_demo(args: &[&str], mut interrupt: Option<Duration>) -> DemoRun {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let mut child = Command::new(env!("CARGO_BIN_EXE_xvs"))
        .arg("demo")
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn xvs demo");
    let pid = child.id();
    let out = Arc::new(Mutex::new(String::new()));
    let readers: Vec<_> =
        [Box::new(child.stdout.take().unwrap()) as Box<dyn Read + Send>, Box::new(child.stderr.take().unwrap())]
            .into_iter()
            .enumerate()
            .map(|(i, mut r)| {
                let out = Arc::clone(&out);
                std::thread::spawn(move || {
                    let mut all = String::new();
                    let mut buf = [0u8; 4096];
                    while let Ok(n) = r.read(&mut buf) {
                        if n == 0 {
                            break;
                        }
                        let s = String::from_utf8_lossy(&buf[..n]);
                        if i == 0 {
                            out.lock().unwrap().push_str(&s);
                        }
                        all.push_str(&s);
                    }
                    all
                })
            })
            .collect();
    let mut namespaces = HashSet::new();
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut interrupt_at = None;
    let status = loop {
        for n in demo_namespaces(pid) {
            if let Ok(m) = std::fs::metadata(format!("/run/netns/{n}")) {
                namespaces.insert((m.dev(), m.ino()));
            }
        }
        if let Some(s) = child.try_wait().expect("try_wait") {
            break s;
        }
        if let Some(after) = interrupt {
            if interrupt_at.is_none() && out.lock().unwrap().contains("requests ") {
                interrupt_at = Some(Instant::now() + after);
            }
            if interrupt_at.is_some_and(|t| Instant::now() >= t) {
                nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid as i32), nix::sys::signal::Signal::SIGINT)
                    .expect("SIGINT");
                interrupt = None;
            }
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("xvs demo {args:?} did not finish within 120 s\n{}", out.lock().unwrap());
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut streams = readers.into_iter().map(|r| r.join().unwrap_or_default());
    let (stdout, stderr) = (streams.next().unwrap(), streams.next().unwrap());
    DemoRun { status, stdout, stderr, pid, namespaces }
}

impl DemoRun {
    fn context(&self) -> String {
        format!("status {}\n--- stdout\n{}\n--- stderr\n{}", self.status, self.stdout, self.stderr)
    }

    /// Checks that nothing of the demo's lab is left: namespaces by name, processes by
    /// namespace.
    fn assert_clean(&self) {
        let left = demo_namespaces(self.pid);
        assert!(left.is_empty(), "namespaces left behind: {left:?}\n{}", self.context());
        assert!(!self.namespaces.is_empty(), "never saw the demo's namespaces\n{}", self.context());
        let mut inside = Vec::new();
        for e in std::fs::read_dir("/proc").expect("/proc").flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if !name.bytes().all(|b| b.is_ascii_digit()) {
                continue;
            }
            if let Ok(m) = std::fs::metadata(format!("/proc/{name}/ns/net")) {
                if self.namespaces.contains(&(m.dev(), m.ino())) {
                    let cmd = std::fs::read(format!("/proc/{name}/cmdline")).unwrap_or_default();
                    inside.push(format!("{name}: {}", String::from_utf8_lossy(&cmd).replace('\0', " ")));
                }
            }
        }
        assert!(inside.is_empty(), "processes still in the demo's namespaces: {inside:#?}\n{}", self.context());
        assert!(self.stdout.contains("lab removed"), "no teardown report\n{}", self.context());
    }

    /// Per real, the summary's total of the clients' connections and UDP queries
    /// answered, and the director's count of that real's connections.
    fn client_and_director_counts(&self) -> Vec<(u64, u64)> {
        self.stdout
            .lines()
            .filter(|l| l.trim_start().starts_with("real ") && l.contains("the director counted "))
            .filter_map(|l| Some((number_after(l, " = ")?, number_after(l, "the director counted ")?)))
            .collect()
    }

    /// The summary's per-real connection counts.
    fn per_real(&self) -> Vec<u64> {
        self.stdout
            .lines()
            .filter(|l| l.trim_start().starts_with("real ") && l.contains(" connections "))
            .filter_map(|l| number_after(l, " connections "))
            .collect()
    }
}

/// A summary line's number after `key` (digits up to the first non-digit).
fn number_after(line: &str, key: &str) -> Option<u64> {
    let rest = line.split(key).nth(1)?;
    rest.chars().take_while(char::is_ascii_digit).collect::<String>().parse().ok()
}

fn full_run(mode: &str) {
    let r = run_demo(&["--mode", mode, "--seconds", "3"], None);
    assert_eq!(r.status.code(), Some(0), "xvs demo --mode {mode} failed\n{}", r.context());
    let per_real = r.per_real();
    assert_eq!(per_real.len(), 3, "no per-real summary\n{}", r.context());
    assert!(per_real.iter().all(|n| *n > 0), "a real served nothing: {per_real:?}\n{}", r.context());
    // Without errors, every connection the clients saw answered (each UDP query is a new
    // flow) is one the director counted for that real, and no other.
    if r.stdout.contains(" 0 errors ") {
        let pairs = r.client_and_director_counts();
        assert_eq!(pairs.len(), 3, "no director counts in the summary\n{}", r.context());
        for (i, (client, director)) in pairs.iter().enumerate() {
            assert_eq!(client, director, "real {i}: the clients' count against the director's\n{}", r.context());
        }
    }
    assert!(r.stdout.contains("xvs: stopped:"), "no `stopped:` line from the director\n{}", r.context());
    r.assert_clean();
}

#[test]
fn demo_runs_and_cleans_up_in_every_mode() {
    for mode in ["nat", "dr", "tun"] {
        full_run(mode);
    }
}

#[test]
fn demo_interrupted_by_sigint_tears_down_and_exits_130() {
    let r = run_demo(&["--mode", "dr", "--seconds", "60"], Some(Duration::from_secs(1)));
    assert_eq!(r.status.code(), Some(130), "after SIGINT\n{}", r.context());
    assert!(r.stdout.contains("interrupted"), "{}", r.context());
    assert!(r.stdout.contains("xvs: stopped:"), "the director did not report stopping\n{}", r.context());
    r.assert_clean();
}

#[test]
fn demo_rejects_bad_arguments_before_touching_anything() {
    for args in [&["--mode", "ipip"][..], &["--scheduler", "fastest"], &["--seconds", "0"]] {
        let out = Command::new(env!("CARGO_BIN_EXE_xvs")).arg("demo").args(args).output().expect("run xvs demo");
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
        assert!(String::from_utf8_lossy(&out.stderr).contains("error:"), "{args:?}");
    }
}
