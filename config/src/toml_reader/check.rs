//! Reads `[service.real.check]` / `[[service.real.check]]` of xvs TOML, with keepalived's
//! checker options under keepalived's names.
//!
//! Invariants:
//! - An http/ssl check's URL is given either by the check's own `path`, `status`,
//!   `digest`, `virtualhost` and `regex*` keys (one URL) or by `[[service.real.check.url]]`
//!   tables (several), never both: that is an error at the first `url`.
//! - As in the rest of the reader, only syntax and types are checked here; which keys fit
//!   which kind, and whether a regex compiles, is validation's.

use toml_edit::{Item, Value};

use super::{set, vrrp, Reader, Tab};
use crate::model::{parse_hex, BodyRegex, Check, CheckKind, FileCheck, HttpProtocol, HttpUrl, StatusCodes};
use crate::span::Section;
use crate::syntax::{parse_ip, Problem};

/// Keys of `[service.real.check]`, besides the URL keys ([`URL_KEYS`]) it may hold for
/// its one URL.
pub const CHECK_KEYS: &[&str] = &[
    "kind",
    "port",
    "connect_timeout",
    "retry",
    "delay_before_retry",
    "delay_loop",
    "alpha",
    "warmup",
    "connect_ip",
    "bindto",
    "bind_port",
    "bind_if",
    "fwmark",
    "url",
    "http_protocol",
    "fast_recovery",
    "sni",
    "command",
    "dynamic",
    "user",
    "dns_type",
    "dns_name",
    "payload",
    "require_reply",
    "reply",
    "min_reply_length",
    "max_reply_length",
    "helo_name",
    "file",
    "weight",
    "reverse",
    "init_file",
    "init_overwrite",
];
/// Keys of `[[service.real.check.url]]`.
pub const URL_KEYS: &[&str] = &[
    "path",
    "status",
    "digest",
    "virtualhost",
    "regex",
    "regex_no_match",
    "regex_options",
    "regex_min_offset",
    "regex_max_offset",
];

impl Reader<'_> {
    pub(super) fn check(&mut self, t: Tab<'_>) -> Check {
        self.open(t, &[CHECK_KEYS, URL_KEYS].concat());
        if t.t.get("kind").is_none() {
            self.missing(t, "kind");
        }
        let kind = self.keyword(t, "kind", CheckKind::NAMES, CheckKind::from_name).unwrap_or(CheckKind::Misc);
        let mut c = Check::new(kind);
        c.port = self.u16(t, "port");
        set(&mut c.connect_timeout, self.u32(t, "connect_timeout"));
        set(&mut c.retry, self.u32(t, "retry"));
        set(&mut c.delay_before_retry, self.u32(t, "delay_before_retry"));
        c.delay_loop = self.u32(t, "delay_loop");
        c.alpha = self.bool(t, "alpha");
        c.warmup = self.u32(t, "warmup");
        c.connect.ip = self.parsed(t, "connect_ip", |s| parse_ip(s, "connect_ip"));
        c.connect.bind = self.parsed(t, "bindto", |s| parse_ip(s, "bindto"));
        c.connect.bind_port = self.u16(t, "bind_port");
        set(&mut c.connect.bind_if, self.string(t, "bind_if").map(str::to_string));
        set(&mut c.connect.fwmark, self.u32(t, "fwmark"));
        self.urls(t, &mut c);
        set(&mut c.http_protocol, self.keyword(t, "http_protocol", HttpProtocol::NAMES, HttpProtocol::from_name));
        set(&mut c.fast_recovery, self.bool(t, "fast_recovery"));
        set(&mut c.sni, self.string(t, "sni").map(str::to_string));
        set(&mut c.command, self.string(t, "command").map(str::to_string));
        set(&mut c.dynamic, self.bool(t, "dynamic"));
        c.user = self.parsed(t, "user", vrrp::run_as);
        set(&mut c.dns_type, self.string(t, "dns_type").map(str::to_string));
        set(&mut c.dns_name, self.string(t, "dns_name").map(str::to_string));
        c.udp.payload = self.parsed(t, "payload", |s| hex(s, false)).map(|b| b.iter().map(|p| p.0).collect());
        set(&mut c.udp.require_reply, self.bool(t, "require_reply"));
        if let Some(reply) = self.parsed(t, "reply", |s| hex(s, true)) {
            c.udp.reply = reply;
            c.udp.require_reply = true;
        }
        set(&mut c.udp.min_reply_length, self.u32(t, "min_reply_length"));
        set(&mut c.udp.max_reply_length, self.u32(t, "max_reply_length"));
        set(&mut c.helo_name, self.string(t, "helo_name").map(str::to_string));
        self.file_check(t, &mut c.file);
        c
    }

    /// The check's URLs: its own keys, or `[[service.real.check.url]]`.
    fn urls(&mut self, t: Tab<'_>, c: &mut Check) {
        let Section::Check(i, j, k) = t.sec else {
            return;
        };
        let own = URL_KEYS.iter().find(|key| t.t.contains_key(key));
        if t.t.get("url").is_some() {
            if let Some(key) = own {
                let span = t.t.get(key).and_then(Item::span);
                self.bad(
                    t,
                    key,
                    span,
                    format!("`{key}` beside `url` tables: a check's URL is given one way or the other"),
                    Some("move it into each [[service.real.check.url]]".into()),
                );
            }
            c.urls = self.tables(t, "url", |u| Section::Url(i, j, k, u)).into_iter().map(|ut| self.url(ut)).collect();
        } else if own.is_some() || matches!(c.kind, CheckKind::Http | CheckKind::Ssl) {
            // (Keys of a URL on another kind are read, so validation can name them.)
            c.urls = vec![self.url_keys(t)];
        }
    }

    fn url(&mut self, t: Tab<'_>) -> HttpUrl {
        self.open(t, URL_KEYS);
        self.url_keys(t)
    }

    /// The URL keys of `t` (a check or a url table).
    fn url_keys(&mut self, t: Tab<'_>) -> HttpUrl {
        let mut u = HttpUrl::new("/");
        set(&mut u.path, self.string(t, "path").map(str::to_string));
        u.status = self.status_codes(t).unwrap_or_default();
        set(&mut u.digest, self.string(t, "digest").map(str::to_string));
        set(&mut u.virtualhost, self.string(t, "virtualhost").map(str::to_string));
        let options: Vec<String> = self
            .strings(t, "regex_options", "caseless")
            .map(|v| v.iter().map(|s| s.0.to_string()).collect())
            .unwrap_or_default();
        let no_match = self.bool(t, "regex_no_match");
        let min_offset = self.u32(t, "regex_min_offset");
        let max_offset = self.u32(t, "regex_max_offset");
        if let Some(pattern) = self.string(t, "regex") {
            u.regex = Some(BodyRegex {
                pattern: pattern.to_string(),
                no_match: no_match.unwrap_or(false),
                options,
                min_offset: min_offset.unwrap_or(0),
                max_offset,
            });
        }
        u
    }

    /// `status`: one code (`200`) or a string of codes and ranges (`"200-299 301"`).
    pub(super) fn status_codes(&mut self, t: Tab<'_>) -> Option<StatusCodes> {
        match self.item(t, "status")? {
            Item::Value(Value::Integer(_)) => self.u16(t, "status").map(|c| StatusCodes(vec![(c, c)])),
            Item::Value(Value::String(_)) => self.parsed(t, "status", |s| {
                StatusCodes::parse(s)
                    .map_err(|e| Problem::new(format!("bad `status` `{s}`: {e}"), "write `200` or `\"200-299 301\"`"))
            }),
            item => {
                self.wrong_type(t, "status", item, "a status code or a string of codes and ranges");
                None
            }
        }
    }

    fn file_check(&mut self, t: Tab<'_>, f: &mut FileCheck) {
        set(&mut f.path, self.string(t, "file").map(str::to_string));
        set(&mut f.weight, self.int(t, "weight", -i64::from(i32::MAX), i32::MAX.into()).map(|w| w as i32));
        set(&mut f.reverse, self.bool(t, "reverse"));
        let overwrite = self.bool(t, "init_overwrite");
        match self.int(t, "init_file", i64::MIN, i64::MAX) {
            Some(v) => f.init = Some((v, overwrite.unwrap_or(false))),
            None if overwrite.is_some() && !t.t.contains_key("init_file") => {
                let span = t.t.get("init_overwrite").and_then(Item::span);
                self.bad(
                    t,
                    "init_overwrite",
                    span,
                    "`init_overwrite` without `init_file`: nothing would be written".into(),
                    Some("add `init_file = 0` (the value written at start)".into()),
                );
            }
            None => {}
        }
    }
}

fn hex(s: &str, wildcards: bool) -> Result<Vec<(u8, u8)>, Problem> {
    parse_hex(s, wildcards)
        .map_err(|e| Problem::new(format!("bad hex `{s}`: {e}"), "write bytes as hex, e.g. \"0a 1b ff\""))
}
