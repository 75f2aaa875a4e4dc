//! The warning that keeps `xvs check` and `xvs run` truthful while nothing runs VRRP:
//! the instances are read and validated, but no process owns, announces or defends
//! their addresses yet. One warning per instance, at its header, naming the addresses.
//!
//! Invariant: every format that can hold VRRP instances (keepalived.conf, xvs TOML)
//! adds these warnings to a configuration that validated; when `xvs run` runs VRRP, this
//! module goes.

use std::net::IpAddr;

use crate::error::ConfigWarning;
use crate::model::Config;
use crate::span::{Section, SourceMap, HEADER};

/// One warning per VRRP instance of `config`; `label` is how the format names an
/// instance (`vrrp_instance`, `[[vrrp]]`).
pub(crate) fn not_run(config: &Config, map: &SourceMap, label: &str) -> Vec<ConfigWarning> {
    let v = &config.vrrp;
    v.instances
        .iter()
        .enumerate()
        .map(|(i, inst)| {
            let addrs: Vec<IpAddr> =
                inst.virtual_ipaddress.iter().chain(&inst.virtual_ipaddress_excluded).map(|a| a.addr).collect();
            let what = if addrs.is_empty() {
                "xvs will not run this instance".to_string()
            } else {
                let list = addrs.iter().map(IpAddr::to_string).collect::<Vec<_>>().join(", ");
                format!("xvs will not own or announce {list}")
            };
            let (file, pos) = map.locate_in(Section::VrrpInstance(i), HEADER);
            let message = format!("{label} {}: VRRP is read and validated but not run yet: {what}", inst.name);
            ConfigWarning::new(file, pos.line, pos.col, message)
        })
        .collect()
}
