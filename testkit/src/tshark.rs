//! tshark, the independent decoder the tests check frames with: write frames as a pcap
//! (Ethernet) and read back the fields tshark dissects.
//!
//! Invariant: a tshark that cannot run, or fails, panics with why (the setup installs it):
//! a test that depends on it fails, it never passes unchecked.

use std::process::Command;

/// `frames` as a pcap file (Ethernet link type, zero timestamps).
pub fn pcap(frames: &[Vec<u8>]) -> Vec<u8> {
    let mut out = vec![0xd4, 0xc3, 0xb2, 0xa1, 2, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0, 0, 1, 0, 0, 0];
    for f in frames {
        out.extend_from_slice(&[0; 8]);
        out.extend_from_slice(&(f.len() as u32).to_le_bytes());
        out.extend_from_slice(&(f.len() as u32).to_le_bytes());
        out.extend_from_slice(f);
    }
    out
}

/// tshark's `fields` of each of `frames`, one line per frame, fields separated by `|`
/// (a field with several values: comma separated), with `args` (options such as
/// `-o pref:value`) before them. `name` names the temporary capture.
pub fn fields(name: &str, frames: &[Vec<u8>], args: &[&str], fields: &[&str]) -> Vec<String> {
    let path = std::env::temp_dir().join(format!("xvs-{name}-{}.pcap", std::process::id()));
    std::fs::write(&path, pcap(frames)).expect("writing the capture");
    let mut cmd = Command::new("tshark");
    cmd.arg("-r").arg(&path).args(args).args(["-T", "fields", "-E", "separator=|"]);
    for f in fields {
        cmd.args(["-e", f]);
    }
    let out = cmd.output().unwrap_or_else(|e| panic!("tshark (installed by scripts/setup.sh) could not run: {e}"));
    let _ = std::fs::remove_file(&path);
    assert!(out.status.success(), "tshark: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).lines().map(str::to_string).collect()
}
