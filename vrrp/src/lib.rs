//! xvs-vrrp: VRRP as a sans-I/O state machine — VRRPv2 (RFC 3768, with RFC 2338's PASS
//! authentication) and VRRPv3 (RFC 5798 / 9568, IPv4 and IPv6) — behaving as keepalived
//! 2.2.7 does where it bends the RFCs, so that an xvs and a keepalived can be each other's
//! peer.
//!
//! Shape (like the engine, quinn-proto style): an [`Instance`] is given received adverts
//! ([`Instance::handle_advert`]) and the time ([`Instance::handle_timeout`]); the caller
//! polls out adverts to send ([`Instance::poll_transmit`]), state changes with their cause
//! ([`Instance::poll_event`]) and the next deadline ([`Instance::poll_timeout`]).
//!
//! - [`wire`]: the advertisement's encoding, decoding and checksums;
//! - [`config`]: [`InstanceConfig`] and keepalived's normalization of it;
//! - [`timers`]: Skew_Time and Master_Down_Interval as keepalived computes them;
//! - [`instance`]: the state machine; `check` (private): the receive checks, in
//!   keepalived's order;
//! - [`event`] and [`stats`]: what it reports.
//!
//! Crate-wide invariants:
//! - No sockets, no clock, no threads, no I/O crate: time is the `now_ms` passed in, packets
//!   are byte slices; the I/O layer adds and strips the IP header.
//! - No panic on any input; every dropped advert is counted by its [`Reject`] reason.
//! - No `unsafe` (`forbid`).

#![forbid(unsafe_code)]

mod check;
pub mod config;
pub mod event;
pub mod instance;
pub mod stats;
pub mod timers;
pub mod wire;

pub use config::{Adjustment, ConfigError, InitialState, InstanceConfig, Version};
pub use event::{Cause, Event, State, Transmit};
pub use instance::Instance;
pub use stats::{Reject, Stats};
pub use wire::Advert;
