//! The fleet lab of `fleet_e2e.rs`: a router running BIRD 2 (`merge paths on`, L4
//! multipath hashing), three directors each running `xvs run` on one core with
//! `manage_vips = false` and ExaBGP with `xvs announce` as its process, three LVS-DR reals,
//! and a client behind the router.
//!
//! ```text
//!  cl 10.9.0.2 -- 10.9.0.1 rt 10.8.0.1 --+-- d1 10.8.0.11 (xvs + ExaBGP)   LAN 10.8.0.0/24 (bridge in sw)
//!                  BIRD, AS 65000        +-- d2 10.8.0.12                  directors: AS 65001
//!                                        +-- d3 10.8.0.13
//!                                        +-- r1..r3 10.8.0.21-23 (VIP on lo, reply via rt)
//! ```

use std::path::PathBuf;
use std::time::{Duration, Instant};

use xvs_lab::{Lab, Proc};

pub const VIP: &str = "10.7.0.100";
pub const DIRECTORS: usize = 3;
/// The LVS-DR reals behind every director.
pub const REALS: usize = 3;
/// BGP hold time on both sides (the smallest BIRD allows).
pub const HOLD_S: u32 = 3;

pub fn director_ip(i: usize) -> String {
    format!("10.8.0.{}", 11 + i)
}

fn real_ip(i: usize) -> String {
    format!("10.8.0.{}", 21 + i)
}

/// A real: HTTP on 80; `GET /stream?size=S&rate=R` sends S bytes of the pattern at about
/// R bytes/s, anything else a short body.
const REAL: &str = r#"
import socket, threading, time
BLOCK = bytes((i * 7 + 3) % 251 for i in range(65536))
TWO = BLOCK * 2
def serve(c):
    try:
        req = b""
        while b"\r\n\r\n" not in req:
            d = c.recv(4096)
            if not d: return
            req += d
        line = req.split(b"\r\n")[0].decode()
        if line.startswith("GET /stream?"):
            q = dict(kv.split("=") for kv in line.split(" ")[1].split("?")[1].split("&"))
            size, rate = int(q["size"]), int(q["rate"])
            c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\nConnection: close\r\n\r\n" % size)
            sent, t0 = 0, time.time()
            while sent < size:
                n = min(8192, size - sent)
                c.sendall(TWO[sent % 65536:sent % 65536 + n])
                sent += n
                ahead = sent / rate - (time.time() - t0)
                if ahead > 0: time.sleep(ahead)
        else:
            c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")
    except OSError:
        pass
    finally:
        c.close()
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", 80)); s.listen(512)
print("listening", flush=True)
while True:
    c, _ = s.accept()
    threading.Thread(target=serve, args=(c,), daemon=True).start()
"#;

/// The client: N downloads of SIZE bytes at RATE, each from its own source port, started
/// 10 ms apart; prints `started` once every one is connected, then one line of JSON:
/// `{"ok": n, "broken": ["why", ...]}` (a body that differs from the pattern is broken).
const CLIENT: &str = r#"
import json, socket, sys, threading, time
VIP, N, SIZE, RATE, STALL = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5])
BLOCK = bytes((i * 7 + 3) % 251 for i in range(65536))
WANT = (BLOCK * (SIZE // 65536 + 1))[:SIZE]
results, connected = [None] * N, threading.Semaphore(0)
def one(i):
    try:
        s = socket.create_connection((VIP, 80), timeout=5)
        connected.release()
        s.settimeout(STALL)
        s.sendall(b"GET /stream?size=%d&rate=%d HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n" % (SIZE, RATE))
        buf = bytearray()
        while True:
            d = s.recv(65536)
            if not d: break
            buf += d
        body = bytes(buf).partition(b"\r\n\r\n")[2]
        results[i] = "ok" if body == WANT else "short or corrupt body: %d of %d bytes" % (len(body), SIZE)
    except Exception as e:
        connected.release()
        results[i] = "%s: %s" % (type(e).__name__, e)
ts = [threading.Thread(target=one, args=(i,)) for i in range(N)]
for t in ts:
    t.start(); time.sleep(0.01)
for _ in ts: connected.acquire()
print("started", flush=True)
for t in ts: t.join()
print(json.dumps({"ok": results.count("ok"), "broken": [r for r in results if r != "ok"]}), flush=True)
"#;

/// Each director's BGP speaker.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Speaker {
    /// ExaBGP, running `xvs announce` as its process.
    ExaBgp,
    /// BIRD 2, with `xvs announce --bird-include` beside it.
    Bird,
}

/// How each director runs.
#[derive(Clone, Copy, Debug)]
pub struct Setup {
    pub scheduler: &'static str,
    /// Active-active connection sync on the LAN.
    pub sync: bool,
    pub directors: usize,
    pub speaker: Speaker,
}

impl Setup {
    /// Three directors with ExaBGP.
    pub fn three(scheduler: &'static str, sync: bool) -> Setup {
        Setup { scheduler, sync, directors: DIRECTORS, speaker: Speaker::ExaBgp }
    }
}

/// One director: `xvs run` and its BGP speaker (and, with BIRD, the announcer beside it),
/// each `None` once killed.
pub struct Member {
    pub xvs: Option<Proc>,
    pub speaker: Option<Proc>,
    pub announcer: Option<Proc>,
}

pub struct Fleet {
    pub n: usize,
    pub members: Vec<Member>,
    pub reals: Vec<Proc>,
    pub bird: Proc,
    pub dir: PathBuf,
    pub lab: Lab,
}

pub fn ns(i: usize) -> String {
    format!("d{}", i + 1)
}

impl Fleet {
    pub fn start(test: &str, setup: Setup) -> Fleet {
        let mut lab = Lab::new(test);
        let n = setup.directors;
        lab.ns("sw").ns("rt").ns("cl");
        for i in 0..n {
            lab.ns(&ns(i));
        }
        for i in 0..REALS {
            lab.ns(&format!("r{}", i + 1));
        }
        lab.run("sw", &["ip", "link", "add", "br0", "type", "bridge"]);
        lab.run("sw", &["ip", "link", "set", "br0", "up"]);
        let mut lan = vec![("rt".to_string(), "l0", "10.8.0.1".to_string())];
        lan.extend((0..n).map(|i| (ns(i), "d0", director_ip(i))));
        lan.extend((0..REALS).map(|i| (format!("r{}", i + 1), "e0", real_ip(i))));
        for (k, (n, dev, addr)) in lan.iter().enumerate() {
            let port = format!("p{k}");
            lab.veth((n, dev), ("sw", &port));
            lab.run("sw", &["ip", "link", "set", &port, "master", "br0"]);
            lab.run(n, &["ip", "link", "set", "lo", "up"]);
            lab.addr(n, dev, &format!("{addr}/24"));
        }
        lab.veth(("cl", "c0"), ("rt", "c0"));
        lab.run("cl", &["ip", "link", "set", "lo", "up"]);
        lab.addr("cl", "c0", "10.9.0.2/24").addr("rt", "c0", "10.9.0.1/24");
        lab.route("cl", "default via 10.9.0.1");
        lab.forwarding("rt").no_rp_filter("rt");
        // L4 hashing, so one client's connections spread over the directors.
        lab.sysctl("rt", "net.ipv4.fib_multipath_hash_policy", "1");
        for i in 0..REALS {
            let r = format!("r{}", i + 1);
            lab.run(&r, &["ip", "addr", "add", &format!("{VIP}/32"), "dev", "lo"]);
            lab.sysctl(&r, "net.ipv4.conf.all.arp_ignore", "1").sysctl(&r, "net.ipv4.conf.all.arp_announce", "2");
            lab.route(&r, "default via 10.8.0.1");
        }
        let dir = std::env::temp_dir().join(lab.name("files"));
        std::fs::create_dir_all(&dir).unwrap();
        let mut reals = Vec::new();
        for i in 0..REALS {
            let mut p = lab.spawn(&format!("r{}", i + 1), &["python3", "-u", "-c", REAL]);
            p.wait_for_stdout("listening", Duration::from_secs(10));
            reals.push(p);
        }
        let bird = start_bird(&lab, &dir, n);
        let mut fleet = Fleet { n, members: Vec::new(), reals, bird, dir, lab };
        for i in 0..n {
            // The director forwards to the reals' MACs from its kernel's neighbour table.
            for r in 0..REALS {
                fleet.lab.exec(&ns(i), &["ping", "-c1", "-W1", &real_ip(r)], Duration::from_secs(3));
            }
            let xvs = fleet.start_xvs(i, setup);
            let (speaker, announcer) = match setup.speaker {
                Speaker::ExaBgp => (fleet.start_exabgp(i), None),
                Speaker::Bird => {
                    let announcer = fleet.start_bird_announcer(i);
                    (fleet.start_bird_speaker(i), Some(announcer))
                }
            };
            fleet.members.push(Member { xvs: Some(xvs), speaker: Some(speaker), announcer });
        }
        fleet.wait_paths("every director announces", n, Duration::from_secs(30));
        fleet
    }

    pub fn socket(&self, i: usize) -> String {
        self.dir.join(format!("d{}.sock", i + 1)).display().to_string()
    }

    fn start_xvs(&self, i: usize, setup: Setup) -> Proc {
        let mut c = format!(
            "[director]\ninterfaces = [\"d0\"]\ncores = [{}]\npoll = \"adaptive\"\nmanage_vips = false\n\
             max_connections = 100000\ncontrol_socket = \"{}\"\naddress = \"{}\"\n\n\
             [[service]]\nvip = \"{VIP}:80\"\nprotocol = \"tcp\"\nscheduler = \"{}\"\nforward = \"dr\"\n",
            i % 2,
            self.socket(i),
            director_ip(i),
            setup.scheduler
        );
        for r in 0..REALS {
            c.push_str(&format!(
                "  [[service.real]]\n  addr = \"{}:80\"\n  weight = 1\n  [service.real.check]\n  kind = \"tcp\"\n  \
                 port = 80\n  connect_timeout = 1\n  retry = 1\n  delay_before_retry = 1\n  delay_loop = 1\n  \
                 warmup = 0\n",
                real_ip(r)
            ));
        }
        if setup.sync {
            c.push_str("\n[sync]\ninterface = \"d0\"\n");
        }
        let path = self.dir.join(format!("d{}.toml", i + 1));
        std::fs::write(&path, c).unwrap();
        let xvs = super::xvs().display().to_string();
        let mut p = self.lab.spawn(&ns(i), &[&xvs, "run", "-c", &path.display().to_string()]);
        p.wait_for_stderr("running:", Duration::from_secs(20));
        p
    }

    fn start_exabgp(&self, i: usize) -> Proc {
        let xvs = super::xvs().display().to_string();
        let conf = format!(
            "process xvs {{\n    run {xvs} announce --control-socket {} --interval-ms 100;\n    encoder text;\n}}\n\
             neighbor 10.8.0.1 {{\n    router-id {ip};\n    local-address {ip};\n    local-as 65001;\n    \
             peer-as 65000;\n    hold-time {HOLD_S};\n    api {{\n        processes [ xvs ];\n    }}\n}}\n",
            self.socket(i),
            ip = director_ip(i)
        );
        let env = "[exabgp.daemon]\nuser = 'root'\ndrop = false\n[exabgp.api]\ncli = false\n";
        let (cpath, epath) = (self.dir.join(format!("exabgp-d{}.conf", i + 1)), self.dir.join("exabgp.env"));
        std::fs::write(&cpath, conf).unwrap();
        std::fs::write(&epath, env).unwrap();
        let (c, e) = (cpath.display().to_string(), epath.display().to_string());
        self.lab.spawn(&ns(i), &["exabgp", "--env", &e, &c])
    }

    /// `xvs announce` keeping director `i`'s BIRD include file; once it wrote the file.
    fn start_bird_announcer(&self, i: usize) -> Proc {
        let include = self.dir.join(format!("d{}-vips.conf", i + 1));
        let birdc = format!("birdc -s {} configure", self.dir.join(format!("d{}-bird.ctl", i + 1)).display());
        let xvs = super::xvs().display().to_string();
        let (sock, inc) = (self.socket(i), include.display().to_string());
        let args = [&xvs, "announce", "--control-socket", &sock, "--interval-ms", "100", "--bird-include", &inc];
        let mut args: Vec<&str> = args.to_vec();
        args.extend(["--birdc", &birdc]);
        let p = self.lab.spawn(&ns(i), &args);
        let t0 = Instant::now();
        while !include.exists() {
            assert!(t0.elapsed() < Duration::from_secs(5), "the announcer writes its file:\n{}", p.dump());
            std::thread::sleep(Duration::from_millis(20));
        }
        p
    }

    /// BIRD 2 as director `i`'s speaker, exporting the announcer's static routes.
    fn start_bird_speaker(&self, i: usize) -> Proc {
        let ip = director_ip(i);
        let include = self.dir.join(format!("d{}-vips.conf", i + 1));
        let conf = format!(
            "router id {ip};
protocol device {{ scan time 1; }}
include \"{}\";
             protocol bgp upstream {{ local {ip} as 65001; neighbor 10.8.0.1 as 65000; hold time {HOLD_S};              keepalive time 1; connect retry time 1; ipv4 {{ import none; export where proto = \"xvs_vips4\";              next hop self; }}; }}
",
            include.display()
        );
        let path = self.dir.join(format!("d{}-bird.conf", i + 1));
        std::fs::write(&path, conf).unwrap();
        let sock = self.dir.join(format!("d{}-bird.ctl", i + 1)).display().to_string();
        self.lab.spawn(&ns(i), &["bird", "-f", "-c", &path.display().to_string(), "-s", &sock])
    }

    /// The router's next hops for the VIP.
    pub fn paths(&self) -> Vec<String> {
        let out = self.lab.run("rt", &["ip", "-4", "route", "show", VIP]);
        out.split_whitespace()
            .collect::<Vec<_>>()
            .windows(2)
            .filter(|w| w[0] == "via")
            .map(|w| w[1].to_string())
            .collect()
    }

    /// Waits until the router has `n` paths to the VIP; how long it took.
    pub fn wait_paths(&self, what: &str, n: usize, timeout: Duration) -> Duration {
        let t0 = Instant::now();
        while self.paths().len() != n {
            assert!(
                t0.elapsed() < timeout,
                "{what}: the router has {:?}, not {n} paths\n{}",
                self.paths(),
                self.logs()
            );
            std::thread::sleep(Duration::from_millis(25));
        }
        t0.elapsed()
    }

    /// Service frames director `i` has received (`xvs ctl -Ln --json`).
    pub fn frames(&self, i: usize) -> u64 {
        let out = self.ctl(i, &["-Ln", "--json"]);
        let v: serde_json::Value = serde_json::from_str(out.trim()).unwrap_or_else(|e| panic!("{e}: {out}"));
        let d = &v["director"];
        d["rx"].as_u64().unwrap() - d["passed"].as_u64().unwrap()
    }

    pub fn ctl(&self, i: usize, args: &[&str]) -> String {
        let xvs = super::xvs().display().to_string();
        let sock = self.socket(i);
        let mut cmd = vec![xvs.as_str(), "ctl", "-c", sock.as_str()];
        cmd.extend_from_slice(args);
        self.lab.run(&ns(i), &cmd)
    }

    /// `n` downloads of `size` bytes at `rate` from the client, running.
    pub fn downloads(&self, n: usize, size: usize, rate: usize) -> Proc {
        let args = [n.to_string(), size.to_string(), rate.to_string(), "30".to_string()];
        let mut p = self.lab.spawn("cl", &["python3", "-u", "-c", CLIENT, VIP, &args[0], &args[1], &args[2], &args[3]]);
        p.wait_for_stdout("started", Duration::from_secs(30));
        p
    }

    /// A director's host dies: nothing it sends leaves any more (its BGP session ends by
    /// the router's hold timer, not by a FIN), then `xvs run` and ExaBGP are killed.
    pub fn kill_host(&mut self, i: usize) {
        let n = ns(i);
        for cmd in [
            "add table inet dead",
            "add chain inet dead out { type filter hook output priority 0 ; policy drop ; }",
            "add chain inet dead in { type filter hook input priority 0 ; policy drop ; }",
        ] {
            let mut args = vec!["nft"];
            args.extend(cmd.split(' '));
            self.lab.run(&n, &args);
        }
        let m = &mut self.members[i];
        for p in [m.xvs.take(), m.speaker.take(), m.announcer.take()].into_iter().flatten() {
            p.signal(nix::sys::signal::Signal::SIGKILL);
        }
    }

    pub fn logs(&self) -> String {
        let mut s = format!("--- bird\n{}\n", self.bird.dump());
        for (i, m) in self.members.iter().enumerate() {
            for p in m.xvs.iter().chain(m.speaker.iter()).chain(m.announcer.iter()) {
                s.push_str(&format!("--- d{} {}\n{}\n", i + 1, p.label(), p.dump()));
            }
        }
        s
    }
}

impl Drop for Fleet {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn start_bird(lab: &Lab, dir: &std::path::Path, n: usize) -> Proc {
    let mut conf = format!(
        "router id 10.8.0.1;\nprotocol device {{ scan time 1; }}\n\
         protocol kernel {{ ipv4 {{ export all; import none; }}; merge paths on; }}\n\
         template bgp director {{ local 10.8.0.1 as 65000; hold time {HOLD_S}; keepalive time 1; \
         connect retry time 1; error wait time 1, 2; ipv4 {{ import all; export none; }}; }}\n"
    );
    for i in 0..n {
        conf.push_str(&format!("protocol bgp d{} from director {{ neighbor {} as 65001; }}\n", i + 1, director_ip(i)));
    }
    let path = dir.join("bird.conf");
    std::fs::write(&path, conf).unwrap();
    let (sock, pid) = (dir.join("bird.ctl"), dir.join("bird.pid"));
    let args = ["bird", "-f", "-c", &path.display().to_string(), "-s", &sock.display().to_string()];
    let mut args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    args.extend(["-P".to_string(), pid.display().to_string()]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let p = lab.spawn("rt", &args);
    std::thread::sleep(Duration::from_millis(200));
    p
}

/// The client's verdict: (completed, the reasons of the broken ones).
pub fn outcome(mut client: Proc) -> (usize, Vec<String>) {
    client.wait_for_stdout("\"ok\"", Duration::from_secs(120));
    let out = client.stdout();
    let line = out.lines().find(|l| l.contains("\"ok\"")).unwrap();
    let v: serde_json::Value = serde_json::from_str(line).unwrap();
    let broken = v["broken"].as_array().unwrap().iter().map(|b| b.as_str().unwrap().to_string()).collect();
    (v["ok"].as_u64().unwrap() as usize, broken)
}
