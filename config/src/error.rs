//! Errors and warnings reported to the operator.
//!
//! Invariants:
//! - `line` and `col` are 1-based (col counts characters, not bytes); `line == 0`
//!   means "no position" (e.g. the file could not be read, or a `Config` built in
//!   memory was validated) and is displayed without `:line:col`.
//! - Every error produced by this crate carries an actionable `hint` where one exists.
//! - `ConfigErrors` is never empty when returned as an `Err`, and is ordered by
//!   position in the file (by file in reading order first, when includes were read).
//! - A [`ConfigWarning`] is something the file asks for that xvs reads but does not do
//!   (a keepalived `vrrp_instance`, a fwmark service, an unknown keyword keepalived
//!   would ignore too): the rest of the configuration is valid and usable. Warnings
//!   have the same position rules as errors and are ordered the same way.

use std::fmt;

/// One problem in a configuration file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub file: String,
    pub line: usize,
    pub col: usize,
    pub message: String,
    pub hint: Option<String>,
}

impl ConfigError {
    /// An error at `line:col` of `file`.
    pub fn new(
        file: impl Into<String>,
        line: usize,
        col: usize,
        message: impl Into<String>,
        hint: Option<String>,
    ) -> Self {
        ConfigError { file: file.into(), line, col, message: message.into(), hint }
    }
}

impl fmt::Display for ConfigError {
    /// `file:line:col: error: message` and, if any, `\n  hint: ...`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            write!(f, "{}: error: {}", self.file, self.message)?;
        } else {
            write!(f, "{}:{}:{}: error: {}", self.file, self.line, self.col, self.message)?;
        }
        if let Some(hint) = &self.hint {
            write!(f, "\n  hint: {hint}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigError {}

/// Every problem found in one file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl ConfigErrors {
    /// Orders errors by position (stable, so same-position errors keep their order)
    /// and drops exact duplicates.
    pub fn sorted(mut errors: Vec<ConfigError>) -> ConfigErrors {
        errors.sort_by_key(|e| (e.line, e.col));
        errors.dedup();
        ConfigErrors(errors)
    }

    /// Orders errors by file (in the order of `files`, which lists every file read,
    /// the main one first), then by position, and drops exact duplicates.
    pub fn sorted_in(mut errors: Vec<ConfigError>, files: &[String]) -> ConfigErrors {
        errors.sort_by_key(|e| (file_rank(&e.file, files), e.line, e.col));
        errors.dedup();
        ConfigErrors(errors)
    }

    /// Number of errors.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// True when there are none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Iterates the errors in order.
    pub fn iter(&self) -> std::slice::Iter<'_, ConfigError> {
        self.0.iter()
    }
}

impl fmt::Display for ConfigErrors {
    /// One error per line (a hint adds an indented line below its error).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}

impl From<ConfigError> for ConfigErrors {
    fn from(e: ConfigError) -> Self {
        ConfigErrors(vec![e])
    }
}

impl<'a> IntoIterator for &'a ConfigErrors {
    type Item = &'a ConfigError;
    type IntoIter = std::slice::Iter<'a, ConfigError>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

fn file_rank(file: &str, files: &[String]) -> usize {
    files.iter().position(|f| f == file).unwrap_or(files.len())
}

/// Something in a configuration that xvs reads but does not act on, with where it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigWarning {
    pub file: String,
    pub line: usize,
    pub col: usize,
    pub message: String,
}

impl ConfigWarning {
    /// A warning at `line:col` of `file`.
    pub fn new(file: impl Into<String>, line: usize, col: usize, message: impl Into<String>) -> Self {
        ConfigWarning { file: file.into(), line, col, message: message.into() }
    }

    /// Orders warnings by file (in the order of `files`), then by position, and drops
    /// exact duplicates (a `virtual_server_group` used twice reports its entries once).
    pub fn sort(warnings: &mut Vec<ConfigWarning>, files: &[String]) {
        warnings.sort_by_key(|w| (file_rank(&w.file, files), w.line, w.col));
        warnings.dedup();
    }
}

impl fmt::Display for ConfigWarning {
    /// `file:line:col: warning: message`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            write!(f, "{}: warning: {}", self.file, self.message)
        } else {
            write!(f, "{}:{}:{}: warning: {}", self.file, self.line, self.col, self.message)
        }
    }
}
