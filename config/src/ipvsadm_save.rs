//! ipvsadm-save reader: the `-A` (service) and `-a` (real) lines of `ipvsadm-save -n` or
//! `ipvsadm -S -n`, read with the one ipvsadm grammar ([`crate::ipvsadm`], which `xvs ctl`
//! uses too) and mapped onto the xvs model.
//!
//! Invariants:
//! - One line is one ipvsadm command, read by [`Entry::parse`] exactly as `xvs ctl` reads
//!   it: the same spellings, ranges and defaults (ipvsadm's: scheduler wlc, `-p` without a
//!   value 300 s, `-M` all ones, forward `-g` (DR), weight 1, a service without a port has
//!   port 0, a real without a port takes the service's, a DR/TUN real always the
//!   service's). `#` starts a comment; blank lines are skipped.
//! - Only `-A`, `-a` and `-C` may appear; `-C` clears what was read before it, as
//!   `ipvsadm -R` does (at the top of a restore file it clears nothing). Any other command
//!   (`-E`, `-D`, `-e`, ...) is an error.
//! - A `-a` line must follow the `-A` line of its service (as ipvsadm-save prints them);
//!   otherwise it is an error at its service address, unless that `-A` line was itself
//!   wrong or skipped: then its reals are passed over, so one mistake is reported once.
//! - Like the other readers, this only produces the model (through the grammar's
//!   [`crate::ipvsadm::ServiceOpts`] / [`crate::ipvsadm::RealOpts`], as `xvs ctl` does), a
//!   [`SourceMap`] and the problems found while reading; the rules about meaning are in
//!   `validate.rs`. Every error is at the `line:col` of the word it is about (a line
//!   error without one: at the line's first word).
//! - What xvs cannot do is never silent: SCTP services are skipped with their reals (one
//!   warning per service); `--pe` is an error (it would change where traffic goes); a
//!   `-b flag-N` that means nothing to the scheduler is ignored with a warning; the port
//!   of a DR/TUN real that differs from the service's is replaced (as ipvsadm does) with
//!   a warning.
//! - A service's `forward` is the one all its reals use, when they agree (else DR).

use std::collections::HashMap;

use crate::error::{ConfigError, ConfigWarning};
use crate::ipvsadm::{split_words, Cmd, Entry, NoteKind, Opt, SvcId, Target, Word};
use crate::model::Config;
use crate::span::{Pos, Section, SourceMap, HEADER};

/// What reading an ipvsadm-save file produced.
pub(crate) struct Read {
    pub config: Config,
    pub map: SourceMap,
    pub errors: Vec<ConfigError>,
    pub warnings: Vec<ConfigWarning>,
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
        passed_over: Vec::new(),
    };
    for (i, line) in text.lines().enumerate() {
        r.line = i + 1;
        let words = split_words(line);
        if !words.is_empty() {
            r.read_line(&words);
        }
    }
    settle_forward(&mut r.config);
    Read { config: r.config, map: r.map, errors: r.errors, warnings: r.warnings }
}

/// The service's forward is what all its reals use, when they agree.
fn settle_forward(config: &mut Config) {
    for s in &mut config.services {
        if let Some(first) = s.reals.first().map(|r| r.forward) {
            if s.reals.iter().all(|r| r.forward == first) {
                s.forward = first;
            }
        }
    }
}

struct Reader<'f> {
    file: &'f str,
    line: usize,
    config: Config,
    map: SourceMap,
    errors: Vec<ConfigError>,
    warnings: Vec<ConfigWarning>,
    /// Service -> its index in `config.services`.
    index: HashMap<SvcId, usize>,
    /// Services whose `-A` line was skipped (xvs cannot serve them) or wrong: their `-a`
    /// lines are passed over without a word.
    passed_over: Vec<Target>,
}

impl Reader<'_> {
    fn pos(&self, col: usize) -> Pos {
        Pos { line: self.line, col }
    }

    fn error(&mut self, col: usize, message: String, hint: Option<String>) {
        self.errors.push(ConfigError::new(self.file, self.line, col, message, hint));
    }

    fn warn(&mut self, col: usize, message: String) {
        self.warnings.push(ConfigWarning::new(self.file, self.line, col, message));
    }

    fn read_line(&mut self, words: &[Word<'_>]) {
        let args: Vec<String> = words.iter().map(|w| w.text.to_string()).collect();
        let entry = match Entry::parse(&args) {
            Ok(e) => e,
            Err(e) => {
                if let (Some(Cmd::Add), Some(target)) = Entry::scan(&args) {
                    self.passed_over.push(target);
                }
                let col = e.index().map_or(words[0].col, |i| words[i].col);
                self.error(col, e.message, e.hint);
                return;
            }
        };
        match entry.cmd {
            Cmd::Add => self.service(&entry, words),
            Cmd::AddDest => self.real(&entry, words),
            Cmd::Flush => self.clear(),
            _ => {
                let w = words[entry.cmd_at];
                self.error(
                    w.col,
                    format!("`{}` is not an ipvsadm-save line", w.text),
                    Some("ipvsadm-save output has only `-A` (service) and `-a` (real) lines; produce it with `ipvsadm-save -n`".into()),
                );
            }
        }
    }

    /// `-C`: nothing read so far stays.
    fn clear(&mut self) {
        self.config.services.clear();
        self.map = SourceMap::new(self.file);
        self.index.clear();
        self.passed_over.clear();
    }

    /// The grammar's notes: what would change the traffic (a persistence engine, a GUE or
    /// GRE tunnel, which a real set up for it could not take as IPIP) is an error; the
    /// rest (a flag the scheduler ignores, a DR real's port as ipvsadm replaces it) a
    /// warning.
    fn notes(&mut self, e: &Entry, words: &[Word<'_>]) {
        for n in &e.notes {
            let col = words[n.at].col;
            match &n.kind {
                NoteKind::PersistenceEngine(_) => {
                    let why = n.kind.refusal().unwrap_or_default();
                    self.error(col, why, Some("remove the option, or keep this service on IPVS".into()))
                }
                _ => self.warn(col, n.kind.warning()),
            }
        }
    }

    /// Records where each of `keys` (model key, option) is, for those given.
    fn positions(&mut self, sec: Section, e: &Entry, words: &[Word<'_>], keys: &[(&'static str, Opt)]) {
        self.map.set(sec, HEADER, self.pos(words[e.cmd_at].col));
        for &(key, opt) in keys {
            if let Some(i) = e.value_at(opt) {
                self.map.set(sec, key, self.pos(words[i].col));
            }
        }
    }

    fn service(&mut self, e: &Entry, words: &[Word<'_>]) {
        let target = e.target.expect("-A names a service (commands_v_options)");
        let Some(o) = e.service_opts() else {
            let col = words[e.value_at(Opt::Service).unwrap_or(e.cmd_at)].col;
            self.warn(col, target.warning().unwrap_or_default());
            self.passed_over.push(target);
            return;
        };
        self.notes(e, words);
        let idx = self.config.services.len();
        let keys = [
            ("vip", Opt::Service),
            ("fwmark", Opt::Service),
            ("protocol", Opt::Service),
            ("scheduler", Opt::Scheduler),
            ("persistence", Opt::Persistent),
            ("persistence_netmask", Opt::Netmask),
            ("scheduler_flags", Opt::SchedFlags),
            ("ops", Opt::Ops),
        ];
        self.positions(Section::Service(idx), e, words, &keys);
        self.index.insert(o.id, idx);
        self.config.services.push(o.to_service());
    }

    fn real(&mut self, e: &Entry, words: &[Word<'_>]) {
        let target = e.target.expect("-a names a service (commands_v_options)");
        let Some(idx) = target.service().and_then(|id| self.index.get(&id).copied()) else {
            if !self.passed_over.contains(&target) {
                let col = words[e.value_at(Opt::Service).unwrap_or(e.cmd_at)].col;
                self.error(
                    col,
                    format!("no `-A` line before this one defines {}", target.describe()),
                    Some("put the `-A` line of the service before its `-a` lines".into()),
                );
            }
            return;
        };
        self.notes(e, words);
        let o = e.real_opts().expect("-a names a real server (commands_v_options)");
        let j = self.config.services[idx].reals.len();
        let keys = [
            ("addr", Opt::Server),
            ("forward", Opt::Forward),
            ("tunnel", Opt::TunType),
            ("tun_port", Opt::TunPort),
            ("tun_flags", Opt::TunCsum),
            ("tun_flags", Opt::TunNoCsum),
            ("tun_flags", Opt::TunRemCsum),
            ("weight", Opt::Weight),
            ("upper_threshold", Opt::UThreshold),
            ("lower_threshold", Opt::LThreshold),
        ];
        self.positions(Section::Real(idx, j), e, words, &keys);
        self.config.services[idx].reals.push(o.to_real());
    }
}
