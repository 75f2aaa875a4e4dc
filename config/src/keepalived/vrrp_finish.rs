//! After a keepalived.conf is read: its VRRP instances completed as keepalived 2.2.7
//! completes them (`vrrp_complete_init`): defaults that depend on other values or on
//! `global_defs`, then keepalived's fix-ups ([`crate::vrrp_complete`]) applied, each
//! with a warning at the value it changed, and the sync groups keepalived warns about.

use crate::error::ConfigWarning;
use crate::span::{Section, HEADER};
use crate::vrrp_complete::{complete, Ctx};

use super::Mapper;

impl Mapper {
    pub(super) fn finish_vrrp(&mut self) {
        let mut d = self.vrrp_defaults;
        let v = &self.config.vrrp;
        (d.version, d.strict, d.skip_check_adv_addr) = (v.version, v.strict, v.skip_check_adv_addr);
        let extras = std::mem::take(&mut self.vrrp_extra);
        for (i, x) in extras.iter().enumerate() {
            let inst = &mut self.config.vrrp.instances[i];
            inst.fill_defaults(x.given, &d);
            let (name, v4) = (inst.name.clone(), !inst.virtual_ipaddress.is_empty() && !inst.is_ipv6());
            let (unicast, no_vip) =
                (inst.is_unicast(), inst.virtual_ipaddress.is_empty() && inst.version == 2 && !inst.strict);
            if let (Some(at), true) = (x.native_ipv6, v4) {
                self.error(
                    at,
                    format!("vrrp_instance {name}: `native_ipv6` with IPv4 addresses"),
                    "remove `native_ipv6`: the addresses decide the family",
                );
            }
            if let (Some(at), false) = (x.unicast_keyword, unicast) {
                self.warn(at, format!("vrrp_instance {name}: a unicast keyword without any unicast_peer; adverts are multicast, as keepalived does (it calls this deprecated)"));
            }
            if no_vip {
                self.warn_at(
                    Section::VrrpInstance(i),
                    HEADER,
                    format!("vrrp_instance {name} has no virtual_ipaddress; at least one is sensible"),
                );
            }
        }
        self.complete_instances();
        self.check_sync_groups();
    }

    /// A warning at the recorded position of `key` of `sec`.
    fn warn_at(&mut self, sec: Section, key: &'static str, message: String) {
        let (file, pos) = self.map.locate_in(sec, key);
        let w = ConfigWarning::new(file, pos.line, pos.col, message);
        self.src.warnings.push(w);
    }

    fn complete_instances(&mut self) {
        let v = &mut self.config.vrrp;
        let mut notes = Vec::new();
        for (i, inst) in v.instances.iter_mut().enumerate() {
            let in_sync_group = v.sync_groups.iter().any(|g| g.group.contains(&inst.name));
            let name = inst.name.clone();
            for f in complete(inst, &Ctx { scripts: &v.scripts, in_sync_group }) {
                notes.push((
                    i,
                    f.key,
                    format!("vrrp_instance {name}: {}; {}, as keepalived does", f.problem, f.action),
                ));
            }
        }
        for (i, key, message) in notes {
            self.warn_at(Section::VrrpInstance(i), key, message);
        }
    }

    /// keepalived warns about a sync group with a single member (one without members
    /// was dropped while reading; unknown members are errors in `validate`).
    fn check_sync_groups(&mut self) {
        for g in 0..self.config.vrrp.sync_groups.len() {
            let group = &self.config.vrrp.sync_groups[g];
            if group.group.len() == 1 {
                let message = format!(
                    "vrrp_sync_group {}: only one member; this is probably not what you want (keepalived says so too)",
                    group.name
                );
                self.warn_at(Section::SyncGroup(g), HEADER, message);
            }
        }
    }
}
