//! The BPF programs of `xdp/`, compiled by `build.rs` and embedded in the binary, and the
//! bpffs mount they may pin into.
//!
//! Invariants: the objects are 8-byte aligned (aya refuses a misaligned ELF, which a plain
//! `include_bytes!` may give); [`ensure_bpffs`] mounts nothing when a bpffs is already
//! mounted at [`BPFFS`], and never mounts over something else.

use std::io;
use std::path::Path;

/// The real-server decapsulation program (`xdp/decap.c`): program `xvs_decap`, maps
/// `local_addrs` (16-byte address -> u8, IPv4 as `::ffff:a.b.c.d`) and `counters`
/// (per-CPU u64: [`DECAP_COUNTER_DECAPSULATED`], [`DECAP_COUNTER_PASSED`]).
pub static DECAP_OBJ: &[u8] = aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/decap.o"));

/// The director's steering program (`xdp/steer.c`).
pub static STEER_OBJ: &[u8] = aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/steer.o"));

/// The benchmark's real-server sink (`xdp/sink.c`, used by `xvs-bench veth`): program
/// `xvs_sink` counts and drops UDP frames; maps `director` (array of one 8-byte MAC, the
/// source to count as forwarded) and `counters` (per-CPU u64: [`SINK_COUNTER_FORWARDED`],
/// [`SINK_COUNTER_OTHER`]).
pub static SINK_OBJ: &[u8] = aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/sink.o"));

/// Name of the XDP program in [`SINK_OBJ`].
pub const SINK_PROG: &str = "xvs_sink";
/// Index in sink's `counters` map: UDP frames from the director's MAC, dropped.
pub const SINK_COUNTER_FORWARDED: u32 = 0;
/// Index in sink's `counters` map: other UDP frames, dropped.
pub const SINK_COUNTER_OTHER: u32 = 1;

/// Name of the XDP program in [`DECAP_OBJ`].
pub const DECAP_PROG: &str = "xvs_decap";
/// Index in decap's `counters` map: tunnel packets decapsulated.
pub const DECAP_COUNTER_DECAPSULATED: u32 = 0;
/// Index in decap's `counters` map: packets passed untouched.
pub const DECAP_COUNTER_PASSED: u32 = 1;

/// Where bpffs is expected.
pub const BPFFS: &str = "/sys/fs/bpf";

const BPF_FS_MAGIC: i64 = 0xcafe4a11;

/// Whether a bpffs is mounted at `path`.
pub fn is_bpffs(path: &Path) -> io::Result<bool> {
    let st = nix::sys::statfs::statfs(path).map_err(io::Error::from)?;
    Ok(st.filesystem_type().0 as i64 == BPF_FS_MAGIC)
}

/// Mounts bpffs at [`BPFFS`] unless one is mounted there already. Returns whether it
/// mounted. Needs root (CAP_SYS_ADMIN). Note that `ip netns exec` runs its command in a
/// private mount namespace where a mount made outside is not visible (and one made inside
/// disappears with it).
pub fn ensure_bpffs() -> io::Result<bool> {
    let path = Path::new(BPFFS);
    if !path.exists() {
        return Err(io::Error::new(io::ErrorKind::NotFound, format!("{BPFFS} does not exist (is sysfs mounted?)")));
    }
    if is_bpffs(path)? {
        return Ok(false);
    }
    nix::mount::mount(Some("bpf"), path, Some("bpf"), nix::mount::MsFlags::empty(), None::<&str>)
        .map_err(|e| io::Error::new(io::Error::from(e).kind(), format!("mount -t bpf bpf {BPFFS}: {e}")))?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn objects_are_aligned_elf() {
        for obj in [DECAP_OBJ, STEER_OBJ, SINK_OBJ] {
            assert_eq!(&obj[..4], b"\x7fELF");
            assert_eq!(obj.as_ptr() as usize % 8, 0);
        }
    }

    #[test]
    fn decap_object_names_its_program_and_maps() {
        for want in [DECAP_PROG, "local_addrs", "counters"] {
            assert!(DECAP_OBJ.windows(want.len()).any(|w| w == want.as_bytes()), "{want} missing from decap.o");
        }
    }
}
