//! Address families as compact key types: IPv4 connections store `u32` addresses and
//! IPv6 ones `u128`, so an IPv4 entry is not paid for at IPv6 size.
//!
//! Invariant: `from_ip(a.to_ip()) == Some(a)`; `from_ip` of the other family is `None`.

use std::fmt::Debug;
use std::hash::Hash;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

pub trait Family: Copy + Eq + Hash + Default + Debug + Send + 'static {
    fn from_ip(ip: IpAddr) -> Option<Self>;
    fn to_ip(self) -> IpAddr;
    /// The address with all but the first `prefix_len` bits cleared.
    fn mask(self, prefix_len: u8) -> Self;
    /// Whether an address takes two 64-bit words (IPv6) or one (IPv4).
    const WIDE: bool;
    /// The address as (low, high) 64-bit words; the high one is 0 unless [`Self::WIDE`].
    fn words(self) -> (u64, u64);

    /// `a == b` for two pairs of addresses. For IPv4 each pair is one 64-bit word, so a
    /// stored pair that lies side by side (a connection's client and virtual address) is
    /// one load and one compare against a word computed once per lookup.
    #[inline(always)]
    fn pair_eq(a: (Self, Self), b: (Self, Self)) -> bool {
        if Self::WIDE {
            a == b
        } else {
            let word = |(x, y): (Self, Self)| x.words().0 | y.words().0 << 32;
            word(a) == word(b)
        }
    }
}

/// The two families differ only in their integer and address type.
macro_rules! family {
    ($int:ty, $variant:ident, $addr:ty, $wide:expr) => {
        impl Family for $int {
            const WIDE: bool = $wide;
            #[inline(always)]
            fn words(self) -> (u64, u64) {
                let x = self as u128;
                (x as u64, (x >> 64) as u64)
            }
            #[inline]
            fn from_ip(ip: IpAddr) -> Option<Self> {
                match ip {
                    IpAddr::$variant(a) => Some(<$int>::from(a)),
                    _ => None,
                }
            }
            #[inline]
            fn to_ip(self) -> IpAddr {
                IpAddr::$variant(<$addr>::from(self))
            }
            #[inline]
            fn mask(self, prefix_len: u8) -> Self {
                const BITS: u8 = <$int>::BITS as u8;
                if prefix_len >= BITS {
                    self
                } else if prefix_len == 0 {
                    0
                } else {
                    self & (<$int>::MAX << (BITS - prefix_len))
                }
            }
        }
    };
}
family!(u32, V4, Ipv4Addr, false);
family!(u128, V6, Ipv6Addr, true);

/// Mask any address to a prefix length (used on the slow path).
pub fn mask_ip(ip: IpAddr, prefix_len: u8) -> IpAddr {
    match ip {
        IpAddr::V4(_) => u32::from_ip(ip).map(|a| a.mask(prefix_len).to_ip()).unwrap_or(ip),
        IpAddr::V6(_) => u128::from_ip(ip).map(|a| a.mask(prefix_len).to_ip()).unwrap_or(ip),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks() {
        assert_eq!(mask_ip("10.1.2.3".parse().unwrap(), 24), "10.1.2.0".parse::<IpAddr>().unwrap());
        assert_eq!(mask_ip("10.1.2.3".parse().unwrap(), 0), "0.0.0.0".parse::<IpAddr>().unwrap());
        assert_eq!(mask_ip("2001:db8::1:2".parse().unwrap(), 64), "2001:db8::".parse::<IpAddr>().unwrap());
        assert_eq!(u32::from_ip("::1".parse().unwrap()), None);
    }
}
