//! Every reader is bounded (issue "Hardening", item 6): input that would exhaust the stack
//! or the memory of whoever reads it (a running daemon on SIGHUP) is refused with an
//! error naming the limit.

mod common;

use common::Reader;
use xvs_config::{parse_keepalived, parse_toml, Config};

const TOML: Reader<Config> = Reader { read: parse_toml, file: "xvs.toml" };

#[test]
fn nested_blocks_are_refused_past_the_limit_without_recursing() {
    // 30 000 nested blocks overflowed the stack before.
    let deep = format!("virtual_server 10.0.1.100 80 {}\n{}", "x {\n".repeat(30_000), "}\n".repeat(30_001));
    let e = parse_keepalived(&deep, "keepalived.conf").unwrap_err().to_string();
    assert!(e.contains("blocks nest deeper than 16"), "{e}");
    // A keepalived.conf's own depth is fine.
    let normal = "virtual_server 10.0.1.100 80 {\n  protocol TCP\n  real_server 10.0.2.11 80 {\n    TCP_CHECK {\n      connect_timeout 3\n    }\n  }\n}\n";
    parse_keepalived(normal, "keepalived.conf").unwrap();
}

#[test]
fn an_mh_table_too_large_is_refused_by_its_limit() {
    TOML.one(
        "[[service]]\nvip = \"10.0.1.100:80\"\nscheduler = \"mh\"\nmh_table_size = 1000000007\n",
        4,
        17,
        "`mh_table_size` = 1000000007 is above the limit 1048573",
        "use at most 1048573",
    );
}

#[test]
fn a_persistence_past_ipvsadms_limit_is_refused() {
    TOML.one(
        "[[service]]\nvip = \"10.0.1.100:80\"\npersistence = 4000000\n",
        3,
        15,
        "`persistence` = 4000000 s is above ipvsadm's limit 2678400 s",
        "1..=2678400 seconds",
    );
}

#[test]
fn only_regular_files_of_bounded_size_are_read() {
    let dir = std::env::temp_dir().join(format!("xvs-bounds-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let fifo = dir.join("fifo.conf");
    nix_mkfifo(&fifo);
    let e = xvs_config::load(&fifo).unwrap_err().to_string();
    assert!(e.contains("not a regular file"), "{e}");
    let main = dir.join("keepalived.conf");
    std::fs::write(&main, "include /dev/zero\ninclude fifo.conf\nvirtual_server 10.0.1.100 80 {\n  protocol TCP\n}\n")
        .unwrap();
    let e = xvs_config::load(&main).unwrap_err().to_string();
    assert!(e.contains("/dev/zero") && e.contains("not a regular file"), "{e}");
    assert!(e.contains("fifo.conf"), "{e}");
    let big = dir.join("big.conf");
    std::fs::write(&big, vec![b'#'; (xvs_config::MAX_FILE_SIZE + 1) as usize]).unwrap();
    let e = xvs_config::load(&big).unwrap_err().to_string();
    assert!(e.contains("larger than 16777216 bytes"), "{e}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// mkfifo(1), so the test needs no libc binding.
fn nix_mkfifo(p: &std::path::Path) {
    let ok = std::process::Command::new("mkfifo").arg(p).status().map(|s| s.success()).unwrap_or(false);
    assert!(ok, "mkfifo {}", p.display());
}

#[test]
fn a_group_cannot_expand_past_the_services_a_configuration_holds() {
    let entries: String = (0..20).map(|i| format!("  10.{i}.0.0/22 80\n")).collect();
    let text = format!(
        "virtual_server_group BIG {{\n{entries}}}\nvirtual_server group BIG {{\n  protocol TCP\n  real_server 10.99.0.1 80 {{\n  }}\n}}\n"
    );
    let t = std::time::Instant::now();
    let e = parse_keepalived(&text, "keepalived.conf").unwrap_err().to_string();
    assert!(e.contains("makes the configuration exceed 16384 services"), "{e}");
    assert!(t.elapsed() < std::time::Duration::from_secs(10), "refused only after {:?}", t.elapsed());
}

#[test]
fn a_toml_with_too_many_services_is_refused() {
    let svcs: String =
        (0..16385).map(|i| format!("[[service]]\nvip = \"10.{}.{}.1:80\"\n", i / 256, i % 256)).collect();
    let e = parse_toml(&svcs, "xvs.toml").unwrap_err().to_string();
    assert!(e.contains("16385 services: a configuration holds at most 16384"), "{e}");
}

#[test]
fn deeply_nested_toml_is_an_error_not_a_crash() {
    let deep = format!("x = {}1{}\n", "[".repeat(100_000), "]".repeat(100_000));
    assert!(parse_toml(&deep, "xvs.toml").is_err());
    let inline = format!("x = {}{}\n", "{ a = ".repeat(100_000), "}".repeat(100_000));
    assert!(parse_toml(&inline, "xvs.toml").is_err());
}
