//! `xvs replay -c FILE IN.pcap OUT.pcap`: the pipeline over a capture, deterministic.

use std::path::Path;
use std::process::ExitCode;

use xvs_engine::pcap_port::PcapPort;
use xvs_engine::replay::replay;
use xvs_engine::Engine;

use xvs::engine_config::engine_config;

pub fn run(config: &Path, input: &Path, output: &Path) -> ExitCode {
    let cfg = match xvs_config::load(config) {
        Ok(c) => c,
        Err(errors) => {
            eprint!("{errors}");
            return ExitCode::from(2);
        }
    };
    let mut engine = match Engine::new(engine_config(&cfg), 0) {
        Ok(e) => e,
        Err(e) => {
            eprintln!("{}: error: {e}", config.display());
            return ExitCode::from(2);
        }
    };
    let mut port = match PcapPort::open(input, Some(output)) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let summary = match replay(&mut engine, &mut port) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {}: {e}", input.display());
            return ExitCode::from(1);
        }
    };
    if let Err(e) = port.finish() {
        eprintln!("error: {}: {e}", output.display());
        return ExitCode::from(1);
    }
    print!("{summary}");
    println!("wrote {} frames to {}", port.written, output.display());
    ExitCode::SUCCESS
}
