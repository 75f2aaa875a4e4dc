//! ipvsadm-save reader: `-A` (service) and `-a` (real) lines, as `ipvsadm-save -n` or
//! `ipvsadm -S -n` print them, mapped onto the xvs model.
//!
//! Invariants:
//! - One line is one command; blank lines and `#` comments are skipped; `-C` (clear, at
//!   the top of restore files) is accepted and means nothing here, since the file replaces
//!   the whole configuration anyway. Any other command (`-E`, `-D`, `-e`, ...) is an error.
//! - Short and long option spellings are both read (`-t`/`--tcp-service`, ...). Defaults are
//!   ipvsadm's: scheduler wlc, `-p` without a value 300 s, `-M` all ones, forward `-g` (DR),
//!   weight 1, a real without a port takes the service's.
//! - A `-a` line must follow the `-A` line of its service (as ipvsadm-save prints them);
//!   otherwise it is an error at its service address.
//! - Like the other readers, this only produces the model, a [`SourceMap`] and the
//!   problems found while reading; the rules are in `validate.rs`. Every error is at the
//!   `line:col` of the offending word.
//! - What xvs cannot do is a warning, never silent: fwmark (`-f`) and SCTP services are
//!   skipped with their reals (one warning per service), `--pe` and tunnel options are
//!   ignored with a warning.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};

use crate::error::{ConfigError, ConfigWarning};
use crate::model::{Config, Forward, Protocol, Real, SchedulerFlags, Service, Vip};
use crate::span::{Pos, Section, SourceMap, HEADER};
use crate::syntax::{parse_dotted_mask, parse_endpoint, parse_vip};

/// What reading an ipvsadm-save file produced.
pub(crate) struct Read {
    pub config: Config,
    pub map: SourceMap,
    pub errors: Vec<ConfigError>,
    pub warnings: Vec<ConfigWarning>,
}

/// A word of a line and its 1-based character column.
#[derive(Clone, Copy)]
struct Word<'a> {
    text: &'a str,
    col: usize,
}

fn split(line: &str) -> Vec<Word<'_>> {
    let mut out = Vec::new();
    let mut start: Option<(usize, usize)> = None; // (byte, col)
    let mut col = 0;
    for (b, c) in line.char_indices() {
        col += 1;
        if c.is_whitespace() {
            if let Some((sb, sc)) = start.take() {
                out.push(Word { text: &line[sb..b], col: sc });
            }
        } else if start.is_none() {
            start = Some((b, col));
        }
    }
    if let Some((sb, sc)) = start {
        out.push(Word { text: &line[sb..], col: sc });
    }
    out
}

/// The service a line names: protocol and address, or a kind xvs skips.
enum Target {
    Addr(Protocol, Vip),
    /// `-f MARK` or `--sctp-service ADDR`: described for the warning.
    Skipped(String),
}

struct Reader<'f> {
    file: &'f str,
    line: usize,
    config: Config,
    map: SourceMap,
    errors: Vec<ConfigError>,
    warnings: Vec<ConfigWarning>,
    /// (protocol, VIP) -> service index.
    index: HashMap<(Protocol, Vip), usize>,
    /// Services skipped with a warning; their reals are skipped silently (the warning says so).
    skipped: Vec<String>,
    /// `-b flag-N` of a service, resolved once its scheduler is known: (service, flag, column).
    numbered_flags: Vec<(usize, u8, usize)>,
}

/// Reads `text` (the file `name`).
pub(crate) fn read(text: &str, name: &str) -> Read {
    let mut r = Reader {
        file: name,
        line: 0,
        config: Config::default(),
        map: SourceMap::new(name),
        errors: Vec::new(),
        warnings: Vec::new(),
        index: HashMap::new(),
        skipped: Vec::new(),
        numbered_flags: Vec::new(),
    };
    for (i, line) in text.lines().enumerate() {
        r.line = i + 1;
        let words = split(line);
        match words.first().map(|w| w.text) {
            None => {}
            Some(w) if w.starts_with('#') => {}
            Some("-A" | "--add-service") => r.service(&words),
            Some("-a" | "--add-server") => r.real(&words),
            Some("-C" | "--clear") if words.len() == 1 => {}
            Some(w) => {
                let w = w.to_string();
                r.error(words[0].col, format!("`{w}` is not an ipvsadm-save line"), "ipvsadm-save output has only `-A` (service) and `-a` (real) lines; produce it with `ipvsadm-save -n`");
            }
        }
    }
    r.resolve_numbered_flags();
    for s in &mut r.config.services {
        // The service's forward is what all its reals use, when they agree.
        if let Some(first) = s.reals.first().map(|r| r.forward) {
            if s.reals.iter().all(|r| r.forward == first) {
                s.forward = first;
            }
        }
    }
    Read { config: r.config, map: r.map, errors: r.errors, warnings: r.warnings }
}

impl Reader<'_> {
    fn pos(&self, col: usize) -> Pos {
        Pos { line: self.line, col }
    }

    fn error(&mut self, col: usize, message: String, hint: &str) {
        self.errors.push(ConfigError::new(self.file, self.line, col, message, Some(hint.to_string())));
    }

    fn warn(&mut self, col: usize, message: String) {
        self.warnings.push(ConfigWarning::new(self.file, self.line, col, message));
    }

    /// The value after option `words[*i]`, advancing `i`; an error when it is missing.
    fn value<'a>(&mut self, words: &[Word<'a>], i: &mut usize) -> Option<Word<'a>> {
        let opt = words[*i];
        match words.get(*i + 1) {
            Some(w) if !w.text.starts_with('-') || w.text.parse::<i64>().is_ok() => {
                *i += 1;
                Some(*w)
            }
            _ => {
                self.error(opt.col, format!("`{}` needs a value", opt.text), "see `ipvsadm --help`");
                None
            }
        }
    }

    fn number(&mut self, w: Word<'_>, what: &str, max: u32) -> Option<u32> {
        match w.text.parse::<u32>() {
            Ok(v) if v <= max => Some(v),
            _ => {
                self.error(
                    w.col,
                    format!("bad {what} `{}`: expected a number up to {max}", w.text),
                    "for example `-w 1`",
                );
                None
            }
        }
    }

    /// Reads the service option at `words[*i]` (`-t`, `-u`, `-f`, `--sctp-service`).
    fn target(&mut self, words: &[Word<'_>], i: &mut usize) -> Option<(Target, usize)> {
        let opt = words[*i].text;
        let w = self.value(words, i)?;
        let protocol = match opt {
            "-t" | "--tcp-service" => Protocol::Tcp,
            "-u" | "--udp-service" => Protocol::Udp,
            "-f" | "--fwmark-service" => return Some((Target::Skipped(format!("fwmark service {}", w.text)), w.col)),
            _ => return Some((Target::Skipped(format!("SCTP service {}", w.text)), w.col)),
        };
        match parse_vip(w.text) {
            Ok(vip) if !vip.is_prefix() => Some((Target::Addr(protocol, vip), w.col)),
            Ok(_) => {
                self.error(
                    w.col,
                    format!("bad service address `{}`: ipvsadm has no prefix services", w.text),
                    "write `10.0.1.100:80` or `[2001:db8::1]:80`",
                );
                None
            }
            Err(p) => {
                let hint = "ipvsadm-save without -n prints host and service names: save with `ipvsadm-save -n`, \
                            which prints `10.0.1.100:80` / `[2001:db8::1]:80`";
                self.error(w.col, p.message, hint);
                None
            }
        }
    }

    fn is_service_opt(w: &str) -> bool {
        matches!(w, "-t" | "--tcp-service" | "-u" | "--udp-service" | "-f" | "--fwmark-service" | "--sctp-service")
    }

    fn service(&mut self, words: &[Word<'_>]) {
        let cmd_col = words[0].col;
        let mut target = None;
        let mut svc_opts: Vec<(usize, &str, Option<Word<'_>>)> = Vec::new(); // (col, option, value)
        let mut i = 1;
        while i < words.len() {
            let w = words[i];
            match w.text {
                o if Self::is_service_opt(o) => target = self.target(words, &mut i).or(target),
                "-s" | "--scheduler" | "-M" | "--netmask" | "-b" | "--sched-flags" | "--pe" => {
                    let v = self.value(words, &mut i);
                    svc_opts.push((w.col, w.text, v));
                }
                "-p" | "--persistent" => {
                    // The timeout is optional.
                    let v = words.get(i + 1).filter(|v| v.text.parse::<u32>().is_ok()).copied();
                    if v.is_some() {
                        i += 1;
                    }
                    svc_opts.push((w.col, "-p", v));
                }
                "-o" | "--ops" | "-n" | "--numeric" => svc_opts.push((w.col, w.text, None)),
                other => {
                    let other = other.to_string();
                    self.error(
                        w.col,
                        format!("unknown service option `{other}`"),
                        "service lines take -t/-u/-f, -s, -p, -M, -b, -o, --pe",
                    );
                }
            }
            i += 1;
        }
        let Some((target, vip_col)) = target else {
            if !self.errors.iter().any(|e| e.line == self.line) {
                self.error(cmd_col, "`-A` without a service".into(), "write `-A -t 10.0.1.100:80 -s wlc`");
            }
            return;
        };
        let (protocol, vip) = match target {
            Target::Addr(p, v) => (p, v),
            Target::Skipped(what) => {
                self.warn(
                    vip_col,
                    format!(
                        "{what}: xvs cannot serve it ({}); the service and its reals are skipped",
                        if what.starts_with("fwmark") {
                            "XDP steers packets before netfilter could mark them"
                        } else {
                            "xvs balances TCP and UDP only"
                        }
                    ),
                );
                self.skipped.push(what);
                return;
            }
        };
        let idx = self.config.services.len();
        let sec = Section::Service(idx);
        let mut s = Service::new(vip, protocol);
        self.map.set(sec, HEADER, self.pos(cmd_col));
        self.map.set(sec, "vip", self.pos(vip_col));
        self.map.set(sec, "protocol", self.pos(vip_col));
        for (col, opt, v) in svc_opts {
            match (opt, v) {
                ("-s" | "--scheduler", Some(v)) => {
                    s.scheduler = v.text.to_string();
                    self.map.set(sec, "scheduler", self.pos(v.col));
                }
                ("-p", v) => {
                    s.persistence = match v {
                        Some(v) => self.number(v, "persistence timeout", u32::MAX).unwrap_or(300),
                        None => 300,
                    };
                    self.map.set(sec, "persistence", self.pos(v.map_or(col, |v| v.col)));
                }
                ("-M" | "--netmask", Some(v)) => {
                    let len = if v.text.contains('.') {
                        if vip.addr.is_ipv6() {
                            self.error(
                                v.col,
                                format!("dotted netmask `{}` on an IPv6 service", v.text),
                                "write a prefix length such as `-M 64`",
                            );
                            None
                        } else {
                            match parse_dotted_mask(v.text) {
                                Ok(l) => Some(l),
                                Err(p) => {
                                    self.error(v.col, p.message, p.hint.as_deref().unwrap_or_default());
                                    None
                                }
                            }
                        }
                    } else {
                        self.number(v, "netmask length", 128).map(|l| l as u8)
                    };
                    self.map.set(sec, "persistence_netmask", self.pos(v.col));
                    match len {
                        Some(l) => s.persistence_netmask = l,
                        None => self.map.mark_bad(sec, "persistence_netmask"),
                    }
                }
                ("-b" | "--sched-flags", Some(v)) => {
                    self.map.set(sec, "scheduler_flags", self.pos(v.col));
                    for f in v.text.split(',').filter(|f| !f.is_empty()) {
                        if let Some(n) = f.strip_prefix("flag-").and_then(|n| n.parse::<u8>().ok()) {
                            self.numbered_flags.push((idx, n, v.col));
                        } else if !s.scheduler_flags.set(f) {
                            self.error(
                                v.col,
                                format!("unknown scheduler flag `{f}`"),
                                &format!("flags: {}, flag-1, flag-2, flag-3", SchedulerFlags::NAMES.join(", ")),
                            );
                            self.map.mark_bad(sec, "scheduler_flags");
                        }
                    }
                }
                ("--pe", Some(v)) => {
                    self.warn(col, format!("persistence engine `{}` is not implemented in xvs; ignored", v.text))
                }
                ("-o" | "--ops", _) => {
                    s.ops = true;
                    self.map.set(sec, "ops", self.pos(col));
                }
                _ => {} // -n, or an option whose missing value was reported
            }
        }
        self.index.insert((protocol, vip), idx);
        self.config.services.push(s);
    }

    /// `-b flag-1,flag-2` as ipvsadm-save prints flags for a scheduler it has no names for.
    fn resolve_numbered_flags(&mut self) {
        for (idx, n, col) in std::mem::take(&mut self.numbered_flags) {
            let s = &mut self.config.services[idx];
            let name = match (s.scheduler.as_str(), n) {
                ("sh", 1) => Some("sh-fallback"),
                ("sh", 2) => Some("sh-port"),
                ("mh", 1) => Some("mh-fallback"),
                ("mh", 2) => Some("mh-port"),
                _ => None,
            };
            match name {
                Some(name) => {
                    s.scheduler_flags.set(name);
                }
                None => {
                    let line = self.map.locate(Section::Service(idx), "scheduler_flags").line;
                    let sched = s.scheduler.clone();
                    self.warnings.push(ConfigWarning::new(
                        self.file,
                        line,
                        col,
                        format!("scheduler flag `flag-{n}` means nothing to scheduler {sched} in xvs; ignored"),
                    ));
                }
            }
        }
    }

    fn real(&mut self, words: &[Word<'_>]) {
        let cmd_col = words[0].col;
        let mut target = None;
        let mut addr: Option<Word<'_>> = None;
        let mut forward: Option<(Forward, usize)> = None;
        let mut weight = None;
        let mut upper = None;
        let mut lower = None;
        let mut i = 1;
        while i < words.len() {
            let w = words[i];
            match w.text {
                o if Self::is_service_opt(o) => target = self.target(words, &mut i).or(target),
                "-r" | "--real-server" => addr = self.value(words, &mut i).or(addr),
                "-g" | "--gatewaying" => forward = Some((Forward::Dr, w.col)),
                "-m" | "--masquerading" => forward = Some((Forward::Nat, w.col)),
                "-i" | "--ipip" => forward = Some((Forward::Tun, w.col)),
                "-w" | "--weight" => {
                    weight = self.value(words, &mut i).and_then(|v| Some((self.number(v, "weight", u32::MAX)?, v.col)))
                }
                "-x" | "--u-threshold" => {
                    upper = self
                        .value(words, &mut i)
                        .and_then(|v| Some((self.number(v, "upper threshold", u32::MAX)?, v.col)))
                }
                "-y" | "--l-threshold" => {
                    lower = self
                        .value(words, &mut i)
                        .and_then(|v| Some((self.number(v, "lower threshold", u32::MAX)?, v.col)))
                }
                "--tun-type" | "--tun-port" => {
                    let v = self.value(words, &mut i);
                    let shown = v.map_or(String::new(), |v| format!(" {}", v.text));
                    self.warn(w.col, format!("`{}{shown}` is not supported: xvs tunnels with IPIP; ignored", w.text));
                }
                "--tun-nocsum" | "--tun-csum" | "--tun-remcsum" => {
                    self.warn(w.col, format!("`{}` is not supported: xvs tunnels with IPIP; ignored", w.text))
                }
                "-n" | "--numeric" => {}
                other => {
                    let other = other.to_string();
                    self.error(
                        w.col,
                        format!("unknown real server option `{other}`"),
                        "real lines take -t/-u/-f, -r, -g/-m/-i, -w, -x, -y",
                    );
                }
            }
            i += 1;
        }
        let Some((target, svc_col)) = target else {
            if !self.errors.iter().any(|e| e.line == self.line) {
                self.error(
                    cmd_col,
                    "`-a` without a service".into(),
                    "write `-a -t 10.0.1.100:80 -r 10.0.2.11:80 -g -w 1`",
                );
            }
            return;
        };
        let (protocol, vip) = match target {
            Target::Addr(p, v) => (p, v),
            Target::Skipped(what) => {
                if !self.skipped.contains(&what) {
                    self.error(
                        svc_col,
                        format!("no `-A` line before this one defines {what}"),
                        "put the `-A` line of the service before its `-a` lines",
                    );
                }
                return;
            }
        };
        let Some(&idx) = self.index.get(&(protocol, vip)) else {
            self.error(
                svc_col,
                format!("no `-A` line before this one defines service {protocol} {vip}"),
                "put the `-A` line of the service before its `-a` lines",
            );
            return;
        };
        let Some(a) = addr else {
            if !self.errors.iter().any(|e| e.line == self.line) {
                self.error(
                    cmd_col,
                    "`-a` without `-r REAL`".into(),
                    "write `-a -t 10.0.1.100:80 -r 10.0.2.11:80 -g -w 1`",
                );
            }
            return;
        };
        let addr: SocketAddr = match parse_endpoint(a.text, Some(vip.port), "real server address") {
            Ok(sa) => sa,
            Err(p) => {
                let hint = if a.text.parse::<IpAddr>().is_err()
                    && !a.text.starts_with('[')
                    && a.text.contains(':')
                    && a.text.matches(':').count() == 1
                {
                    "ipvsadm-save without -n prints host and service names: save with `ipvsadm-save -n`"
                } else {
                    p.hint.as_deref().unwrap_or_default()
                };
                let hint = hint.to_string();
                self.error(a.col, p.message, &hint);
                return;
            }
        };
        let s = &self.config.services[idx];
        let j = s.reals.len();
        let sec = Section::Real(idx, j);
        // ipvsadm's default forwarding method is -g (DR).
        let mut r = Real::new(addr, forward.map_or(Forward::Dr, |f| f.0));
        self.map.set(sec, HEADER, self.pos(cmd_col));
        self.map.set(sec, "addr", self.pos(a.col));
        if let Some((_, col)) = forward {
            self.map.set(sec, "forward", self.pos(col));
        }
        if let Some((w, col)) = weight {
            r.weight = w;
            self.map.set(sec, "weight", self.pos(col));
        }
        if let Some((v, col)) = upper {
            r.upper_threshold = v;
            self.map.set(sec, "upper_threshold", self.pos(col));
        }
        if let Some((v, col)) = lower {
            r.lower_threshold = v;
            self.map.set(sec, "lower_threshold", self.pos(col));
        }
        self.config.services[idx].reals.push(r);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns() {
        let w = split("  -A  -t 10.0.1.100:80");
        let got: Vec<(&str, usize)> = w.iter().map(|w| (w.text, w.col)).collect();
        assert_eq!(got, [("-A", 3), ("-t", 7), ("10.0.1.100:80", 10)]);
    }
}
