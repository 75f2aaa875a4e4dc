//! Where each model value came from, so validation can point into the file.
//!
//! Invariants:
//! - A reader records, for every section it read, the position of its header
//!   (key [`HEADER`]) and the position of each value it read (key = the config key).
//! - A value that failed to parse is marked bad; validation suppresses every rule that
//!   involves a bad value, so one mistake is reported once, by the reader.
//! - Lookups never fail: a missing key falls back to its section's header, then to the
//!   enclosing section, then to "no position" (line 0).
//! - Positions are 1-based (line, character column).
//! - A position recorded with [`SourceMap::set_in`] belongs to that file (keepalived
//!   `include`s); every other position belongs to [`SourceMap::file`]. A fallback
//!   lookup returns the file of the position it falls back to.

use std::collections::{HashMap, HashSet};

/// The pseudo key under which a section's header position is stored.
pub const HEADER: &str = "";

/// One section of the model, by index.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Section {
    Root,
    Director,
    Timeouts,
    /// `services[i]`
    Service(usize),
    /// `services[i].reals[j]`
    Real(usize, usize),
    /// `services[i].reals[j].checks[k]`
    Check(usize, usize, usize),
    /// `services[i].reals[j].checks[k].urls[u]`
    Url(usize, usize, usize, usize),
    /// `neighbors[i]`
    Neighbor(usize),
    /// `fwmarks[i]`
    Fwmark(usize),
    /// `vrrp`'s global settings
    VrrpGlobal,
    /// `vrrp.instances[i]`
    VrrpInstance(usize),
    /// Entry `j` of the list `key` (`virtual_ipaddress`, `track_script`, ...) of
    /// `vrrp.instances[i]`
    VrrpEntry(usize, &'static str, usize),
    /// `vrrp.scripts[i]`
    VrrpScript(usize),
    /// `vrrp.sync_groups[i]`
    SyncGroup(usize),
    /// Member `j` of `vrrp.sync_groups[i]`
    SyncMember(usize, usize),
    /// `sync` (connection sync: the daemon and IPVS's sync sysctls)
    Sync,
}

impl Section {
    /// The enclosing section.
    pub fn parent(self) -> Option<Section> {
        match self {
            Section::Root => None,
            Section::Director
            | Section::Timeouts
            | Section::Service(_)
            | Section::Neighbor(_)
            | Section::Fwmark(_)
            | Section::VrrpGlobal
            | Section::VrrpInstance(_)
            | Section::VrrpScript(_)
            | Section::SyncGroup(_)
            | Section::Sync => Some(Section::Root),
            Section::Real(s, _) => Some(Section::Service(s)),
            Section::Check(s, r, _) => Some(Section::Real(s, r)),
            Section::Url(s, r, c, _) => Some(Section::Check(s, r, c)),
            Section::VrrpEntry(i, _, _) => Some(Section::VrrpInstance(i)),
            Section::SyncMember(g, _) => Some(Section::SyncGroup(g)),
        }
    }

    /// How the section is written in xvs TOML, for messages.
    pub fn describe(self) -> &'static str {
        match self {
            Section::Root => "the top level",
            Section::Director => "[director]",
            Section::Timeouts => "[timeouts]",
            Section::Service(_) => "[[service]]",
            Section::Real(..) => "[[service.real]]",
            Section::Check(..) => "[service.real.check]",
            Section::Url(..) => "[[service.real.check.url]]",
            Section::Neighbor(_) => "[[neighbor]]",
            Section::Fwmark(_) => "[[fwmark]]",
            Section::VrrpGlobal => "[vrrp_global]",
            Section::VrrpInstance(_) | Section::VrrpEntry(..) => "[[vrrp]]",
            Section::VrrpScript(_) => "[[vrrp_script]]",
            Section::SyncGroup(_) | Section::SyncMember(..) => "[[vrrp_sync_group]]",
            Section::Sync => "[sync]",
        }
    }
}

/// A 1-based (line, column) position; line 0 = unknown.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Pos {
    pub line: usize,
    pub col: usize,
}

/// Positions of the values of one file, keyed by (section, key).
#[derive(Debug, Clone, Default)]
pub struct SourceMap {
    pub file: String,
    pos: HashMap<(Section, &'static str), Pos>,
    bad: HashSet<(Section, &'static str)>,
    /// The file of a position that is not in `file`.
    other_file: HashMap<(Section, &'static str), String>,
}

impl SourceMap {
    /// An empty map for `file` (every lookup yields "no position").
    pub fn new(file: impl Into<String>) -> Self {
        SourceMap { file: file.into(), ..Default::default() }
    }

    /// Records where `key` of `section` (or its header, for [`HEADER`]) is.
    pub fn set(&mut self, section: Section, key: &'static str, pos: Pos) {
        self.pos.insert((section, key), pos);
    }

    /// Records where `key` of `section` is, in `file` (which may differ from the main file).
    pub fn set_in(&mut self, section: Section, key: &'static str, file: &str, pos: Pos) {
        self.pos.insert((section, key), pos);
        if file == self.file {
            self.other_file.remove(&(section, key));
        } else {
            self.other_file.insert((section, key), file.to_string());
        }
    }

    /// Marks the value of `key` in `section` as one that failed to read.
    pub fn mark_bad(&mut self, section: Section, key: &'static str) {
        self.bad.insert((section, key));
    }

    /// Whether the value failed to read.
    pub fn is_bad(&self, section: Section, key: &'static str) -> bool {
        self.bad.contains(&(section, key))
    }

    /// The position of `key`, falling back to the section header, then the parents.
    pub fn locate(&self, section: Section, key: &'static str) -> Pos {
        self.locate_in(section, key).1
    }

    /// Like [`SourceMap::locate`], with the file the position is in.
    pub fn locate_in(&self, section: Section, key: &'static str) -> (&str, Pos) {
        let found = |k: (Section, &'static str)| {
            self.pos.get(&k).map(|p| (self.other_file.get(&k).map_or(self.file.as_str(), String::as_str), *p))
        };
        if let Some(f) = found((section, key)) {
            return f;
        }
        let mut s = Some(section);
        while let Some(sec) = s {
            if let Some(f) = found((sec, HEADER)) {
                return f;
            }
            s = sec.parent();
        }
        (self.file.as_str(), Pos::default())
    }

    /// The exact recorded position of `key`, without fallback.
    pub fn get(&self, section: Section, key: &'static str) -> Option<Pos> {
        self.pos.get(&(section, key)).copied()
    }
}

/// Maps byte offsets of a text to 1-based (line, character column).
#[derive(Debug, Clone)]
pub struct LineIndex<'a> {
    text: &'a str,
    starts: Vec<usize>,
}

impl<'a> LineIndex<'a> {
    /// Indexes the line starts of `text`.
    pub fn new(text: &'a str) -> Self {
        let mut starts = vec![0];
        starts.extend(text.match_indices('\n').map(|(i, _)| i + 1));
        LineIndex { text, starts }
    }

    /// The position of byte `offset` (clamped to the text).
    pub fn pos(&self, offset: usize) -> Pos {
        let mut offset = offset.min(self.text.len());
        while !self.text.is_char_boundary(offset) {
            offset -= 1;
        }
        let line = self.starts.partition_point(|&s| s <= offset);
        let start = self.starts[line - 1];
        let col = self.text[start..offset].chars().count() + 1;
        Pos { line, col }
    }
}
