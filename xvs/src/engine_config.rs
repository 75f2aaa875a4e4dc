//! Turning the validated config model into the engine's configuration.
//!
//! Invariant: the config crate has validated the model; this mapping adds no rules of its
//! own beyond what only the engine can know (reported as engine errors by `Engine::new`).

use xvs_config::{Config, Forward as CfgForward, Protocol};
use xvs_engine::{EngineConfig, Forward, NeighborSpec, RealSpec, ServiceSpec, Timeouts};
use xvs_sched::{SchedConfig, SchedFlags};

fn forward(f: CfgForward) -> Forward {
    match f {
        CfgForward::Nat => Forward::Nat,
        CfgForward::Dr => Forward::Dr,
        CfgForward::Tun => Forward::Tun,
    }
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
            proto: match s.protocol {
                Protocol::Tcp => 6,
                Protocol::Udp => 17,
            },
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
            sorry_server: s.sorry_server.map(|a| RealSpec {
                addr: a.ip(),
                port: a.port(),
                weight: 1,
                forward: forward(s.forward),
                upper_threshold: 0,
                lower_threshold: 0,
            }),
            reals: s
                .reals
                .iter()
                .map(|r| RealSpec {
                    addr: r.addr.ip(),
                    port: r.addr.port(),
                    weight: r.weight,
                    forward: forward(r.forward),
                    upper_threshold: r.upper_threshold,
                    lower_threshold: r.lower_threshold,
                })
                .collect(),
        })
        .collect();
    EngineConfig {
        max_connections: d.max_connections,
        timeouts: Timeouts::from_secs(cfg.timeouts.tcp, cfg.timeouts.tcp_fin, cfg.timeouts.udp),
        expire_nodest_conn: d.expire_nodest_conn,
        expire_quiescent_template: d.expire_quiescent_template,
        mtu: d.mtu.unwrap_or(1500),
        address4: d.address,
        address6: d.address6,
        services,
        neighbors: cfg
            .neighbors
            .iter()
            .map(|n| NeighborSpec { ip: n.ip, mac: n.mac, default: n.default, port: None })
            .collect(),
        ..EngineConfig::default()
    }
}
