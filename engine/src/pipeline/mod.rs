//! The pipeline: `handle_batch(batch, now) -> verdicts`. Sans-I/O: it reads no clock, makes no
//! system call and allocates nothing per packet.
//!
//! This module owns the [`Engine`] (its construction, configuration, accessors) and the
//! batch loop with its prefetch stages from [`STAGE_FROM`] live connections on; below,
//! `direct` runs the one-pass loop. The stages are one file each and are reached from
//! here: `fast` (the common case, through a lane of the tables), `input` (which path a
//! packet takes), `flow` (flow keys and connection lookup), `new_conn` (scheduling a new connection), `persist` (templates),
//! `bind` (every per-real counter), `evict`, `forward` (a packet of a known connection),
//! `xmit` (rewrite and address per method), `icmp`, `frag`, `expiry`, `listing`.
//!
//! Invariants:
//! - The clock only moves forward, through the `now` (nanoseconds) of `handle_batch` and
//!   `handle_timeout`; earlier values are treated as the last one seen.
//! - Every frame gets exactly one verdict and is counted once (`EngineStats::count`, or
//!   with the frames transmitted in its group or run, `EngineStats::count_sent`): here,
//!   in `direct`, or by the fast path's run that took it (`fast::run`).
//! - Expiry work per batch is bounded: `EngineConfig::expiry_budget` steps, plus one for
//!   each connection bound since the last reap (at most [`MAX_PACE`]), so that expiry
//!   keeps pace with creation while a backlog (a mass expiry) drains a few connections
//!   per batch instead of stalling the batches that carry traffic. A connection whose
//!   deadline has passed but was not reaped yet is expired when a packet finds it, so
//!   lagging reaping never keeps a dead connection alive.
//! - A connection keeps its real until it expires, whatever reloads happen meanwhile;
//!   with `expire_nodest_conn`, a connection whose real was removed expires at its next
//!   packet, which is dropped (IPVS's behaviour).

mod bind;
mod classified;
mod direct;
mod evict;
mod expiry;
mod fast;
mod flow;
mod forward;
mod frag;
mod homes;
mod icmp;
mod input;
mod listing;
mod new_conn;
mod persist;
mod sync_in;
mod sync_out;
mod verify;
mod xmit;

use std::net::IpAddr;

use xvs_proto::fast::{parse_v4, parse_v6, Flow, V4Flow, V6Flow};
use xvs_proto::{classify, ClassifyError, Packet, PROTO_SCTP, PROTO_TCP, PROTO_UDP};

use crate::conn::FamilyTables;
use crate::port::{PacketBuf, Verdict};
use crate::services::{ServiceTable, SharedCounters};
use crate::spec::EngineConfig;
use crate::stats::{DropReason, EngineStats};
use crate::sync::{SyncOutbox, SyncOutcome};
use crate::EngineError;
use direct::FastFamily;
use flow::FlowKey;
use xvs_proto::ipvs_sync::SyncConn;

pub use classified::Classified;
pub use listing::{ConnInfo, ListCursor};

/// The engine's state but its per-family tables (split so both can be borrowed at once):
/// configuration, services and reals, counters, the flow hasher and the clock.
#[derive(Debug)]
pub struct Ctx {
    pub cfg: EngineConfig,
    pub services: ServiceTable,
    pub stats: EngineStats,
    hasher: flow::Hasher,
    now: u64,
    /// Live connections of both families (they share the capacity).
    live: u32,
    /// Connections bound since the last reap: the next reap may take as many more steps.
    bound_since_reap: u32,
    /// Connections to sync, while a sync master.
    sync: SyncOutbox,
    /// ICMP errors the director sends on its own (`ratelimit`).
    icmp: crate::ratelimit::TokenBucket,
}

/// The flow hasher for `seed`: four keys spread from it (splitmix64), so that every bit
/// of the seed changes every key; seed 0 (replay, tests, bench) keeps the keys the
/// engine always had, so recorded outputs and instruction counts carry over.
fn hasher_for(seed: u64) -> flow::Hasher {
    if seed == 0 {
        return flow::Hasher::new([
            0x243f_6a88_85a3_08d3,
            0x1319_8a2e_0370_7344,
            0xa409_3822_299f_31d0,
            0x082e_fa98_ec4e_6c89,
        ]);
    }
    let mut x = seed;
    let mut next = || {
        x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = x;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    };
    flow::Hasher::new([next(), next(), next(), next()])
}

/// One poll core's engine.
#[derive(Debug)]
pub struct Engine {
    v4: FamilyTables<u32>,
    v6: FamilyTables<u128>,
    cx: Ctx,
    /// Whether common-case packets take `fast` (always, but in the tests that
    /// compare it with the general path).
    fast_path: bool,
    /// Live connections from which `handle_batch` runs its prefetch stages
    /// ([`STAGE_FROM`] but in the tests and benches that compare the two loops).
    stage_from: u32,
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
        let hasher = hasher_for(cfg.hash_seed);
        let mut services = ServiceTable::with_shared(shared);
        services.apply(&cfg)?;
        Ok(Engine {
            v4: FamilyTables::new(cfg.max_connections, now),
            v6: FamilyTables::new(cfg.max_connections, now),
            cx: Ctx {
                cfg,
                services,
                stats: EngineStats::default(),
                hasher,
                now,
                live: 0,
                bound_since_reap: 0,
                sync: SyncOutbox::default(),
                icmp: crate::ratelimit::TokenBucket::default(),
            },
            fast_path: true,
            stage_from: STAGE_FROM,
        })
    }

    /// Replace the services, timeouts and options atomically; established connections keep
    /// their reals. An invalid config changes nothing. (Capacity is fixed at creation.)
    pub fn apply(&mut self, cfg: EngineConfig) -> Result<(), EngineError> {
        self.cx.services.apply(&cfg)?;
        let (max, seed) = (self.cx.cfg.max_connections, self.cx.cfg.hash_seed);
        self.cx.cfg = cfg;
        self.cx.cfg.max_connections = max;
        self.cx.cfg.hash_seed = seed;
        Ok(())
    }

    /// The engine's large tables (connections, templates, their indexes and timer links,
    /// both families) as (address, bytes): reserved up front, touched as they fill. The
    /// shell may advise the kernel on them (huge pages, `madvise`); the engine itself makes
    /// no system call.
    pub fn table_spans(&self) -> Vec<(usize, usize)> {
        self.v4.spans().chain(self.v6.spans()).filter(|&(_, len)| len > 0).collect()
    }

    /// Turn the fast path off or on (on by default). It changes no result, only the
    /// cost: the tests and the bench compare the two.
    pub fn set_fast_path(&mut self, on: bool) {
        self.fast_path = on;
    }

    /// Run `handle_batch`'s prefetch stages only while at least `live` connections are
    /// live ([`STAGE_FROM`] by default; 0: always, `u32::MAX`: never). It changes no
    /// result, only the cost: the tests and the bench compare the two loops.
    pub fn set_stage_from(&mut self, live: u32) {
        self.stage_from = live;
    }

    pub fn stats(&self) -> &EngineStats {
        &self.cx.stats
    }

    pub fn services(&self) -> &ServiceTable {
        &self.cx.services
    }

    pub fn config(&self) -> &EngineConfig {
        &self.cx.cfg
    }

    /// Live connections (IPv4 + IPv6).
    pub fn live_connections(&self) -> u32 {
        self.cx.live
    }

    /// Keys in the connection indexes (IPv4 + IPv6): one per live DR/TUN connection, two
    /// per live NAT connection (request and reply). Counted by looking at every slot, so
    /// for checks (tests, diagnostics), not for a loop: a count that differs from what the
    /// live connections account for means a key was left behind or lost.
    pub fn indexed_keys(&self) -> usize {
        self.v4.index.occupied() + self.v6.index.occupied()
    }

    /// Live persistence templates.
    pub fn live_templates(&self) -> u32 {
        self.v4.templates.live() + self.v6.templates.live()
    }

    /// The engine's clock in milliseconds.
    pub fn now_ms(&self) -> u64 {
        self.cx.now
    }

    /// Replace the next hops (the reals' MACs), keeping everything else.
    pub fn set_neighbors(&mut self, neighbors: &[crate::spec::NeighborSpec]) {
        self.cx.services.set_neighbors(neighbors);
        self.cx.cfg.neighbors = neighbors.to_vec();
    }

    /// Up to `max` live connections (the live view of `xvs demo`): stops after `max`,
    /// so it stays cheap whatever the table holds.
    pub fn connections_sample(&self, max: usize) -> Vec<ConnInfo> {
        let mut out = Vec::with_capacity(max);
        listing::collect(&self.v4, &self.cx, max, &mut out);
        listing::collect(&self.v6, &self.cx, max, &mut out);
        out
    }

    /// One page of the connection listing: up to `max` live connections from `cursor` on,
    /// and where the next page starts (`None`: this was the last). The work is bounded by
    /// `max` (plus free slots), so a poll loop serves a large table's listing a page between
    /// batches instead of stalling forwarding (see `listing`).
    pub fn connections_page(&self, cursor: ListCursor, max: usize) -> (Vec<ConnInfo>, Option<ListCursor>) {
        let mut out = Vec::with_capacity(max.min(1 << 16));
        if !cursor.v6 {
            if let Some(h) = listing::collect_from(&self.v4, &self.cx, cursor.handle, max, &mut out) {
                return (out, Some(ListCursor { v6: false, handle: h }));
            }
        }
        let from = if cursor.v6 { cursor.handle } else { 0 };
        let next = listing::collect_from(&self.v6, &self.cx, from, max, &mut out);
        (out, next.map(|h| ListCursor { v6: true, handle: h }))
    }

    /// Every live connection (slow path).
    pub fn connections(&self) -> Vec<ConnInfo> {
        let mut out = Vec::new();
        listing::collect(&self.v4, &self.cx, usize::MAX, &mut out);
        listing::collect(&self.v6, &self.cx, usize::MAX, &mut out);
        out
    }

    /// Start or stop recording connections for a sync master (`poll_sync` hands them out).
    pub fn set_sync_master(&mut self, on: bool) {
        self.cx.sync.master = on;
        if !on {
            self.cx.sync.drain(|_| {});
        }
    }

    pub fn is_sync_master(&self) -> bool {
        self.cx.sync.master
    }

    /// Hand the connections recorded for sync since the last call to `f`, oldest first.
    pub fn poll_sync(&mut self, f: impl FnMut(&SyncConn)) {
        self.cx.sync.drain(f);
    }

    /// Install entry `s` received from a sync master (IPVS's backup side), at `now_ns`.
    pub fn handle_sync(&mut self, s: &SyncConn, now_ns: u64) -> SyncOutcome {
        self.cx.now = (now_ns / 1_000_000).max(self.cx.now);
        let outcome = match s.caddr {
            IpAddr::V4(_) => sync_in::install(&mut self.v4, &mut self.v6, &mut self.cx, s),
            IpAddr::V6(_) => sync_in::install(&mut self.v6, &mut self.v4, &mut self.cx, s),
        };
        self.cx.stats.sync.received[outcome as usize] += 1;
        outcome
    }

    /// Move the clock to `now_ns` and do a bounded amount of expiry work, without
    /// processing frames (the poll loops call this when idle).
    ///
    /// Never inlined: `scripts/lifecycle-instructions.sh` counts what expiry costs as the
    /// instructions inside this function (one call per batch either way).
    #[inline(never)]
    pub fn handle_timeout(&mut self, now_ns: u64) {
        let now = (now_ns / 1_000_000).max(self.cx.now);
        self.cx.now = now;
        self.v4.conns.advance(now);
        self.v6.conns.advance(now);
        self.v4.templates.advance(now);
        self.v6.templates.advance(now);
        let pace = std::mem::take(&mut self.cx.bound_since_reap).min(MAX_PACE);
        let mut budget = self.cx.cfg.expiry_budget.saturating_add(pace);
        expiry::reap(&mut self.v4, &mut self.cx, &mut budget);
        expiry::reap(&mut self.v6, &mut self.cx, &mut budget);
    }

    /// Whether expiry work is waiting (a mass expiry spreads over several batches).
    pub fn expiry_pending(&self) -> bool {
        self.v4.conns.has_due() || self.v6.conns.has_due() || self.v4.templates.has_due() || self.v6.templates.has_due()
    }

    /// Process a batch: rewrite frames in place and give each a verdict.
    /// `verdicts` must be at least as long as `frames`.
    ///
    /// With at least [`STAGE_FROM`] live connections, frames are handled in groups of
    /// [`STAGE`]: all are classified and hashed first and their index slots prefetched,
    /// then the candidate connection entries are prefetched, then each frame is handled.
    /// The loads of a group overlap instead of each packet waiting for its own cache
    /// misses in turn. With fewer, the tables are in the cache and the stages would only
    /// add work: each frame goes from its bytes to its verdict in one pass
    /// (`direct::handle_direct`), the same steps without the prefetches and the class
    /// kept between them, consecutive common-case frames through one lane of the fast
    /// path.
    ///
    /// Never inlined (nor is `handle_classified`): the batch loop is large, and what its
    /// caller's code does to register allocation around it showed as +10 instructions per
    /// packet.
    #[inline(never)]
    pub fn handle_batch<F: PacketBuf>(&mut self, frames: &mut [F], now_ns: u64, verdicts: &mut [Verdict]) {
        self.handle_timeout(now_ns);
        let n = frames.len().min(verdicts.len());
        if !self.staged() {
            self.handle_direct(&mut frames[..n], &mut verdicts[..n]);
            return;
        }
        // Written in place per group (a returned class would be copied, Packet and all).
        let mut pre = [Classified::EMPTY; STAGE];
        let mut start = 0;
        while start < n {
            let end = (start + STAGE).min(n);
            let group = &mut frames[start..end];
            for (f, pr) in group.iter_mut().zip(pre.iter_mut()) {
                self.pre_classify(f, pr);
            }
            self.handle_group(group, &pre[..end - start], &mut verdicts[start..end], true);
            start = end;
        }
    }

    /// [`handle_batch`](Self::handle_batch) for frames this engine classified already
    /// ([`classify`](Self::classify), or [`adopt`](Self::adopt) for another core's class):
    /// `classes[i]` is frame `i`'s, as the frame is now. A poll loop that classified its
    /// frames to choose their owning core does not pay for it twice, and the index loads
    /// the classification started have had that much longer to arrive. The connection
    /// entries are prefetched, a group of frames ahead, as in `handle_batch`'s stages,
    /// from the same number of live connections on. Frames beyond `classes` get no
    /// verdict (`verdicts` and `classes` must be as long as `frames`).
    #[inline(never)]
    pub fn handle_classified<F: PacketBuf>(
        &mut self,
        frames: &mut [F],
        classes: &[Classified],
        now_ns: u64,
        verdicts: &mut [Verdict],
    ) {
        self.handle_timeout(now_ns);
        let n = frames.len().min(verdicts.len()).min(classes.len());
        let prefetch = self.staged();
        let mut start = 0;
        while start < n {
            let end = (start + STAGE).min(n);
            self.handle_group(&mut frames[start..end], &classes[start..end], &mut verdicts[start..end], prefetch);
            start = end;
        }
    }

    /// Stages 2 and 3 of a group of classified frames: prefetch the connection entries
    /// the index slots point at (when `prefetch`: with fewer than `stage_from` live
    /// connections the entries are in the cache), then handle each frame.
    #[inline(always)]
    fn handle_group<F: PacketBuf>(
        &mut self,
        group: &mut [F],
        pre: &[Classified],
        verdicts: &mut [Verdict],
        prefetch: bool,
    ) {
        if prefetch {
            for pr in pre {
                self.prefetch_conn(pr);
            }
        }
        // Frames transmitted are counted once for the group (`EngineStats::count_sent`),
        // the others as they come (as in `fast::run`).
        let (mut handled, mut not_sent) = (0, 0);
        for ((f, v), pr) in group.iter_mut().zip(verdicts.iter_mut()).zip(pre.iter()) {
            // The common case first, without the general path's frame: only when it
            // declines does the frame go the general way.
            *v = match &pr.class {
                Class::Fast4(v4) => self.forward_one(f, pr, v4),
                Class::Fast6(v6) => self.forward_one(f, pr, v6),
                Class::Full(_) => self.handle(f, pr, None),
            };
            if !matches!(v, Verdict::Tx { .. }) {
                self.count(v);
                not_sent += 1;
            }
            handled += 1;
        }
        self.cx.stats.count_sent(handled - not_sent);
    }

    /// Whether the tables are large enough for the prefetch stages (`stage_from`).
    #[inline(always)]
    fn staged(&self) -> bool {
        self.cx.live >= self.stage_from
    }

    /// Count a frame's verdict.
    #[inline(always)]
    fn count(&mut self, v: &Verdict) {
        self.cx.stats.count(v);
    }

    /// The fast path for one frame `v` classified beforehand (the staged loop). Its lane
    /// is taken once the lookup has found the connection: the tables' bases are then
    /// loaded where they are used, not kept across the lookup.
    #[inline(always)]
    fn forward_one<F: PacketBuf, A: FastFamily>(&mut self, f: &mut F, pr: &Classified, v: &Flow<A>) -> Verdict {
        let (t, cx) = A::tables(self);
        let o = match flow::find_conn(t, cx, pr.hash, &fast::key(v)) {
            Some((ch, reply)) => fast::Lane::new(t, cx).decide(f, v, ch, reply),
            None => fast::Fast::Declined(None),
        };
        self.settle(f, pr, o)
    }

    /// Classify a frame into `pre` (see `classify_bytes`).
    #[inline(always)]
    fn pre_classify<F: PacketBuf>(&self, f: &mut F, pre: &mut Classified) {
        let (buf, head, len) = f.parts();
        match buf.get(*head..*head + *len) {
            Some(frame) => self.classify_bytes(frame, pre),
            None => *pre = Classified::EMPTY,
        }
    }

    /// Classify `frame` into `pre` and, for a TCP/UDP/SCTP packet with ports, hash its
    /// flow key and prefetch the index slot it will probe.
    #[inline(always)]
    fn classify_bytes(&self, frame: &[u8], pre: &mut Classified) {
        if self.fast_path {
            if let Some(v) = parse_v4(frame) {
                self.pre_fast4(v, pre);
                return;
            }
            if let Some(v) = parse_v6(frame) {
                self.pre_fast6(v, pre);
                return;
            }
        }
        self.classify_full(frame, pre);
    }

    /// Classify `frame` the general way into `pre` (the class, then `pre_full`).
    #[inline(always)]
    fn classify_full(&self, frame: &[u8], pre: &mut Classified) {
        pre.class = Class::Full(classify(frame));
        self.pre_full(pre);
    }

    /// `pre` from a class made earlier (by another core's engine, whose hash keys and
    /// fast path setting are the same but in tests: both are redone here).
    #[inline]
    fn pre_from(&self, class: &Class, pre: &mut Classified) {
        match class {
            Class::Fast4(v) if self.fast_path => self.pre_fast4(*v, pre),
            Class::Fast6(v) if self.fast_path => self.pre_fast6(*v, pre),
            // The same packet the general way (this engine's fast path is off).
            Class::Fast4(v) => pre.class = Class::Full(Ok(v.packet())),
            Class::Fast6(v) => pre.class = Class::Full(Ok(v.packet())),
            Class::Full(r) => pre.class = Class::Full(*r),
        }
        if matches!(pre.class, Class::Full(_)) {
            self.pre_full(pre);
        }
    }

    /// `pre` for a common-case IPv4 frame: its hash, its index slot prefetched.
    #[inline(always)]
    fn pre_fast4(&self, v: V4Flow, pre: &mut Classified) {
        let h = fast::key(&v).hash(&self.cx.hasher);
        self.v4.index.prefetch(h);
        pre.class = Class::Fast4(v);
        pre.hash = h;
        pre.v6 = false;
    }

    /// `pre` for a common-case IPv6 frame.
    #[inline(always)]
    fn pre_fast6(&self, v: V6Flow, pre: &mut Classified) {
        let h = fast::key(&v).hash(&self.cx.hasher);
        self.v6.index.prefetch(h);
        pre.class = Class::Fast6(v);
        pre.hash = h;
        pre.v6 = true;
    }

    /// The rest of `pre` for a frame classified the general way (`pre.class` set).
    #[inline(always)]
    fn pre_full(&self, pre: &mut Classified) {
        pre.hash = 0;
        pre.v6 = false;
        if let Class::Full(Ok(p)) = &pre.class {
            let ported = matches!(p.proto, PROTO_TCP | PROTO_UDP | PROTO_SCTP) && p.frag.is_none_or(|fr| fr.is_first());
            if ported {
                match (p.src, p.dst) {
                    (IpAddr::V4(s), IpAddr::V4(d)) => {
                        let h = FlowKey::new(p, u32::from(s), u32::from(d)).hash(&self.cx.hasher);
                        self.v4.index.prefetch(h);
                        pre.hash = h;
                    }
                    (IpAddr::V6(s), IpAddr::V6(d)) => {
                        let h = FlowKey::new(p, u128::from(s), u128::from(d)).hash(&self.cx.hasher);
                        self.v6.index.prefetch(h);
                        pre.hash = h;
                        pre.v6 = true;
                    }
                    _ => {}
                }
            }
        }
    }

    /// The verdict of common-case frame `pr` once the fast path gave its lane back: its
    /// own, or the general path's (with what the fast path's lookup found).
    #[inline(always)]
    fn settle<F: PacketBuf>(&mut self, f: &mut F, pr: &Classified, o: fast::Fast) -> Verdict {
        match o {
            fast::Fast::Done(verdict) => verdict,
            fast::Fast::Declined(found) => self.handle(f, pr, Some(found)),
        }
    }

    /// Prefetch the connection entry a pre-classified frame will most likely look at.
    #[inline]
    fn prefetch_conn(&self, pr: &Classified) {
        if pr.hash == 0 {
            return;
        }
        if pr.v6 {
            if let Some(h) = self.v6.index.first_candidate(pr.hash) {
                self.v6.conns.prefetch(h);
            }
        } else if let Some(h) = self.v4.index.first_candidate(pr.hash) {
            self.v4.conns.prefetch(h);
        }
    }

    /// The general path: every packet the fast path does not take. `found`: what the fast
    /// path's lookup found, when it looked (`input::handle_family`).
    #[inline(never)]
    fn handle<F: PacketBuf>(&mut self, f: &mut F, pre: &Classified, found: Option<Option<(u32, bool)>>) -> Verdict {
        let in_port = f.port();
        let (buf, head, len) = f.parts();
        let p = match pre.class {
            // Declined by the fast path: the same packet, the general way.
            Class::Fast4(v) => v.packet(),
            Class::Fast6(v) => v.packet(),
            Class::Full(Ok(p)) => p,
            Class::Full(Err(e)) => {
                return match DropReason::from_classify(e) {
                    Some(r) => Verdict::Drop(r),
                    None => Verdict::Pass,
                }
            }
        };
        let parsed = matches!(pre.class, Class::Fast4(_) | Class::Fast6(_));
        let mut pkt = Pkt { buf, head, len, p: &p, in_port, parsed };
        match p.src {
            IpAddr::V4(_) => input::handle_family(&mut self.v4, &mut self.v6, &mut self.cx, &mut pkt, pre.hash, found),
            IpAddr::V6(_) => input::handle_family(&mut self.v6, &mut self.v4, &mut self.cx, &mut pkt, pre.hash, found),
        }
    }
}

/// Live connections from which `handle_batch` prefetches (per engine, so per poll core).
/// Below, the tables a batch touches fit in a core's L2 cache (a 40-byte entry and an
/// index line or two per connection: 4096 connections touch at most ~0.7 MB) and the
/// prefetch stages cost more than they save. Measured (`xvs-bench engine --stage-from`,
/// README): the one-pass loop is as fast or faster up to 16 000 flows, 1.4 times slower
/// at 64 000 and 2.2 times at 256 000; the threshold stays well below the crossing.
pub const STAGE_FROM: u32 = 4096;

/// Frames per prefetch group in `handle_batch`.
const STAGE: usize = 16;

/// Most extra expiry steps a reap takes for the connections bound since the last one
/// (sync can install thousands between two batches; the rest waits for later batches).
const MAX_PACE: u32 = 256;

/// How a frame was classified: the common case in raw form (per family), or the general
/// way.
#[derive(Clone, Copy, Debug)]
enum Class {
    Fast4(V4Flow),
    Fast6(V6Flow),
    Full(Result<Packet, ClassifyError>),
}

/// A frame being handled: its buffer, position and classification. The classification
/// is borrowed: a `Packet` is over a hundred bytes, and the general path's steps each
/// took a copy of it when it was held by value.
struct Pkt<'a> {
    buf: &'a mut [u8],
    head: &'a mut usize,
    len: &'a mut usize,
    p: &'a Packet,
    in_port: u16,
    /// The frame is one `xvs_proto::fast`'s parser accepted, unchanged since, and `p` is
    /// its packet: its NAT needs no second check of the frame against `p` (`xmit::nat`).
    /// Only the transmit writes a frame of the general path, after which nothing reads
    /// this.
    parsed: bool,
}

impl Pkt<'_> {
    #[inline]
    fn frame(&mut self) -> &mut [u8] {
        &mut self.buf[*self.head..*self.head + *self.len]
    }
    /// The frame and its classification, borrowed together (no copy of the `Packet`).
    #[inline]
    fn frame_and_packet(&mut self) -> (&mut [u8], &Packet) {
        (&mut self.buf[*self.head..*self.head + *self.len], self.p)
    }
    /// The director's own MAC: the destination MAC of the frame that arrived.
    #[inline]
    fn own_mac(&mut self) -> [u8; 6] {
        mac_at(self.frame(), 0)
    }
    /// The MAC of the neighbour the frame came from (its source MAC).
    #[inline]
    fn peer_mac(&mut self) -> [u8; 6] {
        mac_at(self.frame(), 6)
    }
}

fn mac_at(frame: &[u8], off: usize) -> [u8; 6] {
    let mut m = [0u8; 6];
    if frame.len() >= off + 6 {
        m.copy_from_slice(&frame[off..off + 6]);
    }
    m
}
