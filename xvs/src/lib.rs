//! The `xvs` crate's library part: what the binary and the test/bench crates share.
//!
//! Invariant: nothing here does I/O on its own; `bpf` and `host` act on the host only when
//! a subcommand calls them, and `metrics::serve` serves only the listener it is given;
//! `netns` builds labs of network namespaces for `xvs demo` and the end-to-end tests.

pub mod bpf;
pub mod ctl;
pub mod director_lab;
pub mod engine_config;
pub mod health;
pub mod host;
pub mod metrics;
pub mod netns;
pub mod observe;
