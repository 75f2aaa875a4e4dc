//! xvs configuration: the model, the xvs TOML reader, validation with
//! `file:line:col` errors, and the normalized TOML printer.
//!
//! Invariants:
//! - Every entry point returns either a fully validated [`Config`] (defaults applied)
//!   or every problem that could be found, as [`ConfigErrors`] ordered by position.
//! - Readers only produce the model and a [`SourceMap`]; the rules live in one place
//!   ([`validate()`]), so keepalived.conf and ipvsadm-save readers (a later issue) will
//!   share them. Until then such files are detected and refused with a clear error.
//!
//! Modules: `model` (data), `syntax` (value syntax), `span` (positions),
//! `toml_reader`, `validate`, `print` (to_toml), `detect` (file format), `error`.

mod detect;
mod error;
mod model;
mod print;
mod span;
mod syntax;
mod toml_reader;
mod validate;

use std::path::Path;

pub use detect::{detect_format, Format};
pub use error::{ConfigError, ConfigErrors};
pub use model::*;
pub use span::{LineIndex, Pos, Section, SourceMap, HEADER};
pub use syntax::{parse_dotted_mask, parse_endpoint, parse_ip, parse_mac, parse_vip, Problem};
pub use toml_reader::{CHECK_KEYS, DIRECTOR_KEYS, NEIGHBOR_KEYS, REAL_KEYS, ROOT_KEYS, SERVICE_KEYS, TIMEOUT_KEYS};

/// Reads `path`, detects its format, parses and validates it.
pub fn load(path: &Path) -> Result<Config, ConfigErrors> {
    let name = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| {
        ConfigError::new(
            name.clone(),
            0,
            0,
            format!("cannot read the configuration: {e}"),
            Some("check the path given with -c and its permissions".into()),
        )
    })?;
    parse_str(&text, &name)
}

/// Detects the format of `text` and parses it (today only xvs TOML is supported).
pub fn parse_str(text: &str, file_name: &str) -> Result<Config, ConfigErrors> {
    match detect_format(text) {
        (Format::Toml, _) => parse_toml(text, file_name),
        (format, line) => Err(ConfigError::new(
            file_name,
            line,
            1,
            format!("this looks like {}, which xvs cannot read yet", format.describe()),
            Some(
                "write the configuration as xvs TOML (see DESIGN.md, \"Config (TOML)\"); \
                 keepalived.conf and ipvsadm-save readers are planned"
                    .into(),
            ),
        )
        .into()),
    }
}

/// Parses and validates xvs TOML; `file_name` is used in error positions.
pub fn parse_toml(text: &str, file_name: &str) -> Result<Config, ConfigErrors> {
    let (config, map, mut errors) = toml_reader::read_toml(text, file_name)?;
    errors.extend(validate::validate(&config, &map));
    if errors.is_empty() {
        Ok(config)
    } else {
        Err(ConfigErrors::sorted(errors))
    }
}

/// Checks every rule on `config`, with positions from `map` (use
/// `SourceMap::new(name)` for a configuration built in memory).
pub fn validate(config: &Config, map: &SourceMap) -> Result<(), ConfigErrors> {
    let errors = validate::validate(config, map);
    if errors.is_empty() {
        Ok(())
    } else {
        Err(ConfigErrors::sorted(errors))
    }
}

impl Config {
    /// Checks every rule on a configuration built in memory (errors carry no position).
    pub fn validate(&self) -> Result<(), ConfigErrors> {
        validate(self, &SourceMap::new("<config>"))
    }
}
