//! Shared by the connection-sync tests (`sync_failover_e2e.rs`, `sync_nat_e2e.rs`): reals
//! that serve a rate-limited download and their own name on ports 80 and 8080, `xvs run`
//! on a keepalived.conf in a namespace, `xvs ctl` against it, the client's requests to
//! the seed's VIP, and the end of a capture of the client's FINs and RSTs.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::time::{Duration, Instant};

use xvs_lab::{Lab, Proc};

/// Bytes of the download.
pub const SIZE: usize = 30 * 1024 * 1024;
/// The reals send at about this rate, so the download outlasts the failover.
pub const RATE: usize = 4 * 1024 * 1024;

/// A real: HTTP on 80 and 8080; `/big` is SIZE bytes of a pattern at RATE, anything
/// else its name.
pub fn real_script(name: &str) -> String {
    format!(
        r#"
import socket, threading, time
NAME = b"{name}"
SIZE, RATE, CHUNK = {SIZE}, {RATE}, 65536
BLOCK = bytes((i * 7 + 3) % 251 for i in range(CHUNK))
def serve(c):
    try:
        req = b""
        while b"\r\n\r\n" not in req:
            d = c.recv(4096)
            if not d: return
            req += d
        if req.startswith(b"GET /big"):
            c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\nConnection: close\r\n\r\n" % SIZE)
            sent, t0 = 0, time.time()
            while sent < SIZE:
                n = min(CHUNK, SIZE - sent)
                c.sendall(BLOCK[:n])
                sent += n
                ahead = sent / RATE - (time.time() - t0)
                if ahead > 0: time.sleep(ahead)
        else:
            c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s" % (len(NAME), NAME))
    finally:
        c.close()
def listen(port):
    s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("0.0.0.0", port)); s.listen(64)
    while True:
        c, _ = s.accept()
        threading.Thread(target=serve, args=(c,), daemon=True).start()
for p in (80, 8080):
    threading.Thread(target=listen, args=(p,), daemon=True).start()
print("listening", flush=True)
threading.Event().wait()
"#
    )
}

pub fn start_xvs(lab: &Lab, ns: &str, dir: &Path, name: &str, conf: &str) -> Proc {
    let path = dir.join(format!("{name}.conf"));
    std::fs::write(&path, conf).unwrap();
    let sock = dir.join(format!("{name}.sock")).display().to_string();
    let xvs = super::xvs().display().to_string();
    let conf = path.display().to_string();
    let mut p = lab.spawn(ns, &[&xvs, "run", "-c", &conf, "--control-socket", &sock, "--poll", "adaptive"]);
    p.wait_for_stderr("running:", Duration::from_secs(20));
    p
}

pub fn ctl(lab: &Lab, ns: &str, dir: &Path, name: &str, args: &[&str]) -> String {
    let sock = dir.join(format!("{name}.sock")).display().to_string();
    let xvs = super::xvs().display().to_string();
    let mut cmd = vec![xvs.as_str(), "ctl", "--control-socket", sock.as_str()];
    cmd.extend_from_slice(args);
    lab.run(ns, &cmd)
}

/// One request to VIP:`port` from the client: the body, or why it did not come (a read
/// stalled for `stall`).
pub fn try_fetch(lab: &Lab, port: u16, path: &str, stall: Duration) -> std::io::Result<Vec<u8>> {
    let vip: SocketAddr = format!("{}:{port}", super::seed_pair::VIP).parse().unwrap();
    lab.in_ns("cl", || {
        let mut s = TcpStream::connect_timeout(&vip, Duration::from_secs(3))?;
        s.set_read_timeout(Some(stall))?;
        write!(s, "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")?;
        let mut all = Vec::new();
        s.read_to_end(&mut all)?;
        let at = all.windows(4).position(|w| w == b"\r\n\r\n").ok_or(std::io::ErrorKind::InvalidData)? + 4;
        Ok(all.split_off(at))
    })
}

pub fn fetch(lab: &Lab, port: u16, path: &str) -> Vec<u8> {
    try_fetch(lab, port, path, Duration::from_secs(30)).expect("the request")
}

pub fn pattern() -> Vec<u8> {
    let block: Vec<u8> = (0..65536usize).map(|i| ((i * 7 + 3) % 251) as u8).collect();
    block.iter().copied().cycle().take(SIZE).collect()
}

/// Stop `dumpcap`, capturing into file `cap` in namespace `ns`, once the file holds two
/// FINs (a download's end) or after 10 s (then the caller's check of the FINs fails and
/// says so), and wait (5 s) for it to end. Why not at once: libpcap hands dumpcap the
/// kernel's captured packets a block at a time, the last one when its timer runs out, so
/// packets that came just before SIGINT can still be in the kernel's ring when dumpcap
/// stops, and are lost (a download's FINs, seen missing on a host where they came some
/// tens of milliseconds before).
pub fn stop_capture_after_fins(lab: &Lab, ns: &str, cap: &str, dumpcap: &mut Proc, logs: impl Fn() -> String) {
    let fins = || {
        let o = lab.exec(ns, &["tshark", "-r", cap, "-Y", "tcp.flags.fin == 1"], Duration::from_secs(10));
        String::from_utf8_lossy(&o.stdout).lines().count() >= 2
    };
    let t0 = Instant::now();
    while !fins() && t0.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(100));
    }
    dumpcap.signal(nix::sys::signal::Signal::SIGINT);
    super::seed_pair::wait("dumpcap's end", Duration::from_secs(5), || dumpcap.try_status().is_some(), logs);
}
