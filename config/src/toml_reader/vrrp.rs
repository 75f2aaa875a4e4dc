//! Reads the VRRP tables of xvs TOML: `[vrrp_global]`, `[[vrrp_script]]`, `[[vrrp]]`
//! (one per instance, with `[vrrp.authentication]`) and `[[vrrp_sync_group]]`, with
//! keepalived's names. List entries (`virtual_ipaddress`, `track_interface`,
//! `track_script`) are strings in keepalived's syntax, read by `vrrp_syntax`; durations
//! are seconds (an integer, or a float where keepalived takes decimals); a notify script
//! is its line, or `{ script = "...", user = "USER [GROUP]" }`.
//!
//! Invariant: like the rest of the TOML reader, unknown keys and bad values are errors
//! at their position, and defaults are filled as keepalived fills them
//! ([`VrrpInstance::fill_defaults`]) from `[vrrp_global]`, whatever order the tables
//! come in.

use std::net::IpAddr;
use std::time::Duration;

use toml_edit::{Item, Value};

use super::{set, Reader, Tab};
use crate::model::{
    Auth, AuthType, Given, InstanceDefaults, Notifies, NotifyScript, RunAs, SyncGroup, Vrrp, VrrpInstance, VrrpScript,
    VrrpState,
};
use crate::span::{Section, HEADER};
use crate::syntax::{parse_ip, Problem};
use crate::vrrp_syntax::{self, Line};

/// Keys of `[vrrp_global]`.
pub const VRRP_GLOBAL_KEYS: &[&str] = &[
    "version",
    "router_id",
    "strict",
    "skip_check_adv_addr",
    "garp_interval",
    "gna_interval",
    "script_user",
    "enable_script_security",
];
/// Keys of `[[vrrp]]`.
pub const VRRP_KEYS: &[&str] = &[
    "name",
    "state",
    "interface",
    "virtual_router_id",
    "priority",
    "advert_int",
    "version",
    "strict",
    "skip_check_adv_addr",
    "accept",
    "authentication",
    "virtual_ipaddress",
    "virtual_ipaddress_excluded",
    "nopreempt",
    "preempt_delay",
    "dont_track_primary",
    "unicast_src_ip",
    "unicast_peer",
    "track_interface",
    "track_script",
    "notify_master",
    "notify_backup",
    "notify_fault",
    "notify_stop",
    "notify",
    "garp_master_delay",
    "garp_master_repeat",
    "garp_master_refresh",
];
/// Keys of `[vrrp.authentication]`.
pub const AUTH_KEYS: &[&str] = &["auth_type", "auth_pass"];
/// Keys of `[[vrrp_script]]`.
pub const VRRP_SCRIPT_KEYS: &[&str] =
    &["name", "script", "interval", "timeout", "weight", "rise", "fall", "user", "init_fail"];
/// Keys of `[[vrrp_sync_group]]`.
pub const SYNC_GROUP_KEYS: &[&str] =
    &["name", "group", "notify_master", "notify_backup", "notify_fault", "notify_stop", "notify"];

/// Longest duration keepalived takes for `advert_int` / `preempt_delay` / GARP gaps.
const MAX_SECONDS: Duration = Duration::from_secs(4294);

/// `USER [GROUP]`.
pub(super) fn run_as(s: &str) -> Result<RunAs, Problem> {
    let words: Vec<&str> = s.split_whitespace().collect();
    match words[..] {
        [user] => Ok(RunAs { user: user.into(), group: None }),
        [user, group] => Ok(RunAs { user: user.into(), group: Some(group.into()) }),
        _ => Err(Problem::new(format!("bad user `{s}`"), "write `\"USER\"` or `\"USER GROUP\"`")),
    }
}

impl Reader<'_> {
    /// Every VRRP table of the document root `root`.
    pub(super) fn vrrp(&mut self, root: Tab<'_>) -> Vrrp {
        let mut v = match self.table(root, "vrrp_global", Section::VrrpGlobal) {
            Some(t) => self.vrrp_global(t),
            None => Vrrp::default(),
        };
        let defaults = InstanceDefaults::of(&v);
        v.scripts =
            self.tables(root, "vrrp_script", Section::VrrpScript).into_iter().map(|t| self.vrrp_script(t)).collect();
        let instances = self.tables(root, "vrrp", Section::VrrpInstance);
        v.instances = instances.into_iter().enumerate().map(|(i, t)| self.vrrp_instance(t, i, &defaults)).collect();
        let groups = self.tables(root, "vrrp_sync_group", Section::SyncGroup);
        v.sync_groups = groups.into_iter().enumerate().map(|(g, t)| self.sync_group(t, g)).collect();
        v
    }

    fn vrrp_global(&mut self, t: Tab<'_>) -> Vrrp {
        self.open(t, VRRP_GLOBAL_KEYS);
        let mut v = Vrrp::default();
        set(&mut v.version, self.int(t, "version", 2, 3).map(|x| x as u8));
        v.router_id = self.string(t, "router_id").map(str::to_string);
        set(&mut v.strict, self.bool(t, "strict"));
        set(&mut v.skip_check_adv_addr, self.bool(t, "skip_check_adv_addr"));
        set(&mut v.garp_interval, self.seconds(t, "garp_interval"));
        set(&mut v.gna_interval, self.seconds(t, "gna_interval"));
        v.script_user = self.parsed(t, "script_user", run_as);
        set(&mut v.enable_script_security, self.bool(t, "enable_script_security"));
        v
    }

    /// Seconds, an integer or a float, at most [`MAX_SECONDS`].
    fn seconds(&mut self, t: Tab<'_>, key: &'static str) -> Option<Duration> {
        let item = self.item(t, key)?;
        let v = match item {
            Item::Value(Value::Integer(i)) => *i.value() as f64,
            Item::Value(Value::Float(f)) => *f.value(),
            _ => {
                self.wrong_type(t, key, item, "seconds (an integer or a float)");
                return None;
            }
        };
        let d = vrrp_syntax::seconds_of(v, MAX_SECONDS);
        if d.is_none() {
            let message = format!("`{key}` = {v} is not in 0..={} seconds", MAX_SECONDS.as_secs());
            self.bad(t, key, item.span(), message, Some(format!("for example `{key} = 1`")));
        }
        d
    }

    /// The `name` every VRRP table needs.
    fn name(&mut self, t: Tab<'_>) -> String {
        if t.t.get("name").is_none() {
            self.missing(t, "name");
        }
        self.string(t, "name").unwrap_or_default().to_string()
    }

    fn vrrp_script(&mut self, t: Tab<'_>) -> VrrpScript {
        self.open(t, VRRP_SCRIPT_KEYS);
        let name = self.name(t);
        if t.t.get("script").is_none() {
            self.missing(t, "script");
        }
        let mut s = VrrpScript::new(name, self.string(t, "script").unwrap_or_default());
        set(&mut s.interval, self.u32(t, "interval"));
        s.timeout = self.u32(t, "timeout").unwrap_or(s.interval);
        set(&mut s.weight, self.int(t, "weight", -253, 253).map(|w| w as i32));
        set(&mut s.rise, self.u32(t, "rise"));
        set(&mut s.fall, self.u32(t, "fall"));
        s.user = self.parsed(t, "user", run_as);
        set(&mut s.init_fail, self.bool(t, "init_fail"));
        s
    }

    fn vrrp_instance(&mut self, t: Tab<'_>, i: usize, defaults: &InstanceDefaults) -> VrrpInstance {
        self.open(t, VRRP_KEYS);
        let mut v = VrrpInstance::new(self.name(t));
        if t.t.get("virtual_router_id").is_none() {
            self.missing(t, "virtual_router_id");
        }
        let mut given = Given::default();
        if let Some(s) = self.keyword(t, "state", VrrpState::NAMES, VrrpState::from_name) {
            (v.state, given.state) = (s, true);
        }
        v.interface = self.string(t, "interface").map(str::to_string);
        set(&mut v.virtual_router_id, self.int(t, "virtual_router_id", 1, 255).map(|x| x as u8));
        given.priority = t.t.contains_key("priority");
        set(&mut v.priority, self.int(t, "priority", 1, 255).map(|x| x as u8));
        set(&mut v.advert_int, self.seconds(t, "advert_int"));
        given.version = t.t.contains_key("version");
        set(&mut v.version, self.int(t, "version", 2, 3).map(|x| x as u8));
        given.strict = t.t.contains_key("strict");
        set(&mut v.strict, self.bool(t, "strict"));
        given.skip_check_adv_addr = t.t.contains_key("skip_check_adv_addr");
        set(&mut v.skip_check_adv_addr, self.bool(t, "skip_check_adv_addr"));
        given.accept = t.t.contains_key("accept");
        set(&mut v.accept, self.bool(t, "accept"));
        if let Some(at) = self.table(t, "authentication", Section::VrrpEntry(i, "authentication", 0)) {
            v.authentication = self.authentication(at);
        }
        self.instance_lists(t, i, &mut v);
        set(&mut v.nopreempt, self.bool(t, "nopreempt"));
        set(&mut v.preempt_delay, self.seconds(t, "preempt_delay"));
        set(&mut v.dont_track_primary, self.bool(t, "dont_track_primary"));
        v.unicast_src_ip = self.parsed(t, "unicast_src_ip", |s| parse_ip(s, "unicast_src_ip"));
        self.notifies(t, &mut v.notify);
        for (key, slot, flag) in [
            ("garp_master_delay", &mut v.garp_master_delay, &mut given.garp_master_delay),
            ("garp_master_repeat", &mut v.garp_master_repeat, &mut given.garp_master_repeat),
            ("garp_master_refresh", &mut v.garp_master_refresh, &mut given.garp_master_refresh),
        ] {
            *flag = t.t.contains_key(key);
            set(slot, self.u32(t, key));
        }
        v.fill_defaults(given, defaults);
        v
    }

    /// The list keys of an instance, each entry's position recorded as its own section.
    fn instance_lists(&mut self, t: Tab<'_>, i: usize, v: &mut VrrpInstance) {
        v.virtual_ipaddress = self.entries(t, i, "virtual_ipaddress", vrrp_syntax::virtual_address);
        v.virtual_ipaddress_excluded = self.entries(t, i, "virtual_ipaddress_excluded", vrrp_syntax::virtual_address);
        v.track_interface = self.entries(t, i, "track_interface", vrrp_syntax::track_interface);
        v.track_script = self.entries(t, i, "track_script", vrrp_syntax::track_script);
        v.unicast_peer = self.entries(t, i, "unicast_peer", |w| match w {
            [one] => parse_ip(one, "unicast_peer").map(|a: IpAddr| (a, Vec::new())).map_err(|p| (0, p)),
            _ => Err((1, Problem::new("a unicast_peer entry is one address", "write `unicast_peer = [\"10.0.0.2\"]`"))),
        });
    }

    /// An array of strings under `key`, each read by `read` (a keepalived line); a
    /// warning of the line is an error here, since xvs TOML takes exactly what xvs does.
    fn entries<T>(&mut self, t: Tab<'_>, i: usize, key: &'static str, read: impl Fn(&[&str]) -> Line<T>) -> Vec<T> {
        let mut out = Vec::new();
        for (s, span) in self.strings(t, key, "[\"192.168.20.50/32\"]").unwrap_or_default() {
            let pos = self.pos(span.as_ref().map(|r| r.start), t.sec);
            self.map.set(Section::VrrpEntry(i, key, out.len()), HEADER, pos);
            let words: Vec<&str> = s.split_whitespace().collect();
            match read(&words) {
                Ok((v, notes)) if notes.is_empty() => out.push(v),
                Ok((_, notes)) => {
                    let note = &notes[0].1;
                    self.bad(t, key, span, format!("`{s}`: {note}"), Some("remove what xvs does not do".into()));
                }
                Err((_, p)) => self.bad(t, key, span, p.message, p.hint),
            }
        }
        out
    }

    fn authentication(&mut self, t: Tab<'_>) -> Option<Auth> {
        self.open(t, AUTH_KEYS);
        if t.t.get("auth_pass").is_none() {
            self.missing(t, "auth_pass");
        }
        let kind = self.keyword(t, "auth_type", AuthType::NAMES, AuthType::from_name).unwrap_or(AuthType::Pass);
        Some(Auth { kind, pass: self.string(t, "auth_pass")?.to_string() })
    }

    /// A notify script: a line (`"/bin/notify.sh up"`) or `{ script = "...", user = "USER
    /// [GROUP]" }` (keepalived's `SCRIPT [USER [GROUP]]`).
    pub(super) fn script_item(&mut self, t: Tab<'_>, key: &'static str, item: &Item) -> Option<NotifyScript> {
        match item {
            Item::Value(Value::String(s)) => Some(NotifyScript { script: s.value().clone(), user: None }),
            Item::Value(Value::InlineTable(it)) => {
                let tab = Tab { t: it, start: it.span().map(|s| s.start), sec: t.sec };
                self.unknown_keys(tab, &["script", "user"]);
                let script = self.string(tab, "script").unwrap_or_default().to_string();
                Some(NotifyScript { script, user: self.parsed(tab, "user", run_as) })
            }
            _ => {
                self.wrong_type(t, key, item, "a script line or `{ script = \"...\", user = \"USER\" }`");
                None
            }
        }
    }

    /// The script of `key` in `t`, if given (see [`Self::script_item`]).
    pub(super) fn script(&mut self, t: Tab<'_>, key: &'static str) -> Option<NotifyScript> {
        let item = self.item(t, key)?;
        self.script_item(t, key, item)
    }

    fn notifies(&mut self, t: Tab<'_>, n: &mut Notifies) {
        for key in Notifies::KEYS {
            let Some(item) = self.item(t, key) else {
                continue;
            };
            let script = self.script_item(t, key, item);
            if let Some(slot) = n.slot(key) {
                *slot = script;
            }
        }
    }

    fn sync_group(&mut self, t: Tab<'_>, g: usize) -> SyncGroup {
        self.open(t, SYNC_GROUP_KEYS);
        let mut sg = SyncGroup { name: self.name(t), group: Vec::new(), notify: Notifies::default() };
        for (j, (m, span)) in
            self.strings(t, "group", "[\"VI_1\", \"VI_2\"]").unwrap_or_default().into_iter().enumerate()
        {
            let pos = self.pos(span.map(|r| r.start), t.sec);
            self.map.set(Section::SyncMember(g, j), HEADER, pos);
            sg.group.push(m.to_string());
        }
        self.notifies(t, &mut sg.notify);
        sg
    }
}
