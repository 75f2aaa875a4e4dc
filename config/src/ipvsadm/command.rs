//! The typed commands of `xvs ctl`, made from an [`Entry`], and what ipvsadm's service and
//! real options mean for the model.
//!
//! Invariants:
//! - [`Entry::into_command`] refuses what xvs does not do (an SCTP service, a persistence
//!   engine, a scheduler flag without meaning) and
//!   makes ipvsadm's and the kernel's checks as usage errors, with their messages; a
//!   returned [`Command`] is complete.
//! - [`ServiceOpts`] and [`RealOpts`] set exactly what ipvsadm's options describe; what
//!   ipvsadm cannot express (health checks, `mh_table_size`, the sorry server, ...) is
//!   left as it is. Both readers build the model through them.

use std::net::SocketAddr;

use super::entry::Entry;
use super::table::{Cmd, Opt};
use super::{err, err_at, ArgError};
use crate::model::{Forward, Protocol, Real, SchedulerFlags, Service, Tunnel, Vip};

/// A virtual service: protocol and VIP (address or prefix, port), or a firewall mark
/// (then `vip` is [`crate::model::fwmark_vip`] of its family and `protocol` means nothing).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SvcId {
    pub protocol: Protocol,
    pub vip: Vip,
    pub fwmark: Option<u32>,
}

impl SvcId {
    /// A service of `protocol` at `vip`.
    pub fn at(protocol: Protocol, vip: Vip) -> SvcId {
        SvcId { protocol, vip, fwmark: None }
    }

    /// The fwmark service of `mark` (IPv6 when `v6`).
    pub fn mark(mark: u32, v6: bool) -> SvcId {
        SvcId { protocol: Protocol::Tcp, vip: crate::model::fwmark_vip(v6), fwmark: Some(mark) }
    }

    /// ipvsadm's rule syntax: `-t 10.0.1.100:80`, `-u [2001:db8::1]:53`, `-f 1` (`-f 1 -6`).
    pub fn rule(&self) -> String {
        if let Some(m) = self.fwmark {
            return format!("-f {m}{}", if self.vip.addr.is_ipv6() { " -6" } else { "" });
        }
        let p = match self.protocol {
            Protocol::Tcp => "-t",
            Protocol::Udp => "-u",
            Protocol::Sctp => "--sctp-service",
        };
        format!("{p} {}", self.vip)
    }

    /// The identity of configured service `s`.
    pub fn of(s: &Service) -> SvcId {
        SvcId { protocol: s.protocol, vip: s.vip, fwmark: s.fwmark }
    }

    /// Whether configured service `s` is this one.
    pub fn is(&self, s: &Service) -> bool {
        s.fwmark == self.fwmark && s.vip == self.vip && (self.fwmark.is_some() || s.protocol == self.protocol)
    }
}

/// `-A` / `-E`: the whole service definition as ipvsadm has it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceOpts {
    pub id: SvcId,
    pub scheduler: String,
    pub flags: SchedulerFlags,
    /// Seconds; 0 = not persistent.
    pub persistence: u32,
    /// Prefix length of the persistence netmask.
    pub netmask: u8,
    pub ops: bool,
}

impl ServiceOpts {
    /// What `-A` would say of `s` (the inverse of `to_service`, its reals aside).
    pub fn of(s: &Service) -> ServiceOpts {
        ServiceOpts {
            id: SvcId::of(s),
            scheduler: s.scheduler.clone(),
            flags: s.scheduler_flags,
            persistence: s.persistence,
            netmask: s.persistence_netmask,
            ops: s.ops,
        }
    }

    /// A new service as `-A` describes it (xvs's defaults for the rest), without reals.
    pub fn to_service(&self) -> Service {
        let mut s = match self.id.fwmark {
            Some(m) => Service::new_fwmark(m, self.id.vip.addr.is_ipv6()),
            None => Service::new(self.id.vip, self.id.protocol),
        };
        self.apply_to(&mut s);
        s
    }

    /// Sets what `-E` describes; everything else (the reals, ...) stays.
    pub fn apply_to(&self, s: &mut Service) {
        s.scheduler = self.scheduler.clone();
        s.scheduler_flags = self.flags;
        s.persistence = self.persistence;
        s.persistence_netmask = self.netmask;
        s.ops = self.ops;
    }
}

/// `-a` / `-e`: the whole real definition as ipvsadm has it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RealOpts {
    pub svc: SvcId,
    pub addr: SocketAddr,
    pub forward: Forward,
    /// With `-i`: the tunnel type and its options.
    pub tunnel: Tunnel,
    pub weight: u32,
    pub upper: u32,
    pub lower: u32,
}

impl RealOpts {
    /// A new real as `-a` describes it (xvs's defaults for the rest).
    pub fn to_real(&self) -> Real {
        let mut r = Real::new(self.addr, self.forward);
        self.apply_to(&mut r);
        r
    }

    /// Sets what `-e` describes; everything else (its check, ...) stays.
    pub fn apply_to(&self, r: &mut Real) {
        r.forward = self.forward;
        r.tunnel = if self.forward == Forward::Tun { self.tunnel } else { Tunnel::default() };
        r.weight = self.weight;
        r.upper_threshold = self.upper;
        r.lower_threshold = self.lower;
    }
}

/// `-L` / `-l` and its format options.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ListOpts {
    pub service: Option<SvcId>,
    pub numeric: bool,
    pub connections: bool,
    pub timeout: bool,
    pub daemon: bool,
    pub stats: bool,
    pub rate: bool,
    pub thresholds: bool,
    pub persistent_conn: bool,
    pub nosort: bool,
    pub exact: bool,
    pub tun_info: bool,
    pub json: bool,
    pub health: bool,
    /// xvs: the VRRP instances instead of the table.
    pub vrrp: bool,
}

/// Which sync daemon (`--start-daemon master|backup`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DaemonRole {
    #[default]
    Master,
    Backup,
}

/// `--start-daemon` / `--stop-daemon` and the sync options (`None`: IPVS's default).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DaemonOpts {
    pub role: DaemonRole,
    pub interface: String,
    pub syncid: u8,
    pub maxlen: Option<u16>,
    pub group: Option<std::net::IpAddr>,
    pub port: Option<u16>,
    pub ttl: Option<u8>,
}

/// One ipvsadm command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    AddService(ServiceOpts),
    EditService(ServiceOpts),
    DelService(SvcId),
    Flush,
    AddReal(RealOpts),
    EditReal(RealOpts),
    DelReal {
        svc: SvcId,
        addr: SocketAddr,
    },
    List(ListOpts),
    Zero(Option<SvcId>),
    /// `--set TCP TCPFIN UDP`; 0 = leave that one as it is.
    SetTimeouts {
        tcp: u32,
        tcp_fin: u32,
        udp: u32,
    },
    Save,
    Restore,
    Help,
    Version,
    StartDaemon(DaemonOpts),
    StopDaemon(DaemonRole),
}

impl Command {
    /// True for commands that change the configuration.
    pub fn is_edit(&self) -> bool {
        matches!(
            self,
            Command::AddService(_)
                | Command::EditService(_)
                | Command::DelService(_)
                | Command::Flush
                | Command::AddReal(_)
                | Command::EditReal(_)
                | Command::DelReal { .. }
                | Command::SetTimeouts { .. }
                | Command::Restore
        )
    }
}

impl Entry {
    /// The command `xvs ctl` runs: what xvs does not do is refused, and ipvsadm's (and the
    /// kernel's) checks are made, as usage errors.
    pub fn into_command(self) -> Result<Command, ArgError> {
        self.refuse()?;
        let svc = self.service();
        let compulsory = "checked: commands_v_options";
        Ok(match self.cmd {
            Cmd::Add | Cmd::Edit => {
                let o = self.service_opts().expect(compulsory);
                self.check_service(&o)?;
                if self.cmd == Cmd::Add {
                    Command::AddService(o)
                } else {
                    Command::EditService(o)
                }
            }
            Cmd::Del => Command::DelService(svc.expect(compulsory)),
            Cmd::Flush => Command::Flush,
            Cmd::AddDest | Cmd::EditDest | Cmd::DelDest => {
                let o = self.real_opts().expect(compulsory);
                self.check_real(&o)?;
                match self.cmd {
                    Cmd::AddDest => Command::AddReal(o),
                    Cmd::EditDest => Command::EditReal(o),
                    _ => Command::DelReal { svc: o.svc, addr: o.addr },
                }
            }
            Cmd::List => Command::List(ListOpts { service: svc, ..self.list }),
            Cmd::Zero => Command::Zero(svc),
            Cmd::Timeout => {
                let [tcp, tcp_fin, udp] = self.timeouts;
                Command::SetTimeouts { tcp, tcp_fin, udp }
            }
            Cmd::Save => Command::Save,
            Cmd::Restore => Command::Restore,
            Cmd::Help => Command::Help,
            Cmd::Version => Command::Version,
            Cmd::StartDaemon => Command::StartDaemon(self.daemon.clone().expect(compulsory)),
            Cmd::StopDaemon => Command::StopDaemon(self.daemon.as_ref().expect(compulsory).role),
        })
    }

    /// An error at the value of `opt`.
    fn err_at_value(&self, message: impl Into<String>, opt: Opt) -> ArgError {
        let at = self.value_at(opt).unwrap_or(self.cmd_at);
        err_at(message, at, self.arg(at))
    }

    /// What xvs does not do, as an error.
    fn refuse(&self) -> Result<(), ArgError> {
        if let Some(m) = self.target.and_then(|t| t.refusal()) {
            return Err(self.err_at_value(m, Opt::Service));
        }
        match self.notes.iter().find_map(|n| Some((n.at, n.kind.refusal()?))) {
            Some((at, m)) => Err(err_at(m, at, self.arg(at))),
            None => Ok(()),
        }
    }

    /// ipvsadm's and the kernel's checks of `-A` / `-E`.
    fn check_service(&self, o: &ServiceOpts) -> Result<(), ArgError> {
        let names = xvs_sched::SCHEDULER_NAMES;
        if !names.contains(&o.scheduler.as_str()) {
            let m = format!("Scheduler not found: `{}' (xvs has {})", o.scheduler, names.join(" "));
            return Err(self.err_at_value(m, Opt::Scheduler));
        }
        if o.id.vip.port == 0 && o.persistence == 0 {
            return Err(self.err_at_value("Zero port specified for non-persistent service", Opt::Service));
        }
        if o.ops && o.id.protocol != Protocol::Udp {
            return Err(err("One-Packet Scheduling is only for UDP virtual services"));
        }
        for name in o.flags.names() {
            let owner = if name.starts_with("sh-") { "sh" } else { "mh" };
            if o.scheduler != owner {
                return Err(self.err_at_value(format!("incompatible scheduler flag `{name}'"), Opt::SchedFlags));
            }
        }
        Ok(())
    }

    /// ipvsadm's checks of `-a` / `-e` / `-d`.
    fn check_real(&self, o: &RealOpts) -> Result<(), ArgError> {
        if o.addr.is_ipv4() != o.svc.vip.addr.is_ipv4() {
            let m = if o.forward == Forward::Tun {
                "xvs tunnels only to a real of the service's address family"
            } else {
                "Different address family is allowed only for tunneling servers"
            };
            return Err(self.err_at_value(m, Opt::Server));
        }
        if o.lower > o.upper && o.upper != 0 {
            return Err(err(format!(
                "the lower threshold {} (-y) is above the upper threshold {} (-x)",
                o.lower, o.upper
            )));
        }
        Ok(())
    }
}
