//! Connection sync on a real link: a master sync daemon (namespace `a`) sends what an
//! engine recorded, a backup daemon (namespace `b`) receives it and another engine
//! installs it; tshark's own IPVS dissector decodes the captured messages to the values
//! xvs sent (the wire format checked independently of xvs's encoder: this kernel has no
//! IPVS to be the peer); malformed messages (lengths, versions, a wrong sync id) are
//! dropped and counted, and nothing of theirs is installed.
//! Needs root, network namespaces and tshark; it fails, it does not skip, without them.

use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::{Duration, Instant};

use xvs::sync::daemon::{Role, Settings, SyncDaemons};
use xvs_datapath::sync_link::{LoopSync, SyncLink};
use xvs_engine::{Engine, EngineConfig, Forward, FrameBuf, NeighborSpec, RealSpec, ServiceSpec, Verdict};
use xvs_lab::Lab;
use xvs_proto::build::Frame;
use xvs_proto::tcp_flags::{ACK, SYN};

const VIP: &str = "192.168.20.50";
const REALS: [&str; 2] = ["192.168.20.233", "192.168.20.203"];

fn cfg() -> EngineConfig {
    let reals = REALS
        .iter()
        .map(|r| RealSpec {
            addr: r.parse().unwrap(),
            port: 80,
            weight: 1,
            forward: Forward::Dr,
            upper_threshold: 0,
            lower_threshold: 0,
            tunnel: Default::default(),
        })
        .collect();
    let neighbors = REALS
        .iter()
        .map(|r| NeighborSpec {
            ip: r.parse().unwrap(),
            mac: [2, 0, 0, 0, 0, 9],
            default: false,
            port: None,
            clients_only: false,
        })
        .collect();
    EngineConfig {
        services: vec![ServiceSpec::new(VIP.parse().unwrap(), 80, 6, "wrr", reals)],
        neighbors,
        ..EngineConfig::default()
    }
}

fn settings(dev: &str, syncid: u8) -> Settings {
    Settings { interface: dev.into(), syncid, maxlen: None, group: "224.0.0.81".parse().unwrap(), port: 8848, ttl: 1 }
}

/// Three established clients through `e` (three packets each: synced on the third).
fn traffic(e: &mut Engine) {
    for i in 1..=3u16 {
        let c: SocketAddr = format!("10.1.0.{i}:{}", 40000 + i).parse().unwrap();
        let v: SocketAddr = format!("{VIP}:80").parse().unwrap();
        for (k, f) in [SYN, ACK, ACK].into_iter().enumerate() {
            let mut b = [FrameBuf::from_bytes(&Frame::tcp(c, v, f).build())];
            let mut out = [Verdict::Pass];
            e.handle_batch(&mut b, (k as u64 + 1) * 1_000_000, &mut out);
            assert!(matches!(out[0], Verdict::Tx { .. }));
        }
    }
}

fn until(what: &str, mut ok: impl FnMut() -> bool) {
    let t0 = Instant::now();
    while !ok() {
        assert!(t0.elapsed() < Duration::from_secs(5), "{what}: not within 5 s");
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn a_master_and_a_backup_sync_over_multicast_and_tshark_decodes_it() {
    let mut lab = Lab::new("sync-wire");
    lab.ns("a").ns("b").veth(("a", "va"), ("b", "vb"));
    lab.addr("a", "va", "10.9.0.1/24").addr("b", "vb", "10.9.0.2/24");
    let dir = std::env::temp_dir().join(lab.name("files"));
    std::fs::create_dir_all(&dir).unwrap();
    let cap = dir.join("sync.pcap").display().to_string();
    // Six messages will come (one from the master, five malformed ones): dumpcap stops
    // by itself after them, so the file is complete when it exits.
    let mut dumpcap = lab.spawn("b", &["dumpcap", "-i", "vb", "-f", "udp port 8848", "-c", "6", "-w", &cap]);
    dumpcap.wait_for_stderr("Capturing on", Duration::from_secs(20));

    let (link_a, link_b) = (Arc::new(SyncLink::new(1)), Arc::new(SyncLink::new(1)));
    let mut backup = lab.in_ns("b", || {
        let mut d = SyncDaemons::new(link_b.clone());
        d.start(Role::Backup, &settings("vb", 51)).unwrap();
        d
    });
    let mut master = lab.in_ns("a", || {
        let mut d = SyncDaemons::new(link_a.clone());
        d.start(Role::Master, &settings("va", 51)).unwrap();
        d
    });
    assert!(master.start(Role::Master, &settings("va", 51)).unwrap_err().contains("already running"));
    let mut ea = Engine::new(cfg(), 0).unwrap();
    let mut eb = Engine::new(cfg(), 0).unwrap();
    let (mut loop_a, mut loop_b) = (LoopSync::new(0), LoopSync::new(0));
    loop_a.exchange(&link_a, &mut ea, 0); // takes up the master flag
    traffic(&mut ea);
    loop_a.exchange(&link_a, &mut ea, 5_000_000);
    // A partial message leaves once its first entry is 2 s old (IPVS's flush time).
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(master.counters.sent_messages.load(Relaxed), 0, "a partial message left early");
    loop_a.exchange(&link_a, &mut ea, 2_005_000_000);
    until("three entries installed on the backup", || {
        loop_b.exchange(&link_b, &mut eb, 10_000_000);
        eb.live_connections() == 3
    });
    assert_eq!(master.counters.sent_entries.load(Relaxed), 3);
    assert_eq!(backup.counters.received_entries.load(Relaxed), 3);
    let mut want: Vec<_> = ea.connections().iter().map(|c| (c.client, c.cport, c.real, c.state)).collect();
    let mut got: Vec<_> = eb.connections().iter().map(|c| (c.client, c.cport, c.real, c.state)).collect();
    want.sort();
    got.sort();
    assert_eq!(got, want);

    send_malformed(&lab);
    until("five messages dropped", || backup.counters.dropped.iter().map(|d| d.load(Relaxed)).sum::<u64>() == 5);
    let d: Vec<u64> = backup.counters.dropped.iter().map(|d| d.load(Relaxed)).collect();
    assert_eq!(d, vec![3, 1, 1, 0], "length, version, syncid, malformed");
    loop_b.exchange(&link_b, &mut eb, 20_000_000);
    assert_eq!(eb.live_connections(), 3, "nothing of a dropped message is installed");

    master.stop(Role::Master).unwrap();
    backup.stop(Role::Backup).unwrap();
    assert!(backup.stop(Role::Backup).unwrap_err().contains("no backup sync daemon"));
    until("dumpcap done with six messages", || dumpcap.try_status().is_some());
    check_with_tshark(&lab, &cap, &ea);
    let _ = std::fs::remove_dir_all(&dir);
}

/// Malformed messages to the backup's group: a bad version, another sync id, an entry
/// longer than the message, a truncated message, a stub.
fn send_malformed(lab: &Lab) {
    let good = lab.in_ns("a", || {
        let mut buf = [0u8; 128];
        let mut w = xvs_proto::ipvs_sync::SyncWriter::new(&mut buf, 51).unwrap();
        let mut c = xvs_proto::ipvs_sync::SyncConn {
            protocol: 6,
            flags: 3,
            state: 1,
            cport: 50000,
            vport: 80,
            dport: 80,
            fwmark: 0,
            timeout: 900,
            caddr: "10.1.0.99".parse().unwrap(),
            vaddr: VIP.parse().unwrap(),
            daddr: REALS[0].parse().unwrap(),
        };
        w.push(&c);
        c.cport = 50001;
        w.push(&c);
        w.bytes().to_vec()
    });
    let mut bad_version = good.clone();
    bad_version[5] = 2;
    let mut bad_syncid = good.clone();
    bad_syncid[1] = 52;
    let mut bad_entry = good.clone();
    bad_entry[8 + 3] = 200;
    let short = good[..good.len() - 4].to_vec();
    lab.in_ns("a", || {
        let index = xvs::host::ifindex("va").unwrap();
        let s = xvs::sync::socket::sender("va", index, "224.0.0.81".parse().unwrap(), 8848, 1).unwrap();
        for m in [&bad_version, &bad_syncid, &bad_entry, &short, &good[..3].to_vec()] {
            s.send(m).unwrap();
        }
    });
}

/// tshark's dissector, on what the master sent (`cap`), agrees with `ea`'s connections.
fn check_with_tshark(lab: &Lab, cap: &str, ea: &Engine) {
    let fields = [
        "ipvs.syncid",
        "ipvs.conncount",
        "ipvs.caddr",
        "ipvs.vaddr",
        "ipvs.daddr",
        "ipvs.cport",
        "ipvs.vport",
        "ipvs.dport",
        "ipvs.state",
        "ipvs.timeout",
        "ipvs.flags.v1",
    ];
    let mut args = vec![
        "tshark",
        "-r",
        &cap,
        "-Y",
        "ip.src == 10.9.0.1 && ip.dst == 224.0.0.81",
        "-T",
        "fields",
        "-E",
        "separator=;",
        "-E",
        "aggregator=,",
    ];
    for f in &fields {
        args.extend_from_slice(&["-e", f]);
    }
    let out = lab.run("b", &args);
    let line = out.lines().next().unwrap_or_else(|| panic!("tshark decoded nothing:\n{out}"));
    let cols: Vec<&str> = line.split(';').collect();
    assert_eq!(&cols[..2], &["51", "3"], "{line}");
    let mut clients: Vec<&str> = cols[2].split(',').collect();
    clients.sort();
    assert_eq!(clients, vec!["10.1.0.1", "10.1.0.2", "10.1.0.3"], "{line}");
    assert_eq!(cols[3], [VIP; 3].join(","), "{line}");
    let reals: Vec<IpAddr> = cols[4].split(',').map(|a| a.parse().unwrap()).collect();
    let sent: Vec<IpAddr> = {
        let mut by_client: Vec<_> = ea.connections().iter().map(|c| (c.cport, c.real)).collect();
        by_client.sort();
        by_client.into_iter().map(|(_, r)| r).collect()
    };
    assert_eq!(reals, sent, "{line}");
    assert_eq!(cols[5], "40001,40002,40003", "{line}");
    assert_eq!(
        (cols[6], cols[7], cols[8], cols[9]),
        ("80,80,80", "80,80,80", "0x0001,0x0001,0x0001", "900,900,900"),
        "{line}"
    );
    assert_eq!(cols[10], "0x00000003,0x00000003,0x00000003", "DR (IP_VS_CONN_F_DROUTE), established: {line}");
}
