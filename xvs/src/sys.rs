//! The binary's system calls that std does not wrap, behind safe functions: nix (or
//! socket2) where they have the call, libc in the `unsafe` blocks left (a terminal's size,
//! sending a frame on a link). This module (with the datapath
//! crate and the engine's prefetch hints) is where xvs's `unsafe` is allowed.

use std::os::unix::net::UnixStream;

use nix::sys::socket::{getsockopt, sockopt};
use nix::sys::stat::{umask, Mode};

/// Ask the kernel for transparent huge pages on `spans` (address, bytes; the engine's
/// tables, `Engine::table_spans`), each rounded inward to whole 4 KiB pages: a lookup in a
/// table of a million connections then walks one page-table level less. Returns the bytes
/// advised. Where the kernel has no transparent huge pages (or has them `never`) the
/// advice is refused or has no effect, and the tables stay on small pages: nothing else
/// changes. [`huge_pages_mode`] and [`anon_huge_bytes`] say what the process got.
#[allow(unsafe_code)]
pub fn advise_huge_pages(spans: &[(usize, usize)]) -> std::io::Result<usize> {
    const PAGE: usize = 4096;
    let mut advised = 0;
    for &(addr, len) in spans {
        let start = addr.div_ceil(PAGE) * PAGE;
        let end = (addr + len) / PAGE * PAGE;
        if end <= start {
            continue;
        }
        // SAFETY: the range lies inside an allocation the caller owns and keeps alive;
        // MADV_HUGEPAGE changes how its pages are backed, never its contents.
        let r = unsafe { libc::madvise(start as *mut libc::c_void, end - start, libc::MADV_HUGEPAGE) };
        if r != 0 {
            return Err(std::io::Error::last_os_error());
        }
        advised += end - start;
    }
    Ok(advised)
}

/// The kernel's transparent-huge-page mode (`always`, `madvise` or `never`), if it has them.
pub fn huge_pages_mode() -> Option<String> {
    let s = std::fs::read_to_string("/sys/kernel/mm/transparent_hugepage/enabled").ok()?;
    let start = s.find('[')? + 1;
    let end = start + s[start..].find(']')?;
    Some(s[start..end].to_string())
}

/// Bytes of this process's anonymous memory on huge pages (`AnonHugePages`).
pub fn anon_huge_bytes() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/self/smaps_rollup").ok()?;
    let line = s.lines().find(|l| l.starts_with("AnonHugePages:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

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

    /// Where the kernel has transparent huge pages, the whole pages inside each span are
    /// advised (a span's ragged ends are not); an empty or sub-page span is skipped.
    #[test]
    fn tables_are_advised_in_whole_pages() {
        let v = vec![0u64; 1 << 20];
        let (addr, len) = (v.as_ptr() as usize + 100, v.len() * 8 - 200);
        let want = (addr + len) / 4096 * 4096 - addr.div_ceil(4096) * 4096;
        let r = advise_huge_pages(&[(addr, len), (addr, 10), (addr, 0)]);
        match huge_pages_mode() {
            Some(mode) => assert_eq!(r.unwrap(), want, "mode {mode}"),
            None => assert!(r.is_err(), "no THP but the advice was taken: {r:?}"),
        }
        assert!(anon_huge_bytes().is_some(), "smaps_rollup has AnonHugePages");
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
