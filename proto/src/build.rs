//! Frame builders for tests, replay fixtures and benchmarks (allocation allowed here and
//! nowhere else in the crate).
//!
//! Invariants:
//! - Every frame built is valid: lengths and every checksum (IPv4 header, TCP, UDP, ICMP,
//!   ICMPv6) are correct, unless a setter asks otherwise ([`Frame::zero_udp_checksum`]).
//! - Builders panic on contradictory input (mixed address families, more than two VLAN
//!   tags, oversized packets): they are for tests, where that is a bug in the test.
//!
//! ```
//! use xvs_proto::build::{self, Frame};
//! use xvs_proto::tcp_flags::SYN;
//! let a = "10.0.0.1:40000".parse().unwrap();
//! let b = "10.0.1.100:80".parse().unwrap();
//! let syn = build::tcp(a, b, SYN, b"");
//! let tagged = Frame::tcp(a, b, SYN).vlan(7).ttl(3).payload(b"hi").build();
//! assert_eq!(xvs_proto::classify(&tagged).unwrap().vlan, Some(7));
//! # let _ = syn;
//! ```

use std::net::{IpAddr, SocketAddr};

use crate::checksum::{icmp_checksum, ipv4_header_checksum, l4_checksum_v4, l4_checksum_v6};
use crate::classify::{ETH_P_8021AD, ETH_P_8021Q, ETH_P_IPV4, ETH_P_IPV6};
use crate::packet::{Mac, PROTO_ICMP, PROTO_ICMPV6, PROTO_TCP, PROTO_UDP};

/// Default source MAC of built frames.
pub const SRC_MAC: Mac = [0x02, 0, 0, 0, 0, 0x01];
/// Default destination MAC of built frames.
pub const DST_MAC: Mac = [0x02, 0, 0, 0, 0, 0xfe];

/// The transport layer of a built frame.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum L4 {
    /// TCP with a 20-byte header (window 65535).
    Tcp {
        sport: u16,
        dport: u16,
        flags: u8,
        seq: u32,
        ack: u32,
    },
    Udp {
        sport: u16,
        dport: u16,
    },
    /// ICMP (IPv4) or ICMPv6 (IPv6): type, code and the 4 bytes after the checksum.
    Icmp {
        kind: u8,
        code: u8,
        rest: [u8; 4],
    },
    /// Any protocol: the payload is the whole transport segment, written as is.
    Raw {
        proto: u8,
    },
}

/// An IPv6 extension header. Option bodies are padded with zeros to a multiple of 8 bytes
/// (counting the 2 bytes of next header and length).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Ext {
    HopByHop(Vec<u8>),
    Routing(Vec<u8>),
    DestOpts(Vec<u8>),
    /// Fragment header: `offset` in bytes (a multiple of 8), more-fragments flag, id.
    Fragment {
        offset: u16,
        more: bool,
        id: u32,
    },
}

impl Ext {
    fn number(&self) -> u8 {
        match self {
            Ext::HopByHop(_) => 0,
            Ext::Routing(_) => 43,
            Ext::DestOpts(_) => 60,
            Ext::Fragment { .. } => 44,
        }
    }

    fn write(&self, next: u8, out: &mut Vec<u8>) {
        match self {
            Ext::HopByHop(b) | Ext::Routing(b) | Ext::DestOpts(b) => {
                let len = (b.len() + 2).div_ceil(8).max(1) * 8;
                out.push(next);
                out.push((len / 8 - 1) as u8);
                out.extend_from_slice(b);
                out.resize(out.len() + len - 2 - b.len(), 0);
            }
            Ext::Fragment { offset, more, id } => {
                out.push(next);
                out.push(0);
                out.extend_from_slice(&((offset & 0xfff8) | u16::from(*more)).to_be_bytes());
                out.extend_from_slice(&id.to_be_bytes());
            }
        }
    }
}

/// A frame to build. Start from [`Frame::tcp`], [`Frame::udp`], [`Frame::icmp`] or
/// [`Frame::raw`], chain setters, finish with [`Frame::build`]. Fields are public for
/// anything the setters do not cover.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Frame {
    pub dst_mac: Mac,
    pub src_mac: Mac,
    /// VLAN ids, outermost first (0, 1 or 2). Two tags: outer TPID 0x88a8, inner 0x8100.
    pub vlans: Vec<u16>,
    pub src: IpAddr,
    pub dst: IpAddr,
    /// TTL / hop limit (default 64).
    pub ttl: u8,
    /// IPv4 TOS / IPv6 traffic class.
    pub tos: u8,
    /// IPv6 flow label (20 bits).
    pub flow_label: u32,
    /// IPv4 don't-fragment flag (default false).
    pub df: bool,
    /// IPv4 identification (default 0).
    pub id: u16,
    /// IPv4 fragment offset in bytes (multiple of 8) and more-fragments flag.
    pub frag_offset: u16,
    pub more_fragments: bool,
    /// IPv4 options, padded with zeros (end of options) to a multiple of 4.
    pub ipv4_options: Vec<u8>,
    /// IPv6 extension headers, in order.
    pub ipv6_exts: Vec<Ext>,
    pub l4: L4,
    pub payload: Vec<u8>,
    /// Write a UDP checksum of 0 ("none"; IPv4 only is legal, not enforced).
    pub zero_udp_checksum: bool,
    /// Pad the frame with zero bytes to at least this length (Ethernet padding).
    pub min_len: usize,
}

fn sock_pair(src: SocketAddr, dst: SocketAddr) -> (IpAddr, IpAddr) {
    (src.ip(), dst.ip())
}

/// [`Frame`] builder methods that set the field of their name to their argument.
macro_rules! set_fields {
    ($($(#[$doc:meta])* $field:ident: $ty:ty,)*) => {
        $(
            $(#[$doc])*
            pub fn $field(mut self, $field: $ty) -> Frame {
                self.$field = $field;
                self
            }
        )*
    };
}

impl Frame {
    /// A frame from `src` to `dst` with transport `l4`, other fields at their defaults.
    pub fn new(src: IpAddr, dst: IpAddr, l4: L4) -> Frame {
        Frame {
            dst_mac: DST_MAC,
            src_mac: SRC_MAC,
            vlans: Vec::new(),
            src,
            dst,
            ttl: 64,
            tos: 0,
            flow_label: 0,
            df: false,
            id: 0,
            frag_offset: 0,
            more_fragments: false,
            ipv4_options: Vec::new(),
            ipv6_exts: Vec::new(),
            l4,
            payload: Vec::new(),
            zero_udp_checksum: false,
            min_len: 0,
        }
    }

    /// A TCP segment (seq 1, ack 0 unless set, window 65535).
    pub fn tcp(src: SocketAddr, dst: SocketAddr, flags: u8) -> Frame {
        let (s, d) = sock_pair(src, dst);
        Frame::new(s, d, L4::Tcp { sport: src.port(), dport: dst.port(), flags, seq: 1, ack: 0 })
    }

    /// A UDP datagram.
    pub fn udp(src: SocketAddr, dst: SocketAddr) -> Frame {
        let (s, d) = sock_pair(src, dst);
        Frame::new(s, d, L4::Udp { sport: src.port(), dport: dst.port() })
    }

    /// An ICMP (IPv4) / ICMPv6 (IPv6) message; set its body with [`Frame::payload`] and
    /// the 4 bytes after the checksum with [`Frame::rest`].
    pub fn icmp(src: IpAddr, dst: IpAddr, kind: u8, code: u8) -> Frame {
        Frame::new(src, dst, L4::Icmp { kind, code, rest: [0; 4] })
    }

    /// A packet of any protocol whose transport segment is the payload, as given.
    pub fn raw(src: IpAddr, dst: IpAddr, proto: u8) -> Frame {
        Frame::new(src, dst, L4::Raw { proto })
    }

    pub fn payload(mut self, payload: &[u8]) -> Frame {
        self.payload = payload.to_vec();
        self
    }

    /// Sets destination and source MACs.
    pub fn macs(mut self, dst: Mac, src: Mac) -> Frame {
        self.dst_mac = dst;
        self.src_mac = src;
        self
    }

    /// Adds a VLAN tag (call twice for QinQ; the first call is the outer tag).
    pub fn vlan(mut self, id: u16) -> Frame {
        self.vlans.push(id);
        self
    }

    set_fields! {
        ttl: u8,
        /// IPv4 TOS / IPv6 traffic class.
        tos: u8,
        df: bool,
        id: u16,
    }

    pub fn flow_label(mut self, label: u32) -> Frame {
        self.flow_label = label & 0xf_ffff;
        self
    }

    /// IPv4 fragment offset (bytes, multiple of 8) and more-fragments flag. The transport
    /// header is still written (and its checksum computed over this piece only) unless
    /// the L4 is [`L4::Raw`]: use [`fragments_v4`] for consistent fragments.
    pub fn fragment(mut self, offset: u16, more: bool) -> Frame {
        self.frag_offset = offset;
        self.more_fragments = more;
        self
    }

    pub fn ipv4_options(mut self, options: &[u8]) -> Frame {
        self.ipv4_options = options.to_vec();
        self
    }

    /// Appends an IPv6 extension header.
    pub fn ipv6_ext(mut self, ext: Ext) -> Frame {
        self.ipv6_exts.push(ext);
        self
    }

    pub fn zero_udp_checksum(mut self) -> Frame {
        self.zero_udp_checksum = true;
        self
    }

    /// TCP sequence and acknowledgment numbers.
    pub fn seq_ack(mut self, seq_no: u32, ack_no: u32) -> Frame {
        if let L4::Tcp { seq, ack, .. } = &mut self.l4 {
            *seq = seq_no;
            *ack = ack_no;
        }
        self
    }

    /// The 4 ICMP bytes after the checksum (id/seq, unused/MTU, pointer...).
    pub fn rest(mut self, bytes: [u8; 4]) -> Frame {
        if let L4::Icmp { rest, .. } = &mut self.l4 {
            *rest = bytes;
        }
        self
    }

    /// Pads the frame with zeros to at least `len` bytes (60 = Ethernet minimum).
    pub fn pad_to(mut self, len: usize) -> Frame {
        self.min_len = len;
        self
    }

    fn is_v6(&self) -> bool {
        assert_eq!(self.src.is_ipv6(), self.dst.is_ipv6(), "build::Frame: source and destination families differ");
        self.src.is_ipv6()
    }

    fn proto(&self) -> u8 {
        match self.l4 {
            L4::Tcp { .. } => PROTO_TCP,
            L4::Udp { .. } => PROTO_UDP,
            L4::Icmp { .. } if self.is_v6() => PROTO_ICMPV6,
            L4::Icmp { .. } => PROTO_ICMP,
            L4::Raw { proto } => proto,
        }
    }

    /// The transport segment (header + payload) with its checksum.
    pub fn segment(&self) -> Vec<u8> {
        let mut s = Vec::with_capacity(20 + self.payload.len());
        match self.l4 {
            L4::Tcp { sport, dport, flags, seq, ack } => {
                s.extend_from_slice(&sport.to_be_bytes());
                s.extend_from_slice(&dport.to_be_bytes());
                s.extend_from_slice(&seq.to_be_bytes());
                s.extend_from_slice(&ack.to_be_bytes());
                s.extend_from_slice(&[0x50, flags, 0xff, 0xff, 0, 0, 0, 0]);
            }
            L4::Udp { sport, dport } => {
                s.extend_from_slice(&sport.to_be_bytes());
                s.extend_from_slice(&dport.to_be_bytes());
                let len = u16::try_from(8 + self.payload.len()).expect("UDP datagram too long");
                s.extend_from_slice(&len.to_be_bytes());
                s.extend_from_slice(&[0, 0]);
            }
            L4::Icmp { kind, code, rest } => {
                s.extend_from_slice(&[kind, code, 0, 0]);
                s.extend_from_slice(&rest);
            }
            L4::Raw { .. } => {}
        }
        s.extend_from_slice(&self.payload);
        let proto = self.proto();
        let at = match (proto, &self.l4) {
            (_, L4::Raw { .. }) => return s,
            (PROTO_TCP, _) => 16,
            (PROTO_UDP, _) if self.zero_udp_checksum => return s,
            (PROTO_UDP, _) => 6,
            _ => 2,
        };
        let c = match (self.src, self.dst) {
            (IpAddr::V4(_), IpAddr::V4(_)) if proto == PROTO_ICMP => icmp_checksum(&s),
            (IpAddr::V4(a), IpAddr::V4(b)) => l4_checksum_v4(a, b, proto, &s),
            (IpAddr::V6(a), IpAddr::V6(b)) => l4_checksum_v6(a, b, proto, &s),
            _ => panic!("build::Frame: source and destination families differ"),
        };
        s[at..at + 2].copy_from_slice(&c.to_be_bytes());
        s
    }

    /// The L2 header (Ethernet + VLAN tags) for an IP packet of this frame's family.
    fn l2(&self) -> Vec<u8> {
        assert!(self.vlans.len() <= 2, "build::Frame: at most two VLAN tags");
        let mut f = Vec::with_capacity(22);
        f.extend_from_slice(&self.dst_mac);
        f.extend_from_slice(&self.src_mac);
        for (i, id) in self.vlans.iter().enumerate() {
            let tpid = if i == 0 && self.vlans.len() == 2 { ETH_P_8021AD } else { ETH_P_8021Q };
            f.extend_from_slice(&tpid.to_be_bytes());
            f.extend_from_slice(&(id & 0x0fff).to_be_bytes());
        }
        let et = if self.is_v6() { ETH_P_IPV6 } else { ETH_P_IPV4 };
        f.extend_from_slice(&et.to_be_bytes());
        f
    }

    /// The IP header (IPv4 with options / IPv6 with extension headers) for a transport
    /// segment of `seg_len` bytes.
    fn ip_header(&self, seg_len: usize) -> Vec<u8> {
        let proto = self.proto();
        let mut h = Vec::with_capacity(60);
        match (self.src, self.dst) {
            (IpAddr::V4(s), IpAddr::V4(d)) => {
                let mut opts = self.ipv4_options.clone();
                opts.resize(opts.len().div_ceil(4) * 4, 0);
                assert!(opts.len() <= 40, "build::Frame: IPv4 options over 40 bytes");
                let hl = 20 + opts.len();
                let total = u16::try_from(hl + seg_len).expect("IPv4 packet too long");
                let fo = (self.frag_offset >> 3)
                    | if self.df { 0x4000 } else { 0 }
                    | if self.more_fragments { 0x2000 } else { 0 };
                h.push(0x40 | (hl / 4) as u8);
                h.push(self.tos);
                h.extend_from_slice(&total.to_be_bytes());
                h.extend_from_slice(&self.id.to_be_bytes());
                h.extend_from_slice(&fo.to_be_bytes());
                h.extend_from_slice(&[self.ttl, proto, 0, 0]);
                h.extend_from_slice(&s.octets());
                h.extend_from_slice(&d.octets());
                h.extend_from_slice(&opts);
                let c = ipv4_header_checksum(&h);
                h[10..12].copy_from_slice(&c.to_be_bytes());
            }
            (IpAddr::V6(s), IpAddr::V6(d)) => {
                let mut exts = Vec::new();
                for (i, e) in self.ipv6_exts.iter().enumerate() {
                    let next = self.ipv6_exts.get(i + 1).map_or(proto, Ext::number);
                    e.write(next, &mut exts);
                }
                let first = self.ipv6_exts.first().map_or(proto, Ext::number);
                let plen = u16::try_from(exts.len() + seg_len).expect("IPv6 packet too long");
                let w0 = (6u32 << 28) | (u32::from(self.tos) << 20) | (self.flow_label & 0xf_ffff);
                h.extend_from_slice(&w0.to_be_bytes());
                h.extend_from_slice(&plen.to_be_bytes());
                h.extend_from_slice(&[first, self.ttl]);
                h.extend_from_slice(&s.octets());
                h.extend_from_slice(&d.octets());
                h.extend_from_slice(&exts);
            }
            _ => panic!("build::Frame: source and destination families differ"),
        }
        h
    }

    /// The IP packet alone (no L2 header).
    pub fn build_ip(&self) -> Vec<u8> {
        let seg = self.segment();
        let mut p = self.ip_header(seg.len());
        p.extend_from_slice(&seg);
        p
    }

    /// The whole Ethernet frame.
    pub fn build(&self) -> Vec<u8> {
        let mut f = self.l2();
        f.extend_from_slice(&self.build_ip());
        if f.len() < self.min_len {
            f.resize(self.min_len, 0);
        }
        f
    }
}

/// A TCP frame with default options (see [`Frame`]).
pub fn tcp(src: SocketAddr, dst: SocketAddr, flags: u8, payload: &[u8]) -> Vec<u8> {
    Frame::tcp(src, dst, flags).payload(payload).build()
}

/// A UDP frame with default options (see [`Frame`]).
pub fn udp(src: SocketAddr, dst: SocketAddr, payload: &[u8]) -> Vec<u8> {
    Frame::udp(src, dst).payload(payload).build()
}

/// Splits the IPv4 packet `frame` describes into fragments whose IP payload is at most
/// `chunk` bytes (rounded down to a multiple of 8, at least 8), as a router would: the
/// transport checksum covers the whole datagram, every fragment carries the same IP
/// header (options included) with its own offset, MF flag, length and checksum. One
/// fragment (offset 0, MF clear: not a fragment) when the payload fits.
pub fn fragments_v4(frame: &Frame, chunk: usize) -> Vec<Vec<u8>> {
    assert!(!frame.is_v6(), "fragments_v4 needs an IPv4 frame");
    let chunk = (chunk / 8).max(1) * 8;
    let seg = frame.segment();
    let mut out = Vec::new();
    let mut off = 0;
    loop {
        let end = (off + chunk).min(seg.len());
        let more = end < seg.len();
        let mut piece = frame.clone();
        piece.frag_offset = frame.frag_offset + off as u16;
        piece.more_fragments = more || frame.more_fragments;
        let mut f = piece.l2();
        f.extend_from_slice(&piece.ip_header(end - off));
        f.extend_from_slice(&seg[off..end]);
        if f.len() < frame.min_len {
            f.resize(frame.min_len, 0);
        }
        out.push(f);
        if !more {
            return out;
        }
        off = end;
    }
}

/// The IP packet inside an Ethernet frame (after any VLAN tags, without padding), or the
/// bytes after the Ethernet header when it does not classify.
pub fn ip_packet(frame: &[u8]) -> &[u8] {
    match crate::classify(frame) {
        Ok(p) => &frame[usize::from(p.l3)..p.ip_end()],
        Err(_) => frame.get(14..).unwrap_or(&[]),
    }
}

/// An ICMP (IPv4) / ICMPv6 (IPv6) error from `outer_src` to `outer_dst` of type `kind`
/// and code `code` quoting the IP packet of `quoted_frame`, truncated so that the error
/// is at most 576 (IPv4) / 1280 (IPv6) bytes. Returns the [`Frame`] so that MACs, VLAN,
/// TTL or the 4 bytes after the checksum ([`Frame::rest`], e.g. the MTU) can be set.
pub fn icmp_error_frame(outer_src: IpAddr, outer_dst: IpAddr, kind: u8, code: u8, quoted_frame: &[u8]) -> Frame {
    let q = ip_packet(quoted_frame);
    let max = if outer_src.is_ipv6() { 1280 - 48 } else { 576 - 28 };
    Frame::icmp(outer_src, outer_dst, kind, code).payload(&q[..q.len().min(max)])
}

/// [`icmp_error_frame`], built.
pub fn icmp_error(outer_src: IpAddr, outer_dst: IpAddr, kind: u8, code: u8, quoted_frame: &[u8]) -> Vec<u8> {
    icmp_error_frame(outer_src, outer_dst, kind, code, quoted_frame).build()
}
