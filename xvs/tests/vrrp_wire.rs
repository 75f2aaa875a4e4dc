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

/// A MASTER facing bad input: adverts with the wrong TTL, VRID, version, checksum or
/// password, truncated ones, and a flood of higher-priority adverts that fail their
/// checks. None of it may change its state or stop its adverts.
#[test]
fn bad_adverts_never_change_a_masters_state() {
    use xvs::vrrp::runtime::{GarpPolicy, InstanceSpec, VirtualAddress, VrrpRuntime};
    use xvs_vrrp::wire::Advert;
    use xvs_vrrp::{InitialState, InstanceConfig, State, Version};

    let lab = lab();
    let vip: IpAddr = "10.9.0.50".parse().unwrap();
    let spec = InstanceSpec {
        protocol: InstanceConfig {
            name: "VI_1".into(),
            vrid: 51,
            version: Version::V2,
            priority: 200,
            advert_int_cs: 100,
            preempt: true,
            preempt_delay_ms: 0,
            initial: InitialState::Master,
            auth_pass: Some(*b"1111\0\0\0\0"),
            addresses: vec![vip],
            primary: "10.9.0.1".parse().unwrap(),
            unicast_peers: Vec::new(),
            strict: false,
            skip_check_adv_addr: false,
        },
        interface: "va".into(),
        addresses: vec![VirtualAddress { addr: vip, prefix_len: 24, dev: None, label: None }],
        garp: GarpPolicy::default(),
        notify: Default::default(),
        tracking: Default::default(),
    };
    let (tx, rx) = std::sync::mpsc::channel();
    let rt = lab.in_ns("a", || VrrpRuntime::start(vec![spec], tx)).unwrap();
    let t0 = Instant::now();
    while rt.status()[0].state != State::Master {
        assert!(t0.elapsed() < Duration::from_secs(5), "MASTER after its down interval");
        std::thread::sleep(Duration::from_millis(10));
    }
    // A would-be master with a higher priority: accepted, its advert would demote us.
    let good = Advert {
        version: Version::V2,
        vrid: 51,
        priority: 250,
        auth_type: 1,
        adver_int: 1,
        addresses: vec![vip],
        auth_data: *b"1111\0\0\0\0",
        checksum: 0,
    };
    let from: IpAddr = "10.9.0.2".parse().unwrap();
    let group: IpAddr = GROUP_V4.into();
    let encoded = |a: &Advert| a.encode(from, group);
    let mut bad: Vec<Vec<u8>> = Vec::new();
    let mut wrong_pass = good.clone();
    wrong_pass.auth_data = *b"2222\0\0\0\0";
    bad.push(encoded(&wrong_pass));
    let mut wrong_int = good.clone();
    wrong_int.adver_int = 3;
    bad.push(encoded(&wrong_int));
    let mut flipped = encoded(&good);
    flipped[6] ^= 0xff; // checksum
    bad.push(flipped);
    let mut v9 = encoded(&good);
    v9[0] = 0x91; // version 9
    bad.push(v9);
    bad.push(encoded(&good)[..12].to_vec()); // truncated
    let index = ifindex(&lab, "b", "vb");
    lab.in_ns("b", || {
        let s = VrrpSocket::open("vb", index, from, true).unwrap();
        for _ in 0..2000 {
            for m in &bad {
                s.send(group, m).unwrap();
            }
        }
        // The right advert, but with TTL 64: must be refused as well (multicast needs 255).
        let raw = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::RAW, Some(socket2::Protocol::from(112)))
            .unwrap();
        raw.set_multicast_ttl_v4(64).unwrap();
        raw.set_multicast_if_v4(&"10.9.0.2".parse().unwrap()).unwrap();
        let dst = std::net::SocketAddr::new(group, 0);
        for _ in 0..200 {
            raw.send_to(&encoded(&good), &dst.into()).unwrap();
        }
    });
    std::thread::sleep(Duration::from_millis(500));
    let s = &rt.status()[0];
    assert_eq!((s.state, s.priority), (State::Master, 200), "bad input changed the state");
    assert!(rx.try_iter().all(|t| t.to != State::Backup || t.from == State::Init), "a transition away from MASTER");
    assert!(lab.run("a", &["ip", "-4", "addr", "show", "dev", "va"]).contains("10.9.0.50/24"));
    // The control: the same advert, well formed, does demote it (so the test can fail).
    lab.in_ns("b", || VrrpSocket::open("vb", index, from, true).unwrap().send(group, &encoded(&good)).unwrap());
    let t0 = Instant::now();
    while rt.status()[0].state != State::Backup {
        assert!(t0.elapsed() < Duration::from_secs(1), "a good higher-priority advert did not demote the MASTER");
        std::thread::sleep(Duration::from_millis(10));
    }
}
