//! End to end: `xvs-bench cps --seconds 0.5 --repeat 1 --json` builds both labs, runs
//! every director (xvs NAT, xvs DR, nftables, HAProxy) and prints JSON with the documented
//! keys: a positive rate for each, no errors, and the four ratios.
//!
//! It needs root, network namespaces, nftables, HAProxy and the `xvs` binary next to
//! `xvs-bench` (a workspace `cargo test` builds it); without them it fails, never skips.

use std::path::Path;
use std::process::Command;

#[test]
fn cps_bench_runs_every_director() {
    let exe = Path::new(env!("CARGO_BIN_EXE_xvs-bench"));
    let xvs = exe.with_file_name("xvs");
    assert!(xvs.is_file(), "{} is missing: build it first (cargo build -p xvs)", xvs.display());
    let out = Command::new(exe)
        .args(["cps", "--seconds", "0.5", "--repeat", "1", "--clients", "4", "--json", "--xvs"])
        .arg(&xvs)
        .output()
        .expect("run xvs-bench");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "xvs-bench cps failed ({}):\n{stderr}\n{stdout}", out.status);
    let v: serde_json::Value =
        serde_json::from_str(stdout.trim()).unwrap_or_else(|e| panic!("not JSON ({e}):\n{stdout}\n{stderr}"));
    for d in ["xvs_nat", "xvs_dr", "kernel", "haproxy"] {
        let cps = v[format!("{d}_cps")].as_f64().unwrap_or_else(|| panic!("{d}_cps missing: {v}"));
        assert!(cps > 0.0, "{d}: {v}");
        assert_eq!(v[format!("{d}_errors")], 0, "{d}: {v}");
    }
    for k in ["xvs_nat_over_kernel", "xvs_nat_over_haproxy", "xvs_dr_over_kernel", "xvs_dr_over_haproxy"] {
        assert!(v[k].as_f64().is_some_and(|x| x > 0.0), "{k}: {v}");
    }
}
