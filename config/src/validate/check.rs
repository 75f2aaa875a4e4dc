//! Rules of health checks: each value in range, each key on a kind it applies to (a key
//! that would be read and then do nothing is an error, not a silent no-op), every URL's
//! regex compiles with the options xvs applies.

use std::net::IpAddr;

use super::{family, Validator};
use crate::model::{
    Check, CheckKind, Connect, Real, StatusCodes, UdpCheck, DEFAULT_HELO_NAME, DNS_TYPES, REGEX_OPTIONS,
};
use crate::span::Section;

/// keepalived `regex_options` that change what matches and that xvs's matcher cannot
/// honour, with why.
const REGEX_REFUSED: &[(&str, &str)] = &[
    ("allow_empty_class", "`[]` as an empty class"),
    ("alt_bsux", "JavaScript escapes"),
    ("dollar_endonly", "`$` only at the very end"),
    ("firstline", "a match that must start on the first line"),
    ("match_unset_backref", "backreferences"),
    ("never_ucp", "ASCII-only classes"),
    ("never_utf", "refusing UTF-8"),
    ("alt_circumflex", "`^` after a final newline"),
    ("alt_verbnames", "escapes in verb names"),
];

impl Validator<'_> {
    /// A real's health check `ch` (its section `cs`).
    pub(super) fn check(&mut self, cs: Section, r: &Real, ch: &Check) {
        if ch.port == Some(0) {
            self.bad((cs, "port"), "check `port` 0 is not a port", "remove `port` to check the real's own port");
        }
        if ch.port.is_some() && !ch.kind.has_port() {
            self.bad((cs, "port"), format!("`port` does not apply to a {} check", ch.kind), "remove `port`");
        }
        if ch.connect_timeout == 0 {
            self.bad((cs, "connect_timeout"), "`connect_timeout` must be at least 1 second", "the default is 3");
        }
        if ch.delay_loop == Some(0) {
            self.bad((cs, "delay_loop"), "`delay_loop` must be at least 1 second", "remove it to use the service's");
        }
        self.foreign_keys(cs, ch);
        self.connect(cs, r, ch);
        match ch.kind {
            CheckKind::Dns => self.dns_check(cs, ch),
            CheckKind::Misc if ch.command.trim().is_empty() => self.report(
                (cs, "command"),
                &[(cs, "kind")],
                "a misc check needs a `command`".into(),
                "add `command = \"/path/to/script\"` (exit 0 = up)".into(),
            ),
            CheckKind::Http | CheckKind::Ssl => self.http_check(cs, ch),
            CheckKind::Udp if ch.udp.min_reply_length > ch.udp.max_reply_length => self.bad(
                (cs, "min_reply_length"),
                format!(
                    "min_reply_length {} is above max_reply_length {}: every answer would fail",
                    ch.udp.min_reply_length, ch.udp.max_reply_length
                ),
                "lower min_reply_length or raise max_reply_length (default 255)",
            ),
            CheckKind::Smtp if ch.helo_name.trim().is_empty() => {
                self.bad((cs, "helo_name"), "an empty `helo_name`", "remove it to send keepalived's default")
            }
            CheckKind::File if ch.file.path.is_empty() => self.report(
                (cs, "file"),
                &[(cs, "kind")],
                "a file check needs the `file` it reads".into(),
                "add `file = \"/run/xvs/weight\"`".into(),
            ),
            _ => {}
        }
    }

    /// Settings of other kinds of check: each would be read and have no effect.
    fn foreign_keys(&mut self, cs: Section, ch: &Check) {
        let k = ch.kind;
        let http = matches!(k, CheckKind::Http | CheckKind::Ssl);
        let defaults = Check::new(k);
        let (udp, file) = (&ch.udp, &ch.file);
        let foreign: [(&'static str, bool, &str); 19] = [
            ("path", !http && !ch.urls.is_empty(), "http and ssl"),
            ("http_protocol", !http && ch.http_protocol != defaults.http_protocol, "http and ssl"),
            ("fast_recovery", !http && ch.fast_recovery, "http and ssl"),
            ("sni", k != CheckKind::Ssl && !ch.sni.is_empty(), "ssl"),
            ("command", k != CheckKind::Misc && !ch.command.is_empty(), "misc"),
            ("dynamic", k != CheckKind::Misc && ch.dynamic, "misc"),
            ("user", k != CheckKind::Misc && ch.user.is_some(), "misc"),
            ("dns_type", k != CheckKind::Dns && ch.dns_type != "SOA", "dns"),
            ("dns_name", k != CheckKind::Dns && ch.dns_name != ".", "dns"),
            ("payload", k != CheckKind::Udp && udp.payload.is_some(), "udp"),
            ("require_reply", k != CheckKind::Udp && udp.require_reply, "udp"),
            ("min_reply_length", k != CheckKind::Udp && udp.min_reply_length != 0, "udp"),
            (
                "max_reply_length",
                k != CheckKind::Udp && udp.max_reply_length != UdpCheck::default().max_reply_length,
                "udp",
            ),
            ("helo_name", k != CheckKind::Smtp && ch.helo_name != DEFAULT_HELO_NAME, "smtp"),
            ("file", k != CheckKind::File && !file.path.is_empty(), "file"),
            ("weight", k != CheckKind::File && file.weight != 0, "file"),
            ("reverse", k != CheckKind::File && file.reverse, "file"),
            ("init_file", k != CheckKind::File && file.init.is_some(), "file"),
            ("alpha", k == CheckKind::File && ch.alpha.is_some(), "all but file"),
        ];
        for (key, set, kinds) in foreign {
            if set {
                let what = if key == "path" { "URL settings (path, status, digest, virtualhost, regex)" } else { "" };
                let what = if what.is_empty() { format!("`{key}`") } else { what.to_string() };
                self.bad(
                    (cs, key),
                    format!("{what} applies to {kinds} checks only, not to a {k} check"),
                    format!("remove it, or use the kind it belongs to ({kinds})"),
                );
            }
        }
        if !k.connects() && !ch.connect.is_default() {
            let c = &ch.connect;
            let key = [
                ("connect_ip", c.ip.is_some()),
                ("bindto", c.bind.is_some()),
                ("bind_port", c.bind_port.is_some()),
                ("bind_if", !c.bind_if.is_empty()),
            ]
            .iter()
            .find(|(_, set)| *set)
            .map_or("fwmark", |(key, _)| *key);
            self.bad(
                (cs, key),
                format!(
                    "a {k} check makes no connection: connect_ip, bindto, bind_port, bind_if and fwmark do not apply"
                ),
                "remove them",
            );
        }
    }

    /// connect_ip / bindto: one family, the probed one.
    fn connect(&mut self, cs: Section, r: &Real, ch: &Check) {
        let Connect { ip, bind, .. } = &ch.connect;
        let target: IpAddr = ip.unwrap_or(r.addr.ip());
        if let Some(b) = bind {
            if b.is_ipv4() != target.is_ipv4() {
                self.bad(
                    (cs, "bindto"),
                    format!("`bindto` {b} is {}, but the check probes {target} ({})", family(*b), family(target)),
                    "bind to an address of the probed address's family",
                );
            }
        }
    }

    fn dns_check(&mut self, cs: Section, ch: &Check) {
        if !DNS_TYPES.contains(&ch.dns_type.as_str()) {
            self.bad(
                (cs, "dns_type"),
                format!("unknown DNS query type `{}`", ch.dns_type),
                format!("use one of: {}", DNS_TYPES.join(", ")),
            );
        }
        if ch.dns_name.is_empty() {
            self.bad(
                (cs, "dns_name"),
                "a dns check needs a `dns_name` to query",
                "for example `dns_name = \"www.example.com\"` (the default is `.`)",
            );
        }
    }

    fn http_check(&mut self, cs: Section, ch: &Check) {
        if ch.urls.is_empty() {
            self.bad((cs, "url"), "an http check needs a URL", "add `path = \"/health\"`");
        }
        for (n, u) in ch.urls.iter().enumerate() {
            // One URL may be written in the check itself.
            let us = match cs {
                Section::Check(i, j, k) if self.map.get(Section::Url(i, j, k, n), "").is_some() => {
                    Section::Url(i, j, k, n)
                }
                _ => cs,
            };
            if let Some(&(a, b)) =
                u.status.0.iter().find(|&&(a, b)| !(100..=599).contains(&a) || !(a..=599).contains(&b))
            {
                self.bad(
                    (us, "status"),
                    format!("HTTP status {} is not a status code or range", StatusCodes(vec![(a, b)])),
                    "use codes in 100..=599, e.g. 200 or \"200-299\" (unset: any 2xx)",
                );
            }
            if !u.path.starts_with('/') {
                self.bad(
                    (us, "path"),
                    format!("HTTP check path `{}` must start with `/`", u.path),
                    "for example `path = \"/health\"`",
                );
            }
            if !u.digest.is_empty() && (u.digest.len() != 32 || !u.digest.chars().all(|c| c.is_ascii_hexdigit())) {
                self.bad(
                    (us, "digest"),
                    format!("digest `{}` is not an MD5 (32 hex digits)", u.digest),
                    "compute it with `curl -s URL | md5sum` (keepalived's genhash)",
                );
            }
            if let Some(re) = &u.regex {
                for o in &re.options {
                    if let Some((_, why)) = REGEX_REFUSED.iter().find(|(n, _)| n == o) {
                        self.bad(
                            (us, "regex_options"),
                            format!("regex option `{o}` ({why}) is not supported by xvs's matcher"),
                            "remove it; xvs matches with Rust's regex (PCRE syntax without backreferences and lookaround)",
                        );
                    } else if !REGEX_OPTIONS.iter().any(|(n, _)| n == o) {
                        self.bad(
                            (us, "regex_options"),
                            format!("unknown regex option `{o}`"),
                            format!("use any of: {}", REGEX_OPTIONS.iter().map(|p| p.0).collect::<Vec<_>>().join(" ")),
                        );
                    }
                }
                if let Err(e) = regex::bytes::Regex::new(&re.effective_pattern()) {
                    let first = e.to_string().lines().last().unwrap_or_default().to_string();
                    self.bad(
                        (us, "regex"),
                        format!("regex `{}` does not compile: {first}", re.pattern),
                        "xvs matches with Rust's regex: PCRE syntax without backreferences and lookaround",
                    );
                }
                if re.max_offset.is_some_and(|m| m < re.min_offset) {
                    self.bad(
                        (us, "regex_max_offset"),
                        "regex_max_offset is below regex_min_offset: nothing could match",
                        "raise regex_max_offset",
                    );
                }
            }
        }
    }
}
