//! Generate the bundled demo capture: `gen-demo-capture CONFIG OUT.pcap`.
//!
//! Clients of every service in examples/demo.toml, the reals' NAT replies (the lab runs
//! an engine to know which real answers), and a few stray frames. Deterministic: the same
//! config gives the same capture.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;

use xvs_tests::lab::{stray_frames, Lab};
use xvs_tests::pcap_io::write_pcap;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    if args.len() != 3 {
        return Err("usage: gen-demo-capture CONFIG OUT.pcap".into());
    }
    let cfg = xvs_config::load(&PathBuf::from(&args[1])).map_err(|e| e.to_string())?;
    let mut lab = Lab::new(xvs::engine_config::engine_config(&cfg));
    let vip: IpAddr = "10.0.1.100".parse()?;
    let vip6: IpAddr = "2001:db8:1::100".parse()?;
    let req = b"GET / HTTP/1.0\r\nHost: demo\r\n\r\n";
    let resp = b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok";
    for i in 0..60u16 {
        let client = SocketAddr::new(IpAddr::from([192, 0, 2, 1 + (i % 20) as u8]), 40000 + i);
        lab.tcp_session(client, SocketAddr::new(vip, 80), req, resp);
        lab.wait_ms(7);
        if i % 2 == 0 {
            let c = SocketAddr::new(IpAddr::from([198, 51, 100, 1 + (i % 10) as u8]), 50000 + i);
            lab.tcp_session(c, SocketAddr::new(vip, 443), b"\x16\x03\x01hello", b"");
        }
        if i % 3 == 0 {
            let c = SocketAddr::new(IpAddr::from([203, 0, 113, 1 + (i % 7) as u8]), 33000 + i);
            lab.udp_exchange(c, SocketAddr::new(vip, 53), b"\x12\x34\x01\x00query", b"answer");
        }
        if i % 4 == 0 {
            let c6: IpAddr = format!("2001:db8:ff::{}", 1 + i).parse()?;
            lab.tcp_session(SocketAddr::new(c6, 41000 + i), SocketAddr::new(vip6, 80), req, resp);
        }
    }
    for frame in stray_frames(vip, "192.0.2.200".parse()?) {
        lab.send(frame);
    }
    write_pcap(&PathBuf::from(&args[2]), &lab.capture)?;
    let s = lab.engine().stats();
    eprintln!("{} frames written ({} forwarded by the recording engine)", lab.capture.len(), s.tx);
    Ok(())
}
