//! xvs configuration: the model, the readers (xvs TOML, keepalived.conf, ipvsadm-save),
//! validation with `file:line:col` errors, and the normalized TOML printer.
//!
//! Invariants:
//! - Every entry point returns either a fully validated [`Config`] (defaults applied)
//!   or every problem that could be found, as [`ConfigErrors`] ordered by position.
//! - Readers only produce the model and a [`SourceMap`]; the rules live in one place
//!   ([`validate()`]), so a rule holds whatever format the configuration came in.
//! - The format is detected by content ([`detect_format`]), never by file name.
//! - What a keepalived.conf or ipvsadm-save file asks for and xvs does not do is a
//!   [`ConfigWarning`] (returned by the `*_with_warnings` functions), never dropped
//!   silently; xvs TOML has no warnings (an unknown key is an error).
//!
//! Modules: `model` (data), `syntax` (value syntax), `span` (positions),
//! `toml_reader`, `keepalived` (lexer with includes, mapper), [`ipvsadm`] (the one grammar
//! of ipvsadm's command language, also used by `xvs ctl`), `ipvsadm_save` (its file reader),
//! `validate`, `print` (to_toml), `detect` (file format), `error` (errors, warnings);
//! for VRRP: `vrrp_syntax` (entry lines), `vrrp_complete` (keepalived's fix-ups).
//!
//! No `unsafe` code (`forbid`).

#![forbid(unsafe_code)]

mod detect;
mod error;
pub mod ipvsadm;
mod ipvsadm_save;
mod keepalived;
mod model;
mod print;
mod span;
mod syntax;
mod toml_reader;
mod validate;
mod vrrp_complete;
mod vrrp_syntax;

use std::path::Path;

pub use detect::{detect_format, Format};
pub use error::{ConfigError, ConfigErrors, ConfigWarning};
pub use model::*;
pub use span::{LineIndex, Pos, Section, SourceMap, HEADER};
pub use syntax::{parse_dotted_mask, parse_endpoint, parse_ip, parse_mac, parse_vip, Problem};
pub use toml_reader::{
    AUTH_KEYS, CHECK_KEYS, DIRECTOR_KEYS, FWMARK_KEYS, NEIGHBOR_KEYS, REAL_KEYS, ROOT_KEYS, SERVICE_KEYS,
    SYNC_GROUP_KEYS, SYNC_KEYS, TIMEOUT_KEYS, URL_KEYS, VRRP_GLOBAL_KEYS, VRRP_KEYS, VRRP_SCRIPT_KEYS,
};

/// The config id of keepalived's conditional lines (`@ID ...` is read only when `ID` is
/// it, `@^ID ...` only when it is not), set once per process (`--config-id`); the
/// default, as keepalived's, is the host's node name up to its first dot.
static CONFIG_ID: std::sync::OnceLock<String> = std::sync::OnceLock::new();

/// Set the config id (before anything is read); `false` when it was set already.
pub fn set_config_id(id: &str) -> bool {
    CONFIG_ID.set(id.to_string()).is_ok()
}

/// The config id in effect (see [`set_config_id`]).
pub fn config_id() -> String {
    CONFIG_ID
        .get_or_init(|| {
            let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
            host.trim().split('.').next().unwrap_or_default().to_string()
        })
        .clone()
}

/// The file of `[[fwmark]]` tables that every configuration read adds to its own
/// (`--fwmarks`: a keepalived.conf or ipvsadm-save file has no way to say what a mark
/// stands for), set once per process.
static FWMARKS_FILE: std::sync::OnceLock<std::path::PathBuf> = std::sync::OnceLock::new();

/// Set the `--fwmarks` file (before anything is read); `false` when it was set already.
pub fn set_fwmarks_file(path: &Path) -> bool {
    FWMARKS_FILE.set(path.to_path_buf()).is_ok()
}

/// Adds the `[[fwmark]]` entries of the `--fwmarks` file, if one is set, to `config`;
/// an error in that file is reported at its own position. The file is read again on
/// every load, so a reload sees its changes.
fn add_fwmarks_file(config: &mut Config) -> Result<(), ConfigErrors> {
    let Some(path) = FWMARKS_FILE.get() else {
        return Ok(());
    };
    let name = path.display().to_string();
    let text = read_config_file(path).map_err(|e| {
        ConfigError::new(
            name.clone(),
            0,
            0,
            format!("cannot read the fwmarks file: {e}"),
            Some("check --fwmarks".into()),
        )
    })?;
    let marks = parse_toml(&text, &name)?;
    let only_marks = Config { fwmarks: marks.fwmarks.clone(), ..Config::default() };
    if marks != only_marks {
        return Err(ConfigError::new(
            name,
            1,
            1,
            "a --fwmarks file holds [[fwmark]] tables only".to_string(),
            Some("move the rest into the configuration given with -c".into()),
        )
        .into());
    }
    // (A configuration printed by `xvs check` holds them already.)
    for f in marks.fwmarks {
        if !config.fwmarks.contains(&f) {
            config.fwmarks.push(f);
        }
    }
    Ok(())
}

/// Reads `path`, detects its format, parses and validates it (warnings are dropped;
/// see [`load_with_warnings`]).
pub fn load(path: &Path) -> Result<Config, ConfigErrors> {
    load_with_warnings(path).map(|(c, _)| c)
}

/// Reads `path`, detects its format, parses and validates it; also returns what the
/// file asks for that xvs does not do, in file order (print them: `{warning}` displays
/// as `file:line:col: warning: message`). keepalived `include`s are resolved from the
/// directory of `path`.
pub fn load_with_warnings(path: &Path) -> Result<(Config, Vec<ConfigWarning>), ConfigErrors> {
    let name = path.display().to_string();
    let text = read_config_file(path).map_err(|e| {
        ConfigError::new(
            name.clone(),
            0,
            0,
            format!("cannot read the configuration: {e}"),
            Some("check the path given with -c and its permissions".into()),
        )
    })?;
    parse_str_with_warnings(&text, &name)
}

/// The largest configuration file (or included file) read.
pub const MAX_FILE_SIZE: u64 = 16 << 20;

/// Read a configuration file: a regular file (a FIFO would block, a device like
/// `/dev/zero` never end) of at most [`MAX_FILE_SIZE`] bytes, in UTF-8.
pub fn read_config_file(path: &Path) -> std::io::Result<String> {
    use std::io::{Error, ErrorKind, Read};
    let meta = std::fs::metadata(path)?;
    if !meta.is_file() {
        return Err(Error::new(ErrorKind::InvalidInput, "not a regular file"));
    }
    if meta.len() > MAX_FILE_SIZE {
        return Err(Error::new(ErrorKind::InvalidInput, format!("larger than {MAX_FILE_SIZE} bytes")));
    }
    let mut text = String::new();
    // Bounded even if the file grows while it is read.
    std::fs::File::open(path)?.take(MAX_FILE_SIZE + 1).read_to_string(&mut text)?;
    if text.len() as u64 > MAX_FILE_SIZE {
        return Err(Error::new(ErrorKind::InvalidInput, format!("larger than {MAX_FILE_SIZE} bytes")));
    }
    Ok(text)
}

/// Detects the format of `text` and parses it (warnings are dropped).
pub fn parse_str(text: &str, file_name: &str) -> Result<Config, ConfigErrors> {
    parse_str_with_warnings(text, file_name).map(|(c, _)| c)
}

/// Detects the format of `text` and parses it, with its warnings. keepalived
/// `include`s are resolved from the directory of `file_name`.
pub fn parse_str_with_warnings(text: &str, file_name: &str) -> Result<(Config, Vec<ConfigWarning>), ConfigErrors> {
    match detect_format(text).0 {
        Format::Toml => parse_toml_with_warnings(text, file_name),
        Format::Keepalived => parse_keepalived(text, file_name),
        Format::IpvsadmSave => parse_ipvsadm_save(text, file_name),
    }
}

/// Parses and validates a keepalived.conf (its `virtual_server`s, `virtual_server_group`s
/// and VRRP sections; `include`s resolved from the directory of `file_name`).
pub fn parse_keepalived(text: &str, file_name: &str) -> Result<(Config, Vec<ConfigWarning>), ConfigErrors> {
    let keepalived::Read { mut config, map, mut errors, mut warnings, files } = keepalived::read(text, file_name);
    add_fwmarks_file(&mut config)?;
    errors.extend(validate::validate(&config, &map));
    ConfigWarning::sort(&mut warnings, &files);
    if errors.is_empty() {
        Ok((config, warnings))
    } else {
        Err(ConfigErrors::sorted_in(errors, &files))
    }
}

/// Parses and validates `ipvsadm-save -n` output.
pub fn parse_ipvsadm_save(text: &str, file_name: &str) -> Result<(Config, Vec<ConfigWarning>), ConfigErrors> {
    let ipvsadm_save::Read { mut config, map, mut errors, mut warnings } = ipvsadm_save::read(text, file_name);
    add_fwmarks_file(&mut config)?;
    errors.extend(validate::validate(&config, &map));
    let files = [file_name.to_string()];
    ConfigWarning::sort(&mut warnings, &files);
    if errors.is_empty() {
        Ok((config, warnings))
    } else {
        Err(ConfigErrors::sorted(errors))
    }
}

/// Parses and validates xvs TOML; `file_name` is used in error positions (warnings are
/// dropped; see [`parse_toml_with_warnings`]).
pub fn parse_toml(text: &str, file_name: &str) -> Result<Config, ConfigErrors> {
    parse_toml_with_warnings(text, file_name).map(|(c, _)| c)
}

/// Parses and validates xvs TOML, with its warnings (xvs TOML has none today: an unknown
/// key is an error; the signature matches the other readers').
pub fn parse_toml_with_warnings(text: &str, file_name: &str) -> Result<(Config, Vec<ConfigWarning>), ConfigErrors> {
    let (mut config, map, mut errors) = toml_reader::read_toml(text, file_name)?;
    if FWMARKS_FILE.get().is_some_and(|p| p.display().to_string() != file_name) {
        add_fwmarks_file(&mut config)?;
    }
    errors.extend(validate::validate(&config, &map));
    if errors.is_empty() {
        Ok((config, Vec::new()))
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
