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

use xvs_engine::{Classified, Engine, EngineConfig, FrameBuf};

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
/// and counted once). Inlined into the poll loop, which calls it for every frame.
#[inline]
pub fn owner_of(engine: &Engine, class: &Classified, n: usize, mask4: u8, mask6: u8) -> usize {
    if n <= 1 {
        return 0;
    }
    engine.client_of(class).map_or(0, |client| owner_of_client(client, n, mask4, mask6))
}

/// The poll core that owns connections of `client` among `n`: a hash of the client's
/// address masked to the widest persistence netmask of its family.
#[inline]
pub fn owner_of_client(client: IpAddr, n: usize, mask4: u8, mask6: u8) -> usize {
    if n <= 1 {
        return 0;
    }
    let word = match client {
        IpAddr::V4(a) => {
            // The first `mask4` bits: a shift by 32 (a /0) gives no bits at all.
            let keep = u32::MAX.checked_shl(32u32.saturating_sub(u32::from(mask4))).unwrap_or(0);
            u64::from(u32::from(a) & keep)
        }
        IpAddr::V6(a) => {
            let keep = u128::MAX.checked_shl(128u32.saturating_sub(u32::from(mask6))).unwrap_or(0);
            let v = u128::from(a) & keep;
            (v as u64) ^ ((v >> 64) as u64).rotate_left(29)
        }
    };
    let h = word.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    // The hash's high 32 bits scaled to 0..n by a multiply and a shift, not a division
    // (tens of cycles per frame): as even a spread over the cores.
    (((h >> 32) * n as u64) >> 32) as usize
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

    /// Every client of a persistence netmask's network has one owner (a persistence
    /// template must live on the core that serves its network), any owner is below `n`,
    /// and sequential clients (a client farm, a load generator) spread evenly.
    #[test]
    fn owners_follow_the_netmask_and_spread() {
        let v4 = |x: u32| IpAddr::V4(x.into());
        let v6 = |x: u128| IpAddr::V6(x.into());
        for n in [1, 2, 3, 4, 7, 8] {
            let mut count = vec![0u32; n];
            for c in 0..4096u32 {
                let client = 0x0a00_0000 | c << 8;
                let o = owner_of_client(v4(client | 1), n, 24, 128);
                assert!(o < n);
                for host in [0, 77, 255] {
                    assert_eq!(owner_of_client(v4(client | host), n, 24, 128), o, "one /24, one owner");
                }
                count[o] += 1;
                let net: u128 = 0x2001_0db8_0000_0000_0000_0000_0000_0000 | u128::from(c) << 64;
                let o6 = owner_of_client(v6(net | 1), n, 32, 64);
                assert!(o6 < n);
                assert_eq!(owner_of_client(v6(net | 0xffff_0000_1234), n, 32, 64), o6, "one /64, one owner");
            }
            let (lo, hi) = (*count.iter().min().unwrap(), *count.iter().max().unwrap());
            let even = 4096 / n as u32;
            assert!(lo >= even * 8 / 10 && hi <= even * 12 / 10, "n={n}: {count:?}");
        }
        // /32 and /128 (no persistence): each address its own key; /0: one owner for all.
        assert!((0..64u32).map(|c| owner_of_client(v4(0x0a00_0000 | c), 4, 32, 128)).any(|o| o != 0));
        assert!((0..64u32).all(|c| owner_of_client(v4(c << 20), 4, 0, 128) == owner_of_client(v4(0), 4, 0, 128)));
        assert!((0..64u128).all(|c| owner_of_client(v6(c << 100), 4, 32, 0) == owner_of_client(v6(0), 4, 32, 0)));
    }
}
