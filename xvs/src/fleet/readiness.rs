//! Which VIPs a running engine configuration can serve, for the announcer.
//!
//! Invariants:
//! - One [`VipState`] per announced prefix, in the order the configuration first names
//!   it: a service's VIP (`/32`, `/128` or its prefix, host bits cleared) or, for a fwmark
//!   service, each destination prefix its marks cover.
//! - A prefix is ready when any service on it can take a new connection: it is not on
//!   VRRP standby and has a real of weight > 0 (health applied: a failed real is gone or
//!   at weight 0) or a sorry server of weight > 0. Draining makes every prefix not ready.
//! - A prefix is `nat_only` when every service on it forwards only by NAT.

use std::net::IpAddr;

use xvs_engine::{EngineConfig, Forward, ServiceSpec};

use super::VipState;

/// `addr/len` with the host bits cleared.
pub fn prefix_text(addr: IpAddr, len: u8) -> String {
    format!("{}/{len}", xvs_engine::mask_ip(addr, len))
}

/// The prefixes that carry `s`'s traffic.
fn prefixes_of(s: &ServiceSpec) -> Vec<String> {
    if s.fwmark == 0 {
        vec![prefix_text(s.vip, s.prefix_len)]
    } else {
        s.marks.iter().map(|m| prefix_text(m.net, m.len)).collect()
    }
}

/// Why `s` cannot take a new connection, or `None` when it can.
fn not_ready(cfg: &EngineConfig, s: &ServiceSpec) -> Option<&'static str> {
    let on_standby =
        if s.fwmark == 0 { cfg.standby.contains(&s.vip) } else { s.marks.iter().any(|m| cfg.standby.contains(&m.net)) };
    if on_standby {
        return Some("VRRP standby");
    }
    let live = s.reals.iter().chain(s.sorry_server.iter()).any(|r| r.weight > 0);
    (!live).then_some("no live real")
}

/// Whether every real of `s` (sorry server included) forwards by NAT.
fn nat_only(s: &ServiceSpec) -> bool {
    let mut reals = s.reals.iter().chain(s.sorry_server.iter()).peekable();
    reals.peek().is_some() && reals.all(|r| r.forward == Forward::Nat)
}

/// Every prefix of `cfg` and whether it is ready (none is while `draining`).
pub fn vip_states(cfg: &EngineConfig, draining: bool) -> Vec<VipState> {
    let mut out: Vec<VipState> = Vec::new();
    for s in &cfg.services {
        let why = if draining { Some("draining") } else { not_ready(cfg, s) };
        for p in prefixes_of(s) {
            match out.iter_mut().find(|v| v.prefix == p) {
                Some(v) => {
                    if why.is_none() {
                        v.ready = true;
                        v.why.clear();
                    }
                    v.nat_only &= nat_only(s);
                }
                None => out.push(VipState {
                    prefix: p,
                    ready: why.is_none(),
                    why: why.unwrap_or("").to_string(),
                    nat_only: nat_only(s),
                }),
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use xvs_engine::RealSpec;

    use super::*;

    fn service(vip: &str, port: u16, weights: &[u32]) -> ServiceSpec {
        let mut s = ServiceSpec::new(vip.parse().unwrap(), port, 6, "mh", Vec::new());
        for (i, w) in weights.iter().enumerate() {
            let mut r = RealSpec::new(format!("10.0.2.{}", i + 1).parse().unwrap(), port, Forward::Dr);
            r.weight = *w;
            s.reals.push(r);
        }
        s
    }

    fn cfg(services: Vec<ServiceSpec>) -> EngineConfig {
        EngineConfig { services, ..EngineConfig::default() }
    }

    fn states(c: &EngineConfig, draining: bool) -> Vec<(String, bool, String)> {
        vip_states(c, draining).into_iter().map(|v| (v.prefix, v.ready, v.why)).collect()
    }

    #[test]
    fn a_vip_is_ready_while_any_of_its_services_has_a_live_real() {
        let c = cfg(vec![
            service("10.0.1.100", 80, &[0, 0]),
            service("10.0.1.100", 443, &[0, 1]),
            service("10.0.1.101", 80, &[0]),
            service("2001:db8::1", 80, &[2]),
        ]);
        assert_eq!(
            states(&c, false),
            vec![
                ("10.0.1.100/32".into(), true, String::new()),
                ("10.0.1.101/32".into(), false, "no live real".into()),
                ("2001:db8::1/128".into(), true, String::new()),
            ]
        );
        let drained = states(&c, true);
        assert!(drained.iter().all(|(_, ready, why)| !ready && why == "draining"), "{drained:?}");
    }

    #[test]
    fn a_sorry_server_keeps_a_vip_ready_and_standby_does_not() {
        let mut s = service("10.0.1.100", 80, &[0]);
        s.sorry_server = Some(RealSpec::new("10.0.2.9".parse().unwrap(), 80, Forward::Dr));
        let mut c = cfg(vec![s]);
        assert_eq!(states(&c, false), vec![("10.0.1.100/32".into(), true, String::new())]);
        c.standby = vec!["10.0.1.100".parse().unwrap()];
        assert_eq!(states(&c, false), vec![("10.0.1.100/32".into(), false, "VRRP standby".into())]);
    }

    #[test]
    fn a_vip_is_nat_only_when_every_real_of_every_service_on_it_is() {
        let mut nat = service("10.0.1.100", 80, &[1]);
        nat.reals[0].forward = Forward::Nat;
        let c = cfg(vec![nat.clone(), service("10.0.1.101", 80, &[1])]);
        let got: Vec<bool> = vip_states(&c, false).iter().map(|v| v.nat_only).collect();
        assert_eq!(got, [true, false]);
        let c = cfg(vec![nat, service("10.0.1.100", 443, &[1])]);
        assert!(!vip_states(&c, false)[0].nat_only, "a DR service on the same VIP makes it announceable");
    }

    #[test]
    fn prefixes_are_announced_as_networks() {
        let mut s = service("203.0.113.7", 80, &[1]);
        s.prefix_len = 24;
        let mut m = service("0.0.0.0", 0, &[1]);
        m.fwmark = 7;
        m.marks =
            vec![xvs_engine::MarkRule { proto: 6, net: "198.51.100.0".parse().unwrap(), len: 25, lo: 80, hi: 443 }];
        let c = cfg(vec![s, m]);
        let got: Vec<String> = vip_states(&c, false).into_iter().map(|v| v.prefix).collect();
        assert_eq!(got, ["203.0.113.0/24", "198.51.100.0/25"]);
        assert_eq!(prefix_text("2001:db8::77".parse().unwrap(), 64), "2001:db8::/64");
    }
}
