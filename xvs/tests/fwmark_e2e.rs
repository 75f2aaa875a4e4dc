//! A firewall-mark service end to end (keepalived's "one persistent service over several
//! ports"): `[[fwmark]]` says mark 1 is TCP 80 and UDP 53 to the VIP, one DR service
//! balances the mark with persistence, and `xvs run` steers and forwards both protocols,
//! keeping each client on one real across them (IPVS keys a fwmark template by the mark).
//! Needs root, namespaces and AF_XDP: fails, never skips.

mod common;

use std::collections::BTreeSet;
use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::time::Duration;

use common::*;

#[test]
fn one_persistent_service_over_the_ports_of_a_mark() {
    let run = Running::start("e2e_fwmark", LabMode::Dr, 3, 1, |lab| {
        let full = lab.config("rr", None, "");
        let header = &full[..full.find("[[service]]").expect("a service in the lab config")];
        let mut s = format!(
            "{header}[[fwmark]]\nmark = 1\ndst = \"{VIP4}\"\nprotocols = [\"tcp\"]\nports = [80]\n\n\
             [[fwmark]]\nmark = 1\ndst = \"{VIP4}\"\nprotocols = [\"udp\"]\nports = [53]\n\n\
             [[service]]\nfwmark = 1\nscheduler = \"rr\"\nforward = \"dr\"\npersistence = 300\n"
        );
        for i in 0..3 {
            // The reals' ports are their health checks'; DR keeps the client's port.
            s.push_str(&format!("  [[service.real]]\n  addr = \"{}:0\"\n", real_addrs(i).0));
        }
        s
    });
    let sources: Vec<IpAddr> = (0..6).map(|k| IpAddr::V4(std::net::Ipv4Addr::new(10, 0, 0, 60 + k))).collect();
    for s in &sources {
        must(&run.lab, "cl", &["ip", "addr", "add", &format!("{s}/24"), "dev", "c0"], Duration::from_secs(5));
    }
    let (http, udp) = (vip_http(false), vip_udp(false));
    // Per client address: its HTTP real and its UDP real, the same (one template).
    let pairs: Vec<(usize, usize)> = run.client(|| {
        sources
            .iter()
            .map(|src| {
                let h = get(http, "/", Some(*src)).real();
                let u = udp_echo_from(udp, *src);
                (h, u)
            })
            .collect()
    });
    for (src, (h, u)) in sources.iter().zip(&pairs) {
        assert_eq!(h, u, "client {src}: HTTP went to real {h}, UDP to real {u}\n{}", run.dump());
    }
    let reals: BTreeSet<usize> = pairs.iter().map(|p| p.0).collect();
    assert!(reals.len() >= 2, "rr over six clients used reals {reals:?}\n{}", run.dump());
    // A port the mark does not cover is not the service's.
    let other = SocketAddr::new(IpAddr::V4(VIP4), 8080);
    let refused = run.client(|| std::net::TcpStream::connect_timeout(&other, Duration::from_secs(1)));
    assert!(refused.is_err(), "port 8080 is outside the mark");
}

/// One UDP echo to `dst` from address `src`: the answering real's number.
fn udp_echo_from(dst: SocketAddr, src: IpAddr) -> usize {
    let s = UdpSocket::bind(SocketAddr::new(src, 0)).expect("udp bind");
    s.connect(dst).expect("udp connect");
    s.set_read_timeout(Some(Duration::from_secs(1))).unwrap();
    let mut buf = [0u8; 512];
    for _ in 0..3 {
        s.send(b"marked").expect("udp send");
        if let Ok(n) = s.recv(&mut buf) {
            let reply = String::from_utf8_lossy(&buf[..n]).into_owned();
            return reply
                .strip_prefix("real ")
                .and_then(|r| r.split_once(": "))
                .and_then(|(n, _)| n.parse().ok())
                .unwrap_or_else(|| panic!("UDP {dst}: unexpected reply {reply:?}"));
        }
    }
    panic!("UDP {dst} from {src}: no echo after 3 tries");
}
