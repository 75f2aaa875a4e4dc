//! The control socket in the daemon: a Unix stream socket, one request per connection,
//! handed to the daemon's main loop over a channel.
//!
//! Invariants:
//! - The socket file is created with mode 0600 (the umask is tightened around `bind`, so
//!   there is no moment with wider permissions) and owned by root; a stale socket file is
//!   replaced, a live one (another xvs answering) or a non-socket file is an error.
//! - Every peer's credentials are checked (SO_PEERCRED) before its request is read: a uid
//!   other than 0 gets an error response and nothing else.
//! - Each connection has its own thread, which only parses, forwards and writes back: the
//!   request is handled on the main loop, between its other duties, so edits are
//!   serialized with SIGHUP reloads. At most [`MAX_CONNECTIONS`] are served at once (more
//!   are told the director is busy), a request must arrive whole within
//!   [`REQUEST_DEADLINE`], and failing accepts back off instead of spinning.
//! - The socket file is removed when the [`Server`] is dropped.

use std::io::{Read, Write};
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::{Request, Response};

/// Largest request accepted (a `-R` of a big table fits easily).
const MAX_REQUEST: u64 = 64 << 20;
/// How long a connection waits for the main loop's answer.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(60);
/// Connections served at once.
pub const MAX_CONNECTIONS: usize = 16;
/// The longest a client may take to send its whole request (not per read).
pub const REQUEST_DEADLINE: Duration = Duration::from_secs(30);

/// A request waiting for the main loop, with the way back to its client.
#[derive(Debug)]
pub struct Pending {
    pub request: Request,
    reply: Sender<Response>,
}

impl Pending {
    /// Send the answer (a client that went away is no error).
    pub fn answer(self, r: Response) {
        let _ = self.reply.send(r);
    }
}

/// The listening socket; requests arrive on [`Server::wait`].
#[derive(Debug)]
pub struct Server {
    path: PathBuf,
    rx: Receiver<Pending>,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

pub use crate::sys::peer_uid;

/// Bind `path` and start accepting.
pub fn listen(path: &Path) -> Result<Server, String> {
    let show = path.display();
    if let Ok(meta) = std::fs::symlink_metadata(path) {
        if !meta.file_type().is_socket() {
            return Err(format!("control_socket {show}: exists and is not a socket; remove it or choose another path"));
        }
        if UnixStream::connect(path).is_ok() {
            return Err(format!("control_socket {show}: another xvs is answering there"));
        }
        std::fs::remove_file(path).map_err(|e| format!("control_socket {show}: removing the stale socket: {e}"))?;
    }
    let bound = crate::sys::with_umask(0o177, || UnixListener::bind(path));
    let listener = bound.map_err(|e| format!("control_socket {show}: {e}"))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
        .and_then(|()| std::os::unix::fs::chown(path, Some(0), Some(0)))
        .map_err(|e| format!("control_socket {show}: {e}"))?;
    let (tx, rx) = mpsc::channel();
    std::thread::Builder::new()
        .name("xvs-ctl".into())
        .spawn(move || {
            let open = Arc::new(AtomicUsize::new(0));
            for conn in listener.incoming() {
                let conn = match conn {
                    Ok(c) => c,
                    Err(_) => {
                        std::thread::sleep(Duration::from_millis(100));
                        continue;
                    }
                };
                if open.load(Ordering::Acquire) >= MAX_CONNECTIONS {
                    respond(
                        &conn,
                        &Response::error("xvs ctl: the director is busy with other ctl requests; try again"),
                    );
                    continue;
                }
                open.fetch_add(1, Ordering::AcqRel);
                let (tx, open2) = (tx.clone(), open.clone());
                let spawned = std::thread::Builder::new().name("xvs-ctl-conn".into()).spawn(move || {
                    serve(conn, &tx);
                    open2.fetch_sub(1, Ordering::AcqRel);
                });
                if spawned.is_err() {
                    open.fetch_sub(1, Ordering::AcqRel);
                }
            }
        })
        .map_err(|e| format!("starting the control socket thread: {e}"))?;
    Ok(Server { path: path.to_path_buf(), rx })
}

fn respond(mut conn: &UnixStream, r: &Response) {
    let mut line = serde_json::to_string(r).unwrap_or_else(|_| "{\"exit\":1}".into());
    line.push('\n');
    let _ = conn.write_all(line.as_bytes());
}

/// The request line of `conn`, read whole within [`REQUEST_DEADLINE`] and at most
/// [`MAX_REQUEST`] bytes.
fn read_request(mut conn: &UnixStream) -> std::io::Result<String> {
    let deadline = Instant::now() + REQUEST_DEADLINE;
    let mut got = Vec::new();
    let mut buf = [0u8; 64 * 1024];
    while !got.contains(&b'\n') {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(std::io::Error::new(std::io::ErrorKind::TimedOut, "the request did not arrive in time"));
        }
        conn.set_read_timeout(Some(left))?;
        let n = conn.read(&mut buf)?;
        if n == 0 {
            break;
        }
        got.extend_from_slice(&buf[..n]);
        if got.len() as u64 > MAX_REQUEST {
            return Err(std::io::Error::new(std::io::ErrorKind::InvalidData, "the request is too large"));
        }
    }
    let end = got.iter().position(|b| *b == b'\n').unwrap_or(got.len());
    String::from_utf8(got[..end].to_vec()).map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))
}

fn serve(conn: UnixStream, tx: &Sender<Pending>) {
    match peer_uid(&conn) {
        Ok(0) => {}
        Ok(uid) => {
            return respond(
                &conn,
                &Response::error(format!(
                    "xvs ctl: permission denied: the control socket accepts only root (uid 0), not uid {uid}"
                )),
            )
        }
        Err(e) => {
            return respond(&conn, &Response::error(format!("xvs ctl: cannot check the peer's credentials: {e}")))
        }
    }
    let line = match read_request(&conn) {
        Ok(l) => l,
        Err(e) => return respond(&conn, &Response::error(format!("xvs ctl: reading the request: {e}"))),
    };
    let request: Request = match serde_json::from_str(line.trim_end()) {
        Ok(r) => r,
        Err(e) => return respond(&conn, &Response::error(format!("xvs ctl: a malformed request: {e}"))),
    };
    let (reply, answer) = mpsc::channel();
    if tx.send(Pending { request, reply }).is_err() {
        return respond(&conn, &Response::error("xvs ctl: the director is stopping"));
    }
    let r = answer
        .recv_timeout(ANSWER_TIMEOUT)
        .unwrap_or_else(|_| Response::error("xvs ctl: the director did not answer in time"));
    respond(&conn, &r);
}

impl Server {
    /// Wait up to `timeout` for a request; then take whatever else is queued.
    pub fn wait(&self, timeout: Duration) -> Vec<Pending> {
        let mut out = Vec::new();
        if let Ok(p) = self.rx.recv_timeout(timeout) {
            out.push(p);
            out.extend(self.rx.try_iter());
        }
        out
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_request_one_answer_and_0600() {
        let dir = std::env::temp_dir().join(format!("xvs-ctl-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("ctl.sock");
        // A stale socket file is replaced.
        drop(UnixListener::bind(&path).unwrap());
        let server = listen(&path).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        assert!(listen(&path).unwrap_err().contains("another xvs"));
        let p = path.clone();
        let client = std::thread::spawn(move || {
            super::super::client::call(&p, &Request { args: vec!["-Ln".into()], input: None, fleet: None })
        });
        let got = loop {
            let v = server.wait(Duration::from_millis(100));
            if let Some(p) = v.into_iter().next() {
                break p;
            }
        };
        assert_eq!(got.request.args, vec!["-Ln"]);
        got.answer(Response::ok("hello\n".into()));
        let r = client.join().unwrap().unwrap();
        // Tests run as root here; a non-root runner gets the refusal instead.
        if nix::unistd::geteuid().is_root() {
            assert_eq!(r, Response::ok("hello\n".into()));
        }
        drop(server);
        assert!(!path.exists(), "the socket file goes with the server");
        let _ = std::fs::remove_dir_all(&dir);
    }
}

#[cfg(test)]
mod limits {
    use super::*;

    /// Idle clients hold at most [`MAX_CONNECTIONS`] threads; one more is told at once
    /// that the director is busy, and a request still gets through once they go.
    #[test]
    fn idle_clients_are_bounded_and_told_to_wait() {
        let dir = std::env::temp_dir().join(format!("xvs-ctl-limits-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("ctl.sock");
        let server = listen(&path).unwrap();
        let idle: Vec<UnixStream> = (0..MAX_CONNECTIONS).map(|_| UnixStream::connect(&path).unwrap()).collect();
        std::thread::sleep(Duration::from_millis(200));
        let mut extra = UnixStream::connect(&path).unwrap();
        extra.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut out = String::new();
        extra.read_to_string(&mut out).unwrap();
        assert!(out.contains("busy"), "{out}");
        drop(server);
        drop(idle);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
