//! Where keys land in the engine's indexes, for building colliding input (hash flooding)
//! in the bench and the tests. Read-only; nothing on the packet path calls it.
//!
//! Invariant: the slots are computed with the engine's own hasher (its seed), so they are
//! what an attacker would need to know; with `xvs run`'s secret seed nobody outside the
//! process can compute them.

use std::net::{IpAddr, SocketAddr};

use super::flow::{template_hash, FlowKey};
use super::Engine;
use crate::conn::FamilyTables;
use crate::family::Family;

impl Engine {
    /// The home slot of the key of a packet `src -> dst` of protocol `proto` in its
    /// family's connection index; `None` when the addresses' families differ.
    pub fn flow_home_slot(&self, proto: u8, src: SocketAddr, dst: SocketAddr) -> Option<usize> {
        let key_home = |t_mask: usize, s: u64| s as usize & t_mask;
        match (src.ip(), dst.ip()) {
            (IpAddr::V4(s), IpAddr::V4(d)) => {
                let k = FlowKey { proto, src: u32::from(s), sport: src.port(), dst: u32::from(d), dport: dst.port() };
                Some(key_home(self.v4.index.mask(), k.hash(&self.cx.hasher)))
            }
            (IpAddr::V6(s), IpAddr::V6(d)) => {
                let k = FlowKey { proto, src: u128::from(s), sport: src.port(), dst: u128::from(d), dport: dst.port() };
                Some(key_home(self.v6.index.mask(), k.hash(&self.cx.hasher)))
            }
            _ => None,
        }
    }

    /// The home slot in the template index of the template a new connection from
    /// `client` to the persistent service at `vip` would use; `None` when there is no
    /// persistent service there.
    pub fn template_home_slot(&self, proto: u8, client: IpAddr, vip: SocketAddr) -> Option<usize> {
        let sid = self.cx.services.lookup(proto, vip.ip(), vip.port())?;
        let spec = &self.cx.services[sid].spec;
        if spec.persistence == 0 {
            return None;
        }
        let mask = spec.persistence_netmask;
        fn home<A: Family>(t: &FamilyTables<A>, e: &Engine, sid: crate::ids::ServiceId, c: A, v: A, m: u8) -> usize {
            template_hash(&e.cx.hasher, sid, c.mask(m), v) as usize & t.template_index.mask()
        }
        match (client, vip.ip()) {
            (IpAddr::V4(c), IpAddr::V4(v)) => Some(home(&self.v4, self, sid, u32::from(c), u32::from(v), mask)),
            (IpAddr::V6(c), IpAddr::V6(v)) => Some(home(&self.v6, self, sid, u128::from(c), u128::from(v), mask)),
            _ => None,
        }
    }

    /// Slots of the IPv4 connection index (the range of [`Engine::flow_home_slot`]).
    pub fn flow_index_slots(&self) -> usize {
        self.v4.index.mask() + 1
    }
}
