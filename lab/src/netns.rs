//! A lab of Linux network namespaces for `xvs demo`, the end-to-end tests and the bench:
//! namespaces, veth pairs, addresses, routes and sysctls made with iproute2's `ip`,
//! commands and background processes run inside a namespace, and code run inside one on a
//! thread (nix's safe `setns`). It owns the namespaces and processes it makes, nothing else
//! on the host (it deletes only namespaces named like its own, whose process is gone).
//!
//! Invariants:
//! - Every namespace is named `xvs-<test>-<pid>-<n>-<short>`, so parallel tests (and
//!   parallel test binaries) never collide; a namespace left behind by a process that no
//!   longer exists is deleted when the next lab starts.
//! - Veth pairs are created directly inside their namespaces, so their short names (`r0`)
//!   never meet in the root namespace; each end gets `ethtool -K DEV tx off` (a local
//!   kernel's sends over veth otherwise carry a partial checksum that AF_XDP forwards as is).
//! - IPv6 addresses are added with `nodad`, and every namespace has duplicate address
//!   detection off (`accept_dad=0` on `all` and `default`, before any link exists), so
//!   link-local addresses are usable at once too: while one is tentative the kernel sends
//!   no neighbour solicitation from it, which stalls a DR/TUN real's first IPv6 reply
//!   (sourced from a VIP on `lo`) for a second.
//! - [`Lab`]'s `Drop` kills every process still inside its namespaces (by `ip netns pids`,
//!   which also finds grandchildren) and deletes the namespaces, also when the test panics;
//!   a [`Proc`] kills its process in its own `Drop`.
//! - Every wait is bounded: [`Lab::exec`] kills its command after its timeout,
//!   [`Proc::try_wait_for`] and [`Proc::terminate`] have deadlines, and output readers are
//!   given up on after a second.
//! - Nothing here skips: without root or iproute2, a lab panics with the reason, so a test
//!   that needs a lab fails loudly instead of passing vacuously.

use std::io::Read;
use std::os::fd::AsFd;
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Default timeout of [`Lab::run`].
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

static LABS: AtomicUsize = AtomicUsize::new(0);

/// A set of network namespaces owned by one test.
#[derive(Debug)]
pub struct Lab {
    prefix: String,
    namespaces: Vec<String>,
    own_groups: bool,
}

impl Lab {
    /// A new, empty lab for the test `test` (any string; it is shortened and sanitized).
    /// Panics unless running as root with `ip` available.
    pub fn new(test: &str) -> Lab {
        assert!(
            nix::unistd::geteuid().is_root(),
            "netns lab `{test}`: needs root (network namespaces, veth, XDP); run the tests as root"
        );
        let ok = Command::new("ip").arg("-V").output().map(|o| o.status.success()).unwrap_or(false);
        assert!(ok, "netns lab `{test}`: `ip` (iproute2) not found; scripts/setup.sh installs it");
        reap_stale();
        let tag: String =
            test.chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '_' }).take(24).collect::<String>();
        let n = LABS.fetch_add(1, Ordering::Relaxed);
        Lab { prefix: format!("xvs-{tag}-{}-{n}", std::process::id()), namespaces: Vec::new(), own_groups: false }
    }

    /// From now on, start every command in its own process group, so a Ctrl-C at the
    /// terminal reaches only the caller, which then tears the lab down in its own order
    /// (`xvs demo`). Off by default: an interrupted test run should take its servers along.
    pub fn own_process_groups(&mut self, on: bool) -> &mut Self {
        self.own_groups = on;
        self
    }

    /// The full name of the namespace `short`.
    pub fn name(&self, short: &str) -> String {
        format!("{}-{short}", self.prefix)
    }

    /// Creates namespace `short` with `lo` up and IPv6 DAD off.
    pub fn ns(&mut self, short: &str) -> &mut Self {
        let name = self.name(short);
        ip(&["netns", "add", &name]);
        self.namespaces.push(name);
        self.sysctl(short, "net.ipv6.conf.all.accept_dad", "0").sysctl(short, "net.ipv6.conf.default.accept_dad", "0");
        self.run(short, &["ip", "link", "set", "lo", "up"]);
        self
    }

    /// A veth pair between `(ns, dev)` and `(ns, dev)`, both up, tx checksum offload off.
    pub fn veth(&mut self, a: (&str, &str), b: (&str, &str)) -> &mut Self {
        let (na, nb) = (self.name(a.0), self.name(b.0));
        ip(&["link", "add", a.1, "netns", &na, "type", "veth", "peer", "name", b.1, "netns", &nb]);
        for (ns, dev) in [a, b] {
            self.run(ns, &["ip", "link", "set", dev, "up"]);
            self.run(ns, &["ethtool", "-K", dev, "tx", "off"]);
        }
        self
    }

    /// Adds `cidr` (e.g. `10.0.2.2/24`, `2001:db8:2::2/64`) to `dev` in `ns`.
    pub fn addr(&mut self, ns: &str, dev: &str, cidr: &str) -> &mut Self {
        let mut args = vec!["ip", "addr", "add", cidr, "dev", dev];
        if cidr.contains(':') {
            args.push("nodad");
        }
        self.run(ns, &args);
        self
    }

    /// `ip route add ROUTE...` in `ns`, e.g. `route("c", "default via 10.0.0.1")`.
    pub fn route(&mut self, ns: &str, route: &str) -> &mut Self {
        let mut args = vec!["ip"];
        if route.contains(':') {
            args.push("-6");
        }
        args.extend(["route", "add"]);
        args.extend(route.split_whitespace());
        self.run(ns, &args);
        self
    }

    /// Writes sysctl `key` (dotted, e.g. `net.ipv4.conf.all.rp_filter`) in `ns`.
    pub fn sysctl(&mut self, ns: &str, key: &str, value: &str) -> &mut Self {
        let path = sysctl_path(key);
        let value = value.to_string();
        self.in_ns(ns, move || std::fs::write(&path, &value).unwrap_or_else(|e| panic!("write {path}: {e}")));
        self
    }

    /// Reads sysctl `key` in `ns`.
    pub fn read_sysctl(&self, ns: &str, key: &str) -> String {
        let path = sysctl_path(key);
        self.in_ns(ns, move || std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {path}: {e}")))
            .trim()
            .to_string()
    }

    /// IPv4 and IPv6 forwarding on in `ns`.
    pub fn forwarding(&mut self, ns: &str) -> &mut Self {
        self.sysctl(ns, "net.ipv4.ip_forward", "1").sysctl(ns, "net.ipv6.conf.all.forwarding", "1")
    }

    /// rp_filter off in `ns` (on `all` and `default`; the kernel uses the max of `all` and
    /// the interface's, so interfaces created later inherit `default`).
    pub fn no_rp_filter(&mut self, ns: &str) -> &mut Self {
        self.sysctl(ns, "net.ipv4.conf.all.rp_filter", "0").sysctl(ns, "net.ipv4.conf.default.rp_filter", "0")
    }

    /// The MAC address of `dev` in `ns`.
    pub fn mac(&self, ns: &str, dev: &str) -> [u8; 6] {
        let out = self.run(ns, &["ip", "-o", "link", "show", "dev", dev]);
        let text = out.split("link/ether ").nth(1).unwrap_or_else(|| panic!("no MAC for {dev}: {out}"));
        let mut mac = [0u8; 6];
        for (i, part) in text.split_whitespace().next().unwrap_or("").split(':').enumerate().take(6) {
            mac[i] = u8::from_str_radix(part, 16).unwrap_or_else(|_| panic!("bad MAC in {out}"));
        }
        mac
    }

    /// `cmd` started inside `ns` with stdin closed and stdout/stderr piped.
    fn piped(&self, ns: &str, cmd: &[&str]) -> Child {
        self.command(ns, cmd)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {cmd:?} in {ns}: {e}"))
    }

    /// Runs `cmd` inside `ns` and returns its output, killing it after `timeout`.
    pub fn exec(&self, ns: &str, cmd: &[&str], timeout: Duration) -> Output {
        let mut child = self.piped(ns, cmd);
        let out = reader(child.stdout.take());
        let err = reader(child.stderr.take());
        let deadline = Instant::now() + timeout;
        let status = loop {
            if let Some(s) = child.try_wait().expect("try_wait") {
                break s;
            }
            if Instant::now() >= deadline {
                let _ = child.kill();
                let s = child.wait().expect("wait");
                eprintln!("netns lab: {cmd:?} in {ns} timed out after {timeout:?}");
                break s;
            }
            std::thread::sleep(Duration::from_millis(10));
        };
        Output { status, stdout: join(out), stderr: join(err) }
    }

    /// Runs `cmd` inside `ns` with [`DEFAULT_TIMEOUT`]; panics unless it exits 0. Returns
    /// its stdout.
    pub fn run(&self, ns: &str, cmd: &[&str]) -> String {
        let o = self.exec(ns, cmd, DEFAULT_TIMEOUT);
        let stdout = String::from_utf8_lossy(&o.stdout).into_owned();
        assert!(
            o.status.success(),
            "{cmd:?} in {ns}: {}\nstdout: {stdout}\nstderr: {}",
            o.status,
            String::from_utf8_lossy(&o.stderr)
        );
        stdout
    }

    /// Starts `cmd` inside `ns` in the background; stdout and stderr are collected.
    pub fn spawn(&self, ns: &str, cmd: &[&str]) -> Proc {
        // `ip netns exec` execs the command in place (it forks only in batch mode), so the
        // child's pid is the command's.
        let mut child = self.piped(ns, cmd);
        let out = Arc::new(Mutex::new(Vec::new()));
        let err = Arc::new(Mutex::new(Vec::new()));
        let readers =
            vec![collect(child.stdout.take(), Arc::clone(&out)), collect(child.stderr.take(), Arc::clone(&err))];
        Proc { child, label: format!("{cmd:?} in {ns}"), out, err, readers, status: None }
    }

    /// Runs `f` on a new thread that has entered `ns` (`setns`), and returns its result.
    /// Sockets made inside belong to `ns`; the calling thread is unaffected. A panic in `f`
    /// is propagated.
    pub fn in_ns<T: Send>(&self, ns: &str, f: impl FnOnce() -> T + Send) -> T {
        let path = format!("/run/netns/{}", self.name(ns));
        std::thread::scope(|s| {
            s.spawn(move || {
                let file = std::fs::File::open(&path).unwrap_or_else(|e| panic!("open {path}: {e}"));
                nix::sched::setns(file.as_fd(), nix::sched::CloneFlags::CLONE_NEWNET)
                    .unwrap_or_else(|e| panic!("setns {path}: {e}"));
                f()
            })
            .join()
            .unwrap_or_else(|p| std::panic::resume_unwind(p))
        })
    }

    fn command(&self, ns: &str, cmd: &[&str]) -> Command {
        assert!(!cmd.is_empty(), "empty command");
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.name(ns)]).args(cmd);
        if self.own_groups {
            std::os::unix::process::CommandExt::process_group(&mut c, 0);
        }
        c
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        for ns in self.namespaces.drain(..).rev() {
            delete_ns(&ns);
        }
    }
}

/// Kills whatever runs in `ns`, then deletes it.
fn delete_ns(ns: &str) {
    if let Ok(o) = Command::new("ip").args(["netns", "pids", ns]).output() {
        for pid in String::from_utf8_lossy(&o.stdout).split_whitespace() {
            if let Ok(pid) = pid.parse::<i32>() {
                let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), nix::sys::signal::SIGKILL);
            }
        }
    }
    let _ = Command::new("ip").args(["netns", "del", ns]).stderr(Stdio::null()).status();
}

/// Deletes namespaces `xvs-<tag>-<pid>-...` whose process is gone.
fn reap_stale() {
    let Ok(dir) = std::fs::read_dir("/run/netns") else { return };
    for entry in dir.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(rest) = name.strip_prefix("xvs-") else { continue };
        // <tag>-<pid>-<n>-<short>; the tag has no '-'.
        let mut parts = rest.splitn(3, '-');
        let (_, pid) = (parts.next(), parts.next().and_then(|p| p.parse::<u32>().ok()));
        if let Some(pid) = pid {
            if !std::path::Path::new(&format!("/proc/{pid}")).exists() {
                delete_ns(&name);
            }
        }
    }
}

fn sysctl_path(key: &str) -> String {
    format!("/proc/sys/{}", key.replace('.', "/"))
}

fn ip(args: &[&str]) {
    let o = Command::new("ip").args(args).output().unwrap_or_else(|e| panic!("ip {args:?}: {e}"));
    assert!(o.status.success(), "ip {}: {}", args.join(" "), String::from_utf8_lossy(&o.stderr));
}

fn reader<R: Read + Send + 'static>(r: Option<R>) -> JoinHandle<Vec<u8>> {
    std::thread::spawn(move || {
        let mut buf = Vec::new();
        if let Some(mut r) = r {
            let _ = r.read_to_end(&mut buf);
        }
        buf
    })
}

fn join(h: JoinHandle<Vec<u8>>) -> Vec<u8> {
    h.join().unwrap_or_default()
}

fn collect<R: Read + Send + 'static>(r: Option<R>, into: Arc<Mutex<Vec<u8>>>) -> JoinHandle<()> {
    std::thread::spawn(move || {
        let Some(mut r) = r else { return };
        let mut chunk = [0u8; 4096];
        while let Ok(n) = r.read(&mut chunk) {
            if n == 0 {
                break;
            }
            into.lock().unwrap().extend_from_slice(&chunk[..n]);
        }
    })
}

/// A background process in a namespace. Dropping it kills it (SIGKILL) and reaps it.
#[derive(Debug)]
pub struct Proc {
    child: Child,
    label: String,
    out: Arc<Mutex<Vec<u8>>>,
    err: Arc<Mutex<Vec<u8>>>,
    readers: Vec<JoinHandle<()>>,
    status: Option<ExitStatus>,
}

impl Proc {
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Everything it printed on stdout so far.
    pub fn stdout(&self) -> String {
        String::from_utf8_lossy(&self.out.lock().unwrap()).into_owned()
    }

    /// Everything it printed on stderr so far.
    pub fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.err.lock().unwrap()).into_owned()
    }

    /// Waits until its stdout contains `needle`; panics (with its output) if it exits first
    /// or `timeout` passes.
    pub fn wait_for_stdout(&mut self, needle: &str, timeout: Duration) {
        self.wait_for(needle, timeout, false)
    }

    /// Waits until the process's stderr contains `needle`; panics (with both streams)
    /// if it exits first or `timeout` passes.
    pub fn wait_for_stderr(&mut self, needle: &str, timeout: Duration) {
        self.wait_for(needle, timeout, true)
    }

    /// The label it was spawned with (command and namespace).
    pub fn label(&self) -> &str {
        &self.label
    }

    fn wait_for(&mut self, needle: &str, timeout: Duration, stderr: bool) {
        if let Err(e) = self.try_wait_for(needle, timeout, stderr) {
            panic!("{e}");
        }
    }

    /// Waits until its stderr (`stderr`) or stdout contains `needle`; an error (with both
    /// streams) if it exits first or `timeout` passes.
    pub fn try_wait_for(&mut self, needle: &str, timeout: Duration, stderr: bool) -> Result<(), String> {
        let deadline = Instant::now() + timeout;
        let has = |p: &Proc| if stderr { p.stderr().contains(needle) } else { p.stdout().contains(needle) };
        loop {
            if has(self) {
                return Ok(());
            }
            if let Some(s) = self.try_status() {
                std::thread::sleep(Duration::from_millis(50)); // let the readers catch up
                if has(self) {
                    return Ok(());
                }
                return Err(format!("{} exited ({s}) before printing {needle:?}\n{}", self.label, self.dump()));
            }
            if Instant::now() >= deadline {
                return Err(format!("{} did not print {needle:?} within {timeout:?}\n{}", self.label, self.dump()));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn try_status(&mut self) -> Option<ExitStatus> {
        if self.status.is_none() {
            self.status = self.child.try_wait().ok().flatten();
        }
        self.status
    }

    /// Sends `sig`.
    pub fn signal(&self, sig: nix::sys::signal::Signal) {
        let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(self.child.id() as i32), sig);
    }

    /// SIGTERM, then waits up to `timeout` for it to exit (SIGKILL after that, and panics).
    /// Returns its exit status, with its output fully collected.
    pub fn terminate(&mut self, timeout: Duration) -> ExitStatus {
        if self.try_status().is_none() {
            self.signal(nix::sys::signal::Signal::SIGTERM);
        }
        let deadline = Instant::now() + timeout;
        while self.try_status().is_none() {
            if Instant::now() >= deadline {
                let _ = self.child.kill();
                let _ = self.child.wait();
                self.finish_readers();
                panic!("{} did not exit within {timeout:?} of SIGTERM\n{}", self.label, self.dump());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        self.finish_readers();
        self.status.expect("status")
    }

    /// Its stdout and stderr, for a failure message.
    pub fn dump(&self) -> String {
        format!("--- stdout\n{}--- stderr\n{}---", self.stdout(), self.stderr())
    }

    /// Joins the output readers, waiting at most a second: a grandchild that inherited the
    /// pipes could keep them open forever.
    fn finish_readers(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(1);
        while self.readers.iter().any(|r| !r.is_finished()) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        for r in self.readers.drain(..) {
            if r.is_finished() {
                let _ = r.join();
            }
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if self.try_status().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        self.finish_readers();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exists(ns: &str) -> bool {
        std::path::Path::new("/run/netns").join(ns).exists()
    }

    #[test]
    fn teardown_on_panic_kills_processes_and_deletes_namespaces() {
        let mut names = (String::new(), String::new());
        let mut pid = 0;
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let mut lab = Lab::new("netns_teardown");
            lab.ns("a").ns("b").veth(("a", "e0"), ("b", "e0")).addr("a", "e0", "10.0.0.1/24");
            names = (lab.name("a"), lab.name("b"));
            // Started through a shell, so the sleep is a grandchild the Proc does not own.
            let p = lab.spawn("a", &["sh", "-c", "sleep 300 & echo $!; wait"]);
            let deadline = Instant::now() + Duration::from_secs(5);
            while p.stdout().trim().is_empty() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(10));
            }
            pid = p.stdout().trim().parse::<i32>().expect("pid of sleep");
            std::mem::forget(p); // as if its owner leaked it: the lab must still kill it
            panic!("test body fails");
        }));
        assert!(r.is_err());
        assert!(!exists(&names.0) && !exists(&names.1), "namespaces left: {names:?}");
        std::thread::sleep(Duration::from_millis(100));
        let state = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        assert!(state.is_empty() || state.contains(") Z "), "sleep {pid} survived: {state}");
    }

    #[test]
    fn exec_times_out_and_in_ns_sees_the_namespace() {
        let mut lab = Lab::new("netns_exec");
        lab.ns("a").sysctl("a", "net.ipv4.ip_forward", "1");
        assert_eq!(lab.read_sysctl("a", "net.ipv4.ip_forward"), "1");
        let t = Instant::now();
        let o = lab.exec("a", &["sleep", "30"], Duration::from_millis(200));
        assert!(!o.status.success() && t.elapsed() < Duration::from_secs(5));
        let links = lab.in_ns("a", || nix::net::if_::if_nameindex().unwrap().iter().count());
        assert_eq!(links, 1, "a fresh namespace has only lo");
        assert!(lab.run("a", &["ip", "-o", "link"]).contains("lo:"));
    }
}
