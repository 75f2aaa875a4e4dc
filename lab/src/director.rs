//! A director lab: a client, a director and real servers on one switched segment, in
//! network namespaces, wired for NAT, DR or TUN. `xvs demo`, the end-to-end tests and
//! `xvs-bench veth` build on it. It owns the topology, the reals' servers (a Python
//! program, [`real_server_script`]) and the config text it writes for `xvs run`; the HTTP
//! client that talks to those servers is [`crate::http`].
//!
//! Topology (one bridge `br0` in namespace `sw`; every host has one veth to it):
//!
//! ```text
//!   cl   10.0.0.2/24    2001:db8::2/64        client; VIPs routed via the director
//!   dir  10.0.0.1/24    2001:db8::1/64        director, one-armed: xvs runs on `d0`
//!        10.0.2.1/24    2001:db8:2::1/64
//!   rN   10.0.2.1N/24   2001:db8:2::1N/64     real servers
//! ```
//!
//! VIPs: 10.0.1.100 and 2001:db8:1::100. For NAT the reals' default route is the
//! director, so replies come back through it. For DR and TUN the reals carry the VIPs on
//! `lo` (`xvs realserver`, which also attaches the decap program for TUN) and reach the
//! client on-link, so replies go around the director, which owns the VIP and would drop
//! them as martians.
//!
//! Invariants: everything lives in the [`Lab`]'s namespaces and goes with it (also on a
//! panic); its processes (`procs`) get SIGTERM, then SIGKILL after 5 s, when it is dropped,
//! and its scratch directory is removed; every wait for a process to come up has a
//! deadline; every veth end has TX checksum offload off (see DESIGN.md); the director's
//! veth has `queues` RX/TX queues. It knows `xvs` only as a program path to run.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::netns::{Lab, Proc};

/// The forwarding mode the lab is wired for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LabMode {
    Nat,
    Dr,
    Tun,
}

impl LabMode {
    pub fn name(self) -> &'static str {
        match self {
            LabMode::Nat => "nat",
            LabMode::Dr => "dr",
            LabMode::Tun => "tun",
        }
    }

    pub fn parse(s: &str) -> Option<LabMode> {
        match s {
            "nat" => Some(LabMode::Nat),
            "dr" => Some(LabMode::Dr),
            "tun" => Some(LabMode::Tun),
            _ => None,
        }
    }
}

pub const VIP4: Ipv4Addr = Ipv4Addr::new(10, 0, 1, 100);
/// The UDP port the TUN lab's reals decapsulate GUE on.
pub const GUE_PORT: &str = "6080";
pub const VIP6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 1, 0, 0, 0, 0, 0x100);
pub const CLIENT4: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);
pub const CLIENT6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 2);
/// The director's own client-side address (for its SSH-like service and ping).
pub const DIRECTOR4: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
pub const DIRECTOR6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1);
/// The director's interface.
pub const DIRECTOR_DEV: &str = "d0";

/// The real server `i` (0-based): its IPv4 and IPv6 addresses.
pub fn real_addrs(i: usize) -> (Ipv4Addr, Ipv6Addr) {
    let last = 11 + i as u8;
    (Ipv4Addr::new(10, 0, 2, last), Ipv6Addr::new(0x2001, 0xdb8, 2, 0, 0, 0, 0, last as u16))
}

/// A built lab. Namespaces: `sw`, `cl`, `dir`, `r0`, `r1`, ...
#[derive(Debug)]
pub struct DirectorLab {
    pub lab: Lab,
    pub mode: LabMode,
    pub reals: usize,
    /// Background processes (servers, realserver helpers, the director), stopped with
    /// the lab.
    pub procs: Vec<Proc>,
    dir: PathBuf,
}

fn real_ns(i: usize) -> String {
    format!("r{i}")
}

impl DirectorLab {
    /// Build the namespaces, links, addresses and routes for `mode` with `reals` real
    /// servers; the director's veth gets `queues` queues.
    pub fn new(test: &str, mode: LabMode, reals: usize, queues: u32) -> DirectorLab {
        let mut lab = Lab::new(test);
        lab.ns("sw").ns("cl").ns("dir");
        lab.run("sw", &["ip", "link", "add", "br0", "type", "bridge"]);
        lab.run("sw", &["ip", "link", "set", "br0", "up"]);
        // A veth from each host to the switch.
        let hosts: Vec<(String, String)> = std::iter::once(("cl".to_string(), "c0".to_string()))
            .chain(std::iter::once(("dir".to_string(), DIRECTOR_DEV.to_string())))
            .chain((0..reals).map(|i| (real_ns(i), "e0".to_string())))
            .collect();
        for (i, (ns, dev)) in hosts.iter().enumerate() {
            if ns != "cl" && ns != "dir" {
                lab.ns(ns);
            }
            let port = format!("p{i}");
            if ns == "dir" && queues > 1 {
                let q = queues.to_string();
                let (dir_ns, sw_ns) = (lab.name("dir"), lab.name("sw"));
                let out = std::process::Command::new("ip")
                    .args(["link", "add", dev, "netns", &dir_ns, "numrxqueues", &q, "numtxqueues", &q, "type", "veth"])
                    .args(["peer", "name", &port, "netns", &sw_ns, "numrxqueues", &q, "numtxqueues", &q])
                    .output()
                    .expect("ip link add");
                assert!(out.status.success(), "veth with {q} queues: {}", String::from_utf8_lossy(&out.stderr));
                for (n, d) in [("dir", dev.as_str()), ("sw", port.as_str())] {
                    lab.run(n, &["ip", "link", "set", d, "up"]);
                    lab.exec(n, &["ethtool", "-K", d, "tx", "off"], Duration::from_secs(5));
                }
            } else {
                lab.veth((ns, dev), ("sw", &port));
            }
            lab.run("sw", &["ip", "link", "set", &port, "master", "br0"]);
        }
        for ns in ["sw", "cl", "dir"] {
            lab.run(ns, &["ip", "link", "set", "lo", "up"]);
        }
        lab.addr("cl", "c0", "10.0.0.2/24").addr("cl", "c0", "2001:db8::2/64");
        lab.addr("dir", DIRECTOR_DEV, "10.0.0.1/24").addr("dir", DIRECTOR_DEV, "2001:db8::1/64");
        lab.addr("dir", DIRECTOR_DEV, "10.0.2.1/24").addr("dir", DIRECTOR_DEV, "2001:db8:2::1/64");
        lab.route("cl", "10.0.1.0/24 via 10.0.0.1").route("cl", "2001:db8:1::/64 via 2001:db8::1");
        lab.forwarding("dir").no_rp_filter("dir").no_rp_filter("cl");
        for i in 0..reals {
            let ns = real_ns(i);
            let (v4, v6) = real_addrs(i);
            lab.run(&ns, &["ip", "link", "set", "lo", "up"]);
            lab.addr(&ns, "e0", &format!("{v4}/24")).addr(&ns, "e0", &format!("{v6}/64"));
            lab.no_rp_filter(&ns);
            match mode {
                LabMode::Nat => {
                    lab.route(&ns, "default via 10.0.2.1").route(&ns, "default via 2001:db8:2::1");
                }
                LabMode::Dr | LabMode::Tun => {
                    lab.route(&ns, "10.0.0.0/24 dev e0").route(&ns, "2001:db8::/64 dev e0");
                }
            }
        }
        let dir = crate::private_dir("xvs-lab");
        DirectorLab { lab, mode, reals, procs: Vec::new(), dir }
    }

    /// A scratch directory for this lab's files (configs, logs).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The port the reals listen on for the HTTP service (NAT maps 80 to 8080).
    pub fn real_http_port(&self) -> u16 {
        if self.mode == LabMode::Nat {
            8080
        } else {
            80
        }
    }

    /// An xvs config for this lab: TCP :80 and UDP :53 on both VIPs, `scheduler`, the
    /// given weights (one per real; `None`: all 1), plus `extra` service keys (e.g.
    /// `persistence = 30`).
    pub fn config(&self, scheduler: &str, weights: Option<&[u32]>, extra: &str) -> String {
        let mut s = String::new();
        s.push_str(&format!(
            "[director]\ninterfaces = [\"{DIRECTOR_DEV}\"]\npoll = \"adaptive\"\nmax_connections = 200000\n\
             control_socket = \"{}\"\naddress = \"10.0.2.1\"\naddress6 = \"2001:db8:2::1\"\n\n",
            self.dir.join("xvs.sock").display()
        ));
        for (vip, proto, vport, rport) in [
            (IpAddr::V4(VIP4), "tcp", 80, self.real_http_port()),
            (IpAddr::V6(VIP6), "tcp", 80, self.real_http_port()),
            (IpAddr::V4(VIP4), "udp", 53, 5353),
            (IpAddr::V6(VIP6), "udp", 53, 5353),
        ] {
            let rport = if self.mode == LabMode::Nat { rport } else { vport };
            s.push_str(&format!(
                "[[service]]\nvip = \"{}\"\nprotocol = \"{proto}\"\nscheduler = \"{scheduler}\"\nforward = \"{}\"\n{extra}\n",
                SocketAddr::new(vip, vport),
                self.mode.name()
            ));
            for i in 0..self.reals {
                let (v4, v6) = real_addrs(i);
                let addr = if vip.is_ipv4() { IpAddr::V4(v4) } else { IpAddr::V6(v6) };
                let w = weights.and_then(|w| w.get(i)).copied().unwrap_or(1);
                s.push_str(&format!(
                    "  [[service.real]]\n  addr = \"{}\"\n  weight = {w}\n",
                    SocketAddr::new(addr, rport)
                ));
            }
            s.push('\n');
        }
        s
    }

    /// Write `text` as the lab's config file and return its path.
    pub fn write_config(&self, text: &str) -> PathBuf {
        let p = self.dir.join("xvs.toml");
        std::fs::write(&p, text).expect("write lab config");
        p
    }

    /// Start, on every real: an HTTP server answering `GET /` with "real N\n" (and
    /// `GET /bytes/N` with N bytes of a fixed pattern), a UDP echo server (replying from
    /// the address it was asked on: the VIP for DR/TUN), and for DR/TUN
    /// `xvs realserver` with the VIPs (and decap for TUN). `xvs` is the binary to use.
    pub fn start_reals(&mut self, xvs: &Path) {
        if let Err(e) = self.try_start_reals(xvs) {
            panic!("{e}");
        }
    }

    /// [`start_reals`](Self::start_reals), with an error (and the process's output) instead
    /// of a panic when a server does not come up.
    pub fn try_start_reals(&mut self, xvs: &Path) -> Result<(), String> {
        let port = self.real_http_port();
        let udp = if self.mode == LabMode::Nat { 5353 } else { 53 };
        for i in 0..self.reals {
            let ns = real_ns(i);
            let script = real_server_script(i, port, udp);
            let p = self.lab.spawn(&ns, &["python3", "-u", "-c", &script]);
            self.procs.push(p);
            if self.mode != LabMode::Nat {
                let xvs = xvs.display().to_string();
                let mut cmd = vec![xvs.as_str(), "realserver", "--vip", "10.0.1.100", "--vip", "2001:db8:1::100"];
                if self.mode == LabMode::Tun {
                    // GUE tunnels come to GUE_PORT; IPIP and GRE need no port.
                    cmd.extend(["--decap", "e0", "--gue-port", GUE_PORT]);
                }
                let p = self.lab.spawn(&ns, &cmd);
                self.procs.push(p);
                let p = self.procs.last_mut().expect("just pushed");
                p.try_wait_for("VIPs on lo", Duration::from_secs(10), false)?;
            }
        }
        for p in self.procs.iter_mut().filter(|p| p.label().contains("python3")) {
            p.try_wait_for("listening", Duration::from_secs(10), false)?;
        }
        Ok(())
    }

    /// Start `xvs run -c CONFIG` in the director's namespace and wait until it runs.
    pub fn start_director(&mut self, xvs: &Path, config: &Path) -> usize {
        self.try_start_director(xvs, config, &[]).unwrap_or_else(|e| panic!("{e}"))
    }

    /// Start `xvs run -c CONFIG EXTRA...` in the director's namespace and wait until it
    /// runs; returns its index in `procs`, or an error with its output. The process is in
    /// `procs` either way, so it stops with the lab.
    pub fn try_start_director(&mut self, xvs: &Path, config: &Path, extra: &[&str]) -> Result<usize, String> {
        let xvs = xvs.display().to_string();
        let cfg = config.display().to_string();
        let mut cmd = vec![xvs.as_str(), "run", "-c", &cfg];
        cmd.extend_from_slice(extra);
        let p = self.lab.spawn("dir", &cmd);
        self.procs.push(p);
        let i = self.procs.len() - 1;
        self.procs[i].try_wait_for("running:", Duration::from_secs(20), true)?;
        Ok(i)
    }
}

impl Drop for DirectorLab {
    fn drop(&mut self) {
        for p in self.procs.iter_mut().rev() {
            p.terminate(Duration::from_secs(5));
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The Python program each real server runs: HTTP on `http_port` naming the real, and UDP
/// echo on `udp_port` (prefixing the real's name), on every address.
pub fn real_server_script(i: usize, http_port: u16, udp_port: u16) -> String {
    format!(
        r#"
import http.server, socketserver, socket, threading
NAME = "real {i}"
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_GET(self):
        if self.path.startswith("/bytes/"):
            n = int(self.path[7:])
            pat = bytes(range(256))
            body = (pat * (n // 256 + 1))[:n]
        else:
            body = (NAME + "\n").encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("X-Real", NAME)
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *a):
        pass
class S(socketserver.ThreadingMixIn, socketserver.TCPServer):
    allow_reuse_address = True
    daemon_threads = True
class S6(S):
    address_family = socket.AF_INET6
    def server_bind(self):
        self.socket.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        super().server_bind()
# Replies leave from the address the request was sent to (the VIP, for DR and TUN), as
# any UDP server bound to a wildcard address must: IP_PKTINFO / IPV6_PKTINFO.
IP_PKTINFO = getattr(socket, "IP_PKTINFO", 8)
def udp(fam, addr):
    s = socket.socket(fam, socket.SOCK_DGRAM)
    if fam == socket.AF_INET6:
        s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_RECVPKTINFO, 1)
    else:
        s.setsockopt(socket.IPPROTO_IP, IP_PKTINFO, 1)
    s.bind((addr, {udp_port}))
    while True:
        data, anc, _, peer = s.recvmsg(65535, 256)
        out = []
        for level, kind, info in anc:
            if level == socket.IPPROTO_IP and kind == IP_PKTINFO:
                # struct in_pktinfo {{ ifindex, spec_dst, addr }}: source = the packet's destination
                out = [(level, kind, bytes(4) + info[8:12] + bytes(4))]
            elif level == socket.IPPROTO_IPV6 and kind == socket.IPV6_PKTINFO:
                # struct in6_pktinfo {{ addr, ifindex }}
                out = [(level, kind, info[:16] + bytes(4))]
        s.sendmsg([NAME.encode() + b": " + data], out, 0, peer)
for fam, addr in ((socket.AF_INET, "0.0.0.0"), (socket.AF_INET6, "::")):
    threading.Thread(target=udp, args=(fam, addr), daemon=True).start()
s6 = S6(("::", {http_port}), H)
threading.Thread(target=s6.serve_forever, daemon=True).start()
s4 = S(("0.0.0.0", {http_port}), H)
print("listening", flush=True)
s4.serve_forever()
"#
    )
}
