//! One ipvsadm command line read into an [`Entry`], ipvsadm's `ipvs_command_entry`.
//!
//! Invariants:
//! - Values are read with ipvsadm's ranges and messages (`illegal weight specified`), and
//!   every default is resolved (see the module above); an entry that is returned passed
//!   `commands_v_options`.
//! - Everything ipvsadm accepts is read, also what xvs does not do: such a service is a
//!   [`Target`] other than [`Target::Service`], anything else a [`Note`] (both in
//!   `notes.rs`); each reader decides what to do with them (`xvs ctl` refuses, the file
//!   reader warns).
//! - What is a rule about the meaning of the whole (a port-0 service must be persistent,
//!   flags must fit the scheduler, families must match) is not checked here: `xvs ctl`
//!   checks it in [`Entry::into_command`], files in `validate.rs`.

use std::net::{IpAddr, SocketAddr};

use super::command::{DaemonOpts, DaemonRole, ListOpts, RealOpts, ServiceOpts, SvcId};
use super::lex::{tokenize, Occ};
use super::notes::{Note, NoteKind, Target};
use super::table::{check_options, Cmd, Opt, OptSet};
use super::values::{number, parse_service};
use super::{err, err_at, ArgError, DEFAULT_PERSISTENCE, MAX_TIMEOUT};
use crate::model::{
    full_prefix, Forward, Protocol, SchedulerFlags, Tunnel, TunnelCsum, TunnelType, Vip, DEFAULT_SCHEDULER,
};
use crate::syntax::{parse_dotted_mask, suggest};

/// One ipvsadm command line, read: the command, its values with the defaults resolved,
/// and where each option was.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub cmd: Cmd,
    pub target: Option<Target>,
    pub scheduler: String,
    pub flags: SchedulerFlags,
    /// Seconds; 0 = not persistent.
    pub persistence: u32,
    /// Prefix length of the persistence netmask.
    pub netmask: u8,
    pub ops: bool,
    /// The real server, its port resolved.
    pub real: Option<SocketAddr>,
    pub forward: Forward,
    /// `--tun-type`, `--tun-port`, `--tun-*csum` (with `-i`).
    pub tunnel: Tunnel,
    pub weight: u32,
    pub upper: u32,
    pub lower: u32,
    /// The listing options (its `service` is left to [`Entry::into_command`]).
    pub list: ListOpts,
    /// `--set TCP TCPFIN UDP`.
    pub timeouts: [u32; 3],
    /// `--start-daemon` / `--stop-daemon`: the role and the sync options.
    pub daemon: Option<DaemonOpts>,
    pub notes: Vec<Note>,
    /// The argument of the command option.
    pub cmd_at: usize,
    /// Given options: (option, its argument, its value's argument), 0-based.
    spans: Vec<(Opt, usize, usize)>,
    args: Vec<String>,
}

impl Entry {
    /// Reads ipvsadm arguments (without the program name); none is `-L`.
    pub fn parse(args: &[String]) -> Result<Entry, ArgError> {
        let mut tokens = tokenize(args);
        if !tokens.errors.is_empty() {
            return Err(tokens.errors.swap_remove(0));
        }
        let mut r = Reader::default();
        if tokens.occs.is_empty() && tokens.positional.is_empty() {
            r.cmd = Some((Cmd::List, 0));
        }
        for o in &tokens.occs {
            r.option(o)?;
        }
        let first = tokens.occs.first().map(|o| (o.at, o.text.clone())).or_else(|| tokens.positional.first().cloned());
        r.finish(args, tokens.positional, first)
    }

    /// What a line is about even when it is wrong: its command and its service, as far
    /// as they can be read (so a reader can pass over the lines that depend on a wrong one).
    pub fn scan(args: &[String]) -> (Option<Cmd>, Option<Target>) {
        let mut r = Reader::default();
        for o in &tokenize(args).occs {
            match Cmd::of_option(o.name) {
                Some(c) => {
                    r.cmd.get_or_insert((c, o.at));
                }
                None if TARGETS.contains(&o.name) => {
                    let _ = r.target(o);
                }
                None => {}
            }
        }
        (r.cmd.map(|(c, _)| c), r.target)
    }

    /// The argument (0-based) that holds the value of `opt` (the option's own when the
    /// value is attached or it takes none); `None` when it was not given.
    pub fn value_at(&self, opt: Opt) -> Option<usize> {
        self.spans.iter().rev().find(|s| s.0 == opt).map(|s| s.2)
    }

    /// The argument (0-based) of option `opt` itself.
    pub fn option_at(&self, opt: Opt) -> Option<usize> {
        self.spans.iter().rev().find(|s| s.0 == opt).map(|s| s.1)
    }

    /// Argument `i` as written.
    pub fn arg(&self, i: usize) -> &str {
        self.args.get(i).map_or("", String::as_str)
    }

    /// The TCP or UDP service named.
    pub fn service(&self) -> Option<SvcId> {
        self.target.and_then(|t| t.service())
    }

    /// The service as `-A`/`-E` describe it, when the line names one xvs serves.
    pub fn service_opts(&self) -> Option<ServiceOpts> {
        Some(ServiceOpts {
            id: self.service()?,
            scheduler: self.scheduler.clone(),
            flags: self.flags,
            persistence: self.persistence,
            netmask: self.netmask,
            ops: self.ops,
        })
    }

    /// The real as `-a`/`-e` describe it, when the line names a service xvs serves.
    pub fn real_opts(&self) -> Option<RealOpts> {
        Some(RealOpts {
            svc: self.service()?,
            addr: self.real?,
            forward: self.forward,
            tunnel: self.tunnel,
            weight: self.weight,
            upper: self.upper,
            lower: self.lower,
        })
    }
}

/// The options that name the service.
const TARGETS: [&str; 4] = ["tcp-service", "udp-service", "sctp-service", "fwmark-service"];

/// `-t`/`-u` value hint.
const SERVICE_HINT: &str = "write `10.0.1.100:80` or `[2001:db8::1]:80` (a prefix: `203.0.113.0/24:80`); \
     ipvsadm-save without -n prints host and service names: save with `ipvsadm-save -n`";
/// `-r` value hint.
const REAL_HINT: &str = "write `10.0.2.11:80`, `[2001:db8::11]:80`, or just the address for the service's port; \
     ipvsadm-save without -n prints host and service names: save with `ipvsadm-save -n`";

/// The options of one line as they are read, before the defaults.
#[derive(Default)]
struct Reader {
    cmd: Option<(Cmd, usize)>,
    given: OptSet,
    spans: Vec<(Opt, usize, usize)>,
    target: Option<Target>,
    ipv6: Option<usize>,
    scheduler: Option<String>,
    /// The `-b` value and its argument.
    flags: Option<(String, usize)>,
    persistence: Option<u32>,
    /// The `-M` value and its argument.
    netmask: Option<(String, usize)>,
    /// The `-r` address, its port if given, and its argument.
    real: Option<(IpAddr, Option<u16>, usize)>,
    forward: Option<Forward>,
    tunnel: Tunnel,
    weight: Option<u32>,
    upper: Option<u32>,
    lower: Option<u32>,
    ops: bool,
    list: ListOpts,
    daemon: DaemonOpts,
    notes: Vec<Note>,
}

impl Reader {
    fn mark(&mut self, opt: Opt, o: &Occ) {
        self.given.insert(opt);
        self.spans.push((opt, o.at, o.vat));
    }

    fn option(&mut self, o: &Occ) -> Result<(), ArgError> {
        if let Some(c) = Cmd::of_option(o.name) {
            if self.cmd.is_some_and(|(prev, _)| prev != c) {
                return Err(err_at("multiple commands specified", o.at, &o.text).hint("give one command per line"));
            }
            self.cmd = Some((c, o.at));
            if matches!(c, Cmd::StartDaemon | Cmd::StopDaemon) {
                self.daemon.role = match o.value() {
                    "master" => DaemonRole::Master,
                    "backup" => DaemonRole::Backup,
                    v => {
                        return Err(err_at(format!("illegal {} parameter specified", c.name()), o.vat, v)
                            .hint("`master` (send connections) or `backup` (receive them)"))
                    }
                };
            }
            return Ok(());
        }
        match o.name {
            name if TARGETS.contains(&name) => self.target(o),
            "ipv6" => {
                self.ipv6 = Some(o.at);
                Ok(())
            }
            "scheduler" | "sched-flags" | "persistent" | "netmask" | "ops" | "pe" => self.service_option(o),
            "real-server" | "gatewaying" | "ipip" | "masquerading" | "weight" | "u-threshold" | "l-threshold" => {
                self.real_option(o)
            }
            "tun-type" | "tun-port" | "tun-nocsum" | "tun-csum" | "tun-remcsum" => self.tunnel_option(o),
            "mcast-interface" | "syncid" | "mcast-group" | "mcast-port" | "mcast-ttl" | "sync-maxlen" => {
                self.daemon_option(o)
            }
            // ipvsadm's default; `--nosort` turns it off.
            "sort" => Ok(()),
            _ => self.list_option(o),
        }
    }

    /// The sync daemon's options, with ipvsadm's ranges and messages.
    fn daemon_option(&mut self, o: &Occ) -> Result<(), ArgError> {
        let v = o.value();
        let bad = |what: &str, hint: &str| err_at(format!("illegal {what} specified"), o.vat, v).hint(hint.to_string());
        let d = &mut self.daemon;
        let opt = match o.name {
            "mcast-interface" => {
                if v.is_empty() || v.len() > 15 {
                    return Err(bad("multicast interface name", "an interface name of 1 to 15 characters"));
                }
                d.interface = v.to_string();
                Opt::McastIfn
            }
            "syncid" => {
                d.syncid = number(v, 0, 255).ok_or_else(|| bad("syncid", "0..=255"))? as u8;
                Opt::SyncId
            }
            "mcast-group" => {
                let g: IpAddr = v.parse().map_err(|_| bad("multicast group", "a multicast address: `224.0.0.81`"))?;
                if !g.is_multicast() {
                    return Err(bad("multicast group", "a multicast address: `224.0.0.81`"));
                }
                d.group = Some(g);
                Opt::McastGroup
            }
            "mcast-port" => {
                d.port = Some(number(v, 1, 65535).ok_or_else(|| bad("multicast port", "1..=65535"))? as u16);
                Opt::McastPort
            }
            "mcast-ttl" => {
                d.ttl = Some(number(v, 1, 255).ok_or_else(|| bad("multicast TTL", "1..=255"))? as u8);
                Opt::McastTtl
            }
            _ => {
                d.maxlen = Some(number(v, 1, 65535 - 20).ok_or_else(|| bad("sync maxlen", "1..=65515"))? as u16);
                Opt::SyncMaxlen
            }
        };
        self.mark(opt, o);
        Ok(())
    }

    /// `-t`, `-u`, `--sctp-service`, `-f`.
    fn target(&mut self, o: &Occ) -> Result<(), ArgError> {
        let v = o.value();
        let t = if o.name == "fwmark-service" {
            let mark = number(v, 1, u32::MAX).ok_or_else(|| {
                err_at(format!("invalid fwmark value `{v}' specified"), o.vat, v).hint("a mark is 1..=4294967295")
            })?;
            Target::Fwmark { mark, ipv6: false }
        } else {
            let (addr, prefix_len, port) = parse_service(v).ok_or_else(|| {
                err_at("illegal virtual server address[:port] specified", o.vat, v).hint(SERVICE_HINT)
            })?;
            let vip = Vip { addr, prefix_len, port: port.unwrap_or(0) };
            match o.name {
                "tcp-service" => Target::Service(SvcId::at(Protocol::Tcp, vip)),
                "udp-service" => Target::Service(SvcId::at(Protocol::Udp, vip)),
                _ => Target::Service(SvcId::at(Protocol::Sctp, vip)),
            }
        };
        self.target = Some(t);
        self.mark(Opt::Service, o);
        Ok(())
    }

    /// `-s`, `-b`, `-p`, `-M`, `-o`, `--pe`.
    fn service_option(&mut self, o: &Occ) -> Result<(), ArgError> {
        let v = o.value();
        let opt = match o.name {
            "scheduler" => {
                self.scheduler = Some(v.to_string());
                Opt::Scheduler
            }
            "sched-flags" => {
                self.flags = Some((v.to_string(), o.vat));
                Opt::SchedFlags
            }
            "persistent" => {
                self.persistence = Some(match &o.value {
                    None => DEFAULT_PERSISTENCE,
                    Some(t) => number(t, 1, MAX_TIMEOUT).ok_or_else(|| {
                        err_at(format!("invalid timeout value `{t}' specified"), o.vat, t)
                            .hint(format!("a timeout is 1..={MAX_TIMEOUT} seconds; `-p` alone is 300"))
                    })?,
                });
                Opt::Persistent
            }
            "netmask" => {
                self.netmask = Some((v.to_string(), o.vat));
                Opt::Netmask
            }
            "ops" => {
                self.ops = true;
                Opt::Ops
            }
            _ => {
                self.notes.push(Note { at: o.at, kind: NoteKind::PersistenceEngine(v.to_string()) });
                Opt::Pe
            }
        };
        self.mark(opt, o);
        Ok(())
    }

    /// `-r`, `-g`/`-i`/`-m`, `-w`, `-x`, `-y`.
    fn real_option(&mut self, o: &Occ) -> Result<(), ArgError> {
        let v = o.value();
        let opt = match o.name {
            "real-server" => {
                let (addr, _, port) = parse_service(v)
                    .filter(|(a, l, _)| *l == full_prefix(*a))
                    .ok_or_else(|| err_at("illegal real server address[:port] specified", o.vat, v).hint(REAL_HINT))?;
                self.real = Some((addr, port, o.vat));
                Opt::Server
            }
            "gatewaying" | "ipip" | "masquerading" => {
                self.forward = Some(match o.name {
                    "masquerading" => Forward::Nat,
                    "ipip" => Forward::Tun,
                    _ => Forward::Dr,
                });
                Opt::Forward
            }
            "weight" => {
                self.weight =
                    Some(value(o, 0, 65535, "illegal weight specified", "a weight is 0..=65535, e.g. `-w 1`")?);
                Opt::Weight
            }
            _ => {
                let (opt, field, message) = match o.name {
                    "u-threshold" => (Opt::UThreshold, &mut self.upper, "illegal u_threshold specified"),
                    _ => (Opt::LThreshold, &mut self.lower, "illegal l_threshold specified"),
                };
                *field = Some(value(o, 0, i32::MAX as u32, message, "a number of connections; 0 = no limit")?);
                opt
            }
        };
        self.mark(opt, o);
        Ok(())
    }

    /// `--tun-type`, `--tun-port`, `--tun-nocsum`, `--tun-csum`, `--tun-remcsum` (the
    /// rules across them, as the config's, are validation's).
    fn tunnel_option(&mut self, o: &Occ) -> Result<(), ArgError> {
        let v = o.value();
        let t = &mut self.tunnel;
        let opt = match o.name {
            "tun-type" => {
                t.kind = TunnelType::from_name(v).ok_or_else(|| {
                    err_at("illegal tunnel type specified", o.vat, v).hint("use ipip, gue (with --tun-port) or gre")
                })?;
                Opt::TunType
            }
            "tun-port" => {
                t.port = value(o, 1, 65535, "illegal tunnel port specified", "a port is 1..=65535")? as u16;
                Opt::TunPort
            }
            "tun-nocsum" => (Opt::TunNoCsum, t.csum = TunnelCsum::NoCsum).0,
            "tun-csum" => (Opt::TunCsum, t.csum = TunnelCsum::Csum).0,
            _ => (Opt::TunRemCsum, t.csum = TunnelCsum::RemCsum).0,
        };
        self.mark(opt, o);
        Ok(())
    }

    /// The listing options: each sets one flag of [`ListOpts`].
    fn list_option(&mut self, o: &Occ) -> Result<(), ArgError> {
        let l = &mut self.list;
        let (opt, field) = match o.name {
            "numeric" => (Opt::Numeric, &mut l.numeric),
            "connection" => (Opt::Connection, &mut l.connections),
            "timeout" => (Opt::Timeout, &mut l.timeout),
            "daemon" => (Opt::Daemon, &mut l.daemon),
            "stats" => (Opt::Stats, &mut l.stats),
            "rate" => (Opt::Rate, &mut l.rate),
            "thresholds" => (Opt::Thresholds, &mut l.thresholds),
            "persistent-conn" => (Opt::PersistentConn, &mut l.persistent_conn),
            "nosort" => (Opt::NoSort, &mut l.nosort),
            "exact" => (Opt::Exact, &mut l.exact),
            "tun-info" => (Opt::TunInfo, &mut l.tun_info),
            "json" => (Opt::Json, &mut l.json),
            "health" => (Opt::Health, &mut l.health),
            "vrrp" => (Opt::Vrrp, &mut l.vrrp),
            other => return Err(err_at(format!("invalid option `{other}'"), o.at, &o.text)),
        };
        *field = true;
        self.mark(opt, o);
        Ok(())
    }

    /// The checks of the whole line, and the defaults.
    fn finish(
        mut self,
        args: &[String],
        positional: Vec<(usize, String)>,
        first: Option<(usize, String)>,
    ) -> Result<Entry, ArgError> {
        // `--vrrp` alone lists the VRRP instances.
        let vrrp = self.spans.iter().find(|s| s.0 == Opt::Vrrp).map(|s| (Cmd::List, s.1));
        let Some((cmd, cmd_at)) = self.cmd.or(vrrp) else {
            let (at, text) = first.unwrap_or_default();
            return Err(err_at(
                "no command given: the first option must be a command (-A -E -D -C -a -e -d -L -Z -S -R --set)",
                at,
                &text,
            )
            .hint("an ipvsadm-save line is `-A` (a service) or `-a` (a real server)"));
        };
        check_options(cmd, self.given)?;
        let l = &self.list;
        if (l.connections || l.timeout || l.daemon) && (l.stats || l.rate || l.thresholds)
            || (l.timeout || l.daemon) && l.persistent_conn
        {
            return Err(err("options conflicts in the list command"));
        }
        if l.vrrp
            && (l.connections
                || l.timeout
                || l.daemon
                || l.stats
                || l.rate
                || l.thresholds
                || l.persistent_conn
                || l.tun_info
                || l.health
                || self.target.is_some())
        {
            return Err(err("options conflicts in the list command")
                .hint("--vrrp lists the VRRP instances; it takes only -n and --json"));
        }
        let timeouts = timeouts(cmd, positional)?;
        self.fwmark_family(args)?;
        let netmask = self.netmask()?;
        let scheduler = self.scheduler.take().unwrap_or_else(|| DEFAULT_SCHEDULER.to_string());
        let flags = self.flags(&scheduler)?;
        let real = self.real(cmd);
        Ok(Entry {
            cmd,
            target: self.target,
            scheduler,
            flags,
            persistence: self.persistence.unwrap_or(0),
            netmask,
            ops: self.ops,
            real,
            forward: self.forward.unwrap_or(Forward::Dr),
            tunnel: self.tunnel,
            weight: self.weight.unwrap_or(1),
            upper: self.upper.unwrap_or(0),
            lower: self.lower.unwrap_or(0),
            list: self.list,
            daemon: matches!(cmd, Cmd::StartDaemon | Cmd::StopDaemon).then_some(self.daemon),
            timeouts,
            notes: self.notes,
            cmd_at,
            spans: self.spans,
            args: args.to_vec(),
        })
    }

    /// `-6` belongs to `-f`.
    fn fwmark_family(&mut self, args: &[String]) -> Result<(), ArgError> {
        let Some(at) = self.ipv6 else { return Ok(()) };
        match &mut self.target {
            Some(Target::Fwmark { ipv6, .. }) => {
                *ipv6 = true;
                Ok(())
            }
            _ => Err(err_at("-6 used before -f", at, &args[at]).hint("`-6` marks an IPv6 firewall-mark service")),
        }
    }

    /// Whether the service is IPv6 (a firewall mark: when `-6` says so).
    fn ipv6_service(&self) -> bool {
        match self.target {
            Some(Target::Service(SvcId { vip, .. })) => vip.addr.is_ipv6(),
            Some(Target::Fwmark { ipv6, .. }) => ipv6,
            None => false,
        }
    }

    /// `-M`: a dotted IPv4 mask (contiguous) or, for IPv6, a prefix length 1..=128; xvs
    /// also takes a prefix length for IPv4. No `-M`: all ones.
    fn netmask(&self) -> Result<u8, ArgError> {
        let v6 = self.ipv6_service();
        let Some((m, at)) = &self.netmask else { return Ok(if v6 { 128 } else { 32 }) };
        let parsed = if v6 {
            number(m, 1, 128).map(|n| n as u8).ok_or("an IPv6 netmask is a prefix length 1..=128, e.g. `-M 64`".into())
        } else if let Some(n) = number(m, 1, 32) {
            Ok(n as u8)
        } else {
            parse_dotted_mask(m).map_err(|p| p.hint.unwrap_or_default())
        };
        parsed.map_err(|hint| {
            let message =
                if v6 { "illegal ipv6 netmask specified" } else { "illegal virtual server persistent mask specified" };
            err_at(message, *at, m).hint(hint)
        })
    }

    /// `-b`: flag names, and `flag-N` as ipvsadm-save prints the flags of a scheduler it
    /// has no names for (flag-1, flag-2 are sh's and mh's fallback and port).
    fn flags(&mut self, scheduler: &str) -> Result<SchedulerFlags, ArgError> {
        let mut flags = SchedulerFlags::default();
        let Some((text, at)) = self.flags.take() else { return Ok(flags) };
        for name in text.split(',').filter(|n| !n.is_empty()) {
            if flags.set(name) {
                continue;
            }
            let numbered = match name {
                "flag-1" => 1,
                "flag-2" => 2,
                "flag-3" => 3,
                _ => {
                    let known: Vec<&str> =
                        SchedulerFlags::NAMES.iter().copied().chain(["flag-1", "flag-2", "flag-3"]).collect();
                    return Err(
                        err_at(format!("invalid scheduler flag `{name}'"), at, &text).hint(suggest(name, &known))
                    );
                }
            };
            match (scheduler, numbered) {
                ("sh" | "mh", 1 | 2) => {
                    flags.set(&format!("{scheduler}-{}", if numbered == 1 { "fallback" } else { "port" }));
                }
                _ => self.notes.push(Note {
                    at,
                    kind: NoteKind::Flag { flag: name.to_string(), scheduler: scheduler.to_string() },
                }),
            }
        }
        Ok(flags)
    }

    /// `-r`: no port = the service's; a DR or TUN real of `-a`/`-e` always takes the
    /// service's port (ipvsadm replaces the one given; not for a firewall mark).
    fn real(&mut self, cmd: Cmd) -> Option<SocketAddr> {
        let (addr, port, at) = self.real?;
        let (service_port, fwmark) = match self.target {
            Some(Target::Service(SvcId { vip, .. })) => (vip.port, false),
            Some(Target::Fwmark { .. }) | None => (0, true),
        };
        let forward = self.forward.unwrap_or(Forward::Dr);
        let port = match port {
            Some(given)
                if given != service_port
                    && !fwmark
                    && forward != Forward::Nat
                    && matches!(cmd, Cmd::AddDest | Cmd::EditDest) =>
            {
                let kind = NoteKind::RealPort { given, used: service_port, forward };
                self.notes.push(Note { at, kind });
                service_port
            }
            Some(given) => given,
            None => service_port,
        };
        Some(SocketAddr::new(addr, port))
    }
}

/// The value of option `o` as a number in `min..=max`, or `message` at the value.
fn value(o: &Occ, min: u32, max: u32, message: &str, hint: &str) -> Result<u32, ArgError> {
    number(o.value(), min, max).ok_or_else(|| err_at(message, o.vat, o.value()).hint(hint))
}

/// `--set` takes three positional values; nothing else takes any.
fn timeouts(cmd: Cmd, positional: Vec<(usize, String)>) -> Result<[u32; 3], ArgError> {
    let mut positional = positional.into_iter();
    let mut timeouts = [0u32; 3];
    if cmd == Cmd::Timeout {
        for t in timeouts.iter_mut() {
            let (i, v) = positional
                .next()
                .ok_or_else(|| err("--set option requires 3 timeout values").hint("write `--set 900 120 300`"))?;
            *t = number(&v, 0, MAX_TIMEOUT).ok_or_else(|| {
                err_at(format!("invalid timeout value `{v}' specified"), i, &v)
                    .hint(format!("seconds, 0..={MAX_TIMEOUT} (0 leaves it as it is)"))
            })?;
        }
    }
    match positional.next() {
        Some((i, v)) => {
            Err(err_at(format!("unexpected argument {v}"), i, &v)
                .hint("this word belongs to no option; see `ipvsadm -h`"))
        }
        None => Ok(timeouts),
    }
}
