//! The sink of `xvs-bench veth`: `xdp/sink.c` (embedded by the xvs crate as
//! `xvs::bpf::SINK_OBJ`) attached where the director's output arrives, counting and
//! dropping the UDP frames that reach it, so receiving costs almost nothing and the
//! delivered rate is what the director forwarded.
//!
//! Invariants: one loaded program serves every attachment (one per-CPU counter array, summed);
//! frames count as delivered only when their source MAC is the director's (frames the
//! switch floods from elsewhere land in a second counter, reported apart); the program is
//! attached through bpf links owned by this object, so dropping it detaches everywhere
//! (and deleting a real's namespace does too).

use aya::maps::{Array, MapData, PerCpuArray};
use aya::programs::{Xdp, XdpFlags};
use aya::Ebpf;
use xvs::bpf::{SINK_COUNTER_FORWARDED, SINK_COUNTER_OTHER, SINK_OBJ, SINK_PROG};
use xvs_datapath::maps::SinkMac;
use xvs_lab::Lab;

/// The loaded sink and where it is attached.
pub struct Sinks {
    ebpf: Ebpf,
    /// (namespace, interface, mode obtained)
    pub attached: Vec<(String, String, &'static str)>,
}

impl std::fmt::Debug for Sinks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sinks").field("attached", &self.attached).finish()
    }
}

fn e(what: &str, err: impl std::fmt::Display) -> String {
    format!("sink: {what}: {err}")
}

impl Sinks {
    /// Load the sink, count frames from `director_mac`, and attach it to `dev` in each of
    /// the lab's namespaces `namespaces` (short names), natively if the driver can.
    pub fn attach(lab: &Lab, namespaces: &[String], dev: &str, director_mac: [u8; 6]) -> Result<Sinks, String> {
        let mut ebpf = Ebpf::load(SINK_OBJ).map_err(|x| e("loading the program", x))?;
        {
            let mut m: Array<&mut MapData, SinkMac> =
                Array::try_from(ebpf.map_mut("director").ok_or("sink: map director missing")?)
                    .map_err(|x| e("map director", x))?;
            m.set(0, SinkMac::new(director_mac), 0).map_err(|x| e("map director", x))?;
        }
        let prog: &mut Xdp =
            ebpf.program_mut(SINK_PROG).ok_or("sink: program missing")?.try_into().map_err(|x| e("program", x))?;
        prog.load().map_err(|x| e("loading into the kernel", x))?;
        let mut attached = Vec::new();
        for ns in namespaces {
            // The interface name is resolved in the calling thread's namespace.
            let mode = lab.in_ns(ns, || -> Result<&'static str, String> {
                let mut last = String::new();
                for (flags, name) in [(XdpFlags::DRV_MODE, "native"), (XdpFlags::SKB_MODE, "generic")] {
                    match prog.attach(dev, flags) {
                        Ok(_) => return Ok(name),
                        Err(x) => last = x.to_string(),
                    }
                }
                Err(e(&format!("attaching to {dev} in {ns}"), last))
            })?;
            attached.push((ns.clone(), dev.to_string(), mode));
        }
        Ok(Sinks { ebpf, attached })
    }

    /// (frames from the director, other UDP frames) dropped so far, all CPUs.
    pub fn counts(&self) -> Result<(u64, u64), String> {
        let map = self.ebpf.map("counters").ok_or("sink: map counters missing")?;
        let arr = PerCpuArray::<&MapData, u64>::try_from(map).map_err(|x| e("map counters", x))?;
        let get =
            |i: u32| -> Result<u64, String> { Ok(arr.get(&i, 0).map_err(|x| e("reading counters", x))?.iter().sum()) };
        Ok((get(SINK_COUNTER_FORWARDED)?, get(SINK_COUNTER_OTHER)?))
    }
}
