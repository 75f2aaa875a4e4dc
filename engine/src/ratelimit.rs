//! A token bucket for what the director sends on its own (ICMP "fragmentation needed" /
//! "packet too big"): as the kernel limits its ICMP (`net.ipv4.icmp_msgs_per_sec` 1000,
//! `icmp_msgs_burst` 50), so oversize packets from a hostile source cannot make the
//! director a reflector.
//!
//! Invariant: at most `burst` messages at once and `per_sec` per second on average, over
//! the engine's clock (ms); no allocation, no system call.

/// The kernel's defaults.
pub const ICMP_PER_SEC: u32 = 1000;
pub const ICMP_BURST: u32 = 50;

#[derive(Clone, Copy, Debug)]
pub struct TokenBucket {
    per_sec: u32,
    burst: u32,
    /// Tokens in thousandths, so a 1 ms step adds `per_sec` of them.
    milli_tokens: u64,
    last_ms: u64,
}

impl Default for TokenBucket {
    fn default() -> Self {
        TokenBucket::new(ICMP_PER_SEC, ICMP_BURST)
    }
}

impl TokenBucket {
    pub fn new(per_sec: u32, burst: u32) -> TokenBucket {
        TokenBucket { per_sec, burst, milli_tokens: burst as u64 * 1000, last_ms: 0 }
    }

    /// Take one token at `now_ms`; false when none is left.
    #[inline]
    pub fn take(&mut self, now_ms: u64) -> bool {
        let elapsed = now_ms.saturating_sub(self.last_ms);
        self.last_ms = self.last_ms.max(now_ms);
        let cap = self.burst as u64 * 1000;
        self.milli_tokens = (self.milli_tokens + elapsed.saturating_mul(self.per_sec as u64)).min(cap);
        if self.milli_tokens < 1000 {
            return false;
        }
        self.milli_tokens -= 1000;
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_then_the_rate() {
        let mut b = TokenBucket::new(1000, 50);
        assert_eq!((0..100).filter(|_| b.take(10)).count(), 50, "the burst");
        assert!(!b.take(10));
        assert!(b.take(11), "one more per ms at 1000/s");
        assert!(!b.take(11));
        // A quiet second refills to the burst, not beyond.
        assert_eq!((0..100).filter(|_| b.take(2_000)).count(), 50);
    }
}
