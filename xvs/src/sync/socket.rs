//! The sync daemon's UDP sockets, set up as the kernel's `make_send_sock` and
//! `make_receive_sock` do: the sender on the sync interface (multicast out of it, not
//! looped back, IPVS's TTL), connected to the group; the receiver bound to the group's
//! port on the interface, in the group.
//!
//! Invariant: both are bound to the interface (`SO_BINDTODEVICE`), so two daemons on two
//! interfaces of one host do not see each other's traffic; the receiver wakes at least
//! every [`RECV_TIMEOUT`] so its thread can notice a stop.

use std::io;
use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::time::Duration;

use socket2::{Domain, InterfaceIndexOrAddress, Protocol, Socket, Type};

/// How long a receive waits before the thread checks for a stop.
pub const RECV_TIMEOUT: Duration = Duration::from_millis(100);

fn err(what: String, e: io::Error) -> String {
    format!("{what}: {e}")
}

fn udp(group: IpAddr, ifname: &str) -> Result<Socket, String> {
    let domain = if group.is_ipv6() { Domain::IPV6 } else { Domain::IPV4 };
    let s = Socket::new(domain, Type::DGRAM, Some(Protocol::UDP)).map_err(|e| err("sync socket".into(), e))?;
    s.bind_device(Some(ifname.as_bytes())).map_err(|e| err(format!("binding the sync socket to {ifname}"), e))?;
    Ok(s)
}

/// The sender: multicast (or unicast) to `group`:`port` out of `ifname` (index `ifindex`).
pub fn sender(ifname: &str, ifindex: u32, group: IpAddr, port: u16, ttl: u8) -> Result<UdpSocket, String> {
    let s = udp(group, ifname)?;
    let set = |r: io::Result<()>, what: &str| r.map_err(|e| err(format!("sync sender on {ifname}: {what}"), e));
    match group {
        IpAddr::V4(_) => {
            set(s.set_multicast_if_v4(&first_v4(ifindex)?), "IP_MULTICAST_IF")?;
            set(s.set_multicast_loop_v4(false), "IP_MULTICAST_LOOP")?;
            set(s.set_multicast_ttl_v4(ttl as u32), "IP_MULTICAST_TTL")?;
        }
        IpAddr::V6(_) => {
            set(s.set_multicast_if_v6(ifindex), "IPV6_MULTICAST_IF")?;
            set(s.set_multicast_loop_v6(false), "IPV6_MULTICAST_LOOP")?;
            set(s.set_multicast_hops_v6(ttl as u32), "IPV6_MULTICAST_HOPS")?;
        }
    }
    set(s.connect(&SocketAddr::new(group, port).into()), "connect")?;
    Ok(s.into())
}

/// The receiver: `group`:`port` on `ifname` (index `ifindex`), in the group.
pub fn receiver(ifname: &str, ifindex: u32, group: IpAddr, port: u16) -> Result<UdpSocket, String> {
    let s = udp(group, ifname)?;
    let set = |r: io::Result<()>, what: &str| r.map_err(|e| err(format!("sync receiver on {ifname}: {what}"), e));
    set(s.set_reuse_address(true), "SO_REUSEADDR")?;
    set(s.bind(&SocketAddr::new(group, port).into()), &format!("bind {group} port {port}"))?;
    match group {
        IpAddr::V4(g) if g.is_multicast() => {
            set(s.join_multicast_v4_n(&g, &InterfaceIndexOrAddress::Index(ifindex)), "joining the group")?
        }
        IpAddr::V6(g) if g.is_multicast() => set(s.join_multicast_v6(&g, ifindex), "joining the group")?,
        _ => {}
    }
    set(s.set_read_timeout(Some(RECV_TIMEOUT)), "SO_RCVTIMEO")?;
    Ok(s.into())
}

/// The interface's first IPv4 address (the kernel binds its sender to it).
fn first_v4(ifindex: u32) -> Result<std::net::Ipv4Addr, String> {
    let addrs =
        crate::host::addresses_of(ifindex).map_err(|e| err("reading the sync interface's addresses".into(), e))?;
    addrs
        .iter()
        .find_map(|a| match a.addr {
            IpAddr::V4(v) => Some(v),
            _ => None,
        })
        .ok_or_else(|| "the sync interface has no IPv4 address to send from (IPVS needs one too)".to_string())
}
