//! The sockets of network probes, opened as keepalived's checker options ask: from a
//! source address and port (`bindto`, `bind_port`), out of one interface (`bind_if`,
//! SO_BINDTODEVICE), with a mark (`fwmark`, SO_MARK), to `connect_ip` or the real.
//!
//! Invariant: a socket is bound and marked before it sends anything, so no probe packet
//! leaves without its options; an option the kernel refuses fails the probe with why.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpStream, UdpSocket};
use std::time::Duration;

use socket2::{Domain, Protocol, SockAddr, Socket, Type};

/// Where a probe comes from.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Source {
    pub addr: Option<IpAddr>,
    pub port: Option<u16>,
    pub device: String,
    pub mark: u32,
}

impl Source {
    pub fn of(c: &xvs_config::Connect) -> Source {
        Source { addr: c.bind, port: c.bind_port, device: c.bind_if.clone(), mark: c.fwmark }
    }

    /// Apply the options to `s`, about to reach `target`.
    fn apply(&self, s: &Socket, target: IpAddr) -> Result<(), String> {
        if self.mark != 0 {
            s.set_mark(self.mark).map_err(|e| format!("fwmark {}: {e}", self.mark))?;
        }
        if !self.device.is_empty() {
            s.bind_device(Some(self.device.as_bytes())).map_err(|e| format!("bind_if {}: {e}", self.device))?;
        }
        if self.addr.is_some() || self.port.is_some() {
            let any =
                if target.is_ipv4() { IpAddr::V4(Ipv4Addr::UNSPECIFIED) } else { IpAddr::V6(Ipv6Addr::UNSPECIFIED) };
            let from = SocketAddr::new(self.addr.unwrap_or(any), self.port.unwrap_or(0));
            // A fixed source port is reused probe after probe (TIME_WAIT would refuse it).
            let _ = s.set_reuse_address(true);
            s.bind(&from.into()).map_err(|e| format!("binding to {from}: {e}"))?;
        }
        Ok(())
    }

    fn socket(&self, target: IpAddr, ty: Type, proto: Protocol) -> Result<Socket, String> {
        let domain = if target.is_ipv4() { Domain::IPV4 } else { Domain::IPV6 };
        let s = Socket::new(domain, ty, Some(proto)).map_err(|e| format!("socket: {e}"))?;
        self.apply(&s, target)?;
        Ok(s)
    }

    /// A TCP connection to `target` within `timeout`.
    pub fn tcp(&self, target: SocketAddr, timeout: Duration) -> Result<TcpStream, String> {
        let s = self.socket(target.ip(), Type::STREAM, Protocol::TCP)?;
        s.connect_timeout(&target.into(), timeout).map_err(|e| format!("connect to {target}: {e}"))?;
        Ok(s.into())
    }

    /// A UDP socket connected to `target` (so ICMP errors come back as its errors), reads
    /// bounded by `timeout`.
    pub fn udp(&self, target: SocketAddr, timeout: Duration) -> Result<UdpSocket, String> {
        let s = self.socket(target.ip(), Type::DGRAM, Protocol::UDP)?;
        s.connect(&target.into()).map_err(|e| format!("connect to {target}: {e}"))?;
        s.set_read_timeout(Some(timeout)).map_err(|e| e.to_string())?;
        Ok(s.into())
    }

    /// A raw ICMP (ICMPv6) socket connected to `target`: the kernel then hands it only
    /// what `target` sends.
    pub fn icmp(&self, target: IpAddr, timeout: Duration) -> Result<Socket, String> {
        let proto = if target.is_ipv4() { Protocol::ICMPV4 } else { Protocol::ICMPV6 };
        let s = self.socket(target, Type::RAW, proto)?;
        s.connect(&SockAddr::from(SocketAddr::new(target, 0))).map_err(|e| format!("connect to {target}: {e}"))?;
        s.set_read_timeout(Some(timeout)).map_err(|e| e.to_string())?;
        Ok(s)
    }
}
