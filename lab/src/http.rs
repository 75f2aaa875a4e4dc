//! The one HTTP/1.1 client of the labs: `GET` requests to the reals of a
//! [`DirectorLab`](crate::DirectorLab) (through the VIP or directly) and to the director's
//! metrics endpoint, from the calling thread's namespace (see [`Lab::in_ns`](crate::Lab::in_ns)).
//!
//! It reads exactly what the lab's reals send ([`real_server_script`](crate::director::real_server_script)):
//! a status line, headers with `Content-Length` and `X-Real: real N`, and a body of that
//! length; [`http_get`] reads a `Connection: close` response to its end instead.
//!
//! Invariants: every socket has a connect timeout (3 s) and read/write timeouts, so no
//! call here blocks without bound; no `unsafe` (a source address is bound through nix).

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::os::fd::AsRawFd;
use std::time::Duration;

use nix::sys::socket::{self as sock, sockopt, AddressFamily, SockFlag, SockType, SockaddrStorage};
use nix::sys::time::TimeVal;

/// Connect timeout of every connection made here.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// Read and write timeout of [`connect`]'s connections.
pub const IO_TIMEOUT: Duration = Duration::from_secs(10);

/// A TCP connection to `dst`, from `src` (any port) when given, in the calling thread's
/// namespace. Connect timeout [`CONNECT_TIMEOUT`]; read and write timeouts [`IO_TIMEOUT`];
/// Nagle off.
pub fn connect(dst: SocketAddr, src: Option<IpAddr>) -> io::Result<TcpStream> {
    let s = match src {
        None => TcpStream::connect_timeout(&dst, CONNECT_TIMEOUT)?,
        Some(src) => connect_from(dst, src)?,
    };
    s.set_read_timeout(Some(IO_TIMEOUT))?;
    s.set_write_timeout(Some(IO_TIMEOUT))?;
    s.set_nodelay(true)?;
    Ok(s)
}

/// connect(2) after bind(2) to `src`: std's `TcpStream` cannot bind before connecting. The
/// connect is bounded by `SO_SNDTIMEO` ([`CONNECT_TIMEOUT`]).
fn connect_from(dst: SocketAddr, src: IpAddr) -> io::Result<TcpStream> {
    let fam = if dst.is_ipv4() { AddressFamily::Inet } else { AddressFamily::Inet6 };
    let fd = sock::socket(fam, SockType::Stream, SockFlag::SOCK_CLOEXEC, None)?;
    let t = CONNECT_TIMEOUT;
    sock::setsockopt(&fd, sockopt::SendTimeout, &TimeVal::new(t.as_secs() as _, t.subsec_micros() as _))?;
    sock::bind(fd.as_raw_fd(), &SockaddrStorage::from(SocketAddr::new(src, 0)))?;
    sock::connect(fd.as_raw_fd(), &SockaddrStorage::from(dst))?;
    Ok(TcpStream::from(fd))
}

/// An HTTP response head from a lab real.
#[derive(Debug)]
pub struct Head {
    pub status: u16,
    /// The real that answered (its `X-Real: real N` header).
    pub real: Option<usize>,
    pub content_length: usize,
}

/// A whole response: its head and `Content-Length` bytes of body.
#[derive(Debug)]
pub struct Response {
    pub head: Head,
    pub body: Vec<u8>,
}

impl Response {
    /// The real that answered; panics if the response did not say.
    pub fn real(&self) -> usize {
        self.head.real.unwrap_or_else(|| panic!("response without X-Real: {:?}", self.head))
    }
}

/// Read a response head (status line and headers).
pub fn read_head<R: BufRead>(r: &mut R) -> io::Result<Head> {
    let mut line = String::new();
    if r.read_line(&mut line)? == 0 {
        return Err(io::Error::other("connection closed before the response"));
    }
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

/// Write `GET path` with `Connection: close` (`close`) or `keep-alive`, in one write (so
/// one segment on a socket with Nagle off).
pub fn send_get<W: Write>(w: &mut W, path: &str, close: bool) -> io::Result<()> {
    let conn = if close { "close" } else { "keep-alive" };
    w.write_all(format!("GET {path} HTTP/1.1\r\nHost: xvs-lab\r\nConnection: {conn}\r\n\r\n").as_bytes())
}

/// Read one whole response: head, then `Content-Length` bytes of body.
pub fn read_response<R: BufRead>(r: &mut R) -> io::Result<Response> {
    let head = read_head(r)?;
    let mut body = vec![0; head.content_length];
    r.read_exact(&mut body)?;
    Ok(Response { head, body })
}

/// One `GET path` on a new connection (`Connection: close`), from `src` when given.
pub fn try_get(dst: SocketAddr, path: &str, src: Option<IpAddr>) -> io::Result<Response> {
    let mut s = connect(dst, src)?;
    send_get(&mut s, path, true)?;
    read_response(&mut BufReader::with_capacity(1 << 16, s))
}

/// [`try_get`], panicking with the error.
pub fn get(dst: SocketAddr, path: &str, src: Option<IpAddr>) -> Response {
    try_get(dst, path, src).unwrap_or_else(|e| panic!("GET {path} from {src:?} to {dst}: {e}"))
}

/// One `GET path` with `Connection: close` to `addr`: the whole response as text, headers
/// and body, read until the server closes (for servers that are not the lab's reals, such
/// as the metrics endpoint, and for checks on the raw text).
pub fn http_get(addr: SocketAddr, path: &str) -> io::Result<String> {
    let mut s = connect(addr, None)?;
    send_get(&mut s, path, true)?;
    let mut out = String::new();
    s.read_to_string(&mut out)?;
    Ok(out)
}

/// An HTTP/1.1 keep-alive connection.
#[derive(Debug)]
pub struct KeepAlive {
    r: BufReader<TcpStream>,
}

impl KeepAlive {
    /// Connect to `dst` (call inside the client namespace); panics if it cannot.
    pub fn open(dst: SocketAddr) -> KeepAlive {
        Self::try_open(dst).unwrap_or_else(|e| panic!("connect {dst}: {e}"))
    }

    /// Connect to `dst` (call inside the client namespace).
    pub fn try_open(dst: SocketAddr) -> io::Result<KeepAlive> {
        Ok(KeepAlive { r: BufReader::with_capacity(1 << 16, connect(dst, None)?) })
    }

    /// Send `GET path`, keeping the connection open.
    pub fn send(&mut self, path: &str) {
        send_get(self.r.get_mut(), path, false).unwrap_or_else(|e| panic!("send GET {path}: {e}"));
    }

    pub fn head(&mut self) -> Head {
        read_head(&mut self.r).unwrap_or_else(|e| panic!("reading a response head: {e}"))
    }

    pub fn body(&mut self, n: usize) -> Vec<u8> {
        self.try_body(n).unwrap_or_else(|e| panic!("reading {n} body bytes: {e}"))
    }

    pub fn try_body(&mut self, n: usize) -> io::Result<Vec<u8>> {
        let mut b = vec![0; n];
        self.r.read_exact(&mut b)?;
        Ok(b)
    }

    /// A whole request and response.
    pub fn request(&mut self, path: &str) -> Response {
        self.try_request(path).unwrap_or_else(|e| panic!("GET {path}: {e}"))
    }

    /// A whole request and response; `close` asks the server to close after it.
    pub fn try_request_closing(&mut self, path: &str, close: bool) -> io::Result<Response> {
        send_get(self.r.get_mut(), path, close)?;
        read_response(&mut self.r)
    }

    /// A whole request and response, keeping the connection open.
    pub fn try_request(&mut self, path: &str) -> io::Result<Response> {
        self.try_request_closing(path, false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    /// A server on 127.0.0.1 that answers each request on one connection the way the lab's
    /// reals do, closing after a `Connection: close` request.
    fn serve_one(real: usize) -> SocketAddr {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        std::thread::spawn(move || {
            let (s, _) = l.accept().unwrap();
            s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            let mut r = BufReader::new(s.try_clone().unwrap());
            let mut w = s;
            loop {
                let mut req = String::new();
                loop {
                    let mut line = String::new();
                    if r.read_line(&mut line).unwrap_or(0) == 0 {
                        return;
                    }
                    req.push_str(&line);
                    if line == "\r\n" {
                        break;
                    }
                }
                let body = format!("real {real}\n");
                let resp =
                    format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\nX-Real: real {real}\r\n\r\n{body}", body.len());
                w.write_all(resp.as_bytes()).unwrap();
                if req.contains("Connection: close") {
                    return;
                }
            }
        });
        addr
    }

    #[test]
    fn get_reads_head_and_body_and_names_the_real() {
        let r = get(serve_one(2), "/", None);
        assert_eq!((r.head.status, r.real(), r.body.as_slice()), (200, 2, &b"real 2\n"[..]));
        let r = get(serve_one(1), "/", Some("127.0.0.1".parse().unwrap()));
        assert_eq!(r.real(), 1);
    }

    #[test]
    fn keep_alive_then_close_and_whole_text() {
        let mut k = KeepAlive::open(serve_one(0));
        assert_eq!(k.request("/").real(), 0);
        assert_eq!(k.try_request_closing("/", true).unwrap().body, b"real 0\n");
        let text = http_get(serve_one(3), "/").unwrap();
        assert!(text.starts_with("HTTP/1.1 200") && text.ends_with("\r\n\r\nreal 3\n"), "{text:?}");
    }

    #[test]
    fn a_closed_connection_is_an_error_not_a_hang() {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        std::thread::spawn(move || drop(l.accept()));
        assert!(try_get(addr, "/", None).is_err());
    }
}
