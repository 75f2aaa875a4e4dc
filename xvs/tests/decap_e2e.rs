//! End to end, on a lab of network namespaces: `xvs realserver --decap` on a real server
//! receives IPv4-in-IPv4 and IPv6-in-IPv6 packets (as a TUN director sends them),
//! decapsulates them in XDP, and the kernel delivers the inner datagrams to a socket bound
//! to the VIP; on SIGTERM it leaves the host as it found it. Needs root: fails, never skips.
//!
//! Lab: namespace `dir` (d0: 10.0.2.1/24, 2001:db8:2::1/64) -- veth -- namespace `rs`
//! (r0: 10.0.2.2/24, 2001:db8:2::2/64). Frames are written by hand on an AF_PACKET socket
//! in `dir`, so nothing there needs a tunnel device (this kernel has no ipip module).

use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::time::Duration;

use xvs_lab::Lab;
use xvs_proto::build::Frame;

const XVS: &str = env!("CARGO_BIN_EXE_xvs");
const VIP4: &str = "10.0.1.100";
const VIP6: &str = "2001:db8:1::100";

fn lab(test: &str) -> Lab {
    let mut lab = Lab::new(test);
    lab.ns("dir")
        .ns("rs")
        .veth(("dir", "d0"), ("rs", "r0"))
        .addr("dir", "d0", "10.0.2.1/24")
        .addr("rs", "r0", "10.0.2.2/24")
        .addr("dir", "d0", "2001:db8:2::1/64")
        .addr("rs", "r0", "2001:db8:2::2/64")
        // The inner source (the client) has no route back in `rs`.
        .no_rp_filter("rs")
        .sysctl("rs", "net.ipv4.conf.r0.rp_filter", "0");
    lab
}

/// Sends one Ethernet frame out of `dev` in `ns` on an AF_PACKET socket.
fn send_frame(lab: &Lab, ns: &str, dev: &str, frame: &[u8]) {
    let dev = dev.to_string();
    let frame = frame.to_vec();
    lab.in_ns(ns, move || {
        let ifindex = nix::net::if_::if_nametoindex(dev.as_str()).expect("ifindex");
        // SAFETY: plain socket calls on a descriptor owned here, closed at the end.
        unsafe {
            let fd = libc::socket(libc::AF_PACKET, libc::SOCK_RAW, 0);
            assert!(fd >= 0, "AF_PACKET socket: {}", std::io::Error::last_os_error());
            let mut sll: libc::sockaddr_ll = std::mem::zeroed();
            sll.sll_family = libc::AF_PACKET as u16;
            sll.sll_ifindex = ifindex as i32;
            sll.sll_halen = 6;
            sll.sll_addr[..6].copy_from_slice(&frame[..6]);
            let n = libc::sendto(
                fd,
                frame.as_ptr().cast(),
                frame.len(),
                0,
                (&sll as *const libc::sockaddr_ll).cast(),
                std::mem::size_of::<libc::sockaddr_ll>() as u32,
            );
            let err = std::io::Error::last_os_error();
            libc::close(fd);
            assert_eq!(n, frame.len() as isize, "sendto: {err}");
        }
    });
}

/// A UDP socket bound to `addr` inside `ns`, with a receive timeout.
fn listen(lab: &Lab, ns: &str, addr: SocketAddr) -> UdpSocket {
    lab.in_ns(ns, move || {
        let s = UdpSocket::bind(addr).unwrap_or_else(|e| panic!("bind {addr}: {e}"));
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        s
    })
}

/// The tunnelled frame a TUN director would send: outer `outer_src -> outer_dst` (IPIP or
/// 6in6), inner UDP `client -> vip` carrying `payload`.
fn tunnelled(
    dst_mac: [u8; 6],
    src_mac: [u8; 6],
    outer_src: IpAddr,
    outer_dst: IpAddr,
    client: SocketAddr,
    vip: SocketAddr,
    payload: &[u8],
) -> Vec<u8> {
    let inner = Frame::udp(client, vip).payload(payload).build_ip();
    let proto = if outer_dst.is_ipv4() { 4 } else { 41 };
    Frame::raw(outer_src, outer_dst, proto).payload(&inner).macs(dst_mac, src_mac).build()
}

fn lo_addrs(lab: &Lab) -> String {
    lab.run("rs", &["ip", "-o", "addr", "show", "dev", "lo"])
}

fn arp_sysctls(lab: &Lab) -> Vec<String> {
    let mut v = Vec::new();
    for dev in ["all", "lo", "r0"] {
        for key in ["arp_ignore", "arp_announce"] {
            v.push(lab.read_sysctl("rs", &format!("net.ipv4.conf.{dev}.{key}")));
        }
    }
    v
}

#[test]
fn realserver_decapsulates_ipip_and_6in6_and_undoes_everything() {
    let lab = lab("decap_e2e");
    let before_sysctls = arp_sysctls(&lab);
    let before_lo = lo_addrs(&lab);
    assert!(!before_lo.contains(VIP4) && !before_lo.contains(VIP6));

    let mut rs = lab.spawn("rs", &[XVS, "realserver", "--vip", VIP4, "--vip", VIP6, "--decap", "r0"]);
    rs.wait_for_stdout("decap on r0", Duration::from_secs(10));
    let lo = lo_addrs(&lab);
    assert!(lo.contains(&format!("{VIP4}/32")) && lo.contains(&format!("{VIP6}/128")), "{lo}");
    assert_eq!(arp_sysctls(&lab), ["1", "2", "1", "2", "1", "2"]);
    assert!(lab.run("rs", &["ip", "link", "show", "dev", "r0"]).contains("xdp"));

    let rs_mac = lab.mac("rs", "r0");
    let dir_mac = lab.mac("dir", "d0");
    for (outer_src, outer_dst, client, vip) in [
        ("10.0.2.1", "10.0.2.2", "10.0.9.1:40000", format!("{VIP4}:9999")),
        ("2001:db8:2::1", "2001:db8:2::2", "[2001:db8:9::1]:40000", format!("[{VIP6}]:9999")),
    ] {
        let vip: SocketAddr = vip.parse().unwrap();
        let client: SocketAddr = client.parse().unwrap();
        let sock = listen(&lab, "rs", vip);
        let payload = format!("hello {vip} through the tunnel");
        let frame = tunnelled(
            rs_mac,
            dir_mac,
            outer_src.parse().unwrap(),
            outer_dst.parse().unwrap(),
            client,
            vip,
            payload.as_bytes(),
        );
        send_frame(&lab, "dir", "d0", &frame);
        let mut buf = [0u8; 1500];
        let (n, from) =
            sock.recv_from(&mut buf).unwrap_or_else(|e| panic!("nothing arrived at {vip} ({e})\n{}", rs.dump()));
        assert_eq!(&buf[..n], payload.as_bytes());
        assert_eq!(from, client);
    }

    let status = rs.terminate(Duration::from_secs(10));
    assert!(status.success(), "realserver exited {status}\n{}", rs.dump());
    let out = rs.stdout();
    assert!(out.contains("decapsulated 2,"), "{out}");
    assert_eq!(lo_addrs(&lab), before_lo);
    assert_eq!(arp_sysctls(&lab), before_sysctls);
    assert!(!lab.run("rs", &["ip", "link", "show", "dev", "r0"]).contains("xdp"));
}

#[test]
fn realserver_leaves_alone_what_was_there_and_undoes_a_failed_setup() {
    let lab = lab("decap_undo");
    // A VIP that is already on lo must stay after exit.
    lab.run("rs", &["ip", "addr", "add", "10.0.1.7/32", "dev", "lo"]);
    let before_sysctls = arp_sysctls(&lab);
    let before_lo = lo_addrs(&lab);

    // Bad input: nothing is changed, exit 2.
    let o = lab.exec("rs", &[XVS, "realserver", "--vip", VIP4, "--decap", "nope0"], Duration::from_secs(10));
    assert_eq!(o.status.code(), Some(2), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(String::from_utf8_lossy(&o.stderr).contains("no such interface: nope0"));
    assert_eq!(lo_addrs(&lab), before_lo);

    // Decap already attached by another process: the realserver's own attach fails after it
    // added the VIP and wrote the sysctls, so it must undo them and exit 1.
    let mut decap = lab.spawn("rs", &[XVS, "decap", "--iface", "r0"]);
    decap.wait_for_stdout("attached to r0", Duration::from_secs(10));
    let o = lab.exec(
        "rs",
        &[XVS, "realserver", "--vip", VIP4, "--vip", "10.0.1.7", "--decap", "r0"],
        Duration::from_secs(10),
    );
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("cannot attach XDP to r0"), "{stderr}");
    assert_eq!(lo_addrs(&lab), before_lo);
    assert_eq!(arp_sysctls(&lab), before_sysctls);

    let status = decap.terminate(Duration::from_secs(10));
    assert!(status.success(), "{}", decap.dump());
    assert!(decap.stdout().contains("detached from r0"), "{}", decap.dump());
    assert!(!lab.run("rs", &["ip", "link", "show", "dev", "r0"]).contains("xdp"));

    // Without decap, an already-present VIP is reported and kept.
    let mut rs = lab.spawn("rs", &[XVS, "realserver", "--vip", "10.0.1.7", "--vip", VIP4]);
    rs.wait_for_stdout("already there (left alone) [10.0.1.7]", Duration::from_secs(10));
    // Control: without the decap program the kernel (no ipip module) delivers nothing, so
    // the first test's deliveries are the program's doing.
    let vip: SocketAddr = format!("{VIP4}:9999").parse().unwrap();
    let sock = listen(&lab, "rs", vip);
    sock.set_read_timeout(Some(Duration::from_millis(500))).unwrap();
    let (rs_mac, dir_mac) = (lab.mac("rs", "r0"), lab.mac("dir", "d0"));
    let frame = tunnelled(
        rs_mac,
        dir_mac,
        "10.0.2.1".parse().unwrap(),
        "10.0.2.2".parse().unwrap(),
        "10.0.9.1:40000".parse().unwrap(),
        vip,
        b"must not arrive",
    );
    send_frame(&lab, "dir", "d0", &frame);
    assert!(sock.recv_from(&mut [0u8; 1500]).is_err(), "an IPIP packet was delivered without decap");
    assert!(rs.terminate(Duration::from_secs(10)).success(), "{}", rs.dump());
    assert_eq!(lo_addrs(&lab), before_lo);
    assert_eq!(arp_sysctls(&lab), before_sysctls);
}
