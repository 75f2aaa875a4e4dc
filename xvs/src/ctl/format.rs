//! The listings, byte for byte as ipvsadm 1.31 prints them with `-n`: `-L` (plain,
//! `--stats`, `--rate`, `--thresholds`, `--persistent-conn`, `--tun-info`, `--exact`),
//! `-L -c`, `-L --timeout`, and `-S`; plus `--json`, the same data for machines.
//!
//! Invariants:
//! - Layouts (headers, column widths, the 33- and 28-character truncation of IPv4 names,
//!   the K/M/G/T abbreviation of large numbers unless `--exact`) are ipvsadm's, so scripts
//!   that parse ipvsadm output read these.
//! - Order is ipvsadm's: services by address family, protocol, address, port; reals by
//!   address, port (`--nosort`: configuration order).
//! - Addresses are always numeric (xvs never resolves names, so `-L` prints what `-Ln`
//!   does). A prefix VIP (an xvs extension) prints as `203.0.113.0/24:80`.
//! - `-S` prints ipvsadm-save lines; xvs adds ` -x U -y L` to a real whose thresholds are
//!   set (ipvsadm's save drops them; its restore reads them), so `-S | -R` round-trips.
//! - Rendering is pure: the daemon builds the views from the model and the counters.
//! - `--json` may carry more than the text layouts (never less): each service's
//!   `failed_reals` (health-check failures IPVS would not list), and the daemon adds a
//!   `director` object (version, uptime, live connections, drops) for `xvs top`. Fields are
//!   only ever added, so JSON readers keep working.

use std::fmt::Write;
use std::net::{IpAddr, SocketAddr};

pub use crate::observe::estimator::Rates as Rate;
use crate::observe::listing::{
    ConnectionListing, ConnectionsListing, Health, Listing, RealListing, ServiceListing, TimeoutsListing,
};
use xvs_config::{Forward, Protocol, Timeouts};
use xvs_engine::{ConnInfo, Counters};

use super::args::{ListOpts, ServiceOpts};

/// IPVS's version and connection-table size as ipvsadm shows them.
pub const IPVS_VERSION: &str = "1.2.1";
pub const IPVS_SIZE: u32 = 4096;

/// A real as listed.
#[derive(Debug, Clone, PartialEq)]
pub struct RealView {
    pub addr: SocketAddr,
    pub forward: Forward,
    /// With `Tun`: its tunnel, for `--tun-info`.
    pub tunnel: xvs_config::Tunnel,
    pub weight: u32,
    pub upper: u32,
    pub lower: u32,
    pub active: u32,
    pub inactive: u32,
    pub persistent: u32,
    pub stats: Counters,
    pub rate: Rate,
    /// The health check's verdict (`None`: not checked), for `--health`.
    pub health: Option<bool>,
}

/// A service as listed.
#[derive(Debug, Clone, PartialEq)]
pub struct ServiceView {
    /// Its definition, as `-A` has it.
    pub opts: ServiceOpts,
    pub stats: Counters,
    pub rate: Rate,
    pub reals: Vec<RealView>,
    /// Reals that failed their health check and are out of the service (as IPVS, the
    /// listings leave them out); only `--json` shows them, as `failed_reals`.
    pub failed: Vec<RealView>,
}

fn addrport(ip: IpAddr, port: u16) -> String {
    match ip {
        IpAddr::V4(a) => format!("{a}:{port}"),
        IpAddr::V6(a) => format!("[{a}]:{port}"),
    }
}

fn proto_name(p: Protocol) -> &'static str {
    match p {
        Protocol::Tcp => "TCP",
        Protocol::Udp => "UDP",
        Protocol::Sctp => "SCTP",
    }
}

/// ipvsadm's `fwd_name`.
pub fn fwd_name(f: Forward) -> &'static str {
    match f {
        Forward::Nat => "Masq",
        Forward::Dr => "Route",
        Forward::Tun => "Tunnel",
    }
}

fn fwd_switch(f: Forward) -> &'static str {
    match f {
        Forward::Nat => "-m",
        Forward::Dr => "-g",
        Forward::Tun => "-i",
    }
}

/// ipvsadm's `print_largenum`.
pub fn largenum(i: u64, exact: bool) -> String {
    if exact {
        let len = i.to_string().len();
        let w = if len <= 8 { 9 } else { len + 1 };
        return format!("{i:>w$}");
    }
    if i < 100_000_000 {
        format!("{i:>9}")
    } else if i < 1_000_000_000 {
        format!("{:>8}K", i / 1000)
    } else if i < 100_000_000_000 {
        format!("{:>8}M", i / 1_000_000)
    } else if i < 100_000_000_000_000 {
        format!("{:>8}G", i / 1_000_000_000)
    } else {
        format!("{:>8}T", i / 1_000_000_000_000)
    }
}

fn truncate(mut s: String, n: usize, v6: bool) -> String {
    if !v6 && s.len() > n {
        s.truncate(n);
    }
    s
}

fn svc_key(s: &ServiceView) -> (u8, u8, IpAddr, u16) {
    (
        s.opts.id.vip.addr.is_ipv6() as u8,
        match (s.opts.id.fwmark, s.opts.id.protocol) {
            (Some(_), _) => 0,
            (None, Protocol::Tcp) => 6,
            (None, Protocol::Udp) => 17,
            (None, Protocol::Sctp) => 132,
        },
        s.opts.id.vip.addr,
        s.opts.id.vip.port,
    )
}

/// The services (and their reals) in listing order.
fn sorted(services: &[ServiceView], nosort: bool) -> Vec<ServiceView> {
    let mut v = services.to_vec();
    if !nosort {
        v.sort_by_key(svc_key);
        for s in &mut v {
            s.reals.sort_by_key(|r| (r.addr.ip(), r.addr.port()));
            s.failed.sort_by_key(|r| (r.addr.ip(), r.addr.port()));
        }
    }
    v
}

/// ipvsadm's `print_title`.
fn title(o: &ListOpts) -> String {
    let cols = |names: [&str; 5]| {
        format!(
            "{:<33} {:>8} {:>8} {:>8} {:>8} {:>8}\n  -> RemoteAddress:Port\n",
            "Prot LocalAddress:Port", names[0], names[1], names[2], names[3], names[4]
        )
    };
    if o.stats {
        cols(["Conns", "InPkts", "OutPkts", "InBytes", "OutBytes"])
    } else if o.rate {
        cols(["CPS", "InPPS", "OutPPS", "InBPS", "OutBPS"])
    } else if o.thresholds {
        format!(
            "{:<33} {:<10} {:<10} {:<10} {:<10}\n  -> RemoteAddress:Port\n",
            "Prot LocalAddress:Port", "Uthreshold", "Lthreshold", "ActiveConn", "InActConn"
        )
    } else if o.persistent_conn {
        format!(
            "{:<33} {:<9} {:<11} {:<10} {:<10}\n  -> RemoteAddress:Port\n",
            "Prot LocalAddress:Port", "Weight", "PersistConn", "ActiveConn", "InActConn"
        )
    } else if o.tun_info {
        "Prot LocalAddress:Port Scheduler Flags\n  -> RemoteAddress:Port           Forward TunnelInfo    Weight ActiveConn InActConn\n".into()
    } else {
        let mut t = String::from(
            "Prot LocalAddress:Port Scheduler Flags\n  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn",
        );
        if o.health {
            t.push_str("  Health");
        }
        t.push('\n');
        t
    }
}

fn health_word(h: Option<bool>) -> &'static str {
    match h {
        None => "-",
        Some(true) => "up",
        Some(false) => "down",
    }
}

fn service_entry(o: &mut String, s: &ServiceView, f: &ListOpts) {
    let v6 = s.opts.id.vip.addr.is_ipv6();
    let name = match s.opts.id.fwmark {
        // ipvsadm: `FWM  1 rr`, `FWM  1 IPv6 rr`.
        Some(m) => format!("FWM  {m}{}", if v6 { " IPv6" } else { "" }),
        None => truncate(format!("{:<4} {}", proto_name(s.opts.id.protocol), s.opts.id.vip), 33, v6),
    };
    if f.stats {
        let c = &s.stats;
        let _ = write!(o, "{name:<33}");
        for n in [c.conns, c.pkts_in, c.pkts_out, c.bytes_in, c.bytes_out] {
            o.push_str(&largenum(n, f.exact));
        }
    } else if f.rate {
        let r = &s.rate;
        let _ = write!(o, "{name:<33}");
        for n in [r.cps, r.in_pps, r.out_pps, r.in_bps, r.out_bps] {
            o.push_str(&largenum(n, f.exact));
        }
    } else {
        let _ = write!(o, "{name} {}", s.opts.scheduler);
        let flags = s.opts.flags.names();
        if !flags.is_empty() {
            let _ = write!(o, " ({})", flags.join(","));
        }
        if s.opts.persistence > 0 {
            let _ = write!(o, " persistent {}", s.opts.persistence);
            if let Some(m) = mask(s) {
                let _ = write!(o, " mask {m}");
            }
        }
        if s.opts.ops {
            o.push_str(" ops");
        }
    }
    o.push('\n');
    for r in &s.reals {
        let d = truncate(addrport(r.addr.ip(), r.addr.port()), 28, r.addr.is_ipv6());
        if f.stats {
            let c = &r.stats;
            let _ = write!(o, "  -> {d:<28}");
            for n in [c.conns, c.pkts_in, c.pkts_out, c.bytes_in, c.bytes_out] {
                o.push_str(&largenum(n, f.exact));
            }
            o.push('\n');
        } else if f.rate {
            let x = &r.rate;
            let _ = write!(o, "  -> {d:<28} {:>8} {:>8} {:>8}", x.cps, x.in_pps, x.out_pps);
            o.push_str(&largenum(x.in_bps, f.exact));
            o.push_str(&largenum(x.out_bps, f.exact));
            o.push('\n');
        } else if f.thresholds {
            let _ = writeln!(o, "  -> {d:<28} {:<10} {:<10} {:<10} {:<10}", r.upper, r.lower, r.active, r.inactive);
        } else if f.persistent_conn {
            let _ =
                writeln!(o, "  -> {d:<28} {:<9} {:<11} {:<10} {:<10}", r.weight, r.persistent, r.active, r.inactive);
        } else if f.tun_info {
            // ipvsadm: `ipip`, `gue:PORT`, `gre`, then the checksum option when set.
            let ti = match (r.forward, r.tunnel.kind) {
                (Forward::Tun, xvs_config::TunnelType::Gue) => format!("gue:{}", r.tunnel.port),
                (Forward::Tun, k) => k.name().to_string(),
                _ => "n/a".to_string(),
            };
            let ti = match r.tunnel.csum {
                xvs_config::TunnelCsum::NoCsum => ti,
                c if r.forward == Forward::Tun => format!("{ti},{c}"),
                _ => ti,
            };
            let _ = writeln!(
                o,
                "  -> {d:<28} {:<7} {ti:<13} {:<6} {:<10} {:<10}",
                fwd_name(r.forward),
                r.weight,
                r.active,
                r.inactive
            );
        } else {
            let _ = write!(
                o,
                "  -> {d:<28} {:<7} {:<6} {:<10} {:<10}",
                fwd_name(r.forward),
                r.weight,
                r.active,
                r.inactive
            );
            if f.health {
                let _ = write!(o, " {}", health_word(r.health));
            }
            o.push('\n');
        }
    }
}

/// The persistence mask as ipvsadm prints it, when it is not the full one.
fn mask(s: &ServiceView) -> Option<String> {
    match s.opts.id.vip.addr {
        IpAddr::V4(_) if s.opts.netmask < 32 => {
            let m = if s.opts.netmask == 0 { 0 } else { u32::MAX << (32 - s.opts.netmask) };
            Some(std::net::Ipv4Addr::from(m).to_string())
        }
        IpAddr::V6(_) if s.opts.netmask < 128 => Some(s.opts.netmask.to_string()),
        _ => None,
    }
}

/// `-L`: every service (with the version header), or only `o.service` (which the caller
/// has checked exists) with the title alone, as ipvsadm does.
pub fn list(services: &[ServiceView], o: &ListOpts) -> String {
    let mut out = String::new();
    if o.service.is_none() {
        let _ = writeln!(out, "IP Virtual Server version {IPVS_VERSION} (size={IPVS_SIZE})");
    }
    out.push_str(&title(o));
    for s in sorted(services, o.nosort) {
        if o.service.is_none() || o.service == Some(s.opts.id) {
            service_entry(&mut out, &s, o);
        }
    }
    out
}

/// `-S`: ipvsadm-save lines.
pub fn save(services: &[ServiceView]) -> String {
    let mut o = String::new();
    for s in sorted(services, false) {
        let name = s.opts.id.rule();
        let _ = write!(o, "-A {name} -s {}", s.opts.scheduler);
        if s.opts.persistence > 0 {
            let _ = write!(o, " -p {}", s.opts.persistence);
            if let Some(m) = mask(&s) {
                let _ = write!(o, " -M {m}");
            }
        }
        if s.opts.ops {
            o.push_str(" -o");
        }
        let flags = s.opts.flags.names();
        if !flags.is_empty() {
            let _ = write!(o, " -b {}", flags.join(","));
        }
        o.push('\n');
        for r in &s.reals {
            let _ = write!(
                o,
                "-a {name} -r {} {} -w {}",
                addrport(r.addr.ip(), r.addr.port()),
                fwd_switch(r.forward),
                r.weight
            );
            if r.forward == Forward::Tun {
                o.push_str(" --tun-type ipip");
            }
            if r.upper > 0 {
                let _ = write!(o, " -x {}", r.upper);
            }
            if r.lower > 0 {
                let _ = write!(o, " -y {}", r.lower);
            }
            o.push('\n');
        }
    }
    o
}

/// `-L --timeout`.
pub fn timeouts(t: &Timeouts) -> String {
    format!("Timeout (tcp tcpfin udp): {} {} {}\n", t.tcp, t.tcp_fin, t.udp)
}

fn conn_proto(p: u8) -> &'static str {
    match p {
        6 => "TCP",
        17 => "UDP",
        _ => "IP",
    }
}

/// `-L -c`: the connection entries (sorted by protocol, virtual, client, for a stable
/// listing; IPVS prints hash order).
pub fn connections(conns: &[ConnInfo]) -> String {
    let mut v: Vec<&ConnInfo> = conns.iter().collect();
    v.sort_by_key(|c| (c.proto, c.vip, c.vport, c.client, c.cport));
    let mut o = String::from("IPVS connection entries\n");
    let _ = writeln!(o, "pro expire {:<11} {:<18} {:<18} destination", "state", "source", "virtual");
    for c in v {
        let secs = c.expires_ms / 1000;
        let expire = format!("{:02}:{:02}", secs / 60, secs % 60);
        let _ = writeln!(
            o,
            "{:<3} {:<6} {:<11} {:<18} {:<18} {}",
            conn_proto(c.proto),
            expire,
            c.state,
            addrport(c.client, c.cport),
            addrport(c.vip, c.vport),
            addrport(c.real, c.rport)
        );
    }
    o
}

fn real_listing(r: &RealView) -> RealListing {
    RealListing {
        address: addrport(r.addr.ip(), r.addr.port()),
        forward: r.forward.name().to_string(),
        weight: r.weight,
        upper_threshold: r.upper,
        lower_threshold: r.lower,
        active: r.active,
        inactive: r.inactive,
        persistent: r.persistent,
        stats: r.stats,
        rates: r.rate,
        health: r.health.map(Health::from_up),
    }
}

fn service_listing(s: &ServiceView) -> ServiceListing {
    ServiceListing {
        protocol: s.opts.id.protocol.name().to_string(),
        vip: s.opts.id.vip.to_string(),
        address: Some(s.opts.id.vip.addr),
        prefix_len: s.opts.id.vip.prefix_len,
        port: s.opts.id.vip.port,
        scheduler: s.opts.scheduler.clone(),
        flags: s.opts.flags.names().into_iter().map(str::to_string).collect(),
        persistence: s.opts.persistence,
        netmask: s.opts.netmask,
        ops: s.opts.ops,
        fwmark: s.opts.id.fwmark,
        stats: s.stats,
        rates: s.rate,
        reals: s.reals.iter().map(real_listing).collect(),
        failed_reals: s.failed.iter().map(real_listing).collect(),
    }
}

/// `-L --json`: the listing's data (every field of every layout); the daemon adds its
/// `director` and `vrrp` parts.
pub fn list_json(services: &[ServiceView], o: &ListOpts, t: &Timeouts) -> Listing {
    Listing {
        version: IPVS_VERSION.to_string(),
        size: IPVS_SIZE,
        timeouts: TimeoutsListing { tcp: t.tcp, tcpfin: t.tcp_fin, udp: t.udp },
        services: sorted(services, o.nosort)
            .iter()
            .filter(|s| o.service.is_none() || o.service == Some(s.opts.id))
            .map(service_listing)
            .collect(),
        director: None,
        vrrp: Vec::new(),
    }
}

/// `-L -c --json`.
pub fn connections_json(conns: &[ConnInfo]) -> ConnectionsListing {
    let connections = conns
        .iter()
        .map(|c| ConnectionListing {
            protocol: conn_proto(c.proto).to_string(),
            state: c.state.to_string(),
            expires_ms: c.expires_ms,
            client: addrport(c.client, c.cport),
            vip: addrport(c.vip, c.vport),
            destination: addrport(c.real, c.rport),
            forward: c.forward.name().to_string(),
            verified: c.verified,
        })
        .collect();
    ConnectionsListing { connections }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ctl::args::SvcId;
    use xvs_config::{SchedulerFlags, Vip};

    fn real(addr: &str, forward: Forward, weight: u32, active: u32, inactive: u32) -> RealView {
        RealView {
            addr: addr.parse().unwrap(),
            forward,
            tunnel: Default::default(),
            weight,
            upper: 0,
            lower: 0,
            active,
            inactive,
            persistent: 0,
            stats: Counters::default(),
            rate: Rate::default(),
            health: None,
        }
    }

    fn svc(proto: Protocol, vip: &str, sched: &str) -> ServiceView {
        let v: SocketAddr = vip.parse().unwrap();
        ServiceView {
            opts: ServiceOpts {
                id: SvcId::at(proto, Vip::single(v.ip(), v.port())),
                scheduler: sched.into(),
                flags: SchedulerFlags::default(),
                persistence: 0,
                netmask: if v.is_ipv4() { 32 } else { 128 },
                ops: false,
            },
            stats: Counters::default(),
            rate: Rate::default(),
            reals: Vec::new(),
            failed: Vec::new(),
        }
    }

    /// A fixed table: given out of order, so sorting shows.
    fn table() -> Vec<ServiceView> {
        let mut udp = svc(Protocol::Udp, "10.0.1.100:53", "rr");
        udp.opts.ops = true;
        udp.reals.push(real("10.0.2.11:5353", Forward::Nat, 1, 0, 3));
        let mut v6 = svc(Protocol::Tcp, "[2001:db8:1::100]:80", "mh");
        v6.opts.flags.mh_port = true;
        v6.opts.persistence = 60;
        v6.opts.netmask = 64;
        v6.reals.push(real("[2001:db8:2::11]:80", Forward::Tun, 2, 1, 0));
        let mut web = svc(Protocol::Tcp, "10.0.1.100:80", "wlc");
        web.opts.persistence = 300;
        web.opts.netmask = 24;
        web.reals.push(real("10.0.2.12:8080", Forward::Nat, 2, 7, 1));
        web.reals.push(real("10.0.2.11:8080", Forward::Nat, 1, 12, 34));
        web.stats =
            Counters { conns: 123, pkts_in: 123_456_789, pkts_out: 99_999_999, bytes_in: 12_345_678_901, bytes_out: 5 };
        web.reals[1].stats =
            Counters { conns: 23, pkts_in: 456, pkts_out: 400, bytes_in: 123_456_789_012_345, bytes_out: 0 };
        web.rate = Rate { cps: 12, in_pps: 345, out_pps: 300, in_bps: 123_456_789, out_bps: 9 };
        web.reals[1].rate = Rate { cps: 2, in_pps: 45, out_pps: 30, in_bps: 1_000_000_000, out_bps: 0 };
        let mut dr = svc(Protocol::Tcp, "10.0.1.101:443", "sh");
        dr.opts.flags.sh_port = true;
        dr.opts.flags.sh_fallback = true;
        dr.reals.push(real("10.0.2.13:443", Forward::Dr, 0, 0, 0));
        dr.reals[0].upper = 100;
        dr.reals[0].lower = 50;
        vec![v6, udp, dr, web]
    }

    /// `list(t, o)` is the version line, then `rest`.
    #[track_caller]
    fn assert_listed(t: &[ServiceView], o: ListOpts, rest: &str) {
        assert_eq!(list(t, &o), format!("IP Virtual Server version 1.2.1 (size=4096)\n{rest}"), "{o:?}");
    }

    #[test]
    fn plain_listing_is_ipvsadm_ln() {
        assert_listed(
            &table(),
            ListOpts { numeric: true, ..Default::default() },
            "\
Prot LocalAddress:Port Scheduler Flags
  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn
TCP  10.0.1.100:80 wlc persistent 300 mask 255.255.255.0
  -> 10.0.2.11:8080               Masq    1      12         34        
  -> 10.0.2.12:8080               Masq    2      7          1         
TCP  10.0.1.101:443 sh (sh-fallback,sh-port)
  -> 10.0.2.13:443                Route   0      0          0         
UDP  10.0.1.100:53 rr ops
  -> 10.0.2.11:5353               Masq    1      0          3         
TCP  [2001:db8:1::100]:80 mh (mh-port) persistent 60 mask 64
  -> [2001:db8:2::11]:80          Tunnel  2      1          0         
",
        );
    }

    #[test]
    fn one_service_has_no_version_line() {
        let t = table();
        let o = ListOpts { service: Some(t[2].opts.id), ..Default::default() };
        assert_eq!(
            list(&t, &o),
            "Prot LocalAddress:Port Scheduler Flags\n  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn\n\
             TCP  10.0.1.101:443 sh (sh-fallback,sh-port)\n  -> 10.0.2.13:443                Route   0      0          0         \n"
        );
    }

    #[test]
    fn stats_abbreviated_and_exact() {
        let t = vec![table().pop().unwrap()];
        let head =
            "Prot LocalAddress:Port               Conns   InPkts  OutPkts  InBytes OutBytes\n  -> RemoteAddress:Port\n";
        let abbreviated = "\
TCP  10.0.1.100:80                     123  123456K 99999999   12345M        5
  -> 10.0.2.11:8080                     23      456      400     123T        0
  -> 10.0.2.12:8080                      0        0        0        0        0
";
        let exact = "\
TCP  10.0.1.100:80                     123 123456789 99999999 12345678901        5
  -> 10.0.2.11:8080                     23      456      400 123456789012345        0
  -> 10.0.2.12:8080                      0        0        0        0        0
";
        for (is_exact, body) in [(false, abbreviated), (true, exact)] {
            assert_listed(
                &t,
                ListOpts { stats: true, exact: is_exact, ..Default::default() },
                &format!("{head}{body}"),
            );
        }
    }

    #[test]
    fn rate() {
        let t = vec![table().pop().unwrap()];
        assert_listed(
            &t,
            ListOpts { rate: true, ..Default::default() },
            "\
Prot LocalAddress:Port                 CPS    InPPS   OutPPS    InBPS   OutBPS
  -> RemoteAddress:Port
TCP  10.0.1.100:80                      12      345      300  123456K        9
  -> 10.0.2.11:8080                      2       45       30    1000M        0
  -> 10.0.2.12:8080                      0        0        0        0        0
",
        );
    }

    #[test]
    fn thresholds_persistent_conn_tun_info() {
        let sh = vec![table().remove(2)];
        let mh = vec![table().remove(0)];
        let thresholds = "\
Prot LocalAddress:Port            Uthreshold Lthreshold ActiveConn InActConn 
  -> RemoteAddress:Port
TCP  10.0.1.101:443 sh (sh-fallback,sh-port)
  -> 10.0.2.13:443                100        50         0          0         
";
        let persistent = "\
Prot LocalAddress:Port            Weight    PersistConn ActiveConn InActConn 
  -> RemoteAddress:Port
TCP  10.0.1.101:443 sh (sh-fallback,sh-port)
  -> 10.0.2.13:443                0         0           0          0         
";
        let tun_info = "\
Prot LocalAddress:Port Scheduler Flags
  -> RemoteAddress:Port           Forward TunnelInfo    Weight ActiveConn InActConn
TCP  [2001:db8:1::100]:80 mh (mh-port) persistent 60 mask 64
  -> [2001:db8:2::11]:80          Tunnel  ipip          2      1          0         
";
        let cases = [
            (&sh, ListOpts { thresholds: true, ..Default::default() }, thresholds),
            (&sh, ListOpts { persistent_conn: true, ..Default::default() }, persistent),
            (&mh, ListOpts { tun_info: true, ..Default::default() }, tun_info),
        ];
        for (t, o, want) in cases {
            assert_listed(t, o, want);
        }
    }

    #[test]
    fn save_is_ipvsadm_save() {
        let mut t = table();
        t[2].reals[0].upper = 100;
        let want = "\
-A -t 10.0.1.100:80 -s wlc -p 300 -M 255.255.255.0
-a -t 10.0.1.100:80 -r 10.0.2.11:8080 -m -w 1
-a -t 10.0.1.100:80 -r 10.0.2.12:8080 -m -w 2
-A -t 10.0.1.101:443 -s sh -b sh-fallback,sh-port
-a -t 10.0.1.101:443 -r 10.0.2.13:443 -g -w 0 -x 100 -y 50
-A -u 10.0.1.100:53 -s rr -o
-a -u 10.0.1.100:53 -r 10.0.2.11:5353 -m -w 1
-A -t [2001:db8:1::100]:80 -s mh -p 60 -M 64 -b mh-port
-a -t [2001:db8:1::100]:80 -r [2001:db8:2::11]:80 -i -w 2 --tun-type ipip
";
        assert_eq!(save(&t), want);
        // Every line reads back.
        for line in want.lines() {
            let words = super::super::args::split_line(line);
            super::super::args::parse(&words).unwrap_or_else(|e| panic!("{line}: {e}"));
        }
    }

    #[test]
    fn timeout_and_connections() {
        assert_eq!(timeouts(&Timeouts::default()), "Timeout (tcp tcpfin udp): 900 120 300\n");
        let c = |client: &str, state: &'static str, ms: u64, proto: u8| {
            let cl: SocketAddr = client.parse().unwrap();
            ConnInfo {
                proto,
                client: cl.ip(),
                cport: cl.port(),
                vip: "10.0.1.100".parse().unwrap(),
                vport: if proto == 6 { 80 } else { 53 },
                real: "10.0.2.11".parse().unwrap(),
                rport: 8080,
                state,
                expires_ms: ms,
                forward: xvs_engine::Forward::Nat,
                verified: proto == 6,
            }
        };
        let conns = vec![c("10.0.0.2:51234", "ESTABLISHED", 899_500, 6), c("10.0.0.2:40000", "UDP", 299_000, 17)];
        let want = "\
IPVS connection entries
pro expire state       source             virtual            destination
TCP 14:59  ESTABLISHED 10.0.0.2:51234     10.0.1.100:80      10.0.2.11:8080
UDP 04:59  UDP         10.0.0.2:40000     10.0.1.100:53      10.0.2.11:8080
";
        assert_eq!(connections(&conns), want);
        let v = serde_json::to_value(connections_json(&conns)).unwrap();
        assert_eq!(v["connections"][0]["state"], "ESTABLISHED");
        assert_eq!(v["connections"][1]["virtual"], "10.0.1.100:53");
        assert_eq!(v["connections"][0]["verified"], true);
        assert_eq!(v["connections"][1]["verified"], false);
    }

    #[test]
    fn health_column() {
        let mut t = vec![table().pop().unwrap()];
        t[0].reals[1].health = Some(true);
        t[0].reals[0].health = Some(false);
        assert_listed(
            &t,
            ListOpts { health: true, ..Default::default() },
            "\
Prot LocalAddress:Port Scheduler Flags
  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn  Health
TCP  10.0.1.100:80 wlc persistent 300 mask 255.255.255.0
  -> 10.0.2.11:8080               Masq    1      12         34         up
  -> 10.0.2.12:8080               Masq    2      7          1          down
",
        );
    }

    #[test]
    fn largenum_thresholds() {
        assert_eq!(largenum(99_999_999, false), " 99999999");
        assert_eq!(largenum(100_000_000, false), "  100000K");
        assert_eq!(largenum(999_999_999, false), "  999999K");
        assert_eq!(largenum(1_000_000_000, false), "    1000M");
        assert_eq!(largenum(100_000_000_000, false), "     100G");
        assert_eq!(largenum(100_000_000_000_000, false), "     100T");
        assert_eq!(largenum(7, true), "        7");
        assert_eq!(largenum(1_234_567_890, true), " 1234567890");
    }

    #[test]
    fn json_has_the_listing() {
        let v = serde_json::to_value(list_json(&table(), &ListOpts::default(), &Timeouts::default())).unwrap();
        assert_eq!(v["services"][0]["vip"], "10.0.1.100:80");
        assert_eq!(v["services"][0]["reals"][0]["address"], "10.0.2.11:8080");
        assert_eq!(v["services"][0]["reals"][0]["active"], 12);
        assert_eq!(v["services"][0]["stats"]["inpkts"], 123_456_789);
        assert_eq!(v["services"][0]["rates"]["cps"], 12);
        assert_eq!(v["timeouts"]["tcp"], 900);
    }
}
