//! The rules of `[sync]` (keepalived's `lvs_sync_daemon`): the kernel's rule for
//! `sync_threshold` (`proc_do_sync_threshold`: threshold below period unless the period
//! is 0), keepalived's ranges for the daemon's options, a multicast group, and an
//! instance that names a VRRP instance of the same configuration.
//!
//! Invariant: the readers already report a value outside its own range (and mark it
//! bad), so these rules fire for what no reader checks alone: values across keys, and
//! configurations built in memory.

use std::net::IpAddr;

use super::Validator;
use crate::model::{Config, IFNAME_MAX};
use crate::span::Section;
use crate::syntax::closest;

impl Validator<'_> {
    pub(super) fn sync(&mut self, c: &Config) {
        let s = &c.sync;
        let at = (Section::Sync, "sync_threshold");
        let (threshold, period) = (s.threshold, s.period);
        if threshold > 254 {
            self.bad(at, format!("`sync_threshold` {threshold} is above 254"), "IPVS's default is `[3, 50]`");
        } else if period != 0 && threshold >= period {
            self.bad(
                at,
                format!("`sync_threshold` = [{threshold}, {period}]: the threshold must be below the period"),
                "the kernel refuses it too; use e.g. `[3, 50]` (IPVS's default), or a period of 0 to sync once",
            );
        }
        let Some(d) = &s.daemon else {
            return;
        };
        if d.interface.is_empty() || d.interface.chars().count() > IFNAME_MAX {
            self.bad(
                (Section::Sync, "interface"),
                format!("sync `interface` `{}` is not an interface name", d.interface),
                format!("name the interface sync messages go out on (1..={IFNAME_MAX} characters), e.g. \"eth1\""),
            );
        }
        if let Some(name) = &d.instance {
            if c.vrrp.instance(name).is_none() {
                let names: Vec<&str> = c.vrrp.instances.iter().map(|i| i.name.as_str()).collect();
                let hint = match closest(name, &names) {
                    Some(n) => format!("did you mean `{n}`?"),
                    None => "name a [[vrrp]] instance (keepalived's vrrp_instance), or leave `instance` out: then \
                             the daemon both sends and receives"
                        .into(),
                };
                self.bad((Section::Sync, "instance"), format!("sync: no vrrp_instance named {name}"), hint);
            }
        }
        self.sync_values(c);
    }

    /// The daemon's options: keepalived's ranges, a multicast group.
    fn sync_values(&mut self, c: &Config) {
        let Some(d) = &c.sync.daemon else {
            return;
        };
        let sec = Section::Sync;
        if let Some(m) = d.maxlen.filter(|m| !(1..=65507).contains(m)) {
            let hint = "the largest UDP payload of an IP packet (65507) at most; leave it out for the interface's MTU";
            self.bad((sec, "maxlen"), format!("sync `maxlen` {m} is not in 1..=65507"), hint);
        }
        if d.port == 0 {
            self.bad((sec, "port"), "sync `port` 0 is not a port", "IPVS's default is 8848");
        }
        if d.ttl == 0 {
            self.bad((sec, "ttl"), "sync `ttl` 0 would not leave the host", "IPVS's default is 1");
        }
        let multicast = match d.group {
            IpAddr::V4(a) => a.is_multicast(),
            IpAddr::V6(a) => a.is_multicast(),
        };
        if !multicast {
            self.bad(
                (sec, "group"),
                format!("sync `group` {} is not a multicast address", d.group),
                "use an IPv4 group in 224.0.0.0/4 (IPVS's default is 224.0.0.81) or an IPv6 one in ff00::/8",
            );
        }
    }
}
