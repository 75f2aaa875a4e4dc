//! A keepalived lab for the interop test: two network namespaces joined by a veth pair —
//! `ka` runs the distribution's keepalived (`--vrrp`, this kernel has no IPVS), `us` holds
//! raw IP-protocol-112 sockets that read keepalived's adverts and send ours.
//!
//! Addresses: `ka` e0 = 10.77.0.1/24 and fe80::1/64, `us` e0 = 10.77.0.2/24 and fe80::2/64.
//!
//! Invariants:
//! - Nothing skips: without root, iproute2 or keepalived the lab panics with the reason.
//! - [`KaLab`]'s `Drop` kills keepalived (and, through xvs-lab's `Lab`, every process left
//!   in the namespaces) and deletes the namespaces and its temporary directory, on every
//!   exit path including a failed assertion.
//! - Every read has a deadline: sockets time out every 100 ms and captures end at theirs.

#![allow(dead_code)]

use std::io::Read;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

use nix::sys::socket::{recvmsg, setsockopt, sockopt, ControlMessageOwned, MsgFlags, SockaddrIn6};
use socket2::{Domain, Protocol, Socket, Type};
use xvs_lab::{Keepalived, Lab};

pub const KA_V4: Ipv4Addr = Ipv4Addr::new(10, 77, 0, 1);
pub const US_V4: Ipv4Addr = Ipv4Addr::new(10, 77, 0, 2);
pub const KA_V6: Ipv6Addr = Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 1);
pub const US_V6: Ipv6Addr = Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 2);

/// One received advert.
#[derive(Clone, Debug)]
pub struct Rx {
    /// Arrival, ms after the capture's `t0`.
    pub at_ms: u64,
    pub src: IpAddr,
    pub dst: IpAddr,
    pub ttl: u8,
    /// The VRRP message (after the IP header).
    pub msg: Vec<u8>,
}

/// The lab (see the module doc).
pub struct KaLab {
    ka: Option<Keepalived>,
    pub lab: Lab,
}

impl KaLab {
    pub fn new(test: &str) -> KaLab {
        let mut lab = Lab::new(test);
        lab.ns("ka").ns("us").veth(("ka", "e0"), ("us", "e0"));
        lab.addr("ka", "e0", "10.77.0.1/24").addr("ka", "e0", "fe80::1/64");
        lab.addr("us", "e0", "10.77.0.2/24").addr("us", "e0", "fe80::2/64");
        KaLab { ka: None, lab }
    }

    /// Starts keepalived in `ka` with `conf` (a keepalived.conf text).
    pub fn start(&mut self, conf: &str) {
        self.ka = Some(Keepalived::start(&self.lab, "ka", conf));
    }

    fn ka(&self) -> &Keepalived {
        self.ka.as_ref().expect("keepalived started")
    }

    /// keepalived's log so far (it logs to the console with `--log-console`).
    pub fn log(&self) -> String {
        self.ka.as_ref().map(Keepalived::log).unwrap_or_default()
    }

    /// Waits until keepalived's log contains `needle`; panics with the log after `timeout`.
    pub fn wait_log(&self, needle: &str, timeout: Duration) -> Duration {
        self.ka().wait_log(needle, timeout)
    }

    /// Sends `sig` to keepalived (the parent; it stops its VRRP child).
    pub fn signal(&self, sig: nix::sys::signal::Signal) {
        self.ka().signal(sig);
    }

    /// `kill -9` of every keepalived process (parent and VRRP child) at once.
    pub fn kill9(&self) {
        self.ka().kill9();
    }

    /// A raw socket in `us` that reads VRRP over IPv4 (the group joined on e0).
    pub fn reader_v4(&self) -> Socket {
        self.lab.in_ns("us", || {
            let s = raw(Domain::IPV4);
            s.join_multicast_v4(&xvs_vrrp::wire::MCAST_V4, &US_V4).expect("join 224.0.0.18");
            s
        })
    }

    /// A raw socket in `us` that reads VRRP over IPv6 (ff02::12 joined on e0) with the hop
    /// limit and destination of each packet.
    pub fn reader_v6(&self) -> Socket {
        self.lab.in_ns("us", || {
            let s = raw(Domain::IPV6);
            s.join_multicast_v6(&xvs_vrrp::wire::MCAST_V6, ifindex()).expect("join ff02::12");
            setsockopt(&s, sockopt::Ipv6RecvHopLimit, &true).expect("IPV6_RECVHOPLIMIT");
            setsockopt(&s, sockopt::Ipv6RecvPacketInfo, &true).expect("IPV6_RECVPKTINFO");
            s
        })
    }

    /// A raw socket in `us` that sends VRRP from 10.77.0.2 with TTL 255 out of e0.
    pub fn sender_v4(&self) -> Socket {
        self.lab.in_ns("us", || {
            let s = raw(Domain::IPV4);
            s.bind(&SocketAddr::V4(SocketAddrV4::new(US_V4, 0)).into()).expect("bind");
            s.set_multicast_if_v4(&US_V4).expect("IP_MULTICAST_IF");
            s.set_multicast_ttl_v4(255).expect("IP_MULTICAST_TTL");
            s.set_multicast_loop_v4(false).expect("IP_MULTICAST_LOOP");
            s
        })
    }

    /// A raw socket in `us` that sends VRRP from fe80::2 with hop limit 255 out of e0.
    pub fn sender_v6(&self) -> Socket {
        self.lab.in_ns("us", || {
            let s = raw(Domain::IPV6);
            let ifx = ifindex();
            s.bind(&SocketAddr::V6(SocketAddrV6::new(US_V6, 0, 0, ifx)).into()).expect("bind");
            s.set_multicast_if_v6(ifx).expect("IPV6_MULTICAST_IF");
            s.set_multicast_hops_v6(255).expect("IPV6_MULTICAST_HOPS");
            s.set_multicast_loop_v6(false).expect("IPV6_MULTICAST_LOOP");
            s
        })
    }

    /// e0's index in `us`.
    pub fn us_ifindex(&self) -> u32 {
        self.lab.in_ns("us", ifindex)
    }
}

fn raw(domain: Domain) -> Socket {
    let s = Socket::new(domain, Type::RAW, Some(Protocol::from(i32::from(xvs_vrrp::wire::IPPROTO_VRRP))))
        .expect("raw socket (needs root)");
    s.set_read_timeout(Some(Duration::from_millis(100))).expect("SO_RCVTIMEO");
    s
}

fn ifindex() -> u32 {
    nix::net::if_::if_nametoindex("e0").expect("e0")
}

/// Sends `payload` (a VRRP message) to `dst` (`scope`: the interface of an IPv6 link-local
/// or multicast destination).
pub fn send(s: &Socket, dst: IpAddr, scope: u32, payload: &[u8]) {
    let to = match dst {
        IpAddr::V4(a) => SocketAddr::V4(SocketAddrV4::new(a, 0)),
        IpAddr::V6(a) => SocketAddr::V6(SocketAddrV6::new(a, 0, 0, scope)),
    };
    s.send_to(payload, &to.into()).unwrap_or_else(|e| panic!("send to {dst}: {e}"));
}

/// The next packet (IPv4: its header parsed; IPv6: hop limit and destination from the
/// ancillary data), or `None` after the socket's 100 ms timeout.
pub fn recv(s: &Socket, v6: bool, t0: Instant) -> Option<Rx> {
    if v6 {
        recv_v6(s, t0)
    } else {
        recv_v4(s, t0)
    }
}

fn recv_v4(mut s: &Socket, t0: Instant) -> Option<Rx> {
    let mut buf = [0u8; 2048];
    let n = s.read(&mut buf).ok()?;
    let p = &buf[..n];
    let ihl = usize::from(p.first()? & 0x0f) * 4;
    if n < 20 || n < ihl || p[9] != xvs_vrrp::wire::IPPROTO_VRRP {
        return None;
    }
    Some(Rx {
        at_ms: t0.elapsed().as_millis() as u64,
        src: IpAddr::V4(Ipv4Addr::new(p[12], p[13], p[14], p[15])),
        dst: IpAddr::V4(Ipv4Addr::new(p[16], p[17], p[18], p[19])),
        ttl: p[8],
        msg: p[ihl..].to_vec(),
    })
}

fn recv_v6(s: &Socket, t0: Instant) -> Option<Rx> {
    let mut buf = [0u8; 2048];
    let mut iov = [std::io::IoSliceMut::new(&mut buf)];
    let mut cmsg = nix::cmsg_space!(nix::libc::in6_pktinfo, nix::libc::c_int);
    let (n, src, mut ttl, mut dst) = {
        let m = recvmsg::<SockaddrIn6>(s.as_raw_fd(), &mut iov, Some(&mut cmsg), MsgFlags::empty()).ok()?;
        let (mut ttl, mut dst) = (None, None);
        for c in m.cmsgs().ok()? {
            match c {
                ControlMessageOwned::Ipv6HopLimit(h) => ttl = u8::try_from(h).ok(),
                ControlMessageOwned::Ipv6PacketInfo(i) => dst = Some(Ipv6Addr::from(i.ipi6_addr.s6_addr)),
                _ => {}
            }
        }
        (m.bytes, m.address.map(|a| a.ip()), ttl, dst)
    };
    let (src, ttl, dst) = (src?, ttl.take()?, dst.take()?);
    Some(Rx {
        at_ms: t0.elapsed().as_millis() as u64,
        src: IpAddr::V6(src),
        dst: IpAddr::V6(dst),
        ttl,
        msg: buf[..n].to_vec(),
    })
}

/// Packets read until `max` arrived or `until` passed.
pub fn capture(s: &Socket, v6: bool, t0: Instant, until: Instant, max: usize) -> Vec<Rx> {
    let mut got = Vec::new();
    while got.len() < max && Instant::now() < until {
        if let Some(rx) = recv(s, v6, t0) {
            got.push(rx);
        }
    }
    got
}

/// The first packet read before `until` for which `pred` holds.
pub fn first(s: &Socket, v6: bool, t0: Instant, until: Instant, pred: impl Fn(&Rx) -> bool) -> Option<Rx> {
    while Instant::now() < until {
        if let Some(rx) = recv(s, v6, t0).filter(|rx| pred(rx)) {
            return Some(rx);
        }
    }
    None
}
