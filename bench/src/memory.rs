//! The process's resident memory, as the kernel counts it (`/proc/self/statm`).
//!
//! Invariants: figures are measured, never computed from struct sizes, so they include
//! the index's load factor, allocator overhead and page granularity. The page size is
//! read from the auxiliary vector (`AT_PAGESZ`), 4096 if that cannot be read.

use std::fs;

const AT_PAGESZ: u64 = 6;

/// The page size the kernel reports for this process.
pub fn page_size() -> u64 {
    let Ok(auxv) = fs::read("/proc/self/auxv") else {
        return 4096;
    };
    for pair in auxv.chunks_exact(16) {
        let key = u64::from_ne_bytes(pair[..8].try_into().unwrap_or_default());
        if key == AT_PAGESZ {
            return u64::from_ne_bytes(pair[8..].try_into().unwrap_or_default()).max(1);
        }
    }
    4096
}

/// Resident set size in bytes (`None` where `/proc/self/statm` is unavailable).
pub fn rss_bytes() -> Option<u64> {
    let statm = fs::read_to_string("/proc/self/statm").ok()?;
    let resident: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some(resident * page_size())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The resident set is the whole process's, and the other tests of this binary run
    /// engines with large tables in parallel threads, freeing them at any moment (seen:
    /// 300 MB before, 143 MB after). So the 64 MiB this test touches must show in at least
    /// one of a few attempts, not in the first; an `rss_bytes` that does not follow the
    /// process's memory fails them all.
    #[test]
    fn touching_memory_raises_rss() {
        let mut seen = Vec::new();
        for _ in 0..8 {
            let before = rss_bytes().unwrap();
            let mut v = vec![0u8; 64 << 20];
            for i in (0..v.len()).step_by(4096) {
                v[i] = 1;
            }
            std::hint::black_box(&v);
            let after = rss_bytes().unwrap();
            if after >= before + (60 << 20) {
                return;
            }
            seen.push((before, after));
        }
        panic!("touching 64 MiB never raised the resident set by 60 MiB: (before, after) {seen:?}");
    }
}
