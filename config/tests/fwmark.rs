//! Firewall-mark services: `[[fwmark]]` entries say what a mark stands for (in the xvs
//! TOML, or in the `--fwmarks` file beside a keepalived.conf), and a service of the mark
//! takes that traffic.

use std::path::{Path, PathBuf};

use xvs_config::*;

fn data(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/fwmark").join(name)
}

/// keepalived's `virtual_server fwmark 1` with the marks file: one service per mark, the
/// family from the group entry, everything printed as TOML that reads back the same.
/// (This test binary sets the process's `--fwmarks` file; the others never do.)
#[test]
fn keepalived_fwmark_services_with_a_marks_file() {
    // Without the marks file the mark means nothing: loading fails and says why.
    let e = load(&data("keepalived.conf")).unwrap_err().to_string();
    assert!(e.contains("fwmark 1 is not defined") && e.contains("--fwmarks"), "{e}");
    assert!(set_fwmarks_file(&data("marks.toml")));
    let c = load(&data("keepalived.conf")).unwrap_or_else(|e| panic!("{e}"));
    let labels: Vec<String> = c.services.iter().map(Service::label).collect();
    assert_eq!(labels, ["fwmark 1", "udp 10.0.1.53:53", "fwmark 2"]);
    let web = &c.services[0];
    assert_eq!((web.fwmark, web.persistence, web.forward), (Some(1), 600, Forward::Dr));
    assert_eq!(web.reals[0].addr.port(), 80, "the reals' ports are their checks'");
    assert_eq!(c.fwmarks.len(), 2);
    let m = &c.fwmarks[0];
    assert!(m.covers(Protocol::Tcp, "10.0.1.100".parse().unwrap(), 443));
    assert!(!m.covers(Protocol::Udp, "10.0.1.100".parse().unwrap(), 443));
    assert!(!m.covers(Protocol::Tcp, "10.0.1.100".parse().unwrap(), 8080));
    assert!(c.fwmarks[1].covers(Protocol::Udp, "10.0.3.9".parse().unwrap(), 53), "default: tcp and udp");
    let printed = c.to_toml();
    assert!(printed.contains("fwmark = 1") && printed.contains("[[fwmark]]"), "{printed}");
    assert_eq!(parse_toml(&printed, "printed.toml").unwrap_or_else(|e| panic!("{e}\n{printed}")), c);
}

/// The same in xvs TOML, and what is refused.
#[test]
fn toml_fwmark_services_and_their_errors() {
    let base = "[[fwmark]]\nmark = 7\ndst = \"10.0.1.100\"\nports = [80, \"8000-8080\"]\n";
    let svc =
        "[[service]]\nfwmark = 7\npersistence = 300\n[[service.real]]\naddr = \"10.0.2.11:0\"\nforward = \"dr\"\n";
    let c = parse_toml(&format!("{base}{svc}"), "x.toml").unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(c.services[0].fwmark, Some(7));
    assert_eq!(c.fwmarks[0].ports, [(80, 80), (8000, 8080)]);
    let err = |text: &str| parse_toml(text, "x.toml").unwrap_err().to_string();
    let e = err(&svc.replace("fwmark = 7", "fwmark = 8"));
    assert!(e.contains("fwmark 8 is not defined"), "{e}");
    let e = err(&format!("{base}{}", svc.replace("fwmark = 7", "fwmark = 7\nfamily = \"inet6\"")));
    assert!(e.contains("no [[fwmark]] entry of this service's family (inet6)"), "{e}");
    let e = err(&format!("{base}{}", svc.replace("fwmark = 7", "fwmark = 7\nvip = \"10.0.1.100:80\"")));
    assert!(e.contains("`vip` beside `fwmark`"), "{e}");
    let e = err(&format!("{}{svc}", base.replace("[80, \"8000-8080\"]", "[\"90-80\"]")));
    assert!(e.contains("ends before it starts"), "{e}");
    let e = err(&format!("{base}{svc}{svc}"));
    assert!(e.contains("duplicate service fwmark 7"), "{e}");
}
