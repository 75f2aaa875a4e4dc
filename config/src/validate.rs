//! Semantic rules over the model, whatever reader produced it.
//!
//! Invariants:
//! - Works on a complete `Config` plus a [`SourceMap`]; an empty map is allowed
//!   (errors then carry no position), so configurations built in memory (e.g. by
//!   `xvs ctl`) are checked by the very same rules.
//! - Every rule reports at the value it is about (falling back to its section), with
//!   a hint; a rule is skipped when a value it involves already failed to read.
//! - All rules run; nothing stops at the first error.
//! - The VRRP rules are in `validate/vrrp.rs`, those of `[sync]` in `validate/sync.rs`,
//!   those of health checks in `validate/check.rs`.

use std::collections::HashMap;
use std::net::IpAddr;

use crate::error::ConfigError;
use crate::model::{
    full_prefix, Config, Forward, Protocol, Real, Service, Tunnel, MAX_WEIGHT, MTU_RANGE, TIMEOUT_RANGE,
};
use crate::span::{Pos, Section, SourceMap};
use crate::syntax::closest;
use xvs_sched::{is_prime, SCHEDULER_NAMES as SCHEDULERS};

mod check;
mod fwmark;
mod sync;
mod vrrp;

type At = (Section, &'static str);

/// Checks every rule; returns the problems found (empty = valid).
pub fn validate(config: &Config, map: &SourceMap) -> Vec<ConfigError> {
    let mut v = Validator { map, errors: Vec::new() };
    v.director(config);
    v.timeouts(config);
    v.services(config);
    v.neighbors(config);
    v.vrrp(config);
    v.sync(config);
    v.errors
}

struct Validator<'m> {
    map: &'m SourceMap,
    errors: Vec<ConfigError>,
}

fn family(ip: IpAddr) -> &'static str {
    if ip.is_ipv4() {
        "IPv4"
    } else {
        "IPv6"
    }
}

impl Validator<'_> {
    /// Reports at `at` unless `at` or anything in `involved` failed to read.
    fn report(&mut self, at: At, involved: &[At], message: String, hint: String) {
        if std::iter::once(&at).chain(involved).any(|(s, k)| self.map.is_bad(*s, k)) {
            return;
        }
        let (file, pos) = self.map.locate_in(at.0, at.1);
        self.errors.push(ConfigError::new(file, pos.line, pos.col, message, Some(hint)));
    }

    /// [`report`](Self::report) an error that involves no other position.
    fn bad(&mut self, at: At, message: impl Into<String>, hint: impl Into<String>) {
        self.report(at, &[], message.into(), hint.into());
    }

    /// A list key that must hold something and name nothing twice: `empty` is the
    /// (message, hint) when it is empty, `twice` the message for its first repeat.
    fn listed_once<T: Eq + std::hash::Hash + Clone>(
        &mut self,
        at: At,
        items: &[T],
        empty: (&str, &str),
        twice: impl Fn(&T) -> String,
        twice_hint: &str,
    ) {
        if items.is_empty() {
            self.bad(at, empty.0, empty.1);
        }
        if let Some(dup) = first_duplicate(items) {
            self.bad(at, twice(&dup), twice_hint);
        }
    }

    /// "line N" (or "FILE:N" in an included file) where `at` is, or `otherwise` when
    /// the position is unknown.
    fn where_is(&self, at: At, otherwise: String) -> String {
        match self.map.locate_in(at.0, at.1) {
            (_, Pos { line: 0, .. }) => otherwise,
            (file, p) if file == self.map.file => format!("line {}", p.line),
            (file, p) => format!("{file}:{}", p.line),
        }
    }

    fn director(&mut self, c: &Config) {
        let d = &c.director;
        let s = Section::Director;
        if let Some(cores) = &d.cores {
            let empty =
                ("`cores` is empty: no core would poll", "list at least one core, or remove `cores` to use all");
            self.listed_once(
                (s, "cores"),
                cores,
                empty,
                |c| format!("core {c} is listed twice in `cores`"),
                "list each core once",
            );
        }
        if let Some(ifs) = &d.interfaces {
            let empty = (
                "`interfaces` is empty: no port to poll",
                "list at least one interface, or remove `interfaces` to use every interface that is up",
            );
            let twice = |i: &String| format!("interface `{i}` is listed twice");
            self.listed_once((s, "interfaces"), ifs, empty, twice, "list each interface once");
            if ifs.iter().any(|i| i.is_empty()) {
                self.bad(
                    (s, "interfaces"),
                    "`interfaces` holds an empty name",
                    "write interface names such as `\"eth0\"`",
                );
            }
        }
        if d.max_connections == 0 {
            self.bad((s, "max_connections"), "`max_connections` must be at least 1", "the default is 2000000");
        }
        if d.vip_device.is_empty() {
            self.bad((s, "vip_device"), "`vip_device` is empty", "use `vip_device = \"lo\"` (the default)");
        }
        if d.control_socket.as_os_str().is_empty() {
            self.bad(
                (s, "control_socket"),
                "`control_socket` is empty",
                "use `control_socket = \"/run/xvs.sock\"` (the default)",
            );
        }
        if let Some(mtu) = d.mtu {
            if !MTU_RANGE.contains(&mtu) {
                self.bad(
                    (s, "mtu"),
                    format!("`mtu` = {mtu} is out of range {}..={}", MTU_RANGE.start(), MTU_RANGE.end()),
                    "use the egress MTU, e.g. `mtu = 1500`, or remove it to ask the interface",
                );
            }
        }
        if d.seed > i64::MAX as u64 {
            self.bad(
                (s, "seed"),
                format!("`seed` = {} does not fit a TOML integer", d.seed),
                format!("use a seed in 0..={}", i64::MAX),
            );
        }
    }

    fn timeouts(&mut self, c: &Config) {
        let t = &c.timeouts;
        for (key, v) in [("tcp", t.tcp), ("tcp_fin", t.tcp_fin), ("udp", t.udp)] {
            if !TIMEOUT_RANGE.contains(&v) {
                self.bad(
                    (Section::Timeouts, key),
                    format!(
                        "timeout `{key}` = {v} is out of range {}..={} seconds",
                        TIMEOUT_RANGE.start(),
                        TIMEOUT_RANGE.end()
                    ),
                    "IPVS defaults are tcp = 900, tcp_fin = 120, udp = 300",
                );
            }
        }
    }

    fn services(&mut self, c: &Config) {
        if c.services.len() > MAX_SERVICES {
            self.bad(
                (Section::Service(MAX_SERVICES), "vip"),
                format!("{} services: a configuration holds at most {MAX_SERVICES}", c.services.len()),
                "a prefix VIP (`vip = \"203.0.113.0/24:80\"`) serves a whole prefix as one service",
            );
            return;
        }
        let mut seen: HashMap<(Protocol, IpAddr, u8, u16, Option<u32>), usize> = HashMap::new();
        for (i, svc) in c.services.iter().enumerate() {
            let s = Section::Service(i);
            let key = (svc.protocol, svc.vip.addr, svc.vip.prefix_len, svc.vip.port, svc.fwmark);
            let vip = if svc.fwmark.is_some() { "fwmark" } else { "vip" };
            if let Some(&first) = seen.get(&key) {
                let at = self.where_is((Section::Service(first), vip), format!("service #{}", first + 1));
                self.report(
                    (s, vip),
                    &[(s, "protocol"), (Section::Service(first), vip), (Section::Service(first), "protocol")],
                    format!("duplicate service {}: already defined at {at}", svc.label()),
                    format!("merge the reals into the first service (at {at}) and remove this one"),
                );
            } else {
                seen.insert(key, i);
            }
            self.service(i, svc);
        }
        self.fwmarks(c);
    }

    fn service(&mut self, i: usize, svc: &Service) {
        for (key, list) in [("allow", &svc.allow), ("deny", &svc.deny)] {
            if list.len() > crate::model::MAX_SOURCE_PREFIXES {
                self.bad(
                    (Section::Service(i), key),
                    format!("`{key}` has {} prefixes, at most {}", list.len(), crate::model::MAX_SOURCE_PREFIXES),
                    "aggregate them into shorter prefixes",
                );
            }
        }
        self.scheduler(i, svc);
        self.tunnel(Section::Service(i), &svc.tunnel, None);
        self.vip(i, svc);
        self.health(i, svc);
        let mut seen: HashMap<std::net::SocketAddr, usize> = HashMap::new();
        for (j, r) in svc.reals.iter().enumerate() {
            if let Some(&first) = seen.get(&r.addr) {
                let rs = Section::Real(i, j);
                let at = self.where_is((Section::Real(i, first), "addr"), format!("real #{}", first + 1));
                self.report(
                    (rs, "addr"),
                    &[(Section::Real(i, first), "addr")],
                    format!("duplicate real {} in service {} (first at {at})", r.addr, svc.label()),
                    "list each real once per service; change its weight instead".into(),
                );
            } else {
                seen.insert(r.addr, j);
            }
            self.real(i, j, svc, r);
            for (k, ch) in r.checks.iter().enumerate() {
                self.check(Section::Check(i, j, k), r, ch);
            }
        }
    }

    /// The scheduler, its flags, and the Maglev table size.
    fn scheduler(&mut self, i: usize, svc: &Service) {
        let s = Section::Service(i);
        if !SCHEDULERS.contains(&svc.scheduler.as_str()) {
            let near = match closest(&svc.scheduler, &SCHEDULERS) {
                Some(c) => format!("did you mean `{c}`? "),
                None => String::new(),
            };
            self.bad(
                (s, "scheduler"),
                format!("unknown scheduler `{}`", svc.scheduler),
                format!("{near}schedulers: {}", SCHEDULERS.join(" ")),
            );
        }
        let f = svc.scheduler_flags;
        for (set, owner) in [(f.any_sh(), "sh"), (f.any_mh(), "mh")] {
            if set && svc.scheduler != owner {
                self.report(
                    (s, "scheduler_flags"),
                    &[(s, "scheduler")],
                    format!(
                        "scheduler flags {owner}-fallback/{owner}-port need scheduler \"{owner}\", not \"{}\"",
                        svc.scheduler
                    ),
                    format!("remove the {owner}-* flags or set `scheduler = \"{owner}\"`"),
                );
            }
        }
        if svc.mh_table_size > MAX_MH_TABLE_SIZE {
            self.bad(
                (s, "mh_table_size"),
                format!("`mh_table_size` = {} is above the limit {MAX_MH_TABLE_SIZE}", svc.mh_table_size),
                format!("the Maglev table holds one entry per slot for every real: use at most {MAX_MH_TABLE_SIZE} (default 65537, IPVS 4093)"),
            );
        } else if !is_prime(svc.mh_table_size) {
            let (below, above) = primes_around(svc.mh_table_size);
            self.bad(
                (s, "mh_table_size"),
                format!("`mh_table_size` = {} is not prime", svc.mh_table_size),
                format!("the Maglev table size must be prime: use {below} or {above} (default 65537, IPVS 4093)"),
            );
        }
    }

    /// The VIP and what goes with it: one-packet scheduling, the prefix, port 0, the
    /// persistence netmask.
    fn vip(&mut self, i: usize, svc: &Service) {
        let s = Section::Service(i);
        let vip = svc.vip;
        if svc.fwmark.is_some() {
            // No VIP of its own: its traffic is its [[fwmark]] entries' (validate/fwmark.rs).
            return;
        }
        if svc.ops && svc.protocol == Protocol::Tcp {
            self.report(
                (s, "ops"),
                &[(s, "protocol")],
                "one-packet scheduling (`ops`) is for UDP services only".into(),
                "remove `ops = true` or set `protocol = \"udp\"`".into(),
            );
        }
        let full = full_prefix(vip.addr);
        if vip.is_prefix() {
            let net = network(vip.addr, vip.prefix_len);
            if net != vip.addr {
                let fixed = crate::model::Vip { addr: net, ..vip };
                self.bad(
                    (s, "vip"),
                    format!("VIP prefix {} has host bits set", vip),
                    format!("did you mean `{fixed}`?"),
                );
            }
        }
        if svc.persistence > crate::ipvsadm::MAX_TIMEOUT {
            self.bad(
                (s, "persistence"),
                format!(
                    "`persistence` = {} s is above ipvsadm's limit {} s (31 days)",
                    svc.persistence,
                    crate::ipvsadm::MAX_TIMEOUT
                ),
                "a persistence timeout is 1..=2678400 seconds (the default is 300)".to_string(),
            );
        }
        if vip.port == 0 && svc.persistence == 0 {
            self.report(
                (s, "vip"),
                &[(s, "persistence")],
                format!("service {} {} is on port 0 (every port) but not persistent", svc.protocol, vip),
                "IPVS requires persistence for port 0: add `persistence = 300`".into(),
            );
        }
        if !(1..=full).contains(&svc.persistence_netmask) {
            self.report(
                (s, "persistence_netmask"),
                &[(s, "vip")],
                format!(
                    "`persistence_netmask` = {} is out of range 1..={full} for an {} service",
                    svc.persistence_netmask,
                    family(vip.addr)
                ),
                format!(
                    "use a client prefix length, e.g. {} (the default is {full})",
                    if full == 32 { 24 } else { 64 }
                ),
            );
        }
    }

    /// What health checking needs of a service: the loop delay, the sorry server, the quorum.
    fn health(&mut self, i: usize, svc: &Service) {
        let s = Section::Service(i);
        let vip = svc.vip;
        if svc.delay_loop == 0 {
            self.bad((s, "delay_loop"), "`delay_loop` must be at least 1 second", "the default is `delay_loop = 6`");
        }
        if let Some(sorry) = svc.sorry_server {
            if sorry.is_ipv4() != vip.addr.is_ipv4() && svc.sorry_forward.unwrap_or(svc.forward) != Forward::Tun {
                self.report(
                    (s, "sorry_server"),
                    &[(s, "vip")],
                    format!(
                        "sorry_server {sorry} is {} but the VIP {} is {}",
                        family(sorry.ip()),
                        vip.addr,
                        family(vip.addr)
                    ),
                    format!("use an {} sorry server", family(vip.addr)),
                );
            }
            let forward = svc.sorry_forward.unwrap_or(svc.forward);
            if forward != Forward::Nat && sorry.port() != vip.port && vip.port != 0 {
                self.report(
                    (s, "sorry_server"),
                    &[(s, "vip")],
                    format!(
                        "sorry_server {sorry} has another port than the service's {}, but forward is {forward}",
                        vip.port
                    ),
                    format!("{forward} cannot change the port: use port {} or `sorry_forward = \"nat\"`", vip.port),
                );
            }
        }
        if svc.sorry_server.is_none() {
            for key in ["sorry_forward", "sorry_inhibit"] {
                if (key == "sorry_forward" && svc.sorry_forward.is_some())
                    || (key == "sorry_inhibit" && svc.sorry_inhibit)
                {
                    self.bad((s, key), format!("`{key}` without a `sorry_server`"), "add `sorry_server`, or remove it");
                }
            }
        }
        if svc.quorum == 0 {
            self.bad(
                (s, "quorum"),
                "`quorum` must be at least 1",
                "quorum is the minimum total weight of live reals; the default is `quorum = 1`",
            );
        }
    }

    /// One real: its family and port against the VIP, its weight, its thresholds.
    /// A tunnel's options: GUE needs its port, checksums are GUE's and GRE's, `remcsum`
    /// is refused; a tunnel set on a real that is not TUN would do nothing.
    fn tunnel(&mut self, sec: Section, t: &Tunnel, forward: Option<Forward>) {
        use crate::model::{TunnelCsum, TunnelType};
        if forward.is_some_and(|f| f != Forward::Tun) && *t != Tunnel::default() {
            self.bad(
                (sec, "tunnel"),
                format!("a tunnel ({t}) on a {} real", forward.unwrap_or(Forward::Nat)),
                "remove it, or use `forward = \"tun\"`",
            );
            return;
        }
        match t.kind {
            TunnelType::Gue if t.port == 0 => self.bad(
                (sec, "tunnel"),
                "a GUE tunnel needs its UDP port",
                "add `tun_port = 6080` (the port the reals decapsulate)",
            ),
            TunnelType::Ipip | TunnelType::Gre if t.port != 0 => self.bad(
                (sec, "tun_port"),
                format!("`tun_port` applies to GUE tunnels only, not {}", t.kind),
                "remove it",
            ),
            _ => {}
        }
        match (t.kind, t.csum) {
            (_, TunnelCsum::RemCsum) => self.bad(
                (sec, "tun_flags"),
                "remcsum (GUE remote checksum offload) is not supported",
                "use nocsum (the default) or csum",
            ),
            (TunnelType::Ipip, TunnelCsum::Csum) => {
                self.bad((sec, "tun_flags"), "an IPIP tunnel has no checksum option", "remove it, or use gue or gre")
            }
            _ => {}
        }
    }

    fn real(&mut self, i: usize, j: usize, svc: &Service, r: &Real) {
        let (s, rs) = (Section::Service(i), Section::Real(i, j));
        // (A tunnel the real takes from its service is checked there, once.)
        if !(r.forward == Forward::Tun && r.tunnel == svc.tunnel) {
            self.tunnel(rs, &r.tunnel, Some(r.forward));
        }
        let vip = svc.vip;
        // A tunnel carries either family in either (IPVS's mixed-family TUN); NAT and DR
        // keep the packet's family.
        if r.addr.is_ipv4() != vip.addr.is_ipv4() && r.forward != Forward::Tun {
            self.report(
                (rs, "addr"),
                &[(s, "vip")],
                format!("real {} is {} but the VIP {} is {}", r.addr, family(r.addr.ip()), vip.addr, family(vip.addr)),
                format!(
                    "{} keeps the packet's family: use an {} real, or `forward = \"tun\"` (IPv4 in IPv6 and the reverse)",
                    r.forward,
                    family(vip.addr)
                ),
            );
        } else if r.forward != Forward::Nat && r.addr.port() != vip.port && svc.fwmark.is_none() {
            self.report(
                (rs, "addr"),
                &[(s, "vip"), (s, "forward"), (rs, "forward")],
                format!(
                    "real {} has port {} but service port is {} and forward is {}",
                    r.addr,
                    r.addr.port(),
                    vip.port,
                    r.forward
                ),
                format!(
                    "{} cannot change the port: use port {} or `forward = \"nat\"` for port mapping",
                    r.forward, vip.port
                ),
            );
        }
        if r.weight > MAX_WEIGHT {
            self.bad(
                (rs, "weight"),
                format!("weight {} is above the maximum {MAX_WEIGHT}", r.weight),
                format!("use a weight in 0..={MAX_WEIGHT} (0 = quiesced)"),
            );
        }
        if r.upper_threshold != 0 && r.lower_threshold > r.upper_threshold {
            self.report(
                (rs, "lower_threshold"),
                &[(rs, "upper_threshold")],
                format!("lower_threshold {} is above upper_threshold {}", r.lower_threshold, r.upper_threshold),
                "lower_threshold must be <= upper_threshold (0 = no limit)".into(),
            );
        }
    }

    fn neighbors(&mut self, c: &Config) {
        let mut seen: HashMap<IpAddr, usize> = HashMap::new();
        let mut default: Option<usize> = None;
        for (i, n) in c.neighbors.iter().enumerate() {
            let s = Section::Neighbor(i);
            if let Some(&first) = seen.get(&n.ip) {
                let at = self.where_is((Section::Neighbor(first), "ip"), format!("neighbor #{}", first + 1));
                self.report(
                    (s, "ip"),
                    &[(Section::Neighbor(first), "ip")],
                    format!("duplicate neighbor {} (first at {at})", n.ip),
                    "keep one [[neighbor]] per address".into(),
                );
            } else {
                seen.insert(n.ip, i);
            }
            if n.default {
                if let Some(first) = default {
                    let at = self.where_is((Section::Neighbor(first), "default"), format!("neighbor #{}", first + 1));
                    self.bad(
                        (s, "default"),
                        format!("more than one default neighbor (the first is at {at})"),
                        "only one [[neighbor]] can have `default = true`",
                    );
                } else {
                    default = Some(i);
                }
            }
            if n.mac[0] & 1 == 1 {
                self.bad(
                    (s, "mac"),
                    format!("neighbor MAC {} is a multicast address", crate::model::format_mac(&n.mac)),
                    "use the next hop's unicast MAC (first octet even)",
                );
            }
        }
    }
}

fn first_duplicate<T: Eq + std::hash::Hash + Clone>(items: &[T]) -> Option<T> {
    let mut seen = std::collections::HashSet::new();
    items.iter().find(|x| !seen.insert(*x)).cloned()
}

/// The network address of `addr`/`len`.
pub(crate) fn network(addr: IpAddr, len: u8) -> IpAddr {
    match addr {
        IpAddr::V4(a) => {
            let mask = if len == 0 { 0 } else { u32::MAX << (32 - u32::from(len)) };
            IpAddr::V4((u32::from(a) & mask).into())
        }
        IpAddr::V6(a) => {
            let mask = if len == 0 { 0 } else { u128::MAX << (128 - u32::from(len)) };
            IpAddr::V6((u128::from(a) & mask).into())
        }
    }
}

/// The most services one configuration holds (an engine can have had 65535 over its
/// life: ids are not reused, so this leaves room for reloads that replace them).
pub const MAX_SERVICES: usize = 16384;

/// The largest `mh_table_size` (the largest prime below 2^20): a Maglev table costs a
/// slot per entry per service, and a bigger one buys no evenness that matters.
pub const MAX_MH_TABLE_SIZE: u32 = 1_048_573;

/// The nearest primes below and above `n` (for hints).
fn primes_around(n: u32) -> (u32, u32) {
    let below = (2..n).rev().find(|&p| is_prime(p)).unwrap_or(2);
    let above = (n.saturating_add(1)..=u32::MAX).find(|&p| is_prime(p)).unwrap_or(u32::MAX);
    (below, above)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    #[test]
    fn network_masks() {
        let a = IpAddr::V4(Ipv4Addr::new(203, 0, 113, 5));
        assert_eq!(network(a, 24), IpAddr::V4(Ipv4Addr::new(203, 0, 113, 0)));
        assert_eq!(network(a, 0), IpAddr::V4(Ipv4Addr::UNSPECIFIED));
        assert_eq!(network(a, 32), a);
        assert_eq!(primes_around(65536), (65521, 65537));
    }

    #[test]
    fn in_memory_config_validates_without_positions() {
        let mut c = Config::default();
        c.timeouts.tcp = 0;
        let errs = validate(&c, &SourceMap::new("<memory>"));
        assert_eq!(errs.len(), 1);
        assert_eq!(errs[0].line, 0);
        assert!(errs[0].to_string().starts_with("<memory>: error: timeout `tcp`"));
    }
}
