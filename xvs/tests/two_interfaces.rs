//! A director with a client-facing and a real-facing interface (the classic LVS-NAT
//! layout): requests arrive on d0 and must leave on d1 toward the reals, replies arrive
//! on d1 and must leave on d0 toward the client, each with the director's own MAC of the
//! interface it leaves on.

use std::net::SocketAddr;
use std::time::Duration;

use xvs_lab::director::real_server_script;
use xvs_lab::http::http_get;
use xvs_lab::Lab;

fn get(addr: SocketAddr) -> String {
    http_get(addr, "/").expect("HTTP GET through the VIP")
}

#[test]
fn nat_between_two_interfaces() {
    let xvs = env!("CARGO_BIN_EXE_xvs");
    let mut lab = Lab::new("two_ifaces");
    lab.ns("cl").ns("dir").ns("sw").ns("r0").ns("r1");
    lab.veth(("cl", "c0"), ("dir", "d0"));
    lab.run("sw", &["ip", "link", "add", "br0", "type", "bridge"]);
    lab.run("sw", &["ip", "link", "set", "br0", "up"]);
    for (i, (ns, dev)) in [("dir", "d1"), ("r0", "e0"), ("r1", "e0")].iter().enumerate() {
        let port = format!("p{i}");
        lab.veth((ns, dev), ("sw", &port));
        lab.run("sw", &["ip", "link", "set", &port, "master", "br0"]);
    }
    for ns in ["cl", "dir", "r0", "r1"] {
        lab.run(ns, &["ip", "link", "set", "lo", "up"]);
    }
    lab.addr("cl", "c0", "10.0.0.2/24").addr("dir", "d0", "10.0.0.1/24").addr("dir", "d1", "10.0.2.1/24");
    lab.addr("r0", "e0", "10.0.2.11/24").addr("r1", "e0", "10.0.2.12/24");
    lab.route("cl", "10.0.1.0/24 via 10.0.0.1");
    lab.route("r0", "default via 10.0.2.1").route("r1", "default via 10.0.2.1");
    lab.forwarding("dir").no_rp_filter("dir");
    let mut procs = Vec::new();
    for i in 0..2 {
        let mut p = lab.spawn(&format!("r{i}"), &["python3", "-u", "-c", &real_server_script(i, 8080, 5353)]);
        p.wait_for_stdout("listening", Duration::from_secs(10));
        procs.push(p);
    }
    let dir = std::env::temp_dir().join(format!("xvs-two-ifaces-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let cfg = dir.join("xvs.toml");
    std::fs::write(
        &cfg,
        format!(
            "[director]\ninterfaces = [\"d0\", \"d1\"]\npoll = \"adaptive\"\ncores = [0]\nmax_connections = 10000\n\
             control_socket = \"{}\"\n\n[[service]]\nvip = \"10.0.1.100:80\"\nscheduler = \"rr\"\nforward = \"nat\"\n\
             [[service.real]]\naddr = \"10.0.2.11:8080\"\n[[service.real]]\naddr = \"10.0.2.12:8080\"\n",
            dir.join("xvs.sock").display()
        ),
    )
    .unwrap();
    let mut director = lab.spawn("dir", &[xvs, "run", "-c", cfg.to_str().unwrap()]);
    director.wait_for_stderr("running:", Duration::from_secs(20));
    // The reals' MACs are learned from the kernel: give the first resolution a moment.
    lab.in_ns("dir", || {
        for ip in ["10.0.2.11", "10.0.2.12"] {
            let _ = std::net::UdpSocket::bind("0.0.0.0:0").and_then(|s| s.send_to(b"", (ip, 9)));
        }
    });
    std::thread::sleep(Duration::from_millis(1500));
    let vip: SocketAddr = "10.0.1.100:80".parse().unwrap();
    let bodies: Vec<String> = lab.in_ns("cl", || (0..20).map(|_| get(vip)).collect());
    for i in 0..2 {
        let n = bodies.iter().filter(|b| b.ends_with(&format!("real {i}\n"))).count();
        assert_eq!(n, 10, "real {i} served {n} of 20\n{}", director.dump());
    }
    // Requests left on d1 with d1's MAC, replies on d0 with d0's MAC: the client saw
    // replies from the director's d0 address.
    let d0 = lab.mac("dir", "d0");
    let neigh = lab.run("cl", &["ip", "neigh", "show", "10.0.0.1"]);
    let mac = d0.iter().map(|b| format!("{b:02x}")).collect::<Vec<_>>().join(":");
    assert!(neigh.contains(&mac), "client's neighbour entry {neigh:?} is not d0's MAC {mac}");
    director.terminate(Duration::from_secs(5));
    let _ = std::fs::remove_dir_all(&dir);
}
