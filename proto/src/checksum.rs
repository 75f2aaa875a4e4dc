//! Internet checksums (RFC 1071) and their incremental update (RFC 1624).
//!
//! Invariants:
//! - Sums are accumulated in `u64` and folded with end-around carry, so no input length
//!   overflows and a fold is `0` only when every summed word is `0`.
//! - The incremental helpers use RFC 1624 equation 3, `HC' = ~(~HC + ~m + m')`, which
//!   yields exactly what a full recomputation yields for a checksum that was correct
//!   before (it never produces `0xffff` from a correct field).
//! - The full-computation helpers treat the checksum field of the data they are given as
//!   zero, so they can be called on a packet whose field is already filled in, and they
//!   return the value the field must hold (UDP: `0xffff` instead of `0`).
//! - Nothing here panics: odd lengths are padded with a zero byte, short slices are
//!   summed as far as they go.

use std::net::{Ipv4Addr, Ipv6Addr};

use crate::packet::{PROTO_ICMPV6, PROTO_TCP, PROTO_UDP};

/// Ones'-complement sum of `data` as big-endian 16-bit words (odd tail padded with zero),
/// not folded. `data` starts at an even offset of whatever it is part of.
#[inline]
pub fn sum(data: &[u8]) -> u64 {
    let mut acc: u64 = 0;
    let mut chunks = data.chunks_exact(4);
    for c in &mut chunks {
        acc += u64::from(u32::from_be_bytes([c[0], c[1], c[2], c[3]]));
    }
    let rest = chunks.remainder();
    let mut i = 0;
    while i + 1 < rest.len() {
        acc += u64::from(u16::from_be_bytes([rest[i], rest[i + 1]]));
        i += 2;
    }
    if i < rest.len() {
        acc += u64::from(rest[i]) << 8;
    }
    acc
}

/// Folds a sum to 16 bits with end-around carry.
#[inline]
pub fn fold(s: u64) -> u16 {
    // 64 -> 32 bits: the halves added, the carry wrapped around (it cannot carry twice:
    // with a carry, the low word is at most 2^32 - 2).
    let (lo, carry) = (s as u32).overflowing_add((s >> 32) as u32);
    let s = lo + u32::from(carry);
    // 32 -> 16 bits: adding the word rotated by 16 puts `high + low + the low half's
    // carry` in the high half, which is the end-around-carry sum of the two halves (as
    // Linux's `csum_fold`). Half the instructions of folding 16 bits at a time, and the
    // same value for every input (the `fold_is_end_around_carry` test).
    (s.wrapping_add(s.rotate_left(16)) >> 16) as u16
}

/// [`fold`] of a sum accumulated in 128 bits (64-bit terms: IPv6 addresses as halves).
#[inline]
pub fn fold128(s: u128) -> u16 {
    // 128 -> 64 bits with the carry wrapped around (2^64 = 1 modulo 2^16 - 1); with a
    // carry the low word is at most 2^64 - 2, so adding it back cannot carry again.
    let (lo, carry) = (s as u64).overflowing_add((s >> 64) as u64);
    fold(lo + u64::from(carry))
}

/// The internet checksum of `data` (`!fold(sum(data))`), with no field skipped.
#[inline]
pub fn checksum(data: &[u8]) -> u16 {
    !fold(sum(data))
}

/// Sum of `data` with the 16-bit word at byte offset `at` (even) treated as zero.
#[inline]
fn sum_skip(data: &[u8], at: usize) -> u64 {
    match (data.get(..at), data.get(at + 2..)) {
        (Some(a), Some(b)) => sum(a) + sum(b),
        (Some(a), None) => sum(a),
        _ => sum(data),
    }
}

/// RFC 1624: the checksum after one 16-bit word changed from `old` to `new`.
#[inline]
pub fn csum_replace2(csum: u16, old: u16, new: u16) -> u16 {
    !fold(u64::from(!csum) + u64::from(!old) + u64::from(new))
}

/// RFC 1624: the checksum after 4 bytes (an IPv4 address) changed from `old` to `new`.
#[inline]
pub fn csum_replace4(csum: u16, old: [u8; 4], new: [u8; 4]) -> u16 {
    let o = u32::from_be_bytes(old);
    let n = u32::from_be_bytes(new);
    !fold(
        u64::from(!csum)
            + u64::from(!(o >> 16) & 0xffff)
            + u64::from(!o & 0xffff)
            + u64::from(n >> 16)
            + u64::from(n & 0xffff),
    )
}

/// RFC 1624: the checksum after 16 bytes (an IPv6 address) changed from `old` to `new`.
#[inline]
pub fn csum_replace16(csum: u16, old: [u8; 16], new: [u8; 16]) -> u16 {
    let mut acc = u64::from(!csum);
    for i in (0..16).step_by(2) {
        acc += u64::from(!u16::from_be_bytes([old[i], old[i + 1]]));
        acc += u64::from(u16::from_be_bytes([new[i], new[i + 1]]));
    }
    !fold(acc)
}

/// An accumulated RFC 1624 difference (`~m + m'` summed over changed words), applied to
/// any number of checksums that cover the changed words (as IPVS's `ip_vs_check_diff*`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CsumDiff(u64);

impl CsumDiff {
    /// Records that `old` became `new` (equal lengths, both starting at an even offset of
    /// the checksummed data). Unequal lengths are summed as far as the shorter goes.
    #[inline]
    pub fn add(&mut self, old: &[u8], new: &[u8]) {
        for (o, n) in old.chunks(2).zip(new.chunks(2)) {
            let ow = u16::from_be_bytes([o[0], o.get(1).copied().unwrap_or(0)]);
            let nw = u16::from_be_bytes([n[0], n.get(1).copied().unwrap_or(0)]);
            self.add16(ow, nw);
        }
    }

    /// Records that the 16-bit word `old` became `new`.
    #[inline]
    pub fn add16(&mut self, old: u16, new: u16) {
        self.0 += u64::from(!old) + u64::from(new);
    }

    /// Adds the changes recorded in `other`.
    #[inline]
    pub fn merge(&mut self, other: CsumDiff) {
        self.0 += other.0;
    }

    /// The checksum `csum` after the recorded changes.
    #[inline]
    pub fn apply(self, csum: u16) -> u16 {
        !fold(u64::from(!csum) + self.0)
    }
}

/// The IPv4 header checksum of `hdr` (the whole header, options included), treating the
/// checksum field (bytes 10..12) as zero.
pub fn ipv4_header_checksum(hdr: &[u8]) -> u16 {
    !fold(sum_skip(hdr, 10))
}

/// Offset of the checksum field inside a transport header of protocol `proto`.
fn l4_csum_offset(proto: u8) -> Option<usize> {
    match proto {
        PROTO_TCP => Some(16),
        PROTO_UDP => Some(6),
        PROTO_ICMPV6 => Some(2),
        _ => None,
    }
}

fn l4_finish(proto: u8, pseudo: u64, segment: &[u8]) -> u16 {
    let s = match l4_csum_offset(proto) {
        Some(at) => sum_skip(segment, at),
        None => sum(segment),
    };
    let c = !fold(pseudo + s);
    if proto == PROTO_UDP && c == 0 {
        0xffff
    } else {
        c
    }
}

/// The TCP/UDP/ICMPv6-style checksum of `segment` (transport header + payload) with the
/// IPv4 pseudo-header. The checksum field of `segment` is treated as zero. A UDP result
/// of zero is returned as `0xffff` (RFC 768).
pub fn l4_checksum_v4(src: Ipv4Addr, dst: Ipv4Addr, proto: u8, segment: &[u8]) -> u16 {
    let pseudo = sum(&src.octets())
        + sum(&dst.octets())
        + u64::from(proto)
        + u64::from(segment.len() as u32 & 0xffff)
        + u64::from((segment.len() as u32) >> 16);
    l4_finish(proto, pseudo, segment)
}

/// Same as [`l4_checksum_v4`] with the IPv6 pseudo-header (RFC 8200 8.1).
pub fn l4_checksum_v6(src: Ipv6Addr, dst: Ipv6Addr, proto: u8, segment: &[u8]) -> u16 {
    let len = segment.len() as u64;
    let pseudo = sum(&src.octets()) + sum(&dst.octets()) + u64::from(proto) + (len & 0xffff) + (len >> 16);
    l4_finish(proto, pseudo, segment)
}

/// The ICMPv4 checksum of a whole ICMP message (header + data), treating its checksum
/// field (bytes 2..4) as zero.
pub fn icmp_checksum(data: &[u8]) -> u16 {
    !fold(sum_skip(data, 2))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fold128_is_fold_of_the_halves_with_end_around_carry() {
        for s in [
            0u128,
            1,
            0xffff,
            0x1_0000,
            u128::from(u64::MAX),
            u128::from(u64::MAX) + 1,
            (3u128 << 64) | 0xffff_ffff_ffff_fffe,
            u128::MAX >> 62,
        ] {
            // The reference: the sum's 16-bit words added one by one, end-around carry.
            let mut w: u64 = 0;
            for i in 0..8 {
                w += ((s >> (16 * i)) & 0xffff) as u64;
            }
            assert_eq!(fold128(s), fold(w), "{s:#x}");
        }
    }

    #[test]
    fn rfc1071_example() {
        // RFC 1071 section 3 example: sum of these words is 0xddf2.
        let d = [0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7];
        assert_eq!(fold(sum(&d)), 0xddf2);
        assert_eq!(checksum(&d), !0xddf2);
    }

    #[test]
    fn odd_length_pads_with_zero() {
        assert_eq!(fold(sum(&[0x12, 0x34, 0x56])), 0x1234 + 0x5600);
        assert_eq!(fold(sum(&[0xab])), 0xab00);
        assert_eq!(fold(sum(&[])), 0);
    }

    #[test]
    fn ipv4_header_known_value() {
        // A classic example header (Wikipedia, "IPv4 header checksum"): checksum 0xb861.
        let h = [
            0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11, 0xb8, 0x61, 0xc0, 0xa8, 0x00, 0x01, 0xc0, 0xa8,
            0x00, 0xc7,
        ];
        assert_eq!(ipv4_header_checksum(&h), 0xb861);
        assert_eq!(checksum(&h), 0);
    }

    #[test]
    fn replace_matches_full() {
        let mut h = [
            0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11, 0xb8, 0x61, 0xc0, 0xa8, 0x00, 0x01, 0xc0, 0xa8,
            0x00, 0xc7,
        ];
        let c = csum_replace4(0xb861, [0xc0, 0xa8, 0x00, 0xc7], [10, 1, 2, 3]);
        h[16..20].copy_from_slice(&[10, 1, 2, 3]);
        assert_eq!(c, ipv4_header_checksum(&h));
        let c2 = csum_replace2(c, 0x4011, 0x3f11);
        h[8] = 0x3f;
        assert_eq!(c2, ipv4_header_checksum(&h));
    }

    /// The fold by 16 bits at a time, step by step: the definition [`fold`] must equal.
    fn fold_stepwise(s: u64) -> u16 {
        let s = (s & 0xffff_ffff) + (s >> 32);
        let s = (s & 0xffff) + (s >> 16);
        let s = (s & 0xffff) + (s >> 16);
        let s = (s & 0xffff) + (s >> 16);
        s as u16
    }

    #[test]
    fn fold_is_end_around_carry() {
        let edges = [0, 1, 0xffff, 0x1_0000, 0x1_fffe, 0xffff_ffff, 0x1_0000_0000, 0xffff_0000_ffff, u64::MAX];
        for &s in &edges {
            assert_eq!(fold(s), fold_stepwise(s), "{s:#x}");
        }
        // Every value whose halves sum to a carry and those that do not, over many spreads.
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        for _ in 0..1_000_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            for s in [x, x >> 16, x >> 31, x >> 33, x >> 47] {
                assert_eq!(fold(s), fold_stepwise(s), "{s:#x}");
            }
        }
        assert_eq!(fold(0), 0, "0 only from 0");
        assert_eq!(fold(0xffff), 0xffff);
        assert_eq!(fold(0x1_0000), 1);
    }

    #[test]
    fn short_inputs_do_not_panic() {
        let _ = ipv4_header_checksum(&[1, 2, 3]);
        let _ = icmp_checksum(&[1]);
        let _ = l4_checksum_v4(Ipv4Addr::LOCALHOST, Ipv4Addr::LOCALHOST, PROTO_TCP, &[1, 2]);
        let _ = l4_checksum_v6(Ipv6Addr::LOCALHOST, Ipv6Addr::LOCALHOST, PROTO_UDP, &[]);
    }
}
