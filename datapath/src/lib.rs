//! xvs-datapath: where the sans-I/O engine meets the machine.
//!
//! It owns the AF_XDP port ([`xsk`]), the per-core poll loop ([`poll`]), the hand-off of
//! frames between poll cores ([`handoff`]) and the Rust mirror of the BPF maps' keys and
//! values ([`maps`]), the one definition that `xvs` and `xvs-bench` both use.
//!
//! Invariants:
//! - This crate is where xvs's `unsafe` lives (with the engine's prefetch hints and the
//!   binary's system-call wrappers): raw UMEM views, ring produce/consume, `poll()`,
//!   `getsockopt`, and `Pod` impls for the map structs. Each block states why it is sound.
//! - A received frame borrows its port: [`xsk::XskPort::rx_batch`] lends the batch to a
//!   closure for one batch only, so safe code cannot keep a frame past its socket.
//! - Nothing here decides what happens to a packet: that is the engine's verdict.

pub mod handoff;
pub mod maps;
pub mod poll;
pub mod snapshot;
pub mod sync_link;
pub mod xsk;
