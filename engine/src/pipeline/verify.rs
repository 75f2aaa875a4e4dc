//! Verifying connections: which entries an attacker who only sends packets can make, and
//! which need something only a real conversation produces.
//!
//! Owns: the `trust` field of a connection and the per-family count of unverified
//! connections. Must not touch: eviction's choice (`evict`) or TCP states (`forward`).
//!
//! Rules (README "Defences"):
//! - NAT, SCTP: the same with INIT ACK and ABORT (the association's cookie exchange is
//!   the handshake).
//! - NAT, TCP: verified when its real sends a segment that is neither a SYN-ACK nor a RST:
//!   the real's kernel sends one only after it accepted the client's ACK of its SYN-ACK,
//!   whose sequence number a client that spoofs its address never sees. (A SYN-ACK answers
//!   any SYN, a RST any stray ACK: neither proves the client exists.)
//! - NAT, UDP: verified when its real answers (UDP has no handshake to check; the real's
//!   answer is the most the director can see).
//! - DR, TUN: replies bypass the director, so nothing the client sends can be checked;
//!   a connection is verified after more than `verify_packets` requests (IPVS's
//!   `drop_entry` spares connections past 8 incoming packets for the same reason).
//! - Installed from the sync master: verified (the master verified or created it).
//!
//! Invariant: `FamilyTables::unverified` is the number of live connections whose `trust`
//! is not `VERIFIED`; every change of `trust` to `VERIFIED` and every removal of an
//! unverified connection goes through this module.

use xvs_proto::{sctp_chunk, tcp_flags, Packet, PROTO_SCTP, PROTO_TCP};

use super::Ctx;
use crate::conn::{trust, Conn, FamilyTables, Xmit};
use crate::family::Family;

/// A new connection enters the table unverified.
#[inline]
pub(super) fn admitted<A: Family>(t: &mut FamilyTables<A>, c: &Conn<A>) {
    if !c.is_verified() {
        t.unverified += 1;
    }
}

/// Mark `c` verified (it is live in `t`).
#[inline]
pub(super) fn verify<A: Family>(t: &mut FamilyTables<A>, cx: &mut Ctx, c: &mut Conn<A>) {
    if !c.is_verified() {
        c.trust = trust::VERIFIED;
        t.unverified -= 1;
        cx.stats.conns_verified += 1;
    }
}

/// A packet `p` of live, unverified connection `c` was seen (`reply`: from its real;
/// `has_l4`: it carries its transport header). Out of line: a verified connection's
/// packets (nearly all) only test `trust`.
#[inline(never)]
pub(super) fn seen<A: Family>(
    t: &mut FamilyTables<A>,
    cx: &mut Ctx,
    c: &mut Conn<A>,
    reply: bool,
    p: &Packet,
    has_l4: bool,
) {
    if reply {
        // A SYN-ACK or RST (SCTP: INIT ACK or ABORT) answers anyone; anything else comes
        // only once the client answered the real.
        let answers_anyone = has_l4
            && match p.proto {
                PROTO_TCP => p.tcp_flags & (tcp_flags::RST | tcp_flags::SYN) != 0,
                PROTO_SCTP => matches!(p.tcp_flags, sctp_chunk::INIT_ACK | sctp_chunk::ABORT),
                _ => false,
            };
        if !answers_anyone {
            verify(t, cx, c);
        }
    } else if c.xmit() != Xmit::Nat {
        c.trust += 1;
        if c.trust > cx.cfg.verify_packets {
            verify(t, cx, c);
        }
    }
}

/// Connection `c` leaves the table.
#[inline]
pub(super) fn removed<A: Family>(t: &mut FamilyTables<A>, c: &Conn<A>) {
    if !c.is_verified() {
        t.unverified -= 1;
    }
}
