//! The binary's system calls that std does not wrap, behind safe functions: nix where it
//! has the call, libc in the one `unsafe` block left. This module (with the datapath
//! crate and the engine's prefetch hints) is where xvs's `unsafe` is allowed.

use std::os::unix::net::UnixStream;

use nix::sys::socket::{getsockopt, sockopt};
use nix::sys::stat::{umask, Mode};

/// The uid of the peer of `s` (SO_PEERCRED).
pub fn peer_uid(s: &UnixStream) -> std::io::Result<u32> {
    let cred = getsockopt(s, sockopt::PeerCredentials)?;
    Ok(cred.uid())
}

/// Run `f` with the file-creation mask `mask` (restored after), e.g. to create a socket
/// file that nobody else may open even for an instant.
pub fn with_umask<T>(mask: u32, f: impl FnOnce() -> T) -> T {
    let old = umask(Mode::from_bits_truncate(mask));
    let out = f();
    umask(old);
    out
}

/// The terminal's width, if stdout is a terminal that says.
#[allow(unsafe_code)]
pub fn terminal_columns() -> Option<usize> {
    let mut ws = libc::winsize { ws_row: 0, ws_col: 0, ws_xpixel: 0, ws_ypixel: 0 };
    // SAFETY: TIOCGWINSZ writes one `winsize` into the pointer it is given, which points
    // to one we own.
    let r = unsafe { libc::ioctl(libc::STDOUT_FILENO, libc::TIOCGWINSZ, &mut ws) };
    (r == 0 && ws.ws_col > 0).then_some(ws.ws_col as usize)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_socket_pair_is_our_own_uid() {
        let (a, _b) = UnixStream::pair().unwrap();
        assert_eq!(peer_uid(&a).unwrap(), nix::unistd::getuid().as_raw());
    }

    #[test]
    fn umask_is_restored() {
        let before = umask(Mode::from_bits_truncate(0o022));
        umask(before);
        let inside = with_umask(0o177, || {
            let m = umask(Mode::from_bits_truncate(0o177));
            umask(m);
            m
        });
        assert_eq!(inside.bits(), 0o177);
        let after = umask(before);
        umask(after);
        assert_eq!(after, before);
    }
}
