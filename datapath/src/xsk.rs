//! The AF_XDP port: one socket per (interface, queue), with its own UMEM. The pipeline
//! runs on its frames as on memory rings and captures (they are [`PacketBuf`]s); unlike
//! those ports it does not implement the engine's `Port` trait, because its frames borrow
//! it (see below).
//!
//! Invariants:
//! - A received frame ([`XskFrame`]) is a `&mut` view of its UMEM chunk with the lifetime
//!   of one call of [`XskPort::rx_batch`]: the batch is lent to a closure and taken back
//!   (transmitted or recycled) when it returns, so safe code cannot keep a frame past its
//!   batch, nor past its socket (as smoltcp's `RxToken<'a>` borrows its device).
//! - Every UMEM frame is in exactly one place: the fill ring, the RX ring, a batch being
//!   processed, the TX ring, the completion ring, or the free list. Frames come back to
//!   the free list from completions and from frames that are not transmitted; the fill
//!   ring is topped up from the free list after every batch, so the kernel never runs
//!   short while frames sit idle in userspace.
//! - A received frame leaves on the same socket (same interface and queue) it came in on,
//!   in place, without a copy: the pipeline rewrites it inside its UMEM frame. TUN and
//!   ICMP errors grow a frame by moving it toward the end of its data segment
//!   (`xvs_proto::headroom`), because xsk-rs transmits from the segment's start.
//! - Rings are only touched from the thread that owns the port; the only system calls
//!   are the ring kicks (`sendto` for TX in copy mode, `poll`/`recvfrom` wakeups for the
//!   fill ring when the kernel asks for them with `need_wakeup`).

use std::ffi::CString;
use std::io;
use std::num::NonZeroU32;
use std::os::fd::{AsRawFd, RawFd};

use xsk_rs::config::{BindFlags, FrameSize, Interface, LibxdpFlags, QueueSize, SocketConfig, UmemConfig, XdpFlags};
use xsk_rs::{CompQueue, FillQueue, FrameDesc, RxQueue, Socket, TxQueue, Umem};

use xvs_engine::{PacketBuf, Verdict};

/// How the socket binds: copy mode works on every driver (veth included); zero-copy
/// needs driver support.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BindMode {
    Copy,
    ZeroCopy,
    /// Try zero-copy, fall back to copy.
    Auto,
}

#[derive(Clone, Debug)]
pub struct XskConfig {
    pub ifname: String,
    pub queue: u32,
    /// Frames in the UMEM (split between the fill ring and TX).
    pub frame_count: u32,
    /// RX, TX, fill and completion ring sizes (powers of two).
    pub ring_size: u32,
    pub bind: BindMode,
    /// The port number the pipeline sees for frames of this socket.
    pub port: u16,
}

impl XskConfig {
    pub fn new(ifname: &str, queue: u32, port: u16) -> Self {
        XskConfig { ifname: ifname.to_string(), queue, frame_count: 8192, ring_size: 2048, bind: BindMode::Auto, port }
    }
}

/// Counters of one socket.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct XskStats {
    pub rx: u64,
    pub tx: u64,
    /// Frames with a TX verdict that found the TX ring full and were dropped.
    pub tx_ring_full: u64,
    pub wakeups: u64,
}

/// A received frame: its descriptor and a view of its UMEM chunk, valid for one batch.
#[derive(Debug)]
pub struct XskFrame<'a> {
    desc: FrameDesc,
    buf: &'a mut [u8],
    head: usize,
    len: usize,
    port: u16,
}

impl PacketBuf for XskFrame<'_> {
    #[inline]
    fn parts(&mut self) -> (&mut [u8], &mut usize, &mut usize) {
        (self.buf, &mut self.head, &mut self.len)
    }
    #[inline]
    fn port(&self) -> u16 {
        self.port
    }
}

/// A frame between batches: what the port keeps of it (no view of its bytes).
#[derive(Clone, Copy, Debug)]
struct HeldFrame {
    desc: FrameDesc,
    head: usize,
    len: usize,
}

/// One AF_XDP socket with its UMEM and rings.
pub struct XskPort {
    umem: Umem,
    fill: FillQueue,
    comp: CompQueue,
    rx: RxQueue,
    tx: TxQueue,
    /// Frames owned by userspace and idle.
    free: Vec<FrameDesc>,
    /// Scratch descriptor arrays, sized once.
    rx_descs: Vec<FrameDesc>,
    /// The storage of the batch lent to `rx_batch`'s closure, kept empty between batches
    /// so that lending allocates nothing (see `lend`).
    lent: Vec<XskFrame<'static>>,
    held: Vec<HeldFrame>,
    tx_descs: Vec<FrameDesc>,
    port: u16,
    ring_size: u32,
    pub zero_copy: bool,
    pub stats: XskStats,
    ifname: String,
    queue: u32,
}

impl std::fmt::Debug for XskPort {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("XskPort")
            .field("ifname", &self.ifname)
            .field("queue", &self.queue)
            .field("zero_copy", &self.zero_copy)
            .field("stats", &self.stats)
            .finish()
    }
}

fn err(what: &str, e: impl std::fmt::Display) -> io::Error {
    io::Error::other(format!("{what}: {e}"))
}

impl XskPort {
    /// Create the UMEM and bind a socket to `cfg.ifname` queue `cfg.queue`. The XDP program
    /// is not loaded here (the caller loads xvs's own steering program and puts `fd()` in
    /// its XSKMAP).
    pub fn open(cfg: &XskConfig) -> io::Result<XskPort> {
        let modes: &[bool] = match cfg.bind {
            BindMode::Copy => &[false],
            BindMode::ZeroCopy => &[true],
            BindMode::Auto => &[true, false],
        };
        let mut last = None;
        for &zc in modes {
            match Self::open_mode(cfg, zc) {
                Ok(p) => return Ok(p),
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or_else(|| io::Error::other("no bind mode to try")))
    }

    fn open_mode(cfg: &XskConfig, zero_copy: bool) -> io::Result<XskPort> {
        let ring = QueueSize::new(cfg.ring_size).map_err(|e| err("ring size", e))?;
        let umem_cfg = UmemConfig::builder()
            .frame_size(FrameSize::new(4096).map_err(|e| err("frame size", e))?)
            .fill_queue_size(ring)
            .comp_queue_size(ring)
            .build()
            .map_err(|e| err("UMEM config", e))?;
        let count = NonZeroU32::new(cfg.frame_count).ok_or_else(|| io::Error::other("frame_count must be > 0"))?;
        let (umem, descs) = Umem::new(umem_cfg, count, false).map_err(|e| err("creating the UMEM", e))?;
        let bind = if zero_copy { BindFlags::XDP_ZEROCOPY } else { BindFlags::XDP_COPY };
        let sock_cfg = SocketConfig::builder()
            .rx_queue_size(ring)
            .tx_queue_size(ring)
            .libxdp_flags(LibxdpFlags::XSK_LIBXDP_FLAGS_INHIBIT_PROG_LOAD)
            .xdp_flags(XdpFlags::empty())
            .bind_flags(bind | BindFlags::XDP_USE_NEED_WAKEUP)
            .build();
        let name = CString::new(cfg.ifname.clone()).map_err(|e| err("interface name", e))?;
        let iface = Interface::new(name);
        // SAFETY: the UMEM is new and used by this socket only; the program is not loaded
        // by libxdp (INHIBIT_PROG_LOAD), so no double detach can happen on drop.
        let (tx, rx, fq_cq) = unsafe { Socket::new(sock_cfg, &umem, &iface, cfg.queue) }
            .map_err(|e| err(&format!("binding an AF_XDP socket to {} queue {}", cfg.ifname, cfg.queue), e))?;
        let (fill, comp) = fq_cq.ok_or_else(|| io::Error::other("no fill/completion queue for a fresh UMEM"))?;
        let batch = cfg.ring_size as usize;
        let mut port = XskPort {
            umem,
            fill,
            comp,
            rx,
            tx,
            free: descs,
            rx_descs: Vec::with_capacity(batch),
            lent: Vec::with_capacity(batch),
            held: Vec::with_capacity(batch),
            tx_descs: Vec::with_capacity(batch),
            port: cfg.port,
            ring_size: cfg.ring_size,
            zero_copy,
            stats: XskStats::default(),
            ifname: cfg.ifname.clone(),
            queue: cfg.queue,
        };
        port.refill();
        Ok(port)
    }

    /// The socket's file descriptor, for the XSKMAP and for `poll()`.
    pub fn fd(&self) -> RawFd {
        self.rx.fd().as_raw_fd()
    }

    pub fn ifname(&self) -> &str {
        &self.ifname
    }

    pub fn queue(&self) -> u32 {
        self.queue
    }

    /// The port number frames of this socket carry (the interface's slot).
    pub fn port_no(&self) -> u16 {
        self.port
    }

    /// Give the kernel as many free frames as the fill ring takes, keeping half of the
    /// frames for transmission (a frame received is transmitted from the same frame,
    /// so TX needs no frames of its own; the reserve is for the rings' slack).
    fn refill(&mut self) {
        if self.free.is_empty() {
            return;
        }
        let room = self.fill.nb_free(self.free.len() as u32) as usize;
        let n = room.min(self.free.len());
        if n == 0 {
            return;
        }
        let start = self.free.len() - n;
        // SAFETY: these frames are idle and belong to this port's UMEM.
        let done = unsafe { self.fill.produce(&self.free[start..]) };
        if done == n {
            self.free.truncate(start);
        }
        if self.fill.needs_wakeup() {
            self.stats.wakeups += 1;
            let _ = self.fill.wakeup(self.rx.fd_mut(), 0);
        }
    }

    /// Take back frames whose transmission completed.
    fn reclaim(&mut self) {
        let mut scratch = [FrameDesc::default(); 64];
        loop {
            // SAFETY: completed frames belong to this UMEM and are ours again.
            let n = unsafe { self.comp.consume(&mut scratch) };
            self.free.extend_from_slice(&scratch[..n]);
            if n < scratch.len() {
                break;
            }
        }
    }

    /// The kernel's `XDP_STATISTICS` of the socket: rx_dropped, rx_invalid_descs,
    /// tx_invalid_descs, rx_ring_full, rx_fill_ring_empty_descs, tx_ring_empty_descs
    /// (zeros if unreadable).
    pub fn kernel_stats(&self) -> [u64; 6] {
        const SOL_XDP: libc::c_int = 283;
        const XDP_STATISTICS: libc::c_int = 7;
        let mut v = [0u64; 6];
        let mut len = std::mem::size_of_val(&v) as libc::socklen_t;
        // SAFETY: the descriptor is this socket's, open while `self` lives; getsockopt
        // writes at most `len` bytes into `v`.
        let rc = unsafe { libc::getsockopt(self.fd(), SOL_XDP, XDP_STATISTICS, v.as_mut_ptr().cast(), &mut len) };
        if rc != 0 {
            return [0; 6];
        }
        v
    }

    /// Block in `poll()` until the RX ring has frames or `timeout_ms` passes (adaptive
    /// polling when idle).
    pub fn wait(&mut self, timeout_ms: i32) -> io::Result<bool> {
        self.rx.poll(timeout_ms)
    }
}

impl XskPort {
    /// Transmit copies of the frames with a `Tx` verdict (frames handed over from another
    /// core, which live in that core's buffers, not in this UMEM). Frames that find no
    /// free UMEM frame or no TX room are dropped and counted in `tx_ring_full`.
    pub fn send_copies<F: PacketBuf>(&mut self, frames: &mut [F], verdicts: &[Verdict]) -> io::Result<()> {
        self.reclaim();
        self.tx_descs.clear();
        for (f, v) in frames.iter_mut().zip(verdicts.iter()) {
            if !matches!(v, Verdict::Tx { .. }) {
                continue;
            }
            let Some(mut desc) = self.free.pop() else {
                self.stats.tx_ring_full += 1;
                continue;
            };
            let bytes = f.bytes();
            // SAFETY: `desc` is an idle frame of this UMEM.
            let mut data = unsafe { self.umem.data_mut(&mut desc) };
            let mut cur = data.cursor();
            if bytes.len() > cur.buf_len() {
                self.free.push(desc);
                continue;
            }
            cur.set_pos(0);
            let _ = std::io::Write::write_all(&mut cur, bytes);
            self.tx_descs.push(desc);
        }
        self.submit_tx()
    }

    /// Queue `tx_descs` on the TX ring (what does not fit is dropped and counted) and kick.
    fn submit_tx(&mut self) -> io::Result<()> {
        if self.tx_descs.is_empty() {
            return Ok(());
        }
        // xsk-rs's produce is all-or-nothing: submit what fits, drop the rest.
        let room = self.tx.nb_free(self.tx_descs.len() as u32) as usize;
        let n = room.min(self.tx_descs.len());
        // SAFETY: these frames are ours and of this UMEM.
        let done = unsafe { self.tx.produce(&self.tx_descs[..n]) };
        let sent = if done == n { n } else { 0 };
        self.stats.tx += sent as u64;
        self.stats.tx_ring_full += (self.tx_descs.len() - sent) as u64;
        self.free.extend_from_slice(&self.tx_descs[sent..]);
        if sent > 0 {
            // In copy mode the kernel transmits only inside sendto(), and only a small
            // batch per call: kick until it has taken everything queued, a bounded number
            // of times so a stuck device cannot hold the loop.
            for _ in 0..8 {
                self.tx.wakeup()?;
                if self.tx.nb_free_exact() >= self.ring_size {
                    break;
                }
            }
        }
        Ok(())
    }
}

impl AsRawFd for XskPort {
    /// The socket's descriptor, for the XSKMAP (`XskMap::set` takes any `AsRawFd`).
    fn as_raw_fd(&self) -> RawFd {
        self.fd()
    }
}

/// An empty vector of frames of one lifetime, as one of another: the same allocation.
fn relabel<'x, 'y>(mut v: Vec<XskFrame<'x>>) -> Vec<XskFrame<'y>> {
    v.clear();
    let mut v = std::mem::ManuallyDrop::new(v);
    let (ptr, cap) = (v.as_mut_ptr(), v.capacity());
    // SAFETY: the vector is empty, and `XskFrame<'x>` and `XskFrame<'y>` differ only in a
    // lifetime, so they have one layout: the allocation is valid for either type, and no
    // element (no borrow) crosses over.
    unsafe { Vec::from_raw_parts(ptr.cast::<XskFrame<'y>>(), 0, cap) }
}

impl XskPort {
    /// Receive up to `max` frames and lend them to `handle` with the verdicts buffer, then
    /// transmit in place the frames whose verdict is `Tx` and recycle the rest. `verdicts`
    /// must hold at least `max` entries; `handle` sets the first `n` (one per frame).
    /// Returns the number of frames received (0: the closure was not called).
    pub fn rx_batch<F>(&mut self, max: usize, verdicts: &mut [Verdict], handle: F) -> io::Result<usize>
    where
        F: for<'f> FnOnce(&mut [XskFrame<'f>], &mut [Verdict]),
    {
        let n = self.receive(max.min(verdicts.len()));
        if n == 0 {
            return Ok(0);
        }
        let mut frames: Vec<XskFrame<'_>> = relabel(std::mem::take(&mut self.lent));
        let port = self.port;
        for h in &self.held {
            let mut desc = h.desc;
            // SAFETY: `desc` is a frame of this UMEM that userspace owns until it is queued
            // again below; its chunk is disjoint from every other frame's, and the view
            // lives only for this call (the closure cannot keep it, being generic over
            // the lifetime), while the UMEM mapping outlives `self`.
            let mut data = unsafe { self.umem.data_mut(&mut desc) };
            let mut cur = data.cursor();
            let cap = cur.buf_len();
            // Expose the whole segment: the length is set back before transmission.
            cur.set_pos(cap);
            let ptr = data.contents_mut().as_mut_ptr();
            // SAFETY: `ptr..ptr + cap` is this frame's chunk (see above).
            let buf = unsafe { std::slice::from_raw_parts_mut(ptr, cap) };
            frames.push(XskFrame { desc, buf, head: h.head, len: h.len, port });
        }
        handle(&mut frames, &mut verdicts[..n]);
        self.held.clear();
        for f in frames.drain(..) {
            if f.head != 0 {
                // xsk-rs transmits from the chunk's start.
                f.buf.copy_within(f.head..f.head + f.len, 0);
            }
            self.held.push(HeldFrame { desc: f.desc, head: 0, len: f.len });
        }
        self.lent = relabel(frames);
        self.transmit_held(&verdicts[..n])?;
        self.refill();
        Ok(n)
    }

    /// Take up to `max` descriptors off the RX ring into `held`.
    fn receive(&mut self, max: usize) -> usize {
        self.held.clear();
        self.reclaim();
        self.refill();
        let want = max.min(self.rx_descs.capacity());
        self.rx_descs.clear();
        self.rx_descs.resize(want, FrameDesc::default());
        // SAFETY: descriptors filled by the RX ring are this UMEM's frames, now ours.
        let n = unsafe { self.rx.consume(&mut self.rx_descs[..want]) };
        for d in &mut self.rx_descs[..n] {
            let desc = *d;
            // SAFETY: `desc` is a frame of this UMEM that userspace now owns.
            let len = unsafe { self.umem.data(&desc) }.contents().len();
            self.held.push(HeldFrame { desc, head: 0, len });
        }
        self.stats.rx += n as u64;
        n
    }

    /// Queue the held frames with a `Tx` verdict on the TX ring (at their lengths) and
    /// recycle the others.
    fn transmit_held(&mut self, verdicts: &[Verdict]) -> io::Result<()> {
        self.tx_descs.clear();
        for i in 0..self.held.len() {
            let h = self.held[i];
            let mut desc = h.desc;
            if matches!(verdicts.get(i), Some(Verdict::Tx { .. })) {
                // SAFETY: the frame is ours; setting the length only touches its descriptor.
                unsafe { self.umem.data_mut(&mut desc) }.cursor().set_pos(h.len);
                self.tx_descs.push(desc);
            } else {
                self.free.push(desc);
            }
        }
        self.held.clear();
        self.submit_tx()
    }
}
