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
