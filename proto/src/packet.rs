//! The classification result: what the engine needs to know about one frame.
//!
//! Invariant: every offset in a [`Packet`] was bounds-checked by [`crate::classify`]
//! against the frame it came from, so rewrites that take the same frame and the same
//! `Packet` may index without further checks (they still never panic on a frame that
//! was changed behind their back: they re-check and return an error).

use std::net::IpAddr;

/// An Ethernet MAC address.
pub type Mac = [u8; 6];

/// IP protocol numbers xvs handles.
pub const PROTO_ICMP: u8 = 1;
pub const PROTO_TCP: u8 = 6;
pub const PROTO_UDP: u8 = 17;
pub const PROTO_ICMPV6: u8 = 58;
pub const PROTO_IPIP: u8 = 4;
pub const PROTO_IPV6: u8 = 41;
pub const PROTO_SCTP: u8 = 132;

/// SCTP chunk types the connection state follows (RFC 9260 section 3.2).
pub mod sctp_chunk {
    pub const DATA: u8 = 0;
    pub const INIT: u8 = 1;
    pub const INIT_ACK: u8 = 2;
    pub const ABORT: u8 = 6;
    pub const SHUTDOWN: u8 = 7;
    pub const SHUTDOWN_ACK: u8 = 8;
    pub const ERROR: u8 = 9;
    pub const COOKIE_ECHO: u8 = 10;
    pub const COOKIE_ACK: u8 = 11;
    pub const SHUTDOWN_COMPLETE: u8 = 14;
}

/// TCP flag bits as they sit in the 13th byte of the TCP header.
pub mod tcp_flags {
    pub const FIN: u8 = 0x01;
    pub const SYN: u8 = 0x02;
    pub const RST: u8 = 0x04;
    pub const PSH: u8 = 0x08;
    pub const ACK: u8 = 0x10;
}

/// IPv4 fragment information (IPv6 fragments carry the same in a Fragment extension header).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Frag {
    /// Identification (IPv4: 16 bits, IPv6: 32 bits).
    pub id: u32,
    /// Fragment offset in bytes.
    pub offset: u16,
    /// More-fragments flag.
    pub more: bool,
}

impl Frag {
    /// The first fragment carries the transport header (ports); later ones do not.
    pub fn is_first(&self) -> bool {
        self.offset == 0
    }
}

/// The header an ICMP error quotes: the original packet's addresses and ports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Quoted {
    /// Offset of the quoted IP header in the frame.
    pub l3: u16,
    /// Offset of the quoted transport header (its first 8 bytes at least are present).
    pub l4: u16,
    pub src: IpAddr,
    pub dst: IpAddr,
    /// Protocol of the quoted packet (TCP or UDP for anything xvs forwards).
    pub proto: u8,
    pub sport: u16,
    pub dport: u16,
}

/// ICMP / ICMPv6 details.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Icmp {
    pub kind: u8,
    pub code: u8,
    /// Present for error messages (v4: dest unreachable 3, source quench 4, time exceeded 11,
    /// parameter problem 12; v6: types 1..=4) whose quoted header parsed.
    pub quoted: Option<Quoted>,
}

/// A classified frame. Offsets are from the start of the frame (the Ethernet header).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Packet {
    /// Offset of the IP header (14, or 18 with one 802.1Q tag, 22 with two).
    pub l3: u16,
    /// Offset of the transport header (after IPv4 options / IPv6 extension headers).
    /// For a non-first fragment this is where the payload starts.
    pub l4: u16,
    /// Outermost VLAN id, if the frame was tagged.
    pub vlan: Option<u16>,
    /// Source and destination addresses (same family).
    pub src: IpAddr,
    pub dst: IpAddr,
    /// Upper-layer protocol (after extension headers).
    pub proto: u8,
    /// TTL / hop limit.
    pub ttl: u8,
    /// Length of the IP packet from `l3` as its header says (may be less than the frame:
    /// Ethernet padding is not part of it).
    pub ip_len: u16,
    /// IPv4 DF bit (always true for IPv6, which routers never fragment).
    pub df: bool,
    /// Fragment information when the packet is a fragment.
    pub frag: Option<Frag>,
    /// Transport ports; 0 when the packet has none (ICMP, non-first fragment).
    pub sport: u16,
    pub dport: u16,
    /// TCP flags byte; for SCTP the type of the chunk that decides the association's
    /// state (the first, or an ABORT bundled after a first COOKIE ECHO / COOKIE ACK, as
    /// IPVS reads it); 0 for anything else.
    pub tcp_flags: u8,
    /// ICMP details when `proto` is ICMP or ICMPv6.
    pub icmp: Option<Icmp>,
}

impl Packet {
    pub fn is_v6(&self) -> bool {
        self.src.is_ipv6()
    }
    /// Offset just past the IP packet (`l3 + ip_len`): where Ethernet padding, if any,
    /// starts.
    pub fn ip_end(&self) -> usize {
        self.l3 as usize + self.ip_len as usize
    }
}

/// Why a frame could not be classified. Each is a counted drop reason in the engine,
/// except [`ClassifyError::NotIp`], which goes to the kernel (ARP, LLDP, ...).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ClassifyError {
    /// Not IPv4/IPv6 (ARP and friends): the kernel's business.
    NotIp,
    /// The frame ends before a header it announces.
    Truncated,
    /// An IP header that does not parse (bad version, IHL, total length, ...).
    BadIp,
    /// A TCP/UDP/ICMP header that does not parse.
    BadL4,
    /// An IPv6 extension header chain xvs does not walk (too long, unknown).
    BadExtHeaders,
}

impl ClassifyError {
    /// Stable snake_case name, used as the drop-reason label.
    pub fn name(&self) -> &'static str {
        match self {
            ClassifyError::NotIp => "not_ip",
            ClassifyError::Truncated => "truncated",
            ClassifyError::BadIp => "bad_ip_header",
            ClassifyError::BadL4 => "bad_l4_header",
            ClassifyError::BadExtHeaders => "bad_ext_headers",
        }
    }
}

/// Why a rewrite could not be done. The engine drops and counts these.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RewriteError {
    /// Not enough headroom in the buffer to prepend a header.
    NoHeadroom,
    /// The frame no longer matches the `Packet` (shorter than its offsets).
    Mismatch,
    /// Address families differ (an IPv4 packet toward an IPv6 real, or the reverse).
    FamilyMismatch,
}
