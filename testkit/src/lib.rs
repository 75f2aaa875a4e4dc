//! xvs-testkit: the bottom layer of xvs's test support, used by the tests of every crate
//! (proto, sched, engine, the replay tests).
//!
//! What it owns:
//! - [`checksum`]: the one independent checksum verifier (RFC 1071 written here from
//!   scratch, with its own header walk), so that it can judge xvs-proto's incremental
//!   updates and the engine's rewrites;
//! - [`alloc`]: the one counting global allocator of the "hot path does not allocate" tests;
//! - small pure helpers: address parsing ([`ip`], [`sa`]), a frame's MACs ([`macs`]) and a
//!   hex dump ([`hex`]).
//!
//! Must not: depend on any xvs crate (not even xvs-proto: the verifier would then share code
//! with what it checks), or know the engine; the engine harness sits above the engine, in
//! `engine/tests/common`.
//!
//! `unsafe` is denied except in [`alloc`], whose `GlobalAlloc` impl is the named test-only
//! exemption of the workspace's unsafe policy.

#![deny(unsafe_code)]

pub mod alloc;
pub mod checksum;
pub mod tshark;

pub use alloc::{count_allocs, CountingAlloc};
pub use checksum::{verify_checksums, verify_ip};

use std::net::{IpAddr, SocketAddr};

/// An IP address from its text form (panics on a typo in a test).
pub fn ip(s: &str) -> IpAddr {
    s.parse().unwrap_or_else(|e| panic!("{s:?}: {e}"))
}

/// A socket address from its text form (`10.0.0.1:80`, `[2001:db8::1]:80`).
pub fn sa(s: &str) -> SocketAddr {
    s.parse().unwrap_or_else(|e| panic!("{s:?}: {e}"))
}

/// Destination and source MACs of an Ethernet frame.
pub fn macs(frame: &[u8]) -> ([u8; 6], [u8; 6]) {
    let mut d = [0u8; 6];
    let mut s = [0u8; 6];
    d.copy_from_slice(&frame[0..6]);
    s.copy_from_slice(&frame[6..12]);
    (d, s)
}

/// Bytes as hex, 16 to a line (readable in an `assert_eq!` diff of two frames).
pub fn hex(b: &[u8]) -> String {
    b.chunks(16)
        .map(|c| c.iter().map(|x| format!("{x:02x}")).collect::<Vec<_>>().join(" "))
        .collect::<Vec<_>>()
        .join("\n")
}
