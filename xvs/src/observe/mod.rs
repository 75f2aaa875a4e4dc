//! Observation: what the director reports about itself. One owner for each part:
//! - [`baselines`]: the `-Z` zero points of the listed counters;
//! - [`estimator`]: IPVS's rate estimator, the one that ctl, metrics and top read;
//! - [`rates`]: that estimator shared between its one feeder (the control loop) and its
//!   readers;
//! - [`listing`]: the one serde type of the JSON listing (`xvs ctl -L --json`), written by
//!   the daemon, read by `xvs top`, `xvs demo` and the tests;
//! - [`vrrp`]: the VRRP runtime's status as the listing shows it, and `xvs ctl --vrrp`'s
//!   text made from that;
//! - the poll loops' snapshots and their merge are the datapath's
//!   (`xvs_datapath::snapshot`): reals are named there by `RealKey`, never by a string.

pub mod baselines;
pub mod estimator;
pub mod listing;
pub mod rates;
pub mod vrrp;

use std::net::SocketAddr;

use xvs_config::{Protocol, Vip};
use xvs_engine::{RealKey, ServiceKey};

/// The IP protocol number of a configured protocol.
pub fn proto_number(p: Protocol) -> u8 {
    match p {
        Protocol::Tcp => xvs_proto::PROTO_TCP,
        Protocol::Udp => xvs_proto::PROTO_UDP,
        Protocol::Sctp => xvs_proto::PROTO_SCTP,
    }
}

/// The key of a service of `protocol` at `vip` (not a fwmark service: [`key_of`]).
pub fn service_key(protocol: Protocol, vip: &Vip) -> ServiceKey {
    ServiceKey { proto: proto_number(protocol), vip: vip.addr, prefix_len: vip.prefix_len, port: vip.port, fwmark: 0 }
}

/// The key of a configured service: the engine names it the same way.
pub fn key_of(s: &xvs_config::Service) -> ServiceKey {
    match s.fwmark {
        Some(fwmark) => ServiceKey { proto: 0, vip: s.vip.addr, prefix_len: 0, port: 0, fwmark },
        None => service_key(s.protocol, &s.vip),
    }
}

/// The key of a configured (non-sorry) real of `service`.
pub fn real_key(service: ServiceKey, addr: SocketAddr) -> RealKey {
    RealKey { service, addr: addr.ip(), port: addr.port(), sorry: false }
}
