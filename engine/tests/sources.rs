//! Per-service `allow`/`deny` source lists (README "Defences"): a source the lists refuse
//! cannot start a connection (dropped, `source_denied`), whatever the protocol or
//! scheduling; connections that exist go on, as a firewall's ESTABLISHED rule lets them.

mod common;

use std::net::{IpAddr, SocketAddr};

use common::*;
use xvs_engine::filter::SourceFilter;
use xvs_engine::{DropReason, EngineConfig, Forward, Verdict};

const TX: Verdict = Verdict::Tx { port: 0 };
const DENIED: Verdict = Verdict::Drop(DropReason::SourceDenied);

fn net(s: &str) -> (IpAddr, u8) {
    let (a, l) = s.split_once('/').unwrap();
    (a.parse().unwrap(), l.parse().unwrap())
}

fn with(mut c: EngineConfig, allow: &[&str], deny: &[&str]) -> EngineConfig {
    for s in &mut c.services {
        s.sources =
            SourceFilter { allow: allow.iter().map(|p| net(p)).collect(), deny: deny.iter().map(|p| net(p)).collect() };
    }
    c
}

#[test]
fn refused_sources_start_nothing_and_existing_connections_go_on() {
    let base = simple(false, TCP, 80, 80, Forward::Dr, "rr", 2);
    let mut lb = Lb::new(base.clone());
    let vs = sa(vip4(), 80);
    let old = SocketAddr::new("10.6.6.6".parse().unwrap(), 4000);
    assert_eq!(lb.verdict(&tcp(old, vs, SYN), 0), TX);
    // Deny 10.6.6.0/24, allow only 10.0.0.0/8 (IPv4) and 2001:db8::/32.
    lb.e.apply(with(base, &["10.0.0.0/8", "2001:db8::/32"], &["10.6.6.0/24"])).unwrap();
    assert_eq!(lb.verdict(&tcp(old, vs, ACK), 1), TX, "an existing connection goes on");
    let new_denied = SocketAddr::new("10.6.6.7".parse().unwrap(), 4000);
    assert_eq!(lb.verdict(&tcp(new_denied, vs, SYN), 2), DENIED);
    let outside = sa(cip(false, 9), 4000); // 192.0.2.x
    assert_eq!(lb.verdict(&tcp(outside, vs, SYN), 2), DENIED);
    let inside = SocketAddr::new("10.1.2.3".parse().unwrap(), 4000);
    assert_eq!(lb.verdict(&tcp(inside, vs, SYN), 2), TX, "10.x is allowed");
    assert_eq!(lb.drops(DropReason::SourceDenied), 2);
    assert!(lb.conn(new_denied).is_none() && lb.conn(outside).is_none());
}

#[test]
fn one_packet_scheduling_is_filtered_too() {
    let mut c = with(simple(false, UDP, 53, 53, Forward::Dr, "rr", 1), &[], &["0.0.0.0/0"]);
    c.services[0].ops = true;
    let mut lb = Lb::new(c);
    assert_eq!(lb.verdict(&udp(sa(cip(false, 1), 5000), sa(vip4(), 53), b"q"), 0), DENIED);
    // An IPv4 prefix never refuses an IPv6 client.
    let mut c6 = with(simple(true, UDP, 53, 53, Forward::Dr, "rr", 1), &[], &["0.0.0.0/0"]);
    c6.services[0].ops = true;
    let mut lb6 = Lb::new(c6);
    assert_eq!(lb6.verdict(&udp(sa(cip(true, 1), 5000), sa(vip6(), 53), b"q"), 0), TX);
}
