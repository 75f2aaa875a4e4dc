//! The pipeline: `process(batch, now) -> verdicts`. Sans-I/O: it reads no clock, makes no
//! system call and allocates nothing per packet.
//!
//! Invariants:
//! - The clock only moves forward through `process`' `now` (nanoseconds; earlier values
//!   are treated as the last one seen).
//! - Every frame gets exactly one verdict and is counted once (`stats::EngineStats`).
//! - Expiry work per batch is bounded by `EngineConfig::expiry_budget`; a connection whose
//!   deadline has passed but was not reaped yet is expired when a packet finds it, so
//!   lagging reaping never keeps a dead connection alive.
//! - A connection keeps its real until it expires, whatever reloads happen meanwhile;
//!   with `expire_nodest_conn`, a connection whose real was removed expires at its next
//!   packet, which is dropped (IPVS's behaviour).

use std::net::IpAddr;

use xvs_proto::{self as proto, classify, tcp_flags, ClassifyError, Packet, RewriteError, PROTO_TCP, PROTO_UDP};
use xvs_sched::Flow;

use crate::conn::{flags, Conn, FamilyTables, FragEntry, Template, FRAG_TIMEOUT_MS, NO_TEMPLATE};
use crate::family::Family;
use crate::port::{PacketBuf, Verdict};
use crate::services::{ServiceTable, SharedCounters};
use crate::spec::{EngineConfig, Forward};
use crate::stats::{DropReason, EngineStats};
use crate::store::Expiring;
use crate::tcp_state::{next_state, Direction, TcpState};
use crate::EngineError;

/// How many wheel entries a full table looks at to find the oldest evictable one.
const EVICT_SCAN: usize = 1024;
/// IPVS re-checks a template that still has connections every 60 s.
const TEMPLATE_RECHECK_MS: u64 = 60_000;

/// Everything but the per-family tables (split so both can be borrowed at once).
#[derive(Debug)]
pub struct Core {
    pub cfg: EngineConfig,
    pub services: ServiceTable,
    pub stats: EngineStats,
    hasher: ahash::RandomState,
    now: u64,
    live: u32,
}

/// One poll core's engine.
#[derive(Debug)]
pub struct Engine {
    v4: FamilyTables<u32>,
    v6: FamilyTables<u128>,
    core: Core,
}

/// A connection as listed by `xvs ctl -c` and the tests.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConnInfo {
    pub proto: u8,
    pub client: IpAddr,
    pub cport: u16,
    pub vip: IpAddr,
    pub vport: u16,
    pub real: IpAddr,
    pub rport: u16,
    pub state: &'static str,
    pub expires_ms: u64,
    pub forward: Forward,
}

fn fwd_flag(f: Forward) -> u8 {
    match f {
        Forward::Nat => flags::FWD_NAT,
        Forward::Dr => flags::FWD_DR,
        Forward::Tun => flags::FWD_TUN,
    }
}

fn flag_fwd(f: u8) -> Forward {
    match f & flags::FWD_MASK {
        flags::FWD_NAT => Forward::Nat,
        flags::FWD_DR => Forward::Dr,
        _ => Forward::Tun,
    }
}

/// The hash of a flow key, with its low bit set so that 0 can mean "not computed".
#[inline]
fn key_hash<A: Family>(h: &ahash::RandomState, proto: u8, a: A, pa: u16, b: A, pb: u16) -> u64 {
    h.hash_one((a, b, (pa as u32) << 16 | pb as u32, proto)) | 1
}

#[inline]
fn template_hash<A: Family>(h: &ahash::RandomState, service: u16, client: A, vip: A) -> u64 {
    h.hash_one((client, vip, service, 0xffu8))
}

#[inline]
fn frag_hash<A: Family>(h: &ahash::RandomState, src: A, dst: A, id: u32, proto: u8) -> u64 {
    h.hash_one((src, dst, id, proto, 0xfeu8))
}

fn rewrite_drop(e: RewriteError) -> DropReason {
    match e {
        RewriteError::NoHeadroom => DropReason::NoHeadroom,
        RewriteError::Mismatch => DropReason::RewriteMismatch,
        RewriteError::FamilyMismatch => DropReason::FamilyMismatch,
    }
}

fn mac_at(frame: &[u8], off: usize) -> [u8; 6] {
    let mut m = [0u8; 6];
    if frame.len() >= off + 6 {
        m.copy_from_slice(&frame[off..off + 6]);
    }
    m
}

/// The hash of a stored key of connection `c` in direction `reply`.
#[inline]
fn conn_key_hash<A: Family>(core: &Core, c: &Conn<A>, reply: bool) -> u64 {
    if reply {
        let r = &core.services.reals[c.real as usize];
        let rip = A::from_ip(r.addr).unwrap_or_default();
        key_hash(&core.hasher, c.proto, rip, r.port_for(c.vport), c.cip, c.cport)
    } else {
        key_hash(&core.hasher, c.proto, c.cip, c.cport, c.vip, c.vport)
    }
}

/// Whether stored key `(c, reply)` is the packet key `(proto, a:pa -> b:pb)`.
#[inline]
#[allow(clippy::too_many_arguments)]
fn conn_matches<A: Family>(core: &Core, c: &Conn<A>, reply: bool, proto: u8, a: A, pa: u16, b: A, pb: u16) -> bool {
    if c.proto != proto {
        return false;
    }
    if !reply {
        c.cip == a && c.cport == pa && c.vip == b && c.vport == pb
    } else {
        let r = &core.services.reals[c.real as usize];
        c.cip == b && c.cport == pb && r.port_for(c.vport) == pa && A::from_ip(r.addr) == Some(a)
    }
}

impl Engine {
    /// An engine with `cfg` applied, its clock starting at `now_ns`.
    pub fn new(cfg: EngineConfig, now_ns: u64) -> Result<Engine, EngineError> {
        Self::with_shared_counters(cfg, now_ns, SharedCounters::default())
    }

    /// An engine for one of several poll cores: its reals' active/inactive counts are
    /// `shared`, the same objects as the other cores' engines use.
    pub fn with_shared_counters(cfg: EngineConfig, now_ns: u64, shared: SharedCounters) -> Result<Engine, EngineError> {
        if cfg.max_connections == 0 || cfg.max_connections > crate::index::MAX_HANDLES {
            return Err(EngineError::Invalid(format!(
                "max_connections must be between 1 and {} (got {})",
                crate::index::MAX_HANDLES,
                cfg.max_connections
            )));
        }
        let now = now_ns / 1_000_000;
        let mut services = ServiceTable::with_shared(shared);
        services.apply(&cfg)?;
        Ok(Engine {
            v4: FamilyTables::new(cfg.max_connections, now),
            v6: FamilyTables::new(cfg.max_connections, now),
            core: Core {
                cfg,
                services,
                stats: EngineStats::default(),
                hasher: ahash::RandomState::with_seeds(
                    0x243f_6a88_85a3_08d3,
                    0x1319_8a2e_0370_7344,
                    0xa409_3822_299f_31d0,
                    0x082e_fa98_ec4e_6c89,
                ),
                now,
                live: 0,
            },
        })
    }

    /// Replace the services, timeouts and options atomically; established connections keep
    /// their reals. An invalid config changes nothing. (Capacity is fixed at creation.)
    pub fn apply(&mut self, cfg: EngineConfig) -> Result<(), EngineError> {
        self.core.services.apply(&cfg)?;
        let max = self.core.cfg.max_connections;
        self.core.cfg = cfg;
        self.core.cfg.max_connections = max;
        Ok(())
    }

    pub fn stats(&self) -> &EngineStats {
        &self.core.stats
    }

    pub fn services(&self) -> &ServiceTable {
        &self.core.services
    }

    pub fn config(&self) -> &EngineConfig {
        &self.core.cfg
    }

    /// Live connections (IPv4 + IPv6).
    pub fn live_connections(&self) -> u32 {
        self.core.live
    }

    /// Live persistence templates.
    pub fn live_templates(&self) -> u32 {
        self.v4.templates.live() + self.v6.templates.live()
    }

    /// The engine's clock in milliseconds.
    pub fn now_ms(&self) -> u64 {
        self.core.now
    }

    /// Replace the next hops (the reals' MACs), keeping everything else.
    pub fn set_neighbors(&mut self, neighbors: &[crate::spec::NeighborSpec]) {
        self.core.services.set_neighbors(neighbors);
        self.core.cfg.neighbors = neighbors.to_vec();
    }

    /// Up to `max` live connections (the live view of `xvs demo`): stops after `max`,
    /// so it stays cheap whatever the table holds.
    pub fn connections_sample(&self, max: usize) -> Vec<ConnInfo> {
        let mut out = Vec::with_capacity(max);
        collect_conns(&self.v4, &self.core, max, &mut out);
        collect_conns(&self.v6, &self.core, max, &mut out);
        out
    }

    /// Every live connection (slow path).
    pub fn connections(&self) -> Vec<ConnInfo> {
        let mut out = Vec::new();
        collect_conns(&self.v4, &self.core, usize::MAX, &mut out);
        collect_conns(&self.v6, &self.core, usize::MAX, &mut out);
        out
    }

    /// Move the clock to `now_ns` and do a bounded amount of expiry work, without
    /// processing frames (the poll loops call this when idle).
    pub fn tick(&mut self, now_ns: u64) {
        let now = (now_ns / 1_000_000).max(self.core.now);
        self.core.now = now;
        self.v4.conns.advance(now);
        self.v6.conns.advance(now);
        self.v4.templates.advance(now);
        self.v6.templates.advance(now);
        let mut budget = self.core.cfg.expiry_budget;
        reap(&mut self.v4, &mut self.core, &mut budget);
        reap(&mut self.v6, &mut self.core, &mut budget);
    }

    /// Whether expiry work is waiting (a mass expiry spreads over several batches).
    pub fn expiry_pending(&self) -> bool {
        self.v4.conns.has_due() || self.v6.conns.has_due() || self.v4.templates.has_due() || self.v6.templates.has_due()
    }

    /// Process a batch: rewrite frames in place and give each a verdict.
    /// `verdicts` must be at least as long as `frames`.
    ///
    /// Frames are handled in groups of [`STAGE`]: all are classified and hashed first and
    /// their index slots prefetched, then the candidate connection entries are
    /// prefetched, then each frame is handled. The loads of a group overlap instead of
    /// each packet waiting for its own cache misses in turn.
    pub fn process<F: PacketBuf>(&mut self, frames: &mut [F], now_ns: u64, verdicts: &mut [Verdict]) {
        self.tick(now_ns);
        let n = frames.len().min(verdicts.len());
        let mut start = 0;
        while start < n {
            let end = (start + STAGE).min(n);
            let group = &mut frames[start..end];
            let mut pre = [Pre::EMPTY; STAGE];
            for (f, pr) in group.iter_mut().zip(pre.iter_mut()) {
                *pr = self.pre_classify(f);
            }
            for pr in &pre[..group.len()] {
                if pr.hash != 0 {
                    let cand = if pr.v6 {
                        self.v6.index.first_candidate(pr.hash)
                    } else {
                        self.v4.index.first_candidate(pr.hash)
                    };
                    if let Some(h) = cand {
                        if pr.v6 {
                            self.v6.conns.prefetch(h);
                        } else {
                            self.v4.conns.prefetch(h);
                        }
                    }
                }
            }
            for ((f, v), pr) in group.iter_mut().zip(verdicts[start..end].iter_mut()).zip(pre.iter()) {
                *v = self.handle(f, pr);
                let s = &mut self.core.stats;
                s.rx += 1;
                match v {
                    Verdict::Tx { .. } => s.tx += 1,
                    Verdict::Pass => s.passed += 1,
                    Verdict::Drop(r) => s.drop(*r),
                }
            }
            start = end;
        }
    }

    /// Classify a frame and, for a TCP/UDP packet with ports, hash its flow key and
    /// prefetch the index slot it will probe.
    #[inline]
    fn pre_classify<F: PacketBuf>(&mut self, f: &mut F) -> Pre {
        let (buf, head, len) = f.parts();
        let Some(frame) = buf.get(*head..*head + *len) else {
            return Pre { p: Err(ClassifyError::Truncated), hash: 0, v6: false };
        };
        let p = classify(frame);
        let mut pre = Pre { p, hash: 0, v6: false };
        if let Ok(p) = &pre.p {
            let ported = (p.proto == PROTO_TCP || p.proto == PROTO_UDP) && p.frag.is_none_or(|fr| fr.is_first());
            if ported {
                match (p.src, p.dst) {
                    (IpAddr::V4(s), IpAddr::V4(d)) => {
                        let h = key_hash(&self.core.hasher, p.proto, u32::from(s), p.sport, u32::from(d), p.dport);
                        self.v4.index.prefetch(h);
                        pre.hash = h;
                    }
                    (IpAddr::V6(s), IpAddr::V6(d)) => {
                        let h = key_hash(&self.core.hasher, p.proto, u128::from(s), p.sport, u128::from(d), p.dport);
                        self.v6.index.prefetch(h);
                        pre.hash = h;
                        pre.v6 = true;
                    }
                    _ => {}
                }
            }
        }
        pre
    }

    #[inline]
    fn handle<F: PacketBuf>(&mut self, f: &mut F, pre: &Pre) -> Verdict {
        let in_port = f.port();
        let (buf, head, len) = f.parts();
        let p = match pre.p {
            Ok(p) => p,
            Err(e) => {
                return match DropReason::from_classify(e) {
                    Some(r) => Verdict::Drop(r),
                    None => Verdict::Pass,
                }
            }
        };
        let mut pkt = Pkt { buf, head, len, p, in_port };
        match p.src {
            IpAddr::V4(_) => handle_family(&mut self.v4, &mut self.v6, &mut self.core, &mut pkt, pre.hash),
            IpAddr::V6(_) => handle_family(&mut self.v6, &mut self.v4, &mut self.core, &mut pkt, pre.hash),
        }
    }
}

/// Frames per prefetch group in `process`.
const STAGE: usize = 16;

/// A frame's classification and flow hash, computed ahead of handling it.
#[derive(Clone, Copy)]
struct Pre {
    p: Result<Packet, ClassifyError>,
    /// The flow-key hash (never 0, see `key_hash`) for TCP/UDP with ports; 0 = none.
    hash: u64,
    v6: bool,
}

impl Pre {
    const EMPTY: Pre = Pre { p: Err(ClassifyError::Truncated), hash: 0, v6: false };
}

fn collect_conns<A: Family>(t: &FamilyTables<A>, core: &Core, max: usize, out: &mut Vec<ConnInfo>) {
    for (_, c) in t.conns.iter_live() {
        if out.len() >= max {
            return;
        }
        let r = &core.services.reals[c.real as usize];
        let state = if c.proto == PROTO_TCP { TcpState::from_u8(c.state).name() } else { "UDP" };
        out.push(ConnInfo {
            proto: c.proto,
            client: c.cip.to_ip(),
            cport: c.cport,
            vip: c.vip.to_ip(),
            vport: c.vport,
            real: r.addr,
            rport: r.port_for(c.vport),
            state,
            expires_ms: c.deadline(core.now).saturating_sub(core.now),
            forward: flag_fwd(c.flags),
        });
    }
}

impl Core {
    /// The director's MAC on `port`, or `arrived` (the arriving frame's destination MAC)
    /// when port MACs are not configured.
    #[inline]
    fn src_mac(&self, port: u16, arrived: [u8; 6]) -> [u8; 6] {
        // Without configured port MACs (replay, tests) the arriving frame's destination
        // is the best knowledge of our own address.
        self.cfg.port_macs.get(port as usize).copied().unwrap_or(arrived)
    }
}

/// A frame being handled: its buffer, position and classification.
struct Pkt<'a> {
    buf: &'a mut [u8],
    head: &'a mut usize,
    len: &'a mut usize,
    p: Packet,
    in_port: u16,
}

impl Pkt<'_> {
    #[inline]
    fn frame(&mut self) -> &mut [u8] {
        &mut self.buf[*self.head..*self.head + *self.len]
    }
    /// The director's own MAC: the destination MAC of the frame that arrived.
    #[inline]
    fn own_mac(&mut self) -> [u8; 6] {
        mac_at(self.frame(), 0)
    }
    #[inline]
    fn peer_mac(&mut self) -> [u8; 6] {
        mac_at(self.frame(), 6)
    }
}

fn reap<A: Family>(t: &mut FamilyTables<A>, core: &mut Core, budget: &mut u32) {
    while let Some(h) = t.conns.next_expired(budget) {
        expire_conn(t, core, h);
        core.stats.conns_expired += 1;
    }
    while let Some(h) = t.templates.next_expired(budget) {
        let tp = *t.templates.get(h);
        if tp.refs > 0 {
            // Recheck every 60 s counted from the deadline, as the kernel's timer does, so
            // the result does not depend on how late the reaper got to it.
            let due = tp.deadline(core.now);
            let next = due + TEMPLATE_RECHECK_MS * (core.now.saturating_sub(due) / TEMPLATE_RECHECK_MS + 1);
            t.templates.get_mut(h).deadline = next as u32;
            t.templates.rearm(h);
            continue;
        }
        drop_template(t, core, h, tp);
    }
}

fn drop_template<A: Family>(t: &mut FamilyTables<A>, core: &mut Core, h: u32, tp: Template<A>) {
    if tp.real != u32::MAX {
        let th = template_hash(&core.hasher, tp.service, tp.client, tp.vip);
        let FamilyTables { templates, template_index, .. } = t;
        template_index.remove(th, h, false, |o, _| {
            let x = templates.get(o);
            template_hash(&core.hasher, x.service, x.client, x.vip)
        });
        if let Some(r) = core.services.reals.get(tp.real as usize) {
            r.counters.persistent.fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
        }
    }
    t.templates.free(h);
    core.stats.templates_expired += 1;
}

/// Remove a connection: its index keys, its real's counts and its template reference.
fn expire_conn<A: Family>(t: &mut FamilyTables<A>, core: &mut Core, h: u32) {
    let c = *t.conns.get(h);
    {
        let FamilyTables { conns, index, .. } = t;
        let rehash = |o: u32, reply: bool| conn_key_hash(core, conns.get(o), reply);
        index.remove(conn_key_hash(core, &c, false), h, false, rehash);
        if c.flags & flags::REPLY_KEY != 0 {
            index.remove(conn_key_hash(core, &c, true), h, true, rehash);
        }
    }
    let r = &core.services.reals[c.real as usize];
    let counter = if c.flags & flags::INACTIVE != 0 { &r.counters.inactive } else { &r.counters.active };
    counter.fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
    r.counters.update_overload(r.upper_threshold, r.lower_threshold);
    if c.template != NO_TEMPLATE {
        let tp = t.templates.get_mut(c.template);
        tp.refs = tp.refs.saturating_sub(1);
    }
    t.conns.free(h);
    core.live -= 1;
}

/// `other`: the other family's tables, which share the connection capacity (eviction).
fn handle_family<A: Family>(
    t: &mut FamilyTables<A>,
    other: &mut dyn Evict,
    core: &mut Core,
    pkt: &mut Pkt,
    pre_hash: u64,
) -> Verdict {
    let p = pkt.p;
    let (Some(src), Some(dst)) = (A::from_ip(p.src), A::from_ip(p.dst)) else {
        return Verdict::Drop(DropReason::BadIpHeader);
    };
    if let Some(icmp) = p.icmp {
        return match icmp.quoted {
            Some(_) => icmp_error(t, core, pkt),
            None => Verdict::Pass,
        };
    }
    if p.proto != PROTO_TCP && p.proto != PROTO_UDP {
        return Verdict::Pass;
    }
    if let Some(fr) = p.frag {
        if !fr.is_first() {
            let fh = frag_hash(&core.hasher, src, dst, fr.id, p.proto);
            let Some(e) = t.frags.find(fh, src, dst, fr.id, p.proto, core.now) else {
                // Not ours at all (no service) goes to the kernel; ours without a first
                // fragment is dropped and counted.
                return if core.services.lookup(p.proto, p.dst, 0).is_some()
                    || core.services.is_real_endpoint(p.src)
                    || any_service_addr(core, p.proto, p.dst)
                {
                    Verdict::Drop(DropReason::FragNoFirst)
                } else {
                    Verdict::Pass
                };
            };
            // The connection must still be the one the first fragment went through: live
            // (its slot may have been freed or reused since), not past its deadline, and
            // with the same ports.
            let live = t.conns.is_live(e.conn) && {
                let c = t.conns.get(e.conn);
                c.deadline(core.now) > core.now
                    && c.proto == p.proto
                    && c.cport == e.cport
                    && c.vport == e.vport
                    && if e.reply { c.cip == dst } else { c.cip == src && c.vip == dst }
            };
            if !live {
                return Verdict::Drop(DropReason::FragNoFirst);
            }
            return forward(t, core, pkt, e.conn, e.reply, false);
        }
    }

    // The hash computed ahead by `pre_classify`, when there was one.
    let h = if pre_hash != 0 { pre_hash } else { key_hash(&core.hasher, p.proto, src, p.sport, dst, p.dport) };
    let found = {
        let conns = &t.conns;
        let core_ref: &Core = core;
        t.index.find(h, |o, reply| conn_matches(core_ref, conns.get(o), reply, p.proto, src, p.sport, dst, p.dport))
    };
    if let Some((ch, reply)) = found {
        let c = t.conns.get(ch);
        let expired = c.deadline(core.now) <= core.now;
        let reused = !reply
            && p.proto == PROTO_TCP
            && p.tcp_flags & (tcp_flags::SYN | tcp_flags::ACK | tcp_flags::RST) == tcp_flags::SYN
            && TcpState::from_u8(c.state).is_closing();
        if !expired && !reused {
            return forward(t, core, pkt, ch, reply, true);
        }
        expire_conn(t, core, ch);
        core.stats.conns_expired += 1;
    }

    let Some(sid) = core.services.lookup(p.proto, p.dst, p.dport) else {
        return Verdict::Pass;
    };
    new_connection(t, other, core, pkt, sid, src, dst, h)
}

/// Whether `addr` is the address of any service of `proto` (for strays without ports).
fn any_service_addr(core: &Core, proto: u8, addr: IpAddr) -> bool {
    core.services.services.iter().any(|s| s.live && s.spec.proto == proto && s.spec.vip == addr)
}

#[allow(clippy::too_many_arguments)]
fn new_connection<A: Family>(
    t: &mut FamilyTables<A>,
    other: &mut dyn Evict,
    core: &mut Core,
    pkt: &mut Pkt,
    sid: u16,
    src: A,
    dst: A,
    h: u64,
) -> Verdict {
    let p = pkt.p;
    if p.proto == PROTO_TCP && p.tcp_flags & (tcp_flags::SYN | tcp_flags::ACK | tcp_flags::RST) != tcp_flags::SYN {
        // A mid-connection segment with no connection (after a restart, or a flow that
        // expired). With a consistent-hash scheduler the flow maps to the real it had, so
        // the connection is picked up from its ACKs (IPVS's sloppy_tcp, applied only where
        // it is safe); with any other scheduler it would land on a stranger: drop.
        let resumable = p.tcp_flags & tcp_flags::RST == 0
            && p.tcp_flags & tcp_flags::ACK != 0
            && core.services.services[sid as usize].spec.persistence == 0
            && matches!(core.services.services[sid as usize].spec.scheduler.as_str(), "sh" | "dh" | "mh");
        if !resumable {
            return Verdict::Drop(DropReason::TcpNoConn);
        }
    }
    let now = core.now;
    let svc_spec_persist = core.services.services[sid as usize].spec.persistence;
    let flow = Flow { proto: p.proto, src: p.src, sport: p.sport, dst: p.dst, dport: p.dport };

    // Persistence: reuse the client's template when it is still valid.
    let mut template = NO_TEMPLATE;
    let mut real = None;
    if svc_spec_persist > 0 {
        let mask = core.services.services[sid as usize].spec.persistence_netmask;
        let client = src.mask(mask);
        let th = template_hash(&core.hasher, sid, client, dst);
        let hit = {
            let templates = &t.templates;
            t.template_index.find(th, |o, _| {
                let x = templates.get(o);
                x.service == sid && x.client == client && x.vip == dst
            })
        };
        if let Some((tid, _)) = hit {
            let tp = *t.templates.get(tid);
            let r = &core.services.reals[tp.real as usize];
            let valid = r.available && !(core.cfg.expire_quiescent_template && r.weight == 0);
            if valid {
                template = tid;
                real = Some(tp.real);
            } else {
                // Unlink it now; it is freed once its connections are gone.
                let FamilyTables { templates, template_index, .. } = t;
                template_index.remove(th, tid, false, |o, _| {
                    let x = templates.get(o);
                    template_hash(&core.hasher, x.service, x.client, x.vip)
                });
                r.counters.persistent.fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
                let tp = t.templates.get_mut(tid);
                tp.real = u32::MAX;
                tp.deadline = now as u32;
                t.templates.rearm(tid);
            }
        }
        if real.is_none() {
            let Some(rid) = schedule(core, sid, &flow) else {
                return Verdict::Drop(DropReason::NoReal);
            };
            let tp = Template { client, vip: dst, deadline: 0, real: rid, refs: 0, service: sid };
            // Template table full: the connection goes on without persistence.
            if let Some(tid) = t.templates.alloc(tp) {
                t.template_index.insert(th, tid, false);
                core.services.reals[rid as usize]
                    .counters
                    .persistent
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                core.stats.templates_created += 1;
                template = tid;
            }
            real = Some(rid);
        }
    } else {
        real = schedule(core, sid, &flow);
    }
    let Some(rid) = real else {
        return Verdict::Drop(DropReason::NoReal);
    };
    if template != NO_TEMPLATE {
        // Every connection through a template restarts its persistence timer.
        let tp = t.templates.get_mut(template);
        tp.deadline = (now + svc_spec_persist as u64 * 1000) as u32;
        tp.refs += 1;
    }

    let ops = core.services.services[sid as usize].spec.ops;
    let fwd = core.services.reals[rid as usize].forward;

    if ops && p.proto == PROTO_UDP {
        // One-packet scheduling: no connection entry, counted as a connection.
        core.stats.ops_scheduled += 1;
        core.services.services[sid as usize].stats.conns += 1;
        core.services.reals[rid as usize].stats.conns += 1;
        if template != NO_TEMPLATE {
            let tp = t.templates.get_mut(template);
            tp.refs -= 1;
        }
        let c = Conn {
            cip: src,
            vip: dst,
            real: rid,
            cport: p.sport,
            vport: p.dport,
            service: sid,
            proto: p.proto,
            flags: fwd_flag(fwd),
            in_port: pkt.in_port as u8,
            client_mac: pkt.peer_mac(),
            template: NO_TEMPLATE,
            ..Default::default()
        };
        return transmit(core, pkt, &c, false);
    }

    // Room in the table: evict the oldest half-open / idle UDP entry if full.
    if core.live >= core.cfg.max_connections && !evict_one(t, other, core) {
        if template != NO_TEMPLATE {
            t.templates.get_mut(template).refs -= 1;
        }
        return Verdict::Drop(DropReason::ConnTableFull);
    }

    let mut c = Conn {
        cip: src,
        vip: dst,
        deadline: 0,
        real: rid,
        template,
        cport: p.sport,
        vport: p.dport,
        service: sid,
        proto: p.proto,
        state: TcpState::None as u8,
        flags: fwd_flag(fwd) | flags::INACTIVE,
        in_port: pkt.in_port as u8,
        client_mac: pkt.peer_mac(),
    };
    let reply_hash = if fwd == Forward::Nat {
        c.flags |= flags::REPLY_KEY;
        let rh = conn_key_hash(core, &c, true);
        let r = &core.services.reals[rid as usize];
        let (rip, rport) = (A::from_ip(r.addr).unwrap_or_default(), r.port_for(p.dport));
        let clash = {
            let conns = &t.conns;
            let core_ref: &Core = core;
            t.index
                .find(rh, |o, reply| conn_matches(core_ref, conns.get(o), reply, p.proto, rip, rport, src, p.sport))
                .is_some()
        };
        if clash {
            if template != NO_TEMPLATE {
                t.templates.get_mut(template).refs -= 1;
            }
            return Verdict::Drop(DropReason::NatClash);
        }
        Some(rh)
    } else {
        None
    };
    // Deadline for now; `forward` sets the state's timeout right away.
    c.deadline = (core.now + 1000) as u32;
    let Some(ch) = t.conns.alloc(c) else {
        if template != NO_TEMPLATE {
            t.templates.get_mut(template).refs -= 1;
        }
        return Verdict::Drop(DropReason::ConnTableFull);
    };
    t.index.insert(h, ch, false);
    if let Some(rh) = reply_hash {
        t.index.insert(rh, ch, true);
    }
    core.live += 1;
    core.stats.conns_created += 1;
    let r = &mut core.services.reals[rid as usize];
    r.counters.inactive.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    r.counters.update_overload(r.upper_threshold, r.lower_threshold);
    r.stats.conns += 1;
    core.services.services[sid as usize].stats.conns += 1;
    forward(t, core, pkt, ch, false, true)
}

/// Ask the service's scheduler for a real; fall back to the sorry server.
fn schedule(core: &mut Core, sid: u16, flow: &Flow) -> Option<u32> {
    let now = core.now;
    let svc = &mut core.services.services[sid as usize];
    match svc.scheduler.schedule(&svc.dests, flow, now) {
        Some(i) => svc.dest_ids.get(i).copied(),
        None => svc.sorry.filter(|&s| core.services.reals[s as usize].available),
    }
}

/// Eviction candidates of one family's table. The capacity is shared by both families, so
/// a full table looks for the oldest candidate in both (`dyn`: only on the full path).
trait Evict {
    /// The evictable connection with the earliest deadline among the first `EVICT_SCAN`
    /// in deadline order: half-open TCP or UDP.
    fn oldest_evictable(&self, core: &Core) -> Option<(u32, u64)>;
    /// Evict connection `h`.
    fn evict(&mut self, core: &mut Core, h: u32);
}

impl<A: Family> Evict for FamilyTables<A> {
    fn oldest_evictable(&self, core: &Core) -> Option<(u32, u64)> {
        let now = core.now;
        let mut best: Option<(u32, u64)> = None;
        let conns = &self.conns;
        conns.scan_oldest(EVICT_SCAN, |h| {
            let c = conns.get(h);
            let evictable = c.proto == PROTO_UDP || TcpState::from_u8(c.state).is_half_open();
            if evictable {
                let d = c.deadline(now);
                if best.is_none_or(|(_, bd)| d < bd) {
                    best = Some((h, d));
                }
            }
        });
        best
    }

    fn evict(&mut self, core: &mut Core, h: u32) {
        expire_conn(self, core, h);
        core.stats.conns_evicted += 1;
    }
}

/// Evict the oldest half-open TCP or idle UDP connection of either family (`t` wins a
/// tie). Returns whether one was evicted.
fn evict_one<A: Family>(t: &mut FamilyTables<A>, other: &mut dyn Evict, core: &mut Core) -> bool {
    match (t.oldest_evictable(core), other.oldest_evictable(core)) {
        (Some((h, d)), Some((_, od))) if d <= od => t.evict(core, h),
        (Some((h, _)), None) => t.evict(core, h),
        (_, Some((h, _))) => other.evict(core, h),
        (None, None) => return false,
    }
    true
}

/// A packet of an existing connection: state, timers, counters, rewrite.
fn forward<A: Family>(
    t: &mut FamilyTables<A>,
    core: &mut Core,
    pkt: &mut Pkt,
    ch: u32,
    reply: bool,
    has_l4: bool,
) -> Verdict {
    let p = pkt.p;
    let now = core.now;
    let c = *t.conns.get(ch);
    let r = &core.services.reals[c.real as usize];
    if !r.available && core.cfg.expire_nodest_conn {
        expire_conn(t, core, ch);
        core.stats.conns_expired += 1;
        return Verdict::Drop(DropReason::NoDest);
    }

    // State and timeout.
    let fwd = flag_fwd(c.flags);
    let mut nc = c;
    let timeout = if c.proto == PROTO_TCP {
        if has_l4 {
            let dir = match (reply, fwd) {
                (true, _) => Direction::Output,
                (false, Forward::Nat) => Direction::Input,
                (false, _) => Direction::InputOnly,
            };
            let old = TcpState::from_u8(c.state);
            let new = next_state(old, dir, p.tcp_flags);
            if new != old {
                nc.state = new as u8;
                let was_inactive = c.flags & flags::INACTIVE != 0;
                let ord = std::sync::atomic::Ordering::Relaxed;
                if !was_inactive && new != TcpState::Established {
                    r.counters.active.fetch_sub(1, ord);
                    r.counters.inactive.fetch_add(1, ord);
                    nc.flags |= flags::INACTIVE;
                } else if was_inactive && new == TcpState::Established {
                    r.counters.inactive.fetch_sub(1, ord);
                    r.counters.active.fetch_add(1, ord);
                    nc.flags &= !flags::INACTIVE;
                }
            }
        }
        core.cfg.timeouts.tcp[nc.state as usize] as u64
    } else {
        core.cfg.timeouts.udp as u64
    };
    let old_deadline = c.deadline(now);
    let new_deadline = now + timeout;
    nc.deadline = new_deadline as u32;
    *t.conns.get_mut(ch) = nc;
    if new_deadline < old_deadline {
        t.conns.rearm(ch);
    }

    let v = transmit(core, pkt, &nc, reply);
    if let (Verdict::Tx { .. }, Some(fr)) = (v, p.frag) {
        if fr.is_first() {
            if let (Some(src), Some(dst)) = (A::from_ip(p.src), A::from_ip(p.dst)) {
                let fh = frag_hash(&core.hasher, src, dst, fr.id, p.proto);
                t.frags.record(
                    fh,
                    FragEntry {
                        src,
                        dst,
                        id: fr.id,
                        proto: p.proto,
                        valid: true,
                        reply,
                        conn: ch,
                        cport: nc.cport,
                        vport: nc.vport,
                        deadline: now + FRAG_TIMEOUT_MS,
                    },
                );
            }
        }
    }
    v
}

/// Rewrite and address a packet of connection `c` (request or reply direction).
fn transmit<A: Family>(core: &mut Core, pkt: &mut Pkt, c: &Conn<A>, reply: bool) -> Verdict {
    let p = pkt.p;
    let bytes = p.ip_len as u64;
    let own = pkt.own_mac();
    let r = &core.services.reals[c.real as usize];
    if reply {
        if p.ttl <= 1 {
            return Verdict::Drop(DropReason::TtlExpired);
        }
        if let Err(e) = proto::nat_reply(pkt.frame(), &p, c.vip.to_ip(), c.vport) {
            return Verdict::Drop(rewrite_drop(e));
        }
        let out = c.in_port as u16;
        let src = core.src_mac(out, own);
        proto::set_macs(pkt.frame(), c.client_mac, src);
        let r = &mut core.services.reals[c.real as usize];
        r.stats.pkts_out += 1;
        r.stats.bytes_out += bytes;
        let s = &mut core.services.services[c.service as usize].stats;
        s.pkts_out += 1;
        s.bytes_out += bytes;
        return Verdict::Tx { port: out };
    }

    let Some(mac) = r.mac else {
        return Verdict::Drop(DropReason::NeighborMiss);
    };
    let egress = r.egress;
    let fwd = flag_fwd(c.flags);
    let overhead = match (fwd, p.is_v6()) {
        (Forward::Tun, false) => 20u32,
        (Forward::Tun, true) => 40,
        _ => 0,
    };
    let mtu = core.cfg.mtu as u32;
    if p.ip_len as u32 + overhead > mtu {
        if p.df || p.is_v6() {
            let inner_mtu = (mtu.saturating_sub(overhead)) as u16;
            return match proto::icmp_too_big(pkt.buf, pkt.head, pkt.len, &p, inner_mtu) {
                Ok(()) => {
                    core.stats.icmp_too_big_sent += 1;
                    Verdict::Tx { port: pkt.in_port }
                }
                Err(e) => Verdict::Drop(rewrite_drop(e)),
            };
        }
        return Verdict::Drop(DropReason::MtuExceeded);
    }
    let res = match fwd {
        Forward::Nat => proto::nat_request(pkt.frame(), &p, r.addr, r.port_for(c.vport)),
        Forward::Dr => Ok(()),
        Forward::Tun => {
            let outer_src = match r.addr {
                IpAddr::V4(_) => core.cfg.address4.map(IpAddr::V4),
                IpAddr::V6(_) => core.cfg.address6.map(IpAddr::V6),
            };
            let Some(outer_src) = outer_src else {
                return Verdict::Drop(DropReason::NoTunnelSource);
            };
            proto::tun_encap(pkt.buf, pkt.head, pkt.len, &p, outer_src, r.addr)
        }
    };
    if let Err(e) = res {
        return Verdict::Drop(rewrite_drop(e));
    }
    let out = egress.unwrap_or(pkt.in_port);
    let src = core.src_mac(out, own);
    proto::set_macs(pkt.frame(), mac, src);
    let r = &mut core.services.reals[c.real as usize];
    r.stats.pkts_in += 1;
    r.stats.bytes_in += bytes;
    let s = &mut core.services.services[c.service as usize].stats;
    s.pkts_in += 1;
    s.bytes_in += bytes;
    Verdict::Tx { port: out }
}

/// An ICMP error whose quoted header may belong to a connection: forward it to the side
/// that sent the quoted packet, with the quote rewritten as the packet itself was.
fn icmp_error<A: Family>(t: &mut FamilyTables<A>, core: &mut Core, pkt: &mut Pkt) -> Verdict {
    let p = pkt.p;
    let Some(q) = p.icmp.and_then(|i| i.quoted) else {
        return Verdict::Pass;
    };
    if q.proto != PROTO_TCP && q.proto != PROTO_UDP {
        return Verdict::Pass;
    }
    let (Some(qsrc), Some(qdst)) = (A::from_ip(q.src), A::from_ip(q.dst)) else {
        return Verdict::Pass;
    };
    // The quoted packet went qsrc -> qdst; the error travels the other way, so the
    // connection key is the quote reversed.
    let h = key_hash(&core.hasher, q.proto, qdst, q.dport, qsrc, q.sport);
    let found = {
        let conns = &t.conns;
        let core_ref: &Core = core;
        t.index.find(h, |o, reply| conn_matches(core_ref, conns.get(o), reply, q.proto, qdst, q.dport, qsrc, q.sport))
    };
    let Some((ch, reply)) = found else {
        return Verdict::Pass;
    };
    let c = *t.conns.get(ch);
    let own = pkt.own_mac();
    let r = &core.services.reals[c.real as usize];
    let bytes = p.ip_len as u64;
    if !reply {
        // From the client's side, about a reply the client got from the VIP.
        let Some(mac) = r.mac else {
            return Verdict::Drop(DropReason::NeighborMiss);
        };
        let rport = r.port_for(c.vport);
        let res = match flag_fwd(c.flags) {
            Forward::Nat => proto::nat_icmp(pkt.frame(), &p, None, Some(r.addr), Some((r.addr, rport)), None, false),
            Forward::Dr => Ok(()),
            Forward::Tun => {
                let outer_src = match r.addr {
                    IpAddr::V4(_) => core.cfg.address4.map(IpAddr::V4),
                    IpAddr::V6(_) => core.cfg.address6.map(IpAddr::V6),
                };
                let Some(outer_src) = outer_src else {
                    return Verdict::Drop(DropReason::NoTunnelSource);
                };
                proto::tun_encap(pkt.buf, pkt.head, pkt.len, &p, outer_src, r.addr)
            }
        };
        if let Err(e) = res {
            return Verdict::Drop(rewrite_drop(e));
        }
        let out = core.services.reals[c.real as usize].egress.unwrap_or(pkt.in_port);
        let src = core.src_mac(out, own);
        proto::set_macs(pkt.frame(), mac, src);
        let r = &mut core.services.reals[c.real as usize];
        r.stats.pkts_in += 1;
        r.stats.bytes_in += bytes;
        let s = &mut core.services.services[c.service as usize].stats;
        s.pkts_in += 1;
        s.bytes_in += bytes;
        Verdict::Tx { port: out }
    } else {
        // From the real's side (or a router past it), about a packet toward the real.
        if p.ttl <= 1 {
            return Verdict::Drop(DropReason::TtlExpired);
        }
        let vip = c.vip.to_ip();
        if let Err(e) = proto::nat_icmp(pkt.frame(), &p, Some(vip), None, None, Some((vip, c.vport)), true) {
            return Verdict::Drop(rewrite_drop(e));
        }
        let out = c.in_port as u16;
        let src = core.src_mac(out, own);
        proto::set_macs(pkt.frame(), c.client_mac, src);
        let r = &mut core.services.reals[c.real as usize];
        r.stats.pkts_out += 1;
        r.stats.bytes_out += bytes;
        let s = &mut core.services.services[c.service as usize].stats;
        s.pkts_out += 1;
        s.bytes_out += bytes;
        Verdict::Tx { port: out }
    }
}
