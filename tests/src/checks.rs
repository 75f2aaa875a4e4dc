//! Independent checks of output frames for the replay tests and the simulated lab. The
//! checksum verifier, the hex dump and the MAC reader are xvs-testkit's (one verifier for
//! the tests of every crate: full recomputation, its own header walk); `parse` classifies a
//! frame with xvs-proto and shows the frame when it does not parse.

use xvs_proto::{classify, Packet};
pub use xvs_testkit::{hex, macs, verify_checksums};

/// The classification of a frame, panicking with the frame in hex when it does not parse.
pub fn parse(frame: &[u8]) -> Packet {
    classify(frame).unwrap_or_else(|e| panic!("frame does not classify ({e:?}):\n{}", hex(frame)))
}
