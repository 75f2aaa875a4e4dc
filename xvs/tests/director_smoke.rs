//! The director end to end, smallest case: NAT over IPv4 in a namespace lab, real HTTP
//! requests from the client through `xvs run`, rr over three reals.

use std::net::SocketAddr;
use std::path::Path;

use xvs_lab::director::{DirectorLab, LabMode, VIP4};
use xvs_lab::http::http_get;

fn get(addr: SocketAddr, path: &str) -> String {
    http_get(addr, path).expect("HTTP GET through the VIP")
}

#[test]
fn nat_rr_over_three_reals() {
    let xvs = Path::new(env!("CARGO_BIN_EXE_xvs"));
    let mut lab = DirectorLab::new("smoke_nat", LabMode::Nat, 3, 1);
    lab.start_reals(xvs);
    let cfg = lab.write_config(&lab.config("rr", None, ""));
    lab.start_director(xvs, &cfg);
    let vip = SocketAddr::new(VIP4.into(), 80);
    let bodies: Vec<String> = lab.lab.in_ns("cl", || (0..30).map(|_| get(vip, "/")).collect());
    for i in 0..3 {
        let n = bodies.iter().filter(|b| b.ends_with(&format!("real {i}\n"))).count();
        assert_eq!(n, 10, "real {i} served {n} of 30:\n{bodies:?}");
    }
}

/// Two queues on the director's interface, hence two poll cores: connections are owned
/// by one core each and frames that arrive on the other core's queue are handed over, so
/// every request and every NAT reply still meets its connection.
#[test]
fn nat_two_queues_two_poll_cores() {
    let xvs = Path::new(env!("CARGO_BIN_EXE_xvs"));
    let mut lab = DirectorLab::new("smoke_nat_q2", LabMode::Nat, 3, 2);
    lab.start_reals(xvs);
    let cfg = lab.write_config(
        &lab.config("rr", None, "").replace("poll = \"adaptive\"", "poll = \"adaptive\"\ncores = [0, 1]"),
    );
    let d = lab.start_director(xvs, &cfg);
    let log = lab.procs[d].stderr();
    assert!(log.contains("queue 1") && log.contains("2 poll core(s)"), "{log}");
    let vip = SocketAddr::new(VIP4.into(), 80);
    let bodies: Vec<String> = lab.lab.in_ns("cl", || {
        std::thread::scope(|s| {
            let hs: Vec<_> = (0..4).map(|_| s.spawn(|| (0..30).map(|_| get(vip, "/")).collect::<Vec<_>>())).collect();
            hs.into_iter().flat_map(|h| h.join().unwrap()).collect()
        })
    });
    assert_eq!(bodies.len(), 120);
    for i in 0..3 {
        let n = bodies.iter().filter(|b| b.ends_with(&format!("real {i}\n"))).count();
        assert!(n > 20, "real {i} served {n} of 120");
    }
}
