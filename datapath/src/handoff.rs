//! Handing frames to the poll core that owns their connection.
//!
//! An AF_XDP socket is bound to one queue and XDP cannot redirect to another queue's
//! socket, so a NAT reply can arrive on a core that did not create its connection. Each
//! connection is owned by one core, chosen by a hash of the client address — which both
//! directions of a connection carry (the source of a request, the destination of a
//! reply) — masked to the widest persistence netmask, so that every connection of a
//! persistent client, and so its template, lives on one core. A frame that arrives on
//! another core is copied into a buffer and passed to the owner over a bounded lock-free
//! queue (DPVS's "redirect"); the owner handles it with its engine and transmits it on its
//! own socket of the same interface. The frame is classified once, here, to find its
//! owner: its class travels with the copy, and both cores' engines handle it from that
//! class (`Engine::handle_classified`) instead of parsing it again.
//!
//! Invariants:
//! - Buffers are preallocated: each core has a pool, a receiver returns a buffer to the
//!   pool of the core it came from. Nothing is allocated per frame; when a pool or a queue
//!   is empty or full, the frame is dropped and counted (`handoff_full`), never blocked on.
//! - `owner_of` depends only on the frame (its class) and the service set, so every core
//!   computes the same owner for both directions of a connection.
//! - A handed copy carries the class of the frame it copies only when it copies all of it.

use std::net::IpAddr;
use std::sync::Arc;

use crossbeam::queue::ArrayQueue;

use xvs_engine::{mask_ip, Classified, Engine, EngineConfig, FrameBuf};

/// Buffers each core keeps for handing frames to others.
pub const POOL: usize = 1024;

/// The queues between `n` poll cores: `queues[from][to]`, and each core's buffer pool.
#[derive(Debug)]
pub struct Mesh {
    queues: Vec<Vec<Arc<ArrayQueue<FrameBuf>>>>,
    pools: Vec<Arc<ArrayQueue<FrameBuf>>>,
}

impl Mesh {
    pub fn new(n: usize) -> Mesh {
        let queues =
            (0..n).map(|_| (0..n).map(|_| Arc::new(ArrayQueue::new(POOL))).collect::<Vec<_>>()).collect::<Vec<_>>();
        let pools = (0..n)
            .map(|_| {
                let q = ArrayQueue::new(POOL);
                for _ in 0..POOL {
                    let _ = q.push(FrameBuf::default());
                }
                Arc::new(q)
            })
            .collect();
        Mesh { queues, pools }
    }

    /// The endpoint of core `me`.
    pub fn endpoint(&self, me: usize) -> Handoff {
        Handoff {
            me,
            n: self.pools.len(),
            outbound: self.queues[me].clone(),
            inbound: self.queues.iter().map(|row| row[me].clone()).collect(),
            pools: self.pools.clone(),
            full: 0,
        }
    }
}

/// One core's view of the mesh.
#[derive(Debug)]
pub struct Handoff {
    pub me: usize,
    pub n: usize,
    outbound: Vec<Arc<ArrayQueue<FrameBuf>>>,
    inbound: Vec<Arc<ArrayQueue<FrameBuf>>>,
    pools: Vec<Arc<ArrayQueue<FrameBuf>>>,
    /// Frames dropped because a pool or a queue was exhausted.
    pub full: u64,
}

impl Handoff {
    /// Copy `frame` (arrived on `port`, classified as `class`) to core `to`. Returns false
    /// (and counts) when no buffer or no queue room was available.
    pub fn send(&mut self, to: usize, frame: &[u8], port: u16, class: &Classified) -> bool {
        let Some(mut buf) = self.pools[self.me].pop() else {
            self.full += 1;
            return false;
        };
        buf.load(frame);
        if buf.len == frame.len() {
            buf.class = Some(*class);
        }
        buf.port = port;
        buf.origin = self.me as u16;
        match self.outbound[to].push(buf) {
            Ok(()) => true,
            Err(buf) => {
                let _ = self.pools[self.me].push(buf);
                self.full += 1;
                false
            }
        }
    }

    /// Take up to `max` frames handed to this core into `batch` (cleared first).
    pub fn recv(&mut self, batch: &mut Vec<FrameBuf>, max: usize) -> usize {
        batch.clear();
        for q in &self.inbound {
            while batch.len() < max {
                match q.pop() {
                    Some(b) => batch.push(b),
                    None => break,
                }
            }
        }
        batch.len()
    }

    /// Give processed buffers back to the cores they came from.
    pub fn recycle(&mut self, batch: &mut Vec<FrameBuf>) {
        for b in batch.drain(..) {
            let from = (b.origin as usize).min(self.n - 1);
            let _ = self.pools[from].push(b);
        }
    }
}

/// The core (of `n`) that owns the connection of the frame classified as `class`: a hash
/// of its client address (`Engine::client_of`) masked to `/mask4` (IPv4) or `/mask6`
/// (IPv6). Frames that do not classify go to core 0 (they are dropped or passed there,
/// and counted once).
pub fn owner_of(engine: &Engine, class: &Classified, n: usize, mask4: u8, mask6: u8) -> usize {
    if n <= 1 {
        return 0;
    }
    engine.client_of(class).map_or(0, |client| owner_of_client(client, n, mask4, mask6))
}

/// The poll core that owns connections of `client` among `n`: a hash of the client's
/// address masked to the widest persistence netmask of its family.
pub fn owner_of_client(client: IpAddr, n: usize, mask4: u8, mask6: u8) -> usize {
    if n <= 1 {
        return 0;
    }
    let masked = match client {
        IpAddr::V4(_) => mask_ip(client, mask4),
        IpAddr::V6(_) => mask_ip(client, mask6),
    };
    let h = match masked {
        IpAddr::V4(a) => u64::from(u32::from(a)).wrapping_mul(0x9e37_79b9_7f4a_7c15),
        IpAddr::V6(a) => {
            let v = u128::from(a);
            ((v as u64) ^ ((v >> 64) as u64).rotate_left(29)).wrapping_mul(0x9e37_79b9_7f4a_7c15)
        }
    };
    ((h >> 32) as usize) % n
}

/// The widest persistence netmasks of a config (32 / 128 when none), for [`owner_of`].
pub fn owner_masks(cfg: &EngineConfig) -> (u8, u8) {
    let mut m4 = 32u8;
    let mut m6 = 128u8;
    for s in &cfg.services {
        if s.persistence > 0 {
            if s.vip.is_ipv4() {
                m4 = m4.min(s.persistence_netmask);
            } else {
                m6 = m6.min(s.persistence_netmask);
            }
        }
    }
    (m4, m6)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buffers_go_round_and_back() {
        let mesh = Mesh::new(2);
        let mut a = mesh.endpoint(0);
        let mut b = mesh.endpoint(1);
        assert!(a.send(1, &[1, 2, 3], 5, &Classified::EMPTY));
        let mut batch = Vec::with_capacity(8);
        assert_eq!(b.recv(&mut batch, 8), 1);
        assert_eq!(batch[0].data(), &[1, 2, 3]);
        assert_eq!(batch[0].port, 5);
        b.recycle(&mut batch);
        // Every buffer of core 0 is back in its pool: it can send POOL more, then no more.
        for _ in 0..POOL {
            assert!(a.send(1, &[0], 0, &Classified::EMPTY));
        }
        assert!(!a.send(1, &[0], 0, &Classified::EMPTY));
        assert_eq!(a.full, 1);
    }
}
