//! A set of service endpoints (protocol, address, port) of one family, for the one
//! question a poll core asks of every frame when there are several: is this frame's
//! destination a service? (`ServiceTable::is_service`, behind `Engine::client_of`.)
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

/// The endpoints: `slots.len()` is a power of two, at least twice the number of keys.
#[derive(Debug, Clone)]
pub struct Endpoints<A> {
    slots: Vec<(A, u32)>,
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
    /// The set of `endpoints` (protocol, address, port); duplicates are kept once.
    pub fn new(endpoints: impl IntoIterator<Item = (u8, A, u16)>) -> Endpoints<A> {
        let keys: Vec<(A, u32)> = endpoints.into_iter().map(|(p, a, port)| (a, word(p, port))).collect();
        let size = (keys.len() * 2).max(8).next_power_of_two();
        let mut set = Endpoints { slots: vec![(A::default(), 0); size], shift: 64 - size.trailing_zeros() };
        for k in keys {
            let mut i = set.home(k.0, k.1);
            while set.slots[i].1 != 0 && set.slots[i] != k {
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

    /// Whether `proto`, `addr`, `port` is in the set.
    #[inline]
    pub fn contains(&self, proto: u8, addr: A, port: u16) -> bool {
        let w = word(proto, port);
        let mask = self.slots.len() - 1;
        let mut i = self.home(addr, w);
        // At most half full: an empty slot ends every run.
        loop {
            match self.slots.get(i) {
                Some(&(a, x)) if x == w && a == addr => return true,
                Some(&(_, 0)) | None => return false,
                Some(_) => i = (i + 1) & mask,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::HashSet;
    use std::net::Ipv6Addr;

    proptest! {
        #[test]
        fn agrees_with_a_hash_set(
            keys in prop::collection::vec((0u8..3, 0u32..16, 0u16..4), 0..40),
            probes in prop::collection::vec((0u8..3, 0u32..16, 0u16..4), 0..60),
        ) {
            let set = Endpoints::<u32>::new(keys.iter().copied());
            let std: HashSet<_> = keys.iter().copied().collect();
            for p in keys.iter().chain(&probes) {
                prop_assert_eq!(set.contains(p.0, p.1, p.2), std.contains(p));
            }
            // The same keys as IPv6 addresses whose both halves vary.
            let six = |&(p, a, port): &(u8, u32, u16)| (p, u128::from(a) << 64 | u128::from(a % 3), port);
            let set6 = Endpoints::<u128>::new(keys.iter().map(six));
            let std6: HashSet<_> = keys.iter().map(six).collect();
            for p in keys.iter().chain(&probes).map(six) {
                prop_assert_eq!(set6.contains(p.0, p.1, p.2), std6.contains(&p));
            }
        }
    }

    #[test]
    fn empty_set_contains_nothing() {
        let set = Endpoints::<u32>::default();
        assert!(!set.contains(6, 0, 0));
        assert!(!set.contains(0, 0, 0));
        let set = Endpoints::<u128>::new([(6, u128::from(Ipv6Addr::LOCALHOST), 80)]);
        assert!(set.contains(6, u128::from(Ipv6Addr::LOCALHOST), 80));
        assert!(!set.contains(6, u128::from(Ipv6Addr::LOCALHOST), 81));
        assert!(!set.contains(17, u128::from(Ipv6Addr::LOCALHOST), 80));
    }
}
