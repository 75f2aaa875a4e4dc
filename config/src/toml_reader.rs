//! Reads xvs TOML into the model, recording where every value came from.
//!
//! Invariants:
//! - A TOML syntax error is fatal and reported alone, at the parser's span.
//! - Otherwise reading never stops at the first problem: each bad key or value is
//!   reported (unknown key at the key, wrong type / bad value at the value), marked bad
//!   in the [`SourceMap`], and replaced by its default so the rest can still be read.
//! - Only syntax and types are checked here; every rule about meaning is in
//!   `validate.rs`, which runs on the model this produces.
//! - Defaults are applied here (via the model's constructors), so the `Config`
//!   returned is complete.
//! - The VRRP tables are read in `toml_reader/vrrp.rs`, `[sync]` in `toml_reader/sync.rs`,
//!   health checks in `toml_reader/check.rs`, `[[fwmark]]` and fwmark services in
//!   `toml_reader/fwmark.rs`.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::ops::Range;
use std::path::PathBuf;

use toml_edit::{ImDocument, Item, TableLike, Value};

use crate::error::{ConfigError, ConfigErrors};
use crate::model::{
    Config, Director, Forward, Neighbor, PollMode, Protocol, Real, Service, SourcePrefix, Timeouts, Tunnel, TunnelCsum,
    TunnelType, Vip, XdpMode,
};
use crate::span::{LineIndex, Pos, Section, SourceMap, HEADER};
use crate::syntax::{
    parse_dotted_mask, parse_endpoint, parse_ip, parse_mac, parse_source_prefix, parse_vip, suggest, Problem,
};

mod check;
mod fwmark;
mod sync;
mod vrrp;
pub use check::{CHECK_KEYS, URL_KEYS};
pub use fwmark::FWMARK_KEYS;
pub use sync::SYNC_KEYS;
pub use vrrp::{AUTH_KEYS, SYNC_GROUP_KEYS, VRRP_GLOBAL_KEYS, VRRP_KEYS, VRRP_SCRIPT_KEYS};

/// Keys of the top level.
pub const ROOT_KEYS: &[&str] = &[
    "director",
    "timeouts",
    "service",
    "neighbor",
    "vrrp_global",
    "vrrp_script",
    "vrrp",
    "vrrp_sync_group",
    "sync",
    "fwmark",
];
/// Keys of `[director]`.
pub const DIRECTOR_KEYS: &[&str] = &[
    "cores",
    "interfaces",
    "xdp_mode",
    "poll",
    "control_socket",
    "metrics",
    "max_connections",
    "manage_vips",
    "vip_device",
    "address",
    "address6",
    "mtu",
    "expire_nodest_conn",
    "expire_quiescent_template",
    "verify_packets",
    "seed",
];
/// Keys of `[timeouts]`.
pub const TIMEOUT_KEYS: &[&str] = &["tcp", "tcp_fin", "udp"];
/// Keys of `[[service]]`.
pub const SERVICE_KEYS: &[&str] = &[
    "vip",
    "protocol",
    "scheduler",
    "scheduler_flags",
    "mh_table_size",
    "ops",
    "persistence",
    "persistence_netmask",
    "forward",
    "tunnel",
    "tun_port",
    "tun_flags",
    "delay_loop",
    "sorry_server",
    "sorry_forward",
    "sorry_inhibit",
    "alpha",
    "quorum",
    "hysteresis",
    "quorum_up",
    "quorum_down",
    "omega",
    "allow",
    "deny",
    "real",
    "fwmark",
    "family",
];
/// Keys of `[[service.real]]`.
pub const REAL_KEYS: &[&str] = &[
    "addr",
    "weight",
    "forward",
    "tunnel",
    "tun_port",
    "tun_flags",
    "upper_threshold",
    "lower_threshold",
    "inhibit_on_failure",
    "notify_up",
    "notify_down",
    "check",
];
/// Keys of `[[neighbor]]`.
pub const NEIGHBOR_KEYS: &[&str] = &["ip", "mac", "default"];

/// A sample right-hand side for `key`, used in hints.
fn example(key: &str) -> &'static str {
    match key {
        "cores" => "[0, 1]",
        "interfaces" => "[\"eth0\"]",
        "xdp_mode" => "\"auto\"",
        "poll" => "\"busy\"",
        "control_socket" => "\"/run/xvs.sock\"",
        "metrics" => "\"127.0.0.1:9477\"",
        "max_connections" => "2000000",
        "manage_vips" => "true",
        "vip_device" => "\"lo\"",
        "address" => "\"10.0.2.1\"",
        "address6" => "\"2001:db8:2::1\"",
        "mtu" => "1500",
        "seed" => "0",
        "tcp" => "900",
        "tcp_fin" => "120",
        "udp" => "300",
        "vip" => "\"10.0.1.100:80\"",
        "protocol" => "\"tcp\"",
        "scheduler" => "\"wlc\"",
        "scheduler_flags" => "[\"sh-port\"]",
        "mh_table_size" => "65537",
        "persistence" => "300",
        "persistence_netmask" => "24",
        "forward" => "\"dr\"",
        "delay_loop" => "6",
        "sorry_server" => "\"10.0.9.9:80\"",
        "addr" => "\"10.0.2.11:80\"",
        "weight" => "1",
        "upper_threshold" | "lower_threshold" => "0",
        "kind" => "\"tcp\"",
        "port" => "80",
        "connect_timeout" | "retry" | "delay_before_retry" => "3",
        "path" => "\"/health\"",
        "status" => "200",
        "digest" => "\"\"",
        "command" => "\"/usr/local/bin/check-web\"",
        "quorum" => "1",
        "hysteresis" => "0",
        "dns_type" => "\"A\"",
        "dns_name" => "\"www.example.com\"",
        "ip" => "\"10.0.2.11\"",
        "mac" => "\"02:00:00:00:02:11\"",
        "name" => "\"VI_1\"",
        "state" => "\"backup\"",
        "interface" => "\"eth0\"",
        "virtual_router_id" => "51",
        "priority" => "100",
        "advert_int" | "interval" | "rise" | "fall" => "1",
        "version" => "2",
        "auth_type" => "\"pass\"",
        "auth_pass" => "\"1111\"",
        "unicast_src_ip" => "\"10.0.2.1\"",
        "script" | "notify_master" | "notify_backup" | "notify_fault" | "notify_stop" | "notify" => {
            "\"/usr/local/bin/notify.sh\""
        }
        "script_user" | "user" => "\"keepalived_script\"",
        "preempt_delay" | "garp_interval" | "gna_interval" | "garp_master_refresh" | "timeout" => "0",
        "garp_master_delay" | "garp_master_repeat" => "5",
        "instance" => "\"VI_1\"",
        "syncid" => "7",
        "maxlen" => "1400",
        "ttl" => "1",
        "sync_refresh_period" => "0",
        _ => "false",
    }
}

/// Reads `text`; a syntax error is returned as `Err`, everything else as the
/// (default-filled) model, its source map and the problems found while reading.
pub fn read_toml(text: &str, file: &str) -> Result<(Config, SourceMap, Vec<ConfigError>), ConfigErrors> {
    let lines = LineIndex::new(text);
    let doc = match ImDocument::parse(text) {
        Ok(doc) => doc,
        Err(e) => {
            let pos = lines.pos(e.span().map_or(0, |s| s.start));
            let message = e.message().trim().replace('\n', "; ");
            return Err(ConfigError::new(
                file,
                pos.line,
                pos.col,
                format!("TOML syntax: {message}"),
                Some(
                    "fix the TOML here: addresses and names must be quoted \
                     (`vip = \"10.0.1.100:80\"`), one `key = value` per line, `[table]` headers closed"
                        .into(),
                ),
            )
            .into());
        }
    };
    let mut r = Reader { file, lines, map: SourceMap::new(file), errors: Vec::new() };
    let config = r.root(doc.as_table());
    Ok((config, r.map, r.errors))
}

/// A table (standard or inline) of the document, with where it starts.
#[derive(Clone, Copy)]
struct Tab<'a> {
    t: &'a dyn TableLike,
    start: Option<usize>,
    sec: Section,
}

struct Reader<'t> {
    file: &'t str,
    lines: LineIndex<'t>,
    map: SourceMap,
    errors: Vec<ConfigError>,
}

fn type_name(item: &Item) -> &'static str {
    match item {
        Item::Value(Value::String(_)) => "a string",
        Item::Value(Value::Integer(_)) => "an integer",
        Item::Value(Value::Float(_)) => "a float",
        Item::Value(Value::Boolean(_)) => "a boolean",
        Item::Value(Value::Datetime(_)) => "a date-time",
        Item::Value(Value::Array(_)) => "an array",
        Item::Value(Value::InlineTable(_)) | Item::Table(_) => "a table",
        Item::ArrayOfTables(_) => "an array of tables",
        Item::None => "nothing",
    }
}

fn value_type_name(v: &Value) -> &'static str {
    type_name(&Item::Value(v.clone()))
}

/// A string of the document and where it is.
type Spanned<'a> = (&'a str, Option<Range<usize>>);

/// Sets `field` to the key's value when the key is there (else its default stays).
fn set<T>(field: &mut T, value: Option<T>) {
    if let Some(v) = value {
        *field = v;
    }
}

impl<'t> Reader<'t> {
    fn pos(&self, offset: Option<usize>, fallback: Section) -> Pos {
        match offset {
            Some(o) => self.lines.pos(o),
            None => self.map.locate(fallback, HEADER),
        }
    }

    fn error_at(&mut self, pos: Pos, message: String, hint: Option<String>) {
        self.errors.push(ConfigError::new(self.file, pos.line, pos.col, message, hint));
    }

    fn error(&mut self, span: Option<Range<usize>>, sec: Section, message: String, hint: Option<String>) {
        let pos = self.pos(span.map(|s| s.start), sec);
        self.error_at(pos, message, hint);
    }

    /// Records the header and reports unknown keys.
    fn open(&mut self, t: Tab<'_>, allowed: &[&'static str]) {
        let pos = self.pos(t.start, t.sec);
        self.map.set(t.sec, HEADER, pos);
        self.unknown_keys(t, allowed);
    }

    /// Reports the keys of `t` that are not `allowed`.
    fn unknown_keys(&mut self, t: Tab<'_>, allowed: &[&'static str]) {
        for (k, _) in t.t.iter() {
            if allowed.contains(&k) {
                continue;
            }
            let span = t.t.get_key_value(k).and_then(|(key, _)| key.span());
            let hint = suggest(k, allowed);
            self.error(span, t.sec, format!("unknown key `{k}` in {}", t.sec.describe()), Some(hint));
        }
    }

    /// The item under `key`, recording its position.
    fn item<'a>(&mut self, t: Tab<'a>, key: &'static str) -> Option<&'a Item> {
        let (k, item) = t.t.get_key_value(key)?;
        let offset = item.span().or_else(|| k.span()).map(|s| s.start);
        let pos = self.pos(offset, t.sec);
        self.map.set(t.sec, key, pos);
        Some(item)
    }

    fn bad(
        &mut self,
        t: Tab<'_>,
        key: &'static str,
        span: Option<Range<usize>>,
        message: String,
        hint: Option<String>,
    ) {
        self.map.mark_bad(t.sec, key);
        let pos = match span {
            Some(s) => self.lines.pos(s.start),
            None => self.map.locate(t.sec, key),
        };
        self.error_at(pos, message, hint);
    }

    fn wrong_type(&mut self, t: Tab<'_>, key: &'static str, item: &Item, expected: &str) {
        self.bad(
            t,
            key,
            item.span(),
            format!("`{key}` must be {expected}, not {}", type_name(item)),
            Some(format!("for example `{key} = {}`", example(key))),
        );
    }

    fn missing(&mut self, t: Tab<'_>, key: &'static str) {
        self.map.mark_bad(t.sec, key);
        let pos = self.map.locate(t.sec, HEADER);
        self.error_at(
            pos,
            format!("{} is missing the required key `{key}`", t.sec.describe()),
            Some(format!("add `{key} = {}`", example(key))),
        );
    }

    fn int(&mut self, t: Tab<'_>, key: &'static str, min: i64, max: i64) -> Option<i64> {
        let item = self.item(t, key)?;
        match item.as_integer() {
            Some(v) if (min..=max).contains(&v) => Some(v),
            Some(v) => {
                self.bad(
                    t,
                    key,
                    item.span(),
                    format!("`{key}` = {v} is out of range {min}..={max}"),
                    Some(format!("for example `{key} = {}`", example(key))),
                );
                None
            }
            None => {
                self.wrong_type(t, key, item, "an integer");
                None
            }
        }
    }

    fn u32(&mut self, t: Tab<'_>, key: &'static str) -> Option<u32> {
        self.int(t, key, 0, u32::MAX.into()).map(|v| v as u32)
    }

    fn u16(&mut self, t: Tab<'_>, key: &'static str) -> Option<u16> {
        self.int(t, key, 0, u16::MAX.into()).map(|v| v as u16)
    }

    fn bool(&mut self, t: Tab<'_>, key: &'static str) -> Option<bool> {
        let item = self.item(t, key)?;
        let v = item.as_bool();
        if v.is_none() {
            self.wrong_type(t, key, item, "`true` or `false`");
        }
        v
    }

    fn string<'a>(&mut self, t: Tab<'a>, key: &'static str) -> Option<&'a str> {
        let item = self.item(t, key)?;
        let v = item.as_str();
        if v.is_none() {
            self.wrong_type(t, key, item, "a string");
        }
        v
    }

    fn parsed<T>(&mut self, t: Tab<'_>, key: &'static str, f: impl Fn(&str) -> Result<T, Problem>) -> Option<T> {
        let s = self.string(t, key)?;
        match f(s) {
            Ok(v) => Some(v),
            Err(p) => {
                let span = t.t.get(key).and_then(Item::span);
                self.bad(t, key, span, p.message, p.hint);
                None
            }
        }
    }

    fn keyword<E>(&mut self, t: Tab<'_>, key: &'static str, names: &[&str], from: fn(&str) -> Option<E>) -> Option<E> {
        let s = self.string(t, key)?;
        let v = from(s);
        if v.is_none() {
            let span = t.t.get(key).and_then(Item::span);
            self.bad(
                t,
                key,
                span,
                format!("unknown {key} `{s}` (expected one of: {})", names.join(", ")),
                Some(suggest(s, names)),
            );
        }
        v
    }

    fn array<'a>(&mut self, t: Tab<'a>, key: &'static str, of: &str) -> Option<Vec<&'a Value>> {
        let item = self.item(t, key)?;
        match item.as_array() {
            Some(a) => Some(a.iter().collect()),
            None => {
                self.wrong_type(t, key, item, &format!("an array of {of}"));
                None
            }
        }
    }

    /// An array of strings, each with its span; a non-string entry is an error (`sample`
    /// is a right-hand side for the hint).
    fn strings<'a>(&mut self, t: Tab<'a>, key: &'static str, sample: &str) -> Option<Vec<Spanned<'a>>> {
        let mut out = Vec::new();
        for v in self.array(t, key, "strings")? {
            match v.as_str() {
                Some(s) => out.push((s, v.span())),
                None => self.bad(
                    t,
                    key,
                    v.span(),
                    format!("`{key}` entries must be strings, not {}", value_type_name(v)),
                    Some(format!("for example `{key} = {sample}`")),
                ),
            }
        }
        Some(out)
    }

    /// A sub-table: `[a.b]` or `b = { ... }`.
    fn table<'a>(&mut self, t: Tab<'a>, key: &'static str, sec: Section) -> Option<Tab<'a>> {
        let item = self.item(t, key)?;
        match item {
            Item::Table(tt) => Some(Tab {
                t: tt,
                start: tt.span().or_else(|| t.t.get_key_value(key).and_then(|(k, _)| k.span())).map(|s| s.start),
                sec,
            }),
            Item::Value(Value::InlineTable(it)) => Some(Tab { t: it, start: it.span().map(|s| s.start), sec }),
            _ => {
                self.wrong_type(t, key, item, "a table");
                None
            }
        }
    }

    /// An array of tables: `[[a.b]]` or `b = [{ ... }, ...]`.
    fn tables<'a>(&mut self, t: Tab<'a>, key: &'static str, sec: impl Fn(usize) -> Section) -> Vec<Tab<'a>> {
        let Some(item) = self.item(t, key) else {
            return Vec::new();
        };
        match item {
            Item::ArrayOfTables(a) => a
                .iter()
                .enumerate()
                .map(|(i, tt)| Tab { t: tt, start: tt.span().map(|s| s.start), sec: sec(i) })
                .collect(),
            Item::Value(Value::Array(a)) => {
                let mut out = Vec::new();
                for v in a.iter() {
                    match v.as_inline_table() {
                        Some(it) => out.push(Tab { t: it, start: it.span().map(|s| s.start), sec: sec(out.len()) }),
                        None => self.bad(
                            t,
                            key,
                            v.span(),
                            format!("`{key}` must be an array of tables, but holds {}", value_type_name(v)),
                            Some(format!(
                                "write each entry as an inline table `{{ ... }}` or as a `{}` section",
                                sec(0).describe()
                            )),
                        ),
                    }
                }
                out
            }
            _ => {
                self.bad(
                    t,
                    key,
                    item.span(),
                    format!("`{key}` must be an array of tables, not {}", type_name(item)),
                    Some(format!("use double brackets: `{}`, one per entry", sec(0).describe())),
                );
                Vec::new()
            }
        }
    }

    fn root(&mut self, table: &toml_edit::Table) -> Config {
        let root = Tab { t: table, start: Some(0), sec: Section::Root };
        self.open(root, ROOT_KEYS);
        let director = match self.table(root, "director", Section::Director) {
            Some(t) => self.director(t),
            None => Director::default(),
        };
        let timeouts = match self.table(root, "timeouts", Section::Timeouts) {
            Some(t) => self.timeouts(t),
            None => Timeouts::default(),
        };
        let services = self
            .tables(root, "service", Section::Service)
            .into_iter()
            .enumerate()
            .map(|(i, t)| self.service(t, i))
            .collect();
        let neighbors =
            self.tables(root, "neighbor", Section::Neighbor).into_iter().map(|t| self.neighbor(t)).collect();
        let vrrp = self.vrrp(root);
        let sync = self.sync(root, &vrrp);
        let fwmarks = self.tables(root, "fwmark", Section::Fwmark).into_iter().map(|t| self.fwmark(t)).collect();
        Config { director, timeouts, services, neighbors, vrrp, sync, fwmarks }
    }

    fn director(&mut self, t: Tab<'_>) -> Director {
        self.open(t, DIRECTOR_KEYS);
        let mut d = Director::default();
        if let Some(vals) = self.array(t, "cores", "core numbers") {
            let mut cores = Vec::new();
            for v in vals {
                match v.as_integer() {
                    Some(c) if (0..=65535).contains(&c) => cores.push(c as usize),
                    _ => self.bad(
                        t,
                        "cores",
                        v.span(),
                        format!("`cores` entries must be CPU numbers 0..=65535, found {}", v.to_string().trim()),
                        Some("for example `cores = [0, 1]`; omit `cores` to use all".into()),
                    ),
                }
            }
            d.cores = Some(cores);
        }
        if let Some(names) = self.strings(t, "interfaces", "[\"eth0\"]") {
            d.interfaces = Some(names.into_iter().map(|(s, _)| s.to_string()).collect());
        }
        set(&mut d.xdp_mode, self.keyword(t, "xdp_mode", XdpMode::NAMES, XdpMode::from_name));
        set(&mut d.poll, self.keyword(t, "poll", PollMode::NAMES, PollMode::from_name));
        set(&mut d.control_socket, self.string(t, "control_socket").map(PathBuf::from));
        d.metrics = self.parsed(t, "metrics", |s| parse_endpoint(s, None, "metrics address"));
        set(&mut d.max_connections, self.u32(t, "max_connections"));
        set(&mut d.manage_vips, self.bool(t, "manage_vips"));
        set(&mut d.vip_device, self.string(t, "vip_device").map(str::to_string));
        d.address = self.parsed(t, "address", |s| match parse_ip(s, "address")? {
            IpAddr::V4(a) => Ok::<Ipv4Addr, Problem>(a),
            IpAddr::V6(_) => Err(Problem::new(
                format!("`address` must be IPv4, got `{s}`"),
                "put an IPv6 director address in `address6`",
            )),
        });
        d.address6 = self.parsed(t, "address6", |s| match parse_ip(s, "address6")? {
            IpAddr::V6(a) => Ok::<Ipv6Addr, Problem>(a),
            IpAddr::V4(_) => Err(Problem::new(
                format!("`address6` must be IPv6, got `{s}`"),
                "put an IPv4 director address in `address`",
            )),
        });
        d.mtu = self.u16(t, "mtu");
        set(&mut d.expire_nodest_conn, self.bool(t, "expire_nodest_conn"));
        set(&mut d.expire_quiescent_template, self.bool(t, "expire_quiescent_template"));
        set(&mut d.verify_packets, self.int(t, "verify_packets", 0, 254).map(|v| v as u8));
        set(&mut d.seed, self.int(t, "seed", 0, i64::MAX).map(|v| v as u64));
        d
    }

    fn timeouts(&mut self, t: Tab<'_>) -> Timeouts {
        self.open(t, TIMEOUT_KEYS);
        let mut to = Timeouts::default();
        set(&mut to.tcp, self.u32(t, "tcp"));
        set(&mut to.tcp_fin, self.u32(t, "tcp_fin"));
        set(&mut to.udp, self.u32(t, "udp"));
        to
    }

    fn service(&mut self, t: Tab<'_>, i: usize) -> Service {
        self.open(t, SERVICE_KEYS);
        let mut s = match self.fwmark_service(t) {
            Some(s) => s,
            None => {
                if t.t.get("vip").is_none() {
                    self.missing(t, "vip");
                }
                let vip = self.parsed(t, "vip", parse_vip).unwrap_or(Vip::single(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 0));
                let protocol =
                    self.keyword(t, "protocol", Protocol::NAMES, Protocol::from_name).unwrap_or(Protocol::Tcp);
                Service::new(vip, protocol)
            }
        };
        let vip = s.vip;
        set(&mut s.scheduler, self.string(t, "scheduler").map(str::to_string));
        self.scheduler_flags(t, &mut s);
        set(&mut s.mh_table_size, self.u32(t, "mh_table_size"));
        set(&mut s.ops, self.bool(t, "ops"));
        set(&mut s.persistence, self.u32(t, "persistence"));
        if let Some(item) = self.item(t, "persistence_netmask") {
            match item {
                Item::Value(Value::Integer(_)) => {
                    set(&mut s.persistence_netmask, self.int(t, "persistence_netmask", 0, 255).map(|v| v as u8));
                }
                Item::Value(Value::String(_)) if vip.addr.is_ipv6() => self.bad(
                    t,
                    "persistence_netmask",
                    item.span(),
                    "a dotted persistence_netmask is for IPv4 services only".into(),
                    Some("write an IPv6 prefix length, e.g. `persistence_netmask = 64`".into()),
                ),
                Item::Value(Value::String(_)) => {
                    set(&mut s.persistence_netmask, self.parsed(t, "persistence_netmask", parse_dotted_mask));
                }
                _ => self.wrong_type(t, "persistence_netmask", item, "a prefix length or a dotted mask"),
            }
        }
        set(&mut s.forward, self.keyword(t, "forward", Forward::NAMES, Forward::from_name));
        s.tunnel = self.tunnel(t, Tunnel::default());
        set(&mut s.delay_loop, self.u32(t, "delay_loop"));
        s.sorry_server = self.parsed(t, "sorry_server", |x| parse_endpoint(x, Some(vip.port), "sorry_server"));
        s.sorry_forward = self.keyword(t, "sorry_forward", Forward::NAMES, Forward::from_name);
        set(&mut s.sorry_inhibit, self.bool(t, "sorry_inhibit"));
        set(&mut s.alpha, self.bool(t, "alpha"));
        set(&mut s.quorum, self.u32(t, "quorum"));
        set(&mut s.hysteresis, self.u32(t, "hysteresis"));
        s.quorum_up = self.script(t, "quorum_up");
        s.quorum_down = self.script(t, "quorum_down");
        set(&mut s.omega, self.bool(t, "omega"));
        s.allow = self.source_prefixes(t, "allow");
        s.deny = self.source_prefixes(t, "deny");
        let reals = self.tables(t, "real", |j| Section::Real(i, j));
        let (forward, tunnel) = (s.forward, s.tunnel);
        s.reals = reals.into_iter().enumerate().map(|(j, rt)| self.real(rt, i, j, vip.port, forward, tunnel)).collect();
        s
    }

    /// A list of source prefixes (`allow`, `deny`); each bad entry reported at its place.
    fn source_prefixes(&mut self, t: Tab<'_>, key: &'static str) -> Vec<SourcePrefix> {
        let mut out = Vec::new();
        for (s, span) in self.strings(t, key, "[\"10.0.0.0/8\", \"2001:db8::/32\"]").unwrap_or_default() {
            match parse_source_prefix(s) {
                Ok(p) => out.push(p),
                Err(e) => self.bad(t, key, span, e.message, e.hint),
            }
        }
        out
    }

    fn scheduler_flags(&mut self, t: Tab<'_>, s: &mut Service) {
        let key = "scheduler_flags";
        let Some(item) = self.item(t, key) else {
            return;
        };
        let values: Vec<&Value> = match item {
            Item::Value(v @ Value::String(_)) => vec![v],
            Item::Value(Value::Array(a)) => a.iter().collect(),
            _ => {
                self.wrong_type(t, key, item, "an array of flag names");
                return;
            }
        };
        for v in values {
            let Some(text) = v.as_str() else {
                self.bad(
                    t,
                    key,
                    v.span(),
                    format!("`{key}` entries must be strings, not {}", value_type_name(v)),
                    Some("for example `scheduler_flags = [\"sh-fallback\", \"sh-port\"]`".into()),
                );
                continue;
            };
            for name in text.split(',').map(str::trim).filter(|n| !n.is_empty()) {
                if !s.scheduler_flags.set(name) {
                    self.bad(
                        t,
                        key,
                        v.span(),
                        format!("unknown scheduler flag `{name}`"),
                        Some(format!(
                            "{} (flags: {})",
                            suggest(name, &crate::model::SchedulerFlags::NAMES),
                            crate::model::SchedulerFlags::NAMES.join(", ")
                        )),
                    );
                }
            }
        }
    }

    fn real(&mut self, t: Tab<'_>, i: usize, j: usize, port: u16, forward: Forward, tunnel: Tunnel) -> Real {
        self.open(t, REAL_KEYS);
        if t.t.get("addr").is_none() {
            self.missing(t, "addr");
        }
        let addr = self
            .parsed(t, "addr", |s| parse_endpoint(s, Some(port), "real address"))
            .unwrap_or_else(|| (Ipv4Addr::UNSPECIFIED, port).into());
        let mut r = Real::new(addr, forward);
        set(&mut r.weight, self.u32(t, "weight"));
        set(&mut r.forward, self.keyword(t, "forward", Forward::NAMES, Forward::from_name));
        // A TUN real takes the service's tunnel unless it names its own.
        r.tunnel = self.tunnel(t, if r.forward == Forward::Tun { tunnel } else { Tunnel::default() });
        set(&mut r.upper_threshold, self.u32(t, "upper_threshold"));
        set(&mut r.lower_threshold, self.u32(t, "lower_threshold"));
        set(&mut r.inhibit_on_failure, self.bool(t, "inhibit_on_failure"));
        r.notify_up = self.script(t, "notify_up");
        r.notify_down = self.script(t, "notify_down");
        // One check (`[service.real.check]`) or several (`[[service.real.check]]`).
        match t.t.get("check") {
            Some(Item::ArrayOfTables(_) | Item::Value(Value::Array(_))) => {
                for ct in self.tables(t, "check", |k| Section::Check(i, j, k)) {
                    let c = self.check(ct);
                    r.checks.push(c);
                }
            }
            Some(_) => {
                if let Some(ct) = self.table(t, "check", Section::Check(i, j, 0)) {
                    let c = self.check(ct);
                    r.checks.push(c);
                }
            }
            None => {}
        }
        r
    }

    /// `tunnel`, `tun_port`, `tun_flags` of `t` over `base`.
    fn tunnel(&mut self, t: Tab<'_>, base: Tunnel) -> Tunnel {
        let mut tun = base;
        set(&mut tun.kind, self.keyword(t, "tunnel", TunnelType::NAMES, TunnelType::from_name));
        if tun.kind != base.kind {
            tun = Tunnel { kind: tun.kind, ..Tunnel::default() };
        }
        set(&mut tun.port, self.u16(t, "tun_port"));
        set(&mut tun.csum, self.keyword(t, "tun_flags", TunnelCsum::NAMES, TunnelCsum::from_name));
        tun
    }

    fn neighbor(&mut self, t: Tab<'_>) -> Neighbor {
        self.open(t, NEIGHBOR_KEYS);
        for key in ["ip", "mac"] {
            if t.t.get(key).is_none() {
                self.missing(t, key);
            }
        }
        Neighbor {
            ip: self.parsed(t, "ip", |s| parse_ip(s, "neighbor ip")).unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED)),
            mac: self.parsed(t, "mac", parse_mac).unwrap_or([0; 6]),
            default: self.bool(t, "default").unwrap_or(false),
        }
    }
}
