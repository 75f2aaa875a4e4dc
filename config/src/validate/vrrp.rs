//! The rules of the VRRP part of the model: what keepalived 2.2.7 refuses to run
//! (`chk_min_cfg`, `vrrp_complete_instance`, `check_vrid_conflicts`,
//! `vrrp_sync_set_group`), what it would silently drop (an undefined tracked script, an
//! unknown sync group member: xvs refuses both, since the failover would not be the one
//! the file describes), and its fix-ups ([`crate::vrrp_complete`]), which an xvs TOML
//! must already have applied.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::Duration;

use super::{family, Validator};
use crate::model::{Config, Notifies, Vrrp, VrrpInstance, VrrpScript, TRACK_WEIGHT_RANGE};
use crate::span::{Section, HEADER};
use crate::syntax::closest;
use crate::vrrp_complete::{complete, Ctx};

/// Longest `preempt_delay` keepalived accepts.
const MAX_PREEMPT_DELAY: Duration = Duration::from_secs(1000);

impl Validator<'_> {
    pub(super) fn vrrp(&mut self, c: &Config) {
        let v = &c.vrrp;
        if !matches!(v.version, 2 | 3) {
            self.bad(
                (Section::VrrpGlobal, "version"),
                format!("VRRP version {} is not 2 or 3", v.version),
                "keepalived's default is `version = 2`",
            );
        }
        self.unique_names(v.scripts.iter().map(|s| s.name.as_str()), Section::VrrpScript, "vrrp_script");
        for (k, s) in v.scripts.iter().enumerate() {
            self.vrrp_script(k, s);
        }
        self.unique_names(v.instances.iter().map(|i| i.name.as_str()), Section::VrrpInstance, "vrrp_instance");
        for (i, inst) in v.instances.iter().enumerate() {
            self.instance(v, i, inst);
        }
        self.vrid_conflicts(v);
        self.sync_groups(v);
    }

    /// Names of one kind must be unique (keepalived skips a second vrrp_instance of a
    /// name, and finds only the first vrrp_script or sync group).
    fn unique_names<'a>(&mut self, names: impl Iterator<Item = &'a str>, sec: fn(usize) -> Section, what: &str) {
        let mut seen: HashMap<&str, usize> = HashMap::new();
        for (i, name) in names.enumerate() {
            if name.is_empty() {
                self.bad(
                    (sec(i), "name"),
                    format!("a {what} needs a name"),
                    format!("write `{what} NAME {{ ... }}` / `name = \"...\"`"),
                );
            } else if let Some(&first) = seen.get(name) {
                let at = self.where_is((sec(first), "name"), format!("#{}", first + 1));
                self.report(
                    (sec(i), "name"),
                    &[(sec(first), "name")],
                    format!("{what} {name} is defined twice (first at {at})"),
                    "give each one its own name".into(),
                );
            } else {
                seen.insert(name, i);
            }
        }
    }

    fn vrrp_script(&mut self, k: usize, s: &VrrpScript) {
        let sec = Section::VrrpScript(k);
        if s.script.trim().is_empty() {
            self.bad(
                (sec, "script"),
                format!("vrrp_script {} has no `script`", s.name),
                "add the line to run, e.g. `script \"/usr/bin/pgrep haproxy\"`",
            );
        }
        for (key, v) in [("interval", s.interval), ("timeout", s.timeout), ("rise", s.rise), ("fall", s.fall)] {
            if v == 0 {
                self.bad(
                    (sec, key),
                    format!("vrrp_script {}: `{key}` must be at least 1", s.name),
                    "keepalived reads 0 as 1; write 1",
                );
            }
        }
        if !TRACK_WEIGHT_RANGE.contains(&s.weight) {
            self.bad(
                (sec, "weight"),
                format!("vrrp_script {}: weight {} is not in -253..=253", s.name, s.weight),
                "use -253..=253 (0: a failure is a FAULT)",
            );
        }
    }

    fn instance(&mut self, v: &Vrrp, i: usize, inst: &VrrpInstance) {
        let errors = self.errors.len();
        self.instance_values(i, inst);
        // keepalived's fix-ups are judged on values that are in range.
        if self.errors.len() == errors {
            self.fixups(v, i, inst);
        }
        self.where_adverts_go(i, inst);
        self.families(i, inst);
        self.tracked_scripts(v, i, inst);
        self.notifies(Section::VrrpInstance(i), &inst.notify);
    }

    /// What keepalived would fix up in `inst`: an xvs TOML must say it directly.
    fn fixups(&mut self, v: &Vrrp, i: usize, inst: &VrrpInstance) {
        let name = &inst.name;
        let mut copy = inst.clone();
        let ctx = Ctx { scripts: &v.scripts, in_sync_group: v.sync_group_of(name).is_some() };
        for f in complete(&mut copy, &ctx).into_iter().filter(|f| f.changed()) {
            self.bad(
                (Section::VrrpInstance(i), f.key),
                format!("vrrp_instance {name}: {}", f.problem),
                format!("keepalived 2.2.7 reads this as: {}; {}", f.action, f.edit),
            );
        }
    }

    /// The ranges of an instance's values.
    fn instance_values(&mut self, i: usize, inst: &VrrpInstance) {
        let sec = Section::VrrpInstance(i);
        let name = &inst.name;
        if inst.virtual_router_id == 0 {
            self.bad(
                (sec, "virtual_router_id"),
                format!("vrrp_instance {name} has no virtual_router_id"),
                "every instance needs one, 1..=255, the same on its peers: `virtual_router_id 51`",
            );
        }
        if inst.priority == 0 {
            self.bad(
                (sec, "priority"),
                format!("vrrp_instance {name}: priority 0 is not in 1..=255"),
                "0 is reserved for a MASTER that stops; the default is 100",
            );
        }
        if !matches!(inst.version, 2 | 3) {
            self.bad(
                (sec, "version"),
                format!("vrrp_instance {name}: version {} is not 2 or 3", inst.version),
                "write 2 or 3",
            );
        } else if inst.version == 2 && inst.is_ipv6() {
            self.bad(
                (sec, "version"),
                format!("vrrp_instance {name} is IPv6, which VRRP version 2 cannot carry"),
                "remove `version 2`: IPv6 instances run VRRP version 3",
            );
        }
        if inst.advert_int.is_zero() {
            self.bad(
                (sec, "advert_int"),
                format!("vrrp_instance {name}: advert_int must be above 0"),
                "the default is 1 second",
            );
        }
        if inst.preempt_delay > MAX_PREEMPT_DELAY {
            self.bad(
                (sec, "preempt_delay"),
                format!("vrrp_instance {name}: preempt_delay is above 1000 seconds"),
                "use 0..=1000",
            );
        }
        if inst.garp_master_repeat == 0 {
            self.bad(
                (sec, "garp_master_repeat"),
                format!("vrrp_instance {name}: garp_master_repeat must be at least 1"),
                "keepalived reads 0 as 1; write 1",
            );
        }
    }

    /// The interface, the source address, unicast or multicast, and the addresses.
    fn where_adverts_go(&mut self, i: usize, inst: &VrrpInstance) {
        let sec = Section::VrrpInstance(i);
        let name = &inst.name;
        match &inst.interface {
            Some(ifname) if ifname.is_empty() || ifname.chars().count() > crate::model::IFNAME_MAX => self.bad(
                (sec, "interface"),
                format!("vrrp_instance {name}: bad interface name `{ifname}`"),
                "write the interface's name, e.g. `interface eth0`",
            ),
            Some(_) => {}
            None if !inst.is_unicast() => self.bad(
                (sec, HEADER),
                format!("vrrp_instance {name} has no interface"),
                "add `interface eth0` (only a unicast instance with `unicast_src_ip` can do without)",
            ),
            None if inst.unicast_src_ip.is_none() => self.bad(
                (sec, HEADER),
                format!("vrrp_instance {name}: a unicast instance without an interface needs `unicast_src_ip`"),
                "add `interface eth0` or `unicast_src_ip 10.0.0.1`",
            ),
            None => {
                if let Some(IpAddr::V6(a)) = inst.unicast_src_ip {
                    if a.segments()[0] & 0xffc0 == 0xfe80 {
                        self.bad(
                            (sec, "unicast_src_ip"),
                            format!("vrrp_instance {name}: a link-local unicast_src_ip needs an interface"),
                            "add `interface eth0`",
                        );
                    }
                }
            }
        }
        if inst.is_unicast() && inst.strict {
            self.bad(
                (sec, "unicast_peer"),
                format!("vrrp_instance {name}: strict mode does not allow unicast peers"),
                "remove `vrrp_strict` / `strict_mode`, or the unicast_peer block",
            );
        }
        if inst.virtual_ipaddress.is_empty() && (inst.version == 3 || inst.strict) {
            let why = if inst.strict { "strict mode" } else { "VRRP version 3" };
            self.bad(
                (sec, "virtual_ipaddress"),
                format!("vrrp_instance {name} has no virtual_ipaddress, which {why} requires"),
                "add the addresses the instance moves: `virtual_ipaddress { 192.168.20.50 }`",
            );
        }
    }

    /// One family for the virtual addresses, the source and the peers (the excluded
    /// addresses may mix).
    fn families(&mut self, i: usize, inst: &VrrpInstance) {
        let v6 = inst.is_ipv6();
        let want = if v6 { "IPv6" } else { "IPv4" };
        let hint = "keepalived drops an address of the other family; put it in virtual_ipaddress_excluded, or in an instance of its own";
        for (j, a) in inst.virtual_ipaddress.iter().enumerate() {
            if a.addr.is_ipv6() != v6 {
                let at = (Section::VrrpEntry(i, "virtual_ipaddress", j), HEADER);
                self.bad(
                    at,
                    format!(
                        "vrrp_instance {}: virtual address {} is {} but the instance is {want}",
                        inst.name,
                        a.addr,
                        family(a.addr)
                    ),
                    hint,
                );
            }
        }
        for (j, p) in inst.unicast_peer.iter().enumerate() {
            if p.is_ipv6() != v6 {
                let at = (Section::VrrpEntry(i, "unicast_peer", j), HEADER);
                self.bad(
                    at,
                    format!(
                        "vrrp_instance {}: unicast peer {p} is {} but the instance is {want}",
                        inst.name,
                        family(*p)
                    ),
                    "use a peer address of the instance's family",
                );
            }
        }
        if let Some(src) = inst.unicast_src_ip {
            if src.is_ipv6() != v6 {
                self.bad(
                    (Section::VrrpInstance(i), "unicast_src_ip"),
                    format!(
                        "vrrp_instance {}: unicast_src_ip {src} is {} but the instance is {want}",
                        inst.name,
                        family(src)
                    ),
                    "use a source address of the instance's family",
                );
            }
        }
    }

    fn tracked_scripts(&mut self, v: &Vrrp, i: usize, inst: &VrrpInstance) {
        let names: Vec<&str> = v.scripts.iter().map(|s| s.name.as_str()).collect();
        for (j, t) in inst.track_script.iter().enumerate() {
            if v.script(&t.name).is_none() {
                let hint = match closest(&t.name, &names) {
                    Some(c) => format!("did you mean `{c}`? (keepalived ignores a track_script it cannot find)"),
                    None => format!("define it: `vrrp_script {} {{ script \"...\" }}`", t.name),
                };
                self.bad(
                    (Section::VrrpEntry(i, "track_script", j), HEADER),
                    format!("vrrp_instance {}: track_script {} is not a defined vrrp_script", inst.name, t.name),
                    hint,
                );
            }
        }
    }

    fn notifies(&mut self, sec: Section, n: &Notifies) {
        for (key, s) in n.set() {
            if s.script.trim().is_empty() {
                self.bad(
                    (sec, key),
                    format!("`{key}` has no script"),
                    format!("write `{key} \"/path/to/script arg\"`"),
                );
            }
        }
    }

    /// keepalived's `check_vrid_conflicts`: one VRID per interface and family among
    /// multicast instances; among unicast ones, unless their peers differ.
    fn vrid_conflicts(&mut self, v: &Vrrp) {
        for (i, a) in v.instances.iter().enumerate() {
            for (j, b) in v.instances.iter().enumerate().skip(i + 1) {
                let same = a.virtual_router_id == b.virtual_router_id
                    && a.virtual_router_id != 0
                    && a.is_ipv6() == b.is_ipv6()
                    && a.is_unicast() == b.is_unicast()
                    && a.interface == b.interface
                    && (!a.is_unicast() || a.unicast_peer.iter().any(|p| b.unicast_peer.contains(p)));
                if same {
                    let first = (Section::VrrpInstance(i), "virtual_router_id");
                    let at = self.where_is(first, format!("vrrp_instance {}", a.name));
                    self.report(
                        (Section::VrrpInstance(j), "virtual_router_id"),
                        &[first],
                        format!("vrrp_instance {}: virtual_router_id {} is already used by {} (at {at}) on the same interface and family", b.name, b.virtual_router_id, a.name),
                        "give each instance on an interface its own virtual_router_id".into(),
                    );
                }
            }
        }
    }

    fn sync_groups(&mut self, v: &Vrrp) {
        self.unique_names(v.sync_groups.iter().map(|g| g.name.as_str()), Section::SyncGroup, "vrrp_sync_group");
        let names: Vec<&str> = v.instances.iter().map(|i| i.name.as_str()).collect();
        let mut member_of: HashMap<&str, &str> = HashMap::new();
        for (g, group) in v.sync_groups.iter().enumerate() {
            if group.group.is_empty() {
                self.bad(
                    (Section::SyncGroup(g), "group"),
                    format!("vrrp_sync_group {} has no members", group.name),
                    "list its instances: `group { VI_1 VI_2 }`",
                );
            }
            for (j, m) in group.group.iter().enumerate() {
                let at = (Section::SyncMember(g, j), HEADER);
                if v.instance(m).is_none() {
                    let hint = match closest(m, &names) {
                        Some(c) => format!("did you mean `{c}`?"),
                        None => "name a vrrp_instance defined in this configuration".into(),
                    };
                    self.bad(at, format!("vrrp_sync_group {}: {m} is not a vrrp_instance", group.name), hint);
                } else if let Some(other) = member_of.insert(m, &group.name) {
                    self.bad(
                        at,
                        format!("vrrp_sync_group {}: {m} is already in vrrp_sync_group {other}", group.name),
                        "an instance belongs to one sync group at most",
                    );
                }
            }
            self.notifies(Section::SyncGroup(g), &group.notify);
        }
    }
}
