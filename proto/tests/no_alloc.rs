//! The hot path allocates nothing: classify and every rewrite run under xvs-testkit's
//! counting global allocator (allocations, reallocations and frees on this thread) with a
//! count of zero.

use xvs_proto::build::{self, Frame};
use xvs_proto::{classify, icmp_too_big, nat_icmp, nat_reply, nat_request, tun_encap, Encap};
use xvs_testkit::{count_allocs, CountingAlloc};

#[global_allocator]
static A: CountingAlloc = CountingAlloc;

#[test]
fn hot_path_does_not_allocate() {
    let c = "198.51.100.7:40000".parse().unwrap();
    let v = "10.0.1.100:80".parse().unwrap();
    let r: std::net::SocketAddr = "10.0.2.11:8080".parse().unwrap();
    let frames = [
        build::tcp(c, v, 2, b"x"),
        Frame::udp(c, v).vlan(3).ipv4_options(&[1; 4]).build(),
        build::icmp_error(r.ip(), c.ip(), 3, 3, &build::udp(c, r, b"q")),
    ];
    let mut bufs: Vec<Vec<u8>> = frames
        .iter()
        .map(|f| {
            let mut b = vec![0u8; 64];
            b.extend_from_slice(f);
            b
        })
        .collect();
    let ((), n) = count_allocs(|| {
        for b in bufs.iter_mut() {
            let (mut head, mut len) = (64, b.len() - 64);
            let p = classify(&b[head..head + len]).unwrap();
            let f = &mut b[head..head + len];
            let _ = nat_request(f, &p, r.ip(), r.port());
            let _ = nat_reply(f, &p, r.ip(), r.port());
            let _ = nat_icmp(f, &p, Some(r.ip()), None, None, Some((r.ip(), 1)), true);
            let p = classify(&b[head..head + len]).unwrap();
            tun_encap(b, &mut head, &mut len, &p, r.ip(), r.ip(), Encap::Ipip).unwrap();
            let p = classify(&b[head..head + len]).unwrap();
            icmp_too_big(b, &mut head, &mut len, &p, 1400).unwrap();
        }
    });
    assert_eq!(n, 0, "allocator calls on the hot path");
}
