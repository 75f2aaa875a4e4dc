//! `xvs check -c FILE`: validate and print the normalized config as xvs TOML (a
//! keepalived.conf or ipvsadm-save file too: groups expanded, one service per address),
//! or every error with file:line:column. Warnings (sections xvs does not act on, fwmark
//! services it skips) go to stderr with their file and line. Exit 0 when valid, 2 when not;
//! with `--strict`, a warning makes it invalid too (said so, and nothing is printed).

use std::net::{Ipv4Addr, Ipv6Addr};
use std::path::Path;
use std::process::ExitCode;

use xvs::engine_config::Checked;

pub fn run(path: &Path, strict: bool) -> ExitCode {
    match xvs_config::load_with_warnings(path) {
        Ok((cfg, warnings)) => {
            for w in &warnings {
                eprintln!("{w}");
            }
            if strict && !warnings.is_empty() {
                eprintln!("{}: {} warning(s), and --strict makes each an error", path.display(), warnings.len());
                return ExitCode::from(2);
            }
            // The engine may still refuse what only it can judge; say so here rather than
            // at start-up. The tunnel source defaults to an interface address at run time,
            // so its absence is not an error here.
            match Checked::new(cfg, Some(Ipv4Addr::UNSPECIFIED), Some(Ipv6Addr::UNSPECIFIED)) {
                Ok(c) => print!("{}", c.model().to_toml()),
                Err(e) => {
                    eprintln!("{}: error: {e}", path.display());
                    return ExitCode::from(2);
                }
            }
            ExitCode::SUCCESS
        }
        Err(errors) => {
            eprint!("{errors}");
            if !errors.to_string().ends_with('\n') {
                eprintln!();
            }
            ExitCode::from(2)
        }
    }
}
