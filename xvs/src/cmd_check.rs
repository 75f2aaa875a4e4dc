//! `xvs check -c FILE`: validate and print the normalized config, or every error with
//! file:line:column. Exit 0 when valid, 2 when not.

use std::path::Path;
use std::process::ExitCode;

use xvs_engine::Engine;

use xvs::engine_config::engine_config;

pub fn run(path: &Path) -> ExitCode {
    match xvs_config::load(path) {
        Ok(cfg) => {
            // The engine may still refuse what only it can judge (e.g. tun without a
            // director address); say so here rather than at start-up.
            if let Err(e) = Engine::new(engine_config(&cfg), 0) {
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
