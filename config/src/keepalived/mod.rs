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
    Check, CheckKind, Config, Forward, InstanceDefaults, Protocol, Real, SchedulerFlags, Service, Vip, Vrrp,
};
use crate::span::{Pos, Section, SourceMap, HEADER};
use crate::syntax::{closest, parse_dotted_mask};
use crate::{RunAs, StatusCodes};
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
    ("vrrp_track_file", "tracking files is not supported (an instance that tracks one is refused)"),
    ("track_file", "tracking files is not supported (an instance that tracks one is refused)"),
    ("vrrp_track_process", "tracking processes is not supported (an instance that tracks one is refused)"),
    ("track_process", "tracking processes is not supported (an instance that tracks one is refused)"),
    ("garp_group", "per-interface gratuitous ARP pacing is not supported; vrrp_garp_interval applies"),
    ("static_ipaddress", "xvs does not manage static addresses"),
    ("static_routes", "xvs does not manage static routes"),
    ("static_rules", "xvs does not manage static rules"),
    ("static_track_group", "xvs does not manage static addresses"),
    ("linkbeat_interfaces", "link state comes from netlink"),
    ("bfd_instance", "BFD is not implemented"),
    ("SSL", "SSL_GET presents no client certificate and checks no server certificate"),
    ("net_namespace", "xvs runs in the namespace it is started in"),
    ("net_namespace_ipvs", "xvs runs in the namespace it is started in"),
    ("instance", "instances are a keepalived process option"),
    ("use_pid_dir", "a keepalived process option"),
];

/// Checker blocks xvs does not implement.
const UNSUPPORTED_CHECKERS: &[&str] = &["SMTP_CHECK", "BFD_CHECK", "PING_CHECK", "FILE_CHECK"];

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
];
/// virtual_server keywords keepalived knows and xvs ignores, with the reason.
const VS_IGNORED: &[(&str, &str)] = &[
    ("ha_suspend", "xvs checks reals whether or not the VIP is up"),
    ("omega", "quorum and notification scripts are not run"),
    ("smtp_alert", "email alerts are not sent"),
    ("snmp_name", "SNMP is not implemented"),
    ("virtualhost", "HTTP checks do not take a Host header from the configuration"),
    ("persistence_engine", "persistence engines (sip) are not implemented"),
    ("sorry_server_inhibit", "not implemented"),
    ("sorry_server_lvs_method", "the sorry server uses the service's forwarding method"),
    ("hashed", "scheduler flag not implemented"),
    ("flag-1", "scheduler flag not implemented"),
    ("flag-2", "scheduler flag not implemented"),
    ("flag-3", "scheduler flag not implemented"),
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
    "TCP_CHECK",
    "HTTP_GET",
    "MISC_CHECK",
    "UDP_CHECK",
    "DNS_CHECK",
];
const RS_IGNORED: &[(&str, &str)] = &[
    ("smtp_alert", "email alerts are not sent"),
    ("snmp_name", "SNMP is not implemented"),
    ("virtualhost", "HTTP checks do not take a Host header from the configuration"),
    ("alpha", "alpha is per virtual_server in xvs"),
];
const CHECK_KEYS: &[&str] = &[
    "connect_port",
    "connect_timeout",
    "retry",
    "nb_get_retry",
    "delay_before_retry",
    "delay_loop",
    "url",
    "misc_path",
    "misc_timeout",
    "misc_dynamic",
    "user",
    "type",
    "name",
    "enable_sni",
    "sni_name",
];
const CHECK_IGNORED: &[(&str, &str)] = &[
    ("connect_ip", "checks connect to the real's address"),
    ("bindto", "checks use the kernel's source address"),
    ("bind_if", "checks use the kernel's choice of interface"),
    ("bind_port", "checks use an ephemeral source port"),
    ("fwmark", "check packets are not marked"),
    ("alpha", "alpha is per virtual_server in xvs"),
    ("log_all_failures", "not implemented"),
    ("http_protocol", "HTTP checks speak HTTP/1.0"),
    ("virtualhost", "HTTP checks do not take a Host header from the configuration"),
    ("fast_recovery", "not implemented"),
    ("tls_compliant", "SSL_GET takes the end of the answer with or without close_notify"),
    ("payload", "UDP checks send an empty datagram"),
    ("require_reply", "UDP checks do not match the reply"),
    ("min_reply_length", "UDP checks do not match the reply"),
    ("max_reply_length", "UDP checks do not match the reply"),
    ("helo_name", "SMTP_CHECK is not implemented"),
];
const URL_KEYS: &[&str] = &["path", "status_code", "digest"];
const URL_IGNORED: &[(&str, &str)] = &[
    ("virtualhost", "HTTP checks do not take a Host header from the configuration"),
    ("regex", "HTTP checks do not match the body against a regex"),
    ("regex_no_match", "HTTP checks do not match the body against a regex"),
    ("regex_options", "HTTP checks do not match the body against a regex"),
    ("regex_stack", "HTTP checks do not match the body against a regex"),
    ("regex_min_offset", "HTTP checks do not match the body against a regex"),
    ("regex_max_offset", "HTTP checks do not match the body against a regex"),
    ("tls_compliant", "SSL_GET takes the end of the answer with or without close_notify"),
];

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
    quorum_up: Option<String>,
    quorum_down: Option<String>,
    inhibit: bool,
    weight: At<u32>,
    timing: Timing,
    reals: Vec<RsDef>,
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
    checks: Vec<CheckDef>,
    notify_up: Option<String>,
    notify_down: Option<String>,
}

struct CheckDef {
    at: Loc,
    kind: CheckKind,
    port: At<u16>,
    timing: Timing,
    path: At<String>,
    status: At<StatusCodes>,
    digest: Option<String>,
    command: At<String>,
    misc_timeout: At<u32>,
    dynamic: bool,
    dns_type: At<String>,
    dns_name: At<String>,
    user: Option<(RunAs, Loc)>,
    sni: At<String>,
    enable_sni: Option<Loc>,
}

enum GroupEntry {
    Addrs { addrs: Vec<IpAddr>, port: u16, at: Loc },
    Fwmark { at: Loc, text: String },
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
        if f == Forward::Tun && s.words.len() > 2 {
            let opts = words(&s.words[2..]);
            self.warn(s.words[2].at, format!("tunnel options `{opts}` are not supported: xvs tunnels with IPIP"));
        } else if s.words.len() > 2 {
            self.extra(s, 2);
        }
        Some((f, t.at))
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
        for s in stmts {
            if s.key() == "virtual_server_group" {
                self.group(s);
            }
        }
        for s in stmts {
            let kw = s.key();
            let name = words(s.args());
            let label = if name.is_empty() { kw.to_string() } else { format!("{kw} {name}") };
            match kw {
                "virtual_server_group" => {}
                "virtual_server" => self.virtual_server(s),
                "global_defs" => self.global_defs(s),
                "vrrp_instance" => self.vrrp_instance(s),
                "vrrp_script" => self.vrrp_script(s),
                "vrrp_sync_group" => self.vrrp_sync_group(s),
                "real_server" | "TCP_CHECK" | "HTTP_GET" | "SSL_GET" | "MISC_CHECK" | "UDP_CHECK" | "DNS_CHECK" => {
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
                entries.push(GroupEntry::Fwmark { at: e.at(), text: words(&e.words) });
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

    fn virtual_server(&mut self, s: &Stmt) {
        let Some(first) = self.arg(s, 1, "10.0.1.100 80") else {
            return;
        };
        let label = words(&s.words);
        let mut targets: Vec<(Vip, Loc)> = Vec::new();
        match first.text.as_str() {
            "fwmark" => {
                self.warn(
                    s.at(),
                    format!(
                        "{label}: fwmark services are not supported (XDP steers packets before netfilter \
                         could mark them); the service and its reals are skipped"
                    ),
                );
                return;
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
                let mut fwmarks = Vec::new();
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
                            targets.extend(addrs.iter().map(|a| (Vip::single(*a, *port), *at)))
                        }
                        GroupEntry::Fwmark { at, text } => fwmarks.push((*at, text.clone())),
                    }
                }
                for (at, text) in fwmarks {
                    self.warn(
                        at,
                        format!(
                            "virtual_server_group {name}: `{text}`: fwmark services are not supported (XDP steers \
                             packets before netfilter could mark them); skipped"
                        ),
                    );
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
                targets.push((Vip::single(ip, port), first.at));
            }
        }
        let Some(body) = s.block.as_deref() else {
            self.error(s.at(), format!("`{label}` has no `{{ ... }}` block"), "add `{ real_server ... }` after it");
            return;
        };
        let vs = self.vs_body(s.at(), body, &label);
        if vs.protocol.is_none() && !targets.is_empty() {
            self.warn(
                s.at(),
                format!("{label}: no `protocol`; UDP is assumed, as keepalived does (add `protocol TCP`)"),
            );
        }
        for (vip, at) in targets {
            self.emit(&vs, vip, at);
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
            "lb_kind" | "lvs_method" => vs.forward = self.forward(s).or(vs.forward),
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
            kw @ ("sh-port" | "sh-fallback" | "mh-port" | "mh-fallback") => {
                let (mut f, _) = vs.flags.take().unwrap_or((SchedulerFlags::default(), s.at()));
                f.set(kw);
                vs.flags = Some((f, s.at()));
            }
            "ip_family" => {
                if let Some(t) = self.arg(s, 1, "inet") {
                    if !matches!(t.text.as_str(), "inet" | "inet6") {
                        let (at, text) = (t.at, t.text.clone());
                        self.error(at, format!("unknown ip_family `{text}`"), "use inet or inet6");
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
            other => {
                let other = other.to_string();
                self.error(t.at, format!("protocol `{other}` is not supported"), "use TCP or UDP");
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

    /// A script line: the rest of the statement (keepalived runs the whole line).
    fn notify_line(&mut self, s: &Stmt) -> Option<String> {
        self.arg(s, 1, "/usr/local/bin/notify.sh")?;
        Some(words(&s.words[1..]))
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
            notify_down: None,
            timing: Timing::default(),
            checks: Vec::new(),
        };
        for st in s.block.as_deref().unwrap_or_default() {
            let kw = st.key();
            let is_checker =
                matches!(kw, "TCP_CHECK" | "HTTP_GET" | "SSL_GET" | "MISC_CHECK" | "UDP_CHECK" | "DNS_CHECK");
            if !is_checker && !UNSUPPORTED_CHECKERS.contains(&kw) {
                self.no_block(st);
            }
            if self.timing(st, &mut rs.timing) {
                continue;
            }
            match kw {
                "weight" => rs.weight = self.num(st, u32::MAX, "1").or(rs.weight),
                "lvs_method" | "lb_kind" => rs.forward = self.forward(st).or(rs.forward),
                "uthreshold" => rs.upper = self.num(st, u32::MAX, "0").or(rs.upper),
                "lthreshold" => rs.lower = self.num(st, u32::MAX, "0").or(rs.lower),
                "inhibit_on_failure" => rs.inhibit = self.boolean(st).or(rs.inhibit),
                "notify_up" => rs.notify_up = self.notify_line(st).or(rs.notify_up.take()),
                "notify_down" => rs.notify_down = self.notify_line(st).or(rs.notify_down.take()),
                // Every checker of a real must pass for it to be up, as in keepalived.
                _ if is_checker => {
                    let c = self.checker(st);
                    rs.checks.push(c);
                }
                _ if UNSUPPORTED_CHECKERS.contains(&kw) => self.error(
                    st.at(),
                    format!("{label}: {kw} is not implemented in xvs: the real would run unguarded"),
                    "use TCP_CHECK, HTTP_GET, SSL_GET, MISC_CHECK, UDP_CHECK or DNS_CHECK (a MISC_CHECK can run any probe)",
                ),
                _ => self.not_used(st, &format!("real_server ({label})"), RS_KEYS, RS_IGNORED),
            }
        }
        Some(rs)
    }

    fn checker(&mut self, s: &Stmt) -> CheckDef {
        let kw = s.key();
        let kind = match kw {
            "TCP_CHECK" => CheckKind::Tcp,
            "HTTP_GET" => CheckKind::Http,
            "SSL_GET" => CheckKind::Ssl,
            "MISC_CHECK" => CheckKind::Misc,
            "UDP_CHECK" => CheckKind::Udp,
            _ => CheckKind::Dns,
        };
        let mut c = CheckDef {
            at: s.at(),
            kind,
            port: None,
            timing: Timing::default(),
            path: None,
            status: None,
            digest: None,
            command: None,
            misc_timeout: None,
            dynamic: false,
            dns_type: None,
            dns_name: None,
            user: None,
            sni: None,
            enable_sni: None,
        };
        let mut urls = 0;
        for st in s.block.as_deref().unwrap_or_default() {
            let k = st.key();
            if k != "url" {
                self.no_block(st);
            }
            let fits = match k {
                "url" => kind == CheckKind::Http || kind == CheckKind::Ssl,
                "enable_sni" | "sni_name" => kind == CheckKind::Ssl,
                "misc_path" | "misc_timeout" | "misc_dynamic" | "user" => kind == CheckKind::Misc,
                "type" | "name" => kind == CheckKind::Dns,
                "nb_get_retry" | "connect_port" => kind != CheckKind::Misc || k == "nb_get_retry",
                _ => true,
            };
            if !fits {
                self.warn(st.at(), format!("`{k}` does not apply to {kw}; ignored"));
                continue;
            }
            if self.timing(st, &mut c.timing) {
                continue;
            }
            match k {
                "connect_port" => c.port = self.num(st, u16::MAX, "80").or(c.port),
                "url" => {
                    urls += 1;
                    if urls > 1 {
                        self.warn(st.at(), "a second `url` is ignored: xvs HTTP checks fetch one URL");
                        continue;
                    }
                    self.url(st, &mut c);
                }
                "misc_path" => {
                    if let Some(t) = self.arg(st, 1, "/usr/local/bin/check") {
                        // keepalived runs the rest of the line too when the path is not quoted.
                        c.command = Some((words(&st.words[1..]), t.at));
                    }
                }
                "misc_timeout" => c.misc_timeout = self.timer(st, "5").or(c.misc_timeout),
                "misc_dynamic" => c.dynamic = self.boolean(st).unwrap_or(c.dynamic),
                "enable_sni" => {
                    if self.boolean(st).unwrap_or(true) {
                        c.enable_sni = Some(st.at());
                    }
                }
                "sni_name" => {
                    if let Some(t) = self.arg(st, 1, "www.example.com") {
                        c.sni = Some((t.text.clone(), t.at));
                    }
                }
                "user" => {
                    let texts = Self::texts(st, 1);
                    match texts[..] {
                        [u] | [u, _] => {
                            let who = RunAs { user: u.into(), group: texts.get(1).map(|g| g.to_string()) };
                            c.user = Some((who, st.at()));
                        }
                        _ => self.error(st.at(), "`user` needs USER [GROUP]", "write `user nobody`"),
                    }
                }
                "type" => {
                    if let Some(t) = self.arg(st, 1, "A") {
                        c.dns_type = Some((t.text.to_ascii_uppercase(), t.at));
                    }
                }
                "name" => {
                    if let Some(t) = self.arg(st, 1, "www.example.com") {
                        c.dns_name = Some((t.text.clone(), t.at));
                    }
                }
                _ => self.not_used(st, kw, CHECK_KEYS, CHECK_IGNORED),
            }
        }
        c
    }

    fn url(&mut self, s: &Stmt, c: &mut CheckDef) {
        for st in s.block.as_deref().unwrap_or_default() {
            self.no_block(st);
            match st.key() {
                "path" => {
                    if let Some(t) = self.arg(st, 1, "/health") {
                        c.path = Some((t.text.clone(), t.at));
                    }
                }
                "digest" => {
                    if let Some(t) = self.arg(st, 1, "9b3a0c85a887a256d6939da88aabd8cd") {
                        c.digest = Some(t.text.clone());
                    }
                }
                "status_code" => {
                    let Some(t) = self.arg(st, 1, "200") else {
                        continue;
                    };
                    let at = t.at;
                    let all = words(&st.words[1..]);
                    match StatusCodes::parse(&all) {
                        Ok(codes) => c.status = Some((codes, at)),
                        Err(e) => self.error(
                            at,
                            format!("bad status_code `{all}`: {e}"),
                            "write `status_code 200` or `status_code 200-299 301`",
                        ),
                    }
                }
                _ => self.not_used(st, "url", URL_KEYS, URL_IGNORED),
            }
        }
    }

    /// Adds one service for `vip` built from `vs`.
    fn emit(&mut self, vs: &VsDef, vip: Vip, vip_at: Loc) {
        let i = self.config.services.len();
        let sec = Section::Service(i);
        let protocol = vs.protocol.as_ref().map_or(Protocol::Udp, |p| p.0);
        let mut svc = Service::new(vip, protocol);
        self.set(sec, HEADER, vs.at);
        self.set(sec, "vip", vip_at);
        if let Some((_, at)) = vs.protocol {
            self.set(sec, "protocol", at);
        }
        self.given(sec, "scheduler", &mut svc.scheduler, vs.scheduler.clone());
        self.given(sec, "scheduler_flags", &mut svc.scheduler_flags, vs.flags);
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
        svc.alpha = vs.alpha;
        svc.quorum_up = vs.quorum_up.clone().unwrap_or_default();
        svc.quorum_down = vs.quorum_down.clone().unwrap_or_default();
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
        self.given(sec, "upper_threshold", &mut r.upper_threshold, rd.upper);
        self.given(sec, "lower_threshold", &mut r.lower_threshold, rd.lower);
        r.inhibit_on_failure = rd.inhibit.unwrap_or(vs.inhibit);
        r.notify_up = rd.notify_up.clone().unwrap_or_default();
        r.notify_down = rd.notify_down.clone().unwrap_or_default();
        if let Some((d, at)) = rd.timing.delay_loop {
            if d != svc.delay_loop {
                self.warn(at, delay_loop_note(d, svc.delay_loop));
            }
        }
        for (k, cd) in rd.checks.iter().enumerate() {
            let cs = Section::Check(i, j, k);
            let mut c = Check::new(cd.kind);
            self.set(cs, HEADER, cd.at);
            self.set(cs, "kind", cd.at);
            if let Some((p, at)) = cd.port {
                c.port = Some(p);
                self.set(cs, "port", at);
            }
            let pick = |f: fn(&Timing) -> At<u32>| f(&cd.timing).or(f(&rd.timing)).or(f(&vs.timing));
            let timeout = if cd.kind == CheckKind::Misc {
                cd.misc_timeout.or(Some((svc.delay_loop, cd.at)))
            } else {
                pick(|t| t.connect_timeout)
            };
            c.connect_timeout = timeout.map_or(DEFAULT_CONNECT_TIMEOUT, |t| t.0);
            if let Some((_, at)) = timeout {
                self.set(cs, "connect_timeout", at);
            }
            c.retry = pick(|t| t.retry).map_or(
                match cd.kind {
                    CheckKind::Misc => 0,
                    CheckKind::Dns => 3,
                    _ => 1,
                },
                |t| t.0,
            );
            if let Some((w, at)) = pick(|t| t.warmup) {
                c.warmup = Some(w);
                self.set(cs, "warmup", at);
            }
            c.delay_before_retry = pick(|t| t.delay_before_retry).map_or(
                match cd.kind {
                    CheckKind::Http => 3,
                    CheckKind::Dns => svc.delay_loop,
                    _ => 1,
                },
                |t| t.0,
            );
            if let Some((d, at)) = cd.timing.delay_loop {
                if d != svc.delay_loop {
                    self.warn(at, delay_loop_note(d, svc.delay_loop));
                }
            }
            self.given(cs, "path", &mut c.path, cd.path.clone());
            self.given(cs, "status", &mut c.status, cd.status.clone());
            if let Some(d) = &cd.digest {
                c.digest = d.clone();
            }
            self.given(cs, "command", &mut c.command, cd.command.clone());
            c.dynamic = cd.dynamic;
            self.given(cs, "dns_type", &mut c.dns_type, cd.dns_type.clone());
            self.given(cs, "dns_name", &mut c.dns_name, cd.dns_name.clone());
            match (&cd.sni, cd.enable_sni) {
                (Some((name, at)), Some(_)) => {
                    c.sni = name.clone();
                    self.set(cs, "sni", *at);
                }
                (Some((_, at)), None) => {
                    self.warn(*at, "`sni_name` without `enable_sni`: no SNI is sent, as keepalived does");
                }
                (None, Some(at)) => self.error(
                    at,
                    "`enable_sni` without `sni_name`: keepalived would send the virtualhost, which xvs does not take",
                    "add `sni_name NAME`",
                ),
                (None, None) => {}
            }
            if let Some((who, at)) = &cd.user {
                c.user = Some(who.clone());
                self.set(cs, "user", *at);
            }
            r.checks.push(c);
        }
        r
    }
}

fn delay_loop_note(d: u32, service: u32) -> String {
    format!(
        "a delay_loop of {d} s here is ignored: xvs checks every real of a service every {service} s \
         (its virtual_server's delay_loop)"
    )
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
