//! The `xvs` crate's library part: what the binary and the test/bench crates share.
//!
//! Invariant: nothing here does I/O on its own; `bpf` and `host` act on the host only when
//! a subcommand calls them, and `metrics::serve` serves only the listener it is given.
//! The namespace labs of `xvs demo` and the end-to-end tests are the `xvs-lab` crate.
//! No `unsafe` here but in `sys`, the one module of system-call wrappers.

#![deny(unsafe_code)]

pub mod bpf;
pub mod ctl;
pub mod engine_config;
pub mod fleet;
pub mod health;
pub mod host;
pub mod metrics;
pub mod observe;
pub mod scripts;
pub mod sync;
pub mod sys;
pub mod vrrp;
pub mod workers;
