//! `xvs check -c FILE`: validate and print the normalized config as xvs TOML (a
//! keepalived.conf or ipvsadm-save file too: groups expanded, one service per address),
//! or every error with file:line:column. Warnings (sections xvs does not act on, fwmark
//! services it skips) go to stderr with their file and line. Exit 0 when valid, 2 when not.

use std::net::{Ipv4Addr, Ipv6Addr};
use std::path::Path;
use std::process::ExitCode;

use xvs_engine::Engine;

use xvs::engine_config::engine_config;

pub fn run(path: &Path) -> ExitCode {
    match xvs_config::load_with_warnings(path) {
        Ok((cfg, warnings)) => {
            for w in &warnings {
                eprintln!("{w}");
            }
            // The engine may still refuse what only it can judge; say so here rather than
            // at start-up. The tunnel source defaults to an interface address at run time,
            // so its absence is not an error here.
            let mut ecfg = engine_config(&cfg);
            ecfg.address4 = ecfg.address4.or(Some(Ipv4Addr::UNSPECIFIED));
            ecfg.address6 = ecfg.address6.or(Some(Ipv6Addr::UNSPECIFIED));
            ecfg.max_connections = ecfg.max_connections.min(1024);
            if let Err(e) = Engine::new(ecfg, 0) {
                eprintln!("{}: error: {e}", path.display());
                return ExitCode::from(2);
            }
            print!("{}", cfg.to_toml());
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
