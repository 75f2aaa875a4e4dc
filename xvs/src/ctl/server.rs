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
//!   serialized with SIGHUP reloads.
//! - The socket file is removed when the [`Server`] is dropped.

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, Receiver, Sender};
use std::time::Duration;

use super::{Request, Response};

/// Largest request accepted (a `-R` of a big table fits easily).
const MAX_REQUEST: u64 = 64 << 20;
/// How long a connection waits for the main loop's answer.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(60);

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
            for conn in listener.incoming() {
                let Ok(conn) = conn else { continue };
                let tx = tx.clone();
                let _ = std::thread::Builder::new().name("xvs-ctl-conn".into()).spawn(move || serve(conn, &tx));
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

fn serve(conn: UnixStream, tx: &Sender<Pending>) {
    let _ = conn.set_read_timeout(Some(Duration::from_secs(30)));
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
    let mut line = String::new();
    let mut reader = BufReader::new((&conn).take(MAX_REQUEST));
    if let Err(e) = reader.read_line(&mut line) {
        return respond(&conn, &Response::error(format!("xvs ctl: reading the request: {e}")));
    }
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
            super::super::client::call(&p, &Request { args: vec!["-Ln".into()], input: None })
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
