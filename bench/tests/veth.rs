//! End to end: `xvs-bench veth --seconds 1 --loads 1 --repeat 1 --json` builds the lab, runs
//! every director (raw AF_XDP forwarder, xvs NAT, xvs DR, kernel) and prints JSON with the
//! documented keys and a positive rate for each.
//!
//! It needs root, network namespaces and the `xvs` binary next to `xvs-bench` (a
//! workspace `cargo test` builds it); without them it fails, with the reason, never skips.
//! It takes about 15 s, so it runs with the normal test suite (a run above 30 s fails, to
//! keep it that way).

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

#[test]
fn veth_bench_runs_end_to_end() {
    let exe = Path::new(env!("CARGO_BIN_EXE_xvs-bench"));
    let xvs = exe.with_file_name("xvs");
    assert!(
        xvs.is_file(),
        "{} is missing: build it first (cargo build -p xvs, or run the workspace's tests)",
        xvs.display()
    );
    let t = Instant::now();
    let out = Command::new(exe)
        .args(["veth", "--seconds", "1", "--loads", "1", "--repeat", "1", "--json", "--xvs"])
        .arg(&xvs)
        .output()
        .expect("run xvs-bench");
    let took = t.elapsed();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "xvs-bench veth failed ({}):\n{stderr}\n{stdout}", out.status);
    let v: serde_json::Value =
        serde_json::from_str(stdout.trim()).unwrap_or_else(|e| panic!("not JSON ({e}):\n{stdout}\n{stderr}"));
    for key in [
        "raw_pps",
        "xvs_nat_pps",
        "xvs_dr_pps",
        "kernel_pps",
        "ratio_raw",
        "ratio_kernel",
        "ratio_raw_min",
        "share_ratio_raw",
        "share_ratio_raw_min",
    ] {
        let x = v[key].as_f64().unwrap_or_else(|| panic!("{key} missing or not a number: {v}"));
        assert!(x > 0.0, "{key} = {x}: {v}");
    }
    for d in ["raw", "xvs_nat", "xvs_dr", "kernel"] {
        let points = v[d].as_array().unwrap_or_else(|| panic!("{d} missing: {v}"));
        assert_eq!(points.len(), 1, "{d}: {v}");
        for k in ["offered_pps", "delivered_pps", "core_ns_per_pkt"] {
            assert!(points[0][k].as_f64().is_some_and(|x| x > 0.0), "{d}.{k}: {v}");
        }
    }
    assert!(v["gen_max_pps"].as_f64().is_some_and(|x| x > 0.0), "{v}");
    let leftovers = Command::new("ip").args(["netns", "list"]).output().expect("ip netns list");
    let left = String::from_utf8_lossy(&leftovers.stdout);
    let pid_tag = format!("-{}-", v["bench_pid"].as_u64().unwrap_or(0));
    assert!(!left.lines().any(|l| l.contains("veth_bench") && l.contains(&pid_tag)), "namespaces left:\n{left}");
    assert!(took < Duration::from_secs(30), "took {took:?}: too long for the normal test suite");
}
