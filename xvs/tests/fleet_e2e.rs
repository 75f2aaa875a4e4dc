//! The fleet behind ECMP (see `common/fleet.rs` for the lab): three directors announce the
//! VIP over eBGP through ExaBGP and `xvs announce`; the router (BIRD 2) spreads the
//! client's flows over them by an L4 hash. What must hold, with real routing software:
//!
//! - every director carries traffic (at least 15 % of the service frames of 150 long
//!   downloads);
//! - with `mh`, a director's host dying mid-transfer breaks no download: the router drops
//!   its path when the BGP hold time runs out, and the others pick the flows up mid-stream
//!   on the same reals (IPVS's sloppy TCP, safe with a hash scheduler);
//! - a director whose reals all fail their checks withdraws, and announces again when
//!   they pass;
//! - `xvs ctl --drain` takes the path away (the announcer withdraws) while every download
//!   in flight completes, and reports what still arrived; a SIGTERM withdraws before
//!   the director stops;
//! - with `wrr`, a `kill -9` of one `xvs run` breaks nothing with active-active sync, and
//!   breaks downloads without it (the reason sync exists); its announcer withdraws within
//!   a second of the socket going away.
//!
//! Reconvergence times are printed (`--nocapture`) for the record. Needs root, namespaces,
//! AF_XDP, BIRD 2 and ExaBGP (scripts/setup.sh installs them); it fails, never skips.

mod common;

use std::time::{Duration, Instant};

use common::fleet::{director_ip, outcome, Fleet, Setup, Speaker, DIRECTORS, HOLD_S};

/// 150 downloads of 768 KiB at 64 KiB/s: about 12 s each.
const CONNS: usize = 150;
const SIZE: usize = 768 * 1024;
const RATE: usize = 64 * 1024;

/// Every director's share of the service frames since `before`.
fn shares(fleet: &Fleet, before: &[u64]) -> Vec<f64> {
    let now: Vec<u64> = (0..DIRECTORS).map(|i| fleet.frames(i) - before[i]).collect();
    let total: u64 = now.iter().sum();
    now.iter().map(|n| *n as f64 / total.max(1) as f64).collect()
}

#[test]
fn mh_fleet_spreads_survives_a_dead_director_withdraws_and_drains() {
    let mut fleet = Fleet::start("fleet-mh", Setup::three("mh", false));
    let before: Vec<u64> = (0..DIRECTORS).map(|i| fleet.frames(i)).collect();
    let client = fleet.downloads(CONNS, SIZE, RATE);
    std::thread::sleep(Duration::from_secs(3));
    let s = shares(&fleet, &before);
    println!("mh: shares of the service frames over the three directors: {s:.3?}");
    assert!(s.iter().all(|x| *x >= 0.15), "every director carries at least 15 %: {s:?}\n{}", fleet.logs());

    // d3's host dies mid-transfer: the router notices when the hold time runs out.
    let t0 = Instant::now();
    fleet.kill_host(2);
    fleet.wait_paths("the dead director's path is gone", 2, Duration::from_secs(HOLD_S as u64 + 5));
    let reconverged = t0.elapsed();
    println!("mh: the router dropped the dead director's path {reconverged:.2?} after it died (hold time {HOLD_S} s)");
    assert!(!fleet.paths().contains(&director_ip(2)));
    let (ok, broken) = outcome(client);
    assert!(broken.is_empty(), "mh: {} of {CONNS} downloads broke: {broken:?}\n{}", broken.len(), fleet.logs());
    assert_eq!(ok, CONNS);

    // d2 loses its reals (its checks cannot reach them): it withdraws, d1 carries alone.
    let block = ["nft", "add", "table", "inet", "cut"];
    fleet.lab.run("d2", &block);
    fleet.lab.run("d2", &["nft", "add chain inet cut out { type filter hook output priority 0 ; }"]);
    fleet.lab.run("d2", &["sh", "-c", "nft add rule inet cut out tcp dport 80 reject with tcp reset"]);
    let t0 = Instant::now();
    fleet.wait_paths("a director whose reals are down withdraws", 1, Duration::from_secs(10));
    println!("mh: d2 withdrew {:.2?} after its reals became unreachable", t0.elapsed());
    assert_eq!(fleet.paths(), [director_ip(0)]);
    let (ok, broken) = outcome(fleet.downloads(20, 64 * 1024, 256 * 1024));
    assert!(broken.is_empty() && ok == 20, "traffic shifts to the others: {broken:?}");
    fleet.lab.run("d2", &["nft", "delete", "table", "inet", "cut"]);
    fleet.wait_paths("the director announces again once its reals pass", 2, Duration::from_secs(10));

    // Drain d1 while downloads run through both: its path goes, nothing breaks.
    let client = fleet.downloads(CONNS, SIZE / 2, RATE);
    std::thread::sleep(Duration::from_secs(2));
    let t0 = Instant::now();
    let xvs = common::xvs().display().to_string();
    let sock = fleet.socket(0);
    let drain =
        fleet.lab.spawn("d1", &[&xvs, "ctl", "-c", &sock, "--drain", "--idle", "2", "--timeout", "40", "--json"]);
    fleet.wait_paths("the drained director's path is gone", 1, Duration::from_secs(5));
    println!("mh: the router dropped the drained director's path {:.2?} after --drain", t0.elapsed());
    assert_eq!(fleet.paths(), [director_ip(1)]);
    let (ok, broken) = outcome(client);
    assert!(broken.is_empty(), "drain: {} of {CONNS} downloads broke: {broken:?}\n{}", broken.len(), fleet.logs());
    assert_eq!(ok, CONNS);
    let mut drain = drain;
    drain.wait_for_stdout("outcome", Duration::from_secs(40));
    let report: serde_json::Value = serde_json::from_str(drain.stdout().trim()).unwrap();
    println!("mh: drain report {report}");
    assert_eq!(report["outcome"], "quiet", "{report}");
    let listing: serde_json::Value = serde_json::from_str(fleet.ctl(0, &["-Ln", "--json"]).trim()).unwrap();
    assert_eq!(listing["director"]["draining"], true, "the listing says the director drains");
    assert!(report["withdrawn_after_ms"].as_u64().is_some_and(|ms| ms < 1000), "{report}");
    // Undrained, it announces again.
    fleet.ctl(0, &["--undrain"]);
    fleet.wait_paths("an undrained director announces again", 2, Duration::from_secs(5));
    let listing: serde_json::Value = serde_json::from_str(fleet.ctl(0, &["-Ln", "--json"]).trim()).unwrap();
    assert_eq!(listing["director"]["draining"], false);

    // SIGTERM withdraws before the steering detaches: the path is gone while xvs still runs.
    let mut d1 = fleet.members[0].xvs.take().unwrap();
    d1.signal(nix::sys::signal::Signal::SIGTERM);
    fleet.wait_paths("a stopping director withdraws", 1, Duration::from_secs(3));
    assert!(d1.try_status().is_none(), "the path went before xvs stopped:\n{}", d1.dump());
    assert!(d1.terminate(Duration::from_secs(10)).success(), "{}", d1.dump());
    assert!(d1.stderr().contains("draining first"), "{}", d1.stderr());
}

/// `wrr` over the fleet: d3's `xvs run` is killed mid-transfer (its ExaBGP lives on, so
/// its announcer withdraws): (downloads that completed, the broken ones, time to withdraw).
fn wrr_kill(test: &str, sync: bool) -> (usize, Vec<String>, Duration) {
    let mut fleet = Fleet::start(test, Setup::three("wrr", sync));
    let client = fleet.downloads(CONNS, SIZE, RATE);
    // Past IPVS's 2 s flush time, so every connection has been sent to the others.
    std::thread::sleep(Duration::from_secs(4));
    let t0 = Instant::now();
    let xvs = fleet.members[2].xvs.take().unwrap();
    xvs.signal(nix::sys::signal::Signal::SIGKILL);
    fleet.wait_paths("the killed director's path is withdrawn", 2, Duration::from_secs(5));
    let withdrawn = t0.elapsed();
    let (ok, broken) = outcome(client);
    if sync {
        let synced = fleet.ctl(0, &["-L", "--daemon"]);
        assert!(synced.contains("master sync daemon") && synced.contains("backup sync daemon"), "{synced}");
    }
    (ok, broken, withdrawn)
}

#[test]
fn wrr_fleet_with_active_active_sync_survives_a_kill() {
    let (ok, broken, withdrawn) = wrr_kill("fleet-wrr-sync", true);
    println!("wrr + sync: the announcer withdrew {withdrawn:.2?} after kill -9 of xvs run; {ok} completed");
    assert!(withdrawn < Duration::from_secs(2), "withdrawn within a second (and the route gone): {withdrawn:?}");
    assert!(broken.is_empty(), "wrr + sync: {} of {CONNS} downloads broke: {broken:?}", broken.len());
}

#[test]
fn wrr_fleet_without_sync_breaks_the_dead_directors_connections() {
    let (ok, broken, withdrawn) = wrr_kill("fleet-wrr", false);
    println!(
        "wrr without sync: {} of {CONNS} downloads broke after kill -9 of one director ({ok} completed; withdrawn \
         after {withdrawn:.2?})",
        broken.len()
    );
    assert!(!broken.is_empty(), "without sync, the dead director's connections land where nothing knows them");
}

/// BIRD 2 as the directors' speaker instead of ExaBGP: `xvs announce --bird-include`
/// keeps the include file and reconfigures BIRD; the route follows the director through
/// a drain, an undrain and a `kill -9`.
#[test]
fn bird_as_the_directors_speaker_follows_the_director() {
    let setup = Setup { scheduler: "mh", sync: false, directors: 1, speaker: Speaker::Bird };
    let mut fleet = Fleet::start("fleet-bird", setup);
    assert_eq!(fleet.paths(), [director_ip(0)]);
    let (ok, broken) = outcome(fleet.downloads(20, 64 * 1024, 256 * 1024));
    assert!(broken.is_empty() && ok == 20, "traffic through the BIRD-announced director: {broken:?}");
    let report = fleet.ctl(0, &["--drain", "--idle", "0.5", "--timeout", "10"]);
    assert!(report.contains("routes withdrawn"), "{report}");
    fleet.wait_paths("a drained director's route is withdrawn", 0, Duration::from_secs(5));
    fleet.ctl(0, &["--undrain"]);
    fleet.wait_paths("an undrained director announces again", 1, Duration::from_secs(5));
    let t0 = Instant::now();
    fleet.members[0].xvs.take().unwrap().signal(nix::sys::signal::Signal::SIGKILL);
    fleet.wait_paths("a killed director's route is withdrawn", 0, Duration::from_secs(5));
    println!("bird: the route went {:.2?} after kill -9 of xvs run", t0.elapsed());
}
