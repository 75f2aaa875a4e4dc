//! What an instance hands back to its I/O layer: its [`State`], [`Event`]s (every state
//! change with its [`Cause`]) and [`Transmit`]s (adverts to send).
//!
//! Invariants:
//! - A [`Transmit`] is one advert to one destination, its message complete (checksum
//!   filled for exactly that source and destination); the I/O layer adds only the IP
//!   header (protocol 112, TTL `ttl`, source `src`).
//! - Every change of state is exactly one [`Event::StateChanged`], in the order they
//!   happened; `from != to`.

use std::net::IpAddr;

/// RFC 3768 / 5798 states, plus keepalived's FAULT.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum State {
    /// Not running: before the start, and after `shutdown`.
    Init,
    Backup,
    Master,
    /// A tracked interface or script is down (keepalived's FAULT): no adverts sent or heard.
    Fault,
}

impl State {
    /// keepalived's name for the state (`MASTER`, `BACKUP`, `FAULT`, `INIT`).
    pub fn name(self) -> &'static str {
        match self {
            State::Init => "INIT",
            State::Backup => "BACKUP",
            State::Master => "MASTER",
            State::Fault => "FAULT",
        }
    }
}

impl std::fmt::Display for State {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Why a state changed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Cause {
    /// The instance started: BACKUP, or MASTER at once for an address owner (priority 255
    /// with `state MASTER`).
    Startup,
    /// BACKUP → MASTER: no advert within Master_Down_Interval.
    MasterDownTimer,
    /// BACKUP → MASTER: the master advertised a lower priority, its adverts were discarded
    /// and the down timer ran out (preemption).
    Preempted,
    /// BACKUP → MASTER: the master resigned (a priority-0 advert) and Skew_Time passed.
    MasterResigned,
    /// MASTER → BACKUP: an advert with a higher priority.
    HigherPriority,
    /// MASTER → BACKUP: an advert with the same priority from a higher primary address.
    HigherAddress,
    /// → FAULT (`set_fault(true)`).
    Fault,
    /// FAULT → BACKUP (`set_fault(false)`).
    FaultCleared,
    /// → INIT (`shutdown`).
    Shutdown,
    /// Another member of the instance's `vrrp_sync_group` changed state
    /// (`follow_group`).
    SyncGroup,
}

impl Cause {
    /// A short phrase for a log line.
    pub fn describe(self) -> &'static str {
        match self {
            Cause::Startup => "startup",
            Cause::MasterDownTimer => "master down timer expired",
            Cause::Preempted => "preempted a lower-priority master",
            Cause::MasterResigned => "master sent priority 0",
            Cause::HigherPriority => "higher priority advert seen",
            Cause::HigherAddress => "same priority advert from a higher address",
            Cause::Fault => "fault",
            Cause::FaultCleared => "fault cleared",
            Cause::Shutdown => "shutdown",
            Cause::SyncGroup => "another member of its sync group changed state",
        }
    }
}

/// Something the I/O layer should know.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    StateChanged {
        from: State,
        to: State,
        cause: Cause,
    },
    /// The effective priority changed (`set_priority`, or an address-owner conflict, where
    /// keepalived lowers its own priority to 254).
    PriorityChanged {
        from: u8,
        to: u8,
    },
    /// VRRPv3: a BACKUP took the master's advertised interval (centiseconds) for its timers.
    MasterIntervalChanged {
        from_cs: u16,
        to_cs: u16,
    },
}

/// One advert to send.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Transmit {
    /// The source address (the instance's primary address).
    pub src: IpAddr,
    /// The multicast group, or one unicast peer.
    pub dst: IpAddr,
    /// IP TTL / hop limit.
    pub ttl: u8,
    /// The VRRP message (after the IP header), checksum filled.
    pub payload: Vec<u8>,
}
