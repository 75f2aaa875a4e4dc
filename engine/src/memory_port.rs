//! An in-memory port: frames are queued in, transmitted frames are collected (or, for the
//! benchmark, handed back to be reused).
//!
//! Invariants: buffers are recycled through a free pool, so after warm-up `recv` and
//! `send` do not allocate.

use std::collections::VecDeque;
use std::io;

use crate::port::{FrameBuf, Port, Verdict};

#[derive(Debug, Default)]
pub struct MemoryPort {
    rx: VecDeque<FrameBuf>,
    /// Transmitted frames, in order, unless `discard_tx`.
    pub tx: Vec<FrameBuf>,
    pool: Vec<FrameBuf>,
    /// Drop transmitted frames back into the pool instead of keeping them.
    pub discard_tx: bool,
}

impl MemoryPort {
    pub fn new() -> Self {
        Self::default()
    }

    /// Queue one frame for reception.
    pub fn push(&mut self, data: &[u8], port: u16) {
        let mut f = self.pool.pop().unwrap_or_default();
        f.load(data);
        f.port = port;
        self.rx.push_back(f);
    }

    pub fn pending(&self) -> usize {
        self.rx.len()
    }
}

impl Port for MemoryPort {
    type Frame = FrameBuf;

    fn recv(&mut self, batch: &mut Vec<FrameBuf>, max: usize) -> io::Result<usize> {
        batch.clear();
        while batch.len() < max {
            match self.rx.pop_front() {
                Some(f) => batch.push(f),
                None => break,
            }
        }
        Ok(batch.len())
    }

    fn send(&mut self, batch: &mut Vec<FrameBuf>, verdicts: &[Verdict]) -> io::Result<()> {
        for (f, v) in batch.drain(..).zip(verdicts.iter()) {
            if matches!(v, Verdict::Tx { .. }) && !self.discard_tx {
                self.tx.push(f);
            } else {
                self.pool.push(f);
            }
        }
        Ok(())
    }

    fn is_exhausted(&self) -> bool {
        self.rx.is_empty()
    }
}
