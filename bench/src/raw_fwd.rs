//! `xvs-bench raw-forward` (hidden; started by `xvs-bench veth` in the director's
//! namespace): the I/O limit of a director on this machine. The same XDP steering program
//! as `xvs run` (`xvs::bpf::STEER_OBJ`, with only the benchmark's service in its maps),
//! the same AF_XDP port (`XskPort`, copy or zero-copy as the driver allows) and the same
//! shape of loop as `xvs_datapath::poll` (receive a batch of up to 64, act, send the batch
//! back), but no engine: each frame only gets the director's source MAC and a real's
//! destination MAC (picked by the UDP source port), as DR would.
//!
//! Invariants: prints `running:` on stderr once frames can flow; SIGTERM or SIGINT stop
//! the loop, and dropping the loaded object detaches the program.

use std::net::{IpAddr, Ipv4Addr};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use aya::maps::{HashMap, MapData, XskMap};
use aya::programs::{Xdp, XdpFlags};
use aya::Ebpf;
use xvs_datapath::maps::Endpoint;
use xvs_datapath::poll::BATCH;
use xvs_datapath::xsk::{BindMode, XskConfig, XskPort};
use xvs_engine::{PacketBuf, Verdict};

#[derive(Clone, Debug, clap::Args)]
pub struct RawArgs {
    /// Interface to forward on (one-armed)
    #[arg(long)]
    pub iface: String,
    /// Core to pin the loop to
    #[arg(long, default_value_t = 0)]
    pub core: usize,
    /// Service address (UDP) whose traffic the steering program sends up
    #[arg(long)]
    pub vip: Ipv4Addr,
    #[arg(long)]
    pub port: u16,
    /// The reals' MAC addresses (aa:bb:cc:dd:ee:ff), repeated
    #[arg(long = "real-mac", required = true)]
    pub real_macs: Vec<String>,
}

/// A MAC through the one MAC parser, `xvs_config::parse_mac`.
fn parse_mac(s: &str) -> Result<[u8; 6], String> {
    xvs_config::parse_mac(s).map_err(|p| p.message)
}

fn own_mac(iface: &str) -> Result<[u8; 6], String> {
    let s = std::fs::read_to_string(format!("/sys/class/net/{iface}/address"))
        .map_err(|e| format!("MAC of {iface}: {e}"))?;
    parse_mac(s.trim())
}

fn e(what: &str, err: impl std::fmt::Display) -> String {
    format!("{what}: {err}")
}

/// Load the steering program with one service and attach it to `iface`.
fn steer(a: &RawArgs) -> Result<Ebpf, String> {
    let mut ebpf = Ebpf::load(xvs::bpf::STEER_OBJ).map_err(|x| e("loading the steering program", x))?;
    let index = xvs::host::ifindex(&a.iface).map_err(|x| e(&a.iface, x))?;
    {
        let mut slots: HashMap<&mut MapData, u32, u32> =
            HashMap::try_from(ebpf.map_mut("ifslots").ok_or("map ifslots missing")?).map_err(|x| e("ifslots", x))?;
        slots.insert(index, 0, 0).map_err(|x| e("ifslots", x))?;
    }
    {
        let mut vips: HashMap<&mut MapData, Endpoint, u8> =
            HashMap::try_from(ebpf.map_mut("vips").ok_or("map vips missing")?).map_err(|x| e("vips", x))?;
        let ep = Endpoint::new(IpAddr::V4(a.vip), a.port, xvs_proto::PROTO_UDP);
        vips.insert(ep, 1, 0).map_err(|x| e("vips", x))?;
    }
    let prog: &mut Xdp =
        ebpf.program_mut("xvs_steer").ok_or("program xvs_steer missing")?.try_into().map_err(|x| e("xvs_steer", x))?;
    prog.load().map_err(|x| e("loading xvs_steer", x))?;
    let mut last = String::new();
    for flags in [XdpFlags::DRV_MODE, XdpFlags::SKB_MODE] {
        match prog.attach(&a.iface, flags) {
            Ok(_) => return Ok(ebpf),
            Err(x) => last = x.to_string(),
        }
    }
    Err(format!("attaching XDP to {}: {last}", a.iface))
}

/// Run the forwarder until SIGTERM/SIGINT.
pub fn run(a: &RawArgs) -> Result<(), String> {
    let macs: Vec<[u8; 6]> = a.real_macs.iter().map(|m| parse_mac(m)).collect::<Result<_, _>>()?;
    let own = own_mac(&a.iface)?;
    let stop = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGTERM, signal_hook::consts::SIGINT] {
        signal_hook::flag::register(sig, stop.clone()).map_err(|x| e("signal handler", x))?;
    }
    let mut ebpf = steer(a)?;
    let mut xc = XskConfig::new(&a.iface, 0, 0);
    xc.bind = BindMode::Auto;
    let mut port = XskPort::open(&xc).map_err(|x| x.to_string())?;
    {
        let mut xsks: XskMap<&mut MapData> =
            XskMap::try_from(ebpf.map_mut("xsks").ok_or("map xsks missing")?).map_err(|x| e("xsks", x))?;
        xsks.set(0, port.as_raw_fd(), 0).map_err(|x| e("xsks", x))?;
    }
    let pinned = core_affinity::set_for_current(core_affinity::CoreId { id: a.core });
    eprintln!(
        "xvs-bench raw-forward: running: {} queue 0, AF_XDP {} mode, core {}{}",
        a.iface,
        if port.zero_copy { "zero-copy" } else { "copy" },
        a.core,
        if pinned { "" } else { " (not pinned)" }
    );
    let mut verdicts = [Verdict::Pass; BATCH];
    while !stop.load(Ordering::Relaxed) {
        port.rx_batch(BATCH, &mut verdicts, |batch, verdicts| {
            for (f, v) in batch.iter_mut().zip(verdicts.iter_mut()) {
                *v = Verdict::Tx { port: 0 };
                let (buf, head, len) = f.parts();
                let d = &mut buf[*head..*head + *len];
                if d.len() < 36 {
                    continue;
                }
                let sport = u16::from_be_bytes([d[34], d[35]]);
                d[..6].copy_from_slice(&macs[sport as usize % macs.len()]);
                d[6..12].copy_from_slice(&own);
            }
        })
        .map_err(|x| e("receive or transmit", x))?;
    }
    let s = port.stats;
    let x = port.kernel_stats();
    drop(ebpf);
    eprintln!(
        "xvs-bench raw-forward: stopped: rx {} tx {} tx_ring_full {}; kernel: rx_dropped {} rx_ring_full {} \
         fill_ring_empty {}",
        s.rx, s.tx, s.tx_ring_full, x[0], x[3], x[4]
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn macs_parse() {
        assert_eq!(parse_mac("02:00:0a:ff:00:01").unwrap(), [2, 0, 10, 255, 0, 1]);
        assert!(parse_mac("02:00:0a:ff:00").is_err() && parse_mac("02:00:0a:ff:00:01:02").is_err());
    }
}
