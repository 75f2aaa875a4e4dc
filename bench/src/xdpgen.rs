//! The traffic generator of `xvs-bench veth`: an AF_XDP socket (copy mode) on the client's
//! veth, on a thread that entered the client's namespace and is pinned to its own core,
//! sending pre-built UDP frames client -> VIP:port from many source ports, as fast as it
//! can or at a given rate.
//!
//! Invariants:
//! - Frames are built once (`xvs_proto::build`, correct IPv4 and UDP checksums) in a UMEM
//!   of their own; transmission only moves descriptors. A completed frame goes back to the
//!   free list with its original length (completions reset it), so its bytes are reused
//!   as they are.
//! - Frame `i` carries flow `i % flows`: source port `1024 + flow`, so the director sees
//!   `flows` long-lived flows, every one of them again and again.
//! - In copy mode the kernel transmits only inside `sendto()`, at most 32 frames per call
//!   (`TX_BATCH_SIZE` in `net/xdp/xsk.c`): the loop kicks whenever the TX ring is not
//!   empty. At a rate, frames are released in bursts of [`BURST`] as their time comes.
//! - The socket's send buffer is large (`SO_SNDBUFFORCE`): a frame completes only when
//!   its skb is freed, and the kernel forwarder keeps the skb to the end of its path, so
//!   the default buffer would let the director's pace throttle the generator.
//! - A run's `packets` are the frames put on the TX ring in the window; after the window
//!   the loop keeps kicking until all of them completed (at most [`DRAIN`]), so every
//!   frame counted was handed to the veth before `run` returns.

use std::net::{Ipv4Addr, SocketAddrV4};
use std::num::NonZeroU32;
use std::os::fd::{AsFd, AsRawFd};
use std::path::PathBuf;
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use xsk_rs::config::{BindFlags, FrameSize, Interface, LibxdpFlags, QueueSize, SocketConfig, UmemConfig, XdpFlags};
use xsk_rs::{CompQueue, FillQueue, FrameDesc, RxQueue, Socket, TxQueue, Umem};
use xvs_proto::build::Frame;

/// Frames released at once when sending at a rate.
pub const BURST: u64 = 32;
/// Longest wait for the last frames of a run to complete.
pub const DRAIN: Duration = Duration::from_millis(200);
const RING: u32 = 2048;
const FRAME_SIZE: u32 = 2048;
const MIN_FRAMES: u32 = 4096;
/// Source ports 1024..=65535.
pub const MAX_FLOWS: u32 = 64_512;

/// What to send, from where.
#[derive(Clone, Debug)]
pub struct GenSpec {
    /// `/run/netns/NAME` of the client's namespace.
    pub netns: PathBuf,
    pub ifname: String,
    pub core: usize,
    pub src_mac: [u8; 6],
    pub dst_mac: [u8; 6],
    pub src_ip: Ipv4Addr,
    pub dst: SocketAddrV4,
    pub flows: u32,
    /// Ethernet frame length without FCS (60 = the minimum).
    pub frame_len: usize,
}

/// What one run sent.
#[derive(Clone, Copy, Debug, Default)]
pub struct Sent {
    pub packets: u64,
    pub secs: f64,
    /// Whether the thread could pin itself to its core.
    pub pinned: bool,
}

struct Cmd {
    rate: Option<f64>,
    secs: f64,
}

/// A generator thread, idle between runs.
pub struct Generator {
    cmd: Option<mpsc::Sender<Cmd>>,
    done: mpsc::Receiver<Result<Sent, String>>,
    thread: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for Generator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Generator")
    }
}

impl Generator {
    /// Start the thread: enter the namespace, pin, bind the socket, build the frames.
    pub fn start(spec: GenSpec) -> Result<Generator, String> {
        if spec.flows == 0 || spec.flows > MAX_FLOWS {
            return Err(format!("flows must be 1..={MAX_FLOWS}"));
        }
        let (cmd_tx, cmd_rx) = mpsc::channel::<Cmd>();
        let (done_tx, done_rx) = mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("xvs-bench-gen".into())
            .spawn(move || match Sender::new(&spec) {
                Err(e) => {
                    let _ = done_tx.send(Err(e));
                }
                Ok(mut s) => {
                    let _ = done_tx.send(Ok(Sent { pinned: s.pinned, ..Sent::default() }));
                    while let Ok(c) = cmd_rx.recv() {
                        if done_tx.send(s.run(c.rate, c.secs)).is_err() {
                            break;
                        }
                    }
                }
            })
            .map_err(|e| format!("generator thread: {e}"))?;
        let mut g = Generator { cmd: Some(cmd_tx), done: done_rx, thread: Some(thread) };
        match g.done.recv() {
            Ok(Ok(_)) => Ok(g),
            Ok(Err(e)) => Err(e),
            Err(_) => {
                g.cmd = None;
                Err("generator thread died during setup".into())
            }
        }
    }

    /// Send for `secs` seconds, at `rate` packets per second (`None`: as fast as possible).
    pub fn run(&self, rate: Option<f64>, secs: f64) -> Result<Sent, String> {
        self.cmd.as_ref().ok_or("generator stopped")?.send(Cmd { rate, secs }).map_err(|_| "generator gone")?;
        self.done.recv().map_err(|_| "generator thread died".to_string())?
    }
}

impl Drop for Generator {
    fn drop(&mut self) {
        self.cmd = None;
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The socket side, owned by the generator thread.
struct Sender {
    umem: Umem,
    tx: TxQueue,
    comp: CompQueue,
    _rx: RxQueue,
    _fill: Option<FillQueue>,
    /// Every frame with its length set, by index (`addr / FRAME_SIZE`).
    all: Vec<FrameDesc>,
    free: Vec<FrameDesc>,
    in_flight: usize,
    pinned: bool,
}

fn err(what: &str, e: impl std::fmt::Display) -> String {
    format!("generator: {what}: {e}")
}

/// The frame of flow `flow`.
fn frame(spec: &GenSpec, flow: u32) -> Vec<u8> {
    let src = SocketAddrV4::new(spec.src_ip, 1024 + flow as u16);
    Frame::udp(src.into(), spec.dst.into())
        .payload(b"xvs-bench")
        .macs(spec.dst_mac, spec.src_mac)
        .pad_to(spec.frame_len)
        .build()
}

impl Sender {
    fn new(spec: &GenSpec) -> Result<Sender, String> {
        let ns = std::fs::File::open(&spec.netns).map_err(|e| err(&format!("open {}", spec.netns.display()), e))?;
        nix::sched::setns(ns.as_fd(), nix::sched::CloneFlags::CLONE_NEWNET).map_err(|e| err("setns", e))?;
        let pinned = core_affinity::set_for_current(core_affinity::CoreId { id: spec.core });
        let ring = QueueSize::new(RING).map_err(|e| err("ring size", e))?;
        let umem_cfg = UmemConfig::builder()
            .frame_size(FrameSize::new(FRAME_SIZE).map_err(|e| err("frame size", e))?)
            .fill_queue_size(ring)
            .comp_queue_size(ring)
            .build()
            .map_err(|e| err("UMEM config", e))?;
        let count = MIN_FRAMES.max(spec.flows.next_power_of_two());
        let (umem, mut descs) =
            Umem::new(umem_cfg, NonZeroU32::new(count).expect("nonzero"), false).map_err(|e| err("UMEM", e))?;
        let sock_cfg = SocketConfig::builder()
            .rx_queue_size(ring)
            .tx_queue_size(ring)
            .libxdp_flags(LibxdpFlags::XSK_LIBXDP_FLAGS_INHIBIT_PROG_LOAD)
            .xdp_flags(XdpFlags::empty())
            .bind_flags(BindFlags::XDP_COPY | BindFlags::XDP_USE_NEED_WAKEUP)
            .build();
        let name = std::ffi::CString::new(spec.ifname.clone()).map_err(|e| err("interface name", e))?;
        // SAFETY: the UMEM is new and used by this socket only; no program is loaded.
        let (tx, rx, fq_cq) = unsafe { Socket::new(sock_cfg, &umem, &Interface::new(name), 0) }
            .map_err(|e| err(&format!("binding to {} queue 0", spec.ifname), e))?;
        let (fill, comp) = fq_cq.ok_or("generator: no fill/completion queue")?;
        // A frame completes only when the kernel frees its skb, which may be far down the
        // path (the kernel forwarder keeps it to the end); the default send buffer would
        // then cap the frames in flight and slow the generator to the director's pace.
        let sndbuf: libc::c_int = 256 << 20;
        // SAFETY: setsockopt on our socket with a valid int option.
        let rc = unsafe {
            libc::setsockopt(
                tx.fd().as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_SNDBUFFORCE,
                (&sndbuf as *const libc::c_int).cast(),
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            )
        };
        if rc != 0 {
            return Err(err("SO_SNDBUFFORCE", std::io::Error::last_os_error()));
        }
        for (i, d) in descs.iter_mut().enumerate() {
            let bytes = frame(spec, i as u32 % spec.flows);
            // SAFETY: the frame is idle and belongs to this UMEM.
            let mut data = unsafe { umem.data_mut(d) };
            let mut cur = data.cursor();
            cur.set_pos(0);
            std::io::Write::write_all(&mut cur, &bytes).map_err(|e| err("writing a frame", e))?;
        }
        // Send order: flows interleaved (frame i, i+1, ... are different flows).
        let mut free = descs.clone();
        free.reverse();
        Ok(Sender { umem, tx, comp, _rx: rx, _fill: Some(fill), all: descs, free, in_flight: 0, pinned })
    }

    /// Take back completed frames, with their lengths.
    fn reclaim(&mut self) {
        let mut scratch = [FrameDesc::default(); 256];
        loop {
            // SAFETY: completed frames belong to this UMEM and are ours again.
            let n = unsafe { self.comp.consume(&mut scratch) };
            for d in &scratch[..n] {
                self.free.push(self.all[d.addr() / FRAME_SIZE as usize]);
            }
            self.in_flight -= n;
            if n < scratch.len() {
                break;
            }
        }
    }

    fn kick(&mut self) -> Result<(), String> {
        if self.tx.nb_free_exact() < RING {
            self.tx.wakeup().map_err(|e| err("sendto", e))?;
        }
        Ok(())
    }

    fn run(&mut self, rate: Option<f64>, secs: f64) -> Result<Sent, String> {
        let _ = &self.umem;
        let dur = Duration::from_secs_f64(secs.max(0.0));
        let start = Instant::now();
        let mut produced = 0u64;
        let elapsed = loop {
            self.reclaim();
            let el = start.elapsed();
            if el >= dur {
                break el;
            }
            let mut want = self.free.len().min(64) as u64;
            if let Some(r) = rate {
                let owed = ((el.as_secs_f64() * r) as u64).saturating_sub(produced);
                want = if owed >= BURST { want.min(owed) } else { 0 };
            }
            if want > 0 {
                let n = (self.tx.nb_free(want as u32) as u64).min(want) as usize;
                if n > 0 {
                    let at = self.free.len() - n;
                    // SAFETY: these frames are idle and belong to this UMEM.
                    let done = unsafe { self.tx.produce(&self.free[at..]) };
                    if done == n {
                        self.free.truncate(at);
                        self.in_flight += n;
                        produced += n as u64;
                    }
                }
            }
            self.kick()?;
        };
        let deadline = Instant::now() + DRAIN;
        while self.in_flight > 0 && Instant::now() < deadline {
            self.kick()?;
            self.reclaim();
        }
        Ok(Sent { packets: produced, secs: elapsed.as_secs_f64(), pinned: self.pinned })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_are_valid_udp_to_the_vip() {
        let spec = GenSpec {
            netns: PathBuf::new(),
            ifname: String::new(),
            core: 1,
            src_mac: [2, 0, 0, 0, 0, 1],
            dst_mac: [2, 0, 0, 0, 0, 2],
            src_ip: Ipv4Addr::new(10, 0, 0, 2),
            dst: SocketAddrV4::new(Ipv4Addr::new(10, 0, 1, 100), 53),
            flows: 10,
            frame_len: 60,
        };
        let f = frame(&spec, 7);
        assert_eq!(f.len(), 60);
        assert_eq!(&f[..6], &spec.dst_mac);
        assert_eq!(&f[6..12], &spec.src_mac);
        let p = checked_ports(&f);
        assert_eq!(p, (1031, 53));
    }

    fn checked_ports(f: &[u8]) -> (u16, u16) {
        // IPv4 header checksum must verify; ports at the usual offsets.
        let ip = &f[14..34];
        let mut sum = 0u32;
        for c in ip.chunks(2) {
            sum += u16::from_be_bytes([c[0], c[1]]) as u32;
        }
        while sum > 0xffff {
            sum = (sum & 0xffff) + (sum >> 16);
        }
        assert_eq!(sum, 0xffff, "IPv4 checksum");
        (u16::from_be_bytes([f[34], f[35]]), u16::from_be_bytes([f[36], f[37]]))
    }
}
