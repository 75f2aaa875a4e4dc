//! Which connection-sync daemons run, from the configuration's `lvs_sync_daemon` / `[sync]`
//! and the VRRP state, as keepalived drives IPVS's (`ipvs_syncd_master` and
//! `ipvs_syncd_backup` on its instance's transitions).
//!
//! Invariants:
//! - With an instance: while it is MASTER the master daemon runs and the backup does not;
//!   in any other state (also before its first transition) the backup runs.
//! - Without an instance: both run from bring-up to shutdown (IPVS allows both roles).
//! - Roles are set at bring-up and on the instance's transitions only, so a daemon
//!   started or stopped with `xvs ctl` stays so until then.

use xvs::sync::daemon::{Role, Settings};
use xvs_config::SyncDaemon;

use super::ctl_plane::{KernelSide, Plane};
use super::log;

/// (master, backup): whether each runs, given the instances that are MASTER now.
pub(super) fn wanted(d: &SyncDaemon, masters: &[String]) -> (bool, bool) {
    match &d.instance {
        None => (true, true),
        Some(i) => {
            let m = masters.contains(i);
            (m, !m)
        }
    }
}

/// Start or stop the daemons the configuration wants now; a failure is logged (the
/// director keeps forwarding without sync).
pub(super) fn follow<K: KernelSide>(plane: &mut Plane<K>, masters: &[String]) {
    let Some(d) = plane.checked().model().sync.daemon.clone() else { return };
    let s = Settings::from(&d);
    let (master, backup) = wanted(&d, masters);
    for (role, on) in [(Role::Backup, backup), (Role::Master, master)] {
        let before = plane.sync.status().iter().any(|(r, _)| *r == role);
        match plane.sync.ensure(role, on.then_some(&s)) {
            Ok(()) if before != on => log(format!(
                "sync: {} daemon {} on {} (syncid {}){}",
                role.name(),
                if on { "started" } else { "stopped" },
                s.interface,
                s.syncid,
                d.instance.as_ref().map(|i| format!(", following VRRP instance {i}")).unwrap_or_default()
            )),
            Ok(()) => {}
            Err(e) => log(format!("sync: {} daemon: {e}", role.name())),
        }
    }
}
