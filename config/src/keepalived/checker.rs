//! keepalived's checkers inside a `real_server`: TCP_CHECK, HTTP_GET, SSL_GET, MISC_CHECK,
//! UDP_CHECK, DNS_CHECK, SMTP_CHECK, PING_CHECK and FILE_CHECK (with the top-level
//! `track_file` blocks it names), read as keepalived 2.2.7 reads them (`check_*.c`).
//!
//! Invariants:
//! - A checker is read into a [`CheckDef`] without knowing where it will land; the
//!   positions of what it set are kept and recorded when [`Mapper::emit_check`] places it
//!   (a `virtual_server group` copies one real into several services).
//! - Inheritance is resolved at emit, as keepalived resolves it: timings from the checker,
//!   else the real_server, else the virtual_server; `virtualhost` from the url, else the
//!   checker, real_server, virtual_server; `alpha` from the checker, else the real_server
//!   (the virtual_server's is the service's); a FILE_CHECK's file and weight from its
//!   `track_file` block unless the checker gives a weight.
//! - A checker option that would change what the check decides and that xvs cannot honour
//!   is an error naming it; one that changes nothing (logging, matcher tuning) is one
//!   warning.

use std::collections::HashMap;

use super::lexer::{Loc, Stmt};
use super::{words, At, Mapper, RsDef, Timing, VsDef};
use crate::model::{parse_hex, BodyRegex, Check, CheckKind, HttpProtocol, HttpUrl, RunAs, StatusCodes};
use crate::span::{Section, HEADER};

/// Checker blocks xvs runs.
pub(super) const CHECKERS: &[&str] = &[
    "TCP_CHECK",
    "HTTP_GET",
    "SSL_GET",
    "MISC_CHECK",
    "UDP_CHECK",
    "DNS_CHECK",
    "SMTP_CHECK",
    "PING_CHECK",
    "FILE_CHECK",
];
/// Checker blocks xvs does not implement.
pub(super) const UNSUPPORTED_CHECKERS: &[&str] = &["BFD_CHECK"];

const CHECK_KEYS: &[&str] = &[
    "connect_ip",
    "connect_port",
    "bindto",
    "bind_port",
    "bind_if",
    "fwmark",
    "alpha",
    "connect_timeout",
    "retry",
    "nb_get_retry",
    "delay_before_retry",
    "delay_loop",
    "warmup",
    "url",
    "virtualhost",
    "http_protocol",
    "fast_recovery",
    "enable_sni",
    "sni_name",
    "misc_path",
    "misc_timeout",
    "misc_dynamic",
    "user",
    "type",
    "name",
    "payload",
    "require_reply",
    "min_reply_length",
    "max_reply_length",
    "helo_name",
    "track_file",
    "weight",
];
const CHECK_IGNORED: &[(&str, &str)] = &[
    ("log_all_failures", "xvs logs every change of a check's state"),
    ("tls_compliant", "SSL_GET takes the end of the answer with or without close_notify"),
];
const URL_KEYS: &[&str] = &[
    "path",
    "status_code",
    "digest",
    "virtualhost",
    "regex",
    "regex_no_match",
    "regex_options",
    "regex_min_offset",
    "regex_max_offset",
];
const URL_IGNORED: &[(&str, &str)] = &[
    ("regex_stack", "xvs's matcher needs no stack setting"),
    ("tls_compliant", "SSL_GET takes the end of the answer with or without close_notify"),
];

/// Which checker keywords fit which checkers (the rest fit all).
fn fits(key: &str, kind: CheckKind) -> bool {
    let http = matches!(kind, CheckKind::Http | CheckKind::Ssl);
    match key {
        "url" | "virtualhost" | "http_protocol" | "fast_recovery" => http,
        "enable_sni" | "sni_name" => kind == CheckKind::Ssl,
        "misc_path" | "misc_timeout" | "misc_dynamic" | "user" => kind == CheckKind::Misc,
        "type" | "name" => kind == CheckKind::Dns,
        "payload" | "require_reply" | "min_reply_length" | "max_reply_length" => kind == CheckKind::Udp,
        "helo_name" => kind == CheckKind::Smtp,
        "track_file" | "weight" => kind == CheckKind::File,
        "connect_port" => kind.has_port(),
        "connect_ip" | "bindto" | "bind_port" | "bind_if" | "fwmark" => kind.connects(),
        "alpha" => kind != CheckKind::File,
        "nb_get_retry" => true,
        // MISC_CHECK and FILE_CHECK take no connection or timing options but these.
        _ => !matches!(kind, CheckKind::File) || key == "log_all_failures",
    }
}

/// A checker as the file gave it, before it is placed.
pub(super) struct CheckDef {
    at: Loc,
    check: Check,
    timing: Timing,
    misc_timeout: At<u32>,
    alpha: Option<bool>,
    virtualhost: Option<String>,
    urls: Vec<UrlDef>,
    sni: At<String>,
    enable_sni: Option<Loc>,
    track_file: At<String>,
    /// A FILE_CHECK's own `weight W [reverse]`, which overrides its track_file's.
    file_weight: Option<(i32, bool)>,
    /// Where each model key of `check` was set.
    given: Vec<(&'static str, Loc)>,
    /// SMTP_CHECK's deprecated `host { ... }` blocks: one check each (see [`Mapper::checkers`]).
    hosts: Vec<CheckDef>,
}

impl CheckDef {
    /// A checker of `kind` at `at` that set nothing yet.
    fn empty(at: Loc, kind: CheckKind) -> CheckDef {
        CheckDef {
            at,
            check: Check::new(kind),
            timing: Timing::default(),
            misc_timeout: None,
            alpha: None,
            virtualhost: None,
            urls: Vec::new(),
            sni: None,
            enable_sni: None,
            track_file: None,
            file_weight: None,
            given: Vec::new(),
            hosts: Vec::new(),
        }
    }
}

struct UrlDef {
    at: Loc,
    url: HttpUrl,
    /// The url's own `virtualhost` (else inherited).
    vhost: bool,
    given: Vec<(&'static str, Loc)>,
}

/// A top-level `track_file NAME { file PATH; weight W [reverse]; init_file [V] [overwrite] }`.
pub(super) struct TrackFileDef {
    at: Loc,
    path: Option<String>,
    weight: i32,
    reverse: bool,
    init: Option<(i64, bool)>,
}

impl Mapper {
    /// A top-level `track_file` (or the deprecated `vrrp_track_file`) block.
    pub(super) fn track_file(&mut self, s: &Stmt, files: &mut HashMap<String, TrackFileDef>) {
        let Some(name) = self.arg(s, 1, "weight_file") else {
            return;
        };
        let name = name.text.clone();
        // keepalived: the file's weight defaults to 1.
        let mut tf = TrackFileDef { at: s.at(), path: None, weight: 1, reverse: false, init: None };
        for st in s.block.as_deref().unwrap_or_default() {
            self.no_block(st);
            match st.key() {
                "file" => tf.path = self.arg(st, 1, "/run/weight").map(|t| t.text.clone()),
                "weight" => {
                    if let Some(w) = self.file_weight(st) {
                        (tf.weight, tf.reverse) = w;
                    }
                }
                "init_file" => tf.init = self.init_file(st),
                _ => self.not_used(st, &format!("track_file {name}"), &["file", "weight", "init_file"], &[]),
            }
        }
        if tf.path.is_none() {
            self.error(s.at(), format!("track_file {name} has no `file`"), "add `file \"/run/weight\"`");
        }
        files.insert(name, tf);
    }

    /// `weight W [reverse|noreverse]` of a track_file or FILE_CHECK.
    fn file_weight(&mut self, s: &Stmt) -> Option<(i32, bool)> {
        let t = self.arg(s, 1, "1")?;
        let Some(w) = t.text.parse::<i32>().ok().filter(|w| *w != i32::MIN) else {
            let (at, text) = (t.at, t.text.clone());
            self.error(at, format!("bad track file weight `{text}`"), "a whole number, -2147483647..=2147483647");
            return None;
        };
        let reverse = match s.words.get(2).map(|t| t.text.as_str()) {
            None | Some("noreverse") => false,
            Some("reverse") => true,
            Some(other) => {
                let (at, other) = (s.words[2].at, other.to_string());
                self.error(at, format!("unknown track file weight option `{other}`"), "use `reverse` or nothing");
                return None;
            }
        };
        Some((w, reverse))
    }

    /// `init_file [VALUE] [overwrite]`.
    fn init_file(&mut self, s: &Stmt) -> Option<(i64, bool)> {
        let mut value = 0;
        let mut overwrite = false;
        for t in &s.words[1..] {
            match t.text.as_str() {
                "overwrite" => overwrite = true,
                v => match v.parse::<i64>() {
                    Ok(v) => value = v,
                    Err(_) => {
                        let (at, text) = (t.at, t.text.clone());
                        self.error(at, format!("bad init_file value `{text}`"), "write `init_file 0 [overwrite]`");
                        return None;
                    }
                },
            }
        }
        Some((value, overwrite))
    }

    /// The checks of one checker block: itself, and with SMTP_CHECK `host` blocks one per
    /// host, as keepalived 2.2.7 makes them (`check_smtp.c`): when the block sets no
    /// connection option (nor `connect_timeout`), the first host's options are its own.
    pub(super) fn checkers(&mut self, s: &Stmt) -> Vec<CheckDef> {
        let mut c = self.checker(s);
        let hosts = std::mem::take(&mut c.hosts);
        let own = c.check.port.is_some() || !c.check.connect.is_default() || c.timing.connect_timeout.is_some();
        let mut out = Vec::new();
        let mut rest = hosts.into_iter();
        if !own {
            if let Some(first) = rest.next() {
                c.check.connect = first.check.connect;
                c.check.port = first.check.port;
                c.given.extend(first.given);
            }
        }
        let base = c.check.clone();
        let (timing, at) = (c.timing, c.at);
        out.push(c);
        for h in rest {
            let mut check = base.clone();
            (check.connect, check.port) = (h.check.connect, h.check.port);
            let timing = Timing { connect_timeout: h.timing.connect_timeout.or(timing.connect_timeout), ..timing };
            out.push(CheckDef { at: h.at, check, timing, given: h.given, ..CheckDef::empty(at, CheckKind::Smtp) });
        }
        out
    }

    /// An SMTP_CHECK `host { connect_ip connect_port bindto bind_port bind_if fwmark
    /// connect_timeout }` block.
    fn smtp_host(&mut self, s: &Stmt) -> CheckDef {
        let mut h = CheckDef::empty(s.at(), CheckKind::Smtp);
        const HOST_KEYS: &[&str] =
            &["connect_ip", "connect_port", "bindto", "bind_port", "bind_if", "fwmark", "connect_timeout"];
        for st in s.block.as_deref().unwrap_or_default() {
            self.no_block(st);
            match st.key() {
                "connect_timeout" => h.timing.connect_timeout = self.timer(st, "5").or(h.timing.connect_timeout),
                k if HOST_KEYS.contains(&k) => self.checker_keyword(st, "SMTP_CHECK host", &mut h),
                _ => self.not_used(st, "SMTP_CHECK host", HOST_KEYS, &[]),
            }
        }
        h
    }

    pub(super) fn checker(&mut self, s: &Stmt) -> CheckDef {
        let kw = s.key();
        let kind = match kw {
            "TCP_CHECK" => CheckKind::Tcp,
            "HTTP_GET" => CheckKind::Http,
            "SSL_GET" => CheckKind::Ssl,
            "MISC_CHECK" => CheckKind::Misc,
            "UDP_CHECK" => CheckKind::Udp,
            "SMTP_CHECK" => CheckKind::Smtp,
            "PING_CHECK" => CheckKind::Ping,
            "FILE_CHECK" => CheckKind::File,
            _ => CheckKind::Dns,
        };
        let mut c = CheckDef::empty(s.at(), kind);
        for st in s.block.as_deref().unwrap_or_default() {
            let k = st.key();
            if k != "url" && !(k == "host" && kind == CheckKind::Smtp) {
                self.no_block(st);
            }
            if CHECK_KEYS.contains(&k) && !fits(k, kind) {
                self.warn(st.at(), format!("`{k}` does not apply to {kw}; ignored, as keepalived does"));
                continue;
            }
            if self.timing(st, &mut c.timing) {
                continue;
            }
            self.checker_keyword(st, kw, &mut c);
        }
        c
    }

    fn checker_keyword(&mut self, st: &Stmt, kw: &str, c: &mut CheckDef) {
        let k = st.key();
        let ch = &mut c.check;
        match k {
            "connect_port" => {
                if let Some((p, at)) = self.num(st, u16::MAX, "80") {
                    ch.port = Some(p);
                    c.given.push(("port", at));
                }
            }
            "connect_ip" | "bindto" => {
                let Some(t) = self.arg(st, 1, "10.0.2.11") else { return };
                match super::parse_addr(&t.text) {
                    Some(ip) => {
                        let slot = if k == "connect_ip" { &mut ch.connect.ip } else { &mut ch.connect.bind };
                        *slot = Some(ip);
                        c.given.push((if k == "connect_ip" { "connect_ip" } else { "bindto" }, t.at));
                    }
                    None => {
                        let (at, text) = (t.at, t.text.clone());
                        self.error(at, format!("bad `{k}` address `{text}`"), format!("write `{k} 10.0.2.11`"));
                    }
                }
            }
            "bind_port" => {
                if let Some((p, at)) = self.num(st, u16::MAX, "5000") {
                    ch.connect.bind_port = Some(p);
                    c.given.push(("bind_port", at));
                }
            }
            "bind_if" => {
                if let Some(t) = self.arg(st, 1, "eth0") {
                    ch.connect.bind_if = t.text.clone();
                    c.given.push(("bind_if", t.at));
                }
            }
            "fwmark" => {
                if let Some((m, at)) = self.num(st, u32::MAX, "1") {
                    ch.connect.fwmark = m;
                    c.given.push(("fwmark", at));
                }
            }
            "alpha" => c.alpha = self.boolean(st).or(c.alpha),
            "url" => {
                let u = self.url(st);
                c.urls.push(u);
            }
            "virtualhost" => c.virtualhost = self.arg(st, 1, "www.example.com").map(|t| t.text.clone()),
            "http_protocol" => {
                let Some(t) = self.arg(st, 1, "1.1") else { return };
                match HttpProtocol::from_name(&t.text) {
                    Some(p) => {
                        ch.http_protocol = p;
                        c.given.push(("http_protocol", t.at));
                    }
                    None => {
                        let (at, text) = (t.at, t.text.clone());
                        self.error(at, format!("unknown http_protocol `{text}`"), "use 1.0, 1.0C or 1.1");
                    }
                }
            }
            "fast_recovery" => ch.fast_recovery = self.boolean(st).unwrap_or(ch.fast_recovery),
            "misc_path" => {
                if let Some(t) = self.arg(st, 1, "/usr/local/bin/check") {
                    // keepalived runs the rest of the line too when the path is not quoted.
                    ch.command = words(&st.words[1..]);
                    c.given.push(("command", t.at));
                }
            }
            "misc_timeout" => c.misc_timeout = self.timer(st, "5").or(c.misc_timeout),
            "misc_dynamic" => ch.dynamic = self.boolean(st).unwrap_or(ch.dynamic),
            "enable_sni" => {
                if self.boolean(st).unwrap_or(true) {
                    c.enable_sni = Some(st.at());
                }
            }
            "sni_name" => c.sni = self.arg(st, 1, "www.example.com").map(|t| (t.text.clone(), t.at)),
            "user" => self.checker_user(st, c),
            "type" => {
                if let Some(t) = self.arg(st, 1, "A") {
                    ch.dns_type = t.text.to_ascii_uppercase();
                    c.given.push(("dns_type", t.at));
                }
            }
            "name" => {
                if let Some(t) = self.arg(st, 1, "www.example.com") {
                    ch.dns_name = t.text.clone();
                    c.given.push(("dns_name", t.at));
                }
            }
            "payload" | "require_reply" => self.udp_hex(st, c),
            "min_reply_length" | "max_reply_length" => {
                if let Some((n, at)) = self.num(st, 65535u32, "8") {
                    let slot = if k == "min_reply_length" {
                        &mut ch.udp.min_reply_length
                    } else {
                        &mut ch.udp.max_reply_length
                    };
                    *slot = n;
                    c.given.push((if k == "min_reply_length" { "min_reply_length" } else { "max_reply_length" }, at));
                }
            }
            "helo_name" => {
                if let Some(t) = self.arg(st, 1, "checker.example.com") {
                    ch.helo_name = words(&st.words[1..]);
                    c.given.push(("helo_name", t.at));
                }
            }
            "host" => {
                let h = self.smtp_host(st);
                c.hosts.push(h);
            }
            "track_file" => c.track_file = self.arg(st, 1, "weight_file").map(|t| (t.text.clone(), t.at)),
            "weight" => c.file_weight = self.file_weight(st).or(c.file_weight),
            _ => self.not_used(st, kw, CHECK_KEYS, CHECK_IGNORED),
        }
    }

    fn checker_user(&mut self, st: &Stmt, c: &mut CheckDef) {
        let texts = Self::texts(st, 1);
        match texts[..] {
            [u] | [u, _] => {
                c.check.user = Some(RunAs { user: u.into(), group: texts.get(1).map(|g| g.to_string()) });
                c.given.push(("user", st.at()));
            }
            _ => self.error(st.at(), "`user` needs USER [GROUP]", "write `user nobody`"),
        }
    }

    /// UDP_CHECK `payload HEX` and `require_reply [HEX]` (free-form hex, `x` nibbles in
    /// the reply match anything).
    fn udp_hex(&mut self, st: &Stmt, c: &mut CheckDef) {
        let k = st.key();
        if k == "require_reply" {
            c.check.udp.require_reply = true;
            c.given.push(("require_reply", st.at()));
            if st.words.len() < 2 {
                return;
            }
        }
        let Some(t) = self.arg(st, 1, "0a 1b") else { return };
        let at = t.at;
        match parse_hex(&words(&st.words[1..]), k == "require_reply") {
            Ok(bytes) if k == "payload" => {
                c.check.udp.payload = Some(bytes.iter().map(|b| b.0).collect());
                c.given.push(("payload", at));
            }
            Ok(bytes) => {
                c.check.udp.reply = bytes;
                c.given.push(("reply", at));
            }
            Err(e) => self.error(at, format!("bad hex in `{k}`: {e}"), "write bytes as hex, e.g. `0a 1b ff`"),
        }
    }

    fn url(&mut self, s: &Stmt) -> UrlDef {
        let mut u = UrlDef { at: s.at(), url: HttpUrl::new("/"), vhost: false, given: Vec::new() };
        let mut regex: Option<BodyRegex> = None;
        let mut re_opts = (false, Vec::new(), 0u32, None::<u32>);
        for st in s.block.as_deref().unwrap_or_default() {
            self.no_block(st);
            let k = st.key();
            match k {
                "path" => {
                    if let Some(t) = self.arg(st, 1, "/health") {
                        u.url.path = t.text.clone();
                        u.given.push(("path", t.at));
                    }
                }
                "digest" => {
                    if let Some(t) = self.arg(st, 1, "9b3a0c85a887a256d6939da88aabd8cd") {
                        u.url.digest = t.text.to_ascii_lowercase();
                        u.given.push(("digest", t.at));
                    }
                }
                "virtualhost" => {
                    if let Some(t) = self.arg(st, 1, "www.example.com") {
                        u.url.virtualhost = t.text.clone();
                        u.vhost = true;
                        u.given.push(("virtualhost", t.at));
                    }
                }
                "status_code" => {
                    let Some(t) = self.arg(st, 1, "200") else { continue };
                    let at = t.at;
                    let all = words(&st.words[1..]);
                    match StatusCodes::parse(&all) {
                        Ok(codes) => {
                            u.url.status = codes;
                            u.given.push(("status", at));
                        }
                        Err(e) => self.error(
                            at,
                            format!("bad status_code `{all}`: {e}"),
                            "write `status_code 200` or `status_code 200-299 301`",
                        ),
                    }
                }
                "regex" => {
                    if let Some(t) = self.arg(st, 1, "\"OK\"") {
                        regex = Some(BodyRegex {
                            pattern: t.text.clone(),
                            no_match: false,
                            options: Vec::new(),
                            min_offset: 0,
                            max_offset: None,
                        });
                        u.given.push(("regex", t.at));
                    }
                }
                "regex_no_match" => re_opts.0 = true,
                "regex_options" => {
                    re_opts.1 = Self::texts(st, 1).iter().map(|o| o.to_string()).collect();
                    u.given.push(("regex_options", st.at()));
                }
                "regex_min_offset" => re_opts.2 = self.num(st, u32::MAX, "0").map_or(re_opts.2, |v| v.0),
                "regex_max_offset" => re_opts.3 = self.num(st, u32::MAX, "1024").map(|v| v.0).or(re_opts.3),
                _ => self.not_used(st, "url", URL_KEYS, URL_IGNORED),
            }
        }
        match regex {
            Some(mut re) => {
                (re.no_match, re.options, re.min_offset, re.max_offset) = re_opts;
                u.url.regex = Some(re);
            }
            None if re_opts.0 || !re_opts.1.is_empty() || re_opts.2 != 0 || re_opts.3.is_some() => {
                self.warn(s.at(), "regex settings without a `regex`: nothing is matched, as keepalived does")
            }
            None => {}
        }
        u
    }

    /// Places checker `cd` of real `rd` (of `vs`) as check `k` of real `j` of service `i`,
    /// resolving what it inherits.
    pub(super) fn emit_check(
        &mut self,
        (vs, rd, cd): (&VsDef, &RsDef, &CheckDef),
        (i, j, k): (usize, usize, usize),
        delay_loop: u32,
        files: &HashMap<String, TrackFileDef>,
    ) -> Check {
        let cs = Section::Check(i, j, k);
        let mut c = cd.check.clone();
        self.set(cs, HEADER, cd.at);
        self.set(cs, "kind", cd.at);
        for (key, at) in &cd.given {
            self.set(cs, key, *at);
        }
        let pick = |f: fn(&Timing) -> At<u32>| f(&cd.timing).or(f(&rd.timing)).or(f(&vs.timing));
        let timeout = if cd.check.kind == CheckKind::Misc {
            // keepalived (`check_misc.c`): misc_timeout, else the virtual_server's delay_loop.
            cd.misc_timeout.or(Some((delay_loop, cd.at)))
        } else {
            pick(|t| t.connect_timeout)
        };
        c.connect_timeout = timeout.map_or(super::DEFAULT_CONNECT_TIMEOUT, |t| t.0);
        if let Some((_, at)) = timeout {
            self.set(cs, "connect_timeout", at);
        }
        c.retry = pick(|t| t.retry).map_or(c.kind.default_retry(), |t| t.0);
        // keepalived: 3 s for HTTP_GET/SSL_GET, the delay_loop for DNS_CHECK, else 1 s.
        let checker_loop = pick(|t| t.delay_loop).map_or(delay_loop, |d| d.0);
        c.delay_before_retry = pick(|t| t.delay_before_retry).map_or(
            match cd.check.kind {
                CheckKind::Http | CheckKind::Ssl => 3,
                CheckKind::Dns => checker_loop,
                _ => 1,
            },
            |t| t.0,
        );
        for (key, f) in [
            ("retry", (|t: &Timing| t.retry) as fn(&Timing) -> At<u32>),
            ("delay_before_retry", |t| t.delay_before_retry),
        ] {
            if let Some((_, at)) = pick(f) {
                self.set(cs, key, at);
            }
        }
        if let Some((w, at)) = pick(|t| t.warmup) {
            c.warmup = Some(w);
            self.set(cs, "warmup", at);
        }
        if let Some((d, at)) = cd.timing.delay_loop.or(rd.timing.delay_loop) {
            if d != delay_loop {
                c.delay_loop = Some(d);
                self.set(cs, "delay_loop", at);
            }
        }
        // keepalived clears alpha for a FILE_CHECK: its state is known at once.
        c.alpha = if c.kind == CheckKind::File { None } else { cd.alpha.or(rd.alpha) };
        self.emit_urls(&mut c, (vs, rd, cd), (i, j, k));
        self.emit_sni(&mut c, cd, cs);
        if c.kind == CheckKind::File {
            self.emit_file(&mut c, cd, cs, files);
        }
        c
    }

    fn emit_urls(
        &mut self,
        c: &mut Check,
        (vs, rd, cd): (&VsDef, &RsDef, &CheckDef),
        (i, j, k): (usize, usize, usize),
    ) {
        if !matches!(c.kind, CheckKind::Http | CheckKind::Ssl) {
            return;
        }
        let inherited =
            cd.virtualhost.clone().or(rd.virtualhost.clone()).or(vs.virtualhost.clone()).unwrap_or_default();
        if cd.urls.is_empty() {
            // keepalived needs a url; xvs fetches `/` (any 2xx) rather than check nothing.
            self.warn(cd.at, "an HTTP check without a `url`: xvs fetches `/` and takes any 2xx");
            c.urls = vec![HttpUrl { virtualhost: inherited, ..HttpUrl::new("/") }];
            return;
        }
        c.urls = Vec::new();
        for (n, ud) in cd.urls.iter().enumerate() {
            let us = Section::Url(i, j, k, n);
            self.set(us, HEADER, ud.at);
            for (key, at) in &ud.given {
                self.set(us, key, *at);
            }
            let mut u = ud.url.clone();
            if !ud.vhost {
                u.virtualhost = inherited.clone();
            }
            c.urls.push(u);
        }
    }

    /// keepalived 2.2.7's `enable_sni` sends the virtualhost as the server name; later
    /// keepalived's `sni_name` names it directly (and turns SNI on by itself).
    fn emit_sni(&mut self, c: &mut Check, cd: &CheckDef, cs: Section) {
        match (&cd.sni, cd.enable_sni) {
            (Some((name, at)), _) => {
                c.sni = name.clone();
                self.set(cs, "sni", *at);
            }
            (None, Some(at)) => {
                // The first URL's Host, as keepalived's SSL_GET sends per URL; none: no SNI.
                c.sni = c.urls.first().map(|u| u.virtualhost.clone()).unwrap_or_default();
                if !c.sni.is_empty() {
                    self.set(cs, "sni", at);
                }
            }
            (None, None) => {}
        }
    }

    fn emit_file(&mut self, c: &mut Check, cd: &CheckDef, cs: Section, files: &HashMap<String, TrackFileDef>) {
        // Each error is reported here, once: marked bad, validation does not add its own.
        let Some((name, at)) = &cd.track_file else {
            self.error(cd.at, "FILE_CHECK has no `track_file`", "add `track_file NAME` naming a top-level track_file");
            self.map.mark_bad(cs, "file");
            return;
        };
        let Some(tf) = files.get(name) else {
            let mut names: Vec<&str> = files.keys().map(String::as_str).collect();
            names.sort_unstable();
            let hint = match crate::syntax::closest(name, &names) {
                Some(n) => format!("did you mean `{n}`?"),
                None => format!("define it at the top level: `track_file {name} {{ file \"/run/weight\" }}`"),
            };
            self.error(*at, format!("track_file `{name}` is not defined"), hint);
            self.map.mark_bad(cs, "file");
            return;
        };
        c.file.path = tf.path.clone().unwrap_or_default();
        (c.file.weight, c.file.reverse) = cd.file_weight.unwrap_or((tf.weight, tf.reverse));
        c.file.init = tf.init;
        self.set(cs, "file", tf.at);
        self.set(cs, "weight", *at);
    }
}
