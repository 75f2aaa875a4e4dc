//! ICMP errors about a connection's packets: forwarded to the side that sent the quoted
//! packet, with the quote rewritten as the packet itself was.
//!
//! Owns: finding the connection from the quoted header and rewriting the error (outer
//! and quoted addresses). Must not touch: connection state or timers (an error does not
//! move a connection), or the addressing and counting of the result (`xmit`).
//!
//! Errors whose quote is not TCP/UDP or belongs to no connection go to the kernel.

use xvs_proto::{self as proto, PROTO_SCTP, PROTO_TCP, PROTO_UDP};

use super::flow::{find_conn, FlowKey};
use super::xmit::{rewrite_drop, to_client, to_real, tun_encap};
use super::{Ctx, Pkt};
use crate::conn::{Conn, FamilyTables, Xmit};
use crate::family::Family;
use crate::port::Verdict;
use crate::stats::DropReason;

/// An ICMP error whose quoted header may belong to a connection.
pub(super) fn icmp_error<A: Family>(t: &mut FamilyTables<A>, cx: &mut Ctx, pkt: &mut Pkt) -> Verdict {
    let Some(q) = pkt.p.icmp.and_then(|i| i.quoted) else {
        return Verdict::Pass;
    };
    if !matches!(q.proto, PROTO_TCP | PROTO_UDP | PROTO_SCTP) {
        return Verdict::Pass;
    }
    let (Some(qsrc), Some(qdst)) = (A::from_ip(q.src), A::from_ip(q.dst)) else {
        return Verdict::Pass;
    };
    // The quoted packet went qsrc -> qdst; the error travels the other way, so the
    // connection key is the quote reversed.
    let quote = FlowKey { proto: q.proto, src: qsrc, sport: q.sport, dst: qdst, dport: q.dport };
    let key = quote.reversed();
    let Some((ch, reply)) = find_conn(t, cx, key.hash(&cx.hasher), &key) else {
        return Verdict::Pass;
    };
    let c = *t.conns.get(ch);
    if reply {
        from_real_side(cx, pkt, &c)
    } else {
        from_client_side(cx, pkt, &c)
    }
}

/// From the client's side, about a reply the client got from the VIP: on to the real.
fn from_client_side<A: Family>(cx: &mut Ctx, pkt: &mut Pkt, c: &Conn<A>) -> Verdict {
    let r = &cx.services[c.real];
    let Some(mac) = r.mac else {
        return Verdict::Drop(DropReason::NeighborMiss);
    };
    let (addr, out, tunnel) = (r.addr, r.egress.unwrap_or(pkt.in_port), r.tunnel);
    let rport = r.port_for(c.vport);
    let res = match c.xmit() {
        Xmit::Nat => {
            let (frame, p) = pkt.frame_and_packet();
            proto::nat_icmp(frame, p, None, Some(addr), Some((addr, rport)), None, false).map_err(rewrite_drop)
        }
        Xmit::Dr => Ok(()),
        Xmit::Tun => tun_encap(&cx.cfg, pkt, addr, tunnel),
    };
    if let Err(d) = res {
        return Verdict::Drop(d);
    }
    to_real(&cx.cfg, pkt, &mut cx.services.reals[c.real.index()], mac, out)
}

/// From the real's side (or a router past it), about a packet toward the real: back to
/// the client, as a reply is.
fn from_real_side<A: Family>(cx: &mut Ctx, pkt: &mut Pkt, c: &Conn<A>) -> Verdict {
    if pkt.p.ttl <= 1 {
        return Verdict::Drop(DropReason::TtlExpired);
    }
    let vip = c.vip.to_ip();
    let (frame, p) = pkt.frame_and_packet();
    if let Err(e) = proto::nat_icmp(frame, p, Some(vip), None, None, Some((vip, c.vport)), true) {
        return Verdict::Drop(rewrite_drop(e));
    }
    to_client(cx, pkt, c)
}
