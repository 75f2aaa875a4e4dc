//! Errors reported to the operator.
//!
//! Invariants:
//! - `line` and `col` are 1-based (col counts characters, not bytes); `line == 0`
//!   means "no position" (e.g. the file could not be read, or a `Config` built in
//!   memory was validated) and is displayed without `:line:col`.
//! - Every error produced by this crate carries an actionable `hint` where one exists.
//! - `ConfigErrors` is never empty when returned as an `Err`, and is ordered by
//!   position in the file.

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
