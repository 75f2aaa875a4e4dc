//! VRRP's socket: IP protocol 112 on one interface, IPv4 or IPv6, multicast
//! (224.0.0.18 / ff02::12) joined on that interface, or unicast to configured peers.
//!
//! Invariants:
//! - Every received message comes with what validation needs: the source, the
//!   destination, and the TTL / hop limit it arrived with (IPv4: from the IP header the
//!   raw socket delivers; IPv6: from ancillary data), and only the VRRP message itself
//!   is handed on.
//! - Everything sent leaves with TTL / hop limit 255 (RFC 3768 §5.2.1, RFC 5798 §5.1.1.3)
//!   from the interface it is bound to; multicast is not looped back to this host.
//! - The socket is non-blocking: `recv` returns `None` when nothing is waiting.

use std::io;
use std::io::IoSliceMut;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};

use nix::sys::socket::{self as sock, sockopt, ControlMessageOwned, MsgFlags, SockaddrIn, SockaddrIn6};
use socket2::{Domain, Protocol, Socket, Type};

/// IP protocol number of VRRP.
pub const IPPROTO_VRRP: i32 = 112;
/// The VRRP multicast groups.
pub const GROUP_V4: Ipv4Addr = Ipv4Addr::new(224, 0, 0, 18);
pub const GROUP_V6: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 0x12);

/// One received message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Received {
    pub src: IpAddr,
    pub dst: IpAddr,
    pub ttl: u8,
    pub msg: Vec<u8>,
}

/// A VRRP socket bound to one interface.
#[derive(Debug)]
pub struct VrrpSocket {
    rx: OwnedFd,
    tx: OwnedFd,
    v6: bool,
    ifname: String,
    ifindex: u32,
}

fn err(what: &str, e: impl std::fmt::Display) -> io::Error {
    io::Error::other(format!("{what}: {e}"))
}

/// A non-blocking protocol-112 socket bound to `ifname`.
fn raw(ifname: &str, v6: bool) -> io::Result<Socket> {
    let domain = if v6 { Domain::IPV6 } else { Domain::IPV4 };
    let s = Socket::new(domain, Type::RAW, Some(Protocol::from(IPPROTO_VRRP))).map_err(|e| err("raw socket", e))?;
    s.set_nonblocking(true)?;
    s.bind_device(Some(ifname.as_bytes())).map_err(|e| err(&format!("binding to {ifname}"), e))?;
    Ok(s)
}

impl VrrpSocket {
    /// Open on `ifname` (index `ifindex`) for `family_v6`, joining the VRRP group there
    /// when `multicast`. `src` is the address adverts leave from (IPv4: also the
    /// interface the group is joined on).
    pub fn open(ifname: &str, ifindex: u32, src: IpAddr, multicast: bool) -> io::Result<VrrpSocket> {
        let v6 = src.is_ipv6();
        // Two sockets, as keepalived has: a raw socket bound to an address only receives
        // what is addressed to that address, so the receiving one is bound to the
        // interface alone (and joins the group), the sending one also to `src`.
        let rx = raw(ifname, v6)?;
        let tx = raw(ifname, v6)?;
        tx.bind(&scoped(src, ifindex).into()).map_err(|e| err(&format!("binding to {src}"), e))?;
        match src {
            IpAddr::V4(a) => {
                tx.set_ttl(255)?;
                tx.set_multicast_ttl_v4(255)?;
                tx.set_multicast_loop_v4(false)?;
                tx.set_multicast_if_v4(&a)?;
                if multicast {
                    rx.join_multicast_v4(&GROUP_V4, &a).map_err(|e| err("joining 224.0.0.18", e))?;
                }
            }
            IpAddr::V6(_) => {
                tx.set_unicast_hops_v6(255)?;
                tx.set_multicast_hops_v6(255)?;
                tx.set_multicast_loop_v6(false)?;
                tx.set_multicast_if_v6(ifindex)?;
                if multicast {
                    rx.join_multicast_v6(&GROUP_V6, ifindex).map_err(|e| err("joining ff02::12", e))?;
                }
            }
        }
        let rx: OwnedFd = rx.into();
        if v6 {
            sock::setsockopt(&rx, sockopt::Ipv6RecvPacketInfo, &true)?;
            sock::setsockopt(&rx, sockopt::Ipv6RecvHopLimit, &true)?;
        }
        Ok(VrrpSocket { rx, tx: tx.into(), v6, ifname: ifname.to_string(), ifindex })
    }

    pub fn ifname(&self) -> &str {
        &self.ifname
    }

    /// The next message waiting, if any. A malformed IPv4 header is an error the caller
    /// counts, not a panic.
    pub fn recv(&self) -> io::Result<Option<Received>> {
        let mut buf = vec![0u8; 2048];
        if self.v6 {
            return self.recv_v6(buf);
        }
        let (n, from) = match sock::recvfrom::<SockaddrIn>(self.rx.as_raw_fd(), &mut buf) {
            Ok(x) => x,
            Err(nix::errno::Errno::EAGAIN) => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        let Some((ttl, src, dst, hlen)) = ipv4_header(&buf[..n]) else {
            return Err(io::Error::other(format!("a short or bad IPv4 header from {from:?}")));
        };
        buf.truncate(n);
        Ok(Some(Received { src: src.into(), dst: dst.into(), ttl, msg: buf.split_off(hlen) }))
    }

    fn recv_v6(&self, mut buf: Vec<u8>) -> io::Result<Option<Received>> {
        let mut cmsg = nix::cmsg_space!(nix::libc::in6_pktinfo, nix::libc::c_int);
        let mut iov = [IoSliceMut::new(&mut buf)];
        let r = match sock::recvmsg::<SockaddrIn6>(self.rx.as_raw_fd(), &mut iov, Some(&mut cmsg), MsgFlags::empty()) {
            Ok(r) => r,
            Err(nix::errno::Errno::EAGAIN) => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        let (mut dst, mut ttl) = (Ipv6Addr::UNSPECIFIED, 0u8);
        for c in r.cmsgs()? {
            match c {
                ControlMessageOwned::Ipv6PacketInfo(pi) => dst = Ipv6Addr::from(pi.ipi6_addr.s6_addr),
                ControlMessageOwned::Ipv6HopLimit(h) => ttl = h.clamp(0, 255) as u8,
                _ => {}
            }
        }
        let src = r.address.map(|a| IpAddr::V6(a.ip())).ok_or_else(|| io::Error::other("no source address"))?;
        let n = r.bytes;
        buf.truncate(n);
        Ok(Some(Received { src, dst: dst.into(), ttl, msg: buf }))
    }

    /// Send one VRRP message to `dst` (the group or a unicast peer).
    pub fn send(&self, dst: IpAddr, msg: &[u8]) -> io::Result<()> {
        let n = match dst {
            IpAddr::V4(a) => {
                sock::sendto(self.tx.as_raw_fd(), msg, &SockaddrIn::from(SocketAddrV4::new(a, 0)), MsgFlags::empty())
            }
            IpAddr::V6(a) => sock::sendto(
                self.tx.as_raw_fd(),
                msg,
                &SockaddrIn6::from(SocketAddrV6::new(a, 0, 0, if is_link_scoped(a) { self.ifindex } else { 0 })),
                MsgFlags::empty(),
            ),
        }?;
        if n != msg.len() {
            return Err(io::Error::other(format!("sent {n} of {} bytes", msg.len())));
        }
        Ok(())
    }
}

impl AsFd for VrrpSocket {
    /// The receiving side, for `poll()`.
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.rx.as_fd()
    }
}

/// A link-local or link-scoped multicast IPv6 address needs its interface.
fn is_link_scoped(a: Ipv6Addr) -> bool {
    a.is_unicast_link_local() || (a.is_multicast() && a.segments()[0] & 0x000f == 2)
}

/// `addr` port 0, with the interface as scope for a link-local IPv6 address (VRRPv3 over
/// IPv6 sends from the interface's link-local address).
fn scoped(addr: IpAddr, ifindex: u32) -> SocketAddr {
    match addr {
        IpAddr::V6(a) if is_link_scoped(a) => SocketAddr::V6(SocketAddrV6::new(a, 0, 0, ifindex)),
        a => SocketAddr::new(a, 0),
    }
}

/// (TTL, source, destination, header length) of an IPv4 header, if it is one whole.
fn ipv4_header(b: &[u8]) -> Option<(u8, Ipv4Addr, Ipv4Addr, usize)> {
    if b.len() < 20 || b[0] >> 4 != 4 {
        return None;
    }
    let hlen = usize::from(b[0] & 0x0f) * 4;
    if hlen < 20 || b.len() < hlen {
        return None;
    }
    let src = Ipv4Addr::new(b[12], b[13], b[14], b[15]);
    let dst = Ipv4Addr::new(b[16], b[17], b[18], b[19]);
    Some((b[8], src, dst, hlen))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv4_headers_are_checked_before_use() {
        let mut h = [0u8; 24];
        h[0] = 0x46; // version 4, 24-byte header
        h[8] = 255;
        h[12..16].copy_from_slice(&[10, 0, 0, 1]);
        h[16..20].copy_from_slice(&[224, 0, 0, 18]);
        assert_eq!(ipv4_header(&h), Some((255, Ipv4Addr::new(10, 0, 0, 1), GROUP_V4, 24)));
        assert_eq!(ipv4_header(&h[..20]), None); // shorter than its IHL
        h[0] = 0x44;
        assert_eq!(ipv4_header(&h), None); // IHL below 5
        assert_eq!(ipv4_header(&[0x45; 10]), None);
        h[0] = 0x65;
        assert_eq!(ipv4_header(&h), None); // not IPv4
    }
}
