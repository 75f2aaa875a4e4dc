//! What the config tests share: a reader under test with its errors and the one-error
//! check, the round trip through the printed TOML, address literals.

#![allow(dead_code)] // each test file uses some of these

use std::net::{IpAddr, SocketAddr};

use xvs_config::{parse_toml, Config, ConfigError, ConfigErrors};

/// A reader under test (`parse_toml`, `parse_keepalived`, ...) and the file name it reads
/// its texts as.
pub struct Reader<T> {
    pub read: fn(&str, &str) -> Result<T, ConfigErrors>,
    pub file: &'static str,
}

impl<T: std::fmt::Debug> Reader<T> {
    /// The errors of a text that was expected to fail.
    #[track_caller]
    pub fn errors(&self, text: &str) -> Vec<ConfigError> {
        match (self.read)(text, self.file) {
            Ok(c) => panic!("expected errors, got {c:#?}"),
            Err(e) => e.0,
        }
    }

    /// Exactly one error reading `text`, at `line:col`, whose message and hint contain the
    /// given texts (an empty `hint` also accepts none).
    #[track_caller]
    pub fn one(&self, text: &str, line: usize, col: usize, message: &str, hint: &str) -> ConfigError {
        let errs = self.errors(text);
        let shown: Vec<String> = errs.iter().map(|e| e.to_string()).collect();
        assert_eq!(errs.len(), 1, "{shown:#?}");
        let e = errs.into_iter().next().unwrap();
        assert_eq!((e.file.as_str(), e.line, e.col), (self.file, line, col), "{e}");
        assert!(e.message.contains(message), "message of {e}");
        assert!(e.hint.as_deref().unwrap_or_default().contains(hint), "hint of {e}");
        e
    }
}

/// `c` printed as TOML reads back to `c`, and printing that is a fixed point.
#[track_caller]
pub fn round_trip(c: &Config) {
    let printed = c.to_toml();
    let again = parse_toml(&printed, "printed.toml").unwrap_or_else(|e| panic!("{e}\n{printed}"));
    assert_eq!(&again, c, "{printed}");
    assert_eq!(again.to_toml(), printed);
}

pub fn sa(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

pub fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}
