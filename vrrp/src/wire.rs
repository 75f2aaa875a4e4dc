//! The VRRP advertisement on the wire: VRRPv2 (RFC 3768) and VRRPv3 (RFC 5798 / 9568), the
//! message only (what follows the IP header), as keepalived 2.2.7 sends and reads it.
//!
//! ```text
//!  v2: | 2 | 1 | VRID | Priority | Count | AuthType | AdverInt (s) | Checksum | addrs... | auth data (8, IPv4 only) |
//!  v3: | 3 | 1 | VRID | Priority | Count | rsvd(4) MaxAdverInt (12 bits, cs) | Checksum | addrs... |
//! ```
//!
//! Invariants:
//! - [`decode`] and [`Header::parse`] never panic and never read past `msg`: every offset is
//!   checked, every failure is a [`Reject`].
//! - The address family of a message is its source address's; the message's addresses are
//!   of that family (4 or 16 bytes each).
//! - The checksum is RFC 1071 over the whole message. Over IPv4, VRRPv2 sums the message
//!   alone (auth data included); VRRPv3 adds the IPv4 pseudo-header. Over IPv6 both versions
//!   add the IPv6 pseudo-header, as the kernel does for keepalived's raw socket
//!   (`IPV6_CHECKSUM`); keepalived sends VRRPv2 over IPv6 only outside `vrrp_strict`, and
//!   with no auth data.
//! - [`Advert::encode`] always fills the checksum; the `checksum` field is what [`decode`]
//!   read, and is ignored by `encode`.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::config::Version;
use crate::stats::Reject;

/// IP protocol number of VRRP.
pub const IPPROTO_VRRP: u8 = 112;
/// The IPv4 multicast group of VRRP (224.0.0.18).
pub const MCAST_V4: Ipv4Addr = Ipv4Addr::new(224, 0, 0, 18);
/// The IPv6 multicast group of VRRP (ff02::12).
pub const MCAST_V6: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 0x12);
/// The TTL / hop limit VRRP packets are sent with and, over multicast, must arrive with.
pub const TTL: u8 = 255;
/// Length of the fixed header.
pub const HEADER_LEN: usize = 8;
/// Length of VRRPv2's authentication data (IPv4 only).
pub const AUTH_LEN: usize = 8;
/// Packet type of an advertisement (the only one defined).
pub const TYPE_ADVERT: u8 = 1;
/// VRRPv2 auth type: none.
pub const AUTH_NONE: u8 = 0;
/// VRRPv2 auth type: simple text password (RFC 2338), still spoken by keepalived.
pub const AUTH_PASS: u8 = 1;
/// VRRPv2 auth type: IPsec AH (RFC 2338); keepalived sends it as IP protocol 51, never here.
pub const AUTH_AH: u8 = 2;

/// The VRRP multicast group of `family_of`'s family.
pub fn mcast_group(family_of: IpAddr) -> IpAddr {
    match family_of {
        IpAddr::V4(_) => IpAddr::V4(MCAST_V4),
        IpAddr::V6(_) => IpAddr::V6(MCAST_V6),
    }
}

/// The fixed 8-byte header, as read: nothing checked but its length.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    /// The version nibble (2 and 3 are defined).
    pub version: u8,
    /// The type nibble ([`TYPE_ADVERT`]).
    pub kind: u8,
    pub vrid: u8,
    pub priority: u8,
    /// Count of addresses.
    pub count: u8,
    /// v2: the auth type byte; v3: the 4 reserved bits.
    pub auth_type: u8,
    /// v2: Adver Int in seconds (8 bits); v3: Max Adver Int in centiseconds (12 bits).
    pub adver_int: u16,
    pub checksum: u16,
}

impl Header {
    /// The header at the start of `msg`; [`Reject::Truncated`] if `msg` is shorter.
    pub fn parse(msg: &[u8]) -> Result<Header, Reject> {
        let h = msg.get(..HEADER_LEN).ok_or(Reject::Truncated)?;
        let version = h[0] >> 4;
        let (auth_type, adver_int) =
            if version == 3 { (h[4] >> 4, u16::from_be_bytes([h[4] & 0x0f, h[5]])) } else { (h[4], u16::from(h[5])) };
        Ok(Header {
            version,
            kind: h[0] & 0x0f,
            vrid: h[1],
            priority: h[2],
            count: h[3],
            auth_type,
            adver_int,
            checksum: u16::from_be_bytes([h[6], h[7]]),
        })
    }

    /// The advertised interval in centiseconds (v2's seconds × 100).
    pub fn interval_cs(&self) -> u32 {
        if self.version == 3 {
            u32::from(self.adver_int)
        } else {
            u32::from(self.adver_int) * 100
        }
    }
}

/// The length a message of version nibble `version` with `count` addresses must have
/// (keepalived's rule: auth data only for version 2 over IPv4).
pub fn message_len(version: u8, count: u8, v6: bool) -> usize {
    let addr = if v6 { 16 } else { 4 };
    let auth = if !v6 && version == 2 { AUTH_LEN } else { 0 };
    HEADER_LEN + usize::from(count) * addr + auth
}

/// A decoded advertisement.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Advert {
    pub version: Version,
    pub vrid: u8,
    pub priority: u8,
    /// v2: the auth type (0 none, 1 PASS, 2 AH); v3: the reserved bits (0 when sent).
    pub auth_type: u8,
    /// In the version's wire unit: v2 seconds (≤ 255), v3 centiseconds (≤ 4095).
    pub adver_int: u16,
    pub addresses: Vec<IpAddr>,
    /// v2 over IPv4: the 8 bytes of authentication data; all zero otherwise.
    pub auth_data: [u8; AUTH_LEN],
    /// As read by [`decode`]; [`Advert::encode`] computes its own.
    pub checksum: u16,
}

impl Advert {
    /// The advertised interval in centiseconds.
    pub fn interval_cs(&self) -> u32 {
        match self.version {
            Version::V2 => u32::from(self.adver_int) * 100,
            Version::V3 => u32::from(self.adver_int),
        }
    }

    /// The message for the IP packet `src` → `dst`, checksum filled. The addresses must be
    /// of `src`'s family and at most 255 (extra ones are not written: the count is 8 bits);
    /// v2's interval is truncated to 8 bits, v3's to 12.
    pub fn encode(&self, src: IpAddr, dst: IpAddr) -> Vec<u8> {
        let v6 = src.is_ipv6();
        let addrs: Vec<&IpAddr> = self.addresses.iter().filter(|a| a.is_ipv6() == v6).take(255).collect();
        let count = addrs.len() as u8;
        let mut m = Vec::with_capacity(message_len(2, count, v6));
        let (version, b4, b5) = match self.version {
            Version::V2 => (2u8, self.auth_type, self.adver_int as u8),
            Version::V3 => {
                let int = self.adver_int & 0x0fff;
                (3u8, (self.auth_type << 4) | (int >> 8) as u8, int as u8)
            }
        };
        m.extend_from_slice(&[(version << 4) | TYPE_ADVERT, self.vrid, self.priority, count, b4, b5, 0, 0]);
        for a in addrs {
            match a {
                IpAddr::V4(a) => m.extend_from_slice(&a.octets()),
                IpAddr::V6(a) => m.extend_from_slice(&a.octets()),
            }
        }
        if !v6 && version == 2 {
            m.extend_from_slice(&self.auth_data);
        }
        let c = checksum(&m, version, src, dst);
        m[6..8].copy_from_slice(&c.to_be_bytes());
        m
    }
}

/// Decodes the message of the IP packet `src` → `dst`, checking everything that needs no
/// configuration: header length, version (2 or 3), type, length against the count (exactly,
/// as keepalived does), the address family and the checksum.
pub fn decode(msg: &[u8], src: IpAddr, dst: IpAddr) -> Result<Advert, Reject> {
    let h = Header::parse(msg)?;
    let version = match h.version {
        2 => Version::V2,
        3 => Version::V3,
        _ => return Err(Reject::BadVersion),
    };
    if h.kind != TYPE_ADVERT {
        return Err(Reject::BadType);
    }
    if src.is_ipv6() != dst.is_ipv6() {
        return Err(Reject::WrongFamily);
    }
    check_len(msg, &h, src.is_ipv6())?;
    if !checksum_ok(msg, src, dst) {
        return Err(Reject::BadChecksum);
    }
    let mut auth_data = [0u8; AUTH_LEN];
    if !src.is_ipv6() && h.version == 2 {
        auth_data.copy_from_slice(&msg[msg.len() - AUTH_LEN..]);
    }
    Ok(Advert {
        version,
        vrid: h.vrid,
        priority: h.priority,
        auth_type: h.auth_type,
        adver_int: h.adver_int,
        addresses: addresses(msg, h.count, src.is_ipv6()),
        auth_data,
        checksum: h.checksum,
    })
}

/// [`Reject::Truncated`] if `msg` is shorter than its header's count says, and
/// [`Reject::BadLength`] if longer.
pub fn check_len(msg: &[u8], h: &Header, v6: bool) -> Result<(), Reject> {
    let want = message_len(h.version, h.count, v6);
    match msg.len().cmp(&want) {
        std::cmp::Ordering::Less => Err(Reject::Truncated),
        std::cmp::Ordering::Greater => Err(Reject::BadLength),
        std::cmp::Ordering::Equal => Ok(()),
    }
}

/// The `count` addresses after the header (as many as `msg` holds).
pub fn addresses(msg: &[u8], count: u8, v6: bool) -> Vec<IpAddr> {
    let body = msg.get(HEADER_LEN..).unwrap_or(&[]);
    if v6 {
        body.chunks_exact(16)
            .take(usize::from(count))
            .map(|c| IpAddr::V6(Ipv6Addr::from(<[u8; 16]>::try_from(c).unwrap_or([0; 16]))))
            .collect()
    } else {
        body.chunks_exact(4)
            .take(usize::from(count))
            .map(|c| IpAddr::V4(Ipv4Addr::new(c[0], c[1], c[2], c[3])))
            .collect()
    }
}

/// Whether `msg`'s checksum is right for the packet `src` → `dst` (the rule in the module
/// doc, chosen by the message's version nibble).
pub fn checksum_ok(msg: &[u8], src: IpAddr, dst: IpAddr) -> bool {
    let version = msg.first().map_or(0, |b| b >> 4);
    let mut sum = sum16(msg);
    if uses_pseudo(version, src) {
        sum += pseudo_sum(src, dst, msg.len());
    }
    fold(sum) == 0xffff
}

/// The checksum to store in a message of `version` for `src` → `dst`, computed with the
/// message's checksum field taken as zero.
pub fn checksum(msg: &[u8], version: u8, src: IpAddr, dst: IpAddr) -> u16 {
    let field = msg.get(6..8).map_or(0, sum16);
    let mut sum = sum16(msg).wrapping_sub(field);
    if uses_pseudo(version, src) {
        sum += pseudo_sum(src, dst, msg.len());
    }
    !fold(sum)
}

fn uses_pseudo(version: u8, src: IpAddr) -> bool {
    src.is_ipv6() || version == 3
}

/// Sum of the pseudo-header (IPv4: RFC 768 layout; IPv6: RFC 8200 §8.1).
fn pseudo_sum(src: IpAddr, dst: IpAddr, len: usize) -> u32 {
    let addrs = match (src, dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => sum16(&s.octets()) + sum16(&d.octets()),
        (IpAddr::V6(s), IpAddr::V6(d)) => sum16(&s.octets()) + sum16(&d.octets()),
        // Mixed families are refused before any checksum; sum what there is.
        (s, d) => sum16(&octets(s)) + sum16(&octets(d)),
    };
    let len = len as u32;
    addrs + u32::from(IPPROTO_VRRP) + (len & 0xffff) + (len >> 16)
}

fn octets(a: IpAddr) -> Vec<u8> {
    match a {
        IpAddr::V4(a) => a.octets().to_vec(),
        IpAddr::V6(a) => a.octets().to_vec(),
    }
}

/// RFC 1071 sum of 16-bit big-endian words, unfolded (an odd last byte is padded).
fn sum16(data: &[u8]) -> u32 {
    data.chunks(2).map(|c| u32::from(c[0]) << 8 | u32::from(c.get(1).copied().unwrap_or(0))).sum()
}

fn fold(mut s: u32) -> u16 {
    while s > 0xffff {
        s = (s & 0xffff) + (s >> 16);
    }
    s as u16
}
