//! The probes: one attempt each, bounded by the connect timeout (a script by twice it,
//! at least 5 s), returning whether the real answered as it should.
//!
//! Invariant: a probe never blocks past its timeout; every socket and child process it
//! makes is closed or reaped before it returns.

use crate::scripts::{Outcome, Script, ScriptPolicy};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use md5::{Digest, Md5};

use super::ProbeKind;
use xvs_config::StatusCodes;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProbeResult {
    pub ok: bool,
    /// A dynamic script's weight.
    pub weight: Option<u32>,
    pub detail: String,
}

fn fail(detail: impl Into<String>) -> ProbeResult {
    ProbeResult { ok: false, weight: None, detail: detail.into() }
}

fn pass(detail: impl Into<String>) -> ProbeResult {
    ProbeResult { ok: true, weight: None, detail: detail.into() }
}

/// Run one probe of `kind` against `target`; a script is killed as soon as `stop` is set.
pub fn probe(kind: &ProbeKind, target: SocketAddr, timeout: Duration, stop: &AtomicBool) -> ProbeResult {
    match kind {
        ProbeKind::Tcp => match TcpStream::connect_timeout(&target, timeout) {
            Ok(_) => pass("TCP connect ok"),
            Err(e) => fail(format!("TCP connect to {target}: {e}")),
        },
        ProbeKind::Http { path, status, digest, tls } => {
            http(target, HttpWant { path, status, digest }, tls.as_deref(), timeout)
        }
        ProbeKind::Misc { command, dynamic, policy } => misc(command, *dynamic, policy, timeout, stop),
        ProbeKind::Udp { payload } => udp(target, payload, timeout),
        ProbeKind::Dns { name, qtype } => dns(target, name, *qtype, timeout),
    }
}

/// What an HTTP(S) check asks and wants.
struct HttpWant<'a> {
    path: &'a str,
    status: &'a StatusCodes,
    digest: &'a str,
}

/// HTTP_GET, or SSL_GET when `tls` holds the SNI name to send (empty: none).
fn http(target: SocketAddr, want: HttpWant, tls: Option<&str>, timeout: Duration) -> ProbeResult {
    let what = if tls.is_some() { "SSL_GET" } else { "HTTP" };
    let deadline = Instant::now() + timeout;
    let s = match TcpStream::connect_timeout(&target, timeout) {
        Ok(s) => s,
        Err(e) => return fail(format!("{what} connect to {target}: {e}")),
    };
    let left = deadline.saturating_duration_since(Instant::now()).max(Duration::from_millis(1));
    let _ = s.set_read_timeout(Some(left));
    let _ = s.set_write_timeout(Some(left));
    let answer = match tls {
        None => exchange(s, target, want.path, deadline),
        Some(sni) => super::tls::client(s, target, sni).and_then(|t| exchange(t, target, want.path, deadline)),
    };
    match answer {
        Ok(buf) => judge(&buf, target, &want, what),
        Err(e) => fail(format!("{what} {target}{}: {e}", want.path)),
    }
}

/// Send keepalived's request over `s` and read the answer to its end (HTTP/1.0: the
/// server closes after the body; a TLS peer that closes without close_notify is taken as
/// the end too, as keepalived does).
fn exchange<S: Read + Write>(mut s: S, target: SocketAddr, path: &str, deadline: Instant) -> Result<Vec<u8>, String> {
    let req = format!("GET {path} HTTP/1.0\r\nUser-Agent: xvs-health-check\r\nHost: {target}\r\n\r\n");
    s.write_all(req.as_bytes()).map_err(|e| format!("request: {e}"))?;
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

/// Up or down from the answer `buf`: its status, and the body's MD5 when `digest` is set.
fn judge(buf: &[u8], target: SocketAddr, want: &HttpWant, what: &str) -> ProbeResult {
    let path = want.path;
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
    if !want.digest.is_empty() {
        let body = &buf[head_end + 4..];
        let got: String = Md5::digest(body).iter().map(|b| format!("{b:02x}")).collect();
        if got != want.digest {
            return fail(format!("{what} {target}{path}: body digest {got}, want {}", want.digest));
        }
    }
    pass(format!("{what} {code}"))
}

fn misc(
    command: &str,
    dynamic: bool,
    policy: &Result<ScriptPolicy, String>,
    timeout: Duration,
    stop: &AtomicBool,
) -> ProbeResult {
    let limit = (timeout * 2).max(Duration::from_secs(5));
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
            ProbeResult { ok: true, weight: Some(c as u32 - 2), detail: format!("MISC_CHECK exit {c}") }
        }
        c => fail(format!("MISC_CHECK {command:?}: exit {c}")),
    }
}

fn udp_socket(target: SocketAddr, timeout: Duration) -> std::io::Result<UdpSocket> {
    let bind: SocketAddr = if target.is_ipv4() { "0.0.0.0:0".parse().unwrap() } else { "[::]:0".parse().unwrap() };
    let s = UdpSocket::bind(bind)?;
    s.connect(target)?;
    s.set_read_timeout(Some(timeout))?;
    Ok(s)
}

/// keepalived's UDP_CHECK: send the payload; an answer, or silence without an ICMP
/// error, is up; an ICMP port unreachable (ECONNREFUSED on the connected socket) is down.
fn udp(target: SocketAddr, payload: &[u8], timeout: Duration) -> ProbeResult {
    let s = match udp_socket(target, timeout) {
        Ok(s) => s,
        Err(e) => return fail(format!("UDP {target}: {e}")),
    };
    if let Err(e) = s.send(payload) {
        return fail(format!("UDP send to {target}: {e}"));
    }
    let mut buf = [0u8; 2048];
    match s.recv(&mut buf) {
        Ok(_) => pass("UDP answer"),
        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock || e.kind() == std::io::ErrorKind::TimedOut => {
            pass("UDP: no answer and no ICMP error")
        }
        Err(e) => fail(format!("UDP {target}: {e}")),
    }
}

/// DNS_CHECK: a query of type `qtype` for `name` with a random id (keepalived's defaults:
/// SOA for "."); up when an answer with the query's id comes back (any RCODE but
/// SERVFAIL/REFUSED).
fn dns(target: SocketAddr, name: &str, qtype: u16, timeout: Duration) -> ProbeResult {
    let s = match udp_socket(target, timeout) {
        Ok(s) => s,
        Err(e) => return fail(format!("DNS {target}: {e}")),
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
            if rcode == 2 || rcode == 5 {
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
    use std::net::TcpListener;
    use xvs_config::StatusCodes;

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
        let ok =
            ProbeKind::Http { path: "/health".into(), status: only_200.clone(), digest: md5_hello.into(), tls: None };
        assert!(probe(&ok, addr, T, &GO).ok, "{:?}", probe(&ok, addr, T, &GO));
        let bad_digest = ProbeKind::Http { path: "/".into(), status: only_200.clone(), digest: "00".into(), tls: None };
        assert!(!probe(&bad_digest, addr, T, &GO).ok);
        let addr = http_server("503 Service Unavailable", "");
        let r = probe(
            &ProbeKind::Http { path: "/".into(), status: only_200, digest: String::new(), tls: None },
            addr,
            T,
            &GO,
        );
        assert!(!r.ok && r.detail.contains("503"), "{r:?}");
        // Without status_code, keepalived takes any 2xx: 204 is up, 301 is not.
        let any2xx =
            ProbeKind::Http { path: "/".into(), status: StatusCodes::default(), digest: String::new(), tls: None };
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
        let k = |digest: &str, tls: &str| ProbeKind::Http {
            path: "/".into(),
            status: StatusCodes::default(),
            digest: digest.into(),
            tls: Some(tls.into()),
        };
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
        assert!(r.ok && r.weight == Some(5), "{r:?}");
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
        assert!(!probe(&ProbeKind::Udp { payload: b"x".to_vec() }, addr, T, &GO).ok);
        let echo = UdpSocket::bind("127.0.0.1:0").unwrap();
        let addr = echo.local_addr().unwrap();
        std::thread::spawn(move || {
            let mut b = [0u8; 64];
            if let Ok((n, p)) = echo.recv_from(&mut b) {
                let _ = echo.send_to(&b[..n], p);
            }
        });
        assert!(probe(&ProbeKind::Udp { payload: b"x".to_vec() }, addr, T, &GO).ok);
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
}
