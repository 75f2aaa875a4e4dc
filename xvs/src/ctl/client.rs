//! The client side of the control socket: send one [`Request`], read one [`Response`].
//!
//! Invariant: a failure to reach the daemon is an `Err` with the OS's reason; whatever the
//! daemon answers (errors included) is an `Ok(Response)`.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

use super::{Request, Response};

/// Why the daemon could not be asked.
#[derive(Debug)]
pub enum CallError {
    /// Connecting failed (no daemon, no socket, no permission).
    Connect(std::io::Error),
    /// Connected, but the exchange failed.
    Exchange(String),
}

impl std::fmt::Display for CallError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CallError::Connect(e) => write!(f, "{e}"),
            CallError::Exchange(e) => f.write_str(e),
        }
    }
}

/// Send `req` to the daemon at `path` and wait for its answer.
pub fn call(path: &Path, req: &Request) -> Result<Response, CallError> {
    let s = UnixStream::connect(path).map_err(CallError::Connect)?;
    exchange(s, req)
}

/// [`call`], giving up when the answer has not come within `deadline` of each read or
/// write (the fleet's helpers must not wait on a hung director).
pub fn call_within(path: &Path, req: &Request, deadline: Duration) -> Result<Response, CallError> {
    let s = UnixStream::connect(path).map_err(CallError::Connect)?;
    let timeouts = s.set_read_timeout(Some(deadline)).and_then(|_| s.set_write_timeout(Some(deadline)));
    timeouts.map_err(|e| CallError::Exchange(format!("setting the socket's deadline: {e}")))?;
    exchange(s, req)
}

fn exchange(mut s: UnixStream, req: &Request) -> Result<Response, CallError> {
    let mut line = serde_json::to_string(req).map_err(|e| CallError::Exchange(e.to_string()))?;
    line.push('\n');
    // A refused peer is answered before its request is read, and the socket may be closed
    // by then: a failed write is reported only if no answer can be read either.
    let sent = s.write_all(line.as_bytes());
    let mut answer = String::new();
    let read = BufReader::new(&s).read_line(&mut answer);
    if answer.is_empty() {
        return Err(CallError::Exchange(match (sent, read) {
            (Err(e), _) => format!("sending the request: {e}"),
            (_, Err(e)) => format!("reading the answer: {e}"),
            _ => "the daemon closed the connection without an answer".into(),
        }));
    }
    serde_json::from_str(answer.trim_end()).map_err(|e| CallError::Exchange(format!("a malformed answer: {e}")))
}
