//! keepalived.conf's connection sync: `global_defs { lvs_sync_daemon IF [INSTANCE] [id N]
//! [maxlen N] [port N] [ttl N] [group ADDR] }` and the deprecated `vrrp_instance {
//! lvs_sync_daemon_interface IF }`, read as keepalived 2.2.7 reads them
//! (`global_parser.c`, `vrrp_parser.c`), resolved once every instance is read.
//!
//! Invariants:
//! - The first of the two keywords in file order configures the daemon; a later one is
//!   a warning ("already specified ... ignored"), as keepalived does. A line whose
//!   interface is missing or too long configures nothing (keepalived skips it too).
//! - The word after the interface is the VRRP instance's name unless it is one of the
//!   options; a number after the name is the old spelling of `id` (a warning).
//! - An unknown option is one error, its value (the next word, unless an option) skipped.
//! - A value keepalived would reject (and so run without) is an error at the value, and
//!   so is an unknown option (as in `lvs_timeouts`); the rest of the line is still read.
//! - [`Mapper::finish_sync`] runs after every `vrrp_instance` is read: a named instance
//!   must exist (else an error at the name, and `instance` is marked bad so validation
//!   does not report it again); `syncid` is `id`, else the instance's VRID, else 0.
//! - Positions are recorded under [`Section::Sync`] with the TOML key names; whether the
//!   group is multicast is left to validation.

use std::net::IpAddr;

use crate::model::{SyncDaemon, IFNAME_MAX};
use crate::span::{Section, HEADER};
use crate::syntax::closest;

use super::lexer::{Loc, Stmt, Tok};
use super::{At, Mapper};

/// The options of `lvs_sync_daemon`, with their range and an example value (`group`
/// is an address).
const OPTIONS: &[(&str, i64, i64, &str)] = &[
    ("id", 0, 255, "7"),
    ("maxlen", 1, 65507, "1400"),
    ("port", 1, 65535, "8848"),
    ("ttl", 1, 255, "1"),
    ("group", 0, 0, "224.0.0.81"),
];

/// A sync daemon as the file gave it, before the instance is resolved.
pub(super) struct SyncDef {
    /// The keyword.
    at: Loc,
    interface: (String, Loc),
    instance: At<String>,
    syncid: At<u8>,
    maxlen: At<u16>,
    port: At<u16>,
    ttl: At<u8>,
    group: At<IpAddr>,
}

impl SyncDef {
    fn new(at: Loc, interface: (String, Loc)) -> SyncDef {
        SyncDef { at, interface, instance: None, syncid: None, maxlen: None, port: None, ttl: None, group: None }
    }

    /// `IF INSTANCE` or `IF`, for messages.
    fn describe(&self) -> String {
        match &self.instance {
            Some((name, _)) => format!("{} {name}", self.interface.0),
            None => self.interface.0.clone(),
        }
    }
}

fn is_option(t: &Tok) -> bool {
    OPTIONS.iter().any(|(k, ..)| *k == t.text)
}

impl Mapper {
    /// `lvs_sync_daemon` in `global_defs`.
    pub(super) fn lvs_sync_daemon(&mut self, st: &Stmt) {
        self.no_block(st);
        if let Some(d) = &self.sync {
            let first = d.describe();
            self.warn(
                st.at(),
                format!(
                    "lvs_sync_daemon has already been specified as {first}; this one is ignored, as keepalived does"
                ),
            );
            return;
        }
        let Some(interface) = self.sync_interface(st, "eth1 VI_1") else {
            return;
        };
        let mut d = SyncDef::new(st.at(), interface);
        let w = &st.words;
        let mut i = 2;
        if let Some(t) = w.get(2).filter(|t| !is_option(t)) {
            d.instance = Some((t.text.clone(), t.at));
            i = 3;
            if let Some(t) = w.get(3).filter(|t| t.text.starts_with(|c: char| c.is_ascii_digit())) {
                self.old_syncid(t, &mut d);
                i = 4;
            }
        }
        while i < w.len() {
            let key = &w[i];
            let Some(&(name, min, max, example)) = OPTIONS.iter().find(|(k, ..)| *k == key.text) else {
                let text = key.text.clone();
                let names: Vec<&str> = OPTIONS.iter().map(|(k, ..)| *k).collect();
                let near = closest(&text, &names).map_or(String::new(), |c| format!("did you mean `{c}`? "));
                self.error(
                    key.at,
                    format!("unknown lvs_sync_daemon option `{text}`"),
                    format!(
                        "{near}write `lvs_sync_daemon IF [INSTANCE] [id N] [maxlen N] [port N] [ttl N] [group ADDR]`"
                    ),
                );
                // Its value, if it has one, is not another mistake.
                i += if w.get(i + 1).is_some_and(|t| !is_option(t)) { 2 } else { 1 };
                continue;
            };
            let Some(value) = w.get(i + 1) else {
                self.error(
                    key.at,
                    format!("lvs_sync_daemon `{name}` needs a value"),
                    format!("for example `{name} {example}`"),
                );
                break;
            };
            let at = value.at;
            match name {
                "group" => d.group = self.sync_group(value).map(|g| (g, at)),
                _ => {
                    let n = self.option_value(name, value, min, max, example);
                    match name {
                        "id" => d.syncid = n.map(|n| (n as u8, at)),
                        "maxlen" => d.maxlen = n.map(|n| (n as u16, at)),
                        "port" => d.port = n.map(|n| (n as u16, at)),
                        _ => d.ttl = n.map(|n| (n as u8, at)),
                    }
                }
            }
            i += 2;
        }
        self.sync = Some(d);
    }

    /// `lvs_sync_daemon_interface IF` in `vrrp_instance NAME`: keepalived reads it as
    /// `lvs_sync_daemon IF NAME` unless the daemon is already specified.
    pub(super) fn lvs_sync_daemon_interface(&mut self, st: &Stmt, name: &str) {
        let kw = "lvs_sync_daemon_interface";
        if let Some(d) = &self.sync {
            let first = d.describe();
            self.warn(
                st.at(),
                format!(
                    "vrrp_instance {name}: `{kw}` is deprecated, and lvs_sync_daemon has already been specified as \
                     {first}; ignored, as keepalived does"
                ),
            );
            return;
        }
        let Some(interface) = self.sync_interface(st, "eth1") else {
            return;
        };
        self.extra(st, 2);
        let ifname = interface.0.clone();
        self.warn(
            st.at(),
            format!(
                "vrrp_instance {name}: `{kw}` is deprecated; read as `lvs_sync_daemon {ifname} {name}`, as \
                 keepalived does (write that in global_defs instead)"
            ),
        );
        let mut d = SyncDef::new(st.at(), interface);
        d.instance = Some((name.to_string(), st.at()));
        self.sync = Some(d);
    }

    /// The interface (word 1): at most [`IFNAME_MAX`] characters.
    fn sync_interface(&mut self, st: &Stmt, example: &str) -> Option<(String, Loc)> {
        let t = self.arg(st, 1, example)?;
        let (text, at) = (t.text.clone(), t.at);
        if text.chars().count() > IFNAME_MAX {
            let kw = st.key().to_string();
            self.error(
                at,
                format!("{kw}: interface name `{text}` is longer than {IFNAME_MAX} characters"),
                "use the interface's real name (keepalived ignores the whole line)",
            );
            return None;
        }
        Some((text, at))
    }

    /// The old `lvs_sync_daemon IF INSTANCE SYNCID` spelling.
    fn old_syncid(&mut self, t: &Tok, d: &mut SyncDef) {
        match t.text.parse::<u8>() {
            Ok(n) => {
                let w = format!("lvs_sync_daemon: write `id {n}`: keepalived reads a bare sync id after the instance, but asks for the `id` keyword");
                self.warn(t.at, w);
                d.syncid = Some((n, t.at));
            }
            Err(_) => {
                let text = t.text.clone();
                self.error(
                    t.at,
                    format!("bad lvs_sync_daemon sync id `{text}`: expected 0..=255"),
                    "write `id 7` after the instance name (or leave it out: the instance's virtual_router_id)",
                );
            }
        }
    }

    /// The value of option `name`, a whole number in `min..=max`.
    fn option_value(&mut self, name: &str, value: &Tok, min: i64, max: i64, example: &str) -> Option<i64> {
        match value.text.parse::<i64>() {
            Ok(n) if (min..=max).contains(&n) => Some(n),
            _ => {
                let text = value.text.clone();
                self.error(
                    value.at,
                    format!("bad lvs_sync_daemon `{name}` value `{text}`: expected {min}..={max}"),
                    format!("for example `{name} {example}`"),
                );
                None
            }
        }
    }

    /// `group ADDR`: an IPv4 or IPv6 address (validation checks it is multicast).
    fn sync_group(&mut self, value: &Tok) -> Option<IpAddr> {
        match value.text.parse() {
            Ok(a) => Some(a),
            Err(_) => {
                let text = value.text.clone();
                self.error(
                    value.at,
                    format!("bad lvs_sync_daemon `group` `{text}`: not an IP address"),
                    "write a multicast group, e.g. `group 224.0.0.81` (IPVS's default) or `group ff02::81`",
                );
                None
            }
        }
    }

    /// After every instance is read: the daemon into `config.sync`, its instance
    /// resolved and its sync id filled.
    pub(super) fn finish_sync(&mut self) {
        let Some(d) = self.sync.take() else {
            return;
        };
        let sec = Section::Sync;
        self.set(sec, HEADER, d.at);
        self.set(sec, "interface", d.interface.1);
        let mut daemon = SyncDaemon::on(&d.interface.0);
        let mut vrid = None;
        if let Some((name, at)) = d.instance {
            self.set(sec, "instance", at);
            match self.config.vrrp.instance(&name) {
                Some(inst) => vrid = Some(inst.virtual_router_id),
                None => self.unknown_instance(&name, at),
            }
            daemon.instance = Some(name);
        }
        daemon.syncid = d.syncid.map(|(n, _)| n).or(vrid).unwrap_or(0);
        daemon.maxlen = d.maxlen.map(|(n, _)| n);
        for (key, at) in [
            ("syncid", d.syncid.map(|s| s.1)),
            ("maxlen", d.maxlen.map(|s| s.1)),
            ("port", d.port.map(|s| s.1)),
            ("ttl", d.ttl.map(|s| s.1)),
            ("group", d.group.map(|s| s.1)),
        ] {
            if let Some(at) = at {
                self.set(sec, key, at);
            }
        }
        daemon.port = d.port.map_or(daemon.port, |p| p.0);
        daemon.ttl = d.ttl.map_or(daemon.ttl, |t| t.0);
        daemon.group = d.group.map_or(daemon.group, |g| g.0);
        self.config.sync.daemon = Some(daemon);
    }

    fn unknown_instance(&mut self, name: &str, at: Loc) {
        let names: Vec<&str> = self.config.vrrp.instances.iter().map(|i| i.name.as_str()).collect();
        let hint = match closest(name, &names) {
            Some(c) => format!("did you mean `{c}`?"),
            None => "name a vrrp_instance of this configuration, or leave the name out (then the daemon both \
                     sends and receives)"
                .into(),
        };
        self.error(at, format!("lvs_sync_daemon: no vrrp_instance named {name}"), hint);
        self.map.mark_bad(Section::Sync, "instance");
    }
}
