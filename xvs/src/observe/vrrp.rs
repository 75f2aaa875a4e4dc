//! VRRP as the listings show it: the status the runtime publishes
//! ([`InstanceStatus`]) made into the JSON listing's [`VrrpListing`], and that listing as
//! `xvs ctl --vrrp` prints it, one line per instance:
//!
//! ```text
//! VI_1  MASTER  prio 150  master 192.168.20.2  since 12s (master down timer expired)
//! ```
//!
//! Invariants:
//! - The text is made from the listing, never from the status directly, so the text and
//!   the JSON cannot disagree.
//! - Every reject reason of [`Reject::ALL`] is in a listing's `rejected`, zeros included.
//! - Columns are aligned over the instances listed; no line ends in a blank.

use std::fmt::Write as _;
use std::time::Instant;

use xvs_vrrp::Reject;

use super::listing::{TransitionListing, VrrpListing};
use crate::vrrp::runtime::InstanceStatus;

/// The listing of one instance, `now` being the time its `seconds_ago` counts to.
pub fn listing(s: &InstanceStatus, now: Instant) -> VrrpListing {
    let st = &s.stats;
    VrrpListing {
        name: s.name.clone(),
        state: s.state.name().to_string(),
        priority: s.priority,
        master: s.master,
        last_transition: s.last_transition.map(|(at, cause)| TransitionListing {
            seconds_ago: now.saturating_duration_since(at).as_secs(),
            cause: cause.to_string(),
        }),
        interface: s.interface.clone(),
        vrid: s.vrid,
        virtual_addresses: s.addresses.clone(),
        transitions: s.transitions,
        adverts_sent: st.adverts_sent,
        adverts_received: st.adverts_received,
        priority_zero_sent: st.priority_zero_sent,
        priority_zero_received: st.priority_zero_received,
        rejected: Reject::ALL.iter().map(|r| (r.name().to_string(), st.rejected(*r))).collect(),
    }
}

/// The listings of every instance, in the order given.
pub fn listings(all: &[InstanceStatus], now: Instant) -> Vec<VrrpListing> {
    all.iter().map(|s| listing(s, now)).collect()
}

/// A duration as a person reads it: `12s`, `5m07s`, `1h02m`, `3d04h`.
pub fn duration(s: u64) -> String {
    match s {
        0..=59 => format!("{s}s"),
        60..=3599 => format!("{}m{:02}s", s / 60, s % 60),
        3600..=86_399 => format!("{}h{:02}m", s / 3600, s % 3600 / 60),
        _ => format!("{}d{:02}h", s / 86_400, s % 86_400 / 3600),
    }
}

/// `xvs ctl --vrrp`: one line per instance (see the module doc); `master -` when no
/// master is known, no `since` before the first state change.
pub fn text(all: &[VrrpListing]) -> String {
    let masters: Vec<String> = all.iter().map(|v| v.master.map_or("-".to_string(), |m| m.to_string())).collect();
    let name_w = all.iter().map(|v| v.name.len()).max().unwrap_or(0);
    let master_w = masters.iter().map(String::len).max().unwrap_or(0);
    let mut out = String::new();
    for (v, master) in all.iter().zip(&masters) {
        let mut line = format!("{:name_w$}  {:6}  prio {:<3}  master {master:master_w$}", v.name, v.state, v.priority);
        if let Some(t) = &v.last_transition {
            let _ = write!(line, "  since {} ({})", duration(t.seconds_ago), t.cause);
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;
    use xvs_vrrp::{State, Stats};

    fn status(name: &str, state: State, priority: u8, master: Option<&str>) -> InstanceStatus {
        let mut stats = Stats::default();
        (stats.adverts_sent, stats.adverts_received, stats.priority_zero_received) = (40, 3, 1);
        InstanceStatus {
            name: name.into(),
            state,
            priority,
            master: master.map(|m| m.parse().unwrap()),
            last_transition: None,
            interface: "eth1".into(),
            vrid: 51,
            addresses: vec!["192.168.20.50".parse().unwrap()],
            transitions: 2,
            stats,
        }
    }

    #[test]
    fn the_listing_carries_the_status_and_every_reason() {
        let now = Instant::now();
        let mut s = status("VI_1", State::Master, 150, Some("192.168.20.2"));
        s.last_transition = Some((now - Duration::from_secs(12), "master down timer expired"));
        let l = listing(&s, now);
        assert_eq!((l.name.as_str(), l.state.as_str(), l.priority, l.vrid), ("VI_1", "MASTER", 150, 51));
        assert_eq!(l.master, Some("192.168.20.2".parse().unwrap()));
        let t = l.last_transition.as_ref().unwrap();
        assert_eq!((t.seconds_ago, t.cause.as_str()), (12, "master down timer expired"));
        assert_eq!((l.adverts_sent, l.adverts_received, l.priority_zero_received, l.transitions), (40, 3, 1, 2));
        assert_eq!(l.rejected.len(), Reject::ALL.len());
        assert_eq!(l.rejected["bad_ttl"], 0);
        assert_eq!(l.virtual_addresses, vec!["192.168.20.50".parse::<std::net::IpAddr>().unwrap()]);
        // It reads back as written.
        let json = serde_json::to_string(&l).unwrap();
        assert!(json.contains(r#""last_transition":{"seconds_ago":12,"cause":"master down timer expired"}"#), "{json}");
        assert_eq!(serde_json::from_str::<VrrpListing>(&json).unwrap(), l);
    }

    #[test]
    fn one_aligned_line_per_instance() {
        let now = Instant::now();
        let mut a = status("VI_1", State::Master, 150, Some("192.168.20.2"));
        a.last_transition = Some((now - Duration::from_secs(12), "master down timer expired"));
        let mut b = status("VI_GATEWAY", State::Backup, 100, Some("10.0.2.254"));
        b.last_transition = Some((now - Duration::from_secs(3725), "higher priority advert seen"));
        let c = status("VI_3", State::Fault, 90, None);
        assert_eq!(
            text(&listings(&[a, b, c], now)),
            "VI_1        MASTER  prio 150  master 192.168.20.2  since 12s (master down timer expired)\n\
             VI_GATEWAY  BACKUP  prio 100  master 10.0.2.254    since 1h02m (higher priority advert seen)\n\
             VI_3        FAULT   prio 90   master -\n"
        );
        assert_eq!(text(&[]), "");
        assert_eq!((duration(0), duration(307), duration(90_000)), ("0s".into(), "5m07s".into(), "1d01h".into()));
    }
}
