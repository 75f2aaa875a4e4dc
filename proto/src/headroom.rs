//! Making room in front of a frame for a header that is prepended in place.
//!
//! Invariant: after `ensure(buf, head, len, need)` returns `Ok(h)`, `h == *head`,
//! `h >= need`, and `buf[h..h + *len]` holds the same frame bytes as before. Frames that
//! arrived with headroom (the memory and pcap ports leave 256 bytes) are not moved;
//! frames that start at the front of their buffer (an AF_XDP data segment) are moved
//! toward the end of the buffer when it has the room, which costs one copy of the frame.

use crate::packet::RewriteError;

/// Make at least `need` bytes of headroom before the frame `buf[*head..*head + *len]`.
/// Returns the (possibly new) start of the frame, or `NoHeadroom` when the buffer is
/// too small either way.
#[inline]
pub fn ensure(buf: &mut [u8], head: &mut usize, len: &mut usize, need: usize) -> Result<usize, RewriteError> {
    let h = *head;
    if h >= need {
        return Ok(h);
    }
    let end = need.checked_add(*len).ok_or(RewriteError::NoHeadroom)?;
    if end > buf.len() {
        return Err(RewriteError::NoHeadroom);
    }
    buf.copy_within(h..h + *len, need);
    *head = need;
    Ok(need)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn moves_only_when_needed() {
        let mut buf = [0u8; 16];
        buf[..4].copy_from_slice(&[1, 2, 3, 4]);
        let (mut head, mut len) = (0, 4);
        assert_eq!(ensure(&mut buf, &mut head, &mut len, 6), Ok(6));
        assert_eq!(&buf[6..10], &[1, 2, 3, 4]);
        assert_eq!(ensure(&mut buf, &mut head, &mut len, 4), Ok(6));
        let (mut h2, mut l2) = (0, 12);
        assert_eq!(ensure(&mut buf, &mut h2, &mut l2, 6), Err(RewriteError::NoHeadroom));
    }
}
