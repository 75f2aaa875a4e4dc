//! xvs-engine: the sans-I/O packet engine of xvs.
//!
//! `Engine::handle_batch(frames, now, verdicts)` classifies each frame, finds or creates its
//! connection (scheduling a real for a new one), runs IPVS's TCP state machine, rewrites
//! the frame in place for NAT, DR or TUN and returns a verdict. Ports (memory rings,
//! pcap files, AF_XDP sockets) bring frames in and carry verdicts out.
//!
//! Crate-wide invariants:
//! - No clock is read here: time is the `now` passed to `handle_batch`/`handle_timeout`.
//! - Nothing on the packet path allocates or locks; tables are sized at construction.
//! - Every frame ends with exactly one verdict, counted in [`EngineStats`].
//! - No I/O crate (xsk-rs, aya, libc, nix) is a dependency, and no `unsafe` but the
//!   `cpu` module's (prefetch hints, a vector compare): AF_XDP sockets and poll loops
//!   live in `xvs-datapath`.

#![deny(unsafe_code)]

mod conn;
mod endpoints;
mod family;
pub mod filter;
mod ids;
mod index;
mod pipeline;
// The one module of the engine allowed `unsafe`: CPU instructions asked for by name
// (prefetch hints, the index's compare of eight slots at once; see its docs).
#[allow(unsafe_code)]
mod cpu;
pub mod ratelimit;
mod store;
mod wheel;

pub mod memory_port;
pub mod pcap_port;
pub mod port;
pub mod replay;
pub mod sctp_state;
pub mod services;
pub mod spec;
pub mod stats;
pub mod sync;
pub mod tcp_state;

pub use family::mask_ip;
pub use ids::{proto_name, Endpoint, RealId, RealKey, ServiceId, ServiceKey};
pub use index::{MAX_HANDLES, MAX_PROBE};
pub use pipeline::{Classified, ConnInfo, Engine, ListCursor, STAGE_FROM};
pub use port::{FrameBuf, PacketBuf, Port, Verdict, FRAME_SIZE, HEADROOM};
pub use sctp_state::SctpState;
pub use spec::{EngineConfig, Forward, MarkRule, NeighborSpec, RealSpec, ServiceSpec};
pub use stats::{Counters, DropReason, EngineStats};
pub use tcp_state::{TcpState, Timeouts};

/// Errors of the engine's slow path (configuration).
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("service {service}: {source}")]
    Scheduler {
        service: String,
        #[source]
        source: xvs_sched::SchedError,
    },
    #[error("{0}")]
    Invalid(String),
}
