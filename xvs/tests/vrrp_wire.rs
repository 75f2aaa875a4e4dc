//! VRRP on a real link: two namespaces joined by a veth pair exchange protocol-112
//! messages through `xvs::vrrp::socket`, over IPv4 and IPv6 multicast and unicast, with
//! the TTL / hop limit and addresses the receiver must check; and a gratuitous ARP sent by
//! `xvs::sys::send_on_link` moves the peer's neighbour entry to the new MAC.
//! Needs root and network namespaces (it fails, it does not skip, without them).

use std::net::IpAddr;
use std::time::{Duration, Instant};

use xvs::vrrp::socket::{Received, VrrpSocket, GROUP_V4, GROUP_V6};
use xvs_lab::Lab;

fn lab() -> Lab {
    let mut lab = Lab::new("vrrp-wire");
    lab.ns("a").ns("b").veth(("a", "va"), ("b", "vb"));
    lab.addr("a", "va", "10.9.0.1/24").addr("b", "vb", "10.9.0.2/24");
    lab.addr("a", "va", "2001:db8:9::1/64").addr("b", "vb", "2001:db8:9::2/64");
    lab
}

fn ifindex(lab: &Lab, ns: &str, dev: &str) -> u32 {
    lab.in_ns(ns, || xvs::host::ifindex(dev).unwrap())
}

/// Open a socket in `ns` and wait (bounded) for one message.
fn receive_one(lab: &Lab, ns: &str, dev: &str, me: IpAddr, ready: std::sync::mpsc::Sender<()>) -> Received {
    let index = ifindex(lab, ns, dev);
    lab.in_ns(ns, || {
        let s = VrrpSocket::open(dev, index, me, true).unwrap();
        ready.send(()).unwrap();
        let until = Instant::now() + Duration::from_secs(5);
        loop {
            if let Some(r) = s.recv().unwrap() {
                return r;
            }
            assert!(Instant::now() < until, "nothing received in 5 s");
            std::thread::sleep(Duration::from_millis(5));
        }
    })
}

fn exchange(lab: &Lab, from: IpAddr, to: IpAddr, dst: IpAddr) -> Received {
    let (tx, rx) = std::sync::mpsc::channel();
    let index = ifindex(lab, "a", "va");
    std::thread::scope(|s| {
        let got = s.spawn(|| receive_one(lab, "b", "vb", to, tx));
        rx.recv_timeout(Duration::from_secs(5)).expect("receiver ready");
        lab.in_ns("a", || {
            let s = VrrpSocket::open("va", index, from, dst.is_multicast()).unwrap();
            // IPv6 needs its addresses ready; send a few times, bounded.
            for _ in 0..20 {
                s.send(dst, b"\x31\x33\x64\x01hello").unwrap();
                std::thread::sleep(Duration::from_millis(50));
            }
        });
        got.join().unwrap()
    })
}

#[test]
fn messages_cross_the_link_with_ttl_255_over_both_families() {
    let lab = lab();
    let cases: [(IpAddr, IpAddr, IpAddr); 4] = [
        ("10.9.0.1".parse().unwrap(), "10.9.0.2".parse().unwrap(), GROUP_V4.into()),
        ("10.9.0.1".parse().unwrap(), "10.9.0.2".parse().unwrap(), "10.9.0.2".parse().unwrap()),
        ("2001:db8:9::1".parse().unwrap(), "2001:db8:9::2".parse().unwrap(), GROUP_V6.into()),
        ("2001:db8:9::1".parse().unwrap(), "2001:db8:9::2".parse().unwrap(), "2001:db8:9::2".parse().unwrap()),
    ];
    for (from, to, dst) in cases {
        let r = exchange(&lab, from, to, dst);
        assert_eq!((r.src, r.dst, r.ttl), (from, dst, 255), "{from} -> {dst}");
        assert_eq!(r.msg, b"\x31\x33\x64\x01hello", "{from} -> {dst}: only the VRRP message");
    }
}

#[test]
fn a_gratuitous_arp_moves_the_neighbour_entry() {
    let lab = lab();
    // b knows 10.9.0.50 at a stale MAC; a announces it at its own.
    lab.run("b", &["ip", "neigh", "replace", "10.9.0.50", "lladdr", "02:00:00:00:00:99", "dev", "vb", "nud", "stale"]);
    let mac = lab.mac("a", "va");
    let index = ifindex(&lab, "a", "va");
    let frame = xvs::vrrp::announce::frame("10.9.0.50".parse().unwrap(), mac);
    lab.in_ns("a", || xvs::sys::send_on_link(index, &frame).unwrap());
    let want = mac.iter().map(|b| format!("{b:02x}")).collect::<Vec<_>>().join(":");
    let until = Instant::now() + Duration::from_secs(3);
    loop {
        let neigh = lab.run("b", &["ip", "neigh", "show", "10.9.0.50", "dev", "vb"]);
        if neigh.contains(&want) {
            break;
        }
        assert!(Instant::now() < until, "b still has {neigh:?}, want {want}");
        std::thread::sleep(Duration::from_millis(50));
    }
}
