//! ipvsadm's command language: the one grammar of it in xvs, read by the ipvsadm-save
//! reader (`xvs run -c FILE`, `ipvsadm_save.rs`) and by `xvs ctl` (its arguments and its
//! `-R` input).
//!
//! The grammar is ipvsadm 1.31's (popt): short options may be clustered (`-Ln`), a short
//! option's value may be attached (`-w3`) or the next argument (`-w 3`), long options take
//! `--name value` or `--name=value`, and `-p` takes an *optional* value (the next argument
//! when it does not start with `-`). Which options each command allows, needs, or takes
//! only one of is ipvsadm's table (`commands_v_options`), with its messages ("You need to
//! supply the 'service-address' option for the 'add-server' command"). xvs adds `--json`,
//! `--health` and `--vrrp` (alone, it is `-L --vrrp`) to `-L`, a prefix VIP (`-t 203.0.113.0/24:80`) and an IPv4 netmask
//! given as a prefix length (`-M 24`).
//!
//! Defaults are ipvsadm's: scheduler wlc; `-p` without a value 300 s; the persistence
//! netmask all ones (/32, /128); forward `-g` (DR); weight 1; thresholds 0; a service
//! without a port has port 0; a real without a port takes the service's, and a DR or TUN
//! real of `-a`/`-e` always takes the service's port (ipvsadm replaces the one given).
//!
//! Layers, one module each:
//! - `lex`: the one table of ipvsadm's options (letter, long name, arity) and popt's
//!   tokenizer;
//! - `table`: ipvsadm's commands and options, and `commands_v_options`;
//! - `values`: ipvsadm's numbers and service addresses;
//! - `entry`: one command line read into an [`Entry`] (ipvsadm's `ipvs_command_entry`):
//!   every value parsed with ipvsadm's ranges, every default resolved, the position of
//!   every option kept, and what xvs does not do kept as a [`Note`] or an unserved
//!   [`Target`] (`notes`, which also words what each reader says about them);
//! - `command`: the typed [`Command`] of `xvs ctl`, made by [`Entry::into_command`], which
//!   refuses what xvs does not do and makes ipvsadm's (and the kernel's) checks as usage
//!   errors, and the conversions of [`ServiceOpts`] / [`RealOpts`] to the model;
//! - `usage`: the `-h` text.
//!
//! The ipvsadm-save reader takes the [`Entry`] itself: it warns about the notes and
//! unserved targets and skips them, and leaves the checks to `validate.rs`, which makes
//! the same ones at `file:line:col`.
//!
//! Invariants: pure (no I/O); the same words give the same [`Entry`] in both readers;
//! every error names the argument it is about (0-based index inside, 1-based when shown)
//! when there is one, and carries a hint for the file reader.

mod command;
mod entry;
mod lex;
mod notes;
mod table;
mod usage;
mod values;

#[cfg(test)]
mod tests;

use std::fmt;

pub use command::{Command, DaemonOpts, DaemonRole, ListOpts, RealOpts, ServiceOpts, SvcId};
pub use entry::Entry;
pub use notes::{Note, NoteKind, Target};
pub use table::{Cmd, Opt};
pub use usage::USAGE;
pub use values::parse_service;

/// ipvsadm's default persistence timeout (IPVS_SVC_PERSISTENT_TIMEOUT), seconds.
pub const DEFAULT_PERSISTENCE: u32 = 300;
/// ipvsadm's largest timeout (31 days), seconds.
pub const MAX_TIMEOUT: u32 = 86400 * 31;

/// Parses ipvsadm arguments (without the program name) into the command `xvs ctl` runs.
pub fn parse(args: &[String]) -> Result<Command, ArgError> {
    Entry::parse(args)?.into_command()
}

/// A usage error: ipvsadm's message and, when it is about one argument, which.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArgError {
    pub message: String,
    /// 1-based index into the arguments, and the argument.
    pub at: Option<(usize, String)>,
    /// How to write it instead (shown by the file reader; `xvs ctl` prints ipvsadm's
    /// message alone).
    pub hint: Option<String>,
}

impl ArgError {
    /// The 0-based index of the argument the error is about.
    pub fn index(&self) -> Option<usize> {
        self.at.as_ref().map(|(i, _)| i - 1)
    }

    pub(crate) fn hint(mut self, hint: impl Into<String>) -> ArgError {
        self.hint = Some(hint.into());
        self
    }
}

impl fmt::Display for ArgError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.at {
            Some((i, a)) => write!(f, "{} (argument {i}: `{a}`)", self.message),
            None => f.write_str(&self.message),
        }
    }
}

impl std::error::Error for ArgError {}

pub(crate) fn err(message: impl Into<String>) -> ArgError {
    ArgError { message: message.into(), at: None, hint: None }
}

/// An error about argument `i` (0-based), which is `arg`.
pub(crate) fn err_at(message: impl Into<String>, i: usize, arg: &str) -> ArgError {
    ArgError { message: message.into(), at: Some((i + 1, arg.to_string())), hint: None }
}

/// A word of a line and its 1-based character column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Word<'a> {
    pub text: &'a str,
    pub col: usize,
}

/// Splits one line of ipvsadm-save output (or `-R` input) into words with their columns:
/// whitespace separated, `#` starts a comment, a blank line gives nothing, and a leading
/// `ipvsadm` (or `…/ipvsadm`) word is dropped.
pub fn split_words(line: &str) -> Vec<Word<'_>> {
    let line = line.split('#').next().unwrap_or("");
    let mut out = Vec::new();
    let mut start: Option<(usize, usize)> = None; // (byte, col)
    for (col, (b, c)) in line.char_indices().enumerate() {
        if c.is_whitespace() {
            if let Some((sb, sc)) = start.take() {
                out.push(Word { text: &line[sb..b], col: sc });
            }
        } else if start.is_none() {
            start = Some((b, col + 1));
        }
    }
    if let Some((sb, sc)) = start {
        out.push(Word { text: &line[sb..], col: sc });
    }
    if out.first().is_some_and(|w| w.text == "ipvsadm" || w.text.ends_with("/ipvsadm")) {
        out.remove(0);
    }
    out
}

/// [`split_words`] without the columns.
pub fn split_line(line: &str) -> Vec<String> {
    split_words(line).iter().map(|w| w.text.to_string()).collect()
}
