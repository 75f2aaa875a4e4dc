//! The health notification scripts keepalived runs: a real's `notify_up`/`notify_down`
//! when its checks bring it up or take it down, a service's `quorum_up`/`quorum_down` when
//! it gains or loses its quorum.
//!
//! Invariants: scripts run as keepalived's scripts do (the script runner: `script_user`,
//! `enable_script_security`, a process group of their own, killed whole after
//! [`NOTIFY_TIMEOUT`]); they are never waited for: started here, polled by the control
//! loop between its duties; a script that cannot start, or fails, is logged.

use std::time::Duration;

use xvs::health::RealKey;
use xvs::scripts::{Outcome, Run, Script};
use xvs_config::{Config, NotifyScript, Real, Service};
use xvs_engine::ServiceKey;

use super::log;

/// How long a notification script may run.
pub const NOTIFY_TIMEOUT: Duration = Duration::from_secs(30);

/// The scripts started and not ended yet.
#[derive(Default)]
pub(super) struct Notifier {
    runs: Vec<(String, Run)>,
}

/// The service of `key` in `model`.
pub(super) fn service_of<'a>(model: &'a Config, key: &ServiceKey) -> Option<&'a Service> {
    model.services.iter().find(|s| xvs::observe::key_of(s) == *key)
}

/// The real of `key` in `model`.
pub(super) fn real_of<'a>(model: &'a Config, key: &RealKey) -> Option<&'a Real> {
    let s = service_of(model, &key.service)?;
    s.reals.iter().find(|r| xvs::observe::real_key(key.service, r.addr) == *key)
}

impl Notifier {
    /// Start `script` (nothing when none) as its user (else `script_user`, ...), `what`
    /// naming it in the log.
    pub fn start(&mut self, model: &Config, script: &Option<NotifyScript>, what: String) {
        let Some(s) = script else {
            return;
        };
        let line = &s.script;
        let script =
            xvs::vrrp::spec::script_policy(&model.vrrp, s.user.as_ref()).and_then(|p| Script::prepare(line, &p));
        match script {
            Ok(s) => {
                log(format!("{what}: running {line:?}"));
                self.runs.push((what, s.start(NOTIFY_TIMEOUT)));
            }
            Err(e) => log(format!("{what}: cannot run {line:?}: {e}")),
        }
    }

    /// Wait for the running scripts until they end or `limit` passes; those still running
    /// then are killed (their process groups) as the runs are dropped.
    pub fn finish(&mut self, limit: Duration) {
        let end = std::time::Instant::now() + limit;
        while !self.runs.is_empty() && std::time::Instant::now() < end {
            self.poll();
            std::thread::sleep(Duration::from_millis(20));
        }
        for (what, _) in self.runs.drain(..) {
            log(format!("{what}: still running at exit; killed"));
        }
    }

    /// Take the outcomes of the scripts that ended (never blocks).
    pub fn poll(&mut self) {
        self.runs.retain_mut(|(what, r)| match r.poll() {
            None => true,
            Some(Outcome::Exited(0)) => false,
            Some(o) => {
                log(format!("{what}: the script ended with {o:?}"));
                false
            }
        });
    }
}
