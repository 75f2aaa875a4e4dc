//! The host's own network configuration, as the real-server and decap commands (and later
//! the director's `manage_vips`) need it: interface indexes, the addresses configured on
//! interfaces, adding and removing an address, and sysctls.
//!
//! Addresses go through rtnetlink (RTM_GETADDR/NEWADDR/DELADDR) with the rust-netlink
//! crates (`netlink-packet-route` for the message formats, `netlink-sys` for a plain
//! blocking socket): they are the maintained implementation behind the `rtnetlink` crate,
//! without its async runtime, and spare us hand-packing netlink attributes. Shelling out to
//! `ip` would make iproute2 a runtime dependency of the binary and its errors text to parse.
//!
//! Invariants: every call acts on the network namespace of the calling thread; a request
//! that the kernel refuses returns the kernel's errno as an `io::Error`, never panics; one
//! socket per call, nothing is cached.

use std::io;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use netlink_packet_core::{
    NetlinkHeader, NetlinkMessage, NetlinkPayload, NLM_F_ACK, NLM_F_CREATE, NLM_F_DUMP, NLM_F_EXCL, NLM_F_REQUEST,
};
use netlink_packet_route::address::{AddressAttribute, AddressHeaderFlags, AddressMessage, AddressScope};
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};
use netlink_sys::{protocols::NETLINK_ROUTE, Socket, SocketAddr};

/// One address configured on an interface.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IfAddr {
    pub index: u32,
    pub addr: IpAddr,
    pub prefix_len: u8,
}

/// The index of interface `name` in this network namespace.
pub fn ifindex(name: &str) -> io::Result<u32> {
    nix::net::if_::if_nametoindex(name)
        .map_err(|_| io::Error::new(io::ErrorKind::NotFound, format!("no such interface: {name}")))
}

/// Whether interface `name` is administratively up (IFF_UP); false if it does not exist.
pub fn is_up(name: &str) -> bool {
    nix::ifaddrs::getifaddrs()
        .map(|mut it| it.any(|a| a.interface_name == name && a.flags.contains(nix::net::if_::InterfaceFlags::IFF_UP)))
        .unwrap_or(false)
}

/// The MAC address of interface `name`, in this thread's network namespace (unlike
/// `/sys/class/net`, which shows the namespace sysfs was mounted in).
pub fn mac_of(name: &str) -> io::Result<[u8; 6]> {
    nix::ifaddrs::getifaddrs()?
        .filter(|a| a.interface_name == name)
        .find_map(|a| a.address.and_then(|s| s.as_link_addr().and_then(|l| l.addr())))
        .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, format!("no MAC address for {name}")))
}

/// Whether interface `name` is up with a carrier (IFF_UP and IFF_RUNNING), in this
/// thread's network namespace: what keepalived's `track_interface` calls up.
pub fn is_running(name: &str) -> bool {
    use nix::net::if_::InterfaceFlags as F;
    nix::ifaddrs::getifaddrs()
        .map(|mut it| it.any(|a| a.interface_name == name && a.flags.contains(F::IFF_UP | F::IFF_RUNNING)))
        .unwrap_or(false)
}

/// Whether the process runs with effective uid 0.
pub fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

/// Every IPv4 and IPv6 address on every interface.
pub fn addresses() -> io::Result<Vec<IfAddr>> {
    let replies = request(RouteNetlinkMessage::GetAddress(AddressMessage::default()), NLM_F_REQUEST | NLM_F_DUMP)?;
    let mut out = Vec::new();
    for msg in replies {
        if let RouteNetlinkMessage::NewAddress(m) = msg {
            // IFA_LOCAL is the interface's own address (differs from IFA_ADDRESS only on
            // point-to-point links, where IFA_ADDRESS is the peer).
            let local = m.attributes.iter().find_map(|a| match a {
                AddressAttribute::Local(ip) => Some(*ip),
                _ => None,
            });
            let address = m.attributes.iter().find_map(|a| match a {
                AddressAttribute::Address(ip) => Some(*ip),
                _ => None,
            });
            if let Some(addr) = local.or(address) {
                out.push(IfAddr { index: m.header.index, addr, prefix_len: m.header.prefix_len });
            }
        }
    }
    Ok(out)
}

/// The addresses configured on interface `index`.
pub fn addresses_of(index: u32) -> io::Result<Vec<IfAddr>> {
    Ok(addresses()?.into_iter().filter(|a| a.index == index).collect())
}

fn address_message(index: u32, addr: IpAddr, prefix_len: u8) -> AddressMessage {
    let mut m = AddressMessage::default();
    m.header.family = if addr.is_ipv4() { AddressFamily::Inet } else { AddressFamily::Inet6 };
    m.header.prefix_len = prefix_len;
    m.header.index = index;
    m.header.scope = if addr.is_loopback() { AddressScope::Host } else { AddressScope::Universe };
    if addr.is_ipv6() {
        // A VIP on lo must be usable at once: no duplicate address detection.
        m.header.flags = AddressHeaderFlags::Nodad;
    }
    m.attributes.push(AddressAttribute::Local(addr));
    m.attributes.push(AddressAttribute::Address(addr));
    m
}

/// Adds `addr/prefix_len` to interface `index`; `AlreadyExists` if it is there.
pub fn add_address(index: u32, addr: IpAddr, prefix_len: u8) -> io::Result<()> {
    let msg = RouteNetlinkMessage::NewAddress(address_message(index, addr, prefix_len));
    request(msg, NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL).map(drop)
}

/// Adds `addr/prefix_len` to interface `index` with the address label `label` (as
/// `ip addr add ... label eth0:1`); `AlreadyExists` if it is there.
pub fn add_labeled_address(index: u32, addr: IpAddr, prefix_len: u8, label: &str) -> io::Result<()> {
    let mut m = address_message(index, addr, prefix_len);
    m.attributes.push(AddressAttribute::Label(label.to_string()));
    request(RouteNetlinkMessage::NewAddress(m), NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL).map(drop)
}

/// Removes `addr/prefix_len` from interface `index`.
pub fn del_address(index: u32, addr: IpAddr, prefix_len: u8) -> io::Result<()> {
    let msg = RouteNetlinkMessage::DelAddress(address_message(index, addr, prefix_len));
    request(msg, NLM_F_REQUEST | NLM_F_ACK).map(drop)
}

/// Sends one request and collects the replies until the ack, the error or the end of the
/// dump.
fn request(msg: RouteNetlinkMessage, flags: u16) -> io::Result<Vec<RouteNetlinkMessage>> {
    let mut socket = Socket::new(NETLINK_ROUTE)?;
    socket.bind_auto()?;
    socket.connect(&SocketAddr::new(0, 0))?;
    let mut header = NetlinkHeader::default();
    header.flags = flags;
    header.sequence_number = 1;
    let mut req = NetlinkMessage::new(header, NetlinkPayload::from(msg));
    req.finalize();
    let mut buf = vec![0; req.buffer_len()];
    req.serialize(&mut buf);
    socket.send(&buf, 0)?;

    let dump = flags & NLM_F_DUMP == NLM_F_DUMP;
    let mut out = Vec::new();
    loop {
        let (bytes, _) = socket.recv_from_full()?;
        let mut offset = 0;
        while offset < bytes.len() {
            let reply = NetlinkMessage::<RouteNetlinkMessage>::deserialize(&bytes[offset..])
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, format!("netlink: {e}")))?;
            let len = reply.header.length as usize;
            match reply.payload {
                NetlinkPayload::Done(_) => return Ok(out),
                NetlinkPayload::Error(e) => {
                    return match e.code {
                        None => Ok(out),
                        Some(code) => Err(io::Error::from_raw_os_error(-code.get())),
                    }
                }
                NetlinkPayload::InnerMessage(m) => out.push(m),
                _ => {}
            }
            if !dump && flags & NLM_F_ACK == 0 {
                return Ok(out);
            }
            if len == 0 {
                break;
            }
            offset += (len + 3) & !3;
        }
    }
}

/// The IPv4 sysctl `net.ipv4.conf.<dev>.<key>` as a path under /proc/sys.
pub fn ipv4_conf(dev: &str, key: &str) -> PathBuf {
    Path::new("/proc/sys/net/ipv4/conf").join(dev).join(key)
}

/// Reads a sysctl file, trimmed.
pub fn read_sysctl(path: &Path) -> io::Result<String> {
    std::fs::read_to_string(path)
        .map(|s| s.trim().to_string())
        .map_err(|e| io::Error::new(e.kind(), format!("read {}: {e}", path.display())))
}

/// Writes a sysctl file.
pub fn write_sysctl(path: &Path, value: &str) -> io::Result<()> {
    std::fs::write(path, value)
        .map_err(|e| io::Error::new(e.kind(), format!("write {} = {value}: {e}", path.display())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_is_listed() {
        let lo = ifindex("lo").unwrap();
        let addrs = addresses_of(lo).unwrap();
        assert!(addrs.iter().any(|a| a.addr == IpAddr::from([127, 0, 0, 1])), "{addrs:?}");
    }
}
