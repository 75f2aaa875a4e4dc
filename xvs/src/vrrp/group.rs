//! keepalived's `vrrp_sync_group` in the runtime: instances that change state together.
//!
//! Semantics (keepalived 2.2.7's `vrrp_sync.c`, as far as xvs runs them):
//! - A member that becomes MASTER by its own cause (its timer, a resigning master) takes
//!   the other members with it: a BACKUP member becomes MASTER at once
//!   (`Instance::follow_group`). A member that leaves MASTER for BACKUP (a higher priority
//!   seen) takes the other MASTER members back to BACKUP.
//! - FAULT is the group's: while any member's tracking says FAULT, every member is in
//!   FAULT; they leave it together (tracking weights of members are 0 already: the
//!   configuration reader applies keepalived's rule).
//! - The group's notify scripts run once per change of the group's state (its
//!   `notify_master` / `notify_backup` / `notify_fault`, and `notify` with `GROUP NAME
//!   STATE`), besides every member's own.
//!
//! Invariant: only a change with a cause of its own is followed (never one that is itself
//! [`Cause::SyncGroup`]), so the group settles in one round.

use xvs_vrrp::{Cause, State};

use super::runtime::{notify_runs, Notify};
use crate::scripts::Run;

/// A sync group as the runtime runs it.
#[derive(Clone, Debug)]
pub struct GroupSpec {
    pub name: String,
    /// Member indices into the runtime's instances.
    pub members: Vec<usize>,
    pub notify: Notify,
}

#[derive(Debug)]
struct Group {
    spec: GroupSpec,
    /// The state its notify scripts last announced.
    state: Option<State>,
    scripts: Vec<Run>,
}

/// Every sync group of the runtime.
#[derive(Debug, Default)]
pub struct Groups {
    groups: Vec<Group>,
}

impl Groups {
    pub fn new(specs: Vec<GroupSpec>) -> Groups {
        Groups { groups: specs.into_iter().map(|spec| Group { spec, state: None, scripts: Vec::new() }).collect() }
    }

    /// Whether instance `i` is in a group.
    pub fn is_member(&self, i: usize) -> bool {
        self.of(i).is_some()
    }

    fn of(&self, i: usize) -> Option<&Group> {
        self.groups.iter().find(|g| g.spec.members.contains(&i))
    }

    /// Whether instance `i` is in FAULT: its own tracking (`own[i]`) or any member's.
    pub fn fault(&self, i: usize, own: &[bool]) -> bool {
        let is = |j: &usize| own.get(*j).copied().unwrap_or(false);
        match self.of(i) {
            Some(g) => g.spec.members.iter().any(is),
            None => is(&i),
        }
    }

    /// Member `i` changed from `from` to `to` by `cause`: the other members to move
    /// (`Some(true)`: to MASTER, `Some(false)`: to BACKUP), and the group's notify scripts
    /// started if its state changed.
    pub fn on_change(&mut self, i: usize, from: State, to: State, cause: Cause) -> (Vec<usize>, Option<bool>) {
        let Some(g) = self.groups.iter_mut().find(|g| g.spec.members.contains(&i)) else {
            return (Vec::new(), None);
        };
        if g.state != Some(to) && matches!(to, State::Master | State::Backup | State::Fault) {
            g.state = Some(to);
            eprintln!("xvs: VRRP sync group {}: {to}", g.spec.name);
            let runs = notify_runs(&g.spec.notify, "GROUP", &g.spec.name, to, None);
            g.scripts.extend(runs);
        }
        let follow = match (cause, from, to) {
            (Cause::SyncGroup, _, _) => None,
            (_, _, State::Master) => Some(true),
            (_, State::Master, State::Backup) => Some(false),
            _ => None,
        };
        let others = g.spec.members.iter().copied().filter(|&j| j != i).collect();
        (others, follow)
    }

    /// Reap the group notify scripts that ended.
    pub fn reap(&mut self) {
        for g in &mut self.groups {
            g.scripts.retain_mut(|r| r.poll().is_none());
        }
    }

    /// Whether group scripts still run (the thread gives them time at its end).
    pub fn busy(&self) -> bool {
        self.groups.iter().any(|g| !g.scripts.is_empty())
    }
}
