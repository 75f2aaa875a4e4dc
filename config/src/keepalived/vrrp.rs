//! keepalived.conf's `vrrp_instance`, read as keepalived 2.2.7 reads it (`vrrp_parser.c`),
//! and the helpers the other VRRP sections share (`vrrp_sections.rs`: `vrrp_script`,
//! `vrrp_sync_group`, `global_defs`). Defaults and keepalived's fix-ups come after
//! everything is read (`vrrp_finish.rs`), as keepalived completes its instances after
//! parsing.
//!
//! The rule for each keyword: read into the model when xvs does it; one warning when
//! leaving it out changes nothing on the wire or the host ([`INSTANCE_IGNORED`]); an
//! error naming it when it would ([`INSTANCE_REFUSED`]), so that xvs never runs a
//! failover other than the one the file describes. A value keepalived would reject
//! (and so run without) is an error too.

use crate::model::{
    Auth, AuthType, Given, Notifies, NotifyScript, RunAs, VrrpInstance, VrrpState, AUTH_PASS_MAX, IFNAME_MAX,
};
use crate::span::{Section, HEADER};
use crate::toml_reader::{SYNC_GROUP_KEYS, VRRP_KEYS};
use crate::vrrp_syntax::{self, Line};

use super::lexer::{Loc, Stmt, Tok};
use super::Mapper;

/// vrrp_instance keywords xvs reads that are not xvs TOML keys of the same name, with
/// the model key they set (empty: none).
const INSTANCE_ALIASES: &[(&str, &str)] = &[
    ("strict_mode", "strict"),
    ("no_accept", "accept"),
    ("preempt", "nopreempt"),
    ("mcast_src_ip", "unicast_src_ip"),
    ("native_ipv6", ""),
    ("mcast_dst_ip", ""),
    ("down_timer_adverts", ""),
];

/// Every vrrp_instance keyword xvs reads: the `[[vrrp]]` keys (but `name` and `strict`,
/// which keepalived spells otherwise), the aliases and `lvs_sync_daemon_interface`.
fn instance_keywords() -> Vec<&'static str> {
    let own = VRRP_KEYS.iter().copied().filter(|k| !matches!(*k, "name" | "strict"));
    let aliases = INSTANCE_ALIASES.iter().map(|(k, _)| *k);
    own.chain(aliases).chain(std::iter::once("lvs_sync_daemon_interface")).collect()
}

/// vrrp_instance keywords that change nothing on the wire or the host when left out.
pub(super) const INSTANCE_IGNORED: &[(&str, &str)] = &[
    ("smtp_alert", "email alerts are not sent"),
    ("notify_priority_changes", "notify FIFOs are not written"),
    ("notify_deleted", "instances are not deleted by reloads"),
    ("debug", "keepalived does not implement it either"),
    ("garp_master_refresh_repeat", "a refresh sends one gratuitous ARP burst of garp_master_repeat"),
    ("garp_lower_prio_delay", "gratuitous ARPs follow garp_master_delay"),
    ("garp_lower_prio_repeat", "gratuitous ARPs follow garp_master_repeat"),
    ("garp_extra_if", "gratuitous ARPs go to the interfaces of the addresses"),
    ("vmac_garp_intvl", "virtual MACs are not used"),
    ("kernel_rx_buf_size", "the socket keeps the kernel's buffer size"),
    ("linkbeat_use_polling", "link state comes from netlink"),
];
/// vrrp_instance keywords that would change the failover if left out.
const INSTANCE_REFUSED: &[(&str, &str)] = &[
    ("use_vmac", "VRRP virtual MACs are not supported"),
    ("use_vmac_addr", "VRRP virtual MACs are not supported"),
    ("vmac_xmit_base", "VRRP virtual MACs are not supported"),
    ("use_ipvlan", "ipvlan interfaces are not supported"),
    ("vrf", "VRFs are not supported"),
    ("track_file", "tracking files is not supported"),
    ("track_process", "tracking processes is not supported"),
    ("track_bfd", "BFD is not supported"),
    ("track_src_ip", "tracking the source address is not supported"),
    ("check_unicast_src", "filtering adverts by unicast peer is not supported"),
    ("unicast_fault_no_peer", "a unicast instance without peers is not supported"),
    ("unicast_ttl", "adverts are always sent with TTL 255"),
    ("old_unicast_checksum", "only the current VRRPv3 checksum is supported"),
    ("virtual_routes", "routes that follow the state are not supported"),
    ("virtual_rules", "rules that follow the state are not supported"),
    ("promote_secondaries", "xvs does not set promote_secondaries on the interface"),
    ("lower_prio_no_advert", "the advert behaviour is keepalived's default (or strict mode's)"),
    ("higher_prio_send_advert", "the advert behaviour is keepalived's default (or strict mode's)"),
    ("notify_master_rx_lower_pri", "this notify script is not run"),
];
/// What a vrrp_instance block gave, beyond the instance itself.
#[derive(Default)]
pub(super) struct InstanceExtra {
    pub given: Given,
    /// Where a unicast keyword (unicast_src_ip, unicast_peer) was, if any.
    pub unicast_keyword: Option<Loc>,
    /// Where `native_ipv6` was, if given.
    pub native_ipv6: Option<Loc>,
}

fn hint_refused(kw: &str) -> String {
    format!("remove `{kw}`: xvs refuses what it cannot do the way keepalived does rather than run another failover")
}

impl Mapper {
    /// An error that names a keyword xvs does not do.
    pub(super) fn refuse(&mut self, at: Loc, kw: &str, whose: &str, why: &str) {
        self.error(at, format!("`{kw}` ({whose}) is not supported: {why}"), hint_refused(kw));
    }

    /// The statement's words from `from` on, as text.
    pub(super) fn texts(s: &Stmt, from: usize) -> Vec<&str> {
        s.words.iter().skip(from).map(|t| t.text.as_str()).collect()
    }

    /// Reads one line of a list block with `read`, warning and erroring at its words.
    pub(super) fn line<T>(&mut self, toks: &[Tok], read: impl Fn(&[&str]) -> Line<T>) -> Option<T> {
        let texts: Vec<&str> = toks.iter().map(|t| t.text.as_str()).collect();
        match read(&texts) {
            Ok((v, notes)) => {
                for (w, note) in notes {
                    self.warn(toks[w.min(toks.len() - 1)].at, note);
                }
                Some(v)
            }
            Err((w, p)) => {
                self.src.error(toks[w.min(toks.len() - 1)].at, p.message, p.hint);
                None
            }
        }
    }

    /// The entries of a list block (`virtual_ipaddress { ... }`), each at `VrrpEntry`.
    fn list<T>(&mut self, s: &Stmt, i: usize, key: &'static str, read: impl Fn(&[&str]) -> Line<T>) -> Vec<T> {
        let mut out = Vec::new();
        let Some(body) = s.block.as_deref() else {
            self.error(s.at(), format!("`{key}` needs a block"), format!("write `{key} {{ ... }}`, one entry a line"));
            return out;
        };
        for st in body {
            self.no_block(st);
            if let Some(v) = self.line(&st.words, &read) {
                self.set(Section::VrrpEntry(i, key, out.len()), HEADER, st.at());
                out.push(v);
            }
        }
        out
    }

    pub(super) fn vrrp_instance(&mut self, s: &Stmt) {
        let i = self.config.vrrp.instances.len();
        let Some(name) = self.vrrp_name(s, "vrrp_instance", Section::VrrpInstance(i)) else {
            return;
        };
        let mut inst = VrrpInstance::new(name);
        let mut extra = InstanceExtra::default();
        for st in s.block.as_deref().unwrap_or_default() {
            self.instance_keyword(st, i, &mut inst, &mut extra);
        }
        self.config.vrrp.instances.push(inst);
        self.vrrp_extra.push(extra);
    }

    /// The name of a `vrrp_*` section, which must have one and a block; records where
    /// the section (`sec`) and its name are.
    pub(super) fn vrrp_name(&mut self, s: &Stmt, kw: &str, sec: Section) -> Option<String> {
        if s.words.len() != 2 {
            self.error(s.at(), format!("`{kw}` needs one name"), format!("write `{kw} NAME {{ ... }}`"));
            return None;
        }
        if s.block.is_none() {
            self.error(
                s.at(),
                format!("`{kw} {}` has no block", s.words[1].text),
                format!("write `{kw} NAME {{ ... }}`"),
            );
            return None;
        }
        self.set(sec, HEADER, s.at());
        self.set(sec, "name", s.words[1].at);
        Some(s.words[1].text.clone())
    }

    fn instance_keyword(&mut self, st: &Stmt, i: usize, v: &mut VrrpInstance, x: &mut InstanceExtra) {
        let sec = Section::VrrpInstance(i);
        let kw = st.key();
        let blocks = ["authentication", "virtual_ipaddress", "virtual_ipaddress_excluded", "unicast_peer"];
        if !blocks.contains(&kw) && !kw.starts_with("track_") {
            self.no_block(st);
        }
        if let Some((_, why)) = INSTANCE_REFUSED.iter().find(|(k, _)| *k == kw) {
            return self.refuse(st.at(), kw, &format!("vrrp_instance {}", v.name), why);
        }
        if kw == "lvs_sync_daemon_interface" {
            return self.lvs_sync_daemon_interface(st, &v.name);
        }
        let given = self.instance_value(st, sec, v, x);
        if !given && self.instance_list(st, i, v, x) {
            return;
        }
        if !given {
            self.not_used(st, &format!("vrrp_instance {}", v.name), &instance_keywords(), INSTANCE_IGNORED);
        }
    }

    /// The single-valued keywords; false when `st` is not one.
    fn instance_value(&mut self, st: &Stmt, sec: Section, v: &mut VrrpInstance, x: &mut InstanceExtra) -> bool {
        let errors = self.src.errors.len();
        let kw = st.key();
        match kw {
            "state" => self.state(st, v, x),
            "interface" => {
                if let Some(t) = self.ifname(st) {
                    v.interface = Some(t);
                }
            }
            "virtual_router_id" => {
                if let Some(n) = self.ranged(st, 1, 255, "51") {
                    v.virtual_router_id = n as u8;
                }
            }
            "priority" => {
                if let Some(n) = self.ranged(st, 1, 255, "100") {
                    (v.priority, x.given.priority) = (n as u8, true);
                }
            }
            "version" => {
                if let Some(n) = self.ranged(st, 2, 3, "3") {
                    (v.version, x.given.version) = (n as u8, true);
                }
            }
            "advert_int" | "preempt_delay" => {
                // keepalived: advert_int 0.01..=255 s, preempt_delay 0..=1000 s.
                let (min, max) = if kw == "advert_int" { (0.01, 255) } else { (0.0, 1000) };
                if let Some(d) = self.decimal(st, min, max, "1") {
                    *(if kw == "advert_int" { &mut v.advert_int } else { &mut v.preempt_delay }) = d;
                }
            }
            "strict_mode" => {
                if let Some(b) = self.boolean(st) {
                    (v.strict, x.given.strict) = (b, true);
                }
            }
            "skip_check_adv_addr" => {
                if let Some(b) = self.boolean(st) {
                    (v.skip_check_adv_addr, x.given.skip_check_adv_addr) = (b, true);
                }
            }
            "accept" | "no_accept" => (v.accept, x.given.accept) = (kw == "accept", true),
            "nopreempt" | "preempt" => v.nopreempt = kw == "nopreempt",
            "dont_track_primary" => v.dont_track_primary = true,
            "native_ipv6" => x.native_ipv6 = Some(st.at()),
            "unicast_src_ip" | "mcast_src_ip" => self.src_ip(st, sec, v, x),
            "mcast_dst_ip" => self.mcast_dst(st, &format!("vrrp_instance {}", v.name)),
            "down_timer_adverts" => self.down_timer(st, &format!("vrrp_instance {}", v.name)),
            "garp_master_delay" | "garp_master_repeat" | "garp_master_refresh" => {
                if let Some(n) = self.garp(st) {
                    let (slot, given) = match kw {
                        "garp_master_delay" => (&mut v.garp_master_delay, &mut x.given.garp_master_delay),
                        "garp_master_repeat" => (&mut v.garp_master_repeat, &mut x.given.garp_master_repeat),
                        _ => (&mut v.garp_master_refresh, &mut x.given.garp_master_refresh),
                    };
                    (*slot, *given) = (n, true);
                }
            }
            _ if Notifies::KEYS.contains(&kw) => self.notify(st, &mut v.notify),
            _ => return false,
        }
        self.record(sec, kw, st, self.src.errors.len() > errors);
        true
    }

    /// Records where keyword `kw` of `sec` was (under the model's key name), and that
    /// its value could not be read when it `failed` (so validation does not report
    /// what follows from that again).
    pub(super) fn record(&mut self, sec: Section, kw: &str, st: &Stmt, failed: bool) {
        let alias = INSTANCE_ALIASES.iter().find(|(k, _)| *k == kw).map(|(_, key)| *key);
        let Some(key) = alias.or_else(|| VRRP_KEYS.iter().chain(SYNC_GROUP_KEYS).copied().find(|k| *k == kw)) else {
            return;
        };
        if key.is_empty() {
            return;
        }
        let at = st.words.get(1).map_or(st.at(), |t| t.at);
        self.set(sec, key, at);
        if failed {
            self.map.mark_bad(sec, key);
        }
    }

    /// The block keywords; false when `st` is not one.
    fn instance_list(&mut self, st: &Stmt, i: usize, v: &mut VrrpInstance, x: &mut InstanceExtra) -> bool {
        let kw = st.key();
        match kw {
            "authentication" => v.authentication = self.authentication(st, &v.name).or(v.authentication.take()),
            "virtual_ipaddress" => {
                v.virtual_ipaddress.extend(self.list(st, i, "virtual_ipaddress", vrrp_syntax::virtual_address))
            }
            "virtual_ipaddress_excluded" => {
                let more = self.list(st, i, "virtual_ipaddress_excluded", vrrp_syntax::virtual_address);
                v.virtual_ipaddress_excluded.extend(more)
            }
            "track_interface" => {
                v.track_interface.extend(self.list(st, i, "track_interface", vrrp_syntax::track_interface))
            }
            "track_script" => v.track_script.extend(self.list(st, i, "track_script", vrrp_syntax::track_script)),
            "unicast_peer" => {
                x.unicast_keyword.get_or_insert(st.at());
                let name = v.name.clone();
                let peers = self.list(st, i, "unicast_peer", |w| peer(w, &name));
                v.unicast_peer.extend(peers);
            }
            _ => return false,
        }
        self.set(
            Section::VrrpInstance(i),
            match kw {
                "authentication" => "authentication",
                "virtual_ipaddress" => "virtual_ipaddress",
                "virtual_ipaddress_excluded" => "virtual_ipaddress_excluded",
                "track_interface" => "track_interface",
                "track_script" => "track_script",
                _ => "unicast_peer",
            },
            st.at(),
        );
        true
    }

    /// `state MASTER|BACKUP` (upper case only, as keepalived reads it).
    fn state(&mut self, st: &Stmt, v: &mut VrrpInstance, x: &mut InstanceExtra) {
        let Some(t) = self.arg(st, 1, "BACKUP") else {
            return;
        };
        match t.text.as_str() {
            "MASTER" => v.state = VrrpState::Master,
            "BACKUP" if x.given.state && v.state == VrrpState::Master => {
                let name = v.name.clone();
                self.warn(st.at(), format!("vrrp_instance {name}: state was set to MASTER before; this BACKUP is ignored, as keepalived does"));
                return;
            }
            "BACKUP" => v.state = VrrpState::Backup,
            other => {
                let text = other.to_string();
                self.error(t.at, format!("unknown state `{text}`"), "keepalived reads `MASTER` or `BACKUP`, in upper case (anything else starts the instance as BACKUP)");
                return;
            }
        }
        x.given.state = true;
    }

    /// An interface name (at most 15 characters).
    fn ifname(&mut self, st: &Stmt) -> Option<String> {
        let t = self.arg(st, 1, "eth0")?;
        if t.text.chars().count() > IFNAME_MAX {
            let (at, text) = (t.at, t.text.clone());
            self.error(
                at,
                format!("interface name `{text}` is longer than {IFNAME_MAX} characters"),
                "use the interface's real name",
            );
            return None;
        }
        Some(t.text.clone())
    }

    /// A whole number in `min..=max`.
    pub(super) fn ranged(&mut self, st: &Stmt, min: i64, max: i64, example: &str) -> Option<i64> {
        let t = self.arg(st, 1, example)?;
        match t.text.parse::<i64>() {
            Ok(n) if (min..=max).contains(&n) => Some(n),
            _ => {
                let (kw, text, at) = (st.key().to_string(), t.text.clone(), t.at);
                self.error(
                    at,
                    format!("bad `{kw}` value `{text}`: expected {min}..={max}"),
                    format!("for example `{kw} {example}`"),
                );
                None
            }
        }
    }

    /// Decimal seconds in `min..=max`.
    pub(super) fn decimal(&mut self, st: &Stmt, min: f64, max: u64, example: &str) -> Option<std::time::Duration> {
        let t = self.arg(st, 1, example)?;
        match vrrp_syntax::seconds(&t.text, std::time::Duration::from_secs(max)) {
            Some(d) if d.as_secs_f64() >= min => Some(d),
            _ => {
                let (kw, text, at) = (st.key().to_string(), t.text.clone(), t.at);
                self.error(
                    at,
                    format!("bad `{kw}` value `{text}`: expected {min}..={max} seconds"),
                    format!("for example `{kw} {example}`"),
                );
                None
            }
        }
    }

    fn src_ip(&mut self, st: &Stmt, sec: Section, v: &mut VrrpInstance, x: &mut InstanceExtra) {
        if st.key() == "unicast_src_ip" {
            x.unicast_keyword.get_or_insert(st.at());
        }
        let Some(t) = self.arg(st, 1, "10.0.2.1") else {
            return;
        };
        match t.text.parse() {
            Ok(a) => v.unicast_src_ip = Some(a),
            Err(_) => {
                let (at, text) = (t.at, t.text.clone());
                self.error(
                    at,
                    format!("bad `{}` `{text}`: not an IP address", st.key()),
                    "write `unicast_src_ip 10.0.2.1`",
                );
                self.map.mark_bad(sec, "unicast_src_ip");
            }
        }
    }

    /// `mcast_dst_ip` / `vrrp_mcast_group*`: only the standard groups.
    pub(super) fn mcast_dst(&mut self, st: &Stmt, whose: &str) {
        let Some(t) = self.arg(st, 1, "224.0.0.18") else {
            return;
        };
        if !matches!(t.text.as_str(), "224.0.0.18" | "ff02::12") {
            let at = t.at;
            self.refuse(at, st.key(), whose, "adverts go to 224.0.0.18 / ff02::12");
        }
    }

    /// `down_timer_adverts` / `vrrp_down_timer_adverts`: only the RFC's 3.
    pub(super) fn down_timer(&mut self, st: &Stmt, whose: &str) {
        if st.words.get(1).is_some_and(|t| t.text != "3") {
            self.refuse(st.at(), st.key(), whose, "the master down timer is the RFC's 3 adverts");
        }
    }

    /// `garp_master_*`: whole seconds or a count; keepalived reads a repeat of 0 as 1.
    pub(super) fn garp(&mut self, st: &Stmt) -> Option<u32> {
        let (n, at) = self.num(st, u32::MAX, "5")?;
        if n == 0 && st.key().ends_with("repeat") {
            self.warn(at, format!("`{} 0` is read as 1, as keepalived does", st.key()));
            return Some(1);
        }
        Some(n)
    }

    /// `authentication { auth_type PASS auth_pass SECRET }`.
    fn authentication(&mut self, st: &Stmt, name: &str) -> Option<Auth> {
        let mut pass = None;
        let mut kind = None;
        for s in st.block.as_deref().unwrap_or_default() {
            self.no_block(s);
            match s.key() {
                "auth_type" => match self.arg(s, 1, "PASS").map(|t| (t.text.clone(), t.at)) {
                    Some((t, _)) if t == "PASS" => kind = Some(AuthType::Pass),
                    Some((t, at)) if t == "AH" => self.refuse(
                        at,
                        "auth_type AH",
                        &format!("vrrp_instance {name}"),
                        "IPsec AH authentication is not supported",
                    ),
                    Some((t, at)) => self.error(
                        at,
                        format!("unknown auth_type `{t}`"),
                        "keepalived reads `PASS` or `AH` (anything else means no authentication)",
                    ),
                    None => {}
                },
                "auth_pass" => {
                    let Some((text, at)) = self.arg(s, 1, "1111").map(|t| (t.text.clone(), t.at)) else {
                        continue;
                    };
                    // keepalived cuts the password while reading it, whatever happens to it later.
                    let cut: String = text.chars().take(AUTH_PASS_MAX).collect();
                    if cut != text {
                        self.warn(at, format!("auth_pass `{text}` is cut to its first {AUTH_PASS_MAX} characters `{cut}`, as keepalived does"));
                    }
                    pass = Some(cut);
                }
                _ => self.not_used(
                    s,
                    &format!("authentication (vrrp_instance {name})"),
                    &["auth_type", "auth_pass"],
                    &[],
                ),
            }
        }
        Some(Auth { kind: kind?, pass: pass.unwrap_or_default() })
    }

    /// `notify_*` SCRIPT [USER [GROUP]] (a script with arguments is quoted).
    pub(super) fn notify(&mut self, st: &Stmt, n: &mut Notifies) {
        let kw = st.key();
        let Some(script) = self.arg(st, 1, "\"/usr/local/bin/notify.sh MASTER\"").map(|t| t.text.clone()) else {
            return;
        };
        let texts = Self::texts(st, 2);
        let user = texts.first().map(|u| RunAs { user: u.to_string(), group: texts.get(1).map(|g| g.to_string()) });
        self.extra(st, 4);
        let Some(slot) = n.slot(kw) else {
            return;
        };
        if slot.is_some() {
            self.warn(st.at(), format!("a second `{kw}` is ignored, as keepalived does"));
            return;
        }
        *slot = Some(NotifyScript { script, user });
    }
}

/// A `unicast_peer` entry: `ADDR [min_ttl N] [max_ttl N]` (the TTL options are refused).
fn peer(words: &[&str], name: &str) -> Line<std::net::IpAddr> {
    let bad = |w: usize, m: String, h: &str| Err((w, crate::syntax::Problem::new(m, h)));
    let Ok(a) = words[0].parse() else {
        return bad(0, format!("bad unicast_peer `{}`: not an IP address", words[0]), "write one peer address a line");
    };
    match words.get(1) {
        None => Ok((a, Vec::new())),
        Some(o @ (&"min_ttl" | &"max_ttl")) => {
            bad(1, format!("`{o}` (vrrp_instance {name}) is not supported: filtering adverts by TTL"), "remove it")
        }
        Some(o) => Ok((a, vec![(1, format!("unknown unicast_peer option `{o}`; ignored, as keepalived does"))])),
    }
}
