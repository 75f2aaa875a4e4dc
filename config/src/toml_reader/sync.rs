//! Reads `[sync]` of xvs TOML: the sync daemon (`interface`, `instance`, `syncid`,
//! `maxlen`, `port`, `ttl`, `group`, keepalived's `lvs_sync_daemon` options) and IPVS's
//! sync sysctls (`sync_threshold = [THRESHOLD, PERIOD]`, `sync_refresh_period`).
//!
//! Invariants:
//! - Without `interface` there is no daemon (`daemon: None`); any other daemon key is
//!   then an error naming the missing `interface` (the sysctls alone are fine).
//! - `syncid` is resolved once the `[[vrrp]]` tables are read: the given one, else the
//!   named instance's VRID (when it exists: validation reports one that does not), else
//!   0, as keepalived resolves it.
//! - As in the rest of the reader, each value's own range is checked here (an error at
//!   the value, which keeps its default); rules across values (threshold below period,
//!   a multicast group, the instance exists) are in validation.

use std::net::IpAddr;

use toml_edit::Value;

use super::{set, type_name, Reader, Tab};
use crate::model::{Sync, SyncDaemon, Vrrp};
use crate::span::Section;
use crate::syntax::{parse_ip, Problem};

/// Keys of `[sync]`.
pub const SYNC_KEYS: &[&str] =
    &["interface", "instance", "syncid", "maxlen", "port", "ttl", "group", "sync_threshold", "sync_refresh_period"];
/// The keys of `[sync]` that configure the daemon.
const DAEMON_KEYS: &[&str] = &["interface", "instance", "syncid", "maxlen", "port", "ttl", "group"];

impl Reader<'_> {
    /// `[sync]` of the document root `root`; `vrrp` gives the instances' VRIDs.
    pub(super) fn sync(&mut self, root: Tab<'_>, vrrp: &Vrrp) -> Sync {
        let mut s = Sync::default();
        let Some(t) = self.table(root, "sync", Section::Sync) else {
            return s;
        };
        self.open(t, SYNC_KEYS);
        self.sync_threshold(t, &mut s);
        set(&mut s.refresh_period, self.u32(t, "sync_refresh_period"));
        let daemon = self.sync_daemon(t, vrrp);
        if t.t.contains_key("interface") {
            s.daemon = Some(daemon);
        } else if DAEMON_KEYS.iter().any(|k| t.t.contains_key(k)) {
            self.missing(t, "interface");
        }
        s
    }

    /// The daemon keys (read even without `interface`, so their own errors show).
    fn sync_daemon(&mut self, t: Tab<'_>, vrrp: &Vrrp) -> SyncDaemon {
        let mut d = SyncDaemon::on(self.string(t, "interface").unwrap_or_default());
        d.instance = self.string(t, "instance").map(str::to_string);
        let syncid = self.int(t, "syncid", 0, 255).map(|n| n as u8);
        let vrid = d.instance.as_deref().and_then(|n| vrrp.instance(n)).map(|i| i.virtual_router_id);
        d.syncid = syncid.or(vrid).unwrap_or(0);
        d.maxlen = self.int(t, "maxlen", 1, 65507).map(|n| n as u16);
        set(&mut d.port, self.int(t, "port", 1, 65535).map(|n| n as u16));
        set(&mut d.ttl, self.int(t, "ttl", 1, 255).map(|n| n as u8));
        set(&mut d.group, self.sync_group_addr(t));
        d
    }

    /// `group`: an address (its own hint: `group` of `[[vrrp_sync_group]]` is a list).
    fn sync_group_addr(&mut self, t: Tab<'_>) -> Option<IpAddr> {
        let item = self.item(t, "group")?;
        let parsed = match item.as_str() {
            Some(s) => parse_ip(s, "sync group"),
            None => Err(Problem::new(
                format!("`group` must be a string, not {}", type_name(item)),
                "for example `group = \"224.0.0.81\"`",
            )),
        };
        match parsed {
            Ok(a) => Some(a),
            Err(p) => {
                self.bad(t, "group", item.span(), p.message, p.hint);
                None
            }
        }
    }

    /// `sync_threshold = [THRESHOLD, PERIOD]`: 0..=254 and 0..=255.
    fn sync_threshold(&mut self, t: Tab<'_>, s: &mut Sync) {
        let key = "sync_threshold";
        let Some(values) = self.array(t, key, "two integers [threshold, period]") else {
            return;
        };
        let hint = || Some("for example `sync_threshold = [3, 50]` (IPVS's default)".to_string());
        if values.len() != 2 {
            let span = t.t.get(key).and_then(|i| i.span());
            let message = format!("`{key}` must hold two integers [threshold, period], not {}", values.len());
            return self.bad(t, key, span, message, hint());
        }
        let mut read = |v: &Value, what: &str, max: i64| match v.as_integer() {
            Some(n) if (0..=max).contains(&n) => Some(n as u8),
            _ => {
                let found = v.to_string().trim().to_string();
                let message = format!("`{key}`: the {what} must be an integer in 0..={max}, not {found}");
                self.bad(t, key, v.span(), message, hint());
                None
            }
        };
        let threshold = read(values[0], "threshold", 254);
        let period = read(values[1], "period", 255);
        if let (Some(threshold), Some(period)) = (threshold, period) {
            (s.threshold, s.period) = (threshold, period);
        }
    }
}
