//! A frame's classification, made once: with several poll cores the poll loop needs it
//! before the engine (to find the core that owns the frame's connection, from its client
//! address), and the engine then handles the frame from it instead of parsing it again,
//! on this core or, carried with the frame's copy, on the owner (`Engine::handle_classified`).
//!
//! Owns: [`Classified`], [`Engine::classify`] and [`Engine::client_of`] (which end of a
//! frame is the client). Must not touch: any table or counter (both methods take `&self`).
//!
//! Invariants:
//! - [`Engine::classify`] is exactly the first stage of `handle_batch` (the common case
//!   in raw form when the fast path is on, else the general classification, then the
//!   flow hash), so a batch handled from classes gets the verdicts, rewrites and counts it
//!   would get from bytes (`tests/fast_path.rs`).
//! - A class describes the bytes it was made from: it stays valid for an exact copy of
//!   the frame (offsets are from the frame's start), and for nothing else.
//! - Its hash is under the keys of the engine that made it: another core's class is
//!   [`Engine::adopt`]ed (rehashed) before this engine handles it.
//! - [`Engine::client_of`] depends only on the frame and the service set, so every core
//!   finds the same client, and so the same owner, for both directions of a connection.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use xvs_proto::{ClassifyError, Packet, PROTO_TCP, PROTO_UDP};

use super::{Class, Engine};
use crate::services::ServiceTable;

/// One frame's classification and flow hash, computed ahead of handling it (see the
/// module doc). Opaque: made by [`Engine::classify`] or [`Engine::adopt`], read by
/// [`Engine::client_of`] and [`Engine::handle_classified`]; `handle_batch` makes its own
/// for each group of frames.
#[derive(Clone, Copy, Debug)]
pub struct Classified {
    pub(super) class: Class,
    /// The flow-key hash under the engine's keys (never 0, see `flow::FlowKey::hash`) for
    /// TCP/UDP/SCTP with ports; 0 = none.
    pub(super) hash: u64,
    pub(super) v6: bool,
}

impl Classified {
    /// The class of a frame too short to hold anything: what a batch's array of classes
    /// starts as, before each slot is written.
    pub const EMPTY: Classified = Classified { class: Class::Full(Err(ClassifyError::Truncated)), hash: 0, v6: false };
}

impl Engine {
    /// Classify `frame` as the first stage of [`handle_batch`](Self::handle_batch) does,
    /// hash its flow and start loading the index slot its lookup will read.
    #[inline]
    pub fn classify(&self, frame: &[u8]) -> Classified {
        let mut c = Classified::EMPTY;
        self.classify_bytes(frame, &mut c);
        c
    }

    /// [`classify`](Self::classify) into `out` (a batch's array: written in place, not
    /// copied, Packet and all).
    #[inline]
    pub fn classify_into(&self, frame: &[u8], out: &mut Classified) {
        self.classify_bytes(frame, out);
    }

    /// A class another core's engine made, as this engine's own: the same class, hashed
    /// under this engine's keys (a copy of the frame handed here carries it).
    pub fn adopt(&self, c: &Classified) -> Classified {
        let mut own = Classified::EMPTY;
        self.pre_from(&c.class, &mut own);
        own
    }

    /// The client address of a classified frame: the source of a request to a service,
    /// otherwise the destination (a reply from a real, or traffic about the client);
    /// for an ICMP error, whichever end of the quoted packet is not the service. `None`:
    /// the frame did not classify.
    #[inline]
    pub fn client_of(&self, c: &Classified) -> Option<IpAddr> {
        let svcs = &self.cx.services;
        match &c.class {
            Class::Fast4(v) => {
                let client = if svcs.is_service(v.proto, v.dst, v.dport) { v.src } else { v.dst };
                Some(IpAddr::V4(Ipv4Addr::from(client)))
            }
            Class::Fast6(v) => {
                let client = if svcs.is_service(v.proto, v.dst, v.dport) { v.src } else { v.dst };
                Some(IpAddr::V6(Ipv6Addr::from(client)))
            }
            Class::Full(Ok(p)) => Some(client_of_packet(p, svcs)),
            Class::Full(Err(_)) => None,
        }
    }
}

/// [`Engine::client_of`] for a packet classified the general way.
fn client_of_packet(p: &Packet, svcs: &ServiceTable) -> IpAddr {
    let to_service = |proto: u8, dst: IpAddr, dport: u16| svcs.lookup(proto, dst, dport).is_some();
    if let Some(q) = p.icmp.and_then(|i| i.quoted) {
        // An error about a packet q.src -> q.dst: the client is whichever end is not the
        // service side.
        if to_service(q.proto, q.src, q.sport) {
            q.dst
        } else {
            q.src
        }
    } else if (p.proto == PROTO_TCP || p.proto == PROTO_UDP) && p.frag.is_none_or(|f| f.is_first()) {
        if to_service(p.proto, p.dst, p.dport) {
            p.src
        } else {
            p.dst
        }
    } else if to_service(p.proto, p.dst, 0) || svcs.is_vip_addr(p.dst) {
        p.src
    } else {
        p.dst
    }
}
