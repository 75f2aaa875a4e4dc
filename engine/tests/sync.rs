//! Connection sync in the engine, with IPVS's semantics: a master records a connection on
//! its `threshold`-th incoming packet, every `period` packets after, and at once on a
//! change to a closing state, its template with it; a backup installs entries with their
//! timeouts, so that after a failover a flow (and a persistent client's next connection)
//! reaches the same real; entries for unknown reals are installed unbound; a connection
//! replaced on the master is replaced here, and the old one's expiry notice is ignored.

mod common;

use std::net::IpAddr;

use common::*;
use xvs_engine::sync::SyncOutcome;
use xvs_engine::{EngineConfig, Forward, NeighborSpec, Verdict};
use xvs_proto::ipvs_sync::{conn_flags, SyncConn};

const TX: Verdict = Verdict::Tx { port: 0 };

fn wrr(fwd: Forward, rport: u16) -> EngineConfig {
    simple(false, TCP, 80, rport, fwd, "wrr", 3)
}

fn reals() -> Vec<IpAddr> {
    (0..3).map(|i| rip(false, i)).collect()
}

fn drain(lb: &mut Lb) -> Vec<SyncConn> {
    let mut v = Vec::new();
    lb.e.poll_sync(|c| v.push(*c));
    v
}

fn master(cfg: EngineConfig) -> Lb {
    let mut lb = Lb::new(cfg);
    lb.e.set_sync_master(true);
    lb
}

/// An established DR connection of `client` to the VIP's port 80, on `daddr`.
fn entry(client: std::net::SocketAddr, daddr: IpAddr) -> SyncConn {
    SyncConn {
        protocol: TCP,
        flags: conn_flags::DROUTE,
        state: 1,
        cport: client.port(),
        vport: 80,
        dport: 80,
        fwmark: 0,
        timeout: 900,
        caddr: client.ip(),
        vaddr: vip4(),
        daddr,
    }
}

#[test]
fn master_syncs_at_the_threshold_every_period_and_on_closing() {
    let mut lb = master(wrr(Forward::Dr, 80));
    let c = sa(cip(false, 0), 40000);
    assert_eq!(lb.verdict(&tcp(c, sa(vip4(), 80), SYN), 0), TX);
    assert_eq!(lb.verdict(&tcp(c, sa(vip4(), 80), ACK), 1), TX);
    assert!(drain(&mut lb).is_empty(), "not before the third packet");
    let (_, out) = lb.send(&tcp(c, sa(vip4(), 80), ACK), 2);
    let real = which_real(&out, &reals());
    let got = drain(&mut lb);
    assert_eq!(got, vec![entry(c, real)]);
    // Packets 4..=52: nothing; packet 53 (53 % 50 == 3): again.
    for k in 4..=52 {
        lb.verdict(&tcp(c, sa(vip4(), 80), ACK), k);
    }
    assert!(drain(&mut lb).is_empty());
    lb.verdict(&tcp(c, sa(vip4(), 80), ACK), 53);
    assert_eq!(drain(&mut lb).len(), 1);
    // A FIN moves it to FIN_WAIT (DR: INPUT_ONLY table): synced at once, inactive.
    lb.verdict(&tcp(c, sa(vip4(), 80), FIN | ACK), 54);
    let got = drain(&mut lb);
    assert_eq!(got.len(), 1);
    assert_eq!((got[0].state, got[0].flags & conn_flags::INACTIVE), (4, conn_flags::INACTIVE));
    assert_eq!(lb.e.stats().sync.recorded, 3);
}

#[test]
fn nothing_is_recorded_unless_a_master() {
    let mut lb = Lb::new(wrr(Forward::Dr, 80));
    let c = sa(cip(false, 0), 40000);
    for (k, f) in [SYN, ACK, ACK, ACK].into_iter().enumerate() {
        lb.verdict(&tcp(c, sa(vip4(), 80), f), k as u64);
    }
    assert!(drain(&mut lb).is_empty());
}

/// Connections of `n` clients on a master, as the backup receives them.
fn synced(lb: &mut Lb, n: u32) -> Vec<(std::net::SocketAddr, IpAddr, SyncConn)> {
    let mut out = Vec::new();
    for i in 0..n {
        let c = sa(cip(false, i), 40000);
        let mut real = None;
        for (k, f) in [SYN, ACK, ACK].into_iter().enumerate() {
            let (_, frame) = lb.send(&tcp(c, sa(vip4(), 80), f), k as u64);
            real = Some(which_real(&frame, &reals()));
        }
        let e = drain(lb);
        assert_eq!(e.len(), 1);
        out.push((c, real.unwrap(), e[0]));
    }
    out
}

#[test]
fn a_backup_forwards_synced_flows_to_their_reals_and_expires_them_on_time() {
    let mut a = master(wrr(Forward::Dr, 80));
    let flows = synced(&mut a, 6);
    let mut b = Lb::new(wrr(Forward::Dr, 80));
    for (_, _, e) in &flows {
        assert_eq!(b.e.handle_sync(e, 10 * NS_PER_MS), SyncOutcome::Installed);
    }
    assert_eq!(b.e.live_connections(), 6);
    // wrr on the backup would deal these out from its own start; sync keeps each on its real.
    for (c, real, _) in &flows {
        assert_eq!(b.state(*c), "ESTABLISHED");
        let (v, out) = b.send(&tcp(*c, sa(vip4(), 80), ACK), 20);
        assert_eq!((v, which_real(&out, &reals())), (TX, *real), "{c}");
    }
    let per_real: Vec<_> = reals().iter().map(|r| b.counts(*r).0).collect();
    assert_eq!(per_real.iter().sum::<u32>(), 6, "all six active: {per_real:?}");
    // Refreshing one keeps it; the others run out 900 s after their last packet.
    b.e.handle_sync(&flows[0].2, 600_000 * NS_PER_MS);
    b.tick_until_reaped(920_100);
    assert_eq!(b.e.live_connections(), 1);
    assert_eq!(b.e.stats().sync.received[SyncOutcome::Installed as usize], 6);
    assert_eq!(b.e.stats().sync.received[SyncOutcome::Updated as usize], 1);
    b.tick_until_reaped(1_500_200);
    assert_eq!(b.e.live_connections(), 0);
}

#[test]
fn a_persistent_clients_template_is_synced_and_keeps_its_next_connections() {
    let mut cfg = wrr(Forward::Dr, 80);
    cfg.services[0].persistence = 600;
    let mut a = master(cfg.clone());
    let c = sa(cip(false, 7), 40000);
    let mut real = None;
    for (k, f) in [SYN, ACK, ACK].into_iter().enumerate() {
        let (_, out) = a.send(&tcp(c, sa(vip4(), 80), f), k as u64);
        real = Some(which_real(&out, &reals()));
    }
    let got = drain(&mut a);
    assert_eq!(got.len(), 2, "the connection, then its template: {got:?}");
    let tpl = got[1];
    assert_eq!(tpl.flags & conn_flags::TEMPLATE, conn_flags::TEMPLATE);
    assert_eq!((tpl.cport, tpl.vport, tpl.timeout), (0, 80, 600));
    let mut b = Lb::new(cfg);
    for e in &got {
        assert_eq!(b.e.handle_sync(e, 0), SyncOutcome::Installed);
    }
    assert_eq!(b.e.live_templates(), 1);
    // New connections of that client, from other ports, all reach the synced real.
    for port in 41000..41010 {
        let (v, out) = b.send(&tcp(sa(c.ip(), port), sa(vip4(), 80), SYN), 5);
        assert_eq!((v, which_real(&out, &reals())), (TX, real.unwrap()));
    }
}

#[test]
fn an_unknown_real_is_installed_unbound_and_binds_when_configured() {
    let extra: IpAddr = "192.168.1.200".parse().unwrap();
    let mut cfg = wrr(Forward::Dr, 80);
    cfg.neighbors.push(NeighborSpec {
        ip: extra,
        mac: mac_for(extra),
        default: false,
        port: None,
        clients_only: false,
    });
    let mut b = Lb::new(cfg.clone());
    let c = sa(cip(false, 1), 40000);
    let e = entry(c, extra);
    assert_eq!(b.e.handle_sync(&e, 0), SyncOutcome::Unbound);
    let (v, out) = b.send(&tcp(c, sa(vip4(), 80), ACK), 1);
    assert_eq!((v, dst_mac(&out)), (TX, mac_for(extra)), "forwarded to the synced address");
    assert!(b.e.services().services[0].dest_ids.iter().all(|r| b.e.services().reals[r.index()].addr != extra));
    // A reload that adds the real makes it a normal one, with the connection counted.
    cfg.services[0].reals.push(real(extra, 80, 1, Forward::Dr));
    b.e.apply(cfg).unwrap();
    assert_eq!(b.counts(extra), (1, 0, 0));
    assert_eq!(b.e.stats().sync.received[SyncOutcome::Unbound as usize], 1);
}

#[test]
fn a_replaced_connection_is_replaced_and_its_expiry_notice_ignored() {
    let mut b = Lb::new(wrr(Forward::Dr, 80));
    let c = sa(cip(false, 2), 40000);
    let entry = |daddr: IpAddr, flags: u32, state: u16| SyncConn { flags, state, ..entry(c, daddr) };
    let (r0, r1) = (rip(false, 0), rip(false, 1));
    assert_eq!(b.e.handle_sync(&entry(r0, conn_flags::DROUTE, 1), 0), SyncOutcome::Installed);
    assert_eq!(b.e.handle_sync(&entry(r1, conn_flags::DROUTE, 1), 0), SyncOutcome::Installed);
    assert_eq!((b.counts(r0).0, b.counts(r1).0), (0, 1));
    let stale = entry(r0, conn_flags::DROUTE | conn_flags::INACTIVE, 5);
    assert_eq!(b.e.handle_sync(&stale, 0), SyncOutcome::Stale);
    assert_eq!(b.conn(c).unwrap().real, r1);
    // Same real, new state: updated in place, the counts follow.
    let closing = entry(r1, conn_flags::DROUTE | conn_flags::INACTIVE, 5);
    assert_eq!(b.e.handle_sync(&closing, 0), SyncOutcome::Updated);
    assert_eq!(b.counts(r1), (0, 1, 0));
    assert_eq!(b.state(c), "TIME_WAIT");
}

#[test]
fn nat_replies_of_a_synced_connection_route_to_the_client_until_it_speaks() {
    let gw_mac: Mac = [0x02, 0xee, 0, 0, 0, 1];
    let mut cfg = wrr(Forward::Nat, 8080);
    cfg.neighbors.push(NeighborSpec {
        ip: "192.0.2.254".parse().unwrap(),
        mac: gw_mac,
        default: true,
        port: None,
        clients_only: false,
    });
    let mut a = master(cfg.clone());
    let flows = synced(&mut a, 1);
    let (c, real, e) = flows[0];
    assert_eq!((e.flags & conn_flags::FWD_MASK, e.dport), (conn_flags::MASQ, 8080));
    let mut b = Lb::new(cfg);
    assert_eq!(b.e.handle_sync(&e, 0), SyncOutcome::Installed);
    let (v, out) = b.send(&reply_tcp(sa(real, 8080), c, ACK), 1);
    assert_eq!((v, dst_mac(&out)), (TX, gw_mac), "no client MAC yet: the route's next hop");
    verify_checksums(&out).unwrap();
    b.send(&tcp(c, sa(vip4(), 80), ACK), 2);
    let (_, out) = b.send(&reply_tcp(sa(real, 8080), c, ACK), 3);
    assert_eq!(dst_mac(&out), CLIENT_MAC, "learnt from the client's packet");
}

#[test]
fn entries_that_match_nothing_here_are_counted_not_installed() {
    let mut b = Lb::new(wrr(Forward::Dr, 80));
    let base = entry(sa(cip(false, 3), 1), rip(false, 0));
    let cases = [
        (SyncConn { vport: 81, ..base }, SyncOutcome::NoService),
        (SyncConn { protocol: UDP, ..base }, SyncOutcome::NoService),
        (SyncConn { state: 11, ..base }, SyncOutcome::Unsupported),
        (SyncConn { flags: conn_flags::BYPASS, ..base }, SyncOutcome::Unsupported),
        (SyncConn { daddr: rip(true, 0), ..base }, SyncOutcome::Unsupported),
        (SyncConn { flags: conn_flags::TEMPLATE | conn_flags::DROUTE, ..base }, SyncOutcome::NoService),
    ];
    for (e, want) in cases {
        assert_eq!(b.e.handle_sync(&e, 0), want, "{e:?}");
    }
    assert_eq!(b.e.live_connections(), 0);
}

#[test]
fn a_refresh_period_resyncs_a_busy_connection_as_its_timeout_moves() {
    // IPVS with sync_refresh_period 10 s and no packet period: a connection is synced
    // when it becomes established, then again whenever its end time moved by 10 s.
    let mut cfg = wrr(Forward::Dr, 80);
    cfg.sync = xvs_engine::sync::SyncParams { threshold: 3, period: 0, refresh_period_ms: 10_000 };
    let mut lb = master(cfg);
    let c = sa(cip(false, 0), 40000);
    lb.verdict(&tcp(c, sa(vip4(), 80), SYN), 0);
    lb.verdict(&tcp(c, sa(vip4(), 80), ACK), 1);
    assert_eq!(drain(&mut lb).len(), 1, "synced on becoming established");
    // A packet a second: nothing until the end time moved by 10 s (units of 1.024 s).
    let mut synced_at = Vec::new();
    for s in 1..=25u64 {
        lb.verdict(&tcp(c, sa(vip4(), 80), ACK), 1 + s * 1000);
        if !drain(&mut lb).is_empty() {
            synced_at.push(s);
        }
    }
    assert_eq!(synced_at.len(), 2, "resynced every ~10 s: {synced_at:?}");
    assert!(synced_at[0] >= 10 && synced_at[0] <= 11 && synced_at[1] - synced_at[0] >= 10, "{synced_at:?}");
}

#[test]
fn a_standby_service_takes_no_new_connection_but_forwards_synced_ones() {
    // A VRRP BACKUP's services: steered to the engine, known to it, on standby.
    let mut cfg = wrr(Forward::Dr, 80);
    cfg.standby = vec![vip4()];
    let mut b = Lb::new(cfg);
    let fresh = sa(cip(false, 1), 40001);
    assert_eq!(b.verdict(&tcp(fresh, sa(vip4(), 80), SYN), 0), Verdict::Drop(xvs_engine::DropReason::Standby));
    let c = sa(cip(false, 2), 40002);
    assert_eq!(b.e.handle_sync(&entry(c, rip(false, 1)), 0), SyncOutcome::Installed);
    let (v, out) = b.send(&tcp(c, sa(vip4(), 80), ACK), 1);
    assert_eq!((v, which_real(&out, &reals())), (TX, rip(false, 1)));
}
