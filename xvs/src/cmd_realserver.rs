//! `xvs realserver --vip VIP... [--decap IF]`: the real-server side of DR and TUN. Adds each
//! VIP to `lo` (/32 or /128), sets `arp_ignore=1` and `arp_announce=2` on `all`, `lo` and
//! the decap interface (so this host never answers ARP for a VIP, nor uses one as an ARP
//! source), optionally attaches the decap program, stays in the foreground and undoes it all
//! on SIGINT/SIGTERM.
//!
//! Invariants: only what this process changed is undone — a VIP that was already on `lo`
//! stays, a sysctl is restored to the value it read before writing; undo runs in reverse
//! order on every exit path (signal, setup error, panic: it lives in `Drop`); nothing is
//! changed before the arguments are validated and root is confirmed.

use std::net::IpAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use crate::cmd_decap::{self, Decap, Failure};
use xvs::host;

/// What was changed, to undo in reverse order.
struct Changes {
    lo: u32,
    vips_added: Vec<(IpAddr, u8)>,
    sysctls: Vec<(PathBuf, String)>,
    decap: Option<Decap>,
}

impl Changes {
    fn undo(&mut self) {
        if let Some(d) = self.decap.take() {
            let iface = d.iface().to_string();
            let (dec, passed) = d.detach();
            println!("xvs realserver: decap detached from {iface}; decapsulated {dec}, passed {passed}");
        }
        while let Some((path, old)) = self.sysctls.pop() {
            if let Err(e) = host::write_sysctl(&path, &old) {
                eprintln!("xvs realserver: warning: restoring {}: {e}", path.display());
            }
        }
        while let Some((vip, len)) = self.vips_added.pop() {
            if let Err(e) = host::del_address(self.lo, vip, len) {
                eprintln!("xvs realserver: warning: removing {vip}/{len} from lo: {e}");
            }
        }
    }
}

impl Drop for Changes {
    fn drop(&mut self) {
        self.undo();
    }
}

pub fn run(vips: &[IpAddr], decap: Option<&str>, gue_ports: &[u16]) -> ExitCode {
    match setup_and_wait(vips, decap, gue_ports) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => e.exit("realserver"),
    }
}

fn setup_and_wait(vips: &[IpAddr], decap_iface: Option<&str>, gue_ports: &[u16]) -> Result<(), Failure> {
    if vips.is_empty() {
        return Err(Failure::input("give at least one --vip"));
    }
    for vip in vips {
        if vip.is_unspecified() || vip.is_multicast() || vip.is_loopback() {
            return Err(Failure::input(format!("{vip} cannot be a VIP")));
        }
    }
    if let Some(iface) = decap_iface {
        host::ifindex(iface).map_err(|e| Failure::input(e.to_string()))?;
        if iface == "lo" {
            return Err(Failure::input("--decap needs the interface the tunnel arrives on, not lo"));
        }
    }
    if !host::is_root() {
        return Err(Failure::runtime("must run as root (adds addresses to lo, writes sysctls, loads XDP)"));
    }
    let flag = cmd_decap::termination_flag()?;
    let lo = host::ifindex("lo").map_err(|e| Failure::runtime(e.to_string()))?;
    if !host::is_up("lo") {
        eprintln!(
            "xvs realserver: warning: lo is down, so the kernel will not deliver to the VIPs (ip link set lo up)"
        );
    }
    let mut changes = Changes { lo, vips_added: Vec::new(), sysctls: Vec::new(), decap: None };

    let present: Vec<IpAddr> = host::addresses_of(lo)
        .map_err(|e| Failure::runtime(format!("listing addresses of lo: {e}")))?
        .into_iter()
        .map(|a| a.addr)
        .collect();
    let mut kept = Vec::new();
    for &vip in vips {
        let len = if vip.is_ipv4() { 32 } else { 128 };
        if present.contains(&vip) || changes.vips_added.contains(&(vip, len)) {
            kept.push(vip);
            continue;
        }
        host::add_address(lo, vip, len).map_err(|e| Failure::runtime(format!("adding {vip}/{len} to lo: {e}")))?;
        changes.vips_added.push((vip, len));
    }

    let mut devs = vec!["all", "lo"];
    devs.extend(decap_iface);
    for dev in devs {
        for (key, value) in [("arp_ignore", "1"), ("arp_announce", "2")] {
            let path = host::ipv4_conf(dev, key);
            let old = host::read_sysctl(&path).map_err(|e| Failure::runtime(e.to_string()))?;
            if old != value {
                host::write_sysctl(&path, value).map_err(|e| Failure::runtime(e.to_string()))?;
                changes.sysctls.push((path, old));
            }
        }
    }

    if let Some(iface) = decap_iface {
        changes.decap = Some(Decap::attach(iface, gue_ports)?);
    }

    let added: Vec<String> = changes.vips_added.iter().map(|(v, l)| format!("{v}/{l}")).collect();
    let kept: Vec<String> = kept.iter().map(|v| v.to_string()).collect();
    let mut line = format!("xvs realserver: VIPs on lo: added [{}]", added.join(", "));
    if !kept.is_empty() {
        line += &format!(", already there (left alone) [{}]", kept.join(", "));
    }
    line += &format!("; arp_ignore=1 arp_announce=2 ({} sysctls changed)", changes.sysctls.len());
    if let Some(d) = &changes.decap {
        line += &format!("; decap on {} in {} mode", d.iface(), d.mode);
    }
    println!("{line}");

    cmd_decap::wait(&flag, changes.decap.as_mut());
    changes.undo();
    println!("xvs realserver: undone; exiting");
    Ok(())
}
