//! The one-pass loop: what `handle_batch` runs while the tables fit in the cache (fewer
//! than `stage_from` live connections). Each frame goes from its bytes to its verdict in
//! one pass; consecutive common-case frames of one family go through one lane of the fast
//! path (`fast::run`), which holds the tables' bases across them.
//!
//! Owns: the order of the runs (IPv4, then IPv6, as the frames come) and the general path
//! of a frame no run takes. Must not touch: what the fast path decides (`fast`), or the
//! general path's work (`input`).
//!
//! Invariant: every frame gets exactly one verdict and is counted once (by the run that
//! took it, or here), as in the staged loop; the fast-path tests compare the two loops
//! and the general path byte for byte (`tests/fast_path.rs`).

use xvs_proto::fast::{parse_v4, parse_v6, FastAddr, Flow, V4Flow, V6Flow};

use super::{fast, Class, Classified, Ctx, Engine};
use crate::conn::FamilyTables;
use crate::family::Family;
use crate::port::{PacketBuf, Verdict};

impl Engine {
    /// The one-pass loop over `frames` (as long as `verdicts`): runs of common-case
    /// frames of one family go through the fast path's lane (`fast::run`), IPv4 and IPv6
    /// runs in turn as the frames come; a frame that is neither goes the general way.
    #[inline(always)]
    pub(super) fn handle_direct<F: PacketBuf>(&mut self, frames: &mut [F], verdicts: &mut [Verdict]) {
        let n = frames.len().min(verdicts.len());
        let mut i = 0;
        while i < n {
            if self.fast_path {
                match self.run::<F, u32>(&mut frames[..n], verdicts, &mut i) {
                    Ran::All => return,
                    Ran::Stopped => continue,
                    Ran::Other => {}
                }
                let from = i;
                match self.run::<F, u128>(&mut frames[..n], verdicts, &mut i) {
                    Ran::All => return,
                    Ran::Stopped => continue,
                    // Another IPv4 run may follow.
                    Ran::Other if i > from => continue,
                    Ran::Other => {}
                }
            }
            // Neither family's common case.
            let f = &mut frames[i];
            let mut pr = Classified::EMPTY;
            let (buf, head, len) = f.parts();
            if let Some(frame) = buf.get(*head..*head + *len) {
                self.classify_full(frame, &mut pr);
            }
            verdicts[i] = self.handle(f, &pr, None);
            self.count(&verdicts[i]);
            i += 1;
        }
    }

    /// A run of family `A` through the fast path from frame `*i` on (`fast::run`); `*i`
    /// moves past the frames it handled, which include the frame the run stopped at
    /// unless that one is of another kind (`Ran::Other`).
    #[inline(always)]
    fn run<F: PacketBuf, A: FastFamily>(&mut self, frames: &mut [F], verdicts: &mut [Verdict], i: &mut usize) -> Ran {
        let (t, cx) = A::tables(self);
        let (taken, stop) = fast::run(t, cx, &mut frames[*i..], &mut verdicts[*i..], A::parse);
        *i += taken;
        match stop {
            None => Ran::All,
            Some(fast::Stop::Other) => Ran::Other,
            Some(fast::Stop::Frame(v, hash, o)) => {
                let pr = Classified { class: A::class(v), hash, v6: A::WIDE };
                let verdict = self.settle(&mut frames[*i], &pr, o);
                self.count(&verdict);
                verdicts[*i] = verdict;
                *i += 1;
                Ran::Stopped
            }
        }
    }
}

/// How far a run of the one-pass loop went (`Engine::run`).
enum Ran {
    /// Through the last frame.
    All,
    /// To a frame it handled with the general path's help: the next frame is the
    /// caller's.
    Stopped,
    /// To a frame that is not of the run's family's common case, left to the caller.
    Other,
}

/// What the batch loops need of a family's common case.
pub(super) trait FastFamily: Family + FastAddr {
    /// The common case's fields of a frame (`xvs_proto::fast`).
    fn parse(frame: &[u8]) -> Option<Flow<Self>>;
    /// The class of a common-case frame.
    fn class(v: Flow<Self>) -> Class;
    /// The engine's tables of the family, and the rest of its state beside them.
    fn tables(e: &mut Engine) -> (&mut FamilyTables<Self>, &mut Ctx);
}

impl FastFamily for u32 {
    #[inline(always)]
    fn parse(frame: &[u8]) -> Option<V4Flow> {
        parse_v4(frame)
    }
    #[inline(always)]
    fn class(v: V4Flow) -> Class {
        Class::Fast4(v)
    }
    #[inline(always)]
    fn tables(e: &mut Engine) -> (&mut FamilyTables<u32>, &mut Ctx) {
        (&mut e.v4, &mut e.cx)
    }
}

impl FastFamily for u128 {
    #[inline(always)]
    fn parse(frame: &[u8]) -> Option<V6Flow> {
        parse_v6(frame)
    }
    #[inline(always)]
    fn class(v: V6Flow) -> Class {
        Class::Fast6(v)
    }
    #[inline(always)]
    fn tables(e: &mut Engine) -> (&mut FamilyTables<u128>, &mut Ctx) {
        (&mut e.v6, &mut e.cx)
    }
}
