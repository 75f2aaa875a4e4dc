//! SMTP_CHECK, as keepalived's `check_smtp.c` talks: wait for the 220 greeting, send
//! `HELO name`, want 250, send `QUIT` and take whatever answers. A multi-line reply
//! (`220-...` lines, then `220 ...`) is read to its last line, as RFC 5321 says.
//!
//! Invariant: every read and write is bounded by the probe's deadline; a reply line is
//! at most 4 KiB and a reply at most 64 lines.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use super::socket::Source;

/// Up when the server greets with 220 and answers HELO with 250.
pub fn probe(target: SocketAddr, src: &Source, helo: &str, timeout: Duration) -> Result<String, String> {
    let deadline = Instant::now() + timeout;
    let s = src.tcp(target, timeout)?;
    let mut r = BufReader::new(s.try_clone().map_err(|e| e.to_string())?);
    let mut w = s;
    let greeting = reply(&mut r, &w, deadline).map_err(|e| format!("greeting: {e}"))?;
    if greeting.0 != 220 {
        return Err(format!("greeting {} {:?}, want 220", greeting.0, greeting.1));
    }
    say(&mut w, &format!("HELO {helo}\r\n"), deadline)?;
    let helo_reply = reply(&mut r, &w, deadline).map_err(|e| format!("HELO: {e}"))?;
    if helo_reply.0 != 250 {
        return Err(format!("HELO answered {} {:?}, want 250", helo_reply.0, helo_reply.1));
    }
    say(&mut w, "QUIT\r\n", deadline)?;
    // keepalived takes any answer to QUIT (or none) once HELO passed.
    let _ = reply(&mut r, &w, deadline);
    Ok(format!("SMTP 220/250 from {target}"))
}

fn bound(s: &TcpStream, deadline: Instant) -> Result<(), String> {
    let left = deadline.saturating_duration_since(Instant::now());
    if left.is_zero() {
        return Err("no answer within the timeout".into());
    }
    s.set_read_timeout(Some(left)).and_then(|_| s.set_write_timeout(Some(left))).map_err(|e| e.to_string())
}

fn say(w: &mut TcpStream, line: &str, deadline: Instant) -> Result<(), String> {
    bound(w, deadline)?;
    w.write_all(line.as_bytes()).map_err(|e| format!("sending {:?}: {e}", line.trim_end()))
}

/// One reply: its code and last line's text.
fn reply(r: &mut BufReader<TcpStream>, s: &TcpStream, deadline: Instant) -> Result<(u16, String), String> {
    for _ in 0..64 {
        bound(s, deadline)?;
        let mut line = Vec::new();
        let n = Read::by_ref(r).take(4096).read_until(b'\n', &mut line).map_err(|e| e.to_string())?;
        if n == 0 {
            return Err("connection closed".into());
        }
        let text = String::from_utf8_lossy(&line).trim_end().to_string();
        let code = text.get(..3).and_then(|c| c.parse::<u16>().ok()).ok_or(format!("not a reply: {text:?}"))?;
        match text.as_bytes().get(3) {
            Some(b'-') => continue,
            None | Some(b' ') => return Ok((code, text)),
            Some(_) => return Err(format!("not a reply: {text:?}")),
        }
    }
    Err("a reply of more than 64 lines".into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;
    use std::net::TcpListener;

    /// An SMTP responder that greets with `greeting` and answers HELO with `helo`,
    /// reporting the HELO line it got.
    fn server(greeting: &'static str, helo: &'static str) -> (SocketAddr, std::sync::mpsc::Receiver<String>) {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let (mut s, _) = l.accept().unwrap();
            s.write_all(greeting.as_bytes()).unwrap();
            let mut got = [0u8; 256];
            let n = s.read(&mut got).unwrap_or(0);
            let _ = tx.send(String::from_utf8_lossy(&got[..n]).to_string());
            let _ = s.write_all(helo.as_bytes());
            let _ = s.read(&mut got);
            let _ = s.write_all(b"221 bye\r\n");
        });
        (addr, rx)
    }

    const T: Duration = Duration::from_secs(2);

    #[test]
    fn greeting_and_helo_decide() {
        let (a, rx) = server("220-mx.example.com ESMTP\r\n220 ready\r\n", "250 hello\r\n");
        assert!(probe(a, &Source::default(), "checker.example", T).is_ok());
        assert_eq!(rx.recv().unwrap(), "HELO checker.example\r\n");
        let (a, _) = server("554 go away\r\n", "250 hello\r\n");
        assert!(probe(a, &Source::default(), "x", T).unwrap_err().contains("554"));
        let (a, _) = server("220 ready\r\n", "502 no\r\n");
        assert!(probe(a, &Source::default(), "x", T).unwrap_err().contains("502"));
    }
}
