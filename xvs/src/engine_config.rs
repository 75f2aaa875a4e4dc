//! Turning the validated config model into the engine's configuration, and [`Checked`]:
//! a model that passed every rule, each judged once.
//!
//! Invariants:
//! - The config crate has validated the model (when it was read, or after each `xvs ctl`
//!   edit); this mapping adds no rules of its own.
//! - The engine's own rules (those only it can judge: scheduler tables, the tunnel source
//!   a tun real needs) are checked in one place, [`Checked::new`], on a fresh service
//!   table. Whoever holds a `Checked` (`xvs check`, the daemon's start, reloads, ctl edits
//!   and health changes) checks nothing again; only a running engine's history (its
//!   service-id space) can still refuse one, and the poll loop's acknowledgement carries
//!   that refusal back to the change that caused it.

use std::collections::HashMap;
use std::net::{Ipv4Addr, Ipv6Addr};

use xvs_config::{Config, Forward as CfgForward, Protocol};
use xvs_engine::services::ServiceTable;
use xvs_engine::{EngineConfig, Forward, MarkRule, NeighborSpec, RealSpec, ServiceSpec, Timeouts};
use xvs_sched::{SchedConfig, SchedFlags};

use crate::health::RealKey;

/// Each checked real's state: (up, a dynamic script's weight).
pub type HealthStates = HashMap<RealKey, (bool, Option<u32>)>;

/// A configuration model the engine accepts (see the module invariants), with the tunnel
/// source addresses it runs with.
#[derive(Clone, Debug, PartialEq)]
pub struct Checked {
    model: Config,
    address4: Option<Ipv4Addr>,
    address6: Option<Ipv6Addr>,
}

impl Checked {
    /// Judge `model` by the engine's rules. `address4`/`address6` are the tunnel sources
    /// for a model that names none (`[director] address`): the running director's, or
    /// stand-ins where they are not known yet (`xvs check`).
    pub fn new(model: Config, address4: Option<Ipv4Addr>, address6: Option<Ipv6Addr>) -> Result<Checked, String> {
        let checked = Checked {
            address4: model.director.address.or(address4),
            address6: model.director.address6.or(address6),
            model,
        };
        ServiceTable::default().apply(&checked.engine(&HealthStates::new())).map_err(|e| e.to_string())?;
        Ok(checked)
    }

    pub fn model(&self) -> &Config {
        &self.model
    }

    /// The tunnel sources this model runs with (its own, or the ones given to `new`).
    pub fn addresses(&self) -> (Option<Ipv4Addr>, Option<Ipv6Addr>) {
        (self.address4, self.address6)
    }

    /// The engine configuration of the model with `health` applied (a down real removed,
    /// or quiesced with inhibit_on_failure; a dynamic weight taken). Health only removes
    /// reals or changes weights, which no engine rule forbids: no check is needed.
    pub fn engine(&self, health: &HealthStates) -> EngineConfig {
        let mut cfg = engine_config(&crate::health::effective(&self.model, health));
        cfg.address4 = self.address4;
        cfg.address6 = self.address6;
        cfg
    }

    /// As [`Checked::engine`], with keepalived's quorum followed in `quorum` and applied
    /// (a service that lost it and has a sorry server keeps no real); the quorum changes,
    /// for the log.
    pub fn engine_with_quorum(
        &self,
        health: &HealthStates,
        quorum: &mut crate::health::quorum::QuorumStates,
    ) -> (EngineConfig, Vec<crate::health::quorum::QuorumChange>) {
        let mut model = crate::health::effective(&self.model, health);
        let changes = quorum.update(&model);
        quorum.apply(&mut model);
        let mut cfg = engine_config(&model);
        cfg.address4 = self.address4;
        cfg.address6 = self.address6;
        (cfg, changes)
    }
}

fn forward(f: CfgForward) -> Forward {
    match f {
        CfgForward::Nat => Forward::Nat,
        CfgForward::Dr => Forward::Dr,
        CfgForward::Tun => Forward::Tun,
    }
}

/// The engine's encapsulation of a configured tunnel (validation refused `remcsum`).
fn encap(t: &xvs_config::Tunnel) -> xvs_proto::Encap {
    let csum = t.csum == xvs_config::TunnelCsum::Csum;
    match t.kind {
        xvs_config::TunnelType::Ipip => xvs_proto::Encap::Ipip,
        xvs_config::TunnelType::Gue => xvs_proto::Encap::Gue { port: t.port, csum },
        xvs_config::TunnelType::Gre => xvs_proto::Encap::Gre { csum },
    }
}

fn proto_number(p: Protocol) -> u8 {
    match p {
        Protocol::Tcp => 6,
        Protocol::Udp => 17,
        Protocol::Sctp => 132,
    }
}

/// The traffic of mark `mark` (family `v6`): one rule per protocol and port range of
/// each `[[fwmark]]` entry, in file order.
fn mark_rules(cfg: &Config, mark: u32, v6: bool) -> Vec<MarkRule> {
    let mut out = Vec::new();
    for f in cfg.fwmarks.iter().filter(|f| f.mark == mark && f.dst.addr.is_ipv6() == v6) {
        let every = [(0, u16::MAX)];
        let ports = if f.ports.is_empty() { &every[..] } else { &f.ports[..] };
        for p in &f.protocols {
            for &(lo, hi) in ports {
                out.push(MarkRule { proto: proto_number(*p), net: f.dst.addr, len: f.dst.len, lo, hi });
            }
        }
    }
    out
}

/// The engine configuration for `cfg`.
pub fn engine_config(cfg: &Config) -> EngineConfig {
    let d = &cfg.director;
    let services = cfg
        .services
        .iter()
        .map(|s| ServiceSpec {
            vip: s.vip.addr,
            prefix_len: s.vip.prefix_len,
            port: s.vip.port,
            // A fwmark service has IPVS's protocol 0: its traffic's protocols are its marks'.
            proto: if s.fwmark.is_some() { 0 } else { proto_number(s.protocol) },
            scheduler: s.scheduler.clone(),
            sched: SchedConfig {
                flags: SchedFlags {
                    sh_fallback: s.scheduler_flags.sh_fallback,
                    sh_port: s.scheduler_flags.sh_port,
                    mh_fallback: s.scheduler_flags.mh_fallback,
                    mh_port: s.scheduler_flags.mh_port,
                },
                mh_table_size: s.mh_table_size,
                seed: d.seed,
            },
            ops: s.ops,
            persistence: s.persistence,
            persistence_netmask: s.persistence_netmask,
            sources: xvs_engine::filter::SourceFilter {
                allow: s.allow.iter().map(|p| (p.addr, p.len)).collect(),
                deny: s.deny.iter().map(|p| (p.addr, p.len)).collect(),
            },
            sorry_server: s.sorry_server.map(|a| RealSpec {
                addr: a.ip(),
                port: a.port(),
                weight: 1,
                forward: forward(s.sorry_forward.unwrap_or(s.forward)),
                upper_threshold: 0,
                lower_threshold: 0,
                tunnel: encap(&s.tunnel),
            }),
            sorry_inhibit: s.sorry_inhibit,
            fwmark: s.fwmark.unwrap_or(0),
            marks: s.fwmark.map(|m| mark_rules(cfg, m, s.vip.addr.is_ipv6())).unwrap_or_default(),
            reals: s
                .reals
                .iter()
                .map(|r| RealSpec {
                    addr: r.addr.ip(),
                    // DR and TUN keep the packet's port; a fwmark service's traffic has many,
                    // and its reals' ports are for their health checks (IPVS ignores them).
                    port: if s.fwmark.is_some() && r.forward != CfgForward::Nat { 0 } else { r.addr.port() },
                    weight: r.weight,
                    forward: forward(r.forward),
                    upper_threshold: r.upper_threshold,
                    lower_threshold: r.lower_threshold,
                    tunnel: encap(&r.tunnel),
                })
                .collect(),
        })
        .collect();
    EngineConfig {
        max_connections: d.max_connections,
        timeouts: Timeouts::from_secs(cfg.timeouts.tcp, cfg.timeouts.tcp_fin, cfg.timeouts.udp),
        expire_nodest_conn: d.expire_nodest_conn,
        expire_quiescent_template: d.expire_quiescent_template,
        verify_packets: d.verify_packets,
        mtu: d.mtu.unwrap_or(1500),
        address4: d.address,
        address6: d.address6,
        services,
        neighbors: cfg
            .neighbors
            .iter()
            .map(|n| NeighborSpec { ip: n.ip, mac: n.mac, default: n.default, port: None, clients_only: false })
            .collect(),
        sync: xvs_engine::sync::SyncParams {
            threshold: cfg.sync.threshold,
            period: cfg.sync.period,
            refresh_period_ms: cfg.sync.refresh_period.saturating_mul(1000),
        },
        ..EngineConfig::default()
    }
}
