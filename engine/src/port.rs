//! Ports: where frames come from and go to. The pipeline never does I/O itself; a port
//! hands it batches of frames and carries out its verdicts.
//!
//! Invariants:
//! - A frame lives in a buffer with headroom before it (`buf[..head]`), so the pipeline
//!   can prepend a tunnel header or grow a frame into an ICMP error in place.
//! - `recv` fills at most `max` frames; `send` is given the same batch back with one
//!   verdict per frame, transmits those with `Verdict::Tx` and recycles the rest.
//!   Neither allocates once the port is warm.

use std::io;

use crate::stats::DropReason;
use crate::Classified;

/// Headroom every port leaves before a frame (the kernel's XDP_PACKET_HEADROOM).
pub const HEADROOM: usize = 256;
/// Buffer size per frame (an AF_XDP chunk).
pub const FRAME_SIZE: usize = 4096;

/// What happens to a frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Transmit on port `port` (rewritten in place).
    Tx { port: u16 },
    /// Not for xvs: the kernel's (ARP, traffic to the director itself).
    Pass,
    /// Dropped, counted under its reason.
    Drop(DropReason),
}

/// A mutable frame with headroom, as the pipeline sees it.
pub trait PacketBuf {
    /// The whole buffer, the frame's start in it and its length.
    fn parts(&mut self) -> (&mut [u8], &mut usize, &mut usize);
    /// The port the frame arrived on.
    fn port(&self) -> u16 {
        0
    }
    /// The frame's bytes.
    fn bytes(&mut self) -> &[u8] {
        let (buf, head, len) = self.parts();
        &buf[*head..*head + *len]
    }
}

/// An owned frame buffer, used by the memory and pcap ports.
#[derive(Clone, Debug)]
pub struct FrameBuf {
    pub buf: Box<[u8]>,
    pub head: usize,
    pub len: usize,
    pub port: u16,
    /// Capture timestamp in nanoseconds, where the port has one.
    pub ts_ns: u64,
    /// The poll core whose pool the buffer belongs to (frames handed between cores).
    pub origin: u16,
    /// The frame's classification, made by the core that received it and carried with
    /// the copy it handed to the owning core (`Engine::handle_classified`); `None` after
    /// every `load`, since it describes those bytes only.
    pub class: Option<Classified>,
}

impl Default for FrameBuf {
    fn default() -> Self {
        FrameBuf {
            buf: vec![0u8; FRAME_SIZE].into_boxed_slice(),
            head: HEADROOM,
            len: 0,
            port: 0,
            ts_ns: 0,
            origin: 0,
            class: None,
        }
    }
}

impl FrameBuf {
    /// Load `data` into this buffer after the standard headroom (truncating what does
    /// not fit; a frame that big is not a valid Ethernet frame anyway).
    pub fn load(&mut self, data: &[u8]) {
        let n = data.len().min(self.buf.len() - HEADROOM);
        self.buf[HEADROOM..HEADROOM + n].copy_from_slice(&data[..n]);
        self.head = HEADROOM;
        self.len = n;
        self.class = None;
    }

    pub fn from_bytes(data: &[u8]) -> Self {
        let mut f = FrameBuf::default();
        f.load(data);
        f
    }

    pub fn data(&self) -> &[u8] {
        &self.buf[self.head..self.head + self.len]
    }
}

impl PacketBuf for FrameBuf {
    #[inline]
    fn parts(&mut self) -> (&mut [u8], &mut usize, &mut usize) {
        (&mut self.buf, &mut self.head, &mut self.len)
    }
    #[inline]
    fn port(&self) -> u16 {
        self.port
    }
}

/// A source and sink of frame batches: the memory ring, pcap files, AF_XDP sockets.
pub trait Port {
    type Frame: PacketBuf;
    /// Receive up to `max` frames into `batch` (which the port clears first).
    /// Returns the number received; 0 means nothing now (or, for finite sources, the end:
    /// see `is_exhausted`).
    fn recv(&mut self, batch: &mut Vec<Self::Frame>, max: usize) -> io::Result<usize>;
    /// Carry out the verdicts for the batch from the last `recv`; the port takes the
    /// frames back.
    fn send(&mut self, batch: &mut Vec<Self::Frame>, verdicts: &[Verdict]) -> io::Result<()>;
    /// A finite source (a capture) has no more frames.
    fn is_exhausted(&self) -> bool {
        false
    }
}
