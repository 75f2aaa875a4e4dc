//! What a line can ask for that xvs does not do as written, and how each reader says so:
//! `xvs ctl` refuses it ([`Target::refusal`], [`NoteKind::refusal`]), the ipvsadm-save
//! reader warns and goes on ([`Target::warning`], [`NoteKind::warning`]).
//!
//! Invariant: the reason xvs gives for each is written here once.

use super::command::SvcId;
use crate::model::Forward;

/// The service a command names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// `-t` / `-u`: a service xvs serves.
    Service(SvcId),
    /// `-f MARK` (`-6`: of IPv6 packets).
    Fwmark { mark: u32, ipv6: bool },
}

impl Target {
    /// The service, when xvs serves it.
    pub fn service(&self) -> Option<SvcId> {
        match self {
            Target::Service(id) => Some(*id),
            Target::Fwmark { mark, ipv6 } => Some(SvcId::mark(*mark, *ipv6)),
        }
    }

    /// What it is, for messages: `fwmark service 1`, `SCTP service 10.0.1.100:80`.
    pub fn describe(&self) -> String {
        match self {
            Target::Service(id) if id.fwmark.is_some() => format!("service {}", id.rule()),
            Target::Service(id) => format!("service {} {}", id.protocol, id.vip),
            Target::Fwmark { mark, .. } => format!("fwmark service {mark}"),
        }
    }

    /// Why xvs cannot serve it; `None` when it can.
    fn why_not(&self) -> Option<&'static str> {
        match self {
            Target::Service(_) | Target::Fwmark { .. } => None,
        }
    }

    /// The warning of a reader that skips it (with its reals); `None` when xvs serves it.
    pub fn warning(&self) -> Option<String> {
        let why = self.why_not()?;
        Some(format!("{}: xvs cannot serve it ({why}); the service and its reals are skipped", self.describe()))
    }

    /// The error of a reader that refuses it; `None` when xvs serves it.
    pub fn refusal(&self) -> Option<String> {
        match self {
            Target::Service(_) | Target::Fwmark { .. } => None,
        }
    }
}

/// Something a line asks for that xvs does not do as written, and where (0-based argument).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Note {
    pub at: usize,
    pub kind: NoteKind,
}

/// What a [`Note`] is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NoteKind {
    /// `--pe NAME`.
    PersistenceEngine(String),
    /// `-b flag-N` that means nothing to the scheduler in xvs.
    Flag { flag: String, scheduler: String },
    /// The port of a DR or TUN real, replaced by the service's (as ipvsadm does).
    RealPort { given: u16, used: u16, forward: Forward },
}

impl NoteKind {
    /// The warning of a reader that goes on without it.
    pub fn warning(&self) -> String {
        match self {
            NoteKind::PersistenceEngine(pe) => format!("persistence engine `{pe}` is not implemented in xvs; ignored"),
            NoteKind::Flag { flag, scheduler } => {
                format!("scheduler flag `{flag}` means nothing to scheduler {scheduler} in xvs; ignored")
            }
            NoteKind::RealPort { given, used, forward } => format!(
                "real port {given} is replaced by the service port {used}, as ipvsadm does: \
                 {forward} cannot change the port (use -m to map ports)"
            ),
        }
    }

    /// The error of a reader that refuses it; `None` for what ipvsadm itself does
    /// silently (a DR real's port).
    pub fn refusal(&self) -> Option<String> {
        Some(match self {
            NoteKind::PersistenceEngine(_) => "xvs has no persistence engines (--pe)".into(),
            NoteKind::Flag { flag, scheduler } => {
                format!("scheduler flag `{flag}' has no meaning for {scheduler} in xvs")
            }
            NoteKind::RealPort { .. } => return None,
        })
    }
}
