//! ipvsadm's commands, its options (as `commands_v_options` knows them), and that table.
//!
//! Invariants: names are ipvsadm's `cmdnames` / `optnames`, so the messages are its own;
//! [`check_options`] is ipvsadm's `generic_opt_check`: a compulsory option missing, an
//! option the command does not take, or two of one exclusive group are errors.

use super::{err, ArgError};

/// Declares an enum whose variants have ipvsadm names, with `ALL` and `name()`.
macro_rules! named {
    ($(#[$m:meta])* $name:ident { $($(#[$vm:meta])* $var:ident = $s:literal),+ $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name { $($(#[$vm])* $var),+ }

        impl $name {
            /// Every one, in ipvsadm's order.
            pub const ALL: &'static [$name] = &[$($name::$var),+];

            /// ipvsadm's name, for messages.
            pub fn name(self) -> &'static str {
                match self { $($name::$var => $s),+ }
            }
        }
    };
}

named!(
    /// An ipvsadm command.
    Cmd {
        Add = "add-service",
        Edit = "edit-service",
        Del = "delete-service",
        Flush = "flush",
        List = "list",
        AddDest = "add-server",
        DelDest = "delete-server",
        EditDest = "edit-server",
        /// `--set`.
        Timeout = "set",
        Restore = "restore",
        Save = "save",
        Zero = "zero",
        Help = "help",
        Version = "version",
        StartDaemon = "start-daemon",
        StopDaemon = "stop-daemon",
    }
);

impl Cmd {
    /// The command an option (by its long name) gives: ipvsadm's name, but `--clear`
    /// for `flush`.
    pub(super) fn of_option(long: &str) -> Option<Cmd> {
        match long {
            "clear" => Some(Cmd::Flush),
            "flush" => None,
            _ => Cmd::ALL.iter().copied().find(|c| c.name() == long),
        }
    }
}

named!(
    /// An option, as ipvsadm's `commands_v_options` knows it.
    Opt {
        Numeric = "numeric",
        Connection = "connection",
        /// `-t`, `-u`, `--sctp-service`, `-f`.
        Service = "service-address",
        Scheduler = "scheduler",
        Persistent = "persistent",
        Netmask = "netmask",
        Server = "real-server",
        /// `-g`, `-i`, `-m`.
        Forward = "forwarding-method",
        Weight = "weight",
        UThreshold = "u-threshold",
        LThreshold = "l-threshold",
        Timeout = "timeout",
        Daemon = "daemon",
        Stats = "stats",
        Rate = "rate",
        Thresholds = "thresholds",
        PersistentConn = "persistent-conn",
        NoSort = "nosort",
        Exact = "exact",
        Ops = "ops",
        Pe = "pe",
        SchedFlags = "sched-flags",
        TunInfo = "tun-info",
        TunType = "tun-type",
        TunPort = "tun-port",
        TunNoCsum = "tun-nocsum",
        TunCsum = "tun-csum",
        TunRemCsum = "tun-remcsum",
        /// xvs: the listing as JSON.
        Json = "json",
        /// xvs: the health of each real in the listing.
        Health = "health",
        /// xvs: the VRRP instances instead of the table.
        Vrrp = "vrrp",
        McastIfn = "mcast-interface",
        SyncId = "syncid",
        McastGroup = "mcast-group",
        McastPort = "mcast-port",
        McastTtl = "mcast-ttl",
        SyncMaxlen = "sync-maxlen",
    }
);

impl Opt {
    /// Its index, for per-option arrays.
    pub fn index(self) -> usize {
        self as usize
    }

    fn bit(self) -> u64 {
        1 << (self as u8)
    }

    /// How to give it, for hints.
    fn example(self) -> &'static str {
        match self {
            Opt::Service => "give the service: `-t 10.0.1.100:80` (TCP) or `-u 10.0.1.53:53` (UDP)",
            Opt::Server => "give the real server: `-r 10.0.2.11:80`",
            Opt::McastIfn => "give the interface sync messages use: `--mcast-interface eth1`",
            _ => "see `ipvsadm -h`",
        }
    }
}

/// A set of options given, one bit each.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) struct OptSet(u64);

impl OptSet {
    pub fn insert(&mut self, o: Opt) {
        self.0 |= o.bit();
    }

    pub fn contains(self, o: Opt) -> bool {
        self.0 & o.bit() != 0
    }
}

/// ipvsadm's `commands_v_options` for the options xvs reads: (compulsory, optional,
/// exclusive-one-of); anything else is illegal.
fn legal(cmd: Cmd) -> (&'static [Opt], &'static [Opt], &'static [Opt]) {
    use Opt::*;
    match cmd {
        Cmd::Add | Cmd::Edit => (&[Service], &[Scheduler, Persistent, Netmask, Ops, Pe, SchedFlags], &[]),
        Cmd::Del => (&[Service], &[], &[]),
        Cmd::List => (
            &[],
            &[Numeric, Stats, Rate, Thresholds, PersistentConn, NoSort, Exact, TunInfo, Json, Health, Vrrp],
            &[Connection, Service, Timeout, Daemon],
        ),
        Cmd::AddDest | Cmd::EditDest => (
            &[Service, Server],
            &[Forward, Weight, UThreshold, LThreshold, TunType, TunPort, TunNoCsum, TunCsum, TunRemCsum],
            &[],
        ),
        Cmd::DelDest => (&[Service, Server], &[], &[]),
        Cmd::Save => (&[], &[Numeric], &[]),
        Cmd::Zero => (&[], &[Service], &[]),
        Cmd::StartDaemon => (&[McastIfn], &[SyncId, McastGroup, McastPort, McastTtl, SyncMaxlen], &[]),
        Cmd::Flush | Cmd::Timeout | Cmd::Restore | Cmd::Help | Cmd::Version | Cmd::StopDaemon => (&[], &[], &[]),
    }
}

/// ipvsadm's `generic_opt_check`.
pub(super) fn check_options(cmd: Cmd, given: OptSet) -> Result<(), ArgError> {
    let (needed, optional, one_of) = legal(cmd);
    let mut exclusive: Option<Opt> = None;
    for &o in Opt::ALL {
        if !given.contains(o) {
            if needed.contains(&o) {
                return Err(err(format!(
                    "You need to supply the '{}' option for the '{}' command",
                    o.name(),
                    cmd.name()
                ))
                .hint(o.example()));
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
                ))
                .hint("give only one of them"));
            }
            exclusive = Some(o);
        } else if !needed.contains(&o) && !optional.contains(&o) {
            let takes: Vec<&str> = needed.iter().chain(optional).chain(one_of).map(|o| o.name()).collect();
            let takes = if takes.is_empty() { "no options".to_string() } else { takes.join(", ") };
            return Err(err(format!("Illegal '{}' option with the '{}' command", o.name(), cmd.name()))
                .hint(format!("the '{}' command takes {takes}", cmd.name())));
        }
    }
    Ok(())
}
