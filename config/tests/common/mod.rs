//! What the config tests share: a reader's errors, the one-error check, address literals.

#![allow(dead_code)] // each test file uses some of these

use std::net::{IpAddr, SocketAddr};

use xvs_config::{ConfigError, ConfigErrors};

/// The errors of a reader that was expected to fail.
#[track_caller]
pub fn errors<T: std::fmt::Debug>(read: Result<T, ConfigErrors>) -> Vec<ConfigError> {
    match read {
        Ok(c) => panic!("expected errors, got {c:#?}"),
        Err(e) => e.0,
    }
}

/// Exactly one error, in `file` at `line:col`, whose message and hint contain the given
/// texts (an empty `hint` also accepts none).
#[track_caller]
pub fn one_error(
    errs: Vec<ConfigError>,
    file: &str,
    line: usize,
    col: usize,
    message: &str,
    hint: &str,
) -> ConfigError {
    let shown: Vec<String> = errs.iter().map(|e| e.to_string()).collect();
    assert_eq!(errs.len(), 1, "{shown:#?}");
    let e = errs.into_iter().next().unwrap();
    assert_eq!((e.file.as_str(), e.line, e.col), (file, line, col), "{e}");
    assert!(e.message.contains(message), "message of {e}");
    assert!(e.hint.as_deref().unwrap_or_default().contains(hint), "hint of {e}");
    e
}

pub fn sa(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

pub fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}
