//! The warning that keeps `xvs check` and `xvs run` truthful while nothing runs VRRP:
//! the instances are read and validated, but no election runs, so no address follows
//! the MASTER. One warning per instance, at its header, naming its addresses: those xvs
//! does not touch, and those it holds anyway because they are also service VIPs it adds
//! to `vip_device` (`manage_vips`), whatever a peer does.
//!
//! Invariant: every format that can hold VRRP instances (keepalived.conf, xvs TOML)
//! adds these warnings to a configuration that validated; when `xvs run` runs VRRP, this
//! module goes.

use std::net::IpAddr;

use crate::error::ConfigWarning;
use crate::model::{Config, VrrpInstance};
use crate::span::{Section, SourceMap, HEADER};

fn join(addrs: &[IpAddr]) -> String {
    addrs.iter().map(IpAddr::to_string).collect::<Vec<_>>().join(", ")
}

/// What happens to `inst`'s addresses without VRRP.
fn what(config: &Config, inst: &VrrpInstance) -> String {
    let all = inst.virtual_ipaddress.iter().chain(&inst.virtual_ipaddress_excluded).map(|a| a.addr);
    let held = |a: &IpAddr| config.director.manage_vips && config.services.iter().any(|s| s.vip.addr == *a);
    let (owned, untouched): (Vec<IpAddr>, Vec<IpAddr>) = all.partition(held);
    let mut parts = Vec::new();
    if !untouched.is_empty() {
        parts.push(format!("xvs will not own or announce {}", join(&untouched)));
    }
    if !owned.is_empty() {
        let (is, them) = if owned.len() == 1 { ("is a service VIP", "it") } else { ("are service VIPs", "them") };
        parts.push(format!(
            "{} {is}: xvs adds {them} to {} and answers ARP/ND for {them} whenever it runs, MASTER or not",
            join(&owned),
            config.director.vip_device
        ));
    }
    if parts.is_empty() {
        parts.push("xvs will not run this instance".into());
    }
    parts.join("; ")
}

/// One warning per VRRP instance of `config`; `label` is how the format names an
/// instance (`vrrp_instance`, `[[vrrp]]`).
pub(crate) fn not_run(config: &Config, map: &SourceMap, label: &str) -> Vec<ConfigWarning> {
    let v = &config.vrrp;
    v.instances
        .iter()
        .enumerate()
        .map(|(i, inst)| {
            let (file, pos) = map.locate_in(Section::VrrpInstance(i), HEADER);
            let message =
                format!("{label} {}: VRRP is read and validated but not run yet: {}", inst.name, what(config, inst));
            ConfigWarning::new(file, pos.line, pos.col, message)
        })
        .collect()
}
