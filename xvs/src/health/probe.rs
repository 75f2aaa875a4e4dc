//! The probes: one attempt each, bounded by the connect timeout (a script by its
//! misc_timeout), returning whether the real answered as it should.
//!
//! Invariant: a probe never blocks past its timeout; every socket and child process it
//! makes is closed or reaped before it returns.

use crate::scripts::{Outcome, Script, ScriptPolicy};
use std::io::{Read, Write};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use md5::{Digest, Md5};

use super::socket::Source;
use super::{ProbeKind, WeightSay};
use xvs_config::{HttpProtocol, HttpUrl, UdpCheck};

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProbeResult {
    pub ok: bool,
    /// What the check says of the real's weight (a dynamic script, a tracked file).
    pub weight: WeightSay,
    pub detail: String,
}

fn fail(detail: impl Into<String>) -> ProbeResult {
    ProbeResult { ok: false, weight: WeightSay::Keep, detail: detail.into() }
}

fn pass(detail: impl Into<String>) -> ProbeResult {
    ProbeResult { ok: true, weight: WeightSay::Keep, detail: detail.into() }
}

fn outcome(r: Result<String, String>) -> ProbeResult {
    match r {
        Ok(d) => pass(d),
        Err(e) => fail(e),
    }
}

/// Run one probe of `kind` against `target` from the kernel's choice of source.
pub fn probe(kind: &ProbeKind, target: SocketAddr, timeout: Duration, stop: &AtomicBool) -> ProbeResult {
    probe_from(kind, target, &Source::default(), timeout, stop)
}

/// Run one probe of `kind` against `target` from `src`; a script is killed as soon as
/// `stop` is set.
pub fn probe_from(
    kind: &ProbeKind,
    target: SocketAddr,
    src: &Source,
    timeout: Duration,
    stop: &AtomicBool,
) -> ProbeResult {
    match kind {
        ProbeKind::Tcp => match src.tcp(target, timeout) {
            Ok(_) => pass("TCP connect ok"),
            Err(e) => fail(format!("TCP {e}")),
        },
        ProbeKind::Http { urls, protocol, tls, .. } => {
            // Every URL must answer as wanted (keepalived's rule); the first failure decides.
            let mut last = fail("no URL");
            for u in urls {
                last = http(target, src, Request { url: u, protocol: *protocol }, tls.as_deref(), timeout);
                if !last.ok {
                    break;
                }
            }
            last
        }
        ProbeKind::Misc { command, dynamic, policy } => misc(command, *dynamic, policy, timeout, stop),
        ProbeKind::Udp(u) => udp(target, src, u, timeout),
        ProbeKind::Dns { name, qtype } => dns(target, src, name, *qtype, timeout),
        ProbeKind::Smtp { helo } => outcome(super::smtp::probe(target, src, helo, timeout)),
        ProbeKind::Ping => outcome(super::ping::probe(target.ip(), src, timeout)),
        ProbeKind::File(f) => file(f),
    }
}

/// One request of an HTTP(S) check.
#[derive(Clone, Copy)]
struct Request<'a> {
    url: &'a HttpUrl,
    protocol: HttpProtocol,
}

/// HTTP_GET, or SSL_GET when `tls` holds the SNI name to send (empty: none).
fn http(target: SocketAddr, src: &Source, req: Request, tls: Option<&str>, timeout: Duration) -> ProbeResult {
    let what = if tls.is_some() { "SSL_GET" } else { "HTTP" };
    let path = &req.url.path;
    let deadline = Instant::now() + timeout;
    let s = match src.tcp(target, timeout) {
        Ok(s) => s,
        Err(e) => return fail(format!("{what} {e}")),
    };
    let left = deadline.saturating_duration_since(Instant::now()).max(Duration::from_millis(1));
    let _ = s.set_read_timeout(Some(left));
    let _ = s.set_write_timeout(Some(left));
    let answer = match tls {
        None => exchange(s, target, req, deadline),
        Some(sni) => super::tls::client(s, target, sni).and_then(|t| exchange(t, target, req, deadline)),
    };
    match answer {
        Ok(buf) => judge(&buf, target, req.url, what),
        Err(e) => fail(format!("{what} {target}{path}: {e}")),
    }
}

/// keepalived's request: `GET path HTTP/1.x`, its User-Agent (so access logs that filter
/// keepalived's checks filter these too), `Connection: close` for 1.0C and 1.1, and the
/// url's virtualhost as Host, else the probed address and port.
fn request_text(target: SocketAddr, req: Request) -> String {
    let version = if req.protocol == HttpProtocol::Http11 { "1.1" } else { "1.0" };
    let close = if req.protocol == HttpProtocol::Http10 { "" } else { "Connection: close\r\n" };
    let host = if req.url.virtualhost.is_empty() { target.to_string() } else { req.url.virtualhost.clone() };
    format!("GET {} HTTP/{version}\r\nUser-Agent: KeepAliveClient\r\n{close}Host: {host}\r\n\r\n", req.url.path)
}

/// Send the request over `s` and read the answer to its end (the server closes after
/// the body; a TLS peer that closes without close_notify is taken as the end too, as
/// keepalived does).
fn exchange<S: Read + Write>(mut s: S, target: SocketAddr, req: Request, deadline: Instant) -> Result<Vec<u8>, String> {
    s.write_all(request_text(target, req).as_bytes()).map_err(|e| format!("request: {e}"))?;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    loop {
        if Instant::now() >= deadline {
            return Err("no complete answer within the timeout".into());
        }
        match s.read(&mut chunk) {
            Ok(0) => return Ok(buf),
            Ok(n) => {
                buf.extend_from_slice(&chunk[..n]);
                if buf.len() > 16 << 20 {
                    return Err("answer larger than 16 MiB".into());
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof && !buf.is_empty() => return Ok(buf),
            Err(e) => return Err(e.to_string()),
        }
    }
}

/// Up or down from the answer `buf`: its status, the body's MD5 when `digest` is set, the
/// body against the url's regex when it has one.
fn judge(buf: &[u8], target: SocketAddr, want: &HttpUrl, what: &str) -> ProbeResult {
    let path = &want.path;
    let Some(head_end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
        return fail(format!("{what} {target}{path}: no complete header"));
    };
    let head = String::from_utf8_lossy(&buf[..head_end]);
    let code: Option<u16> = head.lines().next().and_then(|l| l.split_whitespace().nth(1)).and_then(|c| c.parse().ok());
    let code = match code {
        Some(c) if want.status.accepts(c) => c,
        Some(c) => return fail(format!("{what} {target}{path}: status {c}, want {}", want.status)),
        None => return fail(format!("{what} {target}{path}: no status line")),
    };
    let body = &buf[head_end + 4..];
    if !want.digest.is_empty() {
        let got: String = Md5::digest(body).iter().map(|b| format!("{b:02x}")).collect();
        if got != want.digest {
            return fail(format!("{what} {target}{path}: body digest {got}, want {}", want.digest));
        }
    }
    if let Some(re) = &want.regex {
        // Compiled per probe: probes are seconds apart, and validation made sure it compiles.
        let found = match regex::bytes::Regex::new(&re.effective_pattern()) {
            Ok(r) => r
                .find_at(body, (re.min_offset as usize).min(body.len()))
                .is_some_and(|m| re.max_offset.is_none_or(|max| m.start() <= max as usize)),
            Err(e) => return fail(format!("{what} {target}{path}: regex: {e}")),
        };
        if found == re.no_match {
            let how = if re.no_match { "matches" } else { "does not match" };
            return fail(format!("{what} {target}{path}: the body {how} /{}/", re.pattern));
        }
    }
    pass(format!("{what} {code}"))
}

/// FILE_CHECK: the number in the file (keepalived's track_file): with weight 0 non-zero is
/// down; else the number times the weight is added to the real's weight. An unreadable
/// file reads as 0, as keepalived reads it.
fn file(f: &xvs_config::FileCheck) -> ProbeResult {
    let (value, note) = match std::fs::read_to_string(&f.path) {
        Ok(text) => (xvs_config::read_track_value(&text), String::new()),
        Err(e) => (0, format!(" (unreadable: {e}; read as 0)")),
    };
    match f.verdict(value) {
        None => fail(format!("file {} holds {value}{note}: down", f.path)),
        Some(0) => pass(format!("file {} holds {value}{note}", f.path)),
        Some(add) => ProbeResult {
            ok: true,
            weight: WeightSay::Add(add),
            detail: format!("file {} holds {value}{note}: weight {add:+}", f.path),
        },
    }
}

fn misc(
    command: &str,
    dynamic: bool,
    policy: &Result<ScriptPolicy, String>,
    timeout: Duration,
    stop: &AtomicBool,
) -> ProbeResult {
    // keepalived's misc_timeout: a script still running then is killed and fails.
    let limit = timeout;
    // As keepalived runs misc_path: a program and its arguments (no shell), as the
    // configured user, in a process group of its own that a timeout kills whole.
    let script = match policy.as_ref().map_err(String::clone).and_then(|p| Script::prepare(command, p)) {
        Ok(s) => s,
        Err(e) => return fail(format!("MISC_CHECK {command:?}: {e}")),
    };
    let mut run = script.start(limit);
    let ended = loop {
        if let Some(o) = run.poll() {
            break o;
        }
        if stop.load(Ordering::Relaxed) {
            // Dropping the run kills its group and reaps it.
            drop(run);
            return fail(format!("MISC_CHECK {command:?}: stopped"));
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let code = match ended {
        Outcome::Exited(c) => c,
        Outcome::TimedOut => return fail(format!("MISC_CHECK {command:?}: no exit within {limit:?}")),
        Outcome::Signalled(sig) => return fail(format!("MISC_CHECK {command:?}: killed by signal {sig}")),
        Outcome::Failed(e) => return fail(format!("MISC_CHECK {command:?}: {e}")),
    };
    match code {
        0 => pass("MISC_CHECK exit 0"),
        // keepalived's misc_dynamic: 1 = down, 2..255 = up with weight (code - 2).
        c if dynamic && c >= 2 => {
            ProbeResult { ok: true, weight: WeightSay::Set(c as u32 - 2), detail: format!("MISC_CHECK exit {c}") }
        }
        c => fail(format!("MISC_CHECK {command:?}: exit {c}")),
    }
}

/// keepalived's UDP_CHECK: send the payload (random bytes by default). Without
/// `require_reply`, an answer or silence without an ICMP error is up, an ICMP error (port
/// unreachable: ECONNREFUSED on the connected socket) down. With it, an answer must come
/// and, when a reply pattern is set, lie within the length bounds and match the pattern
/// over the shorter of the two.
fn udp(target: SocketAddr, src: &Source, u: &UdpCheck, timeout: Duration) -> ProbeResult {
    let s = match src.udp(target, timeout) {
        Ok(s) => s,
        Err(e) => return fail(format!("UDP {e}")),
    };
    let random: Vec<u8> = (0..4).flat_map(|_| getrandom::u32().unwrap_or(0x5a5a_5a5a).to_be_bytes()).collect();
    if let Err(e) = s.send(u.payload.as_deref().unwrap_or(&random)) {
        return fail(format!("UDP send to {target}: {e}"));
    }
    // One byte past the longest wanted answer, so a longer one is seen as longer.
    let mut buf = vec![0u8; u.max_reply_length as usize + 1];
    match s.recv(&mut buf) {
        Ok(n) if !u.reply.is_empty() => {
            if !(u.min_reply_length as usize..=u.max_reply_length as usize).contains(&n) {
                return fail(format!(
                    "UDP {target}: answer of {n} bytes, want {}..={}",
                    u.min_reply_length, u.max_reply_length
                ));
            }
            match buf[..n].iter().zip(&u.reply).position(|(got, (want, mask))| (got ^ want) & !mask != 0) {
                Some(i) => fail(format!("UDP {target}: answer differs from the wanted reply at byte {i}")),
                None => pass("UDP answer as wanted"),
            }
        }
        Ok(_) => pass("UDP answer"),
        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock || e.kind() == std::io::ErrorKind::TimedOut => {
            if u.require_reply {
                fail(format!("UDP {target}: no answer within {timeout:?}"))
            } else {
                pass("UDP: no answer and no ICMP error")
            }
        }
        Err(e) => fail(format!("UDP {target}: {e}")),
    }
}

/// DNS_CHECK: a query of type `qtype` for `name` with a random id (keepalived's defaults:
/// SOA for "."); up when an answer with the query's id and RCODE 0 comes back
/// (keepalived's `check_dns.c` fails any other RCODE, NXDOMAIN included).
fn dns(target: SocketAddr, src: &Source, name: &str, qtype: u16, timeout: Duration) -> ProbeResult {
    let s = match src.udp(target, timeout) {
        Ok(s) => s,
        Err(e) => return fail(format!("DNS {e}")),
    };
    // A random id, so an answer to an earlier query (or a forged one) does not count.
    let id: u16 = getrandom::u32().map_or(0x5a5a, |r| r as u16);
    let mut q = Vec::with_capacity(64);
    q.extend_from_slice(&id.to_be_bytes());
    q.extend_from_slice(&[0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]); // RD, one question
    for label in name.split('.').filter(|l| !l.is_empty()) {
        q.push(label.len().min(63) as u8);
        q.extend_from_slice(&label.as_bytes()[..label.len().min(63)]);
    }
    q.push(0);
    q.extend_from_slice(&qtype.to_be_bytes());
    q.extend_from_slice(&[0, 1]);
    if let Err(e) = s.send(&q) {
        return fail(format!("DNS send to {target}: {e}"));
    }
    let mut buf = [0u8; 4096];
    match s.recv(&mut buf) {
        Ok(n) if n >= 12 && buf[0..2] == id.to_be_bytes() && buf[2] & 0x80 != 0 => {
            let rcode = buf[3] & 0x0f;
            if rcode != 0 {
                fail(format!("DNS {target}: rcode {rcode}"))
            } else {
                pass(format!("DNS answer, rcode {rcode}"))
            }
        }
        Ok(_) => fail(format!("DNS {target}: not an answer to our query")),
        Err(e) => fail(format!("DNS {target}: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{TcpListener, UdpSocket};
    use xvs_config::StatusCodes;

    /// An HTTP(S) check of one URL.
    fn get(path: &str, status: StatusCodes, digest: &str, tls: Option<String>) -> ProbeKind {
        let url = HttpUrl { status, digest: digest.to_string(), ..HttpUrl::new(path) };
        ProbeKind::Http { urls: vec![url], protocol: HttpProtocol::Http10, tls, fast_recovery: false }
    }

    const T: Duration = Duration::from_millis(500);
    /// A stop flag that is never set.
    static GO: AtomicBool = AtomicBool::new(false);

    #[test]
    fn tcp_up_and_down() {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        assert!(probe(&ProbeKind::Tcp, addr, T, &GO).ok);
        // A bound socket that does not listen holds its port (no other test can take it)
        // and answers connections with a reset.
        use nix::sys::socket::{bind, getsockname, socket, AddressFamily, SockFlag, SockType, SockaddrIn};
        let fd = socket(AddressFamily::Inet, SockType::Stream, SockFlag::empty(), None).unwrap();
        bind(std::os::fd::AsRawFd::as_raw_fd(&fd), &SockaddrIn::new(127, 0, 0, 1, 0)).unwrap();
        let port = getsockname::<SockaddrIn>(std::os::fd::AsRawFd::as_raw_fd(&fd)).unwrap().port();
        let closed: SocketAddr = SocketAddr::from(([127, 0, 0, 1], port));
        let r = probe(&ProbeKind::Tcp, closed, T, &GO);
        assert!(!r.ok, "{r:?}");
    }

    fn http_server(status: &'static str, body: &'static str) -> SocketAddr {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        std::thread::spawn(move || {
            for s in l.incoming().take(4) {
                let mut s = s.unwrap();
                let mut buf = [0u8; 1024];
                let _ = s.read(&mut buf);
                let _ = write!(s, "HTTP/1.0 {status}\r\nContent-Length: {}\r\n\r\n{body}", body.len());
            }
        });
        addr
    }

    #[test]
    fn http_status_and_digest() {
        let addr = http_server("200 OK", "hello");
        let md5_hello = "5d41402abc4b2a76b9719d911017c592";
        let only_200 = StatusCodes(vec![(200, 200)]);
        let ok = get("/health", only_200.clone(), md5_hello, None);
        assert!(probe(&ok, addr, T, &GO).ok, "{:?}", probe(&ok, addr, T, &GO));
        let bad_digest = get("/", only_200.clone(), "00", None);
        assert!(!probe(&bad_digest, addr, T, &GO).ok);
        let addr = http_server("503 Service Unavailable", "");
        let r = probe(&get("/", only_200, "", None), addr, T, &GO);
        assert!(!r.ok && r.detail.contains("503"), "{r:?}");
        // Without status_code, keepalived takes any 2xx: 204 is up, 301 is not.
        let any2xx = get("/", StatusCodes::default(), "", None);
        assert!(probe(&any2xx, http_server("204 No Content", ""), T, &GO).ok);
        assert!(!probe(&any2xx, http_server("301 Moved Permanently", ""), T, &GO).ok);
    }

    /// A TLS server with a fresh self-signed certificate answering `n` requests with
    /// `status` and `body`; it reports the SNI name each client sent.
    fn tls_server(
        n: usize,
        status: &'static str,
        body: &'static str,
    ) -> (SocketAddr, std::sync::mpsc::Receiver<Option<String>>) {
        use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
        let ck = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(ck.key_pair.serialize_der()));
        let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
        let cfg = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(vec![ck.cert.der().clone()], key)
            .unwrap();
        let cfg = std::sync::Arc::new(cfg);
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for s in l.incoming().take(n) {
                let s = s.unwrap();
                let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
                let mut t = rustls::StreamOwned::new(rustls::ServerConnection::new(cfg.clone()).unwrap(), s);
                let mut req = Vec::new();
                let mut b = [0u8; 512];
                while !req.windows(4).any(|w| w == b"\r\n\r\n") {
                    match t.read(&mut b) {
                        Ok(0) | Err(_) => break,
                        Ok(k) => req.extend_from_slice(&b[..k]),
                    }
                }
                let _ = tx.send(t.conn.server_name().map(str::to_string));
                let _ = write!(t, "HTTP/1.0 {status}\r\nContent-Length: {}\r\n\r\n{body}", body.len());
                t.conn.send_close_notify();
                let _ = t.flush();
            }
        });
        (addr, rx)
    }

    #[test]
    fn ssl_get_over_tls_with_and_without_sni() {
        let md5_hello = "5d41402abc4b2a76b9719d911017c592";
        let (addr, sni) = tls_server(3, "200 OK", "hello");
        let k = |digest: &str, tls: &str| get("/", StatusCodes::default(), digest, Some(tls.into()));
        let r = probe(&k(md5_hello, ""), addr, T, &GO);
        assert!(r.ok && r.detail.contains("SSL_GET 200"), "{r:?}");
        assert_eq!(sni.recv().unwrap(), None, "no SNI unless configured");
        assert!(probe(&k("", "www.example.com"), addr, T, &GO).ok);
        assert_eq!(sni.recv().unwrap().as_deref(), Some("www.example.com"));
        assert!(!probe(&k("00", ""), addr, T, &GO).ok, "the digest is checked over TLS too");
        // A plain HTTP server is not a TLS one: down.
        let plain = http_server("200 OK", "hello");
        assert!(!probe(&k("", ""), plain, T, &GO).ok);
        let (addr, _) = tls_server(1, "500 Internal Server Error", "");
        assert!(!probe(&k("", ""), addr, T, &GO).ok);
    }

    #[test]
    fn misc_exit_codes_and_dynamic_weight() {
        let k = |c: &str, d| ProbeKind::Misc { command: c.into(), dynamic: d, policy: Ok(ScriptPolicy::default()) };
        let dummy: SocketAddr = "127.0.0.1:1".parse().unwrap();
        let sh = |code: u8| format!("/bin/sh -c 'exit {code}'");
        assert!(probe(&k(&sh(0), false), dummy, T, &GO).ok);
        assert!(!probe(&k(&sh(1), false), dummy, T, &GO).ok);
        assert!(!probe(&k(&sh(7), false), dummy, T, &GO).ok);
        assert!(!probe(&k(&sh(1), true), dummy, T, &GO).ok);
        let r = probe(&k(&sh(7), true), dummy, T, &GO);
        assert!(r.ok && r.weight == WeightSay::Set(5), "{r:?}");
        // A program and its arguments, as keepalived runs misc_path: no shell.
        assert!(probe(&k("true", false), dummy, T, &GO).ok);
        let r = probe(&k("exit 0", false), dummy, T, &GO);
        assert!(!r.ok && r.detail.contains("not found"), "{r:?}");
    }

    #[test]
    fn udp_refused_is_down_and_an_answer_is_up() {
        // A port with nothing behind it answers with ICMP port unreachable on loopback.
        let free = UdpSocket::bind("127.0.0.1:0").unwrap();
        let addr = free.local_addr().unwrap();
        drop(free);
        assert!(
            !probe(&ProbeKind::Udp(UdpCheck { payload: Some(b"x".to_vec()), ..UdpCheck::default() }), addr, T, &GO).ok
        );
        let echo = UdpSocket::bind("127.0.0.1:0").unwrap();
        let addr = echo.local_addr().unwrap();
        std::thread::spawn(move || {
            let mut b = [0u8; 64];
            if let Ok((n, p)) = echo.recv_from(&mut b) {
                let _ = echo.send_to(&b[..n], p);
            }
        });
        assert!(
            probe(&ProbeKind::Udp(UdpCheck { payload: Some(b"x".to_vec()), ..UdpCheck::default() }), addr, T, &GO).ok
        );
    }

    /// A DNS server answering each query as it came (QR set), keeping what it was asked.
    fn dns_server(n: usize) -> (SocketAddr, std::sync::mpsc::Receiver<Vec<u8>>) {
        let srv = UdpSocket::bind("127.0.0.1:0").unwrap();
        let addr = srv.local_addr().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for _ in 0..n {
                let mut b = [0u8; 512];
                if let Ok((len, p)) = srv.recv_from(&mut b) {
                    let _ = tx.send(b[..len].to_vec());
                    b[2] |= 0x80; // QR: an answer, rcode 0
                    let _ = srv.send_to(&b[..len], p);
                }
            }
        });
        (addr, rx)
    }

    #[test]
    fn dns_asks_the_configured_question_with_a_random_id() {
        let (addr, asked) = dns_server(4);
        assert!(probe(&ProbeKind::Dns { name: ".".into(), qtype: 6 }, addr, T, &GO).ok);
        let q = asked.recv().unwrap();
        assert_eq!(&q[12..], &[0, 0, 6, 0, 1], "root, SOA, IN");
        let www = ProbeKind::Dns { name: "www.example.com".into(), qtype: 28 };
        assert!(probe(&www, addr, T, &GO).ok);
        let q1 = asked.recv().unwrap();
        assert_eq!(&q1[12..], b"\x03www\x07example\x03com\x00\x00\x1c\x00\x01", "the name, AAAA, IN");
        let ids: Vec<Vec<u8>> = (0..2)
            .map(|_| {
                assert!(probe(&www, addr, T, &GO).ok);
                asked.recv().unwrap()[..2].to_vec()
            })
            .collect();
        assert!(ids[0] != q1[..2] || ids[1] != q1[..2], "a new id per query (three equal ones: 1 in 2^32)");
    }

    /// An HTTP server answering every request with `status` and `body`, reporting each
    /// request's text and the client's address.
    fn recording_server(
        n: usize,
        status: &'static str,
        body: &'static str,
    ) -> (SocketAddr, std::sync::mpsc::Receiver<(String, SocketAddr)>) {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for _ in 0..n {
                let Ok((mut s, peer)) = l.accept() else { return };
                let mut buf = [0u8; 1024];
                let k = s.read(&mut buf).unwrap_or(0);
                let _ = tx.send((String::from_utf8_lossy(&buf[..k]).to_string(), peer));
                let _ = write!(s, "HTTP/1.1 {status}\r\nContent-Length: {}\r\n\r\n{body}", body.len());
            }
        });
        (addr, rx)
    }

    /// Every url is fetched with its Host and the configured HTTP version; the body is
    /// matched against the regex (or must not match, with regex_no_match).
    #[test]
    fn http_urls_virtualhost_protocol_and_regex() {
        let (addr, seen) = recording_server(2, "200 OK", "status: all good");
        let a = HttpUrl { virtualhost: "www.example.com".into(), ..HttpUrl::new("/a") };
        let b = HttpUrl::new("/b");
        let k = ProbeKind::Http { urls: vec![a, b], protocol: HttpProtocol::Http11, tls: None, fast_recovery: false };
        assert!(probe(&k, addr, T, &GO).ok);
        let (first, _) = seen.recv().unwrap();
        assert_eq!(
            first,
            "GET /a HTTP/1.1\r\nUser-Agent: KeepAliveClient\r\nConnection: close\r\nHost: www.example.com\r\n\r\n"
        );
        let (second, _) = seen.recv().unwrap();
        assert!(second.starts_with("GET /b HTTP/1.1\r\n") && second.contains(&format!("Host: {addr}\r\n")), "{second}");
        // A failing second url fails the check.
        let (addr, _) = recording_server(2, "200 OK", "x");
        let bad = HttpUrl { status: StatusCodes(vec![(204, 204)]), ..HttpUrl::new("/b") };
        let k = ProbeKind::Http {
            urls: vec![HttpUrl::new("/a"), bad],
            protocol: HttpProtocol::Http10,
            tls: None,
            fast_recovery: true,
        };
        let r = probe(&k, addr, T, &GO);
        assert!(!r.ok && r.detail.contains("/b"), "{r:?}");
        let re = |pattern: &str, no_match: bool, options: &[&str]| {
            let regex = xvs_config::BodyRegex {
                pattern: pattern.into(),
                no_match,
                options: options.iter().map(|o| o.to_string()).collect(),
                min_offset: 0,
                max_offset: None,
            };
            let url = HttpUrl { regex: Some(regex), ..HttpUrl::new("/") };
            ProbeKind::Http { urls: vec![url], protocol: HttpProtocol::Http10, tls: None, fast_recovery: false }
        };
        for (k, up) in [
            (re("all good$", false, &[]), true),
            (re("ALL GOOD", false, &[]), false),
            (re("ALL GOOD", false, &["caseless"]), true),
            (re("error", true, &[]), true),
            (re("good", true, &[]), false),
        ] {
            let (addr, _) = recording_server(1, "200 OK", "status: all good");
            assert_eq!(probe(&k, addr, T, &GO).ok, up, "{k:?}");
        }
    }

    /// bindto and bind_port set the probe's source; bind_if its device.
    #[test]
    fn probes_leave_from_the_configured_source() {
        let (addr, seen) = recording_server(2, "200 OK", "");
        let src = Source { addr: Some("127.0.0.2".parse().unwrap()), port: Some(47123), device: "lo".into(), mark: 7 };
        assert!(probe_from(&get("/", StatusCodes::default(), "", None), addr, &src, T, &GO).ok);
        let (_, peer) = seen.recv().unwrap();
        assert_eq!(peer, "127.0.0.2:47123".parse().unwrap());
        let nowhere = Source { device: "no-such-dev0".into(), ..Source::default() };
        let r = probe_from(&ProbeKind::Tcp, addr, &nowhere, T, &GO);
        assert!(!r.ok && r.detail.contains("bind_if no-such-dev0"), "{r:?}");
    }

    /// require_reply with a pattern: the answer must come, within the lengths, matching
    /// (x nibbles match anything).
    #[test]
    fn udp_reply_pattern_and_lengths() {
        let echo = || {
            let s = UdpSocket::bind("127.0.0.1:0").unwrap();
            let addr = s.local_addr().unwrap();
            std::thread::spawn(move || {
                let mut b = [0u8; 64];
                if let Ok((n, p)) = s.recv_from(&mut b) {
                    let _ = s.send_to(&b[..n], p);
                }
            });
            addr
        };
        let check = |reply: &str, min: u32, max: u32| {
            ProbeKind::Udp(UdpCheck {
                payload: Some(vec![0xab, 0x12, 0x0f]),
                require_reply: true,
                reply: xvs_config::parse_hex(reply, true).unwrap(),
                min_reply_length: min,
                max_reply_length: max,
            })
        };
        assert!(probe(&check("ab 1x", 0, 255), echo(), T, &GO).ok);
        assert!(!probe(&check("ac", 0, 255), echo(), T, &GO).ok);
        assert!(!probe(&check("ab", 4, 255), echo(), T, &GO).ok, "shorter than min_reply_length");
        assert!(!probe(&check("ab", 0, 2), echo(), T, &GO).ok, "longer than max_reply_length");
        // require_reply without a pattern: silence is down.
        let silent = UdpSocket::bind("127.0.0.1:0").unwrap();
        let k = ProbeKind::Udp(UdpCheck { require_reply: true, ..UdpCheck::default() });
        assert!(!probe(&k, silent.local_addr().unwrap(), Duration::from_millis(200), &GO).ok);
        assert!(
            probe(&ProbeKind::Udp(UdpCheck::default()), silent.local_addr().unwrap(), Duration::from_millis(200), &GO)
                .ok
        );
    }

    /// keepalived's DNS_CHECK fails any RCODE but 0 (NXDOMAIN too).
    #[test]
    fn dns_nxdomain_is_down() {
        let srv = UdpSocket::bind("127.0.0.1:0").unwrap();
        let addr = srv.local_addr().unwrap();
        std::thread::spawn(move || {
            let mut b = [0u8; 512];
            if let Ok((len, p)) = srv.recv_from(&mut b) {
                b[2] |= 0x80;
                b[3] = (b[3] & 0xf0) | 3; // NXDOMAIN
                let _ = srv.send_to(&b[..len], p);
            }
        });
        let r = probe(&ProbeKind::Dns { name: "nope.example".into(), qtype: 1 }, addr, T, &GO);
        assert!(!r.ok && r.detail.contains("rcode 3"), "{r:?}");
    }

    /// FILE_CHECK: weight 0 makes non-zero down; a weight adds value x weight.
    #[test]
    fn track_file_values() {
        let p = std::env::temp_dir().join(format!("xvs-track-{}", std::process::id()));
        let k = |weight: i32, reverse: bool| {
            ProbeKind::File(xvs_config::FileCheck { path: p.display().to_string(), weight, reverse, init: None })
        };
        let dummy: SocketAddr = "127.0.0.1:1".parse().unwrap();
        std::fs::write(&p, "0\n").unwrap();
        assert!(probe(&k(0, false), dummy, T, &GO).ok);
        assert!(!probe(&k(0, true), dummy, T, &GO).ok, "reversed: 0 is down");
        std::fs::write(&p, "3\n").unwrap();
        assert!(!probe(&k(0, false), dummy, T, &GO).ok);
        let r = probe(&k(-2, false), dummy, T, &GO);
        assert!(r.ok && r.weight == WeightSay::Add(-6), "{r:?}");
        let _ = std::fs::remove_file(&p);
        assert!(probe(&k(0, false), dummy, T, &GO).ok, "a missing file reads as 0");
    }
}
