//! ipvsadm's command line, parsed into one [`Command`].
//!
//! The grammar is ipvsadm 1.31's (popt): short options may be clustered (`-Ln`), a short
//! option's value may be attached (`-w3`) or the next argument (`-w 3`), long options take
//! `--name value` or `--name=value`, and `-p` takes an *optional* value (the next argument
//! when it does not start with `-`; else 300 s). Which options each command allows, needs,
//! or takes only one of is ipvsadm's table (`commands_v_options`), with its messages
//! ("You need to supply the 'service-address' option for the 'add-server' command").
//! xvs adds `--json` and `--health` to `-L`, and a prefix VIP (`-t 203.0.113.0/24:80`).
//!
//! Invariants: parsing is pure; a returned [`Command`] is complete, with ipvsadm's defaults
//! resolved (weight 1, `-g`, scheduler wlc, persistence 300 s, a DR/TUN real's port = the
//! service's port); every error names the argument it is about (1-based position).

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use xvs_config::{full_prefix, Forward, Protocol, SchedulerFlags, Vip};

/// ipvsadm's default persistence timeout (IPVS_SVC_PERSISTENT_TIMEOUT).
pub const DEFAULT_PERSISTENCE: u32 = 300;
/// ipvsadm's largest timeout (31 days).
pub const MAX_TIMEOUT: u32 = 86400 * 31;

/// A virtual service: protocol and VIP (address or prefix, port).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SvcId {
    pub protocol: Protocol,
    pub vip: Vip,
}

impl SvcId {
    /// ipvsadm's rule syntax: `-t 10.0.1.100:80`, `-u [2001:db8::1]:53`.
    pub fn rule(&self) -> String {
        let p = if self.protocol == Protocol::Tcp { "-t" } else { "-u" };
        format!("{p} {}", self.vip)
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

/// `-a` / `-e`: the whole real definition as ipvsadm has it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RealOpts {
    pub svc: SvcId,
    pub addr: SocketAddr,
    pub forward: Forward,
    pub weight: u32,
    pub upper: u32,
    pub lower: u32,
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

/// A usage error: ipvsadm's message and, when it is about one argument, which.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArgError {
    pub message: String,
    /// 1-based index into the arguments, and the argument.
    pub at: Option<(usize, String)>,
}

impl fmt::Display for ArgError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.at {
            Some((i, a)) => write!(f, "{} (argument {i}: `{a}`)", self.message),
            None => f.write_str(&self.message),
        }
    }
}

impl std::error::Error for ArgError {}

fn err(message: impl Into<String>) -> ArgError {
    ArgError { message: message.into(), at: None }
}

fn err_at(message: impl Into<String>, i: usize, arg: &str) -> ArgError {
    ArgError { message: message.into(), at: Some((i + 1, arg.to_string())) }
}

/// ipvsadm's command names, for messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cmd {
    Add,
    Edit,
    Del,
    Flush,
    List,
    AddDest,
    DelDest,
    EditDest,
    Timeout,
    Restore,
    Save,
    Zero,
    Help,
    Version,
}

impl Cmd {
    fn name(self) -> &'static str {
        match self {
            Cmd::Add => "add-service",
            Cmd::Edit => "edit-service",
            Cmd::Del => "delete-service",
            Cmd::Flush => "flush",
            Cmd::List => "list",
            Cmd::AddDest => "add-server",
            Cmd::DelDest => "delete-server",
            Cmd::EditDest => "edit-server",
            Cmd::Timeout => "set",
            Cmd::Restore => "restore",
            Cmd::Save => "save",
            Cmd::Zero => "zero",
            Cmd::Help => "help",
            Cmd::Version => "version",
        }
    }
}

/// Options, in ipvsadm's order (their names are ipvsadm's `optnames`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
enum Opt {
    Numeric,
    Connection,
    Service,
    Scheduler,
    Persistent,
    Netmask,
    Server,
    Forward,
    Weight,
    UThreshold,
    LThreshold,
    Timeout,
    Daemon,
    Stats,
    Rate,
    Thresholds,
    PersistentConn,
    NoSort,
    Exact,
    Ops,
    SchedFlags,
    TunInfo,
    TunType,
    Json,
    Health,
}

const OPT_NAMES: [&str; 25] = [
    "numeric",
    "connection",
    "service-address",
    "scheduler",
    "persistent",
    "netmask",
    "real-server",
    "forwarding-method",
    "weight",
    "u-threshold",
    "l-threshold",
    "timeout",
    "daemon",
    "stats",
    "rate",
    "thresholds",
    "persistent-conn",
    "nosort",
    "exact",
    "ops",
    "sched-flags",
    "tun-info",
    "tun-type",
    "json",
    "health",
];

impl Opt {
    fn name(self) -> &'static str {
        OPT_NAMES[self as usize]
    }

    fn bit(self) -> u32 {
        1 << (self as u8)
    }
}

/// ipvsadm's `commands_v_options` for the options xvs has: (compulsory, optional,
/// exclusive-one-of); anything else is illegal.
fn legal(cmd: Cmd) -> (&'static [Opt], &'static [Opt], &'static [Opt]) {
    use Opt::*;
    match cmd {
        Cmd::Add | Cmd::Edit => (&[Service], &[Scheduler, Persistent, Netmask, Ops, SchedFlags], &[]),
        Cmd::Del => (&[Service], &[], &[]),
        Cmd::List => (
            &[],
            &[Numeric, Stats, Rate, Thresholds, PersistentConn, NoSort, Exact, TunInfo, Json, Health],
            &[Connection, Service, Timeout, Daemon],
        ),
        Cmd::AddDest | Cmd::EditDest => (&[Service, Server], &[Forward, Weight, UThreshold, LThreshold, TunType], &[]),
        Cmd::DelDest => (&[Service, Server], &[], &[]),
        Cmd::Save => (&[], &[Numeric], &[]),
        Cmd::Zero => (&[], &[Service], &[]),
        Cmd::Flush | Cmd::Timeout | Cmd::Restore | Cmd::Help | Cmd::Version => (&[], &[], &[]),
    }
}

const ALL_OPTS: [Opt; 25] = [
    Opt::Numeric,
    Opt::Connection,
    Opt::Service,
    Opt::Scheduler,
    Opt::Persistent,
    Opt::Netmask,
    Opt::Server,
    Opt::Forward,
    Opt::Weight,
    Opt::UThreshold,
    Opt::LThreshold,
    Opt::Timeout,
    Opt::Daemon,
    Opt::Stats,
    Opt::Rate,
    Opt::Thresholds,
    Opt::PersistentConn,
    Opt::NoSort,
    Opt::Exact,
    Opt::Ops,
    Opt::SchedFlags,
    Opt::TunInfo,
    Opt::TunType,
    Opt::Json,
    Opt::Health,
];

/// ipvsadm's `generic_opt_check`.
fn check_options(cmd: Cmd, given: u32) -> Result<(), ArgError> {
    let (needed, optional, one_of) = legal(cmd);
    let mut exclusive: Option<Opt> = None;
    for o in ALL_OPTS {
        let set = given & o.bit() != 0;
        if !set {
            if needed.contains(&o) {
                return Err(err(format!(
                    "You need to supply the '{}' option for the '{}' command",
                    o.name(),
                    cmd.name()
                )));
            }
            continue;
        }
        if one_of.contains(&o) {
            if let Some(first) = exclusive {
                return Err(err(format!(
                    "The option '{}' conflicts with the '{}' option in the '{}' command",
                    o.name(),
                    first.name(),
                    cmd.name()
                )));
            }
            exclusive = Some(o);
        } else if !needed.contains(&o) && !optional.contains(&o) {
            return Err(err(format!("Illegal '{}' option with the '{}' command", o.name(), cmd.name())));
        }
    }
    Ok(())
}

/// How an option takes a value.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Arity {
    None,
    One,
    Optional,
}

/// An option as written, normalized to one key: the short letter, or the long name.
fn lookup_short(c: char) -> Option<(&'static str, Arity)> {
    let (key, arity) = match c {
        'A' => ("add-service", Arity::None),
        'E' => ("edit-service", Arity::None),
        'D' => ("delete-service", Arity::None),
        'C' => ("clear", Arity::None),
        'L' | 'l' => ("list", Arity::None),
        'Z' => ("zero", Arity::None),
        'a' => ("add-server", Arity::None),
        'e' => ("edit-server", Arity::None),
        'd' => ("delete-server", Arity::None),
        'h' => ("help", Arity::None),
        'v' => ("version", Arity::None),
        'R' => ("restore", Arity::None),
        'S' => ("save", Arity::None),
        't' => ("tcp-service", Arity::One),
        'u' => ("udp-service", Arity::One),
        'f' => ("fwmark-service", Arity::One),
        's' => ("scheduler", Arity::One),
        'p' => ("persistent", Arity::Optional),
        'M' => ("netmask", Arity::One),
        'r' => ("real-server", Arity::One),
        'm' => ("masquerading", Arity::None),
        'i' => ("ipip", Arity::None),
        'g' => ("gatewaying", Arity::None),
        'w' => ("weight", Arity::One),
        'x' => ("u-threshold", Arity::One),
        'y' => ("l-threshold", Arity::One),
        'n' => ("numeric", Arity::None),
        'c' => ("connection", Arity::None),
        'X' => ("exact", Arity::None),
        '6' => ("ipv6", Arity::None),
        'o' => ("ops", Arity::None),
        'b' => ("sched-flags", Arity::One),
        _ => return None,
    };
    Some((key, arity))
}

fn lookup_long(name: &str) -> Option<Arity> {
    Some(match name {
        "add-service" | "edit-service" | "delete-service" | "clear" | "list" | "zero" | "add-server"
        | "edit-server" | "delete-server" | "set" | "help" | "version" | "restore" | "save" | "masquerading"
        | "ipip" | "gatewaying" | "numeric" | "connection" | "timeout" | "daemon" | "stats" | "rate" | "thresholds"
        | "persistent-conn" | "nosort" | "sort" | "exact" | "ipv6" | "ops" | "tun-info" | "tun-nocsum" | "tun-csum"
        | "tun-remcsum" | "json" | "health" => Arity::None,
        "persistent" => Arity::Optional,
        "tcp-service" | "udp-service" | "sctp-service" | "fwmark-service" | "scheduler" | "netmask" | "real-server"
        | "weight" | "u-threshold" | "l-threshold" | "start-daemon" | "stop-daemon" | "mcast-interface" | "syncid"
        | "pe" | "sched-flags" | "mcast-group" | "mcast-port" | "mcast-ttl" | "sync-maxlen" | "tun-type"
        | "tun-port" => Arity::One,
        _ => return None,
    })
}

/// One option occurrence: its key, value, and the index of the argument it came from.
struct Occ {
    key: &'static str,
    value: Option<String>,
    /// Where the option is.
    at: usize,
    /// Where its value is (the option's own argument when attached).
    vat: usize,
    text: String,
}

/// Positional arguments with their indices.
type Positional = Vec<(usize, String)>;

/// Split `args` into option occurrences and positional arguments (popt's rules).
fn tokenize(args: &[String]) -> Result<(Vec<Occ>, Positional), ArgError> {
    let mut occs = Vec::new();
    let mut positional = Vec::new();
    let mut i = 0;
    let takes_next = |j: usize| args.get(j).is_some_and(|a| !a.starts_with('-') || a == "-");
    while i < args.len() {
        let a = &args[i];
        if a == "--" {
            positional.extend(args[i + 1..].iter().enumerate().map(|(k, s)| (i + 1 + k, s.clone())));
            break;
        }
        if let Some(long) = a.strip_prefix("--") {
            let at = i;
            let (name, attached) = match long.split_once('=') {
                Some((n, v)) => (n, Some(v.to_string())),
                None => (long, None),
            };
            let arity = lookup_long(name).ok_or_else(|| err_at(format!("invalid option `{a}'"), i, a))?;
            let key: &'static str = OPT_KEYS.iter().find(|k| **k == name).copied().unwrap_or("?");
            let value = match arity {
                Arity::None => {
                    if attached.is_some() {
                        return Err(err_at(format!("option `--{name}' takes no value"), i, a));
                    }
                    None
                }
                Arity::One => match attached {
                    Some(v) => Some(v),
                    None => {
                        if i + 1 >= args.len() {
                            return Err(err_at(format!("missing argument to `--{name}'"), i, a));
                        }
                        i += 1;
                        Some(args[i].clone())
                    }
                },
                Arity::Optional => match attached {
                    Some(v) => Some(v),
                    None if takes_next(i + 1) => {
                        i += 1;
                        Some(args[i].clone())
                    }
                    None => None,
                },
            };
            occs.push(Occ { key, value, at, vat: i, text: a.clone() });
            i += 1;
            continue;
        }
        if a.len() > 1 && a.starts_with('-') {
            let chars: Vec<char> = a[1..].chars().collect();
            let at = i;
            let mut k = 0;
            while k < chars.len() {
                let c = chars[k];
                let (key, arity) = lookup_short(c).ok_or_else(|| err_at(format!("invalid option `-{c}'"), at, a))?;
                let rest: String = chars[k + 1..].iter().collect();
                let value = match arity {
                    Arity::None => None,
                    Arity::One if !rest.is_empty() => {
                        k = chars.len();
                        Some(rest)
                    }
                    Arity::One => {
                        if i + 1 >= args.len() {
                            return Err(err_at(format!("missing argument to `-{c}'"), at, a));
                        }
                        i += 1;
                        Some(args[i].clone())
                    }
                    Arity::Optional if !rest.is_empty() => {
                        k = chars.len();
                        Some(rest)
                    }
                    Arity::Optional if takes_next(i + 1) => {
                        i += 1;
                        Some(args[i].clone())
                    }
                    Arity::Optional => None,
                };
                occs.push(Occ { key, value, at, vat: i, text: a.clone() });
                k += 1;
            }
            i += 1;
            continue;
        }
        positional.push((i, a.clone()));
        i += 1;
    }
    Ok((occs, positional))
}

/// Every long name, so a `&'static str` key can be had for a `--name` given at run time.
const OPT_KEYS: [&str; 59] = [
    "add-service",
    "edit-service",
    "delete-service",
    "clear",
    "list",
    "zero",
    "add-server",
    "edit-server",
    "delete-server",
    "set",
    "help",
    "version",
    "restore",
    "save",
    "masquerading",
    "ipip",
    "gatewaying",
    "numeric",
    "connection",
    "timeout",
    "daemon",
    "stats",
    "rate",
    "thresholds",
    "persistent-conn",
    "nosort",
    "sort",
    "exact",
    "ipv6",
    "ops",
    "tun-info",
    "tun-nocsum",
    "tun-csum",
    "tun-remcsum",
    "json",
    "health",
    "persistent",
    "tcp-service",
    "udp-service",
    "sctp-service",
    "fwmark-service",
    "scheduler",
    "netmask",
    "real-server",
    "weight",
    "u-threshold",
    "l-threshold",
    "start-daemon",
    "stop-daemon",
    "mcast-interface",
    "syncid",
    "pe",
    "sched-flags",
    "mcast-group",
    "mcast-port",
    "mcast-ttl",
    "sync-maxlen",
    "tun-type",
    "tun-port",
];

/// ipvsadm's `string_to_number`: a decimal integer in `min..=max`.
fn number(s: &str, min: u32, max: u32) -> Option<u32> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse::<u64>().ok().filter(|n| (min as u64..=max as u64).contains(n)).map(|n| n as u32)
}

/// ipvsadm's `parse_service`: `ADDR[:PORT]`, `[IPV6]:PORT`, or a bare IPv6 address; xvs
/// also takes a prefix (`203.0.113.0/24:80`, `[2001:db8::/64]:80`). Returns the address,
/// its prefix length, and the port if one was given.
pub fn parse_service(s: &str) -> Option<(IpAddr, u8, Option<u16>)> {
    if s.is_empty() || s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let (host, port) = if let Some(rest) = s.strip_prefix('[') {
        let (h, p) = rest.split_once("]:")?;
        (h, Some(p))
    } else if let Ok(v6) = s.parse::<std::net::Ipv6Addr>() {
        return Some((IpAddr::V6(v6), 128, None));
    } else if s.contains(':') && s.contains('/') && s.matches(':').count() > 1 {
        // A bare IPv6 prefix without a port.
        (s, None)
    } else {
        match s.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (s, None),
        }
    };
    let (addr, len) = match host.split_once('/') {
        Some((a, l)) => (a, Some(l)),
        None => (host, None),
    };
    let addr: IpAddr = addr.parse().ok()?;
    if s.starts_with('[') && addr.is_ipv4() {
        return None;
    }
    let len = match len {
        None => full_prefix(addr),
        Some(l) => number(l, 0, full_prefix(addr) as u32)? as u8,
    };
    let port = match port {
        None => None,
        Some(p) => Some(number(p, 0, 65535)? as u16),
    };
    Some((addr, len, port))
}

/// Parse ipvsadm arguments (without the program name).
pub fn parse(args: &[String]) -> Result<Command, ArgError> {
    let (occs, positional) = tokenize(args)?;
    if occs.is_empty() && positional.is_empty() {
        // ipvsadm with no arguments lists the table.
        return Ok(Command::List(ListOpts::default()));
    }
    let mut cmd: Option<(Cmd, usize)> = None;
    let mut set_cmd = |c: Cmd, o: &Occ| -> Result<(), ArgError> {
        if let Some((prev, _)) = cmd {
            if prev != c {
                return Err(err_at("multiple commands specified", o.at, &o.text));
            }
        }
        cmd = Some((c, o.at));
        Ok(())
    };
    let mut given = 0u32;
    let mut svc: Option<(Protocol, IpAddr, u8, Option<u16>, usize)> = None;
    let mut scheduler: Option<String> = None;
    let mut persistence: Option<u32> = None;
    let mut netmask: Option<(String, usize, String)> = None;
    let mut real: Option<(IpAddr, Option<u16>, usize, String)> = None;
    let mut forward = Forward::Dr;
    let mut weight = 1u32;
    let mut upper = 0u32;
    let mut lower = 0u32;
    let mut ops = false;
    let mut flags_arg: Option<(String, usize, String)> = None;
    let mut list = ListOpts::default();
    let set = |given: &mut u32, o: Opt| *given |= o.bit();
    for o in &occs {
        let v = o.value.clone().unwrap_or_default();
        match o.key {
            "add-service" => set_cmd(Cmd::Add, o)?,
            "edit-service" => set_cmd(Cmd::Edit, o)?,
            "delete-service" => set_cmd(Cmd::Del, o)?,
            "clear" => set_cmd(Cmd::Flush, o)?,
            "list" => set_cmd(Cmd::List, o)?,
            "zero" => set_cmd(Cmd::Zero, o)?,
            "add-server" => set_cmd(Cmd::AddDest, o)?,
            "edit-server" => set_cmd(Cmd::EditDest, o)?,
            "delete-server" => set_cmd(Cmd::DelDest, o)?,
            "set" => set_cmd(Cmd::Timeout, o)?,
            "restore" => set_cmd(Cmd::Restore, o)?,
            "save" => set_cmd(Cmd::Save, o)?,
            "help" => set_cmd(Cmd::Help, o)?,
            "version" => set_cmd(Cmd::Version, o)?,
            "tcp-service" | "udp-service" => {
                set(&mut given, Opt::Service);
                let proto = if o.key == "tcp-service" { Protocol::Tcp } else { Protocol::Udp };
                let (addr, len, port) = parse_service(&v)
                    .ok_or_else(|| err_at("illegal virtual server address[:port] specified", o.vat, &v))?;
                svc = Some((proto, addr, len, port, o.vat));
            }
            "sctp-service" => return Err(err_at("xvs has no SCTP services (TCP and UDP only)", o.at, &o.text)),
            "fwmark-service" | "ipv6" => {
                return Err(err_at(
                    "xvs has no firewall-mark services: give the service as -t|-u ADDRESS:PORT",
                    o.at,
                    &o.text,
                ))
            }
            "start-daemon" | "stop-daemon" | "mcast-interface" | "syncid" | "mcast-group" | "mcast-port"
            | "mcast-ttl" | "sync-maxlen" => {
                return Err(err_at("xvs has no IPVS connection-sync daemon", o.at, &o.text));
            }
            "pe" => return Err(err_at("xvs has no persistence engines (--pe)", o.at, &o.text)),
            "tun-port" | "tun-nocsum" | "tun-csum" | "tun-remcsum" => {
                return Err(err_at("xvs tunnels are IPIP only: GUE and GRE options do not apply", o.at, &o.text))
            }
            "scheduler" => {
                set(&mut given, Opt::Scheduler);
                if !xvs_sched::SCHEDULER_NAMES.contains(&v.as_str()) {
                    return Err(err_at(
                        format!("Scheduler not found: `{v}' (xvs has {})", xvs_sched::SCHEDULER_NAMES.join(" ")),
                        o.vat,
                        &v,
                    ));
                }
                scheduler = Some(v);
            }
            "persistent" => {
                set(&mut given, Opt::Persistent);
                persistence = Some(match &o.value {
                    None => DEFAULT_PERSISTENCE,
                    Some(t) => number(t, 1, MAX_TIMEOUT)
                        .ok_or_else(|| err_at(format!("invalid timeout value `{t}' specified"), o.vat, t))?,
                });
            }
            "netmask" => {
                set(&mut given, Opt::Netmask);
                netmask = Some((v.clone(), o.vat, v));
            }
            "real-server" => {
                set(&mut given, Opt::Server);
                let (addr, _, port) = parse_service(&v)
                    .filter(|(a, l, _)| *l == full_prefix(*a))
                    .ok_or_else(|| err_at("illegal real server address[:port] specified", o.vat, &v))?;
                real = Some((addr, port, o.vat, v));
            }
            "masquerading" | "ipip" | "gatewaying" => {
                set(&mut given, Opt::Forward);
                forward = match o.key {
                    "masquerading" => Forward::Nat,
                    "ipip" => Forward::Tun,
                    _ => Forward::Dr,
                };
            }
            "weight" => {
                set(&mut given, Opt::Weight);
                weight = number(&v, 0, 65535).ok_or_else(|| err_at("illegal weight specified", o.vat, &v))?;
            }
            "u-threshold" => {
                set(&mut given, Opt::UThreshold);
                upper =
                    number(&v, 0, i32::MAX as u32).ok_or_else(|| err_at("illegal u_threshold specified", o.vat, &v))?;
            }
            "l-threshold" => {
                set(&mut given, Opt::LThreshold);
                lower =
                    number(&v, 0, i32::MAX as u32).ok_or_else(|| err_at("illegal l_threshold specified", o.vat, &v))?;
            }
            "numeric" => {
                set(&mut given, Opt::Numeric);
                list.numeric = true;
            }
            "connection" => {
                set(&mut given, Opt::Connection);
                list.connections = true;
            }
            "timeout" => {
                set(&mut given, Opt::Timeout);
                list.timeout = true;
            }
            "daemon" => {
                set(&mut given, Opt::Daemon);
                list.daemon = true;
            }
            "stats" => {
                set(&mut given, Opt::Stats);
                list.stats = true;
            }
            "rate" => {
                set(&mut given, Opt::Rate);
                list.rate = true;
            }
            "thresholds" => {
                set(&mut given, Opt::Thresholds);
                list.thresholds = true;
            }
            "persistent-conn" => {
                set(&mut given, Opt::PersistentConn);
                list.persistent_conn = true;
            }
            "nosort" => {
                set(&mut given, Opt::NoSort);
                list.nosort = true;
            }
            "sort" => {}
            "exact" => {
                set(&mut given, Opt::Exact);
                list.exact = true;
            }
            "ops" => {
                set(&mut given, Opt::Ops);
                ops = true;
            }
            "sched-flags" => {
                set(&mut given, Opt::SchedFlags);
                flags_arg = Some((v.clone(), o.vat, v));
            }
            "tun-info" => {
                set(&mut given, Opt::TunInfo);
                list.tun_info = true;
            }
            "tun-type" => {
                set(&mut given, Opt::TunType);
                if v != "ipip" {
                    return Err(err_at(
                        if matches!(v.as_str(), "gue" | "gre") {
                            "xvs tunnels are IPIP only (--tun-type ipip)".to_string()
                        } else {
                            "illegal tunnel type specified".to_string()
                        },
                        o.vat,
                        &v,
                    ));
                }
            }
            "json" => {
                set(&mut given, Opt::Json);
                list.json = true;
            }
            "health" => {
                set(&mut given, Opt::Health);
                list.health = true;
            }
            other => return Err(err_at(format!("invalid option `{other}'"), o.at, &o.text)),
        }
    }
    let Some((cmd, _)) = cmd else {
        let (at, text) =
            occs.first().map(|o| (o.at, o.text.clone())).or_else(|| positional.first().cloned()).unwrap_or_default();
        return Err(err_at(
            "no command given: the first option must be a command (-A -E -D -C -a -e -d -L -Z -S -R --set)",
            at,
            &text,
        ));
    };
    check_options(cmd, given)?;
    if cmd == Cmd::List
        && ((list.connections || list.timeout || list.daemon) && (list.stats || list.rate || list.thresholds)
            || (list.timeout || list.daemon) && list.persistent_conn)
    {
        return Err(err("options conflicts in the list command"));
    }

    // --set takes three positional values; nothing else takes any.
    let mut positional = positional.into_iter();
    let mut timeouts = [0u32; 3];
    if cmd == Cmd::Timeout {
        for t in timeouts.iter_mut() {
            let (i, v) = positional.next().ok_or_else(|| err("--set option requires 3 timeout values"))?;
            *t = number(&v, 0, MAX_TIMEOUT)
                .ok_or_else(|| err_at(format!("invalid timeout value `{v}' specified"), i, &v))?;
        }
    }
    if let Some((i, v)) = positional.next() {
        return Err(err_at(format!("unexpected argument {v}"), i, &v));
    }

    let id = svc.map(|(protocol, addr, prefix_len, port, _)| SvcId {
        protocol,
        vip: Vip { addr, prefix_len, port: port.unwrap_or(0) },
    });
    let svc_at = svc.map(|s| s.4).unwrap_or(0);
    Ok(match cmd {
        Cmd::Add | Cmd::Edit => {
            let id = id.expect("checked: service-address is compulsory");
            let scheduler = scheduler.unwrap_or_else(|| xvs_config::DEFAULT_SCHEDULER.to_string());
            let persistence = persistence.unwrap_or(0);
            if id.vip.port == 0 && persistence == 0 {
                return Err(err_at("Zero port specified for non-persistent service", svc_at, &id.vip.to_string()));
            }
            if ops && id.protocol != Protocol::Udp {
                return Err(err("One-Packet Scheduling is only for UDP virtual services"));
            }
            let netmask = match netmask {
                None => full_prefix(id.vip.addr),
                Some((m, at, text)) => parse_netmask(&m, id.vip.addr).ok_or_else(|| {
                    err_at(
                        if id.vip.addr.is_ipv4() {
                            "illegal virtual server persistent mask specified"
                        } else {
                            "illegal ipv6 netmask specified"
                        },
                        at,
                        &text,
                    )
                })?,
            };
            let mut flags = SchedulerFlags::default();
            if let Some((f, at, text)) = flags_arg {
                for name in f.split(',').filter(|n| !n.is_empty()) {
                    if !flags.set(name) {
                        return Err(err_at(
                            if matches!(name, "flag-1" | "flag-2" | "flag-3") {
                                format!("scheduler flag `{name}' has no meaning for {scheduler} in xvs")
                            } else {
                                format!("invalid scheduler flag `{name}'")
                            },
                            at,
                            &text,
                        ));
                    }
                    let fits = if name.starts_with("sh-") { scheduler == "sh" } else { scheduler == "mh" };
                    if !fits {
                        return Err(err_at(format!("incompatible scheduler flag `{name}'"), at, &text));
                    }
                }
            }
            let o = ServiceOpts { id, scheduler, flags, persistence, netmask, ops };
            if cmd == Cmd::Add {
                Command::AddService(o)
            } else {
                Command::EditService(o)
            }
        }
        Cmd::Del => Command::DelService(id.expect("compulsory")),
        Cmd::Flush => Command::Flush,
        Cmd::AddDest | Cmd::EditDest | Cmd::DelDest => {
            let id = id.expect("compulsory");
            let (raddr, rport, rat, rtext) = real.expect("compulsory");
            // ipvsadm: no port = the service's; DR and TUN always use the service's port.
            let mut port = rport.unwrap_or(id.vip.port);
            if cmd != Cmd::DelDest && forward != Forward::Nat {
                port = id.vip.port;
            }
            if raddr.is_ipv4() != id.vip.addr.is_ipv4() {
                return Err(err_at(
                    if forward == Forward::Tun {
                        "xvs tunnels only to a real of the service's address family"
                    } else {
                        "Different address family is allowed only for tunneling servers"
                    },
                    rat,
                    &rtext,
                ));
            }
            if lower > upper && upper != 0 {
                return Err(err(format!("the lower threshold {lower} (-y) is above the upper threshold {upper} (-x)")));
            }
            let addr = SocketAddr::new(raddr, port);
            match cmd {
                Cmd::DelDest => Command::DelReal { svc: id, addr },
                _ => {
                    let o = RealOpts { svc: id, addr, forward, weight, upper, lower };
                    if cmd == Cmd::AddDest {
                        Command::AddReal(o)
                    } else {
                        Command::EditReal(o)
                    }
                }
            }
        }
        Cmd::List => {
            list.service = id;
            Command::List(list)
        }
        Cmd::Zero => Command::Zero(id),
        Cmd::Timeout => Command::SetTimeouts { tcp: timeouts[0], tcp_fin: timeouts[1], udp: timeouts[2] },
        Cmd::Save => Command::Save,
        Cmd::Restore => Command::Restore,
        Cmd::Help => Command::Help,
        Cmd::Version => Command::Version,
    })
}

/// `-M`: a dotted IPv4 mask (contiguous) or, for IPv6, a prefix length 1..=128. xvs also
/// takes a prefix length for IPv4.
fn parse_netmask(s: &str, vip: IpAddr) -> Option<u8> {
    if vip.is_ipv6() {
        return number(s, 1, 128).map(|n| n as u8);
    }
    if let Some(n) = number(s, 1, 32) {
        return Some(n as u8);
    }
    let m: Ipv4Addr = s.parse().ok()?;
    let bits = u32::from(m);
    let len = bits.leading_ones();
    (bits.checked_shl(len).unwrap_or(0) == 0).then_some(len as u8)
}

/// Split one line of `ipvsadm-save` output (`-R` input) into arguments: whitespace
/// separated, `#` starts a comment, blank lines give nothing. A leading `ipvsadm` word
/// is dropped.
pub fn split_line(line: &str) -> Vec<String> {
    let line = line.split('#').next().unwrap_or("");
    let mut words: Vec<String> = line.split_whitespace().map(str::to_string).collect();
    if words.first().is_some_and(|w| w == "ipvsadm" || w.ends_with("/ipvsadm")) {
        words.remove(0);
    }
    words
}

/// ipvsadm's `-h` text, for xvs.
pub const USAGE: &str = "\
Usage:
  xvs ctl [-c CONTROL_SOCKET | --config FILE] ARGS...   (ARGS as for ipvsadm)
  xvs ctl -A|E virtual-service [-s scheduler] [-p [timeout]] [-M netmask] [--ops] [-b sched-flags]
  xvs ctl -D virtual-service
  xvs ctl -C
  xvs ctl -R
  xvs ctl -S [-n]
  xvs ctl -a|e virtual-service -r server-address [-g|i|m] [-w weight] [-x upper] [-y lower]
  xvs ctl -d virtual-service -r server-address
  xvs ctl -L|l [virtual-service] [options]
  xvs ctl -Z [virtual-service]
  xvs ctl --set tcp tcpfin udp
  xvs ctl -h

Commands:
  --add-service     -A        add virtual service with options
  --edit-service    -E        edit virtual service with options
  --delete-service  -D        delete virtual service
  --clear           -C        clear the whole table
  --restore         -R        restore rules from stdin (all of them, or none on an error)
  --save            -S        save rules to stdout
  --add-server      -a        add real server with options
  --edit-server     -e        edit real server with options
  --delete-server   -d        delete real server
  --list            -L|-l     list the table
  --zero            -Z        zero counters in a service or all services
  --set tcp tcpfin udp        set connection timeout values
  --help            -h        display this help message

virtual-service:
  --tcp-service|-t  service-address   service-address is host[:port] (or [IPv6]:port, or PREFIX/LEN:port)
  --udp-service|-u  service-address

Options:
  --scheduler    -s scheduler         one of rr|wrr|lc|wlc|fo|ovf|lblc|lblcr|dh|sh|mh|sed|nq|twos,
                                      the default scheduler is wlc.
  --sched-flags  -b flags             scheduler flags (comma-separated): sh-fallback sh-port mh-fallback mh-port
  --persistent   -p [timeout]         persistent service (default 300 s)
  --netmask      -M netmask           persistent granularity mask
  --real-server  -r server-address    server-address is host (and port)
  --gatewaying   -g                   gatewaying (direct routing) (default)
  --ipip         -i                   ipip encapsulation (tunneling)
  --masquerading -m                   masquerading (NAT)
  --tun-type     ipip                 the one tunnel type xvs has
  --weight       -w weight            capacity of real server
  --u-threshold  -x uthreshold        upper threshold of connections
  --l-threshold  -y lthreshold        lower threshold of connections
  --connection   -c                   output of current IPVS connections
  --timeout                           output of timeout (tcp tcpfin udp)
  --stats                             output of statistics information
  --rate                              output of rate information
  --exact                             expand numbers (display exact values)
  --thresholds                        output of thresholds information
  --persistent-conn                   output of persistent connection info
  --tun-info                          output of tunnel information
  --nosort                            disable sorting output of service/server entries
  --numeric      -n                   numeric output of addresses and ports (xvs never resolves names)
  --ops          -o                   one-packet scheduling
  --json                              (xvs) the listing as JSON
  --health                            (xvs) add the health-check state of each real
";

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Result<Command, ArgError> {
        parse(&s.split_whitespace().map(str::to_string).collect::<Vec<_>>())
    }

    fn svc(s: &str) -> SvcId {
        let (addr, prefix_len, port) = parse_service(s).unwrap();
        SvcId { protocol: Protocol::Tcp, vip: Vip { addr, prefix_len, port: port.unwrap_or(0) } }
    }

    fn e(s: &str) -> String {
        p(s).unwrap_err().to_string()
    }

    #[test]
    fn services() {
        assert_eq!(
            p("-A -t 10.0.1.100:80 -s rr").unwrap(),
            Command::AddService(ServiceOpts {
                id: svc("10.0.1.100:80"),
                scheduler: "rr".into(),
                flags: SchedulerFlags::default(),
                persistence: 0,
                netmask: 32,
                ops: false
            })
        );
        let Command::AddService(o) = p("-A -t 10.0.1.100:80 -p").unwrap() else { panic!() };
        assert_eq!((o.scheduler.as_str(), o.persistence, o.netmask), ("wlc", 300, 32));
        let Command::EditService(o) = p("-E -t 10.0.1.100:80 -s wlc -p 600 -M 255.255.255.0").unwrap() else {
            panic!()
        };
        assert_eq!((o.persistence, o.netmask), (600, 24));
        let Command::AddService(o) =
            p("-A -u [2001:db8::1]:53 --ops -s mh -b mh-port,mh-fallback -p600 -M 64").unwrap()
        else {
            panic!()
        };
        assert!(o.ops && o.flags.mh_port && o.flags.mh_fallback);
        assert_eq!((o.id.protocol, o.persistence, o.netmask), (Protocol::Udp, 600, 64));
        assert_eq!(o.id.vip.to_string(), "[2001:db8::1]:53");
        let Command::AddService(o) = p("-A -t 203.0.113.0/24:80 -s dh").unwrap() else { panic!() };
        assert_eq!(o.id.vip.prefix_len, 24);
        assert_eq!(p("-D -t 10.0.1.100:80").unwrap(), Command::DelService(svc("10.0.1.100:80")));
        assert_eq!(p("-C").unwrap(), Command::Flush);
        assert_eq!(p("--clear").unwrap(), Command::Flush);
        // Long forms and attached values.
        let Command::AddService(o) =
            p("--add-service --tcp-service=10.0.1.100:80 --scheduler=sh --sched-flags sh-port").unwrap()
        else {
            panic!()
        };
        assert!(o.flags.sh_port);
    }

    #[test]
    fn reals() {
        let Command::AddReal(o) = p("-a -t 10.0.1.100:80 -r 10.0.2.11:8080 -m -w 3 -x 100 -y 50").unwrap() else {
            panic!()
        };
        assert_eq!(
            (o.addr.to_string(), o.forward, o.weight, o.upper, o.lower),
            ("10.0.2.11:8080".into(), Forward::Nat, 3, 100, 50)
        );
        // Defaults: -g, weight 1, and DR/TUN take the service's port.
        let Command::AddReal(o) = p("-a -t 10.0.1.100:80 -r 10.0.2.11:8080").unwrap() else { panic!() };
        assert_eq!((o.addr.to_string(), o.forward, o.weight), ("10.0.2.11:80".into(), Forward::Dr, 1));
        let Command::EditReal(o) = p("-e -t 10.0.1.100:80 -r 10.0.2.11 -i -w0").unwrap() else { panic!() };
        assert_eq!((o.addr.to_string(), o.forward, o.weight), ("10.0.2.11:80".into(), Forward::Tun, 0));
        let Command::AddReal(o) = p("-a -t 10.0.1.100:80 -r 10.0.2.11 -m").unwrap() else { panic!() };
        assert_eq!(o.addr.port(), 80, "no port: the service's");
        assert_eq!(
            p("-d -t 10.0.1.100:80 -r 10.0.2.11:8080").unwrap(),
            Command::DelReal { svc: svc("10.0.1.100:80"), addr: "10.0.2.11:8080".parse().unwrap() }
        );
        let Command::AddReal(o) = p("-a -u [2001:db8::1]:53 -r [2001:db8:2::11]:5353 -m").unwrap() else { panic!() };
        assert_eq!(o.addr.to_string(), "[2001:db8:2::11]:5353");
        assert!(p("-a -t 10.0.1.100:80 -r 10.0.2.11 -i --tun-type ipip").is_ok());
    }

    #[test]
    fn listings() {
        assert_eq!(p("").unwrap(), Command::List(ListOpts::default()));
        let Command::List(l) = p("-Ln").unwrap() else { panic!() };
        assert!(l.numeric && !l.stats);
        let Command::List(l) = p("-L -n --stats --exact").unwrap() else { panic!() };
        assert!(l.stats && l.exact);
        let Command::List(l) = p("-l --rate").unwrap() else { panic!() };
        assert!(l.rate);
        let Command::List(l) = p("-Lnc").unwrap() else { panic!() };
        assert!(l.connections);
        let Command::List(l) = p("-L --timeout").unwrap() else { panic!() };
        assert!(l.timeout);
        let Command::List(l) = p("-Ln -t 10.0.1.100:80 --json --health --thresholds --nosort").unwrap() else {
            panic!()
        };
        assert!(l.json && l.health && l.thresholds && l.nosort && l.service.is_some());
        assert_eq!(p("-S -n").unwrap(), Command::Save);
        assert_eq!(p("-R").unwrap(), Command::Restore);
        assert_eq!(p("-Z").unwrap(), Command::Zero(None));
        assert_eq!(p("-Z -t 10.0.1.100:80").unwrap(), Command::Zero(Some(svc("10.0.1.100:80"))));
        assert_eq!(p("--set 900 120 300").unwrap(), Command::SetTimeouts { tcp: 900, tcp_fin: 120, udp: 300 });
        assert_eq!(p("--set 0 60 0").unwrap(), Command::SetTimeouts { tcp: 0, tcp_fin: 60, udp: 0 });
        assert_eq!(p("-h").unwrap(), Command::Help);
    }

    #[test]
    fn errors_in_ipvsadm_words_with_positions() {
        assert_eq!(e("-a -t 10.0.1.100:80 -r 10.0.2.11 -w x"), "illegal weight specified (argument 7: `x`)");
        assert_eq!(e("-a -t 10.0.1.100:80 -r 10.0.2.11 -w 70000"), "illegal weight specified (argument 7: `70000`)");
        assert_eq!(
            e("-A -t 10.0.1.300:80"),
            "illegal virtual server address[:port] specified (argument 3: `10.0.1.300:80`)"
        );
        assert_eq!(
            e("-a -t 10.0.1.100:80 -r nope"),
            "illegal real server address[:port] specified (argument 5: `nope`)"
        );
        assert_eq!(
            e("-a -t 10.0.1.100:80"),
            "You need to supply the 'real-server' option for the 'add-server' command"
        );
        assert_eq!(
            e("-a -r 10.0.2.11"),
            "You need to supply the 'service-address' option for the 'add-server' command"
        );
        assert_eq!(e("-A -t 10.0.1.100:80 -w 2"), "Illegal 'weight' option with the 'add-service' command");
        assert_eq!(
            e("-L -c -t 10.0.1.100:80"),
            "The option 'service-address' conflicts with the 'connection' option in the 'list' command"
        );
        assert_eq!(e("-L -c --stats"), "options conflicts in the list command");
        assert_eq!(
            e("-A -t 10.0.1.100:0"),
            "Zero port specified for non-persistent service (argument 3: `10.0.1.100:0`)"
        );
        assert_eq!(e("-A -t 10.0.1.100:80 --ops"), "One-Packet Scheduling is only for UDP virtual services");
        assert_eq!(
            e("-A -t 10.0.1.100:80 -s rr -b sh-port"),
            "incompatible scheduler flag `sh-port' (argument 7: `sh-port`)"
        );
        assert_eq!(e("-A -t 10.0.1.100:80 -s sh -b nope"), "invalid scheduler flag `nope' (argument 7: `nope`)");
        assert!(e("-A -t 10.0.1.100:80 -s fast").starts_with("Scheduler not found: `fast'"));
        assert_eq!(e("-A -t 10.0.1.100:80 -p 0"), "invalid timeout value `0' specified (argument 5: `0`)");
        assert_eq!(
            e("-A -t 10.0.1.100:80 -p -M 255.0.255.0"),
            "illegal virtual server persistent mask specified (argument 6: `255.0.255.0`)"
        );
        assert_eq!(e("--set 900 120"), "--set option requires 3 timeout values");
        assert_eq!(e("--set 900 120 x"), "invalid timeout value `x' specified (argument 4: `x`)");
        assert_eq!(e("-C extra"), "unexpected argument extra (argument 2: `extra`)");
        assert_eq!(e("-A -D -t 10.0.1.100:80"), "multiple commands specified (argument 2: `-D`)");
        assert_eq!(e("-Q"), "invalid option `-Q' (argument 1: `-Q`)");
        assert_eq!(e("--frobnicate"), "invalid option `--frobnicate' (argument 1: `--frobnicate`)");
        assert_eq!(e("-a -t 10.0.1.100:80 -r"), "missing argument to `-r' (argument 4: `-r`)");
        assert!(e("-n").starts_with("no command given"));
        assert!(e("-A -f 1").contains("firewall-mark"));
        assert!(e("-a -t 10.0.1.100:80 -r 2001:db8::11 -g").starts_with("Different address family"));
        assert!(e("-a -t 10.0.1.100:80 -r 10.0.2.11 -m -x 10 -y 20").contains("lower threshold"));
    }

    #[test]
    fn restore_lines() {
        assert_eq!(split_line("-A -t 10.0.1.100:80 -s wlc  # web"), vec!["-A", "-t", "10.0.1.100:80", "-s", "wlc"]);
        assert!(split_line("   # only a comment").is_empty());
        assert_eq!(split_line("ipvsadm -C"), vec!["-C"]);
    }
}
