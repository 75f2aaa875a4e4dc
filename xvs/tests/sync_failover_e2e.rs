//! Connection sync across a failover, as the seed notes deploy the pair: two `xvs run`,
//! each on the seed's keepalived.conf (wrr over two LVS-DR reals, weights 1 and 2; the
//! MASTER at priority 150) with `lvs_sync_daemon IFACE VI_1` added to `global_defs`, and a
//! persistent service beside it (port 8080, `persistence_timeout 300`).
//!
//! What must hold: a rate-limited 30 MB download through the VIP, started well before the
//! failover (longer than the sync delay), survives `kill -9` of the master: it completes
//! byte-exact through the backup, and a capture on the client shows no RST. wrr is not a
//! hash, so nothing but sync keeps the flow on its real. A persistent client's next
//! connections after the failover reach the real it had. The backup lists the
//! synced connections (`-L -c`); `xvs ctl -L --daemon` prints the daemons as ipvsadm does.
//! Needs root, namespaces, AF_XDP and tshark's dumpcap; it fails, never skips, without them.

mod common;

use std::time::{Duration, Instant};

use common::seed_pair::{has_vip, lan, seed, wait, REALS, VIP};
use common::sync_pair::{ctl, fetch, pattern, real_script, start_xvs, stop_capture_after_fins, try_fetch, SIZE};
use xvs_lab::{Lab, Proc};

/// The seed's file for one director: interface `dev`, priority `prio`, sync on `dev`
/// following VI_1, and a persistent service on 8080.
fn config(dev: &str, prio: u32, master: bool, sync: bool) -> String {
    let file = if master { "seed_master.conf" } else { "seed_backup.conf" };
    let mut c = seed(file).replace("eno16777736", dev).replace("priority 100", &format!("priority {prio}"));
    if sync {
        c = c.replacen("global_defs {", &format!("global_defs {{\n    lvs_sync_daemon {dev} VI_1"), 1);
    }
    c.push_str(&format!(
        "virtual_server {VIP} 8080 {{\n lb_algo wrr\n lb_kind DR\n persistence_timeout 300\n protocol TCP\n \
         real_server {} 8080 {{\n weight 1\n }}\n real_server {} 8080 {{\n weight 2\n }}\n}}\n",
        REALS[0], REALS[1]
    ));
    c
}

/// The pair running: reals, the backup (in `ka`) and the master (in `xv`), the VIP on
/// the master.
struct Pair {
    /// The reals' servers, stopped when the pair is dropped.
    #[expect(dead_code, reason = "a guard: dropping it stops the servers")]
    reals: Vec<Proc>,
    master: Proc,
    backup: Proc,
    dir: std::path::PathBuf,
    lab: Lab,
}

impl Pair {
    fn start(test: &str, sync: bool) -> Pair {
        let mut lab = lan(test);
        lab.forwarding("xv").forwarding("ka");
        let dir = std::env::temp_dir().join(lab.name("files"));
        std::fs::create_dir_all(&dir).unwrap();
        let mut reals = Vec::new();
        for (ns, name) in [("r1", "r1"), ("r2", "r2")] {
            let mut p = lab.spawn(ns, &["python3", "-u", "-c", &real_script(name)]);
            p.wait_for_stdout("listening", Duration::from_secs(10));
            reals.push(p);
        }
        let backup = start_xvs(&lab, "ka", &dir, "b", &config("e0", 100, false, sync));
        let master = start_xvs(&lab, "xv", &dir, "a", &config("d0", 150, true, sync));
        let p = Pair { reals, master, backup, dir, lab };
        wait(
            "the VIP on the master alone",
            Duration::from_secs(10),
            || has_vip(&p.lab, "xv", "d0") && !has_vip(&p.lab, "ka", "e0"),
            || p.logs(),
        );
        let serves = || try_fetch(&p.lab, 80, "/id", Duration::from_secs(2)).is_ok();
        wait("HTTP through the VIP", Duration::from_secs(10), serves, || p.logs());
        p
    }

    fn logs(&self) -> String {
        format!("--- master\n{}\n--- backup\n{}", self.master.stderr(), self.backup.stderr())
    }

    /// Download `/big`; 3 s in, `kill -9` the master. The download's outcome.
    fn download_across_kill_9(&self, stall: Duration, before_kill: impl FnOnce()) -> std::io::Result<Vec<u8>> {
        let t0 = Instant::now();
        let got = std::thread::scope(|s| {
            let dl = s.spawn(|| try_fetch(&self.lab, 80, "/big", stall));
            // Longer than the sync delay (a partial message waits at most 2 s).
            std::thread::sleep(Duration::from_secs(3));
            before_kill();
            self.master.signal(nix::sys::signal::Signal::SIGKILL);
            eprintln!("kill -9 of the master {:?} into the download", t0.elapsed());
            dl.join().expect("the download thread")
        });
        eprintln!("download ended {:?} after it started", t0.elapsed());
        got
    }

    fn finish(self) {
        let dir = self.dir.clone();
        drop(self);
        let _ = std::fs::remove_dir_all(&dir);
    }
}

#[test]
fn a_download_and_a_persistent_client_survive_kill_9_of_the_master() {
    let pair = Pair::start("sync-failover", true);
    let (lab, dir) = (&pair.lab, &pair.dir);
    let logs = || pair.logs();
    let want = "master sync daemon (mcast=d0, syncid=51, maxlen=1472, group=224.0.0.81, port=8848, ttl=1)";
    wait(
        "the master's sync daemon",
        Duration::from_secs(5),
        || ctl(lab, "xv", dir, "a", &["-L", "--daemon"]).trim() == want,
        logs,
    );
    assert!(ctl(lab, "ka", dir, "b", &["-L", "--daemon"]).starts_with("backup sync daemon (mcast=e0, syncid=51"));

    // The persistent client's real, before the failover.
    let sticky = fetch(lab, 8080, "/id");
    // A capture of the client's FINs and RSTs, and the download. The download's own FINs
    // show the capture worked, so that "no RST" proves something.
    let cap = dir.join("rst.pcap").display().to_string();
    let filter = "tcp[tcpflags] & (tcp-rst|tcp-fin) != 0";
    let mut dumpcap = lab.spawn("cl", &["dumpcap", "-i", "c0", "-f", filter, "-w", &cap]);
    dumpcap.wait_for_stderr("Capturing on", Duration::from_secs(20));
    let got = pair.download_across_kill_9(Duration::from_secs(30), || {
        let conns = ctl(lab, "ka", dir, "b", &["-L", "-c", "-n"]);
        assert!(conns.contains(&format!("{VIP}:80")) && conns.contains("ESTABLISHED"), "not synced:\n{conns}");
    });
    let got = got.unwrap_or_else(|e| panic!("the download failed: {e}\n{}", logs()));
    assert!(got.len() == SIZE && got == pattern(), "the download is not byte-exact ({} bytes)\n{}", got.len(), logs());
    assert!(has_vip(lab, "ka", "e0"), "the backup did not take the VIP");
    stop_capture_after_fins(lab, "cl", &cap, &mut dumpcap, logs);
    let flags = lab.run("cl", &["tshark", "-r", &cap, "-T", "fields", "-e", "tcp.flags.fin", "-e", "tcp.flags.reset"]);
    let (fins, rsts) = flags.lines().fold((0, 0), |(f, r), l| {
        let b: Vec<&str> = l.split('\t').collect();
        (
            f + usize::from(b.first().is_some_and(|v| *v == "1" || *v == "True")),
            r + usize::from(b.get(1).is_some_and(|v| *v == "1" || *v == "True")),
        )
    });
    assert!(fins >= 2, "the capture saw no FIN of the download, so it proves nothing:\n{flags}");
    assert_eq!(rsts, 0, "the client saw resets:\n{flags}");

    // After the failover the persistent client stays on its real.
    for _ in 0..6 {
        assert_eq!(fetch(lab, 8080, "/id"), sticky, "a persistent client moved\n{}", logs());
    }
    eprintln!(
        "backup's log:\n{}",
        pair.backup.stderr().lines().filter(|l| l.contains("sync")).collect::<Vec<_>>().join("\n")
    );
    drop(dumpcap);
    pair.finish();
}

/// The control: the same pair and failover without `lvs_sync_daemon`. The backup has no
/// entry for the flow and wrr does not pick up a connection mid-stream, so the download
/// stalls: what sync prevents.
#[test]
fn without_sync_the_same_failover_loses_the_download() {
    let pair = Pair::start("sync-failover-control", false);
    let got = pair.download_across_kill_9(Duration::from_secs(8), || {});
    assert!(got.as_ref().map_or(true, |b| b.len() < SIZE), "the download survived without sync\n{}", pair.logs());
    eprintln!("without sync: {:?}", got.map(|b| b.len()));
    pair.finish();
}
