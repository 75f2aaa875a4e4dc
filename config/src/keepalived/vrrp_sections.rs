//! keepalived.conf's `vrrp_script` and `vrrp_sync_group` sections and the VRRP keywords
//! of `global_defs`, read as keepalived 2.2.7 reads them (`vrrp_parser.c`,
//! `global_parser.c`), by the rules of `vrrp.rs`: read, warned about, or refused.

use crate::model::{Notifies, RunAs, SyncGroup, VrrpScript};
use crate::span::{Section, HEADER};
use crate::vrrp_syntax;

use super::lexer::Stmt;
use super::{words, Mapper};

/// global_defs VRRP keywords that would change the failover if left out.
const GLOBAL_REFUSED: &[(&str, &str)] = &[
    ("vrrp_check_unicast_src", "filtering adverts by unicast peer is not supported"),
    ("vrrp_lower_prio_no_advert", "the advert behaviour is keepalived's default (or strict mode's)"),
    ("vrrp_higher_prio_send_advert", "the advert behaviour is keepalived's default (or strict mode's)"),
];

impl Mapper {
    pub(super) fn vrrp_script(&mut self, s: &Stmt) {
        let k = self.config.vrrp.scripts.len();
        let sec = Section::VrrpScript(k);
        let Some(name) = self.vrrp_name(s, "vrrp_script", sec) else {
            return;
        };
        let mut vs = VrrpScript::new(name.clone(), "");
        let mut timeout = None;
        for st in s.block.as_deref().unwrap_or_default() {
            self.no_block(st);
            let kw = st.key();
            match kw {
                "script" => self.script_line(st, &mut vs),
                "interval" | "timeout" | "rise" | "fall" => {
                    let Some((mut n, at)) = self.num(st, u32::MAX, "2") else {
                        continue;
                    };
                    if n == 0 {
                        self.warn(at, format!("vrrp_script {name}: `{kw} 0` is read as 1, as keepalived does"));
                        n = 1;
                    }
                    match kw {
                        "interval" => vs.interval = n,
                        "timeout" => timeout = Some(n),
                        "rise" => vs.rise = n,
                        _ => vs.fall = n,
                    }
                }
                "weight" => {
                    let tail = Self::texts(st, 0);
                    if let Some(w) = self.line(&st.words, |_| vrrp_syntax::weight(&name, "vrrp_script", &tail)) {
                        vs.weight = w.unwrap_or(0);
                    }
                }
                "user" => {
                    let texts = Self::texts(st, 1);
                    match texts[..] {
                        [u] | [u, _] => {
                            vs.user = Some(RunAs { user: u.into(), group: texts.get(1).map(|g| g.to_string()) })
                        }
                        _ => self.error(st.at(), "`user` needs USER [GROUP]", "write `user keepalived_script`"),
                    }
                }
                "init_fail" => vs.init_fail = true,
                _ => {
                    self.not_used(
                        st,
                        &format!("vrrp_script {name}"),
                        &["script", "interval", "timeout", "weight", "rise", "fall", "user", "init_fail"],
                        &[],
                    );
                    continue;
                }
            }
            self.set(
                sec,
                match kw {
                    "script" => "script",
                    "interval" => "interval",
                    "timeout" => "timeout",
                    "rise" => "rise",
                    "fall" => "fall",
                    "weight" => "weight",
                    "user" => "user",
                    _ => "init_fail",
                },
                st.at(),
            );
        }
        // keepalived's default timeout (0) means the interval.
        vs.timeout = timeout.unwrap_or(vs.interval);
        self.config.vrrp.scripts.push(vs);
    }

    /// `script "LINE"`: keepalived runs only the first word after `script` (a line with
    /// arguments is quoted).
    fn script_line(&mut self, st: &Stmt, vs: &mut VrrpScript) {
        let Some(t) = self.arg(st, 1, "\"/usr/bin/pgrep haproxy\"") else {
            return;
        };
        vs.script = t.text.clone();
        if let Some(rest) = st.words.get(2) {
            let (first, all) = (t.text.clone(), words(&st.words[1..]));
            self.warn(rest.at, format!("vrrp_script {}: keepalived runs only `{first}` of `{all}` (an unquoted script line ends at its first word); quote the whole line to pass the arguments", vs.name));
        }
    }

    pub(super) fn vrrp_sync_group(&mut self, s: &Stmt) {
        let g = self.config.vrrp.sync_groups.len();
        let sec = Section::SyncGroup(g);
        let Some(name) = self.vrrp_name(s, "vrrp_sync_group", sec) else {
            return;
        };
        let mut sg = SyncGroup { name: name.clone(), group: Vec::new(), notify: Notifies::default() };
        let mut group_seen = false;
        for st in s.block.as_deref().unwrap_or_default() {
            let kw = st.key();
            if kw != "group" {
                self.no_block(st);
            }
            match kw {
                "group" if group_seen => self.warn(
                    st.at(),
                    format!("vrrp_sync_group {name}: a second `group` block is ignored, as keepalived does"),
                ),
                "group" => {
                    group_seen = true;
                    self.set(sec, "group", st.at());
                    for m in st.block.as_deref().unwrap_or_default().iter().flat_map(|l| l.words.iter()) {
                        self.set(Section::SyncMember(g, sg.group.len()), HEADER, m.at);
                        sg.group.push(m.text.clone());
                    }
                }
                _ if Notifies::KEYS.contains(&kw) => {
                    self.notify(st, &mut sg.notify);
                    self.record(sec, kw, st, false);
                }
                "track_interface"
                | "track_script"
                | "track_file"
                | "track_process"
                | "track_bfd"
                | "sync_group_tracking_weight" => self.refuse(
                    st.at(),
                    kw,
                    &format!("vrrp_sync_group {name}"),
                    "tracking is per instance in xvs: track in the member instances",
                ),
                _ => self.not_used(
                    st,
                    &format!("vrrp_sync_group {name}"),
                    &["group"],
                    &[
                        ("smtp_alert", "email alerts are not sent"),
                        ("notify_priority_changes", "notify FIFOs are not written"),
                        ("global_tracking", "keepalived deprecated it; tracking is per instance"),
                        ("notify_deleted", "instances are not deleted by reloads"),
                    ],
                ),
            }
        }
        if sg.group.is_empty() {
            self.warn(s.at(), format!("vrrp_sync_group {name} has no members; it is ignored, as keepalived does"));
            return;
        }
        self.config.vrrp.sync_groups.push(sg);
    }

    /// A VRRP keyword of `global_defs`; false when `st` is not one.
    pub(super) fn vrrp_global(&mut self, st: &Stmt) -> bool {
        let kw = st.key();
        if let Some((_, why)) = GLOBAL_REFUSED.iter().find(|(k, _)| *k == kw) {
            self.refuse(st.at(), kw, "global_defs", why);
            return true;
        }
        let sec = Section::VrrpGlobal;
        let key: &'static str = match kw {
            "vrrp_version" => {
                if let Some(n) = self.ranged(st, 2, 3, "2") {
                    self.config.vrrp.version = n as u8;
                }
                "version"
            }
            "router_id" => {
                self.config.vrrp.router_id = self.arg(st, 1, "LVS_DEVEL").map(|t| t.text.clone());
                "router_id"
            }
            "vrrp_strict" => {
                self.config.vrrp.strict = true;
                "strict"
            }
            "vrrp_skip_check_adv_addr" => {
                self.config.vrrp.skip_check_adv_addr = true;
                "skip_check_adv_addr"
            }
            "vrrp_garp_interval" | "vrrp_gna_interval" => {
                // keepalived 2.2.7 reports 0 as invalid and keeps its default, which is 0.
                if let Some(d) = self.decimal(st, 0.0, 4294, "0.001") {
                    *(if kw == "vrrp_garp_interval" {
                        &mut self.config.vrrp.garp_interval
                    } else {
                        &mut self.config.vrrp.gna_interval
                    }) = d;
                }
                if kw == "vrrp_garp_interval" {
                    "garp_interval"
                } else {
                    "gna_interval"
                }
            }
            "script_user" => {
                let texts = Self::texts(st, 1);
                match texts[..] {
                    [u] | [u, _] => {
                        self.config.vrrp.script_user =
                            Some(RunAs { user: u.into(), group: texts.get(1).map(|g| g.to_string()) })
                    }
                    _ => {
                        self.error(st.at(), "`script_user` needs USER [GROUP]", "write `script_user keepalived_script`")
                    }
                }
                "script_user"
            }
            "enable_script_security" => {
                self.config.vrrp.enable_script_security = true;
                "enable_script_security"
            }
            "vrrp_garp_master_delay" | "vrrp_garp_master_repeat" | "vrrp_garp_master_refresh" => {
                if let Some(n) = self.garp(st) {
                    let d = &mut self.vrrp_defaults;
                    *(match kw {
                        "vrrp_garp_master_delay" => &mut d.garp_master_delay,
                        "vrrp_garp_master_repeat" => &mut d.garp_master_repeat,
                        _ => &mut d.garp_master_refresh,
                    }) = n;
                }
                return true;
            }
            "vrrp_mcast_group4" | "vrrp_mcast_group6" => {
                self.mcast_dst(st, "global_defs");
                return true;
            }
            "vrrp_down_timer_adverts" => {
                self.down_timer(st, "global_defs");
                return true;
            }
            _ => return false,
        };
        self.set(sec, key, st.words.get(1).map_or(st.at(), |t| t.at));
        true
    }
}
