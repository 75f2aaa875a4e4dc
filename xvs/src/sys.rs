//! The binary's system calls that std does not wrap, behind safe functions: nix (or
//! socket2) where they have the call, libc in the `unsafe` blocks left (a terminal's size,
//! sending a frame on a link). This module (with the datapath
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

/// Send one whole Ethernet frame out of interface `ifindex` (an AF_PACKET socket), for
/// announcements such as gratuitous ARP that no socket of the kernel's would send.
#[allow(unsafe_code)]
pub fn send_on_link(ifindex: u32, frame: &[u8]) -> std::io::Result<()> {
    use std::os::fd::AsRawFd;
    if frame.len() < 14 {
        return Err(std::io::Error::other("a frame shorter than its Ethernet header"));
    }
    let proto = (libc::ETH_P_ALL as u16).to_be();
    let s = socket2::Socket::new(
        socket2::Domain::PACKET,
        socket2::Type::RAW,
        Some(socket2::Protocol::from(i32::from(proto))),
    )?;
    let mut addr: libc::sockaddr_ll = libc::sockaddr_ll {
        sll_family: libc::AF_PACKET as u16,
        sll_protocol: proto,
        sll_ifindex: ifindex as i32,
        sll_hatype: 0,
        sll_pkttype: 0,
        sll_halen: 6,
        sll_addr: [0; 8],
    };
    addr.sll_addr[..6].copy_from_slice(&frame[..6]);
    // SAFETY: `frame` is valid for `frame.len()` bytes, `addr` is a whole sockaddr_ll
    // and its size is passed with it; the descriptor is the socket owned above.
    let n = unsafe {
        libc::sendto(
            s.as_raw_fd(),
            frame.as_ptr().cast(),
            frame.len(),
            0,
            (&addr as *const libc::sockaddr_ll).cast(),
            std::mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t,
        )
    };
    if n < 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
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
