//! The services of one family by endpoint (protocol, address, port): the exact part of
//! the service lookup, asked for every new connection, and, with several poll cores, of
//! every frame (is its destination a service? `ServiceTable::is_service`, behind
//! `Engine::client_of`). A general hash map of `IpAddr` keys cost 90 instructions a
//! probe here; this costs a multiply and a compare or two.
//!
//! Invariants:
//! - Built whole from the service set at each apply, never changed in between (no
//!   deletion, so linear probing needs no tombstones).
//! - Open addressing, at most half full; a slot whose protocol-and-port word is 0 is
//!   empty, and every stored word has its top bit set, so no key is mistaken for one.
//! - A lookup is one multiply and a probe run that ends at an empty slot, and allocates
//!   nothing; the hash needs no secret: the keys are the operator's services, not
//!   something a sender chooses.

use crate::family::Family;
use crate::ids::ServiceId;

/// The endpoints and their services: `slots.len()` is a power of two, at least twice
/// the number of keys.
#[derive(Debug, Clone)]
pub struct Endpoints<A> {
    slots: Vec<(A, u32, ServiceId)>,
    shift: u32,
}

impl<A: Family> Default for Endpoints<A> {
    fn default() -> Self {
        Endpoints::new(std::iter::empty())
    }
}

/// The protocol-and-port word of an endpoint (never 0).
#[inline]
fn word(proto: u8, port: u16) -> u32 {
    1 << 31 | u32::from(proto) << 16 | u32::from(port)
}

impl<A: Family> Endpoints<A> {
    /// The map of `endpoints` ((protocol, address, port), service); of two entries with
    /// the same endpoint the later one stays (as a hash map's insert).
    pub fn new(endpoints: impl IntoIterator<Item = ((u8, A, u16), ServiceId)>) -> Endpoints<A> {
        let keys: Vec<(A, u32, ServiceId)> =
            endpoints.into_iter().map(|((p, a, port), id)| (a, word(p, port), id)).collect();
        let size = (keys.len() * 2).max(8).next_power_of_two();
        let mut set =
            Endpoints { slots: vec![(A::default(), 0, ServiceId(0)); size], shift: 64 - size.trailing_zeros() };
        for k in keys {
            let mut i = set.home(k.0, k.1);
            while set.slots[i].1 != 0 && (set.slots[i].0, set.slots[i].1) != (k.0, k.1) {
                i = (i + 1) & (size - 1);
            }
            set.slots[i] = k;
        }
        set
    }

    #[inline]
    fn home(&self, addr: A, w: u32) -> usize {
        let (a, b) = addr.words();
        let x = a ^ b.rotate_left(29) ^ u64::from(w) << 32;
        (x.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> self.shift) as usize
    }

    /// The service at `proto`, `addr`, `port`.
    #[inline]
    pub fn get(&self, proto: u8, addr: A, port: u16) -> Option<ServiceId> {
        let w = word(proto, port);
        let mask = self.slots.len() - 1;
        let mut i = self.home(addr, w);
        // At most half full: an empty slot ends every run.
        loop {
            match self.slots.get(i) {
                Some(&(a, x, id)) if x == w && a == addr => return Some(id),
                Some(&(_, 0, _)) | None => return None,
                Some(_) => i = (i + 1) & mask,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::HashMap;
    use std::net::Ipv6Addr;

    proptest! {
        #[test]
        fn agrees_with_a_hash_map(
            keys in prop::collection::vec((0u8..3, 0u32..16, 0u16..4), 0..40),
            probes in prop::collection::vec((0u8..3, 0u32..16, 0u16..4), 0..60),
        ) {
            let ids = || keys.iter().enumerate().map(|(i, &k)| (k, ServiceId(i as u16)));
            let set = Endpoints::<u32>::new(ids());
            let std: HashMap<_, _> = ids().collect();
            for p in keys.iter().chain(&probes) {
                prop_assert_eq!(set.get(p.0, p.1, p.2), std.get(p).copied());
            }
            // The same keys as IPv6 addresses whose both halves vary.
            let six = |(p, a, port): (u8, u32, u16)| (p, u128::from(a) << 64 | u128::from(a % 3), port);
            let set6 = Endpoints::<u128>::new(ids().map(|(k, id)| (six(k), id)));
            let std6: HashMap<_, _> = ids().map(|(k, id)| (six(k), id)).collect();
            for &p in keys.iter().chain(&probes) {
                let q = six(p);
                prop_assert_eq!(set6.get(q.0, q.1, q.2), std6.get(&q).copied());
            }
        }
    }

    #[test]
    fn lookups_of_absent_and_repeated_keys() {
        let set = Endpoints::<u32>::default();
        assert_eq!(set.get(6, 0, 0), None);
        assert_eq!(set.get(0, 0, 0), None);
        let lo = u128::from(Ipv6Addr::LOCALHOST);
        let set = Endpoints::<u128>::new([((6, lo, 80), ServiceId(3)), ((6, lo, 80), ServiceId(4))]);
        assert_eq!(set.get(6, lo, 80), Some(ServiceId(4)), "the later entry stays");
        assert_eq!(set.get(6, lo, 81), None);
        assert_eq!(set.get(17, lo, 80), None);
    }
}
