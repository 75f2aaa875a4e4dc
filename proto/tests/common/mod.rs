//! Shared helpers of proto's integration tests: addresses, and [`verify`], which classifies
//! a frame and checks every checksum in it with xvs-testkit's independent verifier (its own
//! RFC 1071 sums, not this crate's checksum code).
#![allow(dead_code, unused_imports)]

use xvs_proto::{classify, Packet};
pub use xvs_testkit::{ip, sa};

/// Asserts that `frame` classifies and that every checksum in it equals a full
/// recomputation (the IPv4 header, the transport unless a fragment, and in ICMP errors the
/// quoted IPv4 header and, when the quote is whole, the quoted packet; a UDP/IPv4 checksum
/// of 0 is accepted). Returns the classification.
pub fn verify(frame: &[u8]) -> Packet {
    let p = classify(frame).expect("frame classifies");
    if let Err(e) = xvs_testkit::verify_checksums(frame) {
        panic!("{e}: {}", xvs_testkit::hex(frame));
    }
    p
}
