//! xvs wire formats: frame classification, in-place NAT/DR/TUN rewrites with incremental
//! checksums (RFC 1624), director-generated ICMP errors, IPVS's connection-sync messages
//! ([`ipvs_sync`]), and frame builders for tests.
//!
//! Crate-wide invariants:
//! - No function outside [`build`] allocates; the hot path ([`classify`], the rewrites)
//!   works on borrowed `&[u8]` / `&mut [u8]` frames.
//! - No function panics on any input (outside [`build`], whose builders panic on
//!   contradictory test input): every offset is checked, failures are returned as
//!   [`ClassifyError`] / [`RewriteError`].
//! - A frame always starts at its Ethernet header; every offset in a [`Packet`] is from
//!   there. A rewrite takes the frame and the [`Packet`] [`classify`] returned for it.
//! - Checksums are never verified; rewrites update them incrementally, so a bad one
//!   stays bad. Freshly built headers (tunnel, ICMP errors) get full checksums.
//! - DR needs nothing here but [`set_macs`]: the IP packet is left byte for byte.
//! - No `unsafe` code (`forbid`): wire formats are parsed and rewritten through checked
//!   slices only.

#![forbid(unsafe_code)]

pub mod build;
pub mod checksum;
mod classify;
pub mod fast;
pub mod headroom;
mod icmp;
pub mod ipvs_sync;
mod nat_icmp;
mod packet;
mod rewrite;
mod tunnel;

pub use checksum::{
    csum_replace16, csum_replace2, csum_replace4, icmp_checksum, ipv4_header_checksum, l4_checksum_v4, l4_checksum_v6,
    CsumDiff,
};
pub use classify::{
    classify, ETH_HLEN, ETH_P_8021AD, ETH_P_8021Q, ETH_P_IPV4, ETH_P_IPV6, ETH_P_QINQ, MAX_EXT_HEADERS,
};
pub use icmp::{icmp_too_big, ICMP_TTL, ICMP_V4_MAX, ICMP_V6_MAX};
pub use nat_icmp::nat_icmp;
pub use packet::{
    sctp_chunk, tcp_flags, ClassifyError, Frag, Icmp, Mac, Packet, Quoted, RewriteError, PROTO_ICMP, PROTO_ICMPV6,
    PROTO_IPIP, PROTO_IPV6, PROTO_SCTP, PROTO_TCP, PROTO_UDP,
};
pub use rewrite::{decrement_ttl, nat_reply, nat_request, set_macs};
pub use tunnel::{
    gue_source_port, tun_encap, Encap, GUE_OVERHEAD, PROTO_GRE, TUN_TTL, TUN_V4_OVERHEAD, TUN_V6_OVERHEAD,
};
