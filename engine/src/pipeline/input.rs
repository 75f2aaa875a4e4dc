//! Which path a classified packet takes (IPVS's `ip_vs_in`): an ICMP error about a
//! connection, a later fragment, a packet of a known connection, the first packet of a
//! new one, or the kernel.
//!
//! Owns: that decision, and expiring a found connection that is past its deadline or
//! whose TCP port pair is being reused by a new SYN. Must not touch: what each path does
//! (`icmp`, `frag`, `forward`, `new_conn`).

use xvs_proto::{sctp_chunk, tcp_flags, PROTO_SCTP, PROTO_TCP, PROTO_UDP};

use super::evict::Evict;
use super::expiry::expire_conn;
use super::flow::{find_conn, FlowKey};
use super::forward::forward;
use super::frag::later_fragment;
use super::icmp::icmp_error;
use super::new_conn::new_connection;
use super::{Ctx, Pkt};
use crate::conn::FamilyTables;
use crate::family::Family;
use crate::port::Verdict;
use crate::sctp_state::SctpState;
use crate::stats::DropReason;
use crate::store::Expiring;
use crate::tcp_state::TcpState;

/// Handle a packet of family `A`. `pre_hash`: its flow-key hash when computed ahead (0:
/// not). `other`: the other family's tables, which share the connection capacity.
/// `found`: the result of the fast path's lookup of this packet's key, when it made one
/// (nothing has changed since), so the key is not looked up twice.
#[inline]
pub(super) fn handle_family<A: Family>(
    t: &mut FamilyTables<A>,
    other: &mut dyn Evict,
    cx: &mut Ctx,
    pkt: &mut Pkt,
    pre_hash: u64,
    found: Option<Option<(u32, bool)>>,
) -> Verdict {
    let p = pkt.p;
    let (Some(src), Some(dst)) = (A::from_ip(p.src), A::from_ip(p.dst)) else {
        return Verdict::Drop(DropReason::BadIpHeader);
    };
    if let Some(icmp) = p.icmp {
        return match icmp.quoted {
            Some(_) => icmp_error(t, cx, pkt),
            None => Verdict::Pass,
        };
    }
    if !matches!(p.proto, PROTO_TCP | PROTO_UDP | PROTO_SCTP) {
        return Verdict::Pass;
    }
    if let Some(fr) = p.frag {
        if !fr.is_first() {
            return later_fragment(t, cx, pkt, src, dst, fr);
        }
    }

    let key = FlowKey::new(p, src, dst);
    // The hash computed ahead by `pre_classify`, when there was one.
    let h = if pre_hash != 0 { pre_hash } else { key.hash(&cx.hasher) };
    let found = match found {
        Some(f) => f,
        None => find_conn(t, cx, h, &key),
    };
    if let Some((ch, reply)) = found {
        let c = t.conns.get(ch);
        let expired = c.deadline(cx.now) <= cx.now;
        let reused = !reply
            && match p.proto {
                PROTO_TCP => {
                    p.tcp_flags & (tcp_flags::SYN | tcp_flags::ACK | tcp_flags::RST) == tcp_flags::SYN
                        && TcpState::from_u8(c.state).is_closing()
                }
                // A new association on a closed one's ports starts afresh.
                PROTO_SCTP => p.tcp_flags == sctp_chunk::INIT && SctpState::from_u8(c.state).is_closed(),
                _ => false,
            };
        if !expired && !reused {
            return forward(t, cx, pkt, ch, reply, true);
        }
        expire_conn(t, cx, ch);
    }

    let Some(sid) = cx.services.lookup(p.proto, p.dst, p.dport) else {
        // A removed service's endpoint, still steered here while its connections drain.
        return if cx.services.is_retired(p.proto, p.dst, p.dport) {
            Verdict::Drop(DropReason::ServiceRemoved)
        } else {
            Verdict::Pass
        };
    };
    new_connection(t, other, cx, pkt, sid, key, h)
}
