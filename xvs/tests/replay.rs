//! `xvs replay` as a user runs it: captures generated here (and the bundled demo)
//! replayed by the binary, outputs checked frame by frame against frames built
//! independently, determinism, and refusal of non-Ethernet captures.

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::Command;

use xvs_proto::build::Frame;
use xvs_proto::tcp_flags as f;
use xvs_tests::checks::{hex, verify_checksums};
use xvs_tests::lab::{CLIENT_MAC, DIRECTOR_MAC};
use xvs_tests::pcap_io::{read_pcap, write_pcap, write_pcap_linktype, Captured};

const REAL_MAC: [u8; 6] = [0x02, 0, 0, 0, 0x02, 0x11];

fn xvs() -> Command {
    Command::new(env!("CARGO_BIN_EXE_xvs"))
}

fn tmpdir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("xvs-replay-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn run_replay(config: &Path, input: &Path, output: &Path) -> String {
    let out = xvs().arg("replay").arg("-c").arg(config).arg(input).arg(output).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(out.status.success(), "xvs replay failed: {}\n{stdout}", String::from_utf8_lossy(&out.stderr));
    stdout
}

fn workspace_file(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(rel)
}

#[test]
fn bundled_demo_replays_deterministically_with_valid_frames() {
    let dir = tmpdir("demo");
    let (a, b) = (dir.join("a.pcap"), dir.join("b.pcap"));
    let cfg = workspace_file("examples/demo.toml");
    let input = workspace_file("examples/demo.pcap");
    let summary = run_replay(&cfg, &input, &a);
    run_replay(&cfg, &input, &b);
    assert_eq!(std::fs::read(&a).unwrap(), std::fs::read(&b).unwrap(), "replay is not deterministic");

    let frames = read_pcap(&a).unwrap();
    let inputs = read_pcap(&input).unwrap();
    assert!(summary.contains(&format!("packets in:  {}", inputs.len())), "{summary}");
    assert!(summary.contains(&format!("packets out: {}", frames.len())), "{summary}");
    assert!(summary.contains("truncated: 1") && summary.contains("tcp_no_conn: 1"), "{summary}");
    for (i, (_, fr)) in frames.iter().enumerate() {
        verify_checksums(fr).unwrap_or_else(|e| panic!("output frame {i}: {e}: {}", hex(fr)));
    }
    // wrr 3:2:1 over 60 connections on port 80: exactly 30/20/10.
    for (real, conns) in [("10.0.2.11:8080", 30), ("10.0.2.12:8080", 20), ("10.0.2.13:8080", 10)] {
        let line = summary.lines().find(|l| l.contains(real)).unwrap_or_else(|| panic!("{real} missing: {summary}"));
        let n: u64 = line.split_whitespace().nth(4).unwrap().parse().unwrap();
        assert_eq!(n, conns, "{line}");
    }
    // Every NAT reply leaves with the VIP as source, toward the client's MAC.
    let vip: IpAddr = "10.0.1.100".parse().unwrap();
    for (_, fr) in &frames {
        let p = xvs_tests::checks::parse(fr);
        if p.proto == 6 && p.sport == 80 && p.src.is_ipv4() {
            assert_eq!(p.src, vip);
            assert_eq!(&fr[0..6], &CLIENT_MAC);
        }
    }
}

/// Mode x protocol x family, one real each, so every expected frame is known exactly.
#[derive(Clone, Copy, Debug)]
enum Mode {
    Nat,
    Dr,
    Tun,
}

fn config_for(mode: Mode, proto: &str, vip: SocketAddr, real: SocketAddr) -> String {
    let fwd = match mode {
        Mode::Nat => "nat",
        Mode::Dr => "dr",
        Mode::Tun => "tun",
    };
    format!(
        r#"[director]
max_connections = 1000
address = "10.0.2.1"
address6 = "2001:db8:2::1"

[[service]]
vip = "{vip}"
protocol = "{proto}"
scheduler = "rr"
forward = "{fwd}"
  [[service.real]]
  addr = "{real}"

[[neighbor]]
ip = "{rip}"
mac = "02:00:00:00:02:11"
"#,
        rip = real.ip()
    )
}

/// The outer header TUN must prepend, built here byte by byte from DESIGN.md's rules.
fn tun_expected(inner_frame: &[u8], src: IpAddr, dst: IpAddr) -> Vec<u8> {
    let inner = &inner_frame[14..];
    let mut out = Vec::new();
    out.extend_from_slice(&REAL_MAC);
    out.extend_from_slice(&DIRECTOR_MAC);
    match (src, dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            out.extend_from_slice(&[0x08, 0x00]);
            let total = (inner.len() + 20) as u16;
            let df = inner[6] & 0x40 != 0;
            let id = if df { [0, 0] } else { [inner[4], inner[5]] };
            let mut h = vec![0x45, inner[1]];
            h.extend_from_slice(&total.to_be_bytes());
            h.extend_from_slice(&id);
            h.extend_from_slice(&[if df { 0x40 } else { 0 }, 0, 64, 4, 0, 0]);
            h.extend_from_slice(&s.octets());
            h.extend_from_slice(&d.octets());
            let c = xvs_proto::ipv4_header_checksum(&h);
            h[10..12].copy_from_slice(&c.to_be_bytes());
            out.extend_from_slice(&h);
        }
        (IpAddr::V6(s), IpAddr::V6(d)) => {
            out.extend_from_slice(&[0x86, 0xdd]);
            // version, traffic class and flow label copied from the inner header
            out.extend_from_slice(&inner[0..4]);
            out.extend_from_slice(&(inner.len() as u16).to_be_bytes());
            out.extend_from_slice(&[41, 64]);
            out.extend_from_slice(&s.octets());
            out.extend_from_slice(&d.octets());
        }
        _ => unreachable!(),
    }
    out.extend_from_slice(inner);
    out
}

fn check_mode(mode: Mode, tcp: bool, v6: bool) {
    let (vip, real, client, dip): (SocketAddr, SocketAddr, SocketAddr, IpAddr) = if v6 {
        (
            "[2001:db8:1::100]:80".parse().unwrap(),
            if matches!(mode, Mode::Nat) { "[2001:db8:2::11]:8080" } else { "[2001:db8:2::11]:80" }.parse().unwrap(),
            "[2001:db8:ff::7]:40001".parse().unwrap(),
            "2001:db8:2::1".parse().unwrap(),
        )
    } else {
        (
            "10.0.1.100:80".parse().unwrap(),
            if matches!(mode, Mode::Nat) { "10.0.2.11:8080" } else { "10.0.2.11:80" }.parse().unwrap(),
            "192.0.2.7:40001".parse().unwrap(),
            "10.0.2.1".parse().unwrap(),
        )
    };
    let proto = if tcp { "tcp" } else { "udp" };
    let dir = tmpdir(&format!("{mode:?}-{proto}-{}", if v6 { 6 } else { 4 }));
    let cfg = dir.join("xvs.toml");
    std::fs::write(&cfg, config_for(mode, proto, vip, real)).unwrap();

    let frame = |src: SocketAddr, dst: SocketAddr, fl: u8, data: &[u8], ttl: u8| -> Frame {
        let fr = if tcp { Frame::tcp(src, dst, fl).seq_ack(100, 200) } else { Frame::udp(src, dst) };
        fr.payload(data).ttl(ttl).df(true)
    };
    // client -> VIP packets (TCP: SYN, ACK, data), and for NAT the real's replies.
    let mut input: Vec<Captured> = Vec::new();
    let mut expected: Vec<Vec<u8>> = Vec::new();
    let mut ts = 1_000_000_000u64;
    let steps: &[(bool, u8, &[u8])] = if tcp {
        &[
            (false, f::SYN, b""),
            (true, f::SYN | f::ACK, b""),
            (false, f::ACK, b""),
            (false, f::PSH | f::ACK, b"GET /"),
            (true, f::PSH | f::ACK, b"200 OK"),
        ]
    } else {
        &[(false, 0, b"query"), (true, 0, b"answer"), (false, 0, b"again")]
    };
    for &(from_real, fl, data) in steps {
        if from_real && !matches!(mode, Mode::Nat) {
            continue; // DR/TUN replies bypass the director
        }
        let (inp, exp) = if from_real {
            (
                frame(real, client, fl, data, 63).macs(DIRECTOR_MAC, REAL_MAC).build(),
                frame(vip, client, fl, data, 62).macs(CLIENT_MAC, DIRECTOR_MAC).build(),
            )
        } else {
            let inp = frame(client, vip, fl, data, 50).macs(DIRECTOR_MAC, CLIENT_MAC).build();
            let exp = match mode {
                Mode::Nat => frame(client, real, fl, data, 50).macs(REAL_MAC, DIRECTOR_MAC).build(),
                Mode::Dr => frame(client, vip, fl, data, 50).macs(REAL_MAC, DIRECTOR_MAC).build(),
                Mode::Tun => tun_expected(&inp, dip, real.ip()),
            };
            (inp, exp)
        };
        input.push((ts, inp));
        expected.push(exp);
        ts += 1_000_000;
    }
    let (inp, out) = (dir.join("in.pcap"), dir.join("out.pcap"));
    write_pcap(&inp, &input).unwrap();
    let summary = run_replay(&cfg, &inp, &out);
    let got = read_pcap(&out).unwrap();
    assert_eq!(got.len(), expected.len(), "{mode:?} {proto} v6={v6}: frame count\n{summary}");
    for (i, ((_, g), e)) in got.iter().zip(&expected).enumerate() {
        assert_eq!(hex(g), hex(e), "{mode:?} {proto} v6={v6}: frame {i} differs");
    }
    assert!(summary.contains("connections: 1 created"), "{summary}");
}

/// NAT, DR and TUN, each for TCP and UDP over IPv4 and IPv6.
#[test]
fn frames_are_exact_in_every_mode() {
    for mode in [Mode::Nat, Mode::Dr, Mode::Tun] {
        for (tcp, v6) in [(true, false), (false, false), (true, true), (false, true)] {
            check_mode(mode, tcp, v6);
        }
    }
}

#[test]
fn non_ethernet_capture_is_refused() {
    let dir = tmpdir("raw");
    let inp = dir.join("raw.pcap");
    write_pcap_linktype(&inp, &[(0, vec![0x45; 40])], pcap_file::DataLink::RAW).unwrap();
    let out = xvs()
        .args(["replay", "-c"])
        .arg(workspace_file("examples/demo.toml"))
        .arg(&inp)
        .arg(dir.join("out.pcap"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("not Ethernet"), "{err}");
}

#[test]
fn check_prints_normalized_config_or_located_errors() {
    let ok = xvs().args(["check", "-c"]).arg(workspace_file("examples/demo.toml")).output().unwrap();
    assert!(ok.status.success(), "{}", String::from_utf8_lossy(&ok.stderr));
    let text = String::from_utf8_lossy(&ok.stdout);
    assert!(text.contains("scheduler = \"wrr\"") && text.contains("max_connections = 100000"), "{text}");

    let dir = tmpdir("check");
    let bad = dir.join("bad.toml");
    std::fs::write(&bad, "[[service]]\nvip = \"10.0.1.100:80\"\nschedular = \"rr\"\n").unwrap();
    let out = xvs().args(["check", "-c"]).arg(&bad).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("bad.toml:3:1"), "{err}");
    assert!(err.contains("scheduler"), "{err}");

    // --strict: a warning fails the check too (a keepalived.conf keyword xvs does not use).
    let warned = dir.join("keepalived.conf");
    std::fs::write(
        &warned,
        "global_defs {\n  notification_email_from lb@example.com\n}\nvirtual_server 10.0.1.100 80 {\n  protocol TCP\n  real_server 10.0.2.11 80 {\n  }\n}\n",
    )
    .unwrap();
    let lax = xvs().args(["check", "-c"]).arg(&warned).output().unwrap();
    assert!(lax.status.success(), "{}", String::from_utf8_lossy(&lax.stderr));
    let lax_err = String::from_utf8_lossy(&lax.stderr);
    assert!(
        lax_err.contains("keepalived.conf:1:") && lax_err.contains("warning"),
        "the warning has its place: {lax_err}"
    );
    let strict = xvs().args(["check", "--strict", "-c"]).arg(&warned).output().unwrap();
    assert_eq!(strict.status.code(), Some(2));
    let err = String::from_utf8_lossy(&strict.stderr);
    assert!(err.contains("--strict makes each an error") && strict.stdout.is_empty(), "{err}");
    let clean = xvs().args(["check", "--strict", "-c"]).arg(workspace_file("examples/demo.toml")).output().unwrap();
    assert!(clean.status.success(), "a file without warnings passes --strict");
}

/// A DR config with an mh, an sh and a dh service (ports 80, 81, 82; dh, which hashes the
/// destination, on the prefix 10.0.3.0/24) over ten reals, listed (reals and neighbours)
/// in the order `order` gives.
fn hash_fleet_config(order: &[u8]) -> String {
    let mut c = String::from("[director]\nmax_connections = 100000\n");
    for (vip, port, sched) in [("10.0.1.100", 80, "mh"), ("10.0.1.100", 81, "sh"), ("10.0.3.0/24", 82, "dh")] {
        c += &format!(
            "\n[[service]]\nvip = \"{vip}:{port}\"\nprotocol = \"tcp\"\nscheduler = \"{sched}\"\nforward = \"dr\"\n"
        );
        for &i in order {
            c += &format!("  [[service.real]]\n  addr = \"10.0.2.{}:{port}\"\n  weight = {}\n", 11 + i, 1 + i % 3);
        }
    }
    for &i in order {
        c += &format!("\n[[neighbor]]\nip = \"10.0.2.{}\"\nmac = \"02:00:00:00:02:{:02x}\"\n", 11 + i, 11 + i);
    }
    c
}

/// Two `xvs replay` processes (two directors) given the same reals in different orders
/// send every flow of mh, sh and dh services to the same real: their tables depend on the
/// set of reals, not on the order they were listed or added in (IPVS builds them in list
/// order; a fleet behind ECMP needs them to agree).
#[test]
fn hash_schedulers_agree_across_processes_whatever_the_order_of_the_reals() {
    let dir = tmpdir("fleet");
    let (a_cfg, b_cfg) = (dir.join("a.toml"), dir.join("b.toml"));
    std::fs::write(&a_cfg, hash_fleet_config(&[0, 1, 2, 3, 4, 5, 6, 7, 8, 9])).unwrap();
    std::fs::write(&b_cfg, hash_fleet_config(&[7, 2, 9, 0, 5, 3, 8, 1, 6, 4])).unwrap();
    let mut frames = Vec::new();
    let mut x: u32 = 12345;
    for n in 0..3000u64 {
        x = x.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
        let client =
            SocketAddr::new(IpAddr::from((0xc000_0000u32 | (x >> 8)).to_be_bytes()), 1024 + (x & 0x7fff) as u16);
        let vip = match n % 3 {
            2 => SocketAddr::new(IpAddr::from([10, 0, 3, (x & 0xff) as u8]), 82),
            k => SocketAddr::new(IpAddr::from([10, 0, 1, 100]), 80 + k as u16),
        };
        frames.push((n * 1000, Frame::tcp(client, vip, f::SYN).macs(DIRECTOR_MAC, CLIENT_MAC).build()));
    }
    let input = dir.join("in.pcap");
    write_pcap(&input, &frames).unwrap();
    let (a_out, b_out) = (dir.join("a.pcap"), dir.join("b.pcap"));
    run_replay(&a_cfg, &input, &a_out);
    run_replay(&b_cfg, &input, &b_out);
    let (a, b) = (read_pcap(&a_out).unwrap(), read_pcap(&b_out).unwrap());
    assert_eq!(a.len(), frames.len(), "every SYN forwarded");
    let mut reals = std::collections::BTreeSet::new();
    for (i, ((_, fa), (_, fb))) in a.iter().zip(&b).enumerate() {
        assert_eq!(fa[..6], fb[..6], "flow {i} (port {}) went to different reals", 80 + i % 3);
        reals.insert((i % 3, fa[5]));
    }
    assert_eq!(reals.len(), 30, "every real of every service got flows: {reals:?}");
}
