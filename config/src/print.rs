//! Prints a `Config` as normalized xvs TOML.
//!
//! Invariants:
//! - Every key is written with its resolved value, defaults included; an unset
//!   `Option` is written as a comment saying what "unset" means.
//! - Per-real `forward` and the real's port are always explicit.
//! - For a valid `Config`, `parse_toml(&config.to_toml())` yields an equal `Config`.
//! - Output depends only on the `Config` (fixed key order), so it is diffable.
//! - The VRRP tables are printed by `print/vrrp.rs`, `[sync]` (when not the default) by
//!   `print/sync.rs`, health checks by `print/check.rs` (the keys of the check's kind).

use std::fmt::Write;

use crate::model::{format_mac, Config, Forward, Service, Tunnel, TunnelCsum};

mod check;
mod sync;
mod vrrp;

/// A TOML string literal for `s`.
fn q(s: &str) -> String {
    toml_edit::Value::from(s).to_string().trim().to_string()
}

impl Config {
    /// The normalized xvs TOML for this configuration.
    pub fn to_toml(&self) -> String {
        let mut o = String::new();
        // Writing to a String cannot fail.
        let _ = self.write_toml(&mut o);
        o
    }

    fn write_toml(&self, o: &mut String) -> std::fmt::Result {
        let d = &self.director;
        writeln!(o, "# xvs configuration, normalized: every key with its resolved value")?;
        writeln!(o)?;
        writeln!(o, "[director]")?;
        match &d.cores {
            Some(c) => writeln!(o, "cores = [{}]", c.iter().map(|c| c.to_string()).collect::<Vec<_>>().join(", "))?,
            None => writeln!(o, "# cores: unset = all cores")?,
        }
        match &d.interfaces {
            Some(i) => writeln!(o, "interfaces = [{}]", i.iter().map(|s| q(s)).collect::<Vec<_>>().join(", "))?,
            None => writeln!(o, "# interfaces: unset = every non-loopback interface that is up")?,
        }
        writeln!(o, "xdp_mode = {}", q(d.xdp_mode.name()))?;
        writeln!(o, "poll = {}", q(d.poll.name()))?;
        writeln!(o, "control_socket = {}", q(&d.control_socket.to_string_lossy()))?;
        match d.metrics {
            Some(m) => writeln!(o, "metrics = {}", q(&m.to_string()))?,
            None => writeln!(o, "# metrics: unset = no metrics endpoint")?,
        }
        writeln!(o, "max_connections = {}", d.max_connections)?;
        writeln!(o, "manage_vips = {}", d.manage_vips)?;
        writeln!(o, "vip_device = {}", q(&d.vip_device))?;
        match d.address {
            Some(a) => writeln!(o, "address = {}", q(&a.to_string()))?,
            None => writeln!(o, "# address: unset = the egress interface's primary IPv4 address")?,
        }
        match d.address6 {
            Some(a) => writeln!(o, "address6 = {}", q(&a.to_string()))?,
            None => writeln!(o, "# address6: unset = the egress interface's primary IPv6 address")?,
        }
        match d.mtu {
            Some(m) => writeln!(o, "mtu = {m}")?,
            None => writeln!(o, "# mtu: unset = the egress interface's MTU")?,
        }
        writeln!(o, "expire_nodest_conn = {}", d.expire_nodest_conn)?;
        writeln!(o, "expire_quiescent_template = {}", d.expire_quiescent_template)?;
        writeln!(o, "verify_packets = {}", d.verify_packets)?;
        writeln!(o, "seed = {}", d.seed)?;
        writeln!(o)?;
        writeln!(o, "[timeouts]")?;
        writeln!(o, "tcp = {}", self.timeouts.tcp)?;
        writeln!(o, "tcp_fin = {}", self.timeouts.tcp_fin)?;
        writeln!(o, "udp = {}", self.timeouts.udp)?;
        for s in &self.services {
            write_service(o, s)?;
        }
        for n in &self.neighbors {
            writeln!(o)?;
            writeln!(o, "[[neighbor]]")?;
            writeln!(o, "ip = {}", q(&n.ip.to_string()))?;
            writeln!(o, "mac = {}", q(&format_mac(&n.mac)))?;
            writeln!(o, "default = {}", n.default)?;
        }
        for f in &self.fwmarks {
            writeln!(o)?;
            writeln!(o, "[[fwmark]]")?;
            writeln!(o, "mark = {}", f.mark)?;
            writeln!(o, "dst = {}", q(&f.dst.to_string()))?;
            let protos: Vec<String> = f.protocols.iter().map(|p| q(p.name())).collect();
            writeln!(o, "protocols = [{}]", protos.join(", "))?;
            match f.ports.as_slice() {
                [] => writeln!(o, "# ports: unset = every port")?,
                ports => {
                    let list: Vec<String> = ports
                        .iter()
                        .map(|&(a, b)| if a == b { a.to_string() } else { q(&format!("{a}-{b}")) })
                        .collect();
                    writeln!(o, "ports = [{}]", list.join(", "))?
                }
            }
        }
        vrrp::write_vrrp(o, &self.vrrp)?;
        sync::write_sync(o, &self.sync)
    }
}

fn write_service(o: &mut String, s: &Service) -> std::fmt::Result {
    writeln!(o)?;
    writeln!(o, "[[service]]")?;
    match s.fwmark {
        Some(m) => {
            writeln!(o, "fwmark = {m}")?;
            writeln!(o, "family = {}", q(if s.vip.addr.is_ipv6() { "inet6" } else { "inet" }))?;
        }
        None => {
            writeln!(o, "vip = {}", q(&s.vip.to_string()))?;
            writeln!(o, "protocol = {}", q(s.protocol.name()))?;
        }
    }
    writeln!(o, "scheduler = {}", q(&s.scheduler))?;
    writeln!(
        o,
        "scheduler_flags = [{}]",
        s.scheduler_flags.names().iter().map(|n| q(n)).collect::<Vec<_>>().join(", ")
    )?;
    writeln!(o, "mh_table_size = {}", s.mh_table_size)?;
    writeln!(o, "ops = {}", s.ops)?;
    writeln!(o, "persistence = {}", s.persistence)?;
    writeln!(o, "persistence_netmask = {}", s.persistence_netmask)?;
    writeln!(o, "forward = {}", q(s.forward.name()))?;
    if s.tunnel != Tunnel::default() {
        tunnel(o, &s.tunnel)?;
    }
    writeln!(o, "delay_loop = {}", s.delay_loop)?;
    match s.sorry_server {
        Some(a) => writeln!(o, "sorry_server = {}", q(&a.to_string()))?,
        None => writeln!(o, "# sorry_server: unset = none")?,
    }
    if let Some(f) = s.sorry_forward {
        writeln!(o, "sorry_forward = {}", q(f.name()))?;
    }
    if s.sorry_inhibit {
        writeln!(o, "sorry_inhibit = true")?;
    }
    writeln!(o, "alpha = {}", s.alpha)?;
    writeln!(o, "quorum = {}", s.quorum)?;
    writeln!(o, "hysteresis = {}", s.hysteresis)?;
    for (key, v) in [("quorum_up", &s.quorum_up), ("quorum_down", &s.quorum_down)] {
        if let Some(v) = v {
            vrrp::notify_script(o, key, v)?;
        }
    }
    if s.omega {
        writeln!(o, "omega = true")?;
    }
    for (key, list) in [("allow", &s.allow), ("deny", &s.deny)] {
        if !list.is_empty() {
            let items: Vec<String> = list.iter().map(|p| q(&p.to_string())).collect();
            writeln!(o, "{key} = [{}]", items.join(", "))?;
        }
    }
    for r in &s.reals {
        writeln!(o)?;
        writeln!(o, "[[service.real]]")?;
        let fields = [
            ("addr", q(&r.addr.to_string())),
            ("weight", r.weight.to_string()),
            ("forward", q(r.forward.name())),
            ("upper_threshold", r.upper_threshold.to_string()),
            ("lower_threshold", r.lower_threshold.to_string()),
            ("inhibit_on_failure", r.inhibit_on_failure.to_string()),
        ];
        for (key, value) in fields {
            writeln!(o, "{key} = {value}")?;
        }
        if r.forward == Forward::Tun {
            tunnel(o, &r.tunnel)?;
        }
        for (key, v) in [("notify_up", &r.notify_up), ("notify_down", &r.notify_down)] {
            if let Some(v) = v {
                vrrp::notify_script(o, key, v)?;
            }
        }
        let header = if r.checks.len() == 1 { "[service.real.check]" } else { "[[service.real.check]]" };
        for c in &r.checks {
            writeln!(o)?;
            writeln!(o, "{header}")?;
            check::write(o, c, r, s)?;
        }
    }
    Ok(())
}

/// `tunnel`, and `tun_port` / `tun_flags` when they are set.
fn tunnel(o: &mut String, t: &Tunnel) -> std::fmt::Result {
    writeln!(o, "tunnel = {}", q(t.kind.name()))?;
    if t.port != 0 {
        writeln!(o, "tun_port = {}", t.port)?;
    }
    if t.csum != TunnelCsum::NoCsum {
        writeln!(o, "tun_flags = {}", q(t.csum.name()))?;
    }
    Ok(())
}
