//! Fixed hash functions (no random state), with the kernel's constants.
//!
//! - [`fold`]: an address as the kernel folds it to 32 bits (IPv4 in host order; IPv6 the XOR of
//!   its four 32-bit words).
//! - [`hash_32`]: the kernel's golden-ratio multiplicative hash (`GOLDEN_RATIO_32`), top `bits`.
//! - [`hsiphash_u32`]: SipHash-1-3 over the 4 little-endian bytes of a `u32`, with a 128-bit key,
//!   returning the low 32 bits (the kernel's 64-bit `hsiphash` of a 4-byte value).

use std::net::IpAddr;

pub(crate) const GOLDEN_RATIO_32: u32 = 0x61C8_8647;

#[inline]
pub(crate) fn fold(addr: IpAddr) -> u32 {
    match addr {
        IpAddr::V4(a) => u32::from(a),
        IpAddr::V6(a) => {
            let x = u128::from(a);
            ((x >> 96) as u32) ^ ((x >> 64) as u32) ^ ((x >> 32) as u32) ^ (x as u32)
        }
    }
}

#[inline]
pub(crate) fn hash_32(val: u32, bits: u32) -> u32 {
    debug_assert!(bits > 0 && bits <= 32);
    val.wrapping_mul(GOLDEN_RATIO_32) >> (32 - bits)
}

#[inline]
fn sipround(v: &mut [u64; 4]) {
    v[0] = v[0].wrapping_add(v[1]);
    v[1] = v[1].rotate_left(13);
    v[1] ^= v[0];
    v[0] = v[0].rotate_left(32);
    v[2] = v[2].wrapping_add(v[3]);
    v[3] = v[3].rotate_left(16);
    v[3] ^= v[2];
    v[0] = v[0].wrapping_add(v[3]);
    v[3] = v[3].rotate_left(21);
    v[3] ^= v[0];
    v[2] = v[2].wrapping_add(v[1]);
    v[1] = v[1].rotate_left(17);
    v[1] ^= v[2];
    v[2] = v[2].rotate_left(32);
}

/// SipHash-1-3 of `v.to_le_bytes()` under key `(k0, k1)`, truncated to 32 bits.
#[inline]
pub(crate) fn hsiphash_u32(v: u32, k0: u64, k1: u64) -> u32 {
    let mut s = [
        k0 ^ 0x736f_6d65_7073_6575,
        k1 ^ 0x646f_7261_6e64_6f6d,
        k0 ^ 0x6c79_6765_6e65_7261,
        k1 ^ 0x7465_6462_7974_6573,
    ];
    // 4 bytes: no full 8-byte block; the last block carries the length in its top byte.
    let b: u64 = (4u64 << 56) | u64::from(v);
    s[3] ^= b;
    sipround(&mut s);
    s[0] ^= b;
    s[2] ^= 0xff;
    sipround(&mut s);
    sipround(&mut s);
    sipround(&mut s);
    (s[0] ^ s[1] ^ s[2] ^ s[3]) as u32
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::hash::Hasher;

    #[test]
    #[allow(deprecated)]
    fn siphash13_matches_std() {
        // std's DefaultHasher::new() is SipHash-1-3 with a zero key (an implementation detail
        // of std, stable for years); `write` of raw bytes hashes exactly those bytes.
        for v in [0u32, 1, 0xdead_beef, 2_654_435_761] {
            let mut h = std::collections::hash_map::DefaultHasher::new();
            h.write(&v.to_le_bytes());
            assert_eq!(hsiphash_u32(v, 0, 0), h.finish() as u32);
        }
    }

    #[test]
    fn fold_v6_xors_words() {
        let a: IpAddr = "2001:db8::1".parse().unwrap();
        assert_eq!(fold(a), 0x2001_0db8 ^ 1);
        assert_eq!(fold(IpAddr::from([10, 0, 0, 1])), 0x0a00_0001);
    }

    #[test]
    fn hash32_range() {
        for v in 0..1000u32 {
            assert!(hash_32(v, 8) < 256);
        }
    }
}
