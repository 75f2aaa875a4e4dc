//! The `xvs` crate's library part: what the binary and the test/bench crates share.
//!
//! Invariant: nothing here does I/O on its own; the subcommands in the binary do.

pub mod engine_config;
