//! PING_CHECK: one ICMP (ICMPv6) echo request; up when the echo reply with its id and
//! sequence comes back from the real within the timeout. keepalived opens an unprivileged
//! ping socket (changing `ping_group_range` for it); xvs runs as root and uses a raw
//! socket instead, connected to the real so the kernel hands it only the real's packets.
//!
//! Invariant: bounded by the timeout however many unrelated ICMP packets arrive.

use std::io::Read;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use super::socket::Source;

/// The echo reply of `target` to one request, or why none came.
pub fn probe(target: IpAddr, src: &Source, timeout: Duration) -> Result<String, String> {
    let deadline = Instant::now() + timeout;
    let mut s = src.icmp(target, timeout)?;
    let id: u16 = getrandom::u32().map_or(0x7873, |r| r as u16);
    let seq: u16 = 1;
    let v4 = target.is_ipv4();
    let mut req = vec![if v4 { 8 } else { 128 }, 0, 0, 0];
    req.extend_from_slice(&id.to_be_bytes());
    req.extend_from_slice(&seq.to_be_bytes());
    req.extend_from_slice(b"xvs PING_CHECK\0\0");
    if v4 {
        // ICMPv6's checksum is the kernel's (it needs the pseudo-header); ICMP's is ours.
        let sum = checksum(&req);
        req[2..4].copy_from_slice(&sum.to_be_bytes());
    }
    let sent = Instant::now();
    s.send(&req).map_err(|e| format!("echo request to {target}: {e}"))?;
    let mut buf = [0u8; 1500];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(format!("no echo reply from {target} within {timeout:?}"));
        }
        s.set_read_timeout(Some(left)).map_err(|e| e.to_string())?;
        let n = match s.read(&mut buf) {
            Ok(n) => n,
            Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {
                return Err(format!("no echo reply from {target} within {timeout:?}"))
            }
            Err(e) => return Err(format!("{target}: {e}")),
        };
        // A raw IPv4 socket reads the IP header too; ICMPv6 starts at the message.
        let icmp = if v4 {
            let ihl = usize::from(buf[0] & 0x0f) * 4;
            buf.get(ihl..n).unwrap_or_default()
        } else {
            buf.get(..n).unwrap_or_default()
        };
        let reply_type = if v4 { 0 } else { 129 };
        if icmp.len() >= 8 && icmp[0] == reply_type && icmp[4..6] == id.to_be_bytes() && icmp[6..8] == seq.to_be_bytes()
        {
            return Ok(format!("echo reply from {target} in {:?}", sent.elapsed()));
        }
    }
}

/// RFC 1071 checksum of `data`.
fn checksum(data: &[u8]) -> u16 {
    let mut sum: u32 = data.chunks(2).map(|c| u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)]))).sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Needs root (a raw socket), as `xvs run` does.
    #[test]
    fn loopback_answers() {
        let r = probe("127.0.0.1".parse().unwrap(), &Source::default(), Duration::from_secs(2));
        assert!(r.is_ok(), "{r:?}");
        let r = probe("::1".parse().unwrap(), &Source::default(), Duration::from_secs(2));
        assert!(r.is_ok(), "{r:?}");
    }
}
