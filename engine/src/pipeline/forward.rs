//! A packet of a known connection: expiry of a connection whose real is gone, the TCP
//! state transition and timer, then transmit by the connection's bound method.
//!
//! Owns: choosing the state table's direction (INPUT, OUTPUT, INPUT_ONLY), the new
//! timeout and re-arming the wheel. Must not touch: active/inactive counts (through
//! `bind::set_tcp_state` only), the rewrite (`xmit`), fragment records (`frag`).

use xvs_proto::{PROTO_SCTP, PROTO_TCP};

use super::bind::{set_state, set_tcp_state};
use super::expiry::expire_conn;
use super::{frag, sync_out, verify, xmit, Ctx, Pkt};
use crate::conn::{Conn, FamilyTables, Xmit};
use crate::family::Family;
use crate::port::Verdict;
use crate::sctp_state::{self, SctpState};
use crate::stats::DropReason;
use crate::store::Expiring;
use crate::tcp_state::{next_state, Direction, TcpState};

/// Forward packet `pkt` of connection `ch` (`reply`: it came from the real). `has_l4`:
/// the packet carries the TCP header (not a later fragment), so its flags count.
pub(super) fn forward<A: Family>(
    t: &mut FamilyTables<A>,
    cx: &mut Ctx,
    pkt: &mut Pkt,
    ch: u32,
    reply: bool,
    has_l4: bool,
) -> Verdict {
    let p = pkt.p;
    let now = cx.now;
    let mut c = *t.conns.get(ch);
    if !cx.services[c.real].available && cx.cfg.expire_nodest_conn {
        expire_conn(t, cx, ch);
        return Verdict::Drop(DropReason::NoDest);
    }
    let old_deadline = c.deadline(now);
    let timeout = match c.proto {
        PROTO_TCP => {
            if has_l4 {
                let old = TcpState::from_u8(c.state);
                let new = next_state(old, direction(&c, reply), p.tcp_flags);
                if new != old {
                    set_tcp_state(cx, &mut c, new);
                }
            }
            cx.cfg.timeouts.tcp[c.state as usize] as u64
        }
        PROTO_SCTP => {
            if has_l4 {
                let old = SctpState::from_u8(c.state);
                let new = sctp_state::next_state(old, direction(&c, reply), p.tcp_flags);
                if new != old {
                    set_state(cx, &mut c, new as u8, new == SctpState::Established);
                }
            }
            cx.cfg.timeouts.sctp[usize::from(c.state) % crate::sctp_state::NUM_SCTP_STATES] as u64
        }
        _ => cx.cfg.timeouts.udp as u64,
    };
    if !c.is_verified() {
        verify::seen(t, cx, &mut c, reply, p, has_l4);
    }
    let new_deadline = now + timeout;
    c.deadline = new_deadline as u32;
    if !reply {
        if c.client_mac == [0; 6] {
            // Installed from sync: the client's next hop is where its packets come from.
            c.client_mac = pkt.peer_mac();
            c.in_port = pkt.in_port as u8;
        }
        if cx.sync.master {
            sync_out::after_request(t, cx, &mut c);
        }
    }
    *t.conns.get_mut(ch) = c;
    if new_deadline < old_deadline {
        t.conns.rearm(ch);
    }

    let v = if reply { xmit::reply(cx, pkt, &c) } else { xmit::request(cx, pkt, &c) };
    if let (Verdict::Tx { .. }, Some(fr)) = (v, p.frag) {
        if fr.is_first() {
            frag::remember_first(t, cx, p, fr.id, ch, reply, &c);
        }
    }
    v
}

/// Which of IPVS's TCP state tables a packet of `c` follows: replies are OUTPUT; requests
/// are INPUT for NAT, INPUT_ONLY where the director sees one direction (DR, TUN).
#[inline]
fn direction<A>(c: &Conn<A>, reply: bool) -> Direction {
    match (reply, c.xmit()) {
        (true, _) => Direction::Output,
        (false, Xmit::Nat) => Direction::Input,
        (false, _) => Direction::InputOnly,
    }
}
