//! Shared helpers of the director end-to-end tests (`director_e2e*.rs`): a running
//! director lab, HTTP and UDP clients that speak to it from the client namespace, parallel
//! connection loops, share checks, and config edits for reloads.
//!
//! Sockets are created inside the client namespace (`Lab::in_ns`) and keep belonging to it
//! wherever they are used afterwards, so a test can open a connection in `cl`, reload the
//! director from the main thread, and go on using the connection.
//!
//! Nothing here skips: without root, namespaces or AF_XDP the lab or the director panics
//! with the reason.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{IpAddr, SocketAddr, TcpStream, UdpSocket};
use std::os::fd::FromRawFd;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

#[allow(unused_imports)]
pub use xvs::director_lab::{real_addrs, DirectorLab, LabMode, DIRECTOR4, DIRECTOR6, DIRECTOR_DEV, VIP4, VIP6};
use xvs::netns::Proc;

/// The `xvs` binary under test.
pub fn xvs() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_xvs"))
}

/// The 10 MB transfer of the tests.
pub const BIG: usize = 10 * 1024 * 1024;

/// A lab with its director running.
pub struct Running {
    pub lab: DirectorLab,
    director: usize,
}

impl Running {
    /// Build the lab for `mode` with `reals` reals and `queues` queues on the director's
    /// interface, start the reals, write `config(&lab)` and start `xvs run` on it.
    pub fn start(
        test: &str,
        mode: LabMode,
        reals: usize,
        queues: u32,
        config: impl FnOnce(&DirectorLab) -> String,
    ) -> Running {
        let mut lab = DirectorLab::new(test, mode, reals, queues);
        lab.start_reals(xvs());
        // The director learns the reals' MACs from its kernel's neighbour table, refreshed
        // every second; resolve them now so the first packets do not wait for a refresh.
        for i in 0..reals {
            let (v4, v6) = real_addrs(i);
            for a in [v4.to_string(), v6.to_string()] {
                lab.lab.exec("dir", &["ping", "-c", "1", "-W", "2", &a], Duration::from_secs(5));
            }
        }
        let text = config(&lab);
        let cfg = lab.write_config(&text);
        let director = lab.start_director(xvs(), &cfg);
        Running { lab, director }
    }

    /// The `xvs run` process.
    pub fn director(&self) -> &Proc {
        &self.lab.procs[self.director]
    }

    /// Panics unless the director is still running.
    pub fn assert_alive(&mut self) {
        let p = &mut self.lab.procs[self.director];
        if let Some(s) = p.try_status() {
            panic!("the director exited ({s}):\n{}", p.dump());
        }
    }

    /// Its output, for failure messages.
    pub fn dump(&self) -> String {
        self.director().dump()
    }

    /// Rewrite the config file with `text`, send SIGHUP, and wait until the director has
    /// reloaded it.
    pub fn reload(&mut self, text: &str) {
        let needle = "xvs: reloaded ";
        let before = self.director().stderr().matches(needle).count();
        self.lab.write_config(text);
        self.director().signal(nix::sys::signal::Signal::SIGHUP);
        let deadline = Instant::now() + Duration::from_secs(10);
        while self.director().stderr().matches(needle).count() == before {
            assert!(Instant::now() < deadline, "the director did not reload within 10 s\n{}", self.dump());
            std::thread::sleep(Duration::from_millis(20));
        }
        // The poll loop takes the new config between batches; give it a moment.
        std::thread::sleep(Duration::from_millis(100));
    }

    /// Run `f` in the client namespace.
    pub fn client<T: Send>(&self, f: impl FnOnce() -> T + Send) -> T {
        self.lab.lab.in_ns("cl", f)
    }
}

/// The VIP's HTTP (TCP 80) endpoint.
pub fn vip_http(v6: bool) -> SocketAddr {
    SocketAddr::new(if v6 { IpAddr::V6(VIP6) } else { IpAddr::V4(VIP4) }, 80)
}

/// The VIP's UDP echo (UDP 53) endpoint.
pub fn vip_udp(v6: bool) -> SocketAddr {
    SocketAddr::new(if v6 { IpAddr::V6(VIP6) } else { IpAddr::V4(VIP4) }, 53)
}

/// `n` bytes of the reals' `/bytes/N` pattern: `bytes(range(256))` repeated.
pub fn pattern(n: usize) -> Vec<u8> {
    (0..n).map(|i| i as u8).collect()
}

/// A TCP connection to `dst`, from `src` (any port) when given, in the calling thread's
/// namespace. Connect timeout 3 s; read and write timeouts 10 s.
pub fn connect(dst: SocketAddr, src: Option<IpAddr>) -> io::Result<TcpStream> {
    let s = match src {
        None => TcpStream::connect_timeout(&dst, Duration::from_secs(3))?,
        Some(src) => connect_from(dst, src)?,
    };
    s.set_read_timeout(Some(Duration::from_secs(10)))?;
    s.set_write_timeout(Some(Duration::from_secs(10)))?;
    s.set_nodelay(true)?;
    Ok(s)
}

fn sockaddr(a: SocketAddr) -> (libc::sockaddr_storage, libc::socklen_t) {
    // SAFETY: an all-zero sockaddr_storage is valid; the casts below write a sockaddr_in or
    // sockaddr_in6, both smaller than and aligned like sockaddr_storage.
    let mut ss: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
    let len = match a {
        SocketAddr::V4(a) => {
            let sin = unsafe { &mut *(&mut ss as *mut libc::sockaddr_storage).cast::<libc::sockaddr_in>() };
            sin.sin_family = libc::AF_INET as libc::sa_family_t;
            sin.sin_port = a.port().to_be();
            sin.sin_addr.s_addr = u32::from_ne_bytes(a.ip().octets());
            std::mem::size_of::<libc::sockaddr_in>()
        }
        SocketAddr::V6(a) => {
            let sin6 = unsafe { &mut *(&mut ss as *mut libc::sockaddr_storage).cast::<libc::sockaddr_in6>() };
            sin6.sin6_family = libc::AF_INET6 as libc::sa_family_t;
            sin6.sin6_port = a.port().to_be();
            sin6.sin6_addr.s6_addr = a.ip().octets();
            std::mem::size_of::<libc::sockaddr_in6>()
        }
    };
    (ss, len as libc::socklen_t)
}

/// connect(2) after bind(2) to `src`: std's `TcpStream` cannot bind before connecting.
fn connect_from(dst: SocketAddr, src: IpAddr) -> io::Result<TcpStream> {
    let fam = if dst.is_ipv4() { libc::AF_INET } else { libc::AF_INET6 };
    // SAFETY: plain socket calls on a descriptor owned here; on success it is handed to a
    // `TcpStream`, which closes it, and on failure it is closed before returning.
    unsafe {
        let fd = libc::socket(fam, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0);
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        let fail = |fd| {
            let e = io::Error::last_os_error();
            libc::close(fd);
            Err(e)
        };
        let tv = libc::timeval { tv_sec: 3, tv_usec: 0 };
        let tvp = (&tv as *const libc::timeval).cast();
        let tvl = std::mem::size_of::<libc::timeval>() as libc::socklen_t;
        if libc::setsockopt(fd, libc::SOL_SOCKET, libc::SO_SNDTIMEO, tvp, tvl) != 0 {
            return fail(fd);
        }
        let (ss, len) = sockaddr(SocketAddr::new(src, 0));
        if libc::bind(fd, (&ss as *const libc::sockaddr_storage).cast(), len) != 0 {
            return fail(fd);
        }
        let (ss, len) = sockaddr(dst);
        if libc::connect(fd, (&ss as *const libc::sockaddr_storage).cast(), len) != 0 {
            return fail(fd);
        }
        Ok(TcpStream::from_raw_fd(fd))
    }
}

/// An HTTP response from a lab real.
#[derive(Debug)]
pub struct Head {
    pub status: u16,
    /// The real that answered (its `X-Real: real N` header).
    pub real: Option<usize>,
    pub content_length: usize,
}

#[derive(Debug)]
pub struct Response {
    pub head: Head,
    pub body: Vec<u8>,
}

impl Response {
    pub fn real(&self) -> usize {
        self.head.real.unwrap_or_else(|| panic!("response without X-Real: {:?}", self.head))
    }
}

/// Read a response head (status line and headers).
pub fn read_head<R: BufRead>(r: &mut R) -> io::Result<Head> {
    let mut line = String::new();
    r.read_line(&mut line)?;
    let status = line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| io::Error::other(format!("bad status line {line:?}")))?;
    let (mut real, mut content_length) = (None, 0);
    loop {
        line.clear();
        if r.read_line(&mut line)? == 0 {
            return Err(io::Error::other("connection closed inside the response head"));
        }
        let l = line.trim_end();
        if l.is_empty() {
            break;
        }
        let (k, v) = l.split_once(':').unwrap_or((l, ""));
        let v = v.trim();
        if k.eq_ignore_ascii_case("content-length") {
            content_length = v.parse().map_err(|_| io::Error::other(format!("bad {l:?}")))?;
        } else if k.eq_ignore_ascii_case("x-real") {
            real = v.strip_prefix("real ").and_then(|n| n.parse().ok());
        }
    }
    Ok(Head { status, real, content_length })
}

fn send_get(s: &mut TcpStream, path: &str, close: bool) -> io::Result<()> {
    let conn = if close { "close" } else { "keep-alive" };
    write!(s, "GET {path} HTTP/1.1\r\nHost: vip\r\nConnection: {conn}\r\n\r\n")
}

/// One `GET path` on a new connection (`Connection: close`), from `src` when given.
pub fn try_get(dst: SocketAddr, path: &str, src: Option<IpAddr>) -> io::Result<Response> {
    let mut s = connect(dst, src)?;
    send_get(&mut s, path, true)?;
    let mut r = BufReader::with_capacity(1 << 16, s);
    let head = read_head(&mut r)?;
    let mut body = vec![0; head.content_length];
    r.read_exact(&mut body)?;
    Ok(Response { head, body })
}

/// [`try_get`], panicking with the error.
pub fn get(dst: SocketAddr, path: &str, src: Option<IpAddr>) -> Response {
    try_get(dst, path, src).unwrap_or_else(|e| panic!("GET {path} from {src:?} to {dst}: {e}"))
}

/// An HTTP/1.1 keep-alive connection.
pub struct KeepAlive {
    r: BufReader<TcpStream>,
}

impl KeepAlive {
    /// Connect to `dst` (call inside the client namespace).
    pub fn open(dst: SocketAddr) -> KeepAlive {
        let s = connect(dst, None).unwrap_or_else(|e| panic!("connect {dst}: {e}"));
        KeepAlive { r: BufReader::with_capacity(1 << 16, s) }
    }

    /// Send `GET path`, keeping the connection open.
    pub fn send(&mut self, path: &str) {
        send_get(self.r.get_mut(), path, false).unwrap_or_else(|e| panic!("send GET {path}: {e}"));
    }

    pub fn head(&mut self) -> Head {
        read_head(&mut self.r).unwrap_or_else(|e| panic!("reading a response head: {e}"))
    }

    pub fn body(&mut self, n: usize) -> Vec<u8> {
        let mut b = vec![0; n];
        self.r.read_exact(&mut b).unwrap_or_else(|e| panic!("reading {n} body bytes: {e}"));
        b
    }

    /// A whole request and response.
    pub fn request(&mut self, path: &str) -> Response {
        self.try_request(path).unwrap_or_else(|e| panic!("GET {path}: {e}"))
    }

    pub fn try_request(&mut self, path: &str) -> io::Result<Response> {
        send_get(self.r.get_mut(), path, false)?;
        let head = read_head(&mut self.r)?;
        let mut body = vec![0; head.content_length];
        self.r.read_exact(&mut body)?;
        Ok(Response { head, body })
    }

    pub fn try_body(&mut self, n: usize) -> io::Result<Vec<u8>> {
        let mut b = vec![0; n];
        self.r.read_exact(&mut b)?;
        Ok(b)
    }
}

/// Send `payload` to the UDP `dst` from a new socket (new source port) and return the
/// echo; the reals answer "real N: " + payload. UDP may lose a datagram: up to 3 tries,
/// 1 s apart. Call inside the client namespace.
pub fn udp_echo(dst: SocketAddr, payload: &str) -> (usize, String) {
    let bind: SocketAddr = if dst.is_ipv4() { "0.0.0.0:0".parse().unwrap() } else { "[::]:0".parse().unwrap() };
    let s = UdpSocket::bind(bind).expect("udp bind");
    // Connected: only datagrams from `dst` itself are received.
    s.connect(dst).expect("udp connect");
    s.set_read_timeout(Some(Duration::from_secs(1))).unwrap();
    let mut buf = [0u8; 2048];
    for _ in 0..3 {
        s.send(payload.as_bytes()).expect("udp send");
        match s.recv(&mut buf) {
            Ok(n) => {
                let reply = String::from_utf8_lossy(&buf[..n]).into_owned();
                let real = reply
                    .strip_prefix("real ")
                    .and_then(|r| r.split_once(": "))
                    .filter(|(_, p)| *p == payload)
                    .and_then(|(n, _)| n.parse().ok())
                    .unwrap_or_else(|| panic!("UDP {dst}: unexpected reply {reply:?} to {payload:?}"));
                return (real, reply);
            }
            Err(e) if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut) => continue,
            Err(e) => panic!("UDP {dst}: {e}"),
        }
    }
    panic!("UDP {dst}: no echo of {payload:?} after 3 tries");
}

/// `total` connections (`GET /`, `Connection: close`) to `dst` from `threads` parallel
/// client threads, source addresses taken round-robin from `srcs` (none: the kernel's
/// choice). Returns, per connection, (source, real). Call inside the client namespace:
/// the threads it starts inherit the namespace. Panics on the first failed connection.
pub fn spread(dst: SocketAddr, total: usize, threads: usize, srcs: &[IpAddr]) -> Vec<(Option<IpAddr>, usize)> {
    let next = AtomicUsize::new(0);
    let out = Mutex::new(Vec::with_capacity(total));
    let failed = Mutex::new(None);
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| {
                let mut mine = Vec::new();
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= total || failed.lock().unwrap().is_some() {
                        break;
                    }
                    let src = (!srcs.is_empty()).then(|| srcs[i % srcs.len()]);
                    match try_get(dst, "/", src) {
                        Ok(r) if r.head.status == 200 && r.head.real.is_some() => mine.push((src, r.real())),
                        Ok(r) => {
                            *failed.lock().unwrap() = Some(format!("connection {i} from {src:?}: {r:?}"));
                        }
                        Err(e) => {
                            *failed.lock().unwrap() = Some(format!("connection {i} from {src:?}: {e}"));
                        }
                    }
                }
                out.lock().unwrap().extend(mine);
            });
        }
    });
    if let Some(f) = failed.into_inner().unwrap() {
        panic!("{total} connections to {dst}: {f}");
    }
    out.into_inner().unwrap()
}

/// Connections per real (index = real).
pub fn per_real(conns: &[(Option<IpAddr>, usize)], reals: usize) -> Vec<usize> {
    let mut n = vec![0; reals];
    for &(_, r) in conns {
        assert!(r < reals, "answer from real {r}, but the lab has {reals}");
        n[r] += 1;
    }
    n
}

/// The reals each source address landed on.
pub fn reals_by_source(conns: &[(Option<IpAddr>, usize)]) -> BTreeMap<IpAddr, BTreeMap<usize, usize>> {
    let mut m: BTreeMap<IpAddr, BTreeMap<usize, usize>> = BTreeMap::new();
    for &(src, r) in conns {
        *m.entry(src.expect("a source address")).or_default().entry(r).or_default() += 1;
    }
    m
}

/// Each real's count is within `tol` (a fraction *of that real's own expected share*) of
/// its weight's share of the total.
pub fn assert_shares(counts: &[usize], weights: &[u32], tol: f64) {
    let total: usize = counts.iter().sum();
    let wsum: u32 = weights.iter().sum();
    for (i, (&n, &w)) in counts.iter().zip(weights).enumerate() {
        let expect = total as f64 * w as f64 / wsum as f64;
        let dev = (n as f64 - expect).abs() / expect;
        assert!(
            dev <= tol,
            "real {i}: {n} of {total} connections, expected {expect:.0} (weights {weights:?}): off by {:.1}% \
             of its share, more than {:.1}%; all: {counts:?}",
            dev * 100.0,
            tol * 100.0
        );
    }
}

/// `cfg` (made by `DirectorLab::config`) without real `i` in any service.
pub fn without_real(cfg: &str, i: usize) -> String {
    let (v4, v6) = real_addrs(i);
    let (a4, a6) = (format!("\"{v4}:"), format!("\"[{v6}]:"));
    let lines: Vec<&str> = cfg.lines().collect();
    let mut out = String::new();
    let mut k = 0;
    let mut removed = 0;
    while k < lines.len() {
        if lines[k].trim() == "[[service.real]]"
            && lines
                .get(k + 1)
                .is_some_and(|l| l.trim_start().starts_with("addr") && (l.contains(&a4) || l.contains(&a6)))
        {
            // Skip the real's table: its header and key lines, up to the next blank line or
            // table header.
            k += 1;
            while k < lines.len() && !lines[k].trim().is_empty() && !lines[k].trim_start().starts_with('[') {
                k += 1;
            }
            removed += 1;
            continue;
        }
        out.push_str(lines[k]);
        out.push('\n');
        k += 1;
    }
    assert!(removed > 0, "real {i} is not in the config:\n{cfg}");
    out
}

/// Run `cmd` in `ns` of the lab; panic with its output unless it succeeds.
pub fn must(lab: &DirectorLab, ns: &str, cmd: &[&str], timeout: Duration) -> String {
    let o = lab.lab.exec(ns, cmd, timeout);
    let (out, err) = (String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
    assert!(o.status.success(), "{cmd:?} in {ns}: {}\nstdout: {out}\nstderr: {err}", o.status);
    out.into_owned()
}
