//! keepalived.conf reader: the LVS and VRRP parts of a keepalived configuration, mapped
//! onto the xvs model (VRRP in `vrrp.rs`, `vrrp_sections.rs` and `vrrp_finish.rs`;
//! connection sync, `lvs_sync_daemon`, in `sync.rs`).
//!
//! Invariants:
//! - Like the TOML reader, this only produces the model, a [`SourceMap`] (with the file
//!   of every position, since `include`d files are read too) and the problems found
//!   while reading; every rule about meaning is left to `validate.rs`.
//! - Values keepalived leaves unset take keepalived's defaults, not xvs's, so a file
//!   means what it meant to keepalived: `lvs_method` NAT, `lvs_sched` wlc, `delay_loop`
//!   60, `connect_timeout` 5, `retry` 1 (MISC_CHECK 0, DNS_CHECK 3), `delay_before_retry`
//!   1 (HTTP_GET 3, DNS_CHECK the delay_loop), `persistence_timeout` without a value (or
//!   with only `persistence_granularity`) 360, no `protocol` = UDP (with a warning, as
//!   keepalived gives); per-checker settings fall back to the real_server's, then the
//!   virtual_server's.
//! - `virtual_server group NAME` and `virtual_server_group` ranges (`10.0.0.1-10`,
//!   `A-B`, `A/nn`) expand into one service per address, each with its own copy of the
//!   reals, in file order.
//! - Nothing is dropped silently: every section, keyword or service xvs reads but does
//!   not act on yields one [`ConfigWarning`] at its `file:line:col` (fwmark services,
//!   sections such as `static_routes`, unsupported checkers and options, unknown
//!   keywords, which keepalived ignores too). A VRRP keyword whose absence would change
//!   the failover is an error naming it. A value that cannot be read is a
//!   [`ConfigError`] at the value, and the rest is still read.

mod checker;
mod lexer;
mod params;
mod sync;
mod vrrp;
mod vrrp_finish;
mod vrrp_sections;

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use crate::error::{ConfigError, ConfigWarning};
use crate::model::{
    Config, Forward, InstanceDefaults, NotifyScript, Protocol, Real, RunAs, SchedulerFlags, Service, Tunnel,
    TunnelCsum, TunnelType, Vip, Vrrp,
};
use crate::span::{Pos, Section, SourceMap, HEADER};
use crate::syntax::{closest, parse_dotted_mask};

use lexer::{Loc, Source, Stmt, Tok};

/// What reading a keepalived.conf produced.
pub(crate) struct Read {
    pub config: Config,
    pub map: SourceMap,
    pub errors: Vec<ConfigError>,
    pub warnings: Vec<ConfigWarning>,
    /// Every file read, the main one first.
    pub files: Vec<String>,
}

/// Reads `text` (the file `name`; includes are resolved from its directory).
pub(crate) fn read(text: &str, name: &str) -> Read {
    let mut src = lexer::read(text, name);
    let stmts = std::mem::take(&mut src.stmts);
    let mut m = Mapper {
        map: SourceMap::new(name),
        config: Config::default(),
        groups: HashMap::new(),
        src,
        vrrp_extra: Vec::new(),
        vrrp_defaults: InstanceDefaults::of(&Vrrp::default()),
        sync: None,
        track_files: HashMap::new(),
    };
    m.top(&stmts);
    m.finish_vrrp();
    m.finish_sync();
    let Mapper { map, config, src, .. } = m;
    Read { config, map, errors: src.errors, warnings: src.warnings, files: src.files }
}

/// Default real weight, connect_timeout, retry and delay_before_retry (keepalived's).
const DEFAULT_CONNECT_TIMEOUT: u32 = 5;
const DEFAULT_DELAY_LOOP: u32 = 60;
const DEFAULT_PERSISTENCE: u32 = 360;
/// Most addresses one `virtual_server_group` entry may expand to.
const MAX_GROUP_EXPANSION: u128 = 4096;

/// Top-level sections xvs reads but does not act on, with the reason.
const IGNORED_SECTIONS: &[(&str, &str)] = &[
    ("vrrp_track_process", "tracking processes is not supported (an instance that tracks one is refused)"),
    ("track_process", "tracking processes is not supported (an instance that tracks one is refused)"),
    ("garp_group", "per-interface gratuitous ARP pacing is not supported; vrrp_garp_interval applies"),
    ("static_ipaddress", "xvs does not manage static addresses"),
    ("static_routes", "xvs does not manage static routes"),
    ("static_rules", "xvs does not manage static rules"),
    ("static_track_group", "xvs does not manage static addresses"),
    ("linkbeat_interfaces", "link state comes from netlink"),
    ("bfd_instance", "BFD is not implemented"),
    ("net_namespace", "xvs runs in the namespace it is started in"),
    ("net_namespace_ipvs", "xvs runs in the namespace it is started in"),
    ("instance", "instances are a keepalived process option"),
    ("use_pid_dir", "a keepalived process option"),
];

const VS_KEYS: &[&str] = &[
    "delay_loop",
    "lb_algo",
    "lvs_sched",
    "lb_kind",
    "lvs_method",
    "persistence_timeout",
    "persistence_granularity",
    "protocol",
    "sorry_server",
    "real_server",
    "inhibit_on_failure",
    "alpha",
    "quorum",
    "quorum_up",
    "quorum_down",
    "hysteresis",
    "weight",
    "ops",
    "sh-port",
    "sh-fallback",
    "mh-port",
    "mh-fallback",
    "connect_timeout",
    "retry",
    "delay_before_retry",
    "ip_family",
    "virtualhost",
    "flag-1",
    "flag-2",
    "sorry_server_lvs_method",
    "sorry_server_inhibit",
    "persistence_engine",
    "omega",
];
/// virtual_server keywords keepalived knows and xvs ignores, with the reason.
const VS_IGNORED: &[(&str, &str)] = &[
    ("ha_suspend", "xvs checks reals whether or not the VIP is up"),
    ("smtp_alert", "email alerts are not sent"),
    ("snmp_name", "SNMP is not implemented"),
    ("hashed", "an IPVS-internal flag that changes nothing"),
    ("flag-3", "no IPVS scheduler reads it"),
    ("nat_mask", "an obsolete keyword that keepalived no longer reads"),
];
const RS_KEYS: &[&str] = &[
    "weight",
    "lvs_method",
    "lb_kind",
    "uthreshold",
    "lthreshold",
    "inhibit_on_failure",
    "notify_up",
    "notify_down",
    "connect_timeout",
    "retry",
    "delay_before_retry",
    "delay_loop",
    "warmup",
    "virtualhost",
    "alpha",
];
const RS_IGNORED: &[(&str, &str)] =
    &[("smtp_alert", "email alerts are not sent"), ("snmp_name", "SNMP is not implemented")];
/// A value and where it was written.
type At<T> = Option<(T, Loc)>;

/// connect_timeout / retry / delay_before_retry / delay_loop as set at one level.
#[derive(Default, Clone, Copy)]
struct Timing {
    connect_timeout: At<u32>,
    retry: At<u32>,
    delay_before_retry: At<u32>,
    delay_loop: At<u32>,
    warmup: At<u32>,
}

enum Granularity {
    /// A dotted IPv4 mask, as a prefix length.
    Mask(u8),
    /// A prefix length (IPv6 style).
    Len(u8),
}

struct VsDef {
    at: Loc,
    protocol: At<Protocol>,
    scheduler: At<String>,
    flags: At<SchedulerFlags>,
    ops: Option<Loc>,
    persistence: At<u32>,
    granularity: At<Granularity>,
    forward: At<Forward>,
    sorry: At<(IpAddr, Option<u16>)>,
    alpha: bool,
    quorum: At<u32>,
    hysteresis: At<u32>,
    quorum_up: Option<NotifyScript>,
    quorum_down: Option<NotifyScript>,
    inhibit: bool,
    weight: At<u32>,
    timing: Timing,
    reals: Vec<RsDef>,
    virtualhost: Option<String>,
    /// `flag-1`/`flag-2` (IPVS's SCHED1/SCHED2 bits), resolved by the scheduler at emit.
    numbered_flags: Vec<(u8, Loc)>,
    sorry_forward: At<Forward>,
    tunnel: At<Tunnel>,
    sorry_tunnel: At<Tunnel>,
    sorry_inhibit: Option<Loc>,
    /// `ip_family inet6`: a fwmark service's family.
    ip_family: Option<bool>,
    omega: bool,
}

struct RsDef {
    at: Loc,
    ip: IpAddr,
    port: Option<u16>,
    weight: At<u32>,
    forward: At<Forward>,
    upper: At<u32>,
    lower: At<u32>,
    inhibit: Option<bool>,
    timing: Timing,
    checks: Vec<checker::CheckDef>,
    notify_up: Option<NotifyScript>,
    tunnel: At<Tunnel>,
    virtualhost: Option<String>,
    alpha: Option<bool>,
    notify_down: Option<NotifyScript>,
}

enum GroupEntry {
    Addrs { addrs: Vec<IpAddr>, port: u16, at: Loc },
    Fwmark { mark: u32, v6: Option<bool>, at: Loc },
}

/// What one `virtual_server` line (or group entry) stands for.
#[derive(Clone, Copy)]
enum Target {
    Vip(Vip),
    /// A mark, with the family the group entry gave (else `ip_family`, else inet).
    Mark(u32, Option<bool>),
}

struct Mapper {
    src: Source,
    map: SourceMap,
    config: Config,
    groups: HashMap<String, Vec<GroupEntry>>,
    /// Per VRRP instance, what its block gave beyond the instance (for `finish_vrrp`).
    vrrp_extra: Vec<vrrp::InstanceExtra>,
    /// The instance defaults `global_defs` sets (`vrrp_garp_master_*`; the rest is
    /// taken from `config.vrrp` when finishing).
    vrrp_defaults: InstanceDefaults,
    /// The first `lvs_sync_daemon` (or `lvs_sync_daemon_interface`), until `finish_sync`.
    sync: Option<sync::SyncDef>,
    /// `track_file` blocks by name, for FILE_CHECK.
    track_files: HashMap<String, checker::TrackFileDef>,
}

fn words(toks: &[Tok]) -> String {
    toks.iter().map(|t| t.text.as_str()).collect::<Vec<_>>().join(" ")
}

/// `[addr]` or `addr`.
fn parse_addr(s: &str) -> Option<IpAddr> {
    let s = s.strip_prefix('[').and_then(|r| r.strip_suffix(']')).unwrap_or(s);
    s.parse().ok()
}

impl Mapper {
    fn error(&mut self, at: Loc, message: impl Into<String>, hint: impl Into<String>) {
        self.src.error(at, message, Some(hint.into()));
    }

    fn warn(&mut self, at: Loc, message: impl Into<String>) {
        self.src.warn(at, message);
    }

    fn set(&mut self, sec: Section, key: &'static str, at: Loc) {
        let file = self.src.files[at.file].clone();
        self.map.set_in(sec, key, &file, Pos { line: at.line, col: at.col });
    }

    /// Sets `field` to a keyword's value and records where it was, when it was given.
    fn given<T>(&mut self, sec: Section, key: &'static str, field: &mut T, value: Option<(T, Loc)>) {
        if let Some((v, at)) = value {
            *field = v;
            self.set(sec, key, at);
        }
    }

    /// The port in `word` (none: 0, every port), or `None` after an error `bad(text)` with
    /// `hint` when it is not one.
    fn port(&mut self, word: Option<&Tok>, bad: impl FnOnce(&str) -> String, hint: &str) -> Option<u16> {
        let Some(w) = word else {
            return Some(0);
        };
        let port = w.text.parse::<u16>().ok();
        if port.is_none() {
            self.error(w.at, bad(&w.text), hint);
        }
        port
    }

    /// A keyword that is known but not acted on, or unknown: one warning either way.
    fn not_used(&mut self, s: &Stmt, block: &str, known: &[&str], ignored: &[(&str, &str)]) {
        let kw = s.key();
        if let Some((_, why)) = ignored.iter().find(|(k, _)| *k == kw) {
            self.warn(s.at(), format!("`{kw}` in {block} is not supported by xvs ({why}); ignored"));
            return;
        }
        let mut all: Vec<&str> = known.to_vec();
        all.extend(ignored.iter().map(|(k, _)| *k));
        let near = match closest(kw, &all) {
            Some(c) => format!(" (did you mean `{c}`?)"),
            None => String::new(),
        };
        self.warn(s.at(), format!("unknown keyword `{kw}` in {block}{near}; ignored, as keepalived does"));
    }

    /// The argument `i` (1 = first after the keyword), or an error at the keyword.
    fn arg<'s>(&mut self, s: &'s Stmt, i: usize, example: &str) -> Option<&'s Tok> {
        match s.words.get(i) {
            Some(t) => Some(t),
            None => {
                let kw = s.key().to_string();
                self.error(s.at(), format!("`{kw}` needs a value"), format!("for example `{kw} {example}`"));
                None
            }
        }
    }

    fn num<T: std::str::FromStr + std::fmt::Display + PartialOrd>(&mut self, s: &Stmt, max: T, example: &str) -> At<T> {
        let t = self.arg(s, 1, example)?;
        match t.text.parse::<T>() {
            Ok(v) if v <= max => Some((v, t.at)),
            _ => {
                let kw = s.key().to_string();
                self.error(
                    t.at,
                    format!("bad `{kw}` value `{}`: expected a whole number up to {max}", t.text),
                    format!("for example `{kw} {example}`"),
                );
                None
            }
        }
    }

    /// A keepalived timer: seconds, possibly with a fraction (xvs rounds up to whole seconds).
    fn timer(&mut self, s: &Stmt, example: &str) -> At<u32> {
        let t = self.arg(s, 1, example)?;
        let kw = s.key().to_string();
        match t.text.parse::<f64>() {
            Ok(v) if v.is_finite() && (0.0..=f64::from(u32::MAX)).contains(&v) => {
                let whole = v.ceil() as u32;
                if v.fract() != 0.0 {
                    self.warn(t.at, format!("`{kw} {}`: xvs uses whole seconds; rounded up to {whole}", t.text));
                }
                Some((whole, t.at))
            }
            _ => {
                let text = t.text.clone();
                self.error(
                    t.at,
                    format!("bad `{kw}` value `{text}`: expected seconds"),
                    format!("for example `{kw} {example}`"),
                );
                None
            }
        }
    }

    /// A keepalived <BOOL>: absent = true.
    fn boolean(&mut self, s: &Stmt) -> Option<bool> {
        let Some(t) = s.words.get(1) else {
            return Some(true);
        };
        match t.text.to_ascii_lowercase().as_str() {
            "true" | "yes" | "on" | "1" => Some(true),
            "false" | "no" | "off" | "0" => Some(false),
            _ => {
                let kw = s.key().to_string();
                let text = t.text.clone();
                self.error(
                    t.at,
                    format!("bad `{kw}` value `{text}`: expected a boolean"),
                    format!("write `{kw}` alone (true), or `{kw} true` / `{kw} false`"),
                );
                None
            }
        }
    }

    fn forward(&mut self, s: &Stmt) -> At<Forward> {
        let t = self.arg(s, 1, "DR")?;
        let f = match t.text.to_ascii_uppercase().as_str() {
            "NAT" => Forward::Nat,
            "DR" => Forward::Dr,
            "TUN" => Forward::Tun,
            _ => {
                let (kw, text) = (s.key().to_string(), t.text.clone());
                self.error(t.at, format!("unknown {kw} `{text}`"), "use NAT, DR or TUN");
                return None;
            }
        };
        if f != Forward::Tun && s.words.len() > 2 {
            self.extra(s, 2);
        }
        Some((f, t.at))
    }

    /// `TUN [type {ipip|gue port N|gre} [nocsum|csum|remcsum]]` after `lvs_method`: the
    /// tunnel, when the line gives one (validation refuses remcsum and checksums on IPIP).
    fn tunnel_words(&mut self, s: &Stmt) -> At<Tunnel> {
        let words: Vec<&str> = s.words.iter().skip(2).map(|t| t.text.as_str()).collect();
        if words.is_empty() || !s.words[1].text.eq_ignore_ascii_case("TUN") {
            return None;
        }
        let at = s.words[2].at;
        let bad = |m: &mut Mapper, why: String| {
            m.error(at, why, "write `TUN type ipip`, `TUN type gue port 6080 [csum]` or `TUN type gre [csum]`");
            None
        };
        let mut t = Tunnel::default();
        let mut rest = match words.as_slice() {
            ["type", kind, rest @ ..] => match TunnelType::from_name(&kind.to_ascii_lowercase()) {
                Some(k) => {
                    t.kind = k;
                    rest
                }
                None => return bad(self, format!("unknown tunnel type `{kind}`")),
            },
            _ => return bad(self, format!("`{}` after TUN is not understood", words.join(" "))),
        };
        if t.kind == TunnelType::Gue {
            match rest {
                ["port", p, more @ ..] => match p.parse::<u16>() {
                    Ok(p) if p > 0 => (t.port, rest) = (p, more),
                    _ => return bad(self, format!("bad GUE port `{p}`")),
                },
                _ => return bad(self, "a GUE tunnel needs `port N`".into()),
            }
        }
        match rest {
            [] => {}
            [c] => match TunnelCsum::from_name(c) {
                Some(c) => t.csum = c,
                None => return bad(self, format!("unknown tunnel option `{c}`")),
            },
            _ => return bad(self, format!("`{}` after the tunnel type is not understood", rest.join(" "))),
        }
        Some((t, at))
    }

    /// Warns about words after the expected ones.
    fn extra(&mut self, s: &Stmt, from: usize) {
        if let Some(t) = s.words.get(from) {
            let (kw, rest) = (s.key().to_string(), words(&s.words[from..]));
            self.warn(t.at, format!("`{rest}` after `{kw}` is not understood; ignored"));
        }
    }

    fn no_block(&mut self, s: &Stmt) {
        if s.block.is_some() {
            let kw = s.key().to_string();
            self.warn(s.at(), format!("`{kw}` takes no block; the block after it is ignored"));
        }
    }

    fn top(&mut self, stmts: &[Stmt]) {
        // Groups first: keepalived resolves `virtual_server group` after reading everything.
        let mut files = HashMap::new();
        for s in stmts {
            match s.key() {
                "virtual_server_group" => self.group(s),
                "track_file" | "vrrp_track_file" => self.track_file(s, &mut files),
                _ => {}
            }
        }
        self.track_files = files;
        for s in stmts {
            let kw = s.key();
            let name = words(s.args());
            let label = if name.is_empty() { kw.to_string() } else { format!("{kw} {name}") };
            match kw {
                // (A VRRP instance that tracks a file is refused where it is read.)
                "virtual_server_group" | "track_file" | "vrrp_track_file" => {}
                "SSL" => self.ssl_block(s),
                "virtual_server" => self.virtual_server(s),
                "global_defs" => self.global_defs(s),
                "vrrp_instance" => self.vrrp_instance(s),
                "vrrp_script" => self.vrrp_script(s),
                "vrrp_sync_group" => self.vrrp_sync_group(s),
                kw if kw == "real_server" || checker::CHECKERS.contains(&kw) => {
                    let outer = if kw == "real_server" { "a virtual_server" } else { "a real_server" };
                    self.error(
                        s.at(),
                        format!("`{kw}` outside {outer}"),
                        "put it inside `virtual_server IP PORT { ... }` (checkers inside `real_server IP PORT { ... }`)",
                    )
                }
                _ => match IGNORED_SECTIONS.iter().find(|(k, _)| *k == kw) {
                    Some((_, why)) => {
                        let what = if s.block.is_some() { "the section" } else { "the line" };
                        self.warn(s.at(), format!("{label}: {why}; {what} is ignored"))
                    }
                    None => {
                        let mut known = vec![
                            "virtual_server",
                            "virtual_server_group",
                            "global_defs",
                            "vrrp_instance",
                            "vrrp_script",
                            "vrrp_sync_group",
                        ];
                        known.extend(IGNORED_SECTIONS.iter().map(|(k, _)| *k));
                        let near = match closest(kw, &known) {
                            Some(c) => format!(" (did you mean `{c}`?)"),
                            None => String::new(),
                        };
                        self.warn(
                            s.at(),
                            format!("unknown top-level keyword `{kw}`{near}; ignored, as keepalived does"),
                        )
                    }
                },
            }
        }
    }

    /// The top-level `SSL` block: the client side of SSL_GET. keepalived loads `ca` without
    /// asking for verification (a bad server certificate still passes), so it changes
    /// nothing; a client certificate would, and xvs presents none.
    fn ssl_block(&mut self, s: &Stmt) {
        for st in s.block.as_deref().unwrap_or_default() {
            self.no_block(st);
            match st.key() {
                "ca" => self.warn(st.at(), "SSL `ca`: keepalived does not verify with it either; ignored"),
                k @ ("certificate" | "key" | "password") => {
                    let k = k.to_string();
                    self.error(
                        st.at(),
                        format!("SSL `{k}`: xvs's SSL_GET presents no client certificate"),
                        "a real that requires one would fail every check; remove the SSL block if none does",
                    )
                }
                _ => self.not_used(st, "SSL", &["ca", "certificate", "key", "password"], &[]),
            }
        }
    }

    fn global_defs(&mut self, s: &Stmt) {
        let mut ignored: Vec<String> = Vec::new();
        for st in s.block.as_deref().unwrap_or_default() {
            if st.key() == "lvs_sync_daemon" {
                self.lvs_sync_daemon(st);
                continue;
            }
            if st.key() != "lvs_timeouts" {
                if !self.vrrp_global(st) && !ignored.iter().any(|k| k == st.key()) {
                    ignored.push(st.key().to_string());
                }
                continue;
            }
            let args = st.args();
            let mut t = self.config.timeouts.clone();
            let mut i = 0;
            while i < args.len() {
                let (key, tok) = (&args[i], args.get(i + 1));
                let slot = match key.text.as_str() {
                    "tcp" => &mut t.tcp,
                    "tcpfin" => &mut t.tcp_fin,
                    "udp" => &mut t.udp,
                    other => {
                        let other = other.to_string();
                        self.error(key.at, format!("unknown lvs_timeouts key `{other}`"), "use tcp, tcpfin and udp");
                        i += 2;
                        continue;
                    }
                };
                match tok.map(|v| (v.text.parse::<u32>(), v)) {
                    Some((Ok(v), _)) => *slot = v,
                    Some((Err(_), v)) => {
                        let (at, text) = (v.at, v.text.clone());
                        self.error(at, format!("bad lvs_timeouts value `{text}`"), "write seconds: `tcp 900`")
                    }
                    None => self.error(key.at, format!("lvs_timeouts `{}` needs seconds", key.text), "write `tcp 900`"),
                }
                i += 2;
            }
            let at = st.at();
            self.set(Section::Timeouts, HEADER, at);
            for k in ["tcp", "tcp_fin", "udp"] {
                self.set(Section::Timeouts, k, at);
            }
            self.config.timeouts = t;
        }
        if !ignored.is_empty() {
            self.warn(
                s.at(),
                format!(
                    "global_defs: xvs reads only `lvs_timeouts`, `lvs_sync_daemon` and the VRRP settings here; {} {} ignored",
                    ignored.iter().map(|k| format!("`{k}`")).collect::<Vec<_>>().join(", "),
                    if ignored.len() == 1 { "is" } else { "are" }
                ),
            );
        }
    }

    fn group(&mut self, s: &Stmt) {
        let Some(name) = self.arg(s, 1, "WEB") else {
            return;
        };
        let name = name.text.clone();
        let mut entries = Vec::new();
        for e in s.block.as_deref().unwrap_or_default() {
            if e.key() == "fwmark" {
                if let Some((mark, v6)) = self.fwmark_words(e, 1) {
                    entries.push(GroupEntry::Fwmark { mark, v6, at: e.at() });
                }
                continue;
            }
            let bad = |text: &str| format!("bad port `{text}` in virtual_server_group {name}");
            let Some(port) = self.port(e.words.get(1), bad, "use 0..=65535") else {
                continue;
            };
            self.extra(e, 2);
            match expand(&e.words[0].text) {
                Ok(addrs) => entries.push(GroupEntry::Addrs { addrs, port, at: e.at() }),
                Err(why) => {
                    let text = e.words[0].text.clone();
                    self.error(
                        e.at(),
                        format!("bad virtual_server_group entry `{text}`: {why}"),
                        "write `10.0.1.100 80`, a range `10.0.1.100-110 80` / `10.0.1.250-10.0.2.10 80`, \
                         a prefix `10.0.1.96/29 80`, or `fwmark 1`",
                    );
                }
            }
        }
        if self.groups.contains_key(&name) {
            self.warn(
                s.at(),
                format!("virtual_server_group {name} is defined again; this definition replaces the first"),
            );
        }
        self.groups.insert(name, entries);
    }

    /// `fwmark N [inet|inet6]` from word `i` (N) on.
    fn fwmark_words(&mut self, s: &Stmt, i: usize) -> Option<(u32, Option<bool>)> {
        let t = self.arg(s, i, "1")?;
        let Some(mark) = t.text.parse::<u32>().ok().filter(|m| *m > 0) else {
            let (at, text) = (t.at, t.text.clone());
            self.error(at, format!("bad fwmark `{text}`"), "a mark is 1..=4294967295");
            return None;
        };
        let v6 = match s.words.get(i + 1).map(|t| t.text.as_str()) {
            None => None,
            Some("inet") => Some(false),
            Some("inet6") => Some(true),
            Some(other) => {
                let (at, other) = (s.words[i + 1].at, other.to_string());
                self.error(at, format!("unknown family `{other}` after fwmark {mark}"), "use inet or inet6");
                return None;
            }
        };
        self.extra(s, i + 2);
        Some((mark, v6))
    }

    fn virtual_server(&mut self, s: &Stmt) {
        let Some(first) = self.arg(s, 1, "10.0.1.100 80") else {
            return;
        };
        let label = words(&s.words);
        let mut targets: Vec<(Target, Loc)> = Vec::new();
        match first.text.as_str() {
            "fwmark" => {
                let Some((mark, _)) = self.fwmark_words(s, 2) else { return };
                targets.push((Target::Mark(mark, None), s.words[2].at));
            }
            "group" => {
                let Some(name) = self.arg(s, 2, "group WEB") else {
                    return;
                };
                let (name, name_at) = (name.text.clone(), name.at);
                let Some(entries) = self.groups.get(&name) else {
                    let mut names: Vec<&str> = self.groups.keys().map(String::as_str).collect();
                    names.sort_unstable();
                    let hint = match closest(&name, &names) {
                        Some(c) => format!("did you mean `{c}`?"),
                        None => "define it with `virtual_server_group NAME { 10.0.1.100 80 }`".into(),
                    };
                    self.error(name_at, format!("virtual_server_group `{name}` is not defined"), hint);
                    return;
                };
                for e in entries {
                    match e {
                        GroupEntry::Addrs { addrs, port, at } => {
                            if self.config.services.len() + targets.len() + addrs.len() > crate::validate::MAX_SERVICES
                            {
                                let max = crate::validate::MAX_SERVICES;
                                self.error(
                                    name_at,
                                    format!("virtual_server_group `{name}` makes the configuration exceed {max} services"),
                                    "an xvs prefix VIP (`vip = \"203.0.113.0/24:80\"`) covers a whole prefix as one service",
                                );
                                return;
                            }
                            targets.extend(addrs.iter().map(|a| (Target::Vip(Vip::single(*a, *port)), *at)))
                        }
                        GroupEntry::Fwmark { mark, v6, at } => targets.push((Target::Mark(*mark, *v6), *at)),
                    }
                }
                self.extra(s, 3);
            }
            addr => {
                let Some(ip) = parse_addr(addr) else {
                    let (at, text) = (first.at, first.text.clone());
                    self.error(
                        at,
                        format!("bad virtual_server address `{text}`"),
                        "write `virtual_server 10.0.1.100 80`, `virtual_server 2001:db8::1 443`, \
                         `virtual_server group NAME` or `virtual_server fwmark 1`",
                    );
                    return;
                };
                let bad = |text: &str| format!("bad virtual_server port `{text}`");
                let Some(port) =
                    self.port(s.words.get(2), bad, "use 0..=65535 (0 or none = every port, needs persistence)")
                else {
                    return;
                };
                self.extra(s, 3);
                targets.push((Target::Vip(Vip::single(ip, port)), first.at));
            }
        }
        let Some(body) = s.block.as_deref() else {
            self.error(s.at(), format!("`{label}` has no `{{ ... }}` block"), "add `{ real_server ... }` after it");
            return;
        };
        let vs = self.vs_body(s.at(), body, &label);
        if vs.protocol.is_none() && targets.iter().any(|(t, _)| matches!(t, Target::Vip(_))) {
            self.warn(
                s.at(),
                format!("{label}: no `protocol`; UDP is assumed, as keepalived does (add `protocol TCP`)"),
            );
        }
        for (target, at) in targets {
            self.emit(&vs, target, at);
        }
    }

    fn vs_body(&mut self, at: Loc, body: &[Stmt], label: &str) -> VsDef {
        let mut vs = VsDef {
            at,
            protocol: None,
            scheduler: None,
            flags: None,
            ops: None,
            persistence: None,
            granularity: None,
            forward: None,
            sorry: None,
            alpha: false,
            quorum: None,
            hysteresis: None,
            quorum_up: None,
            quorum_down: None,
            inhibit: false,
            weight: None,
            timing: Timing::default(),
            reals: Vec::new(),
            virtualhost: None,
            numbered_flags: Vec::new(),
            sorry_forward: None,
            tunnel: None,
            sorry_tunnel: None,
            sorry_inhibit: None,
            ip_family: None,
            omega: false,
        };
        for s in body {
            let kw = s.key();
            if kw != "real_server" {
                self.no_block(s);
            }
            // `nb_get_retry` is a checker's word only.
            if kw == "nb_get_retry" || !self.timing(s, &mut vs.timing) {
                self.vs_keyword(s, &mut vs, label);
            }
        }
        vs
    }

    /// One keyword of a virtual_server block (other than the timings).
    fn vs_keyword(&mut self, s: &Stmt, vs: &mut VsDef, label: &str) {
        match s.key() {
            "real_server" => {
                if let Some(r) = self.real_server(s) {
                    vs.reals.push(r);
                }
            }
            "lb_algo" | "lvs_sched" => {
                if let Some(t) = self.arg(s, 1, "wlc") {
                    vs.scheduler = Some((t.text.clone(), t.at));
                }
            }
            "lb_kind" | "lvs_method" => {
                vs.forward = self.forward(s).or(vs.forward);
                vs.tunnel = self.tunnel_words(s).or(vs.tunnel);
            }
            "protocol" => vs.protocol = self.vs_protocol(s).or(vs.protocol),
            "persistence_timeout" => {
                vs.persistence = match s.words.get(1) {
                    None => Some((DEFAULT_PERSISTENCE, s.at())),
                    Some(_) => self.num(s, u32::MAX, "300").or(vs.persistence),
                }
            }
            "persistence_granularity" => {
                if let Some(g) = self.vs_granularity(s) {
                    vs.granularity = Some(g);
                }
            }
            "sorry_server" => vs.sorry = self.vs_sorry_server(s).or(vs.sorry),
            "inhibit_on_failure" => vs.inhibit = self.boolean(s).unwrap_or(vs.inhibit),
            "alpha" => vs.alpha = self.boolean(s).unwrap_or(vs.alpha),
            "quorum" => vs.quorum = self.num(s, u32::MAX, "1").or(vs.quorum),
            "hysteresis" => vs.hysteresis = self.num(s, u32::MAX, "0").or(vs.hysteresis),
            "quorum_up" => vs.quorum_up = self.notify_line(s).or(vs.quorum_up.take()),
            "quorum_down" => vs.quorum_down = self.notify_line(s).or(vs.quorum_down.take()),
            "weight" => vs.weight = self.num(s, u32::MAX, "1").or(vs.weight),
            "ops" => vs.ops = Some(s.at()),
            "virtualhost" => vs.virtualhost = self.arg(s, 1, "www.example.com").map(|t| t.text.clone()),
            "omega" => vs.omega = self.boolean(s).unwrap_or(vs.omega),
            "flag-1" => vs.numbered_flags.push((1, s.at())),
            "flag-2" => vs.numbered_flags.push((2, s.at())),
            "sorry_server_lvs_method" => {
                vs.sorry_forward = self.forward(s).or(vs.sorry_forward);
                vs.sorry_tunnel = self.tunnel_words(s).or(vs.sorry_tunnel);
            }
            "sorry_server_inhibit" => {
                if self.boolean(s).unwrap_or(true) {
                    vs.sorry_inhibit = Some(s.at());
                }
            }
            "persistence_engine" => self.error(
                s.at(),
                "persistence_engine is not implemented in xvs: SIP calls would be spread over reals by source alone",
                "remove it to persist by client address (persistence_timeout), or keep this service on IPVS",
            ),
            kw @ ("sh-port" | "sh-fallback" | "mh-port" | "mh-fallback") => {
                let (mut f, _) = vs.flags.take().unwrap_or((SchedulerFlags::default(), s.at()));
                f.set(kw);
                vs.flags = Some((f, s.at()));
            }
            "ip_family" => {
                if let Some(t) = self.arg(s, 1, "inet") {
                    match t.text.as_str() {
                        "inet" => vs.ip_family = Some(false),
                        "inet6" => vs.ip_family = Some(true),
                        _ => {
                            let (at, text) = (t.at, t.text.clone());
                            self.error(at, format!("unknown ip_family `{text}`"), "use inet or inet6");
                        }
                    }
                }
            }
            _ => self.not_used(s, &format!("virtual_server ({label})"), VS_KEYS, VS_IGNORED),
        }
    }

    /// `protocol TCP|UDP`.
    fn vs_protocol(&mut self, s: &Stmt) -> At<Protocol> {
        let t = self.arg(s, 1, "TCP")?;
        match t.text.to_ascii_uppercase().as_str() {
            "TCP" => Some((Protocol::Tcp, t.at)),
            "UDP" => Some((Protocol::Udp, t.at)),
            "SCTP" => Some((Protocol::Sctp, t.at)),
            other => {
                let other = other.to_string();
                self.error(t.at, format!("protocol `{other}` is not supported"), "use TCP, UDP or SCTP");
                None
            }
        }
    }

    /// `persistence_granularity MASK|LEN`.
    fn vs_granularity(&mut self, s: &Stmt) -> At<Granularity> {
        let t = self.arg(s, 1, "255.255.255.0")?;
        let text = t.text.trim_start_matches('/');
        let g = if text.contains('.') {
            parse_dotted_mask(text).map(Granularity::Mask).map_err(|p| (p.message, p.hint))
        } else {
            text.parse::<u8>().map(Granularity::Len).map_err(|_| {
                (
                    format!("bad persistence_granularity `{}`", t.text),
                    Some("write a dotted IPv4 mask (`255.255.255.0`) or an IPv6 prefix length (`64`)".into()),
                )
            })
        };
        match g {
            Ok(g) => Some((g, t.at)),
            Err((m, h)) => {
                self.src.error(t.at, m.replace("persistence_netmask", "persistence_granularity"), h);
                None
            }
        }
    }

    /// `sorry_server ADDRESS [PORT]`.
    fn vs_sorry_server(&mut self, s: &Stmt) -> At<(IpAddr, Option<u16>)> {
        let t = self.arg(s, 1, "10.0.9.9 80")?;
        let Some(ip) = parse_addr(&t.text) else {
            let (at, text) = (t.at, t.text.clone());
            self.error(at, format!("bad sorry_server address `{text}`"), "write `sorry_server 10.0.9.9 80`");
            return None;
        };
        let at = t.at;
        let port = match s.words.get(2) {
            None => Some(None),
            Some(p) => p.text.parse::<u16>().ok().map(Some),
        };
        let sorry = match port {
            Some(port) => Some(((ip, port), at)),
            None => {
                let (pat, text) = (s.words[2].at, s.words[2].text.clone());
                self.error(pat, format!("bad sorry_server port `{text}`"), "use 1..=65535");
                None
            }
        };
        self.extra(s, 3);
        sorry
    }

    /// keepalived's `SCRIPT [USER [GROUP]]` of notify_up/notify_down/quorum_up/quorum_down:
    /// a script with arguments is quoted; words after it name who runs it.
    fn notify_line(&mut self, s: &Stmt) -> Option<NotifyScript> {
        let script = self.arg(s, 1, "\"/usr/local/bin/notify.sh up\"")?.text.clone();
        let texts = Self::texts(s, 2);
        let user = texts.first().map(|u| RunAs { user: u.to_string(), group: texts.get(1).map(|g| g.to_string()) });
        self.extra(s, 4);
        Some(NotifyScript { script, user })
    }

    fn timing(&mut self, s: &Stmt, t: &mut Timing) -> bool {
        match s.key() {
            "connect_timeout" => t.connect_timeout = self.timer(s, "3").or(t.connect_timeout),
            "retry" | "nb_get_retry" => t.retry = self.num(s, u32::MAX, "3").or(t.retry),
            "delay_before_retry" => t.delay_before_retry = self.timer(s, "3").or(t.delay_before_retry),
            "delay_loop" => t.delay_loop = self.timer(s, "6").or(t.delay_loop),
            "warmup" => t.warmup = self.timer(s, "6").or(t.warmup),
            _ => return false,
        }
        true
    }

    fn real_server(&mut self, s: &Stmt) -> Option<RsDef> {
        let t = self.arg(s, 1, "10.0.2.11 80")?;
        let Some(ip) = parse_addr(&t.text) else {
            let (at, text) = (t.at, t.text.clone());
            self.error(at, format!("bad real_server address `{text}`"), "write `real_server 10.0.2.11 80`");
            return None;
        };
        let port = match s.words.get(2) {
            None => None,
            Some(p) => match p.text.parse::<u16>() {
                Ok(p) => Some(p),
                Err(_) => {
                    let (at, text) = (p.at, p.text.clone());
                    self.error(at, format!("bad real_server port `{text}`"), "use 1..=65535");
                    return None;
                }
            },
        };
        self.extra(s, 3);
        let label = words(&s.words);
        let mut rs = RsDef {
            at: t.at,
            ip,
            port,
            weight: None,
            forward: None,
            upper: None,
            lower: None,
            inhibit: None,
            notify_up: None,
            tunnel: None,
            notify_down: None,
            timing: Timing::default(),
            checks: Vec::new(),
            virtualhost: None,
            alpha: None,
        };
        for st in s.block.as_deref().unwrap_or_default() {
            let kw = st.key();
            let is_checker = checker::CHECKERS.contains(&kw);
            if !is_checker && !checker::UNSUPPORTED_CHECKERS.contains(&kw) {
                self.no_block(st);
            }
            if self.timing(st, &mut rs.timing) {
                continue;
            }
            match kw {
                "weight" => rs.weight = self.num(st, u32::MAX, "1").or(rs.weight),
                "lvs_method" | "lb_kind" => {
                    rs.forward = self.forward(st).or(rs.forward);
                    rs.tunnel = self.tunnel_words(st).or(rs.tunnel);
                }
                "uthreshold" => rs.upper = self.num(st, u32::MAX, "0").or(rs.upper),
                "lthreshold" => rs.lower = self.num(st, u32::MAX, "0").or(rs.lower),
                "inhibit_on_failure" => rs.inhibit = self.boolean(st).or(rs.inhibit),
                "notify_up" => rs.notify_up = self.notify_line(st).or(rs.notify_up.take()),
                "notify_down" => rs.notify_down = self.notify_line(st).or(rs.notify_down.take()),
                // Every checker of a real must pass for it to be up, as in keepalived.
                _ if is_checker => {
                    let checks = self.checkers(st);
                    rs.checks.extend(checks);
                }
                "virtualhost" => rs.virtualhost = self.arg(st, 1, "www.example.com").map(|t| t.text.clone()),
                "alpha" => rs.alpha = self.boolean(st).or(rs.alpha),
                _ if checker::UNSUPPORTED_CHECKERS.contains(&kw) => self.error(
                    st.at(),
                    format!("{label}: {kw} is not implemented in xvs: the real would run unguarded"),
                    "use another checker (a MISC_CHECK can run any probe)",
                ),
                _ => {
                    let known = [RS_KEYS, checker::CHECKERS].concat();
                    self.not_used(st, &format!("real_server ({label})"), &known, RS_IGNORED)
                }
            }
        }
        Some(rs)
    }

    /// Adds one service for `vip` built from `vs`.
    fn emit(&mut self, vs: &VsDef, target: Target, target_at: Loc) {
        let i = self.config.services.len();
        let sec = Section::Service(i);
        let protocol = vs.protocol.as_ref().map_or(Protocol::Udp, |p| p.0);
        let mut svc = match target {
            Target::Vip(vip) => {
                self.set(sec, "vip", target_at);
                Service::new(vip, protocol)
            }
            Target::Mark(mark, v6) => {
                self.set(sec, "fwmark", target_at);
                // (keepalived reads `protocol` of a fwmark service and gives IPVS none.)
                Service::new_fwmark(mark, v6.or(vs.ip_family).unwrap_or(false))
            }
        };
        let vip = svc.vip;
        self.set(sec, HEADER, vs.at);
        if let Some((_, at)) = vs.protocol {
            self.set(sec, "protocol", at);
        }
        self.given(sec, "scheduler", &mut svc.scheduler, vs.scheduler.clone());
        self.given(sec, "scheduler_flags", &mut svc.scheduler_flags, vs.flags);
        for &(n, at) in &vs.numbered_flags {
            // IPVS's SCHED1/SCHED2 bits: sh's and mh's fallback and port; no other
            // scheduler reads them.
            let name = if n == 1 { "fallback" } else { "port" };
            match svc.scheduler.as_str() {
                sched @ ("sh" | "mh") => {
                    svc.scheduler_flags.set(&format!("{sched}-{name}"));
                    self.set(sec, "scheduler_flags", at);
                }
                other => {
                    let other = other.to_string();
                    self.warn(at, format!("`flag-{n}` has no effect with scheduler {other} (sh and mh read it)"));
                }
            }
        }
        if let Some(at) = vs.ops {
            svc.ops = true;
            self.set(sec, "ops", at);
        }
        self.given(sec, "persistence", &mut svc.persistence, vs.persistence);
        if let Some((g, at)) = &vs.granularity {
            if svc.persistence == 0 {
                svc.persistence = DEFAULT_PERSISTENCE;
                self.set(sec, "persistence", *at);
            }
            match g {
                Granularity::Mask(_) if vip.addr.is_ipv6() => {
                    self.error(
                        *at,
                        "a dotted persistence_granularity is for IPv4 services only",
                        "write an IPv6 prefix length, e.g. `persistence_granularity 64`",
                    );
                    self.map.mark_bad(sec, "persistence_netmask");
                }
                Granularity::Mask(len) | Granularity::Len(len) => svc.persistence_netmask = *len,
            }
            self.set(sec, "persistence_netmask", *at);
        }
        svc.forward = vs.forward.map_or(Forward::Nat, |f| f.0);
        // The service's tunnel is its TUN reals' and its sorry server's.
        if let Some((t, at)) = vs.sorry_tunnel.filter(|s| Some(s.0) != vs.tunnel.map(|t| t.0)) {
            self.error(
                at,
                format!("a sorry server tunnel ({t}) of its own: xvs tunnels to the sorry server as to the reals"),
                "give lvs_method the same tunnel type, or use another method for the sorry server",
            );
        }
        if let Some((t, at)) = vs.tunnel {
            svc.tunnel = t;
            self.set(sec, "tunnel", at);
            self.set(sec, "tun_port", at);
            self.set(sec, "tun_flags", at);
        }
        if let Some((_, at)) = vs.forward {
            self.set(sec, "forward", at);
        }
        svc.delay_loop = vs.timing.delay_loop.map_or(DEFAULT_DELAY_LOOP, |d| d.0);
        if let Some((_, at)) = vs.timing.delay_loop {
            self.set(sec, "delay_loop", at);
        }
        if let Some(((ip, port), at)) = vs.sorry {
            svc.sorry_server = Some(SocketAddr::new(ip, port.unwrap_or(vip.port)));
            self.set(sec, "sorry_server", at);
        }
        if let Some((f, at)) = vs.sorry_forward {
            svc.sorry_forward = Some(f);
            self.set(sec, "sorry_forward", at);
        }
        if let Some(at) = vs.sorry_inhibit {
            svc.sorry_inhibit = true;
            self.set(sec, "sorry_inhibit", at);
        }
        svc.alpha = vs.alpha;
        svc.omega = vs.omega;
        svc.quorum_up = vs.quorum_up.clone();
        svc.quorum_down = vs.quorum_down.clone();
        self.given(sec, "quorum", &mut svc.quorum, vs.quorum);
        self.given(sec, "hysteresis", &mut svc.hysteresis, vs.hysteresis);
        for (j, rd) in vs.reals.iter().enumerate() {
            let r = self.emit_real(vs, &svc, rd, i, j);
            svc.reals.push(r);
        }
        self.config.services.push(svc);
    }

    fn emit_real(&mut self, vs: &VsDef, svc: &Service, rd: &RsDef, i: usize, j: usize) -> Real {
        let sec = Section::Real(i, j);
        let mut r = Real::new(SocketAddr::new(rd.ip, rd.port.unwrap_or(svc.vip.port)), svc.forward);
        self.set(sec, HEADER, rd.at);
        self.set(sec, "addr", rd.at);
        self.given(sec, "weight", &mut r.weight, rd.weight.or(vs.weight));
        self.given(sec, "forward", &mut r.forward, rd.forward);
        if r.forward == Forward::Tun {
            r.tunnel = svc.tunnel;
        }
        if let Some((t, at)) = rd.tunnel {
            r.tunnel = t;
            for key in ["tunnel", "tun_port", "tun_flags"] {
                self.set(sec, key, at);
            }
        }
        self.given(sec, "upper_threshold", &mut r.upper_threshold, rd.upper);
        self.given(sec, "lower_threshold", &mut r.lower_threshold, rd.lower);
        r.inhibit_on_failure = rd.inhibit.unwrap_or(vs.inhibit);
        r.notify_up = rd.notify_up.clone();
        r.notify_down = rd.notify_down.clone();
        let files = std::mem::take(&mut self.track_files);
        for (k, cd) in rd.checks.iter().enumerate() {
            let c = self.emit_check((vs, rd, cd), (i, j, k), svc.delay_loop, &files);
            r.checks.push(c);
        }
        self.track_files = files;
        r
    }
}

/// Expands a virtual_server_group address, range or prefix into its addresses.
fn expand(spec: &str) -> Result<Vec<IpAddr>, String> {
    let (first, last): (IpAddr, IpAddr) = if let Some((a, len)) = spec.split_once('/') {
        let a: IpAddr = a.parse().map_err(|_| format!("`{a}` is not an IP address"))?;
        let bits = if a.is_ipv4() { 32 } else { 128 };
        let len: u32 = len.parse().ok().filter(|l| *l <= bits).ok_or(format!("prefix length must be 0..={bits}"))?;
        let host = if len == bits { 0 } else { u128::MAX >> (128 - bits + len) };
        let (lo, hi) = (to_u128(a) & !host, to_u128(a) | host);
        (from_u128(a, lo), from_u128(a, hi))
    } else if let Some((a, b)) = spec.split_once('-') {
        let a: IpAddr = a.parse().map_err(|_| format!("`{a}` is not an IP address"))?;
        let last = match (a, b.parse::<IpAddr>()) {
            (_, Ok(b)) if b.is_ipv4() == a.is_ipv4() => b,
            (IpAddr::V4(v4), Err(_)) => {
                let n: u8 = b.parse().map_err(|_| format!("`{b}` is neither an address nor a last octet"))?;
                let o = v4.octets();
                IpAddr::V4(Ipv4Addr::new(o[0], o[1], o[2], n))
            }
            (IpAddr::V6(v6), Err(_)) => {
                let n =
                    u16::from_str_radix(b, 16).map_err(|_| format!("`{b}` is neither an address nor a last group"))?;
                let mut s = v6.segments();
                s[7] = n;
                IpAddr::V6(Ipv6Addr::from(s))
            }
            _ => return Err("the two ends of the range are of different families".into()),
        };
        (a, last)
    } else {
        let a: IpAddr = spec.parse().map_err(|_| format!("`{spec}` is not an IP address"))?;
        (a, a)
    };
    let (lo, hi) = (to_u128(first), to_u128(last));
    if hi < lo {
        return Err("the range ends before it starts".into());
    }
    if hi - lo >= MAX_GROUP_EXPANSION {
        return Err(format!(
            "it holds {} addresses; xvs makes one service per address and allows at most {MAX_GROUP_EXPANSION} \
             per entry (an xvs prefix VIP `vip = \"203.0.113.0/24:80\"` covers a whole prefix as one service)",
            hi - lo + 1
        ));
    }
    Ok((lo..=hi).map(|v| from_u128(first, v)).collect())
}

fn to_u128(a: IpAddr) -> u128 {
    match a {
        IpAddr::V4(a) => u32::from(a).into(),
        IpAddr::V6(a) => a.into(),
    }
}

fn from_u128(family: IpAddr, v: u128) -> IpAddr {
    match family {
        IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::from(v as u32)),
        IpAddr::V6(_) => IpAddr::V6(Ipv6Addr::from(v)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn group_ranges() {
        let a = |s: &str| s.parse::<IpAddr>().unwrap();
        assert_eq!(expand("10.0.0.1").unwrap(), [a("10.0.0.1")]);
        assert_eq!(expand("10.0.0.1-3").unwrap(), [a("10.0.0.1"), a("10.0.0.2"), a("10.0.0.3")]);
        assert_eq!(expand("10.0.0.255-10.0.1.0").unwrap(), [a("10.0.0.255"), a("10.0.1.0")]);
        assert_eq!(expand("10.0.0.9/31").unwrap(), [a("10.0.0.8"), a("10.0.0.9")]);
        assert_eq!(expand("2001:db8::1-2").unwrap(), [a("2001:db8::1"), a("2001:db8::2")]);
        assert_eq!(expand("2001:db8::/127").unwrap(), [a("2001:db8::"), a("2001:db8::1")]);
        assert!(expand("10.0.0.5-1").is_err());
        assert!(expand("10.0.0.0/8").is_err());
        assert!(expand("10.0.0.1-x").is_err());
    }
}
