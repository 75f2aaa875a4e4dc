//! The fast path: a packet of an established, verified connection whose only effect on
//! the connection is its timer, forwarded from the raw header (`xvs_proto::fast`: IPv4
//! without options or IPv6 without extension headers, TCP or UDP) with integer addresses
//! and fixed offsets (NAT, DR; a TUN request is wrapped by the general transmit, `xmit`,
//! after the same connection work).
//!
//! Owns: deciding that a common-case packet changes nothing but the timer, and doing that
//! packet's work. Must not touch: anything the general path would change in other cases
//! (states, counts of active connections, verification, sync, fragments, ICMP).
//!
//! Invariant: a packet it takes leaves the frame, the verdict, the connection and every
//! counter exactly as the general path (`input` -> `forward` -> `xmit`) would; for any
//! other packet it declines having changed nothing, and the general path takes the
//! packet (from the same classification and hash, and what the lookup found). The
//! engine's tests run both paths on the same traffic and compare (`tests/fast_path.rs`).
//!
//! The path works on a [`Lane`]: the tables it reads and writes (index slots, connection
//! entries, reals, configuration), borrowed from the engine once. The one-pass loop
//! borrows one for a whole run of frames ([`run`]), so the tables' bases stay in locals
//! from one frame to the next instead of being reached through the engine for each (about
//! 20 instructions per packet less). The staged loop borrows one per frame, once its
//! lookup (`flow::find_conn`) has found the connection. Through a lane, a connection's
//! deadline only ever moves later (the wheel needs no change); a packet that would move
//! it earlier (a timeout shortened by a reload) is declined to the general path, which
//! re-arms it.

use xvs_proto::fast::{FastAddr, Flow};
use xvs_proto::{tcp_flags, Packet, PROTO_TCP};

use super::flow::{find_in, FlowKey, Hasher};
use super::{xmit, Ctx, Pkt};
use crate::conn::{Conn, FamilyTables, Xmit};
use crate::family::Family;
use crate::index::Lookup;
use crate::port::{PacketBuf, Verdict};
use crate::ratelimit::TokenBucket;
use crate::services::RealSlot;
use crate::spec::EngineConfig;
use crate::stats::{DropReason, EngineStats};
use crate::store::Expiring;
use crate::tcp_state::TcpState;

/// The flow key of a common-case packet.
#[inline(always)]
pub(super) fn key<A: Copy>(v: &Flow<A>) -> FlowKey<A> {
    FlowKey { proto: v.proto, src: v.src, sport: v.sport, dst: v.dst, dport: v.dport }
}

/// What the fast path did with a packet.
pub(super) enum Fast {
    /// Forwarded, with this verdict.
    Done(Verdict),
    /// Declined, nothing changed; what its lookup found (the connection's handle and
    /// whether the packet is its reply, or `None`: no connection has the packet's key), so
    /// that the general path does not look again.
    Declined(Option<(u32, bool)>),
}

/// The tables the fast path reads and writes for one family, borrowed from the engine.
pub(super) struct Lane<'a, A> {
    index: Lookup<'a>,
    conns: &'a mut [Conn<A>],
    reals: &'a mut [RealSlot],
    hasher: &'a Hasher,
    cfg: &'a EngineConfig,
    stats: &'a mut EngineStats,
    icmp: &'a mut TokenBucket,
    now: u64,
    sync_master: bool,
}

impl<'a, A: Family + FastAddr> Lane<'a, A> {
    /// The lane of tables `t` and engine state `cx`.
    #[inline(always)]
    pub fn new(t: &'a mut FamilyTables<A>, cx: &'a mut Ctx) -> Self {
        let Ctx { cfg, services, stats, hasher, now, sync, icmp, .. } = cx;
        Lane {
            index: t.index.lookup(),
            conns: t.conns.entries_mut(),
            reals: &mut services.reals,
            hasher,
            cfg,
            stats,
            icmp,
            now: *now,
            sync_master: sync.master,
        }
    }

    /// The hash of common-case packet `v`'s flow key.
    #[inline(always)]
    pub fn hash(&self, v: &Flow<A>) -> u64 {
        key(v).hash(self.hasher)
    }

    /// Forward common-case packet `v` (frame `f`, flow hash `hash`) if it only re-arms
    /// its connection's timer.
    #[inline(always)]
    pub fn forward<F: PacketBuf>(&mut self, f: &mut F, v: &Flow<A>, hash: u64) -> Fast {
        match find_in(self.index, self.conns, self.reals, hash, &key(v)) {
            Some((ch, reply)) => self.decide(f, v, ch, reply),
            None => Fast::Declined(None),
        }
    }

    /// [`forward`](Self::forward) for connection `ch` (`reply`: the packet is its reply).
    /// The frame's parts and port are read only once the packet is taken (fewer values
    /// kept across the lookup).
    #[inline(always)]
    pub fn decide<F: PacketBuf>(&mut self, f: &mut F, v: &Flow<A>, ch: u32, reply: bool) -> Fast {
        let declined = Fast::Declined(Some((ch, reply)));
        let Some(c) = self.conns.get_mut(ch as usize) else {
            return declined;
        };
        let now = self.now;
        let old_deadline = c.deadline(now);
        // Expired, unverified, or with a TCP state change (a SYN reusing a closing
        // connection's ports is one): the general path's work.
        if old_deadline <= now || !c.is_verified() {
            return declined;
        }
        // The real, borrowed once for its fields and, at the end, its counters.
        let Some(r) = self.reals.get_mut(c.real.index()) else {
            return declined;
        };
        if !r.available && self.cfg.expire_nodest_conn {
            return declined;
        }
        let timeout = if c.proto == PROTO_TCP {
            // ESTABLISHED with ACK and no SYN, FIN or RST stays ESTABLISHED in each of
            // IPVS's tables (`tcp_state::tests`); any other state or flags may move.
            if c.state != TcpState::Established as u8
                || v.tcp_flags & (tcp_flags::SYN | tcp_flags::FIN | tcp_flags::RST | tcp_flags::ACK) != tcp_flags::ACK
            {
                return declined;
            }
            self.cfg.timeouts.tcp[c.state as usize]
        } else {
            self.cfg.timeouts.udp
        };
        let xm = c.xmit();
        // Where the packet goes, and its NAT (DR and TUN have none): the new source of a
        // reply, the new destination of a request.
        let (mac, out, nat) = if reply {
            // A NAT reply, back to the client it came from.
            if xm != Xmit::Nat || v.ttl <= 1 || c.client_mac == [0; 6] {
                return declined;
            }
            (c.client_mac, c.in_port as u16, Some((c.vip, c.vport)))
        } else {
            // Toward the real: a sync master records requests, a synced connection
            // learns its client's next hop, a too-big one is answered: all general. (A
            // TUN request is wrapped by the general transmit, which checks the MTU with
            // the tunnel's overhead itself.)
            let Some(mac) = r.mac else {
                return declined;
            };
            if self.sync_master
                || c.client_mac == [0; 6]
                || xm != Xmit::Tun && u32::from(v.ip_len) > u32::from(self.cfg.mtu)
            {
                return declined;
            }
            // The real's address must be of the packet's family, else the general path
            // drops the packet.
            let nat = if xm == Xmit::Nat {
                match A::from_ip(r.addr) {
                    Some(a) => Some((a, r.port_for(c.vport))),
                    None => return declined,
                }
            } else {
                None
            };
            (mac, r.egress.unwrap_or_else(|| f.port()), nat)
        };
        let new_deadline = now + u64::from(timeout);
        if new_deadline < old_deadline {
            // The wheel would need re-arming: not through a lane.
            return declined;
        }

        // Committed: from here on, what the general path does for this packet.
        c.deadline = new_deadline as u32;
        if xm == Xmit::Tun {
            let out = xmit::Out { cfg: self.cfg, stats: self.stats, icmp: self.icmp, now };
            return Fast::Done(tun_request(out, f, v.packet(), r, c.vport));
        }
        // From the frame's start to the buffer's end: the rewrites and the MACs touch
        // only the fixed-size headers, which the classification found within the frame
        // (its end needs no second check). The classification read the frame here: it
        // cannot fail.
        let (buf, head, _) = f.parts();
        let Some(f) = buf.get_mut(*head..) else {
            return Fast::Done(Verdict::Drop(DropReason::RewriteMismatch));
        };
        if let Some((addr, port)) = nat {
            if reply {
                A::nat_reply(f, v, addr, port);
            } else {
                A::nat_request(f, v, addr, port);
            }
        }
        // The MACs as `set_macs` writes them, the arriving destination read in the same
        // 12 bytes (one bounds check for both).
        if let Some(h) = f.first_chunk_mut::<12>() {
            let arrived = [h[0], h[1], h[2], h[3], h[4], h[5]];
            let src = xmit::src_mac(self.cfg, out, arrived);
            h[..6].copy_from_slice(&mac);
            h[6..].copy_from_slice(&src);
        }
        // As `xmit::count`, through the real already borrowed.
        r.stats.add_packet(!reply, u64::from(v.ip_len));
        Fast::Done(Verdict::Tx { port: out })
    }
}

/// What stopped a [`run`] before the end of its frames, at the frame after those it
/// took.
pub(super) enum Stop<A> {
    /// Not a common-case frame of the run's family: nothing done with it.
    Other,
    /// The frame's flow, its hash, and what the fast path made of it (declined): the
    /// rest is the caller's.
    Frame(Flow<A>, u64, Fast),
}

/// Forward `frames` from the first through one lane while each is a common-case frame of
/// family `A` (`parse`) that the fast path takes, with its verdict in `verdicts` and
/// counted: how many it took, and what stopped it (`None`: it took them all). The
/// one-pass loop's.
#[inline(always)]
pub(super) fn run<F: PacketBuf, A: Family + FastAddr>(
    t: &mut FamilyTables<A>,
    cx: &mut Ctx,
    frames: &mut [F],
    verdicts: &mut [Verdict],
    parse: impl Fn(&[u8]) -> Option<Flow<A>>,
) -> (usize, Option<Stop<A>>) {
    let mut lane = Lane::new(t, cx);
    let mut taken = 0;
    // Frames transmitted are counted once at the end (`EngineStats::count_sent`): the
    // frames taken but those with another verdict, which are counted as they come (rare:
    // only a counter that is rarely touched, not one per frame, is kept across the loop).
    let mut not_sent = 0;
    let stop = 'run: {
        for (f, verdict) in frames.iter_mut().zip(verdicts.iter_mut()) {
            let (buf, head, len) = f.parts();
            let Some(v) = buf.get(*head..*head + *len).and_then(&parse) else {
                break 'run Some(Stop::Other);
            };
            let hash = lane.hash(&v);
            match lane.forward(f, &v, hash) {
                Fast::Done(Verdict::Tx { port }) => *verdict = Verdict::Tx { port },
                Fast::Done(d) => {
                    *verdict = d;
                    lane.stats.count(verdict);
                    not_sent += 1;
                }
                o => break 'run Some(Stop::Frame(v, hash, o)),
            }
            taken += 1;
        }
        None
    };
    lane.stats.count_sent((taken - not_sent) as u64);
    (taken, stop)
}

/// A TUN request toward real `r` (virtual port `vport`) that the fast path took, wrapped
/// by the general transmit (out of line: it is not the lean case).
#[inline(never)]
fn tun_request<F: PacketBuf>(o: xmit::Out, f: &mut F, p: Packet, r: &mut RealSlot, vport: u16) -> Verdict {
    let in_port = f.port();
    let (buf, head, len) = f.parts();
    xmit::request_to(o, &mut Pkt { buf, head, len, p: &p, in_port, parsed: true }, r, vport, Xmit::Tun)
}
