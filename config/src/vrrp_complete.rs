//! keepalived 2.2.7's completion of a VRRP instance (`vrrp_complete_instance` in
//! vrrp.c): the values it fixes up, with a config error, and then runs anyway.
//!
//! One list of rules, used twice: the keepalived reader applies the fix-ups and warns
//! (the file means what it meant to keepalived), and validation refuses an xvs TOML
//! that needs one (the TOML is the resolved form, so it must already hold what
//! keepalived would run; the printed TOML of a keepalived.conf always does).
//!
//! Invariants:
//! - [`complete`] applies the rules in keepalived's order to the instance it is given
//!   and returns one [`Fixup`] per rule that fired; run on its own result, it fires none
//!   (only advisories, which change nothing).
//! - Rules keepalived treats as fatal (no VRID, no interface, no VIP under VRRPv3,
//!   unicast under strict mode, ...) are not here: they are errors in `validate`.

use std::collections::HashSet;
use std::time::Duration;

use crate::model::{VrrpInstance, VrrpScript, VrrpState, AUTH_PASS_MAX, OWNER_PRIORITY};

/// A rule that fired: the value it is about, what is wrong, what keepalived does about
/// it, and how an xvs TOML says the same directly.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Fixup {
    /// The instance key it is about (a key of `[[vrrp]]`).
    pub key: &'static str,
    pub problem: String,
    /// What keepalived does, e.g. "it starts as BACKUP".
    pub action: String,
    /// The edit that makes an xvs TOML say it; empty for an advisory (nothing changed).
    pub edit: String,
}

impl Fixup {
    fn new(key: &'static str, problem: impl Into<String>, action: impl Into<String>, edit: impl Into<String>) -> Self {
        Fixup { key, problem: problem.into(), action: action.into(), edit: edit.into() }
    }

    /// Whether the rule changed the instance (else it is advice keepalived logs).
    pub fn changed(&self) -> bool {
        !self.edit.is_empty()
    }
}

/// What completing an instance needs beyond itself.
pub(crate) struct Ctx<'a> {
    pub scripts: &'a [VrrpScript],
    /// Whether the instance belongs to a `vrrp_sync_group`.
    pub in_sync_group: bool,
}

/// Largest advert interval: VRRPv2's field is 8 bits of seconds, VRRPv3's 12 bits of
/// centiseconds.
const MAX_ADVERT_V2: Duration = Duration::from_secs(255);
const MAX_ADVERT_V3: Duration = Duration::from_millis(40_950);
/// keepalived sizes the address list to the interface's MTU; xvs assumes Ethernet's.
const ASSUMED_MTU: usize = 1500;

/// Applies keepalived's completion rules to `inst`, in its order.
pub(crate) fn complete(inst: &mut VrrpInstance, ctx: &Ctx<'_>) -> Vec<Fixup> {
    let mut out = Vec::new();
    version(inst, &mut out);
    state(inst, &mut out);
    auth(inst, &mut out);
    first_ipv6_vip(inst, &mut out);
    vip_count(inst, &mut out);
    preempt(inst, &mut out);
    accept(inst, &mut out);
    advert_int(inst, &mut out);
    tracking(inst, ctx, &mut out);
    out
}

/// keepalived's simplest fix-ups: when `applies`, `set` one value and say so with
/// `[key, problem, action, edit]`.
fn fix_if(out: &mut Vec<Fixup>, applies: bool, set: impl FnOnce(), [key, problem, action, edit]: [&'static str; 4]) {
    if applies {
        set();
        out.push(Fixup::new(key, problem, action, edit));
    }
}

fn version(inst: &mut VrrpInstance, out: &mut Vec<Fixup>) {
    let applies = inst.is_ipv6() && inst.version == 2 && inst.strict;
    let why =
        ["version", "strict mode cannot run IPv6 with VRRP version 2", "it runs version 3", "write `version = 3`"];
    fix_if(out, applies, || inst.version = 3, why);
}

fn state(inst: &mut VrrpInstance, out: &mut Vec<Fixup>) {
    if inst.strict && (inst.state == VrrpState::Master) != inst.is_owner() {
        let (now, was) = if inst.is_owner() { (VrrpState::Master, "BACKUP") } else { (VrrpState::Backup, "MASTER") };
        inst.state = now;
        out.push(Fixup::new(
            "state",
            format!(
                "strict mode: state {was} with priority {} (MASTER if and only if priority 255, the address owner)",
                inst.priority
            ),
            format!("it starts as {}", now.name().to_uppercase()),
            format!("write `state = \"{now}\"`"),
        ));
    }
}

fn auth(inst: &mut VrrpInstance, out: &mut Vec<Fixup>) {
    let Some(a) = &mut inst.authentication else {
        return;
    };
    let why = if inst.strict {
        "strict mode does not support authentication"
    } else if inst.version == 3 {
        "VRRP version 3 has no authentication"
    } else if a.pass.is_empty() {
        "authentication without an auth_pass"
    } else {
        if a.pass.chars().count() > AUTH_PASS_MAX {
            let cut: String = a.pass.chars().take(AUTH_PASS_MAX).collect();
            out.push(Fixup::new(
                "authentication",
                format!("auth_pass `{}` is longer than {AUTH_PASS_MAX} characters", a.pass),
                format!("only `{cut}` is used"),
                format!("write `auth_pass = \"{cut}\"`"),
            ));
            a.pass = cut;
        }
        return;
    };
    inst.authentication = None;
    out.push(Fixup::new("authentication", why, "it is ignored", "remove `[vrrp.authentication]`"));
}

fn first_ipv6_vip(inst: &VrrpInstance, out: &mut Vec<Fixup>) {
    let Some(first) = inst.virtual_ipaddress.first() else {
        return;
    };
    let link_local = match first.addr {
        std::net::IpAddr::V6(a) => a.segments()[0] & 0xffc0 == 0xfe80,
        std::net::IpAddr::V4(_) => true,
    };
    if inst.strict && !inst.is_unicast() && !link_local {
        out.push(Fixup::new(
            "virtual_ipaddress",
            format!("strict mode: the first IPv6 virtual address ({}) is not link-local", first.addr),
            "it runs anyway (RFC 5798 wants a link-local address first)",
            "",
        ));
    }
}

/// keepalived moves the addresses one advert cannot carry to the excluded ones.
fn vip_count(inst: &mut VrrpInstance, out: &mut Vec<Fixup>) {
    // Ethernet + IP + VRRP header (+ VRRPv2's 8 authentication bytes), then 4 or 16 per address.
    let (hdr, per) =
        if inst.is_ipv6() { (14 + 40 + 8, 16) } else { (14 + 20 + 8 + 8 * usize::from(inst.version == 2), 4) };
    let max = ((ASSUMED_MTU - hdr) / per).min(255);
    let n = inst.virtual_ipaddress.len();
    if n > max {
        let moved = inst.virtual_ipaddress.split_off(max);
        inst.virtual_ipaddress_excluded.splice(0..0, moved);
        out.push(Fixup::new(
            "virtual_ipaddress",
            format!("{n} virtual addresses do not fit one advert (at most {max} at MTU {ASSUMED_MTU})"),
            format!("the last {} are handled as virtual_ipaddress_excluded", n - max),
            format!("move all but the first {max} to `virtual_ipaddress_excluded`"),
        ));
    }
}

fn preempt(inst: &mut VrrpInstance, out: &mut Vec<Fixup>) {
    if inst.nopreempt && (inst.is_owner() || inst.state == VrrpState::Master) {
        let why = if inst.is_owner() { "priority 255 (the address owner)" } else { "state MASTER" };
        inst.nopreempt = false;
        out.push(Fixup::new(
            "nopreempt",
            format!("nopreempt does not work with {why}"),
            "it is cleared",
            "remove `nopreempt = true`",
        ));
    }
    if inst.preempt_delay.is_zero() {
        return;
    }
    let why = if inst.state == VrrpState::Master {
        "preempt_delay does not work with state MASTER"
    } else if inst.strict {
        "preempt_delay is incompatible with strict mode"
    } else if inst.nopreempt {
        "preempt_delay is incompatible with nopreempt"
    } else {
        return;
    };
    inst.preempt_delay = Duration::ZERO;
    out.push(Fixup::new("preempt_delay", why, "it is cleared", "write `preempt_delay = 0`"));
}

fn accept(inst: &mut VrrpInstance, out: &mut Vec<Fixup>) {
    let applies = inst.accept && !inst.is_owner() && inst.strict && inst.version == 2;
    let why = [
        "accept",
        "strict mode: accept mode with VRRP version 2 does not comply with RFC 3768",
        "it is cleared",
        "write `accept = false`",
    ];
    fix_if(out, applies, || inst.accept = false, why);
}

fn advert_int(inst: &mut VrrpInstance, out: &mut Vec<Fixup>) {
    let (max, unit, what) = if inst.version == 2 {
        (MAX_ADVERT_V2, Duration::from_secs(1), "an integer number of seconds under VRRP version 2")
    } else {
        (MAX_ADVERT_V3, Duration::from_millis(10), "in units of 10 ms under VRRP version 3")
    };
    let was = inst.advert_int;
    let fixed = if was > max {
        max
    } else {
        // keepalived rounds half up, and never to 0.
        let units = (was.as_micros() + unit.as_micros() / 2) / unit.as_micros();
        (unit * (units.max(1) as u32)).min(max)
    };
    if fixed != was {
        inst.advert_int = fixed;
        let secs = crate::model::format_seconds(fixed);
        let problem = if was > max {
            format!("advert_int {} is above {}", crate::model::format_seconds(was), crate::model::format_seconds(max))
        } else {
            format!("advert_int {} must be {what}", crate::model::format_seconds(was))
        };
        out.push(Fixup::new("advert_int", problem, format!("{secs} is used"), format!("write `advert_int = {secs}`")));
    }
}

/// Duplicates, and the weights keepalived drops in a sync group or at priority 255.
fn tracking(inst: &mut VrrpInstance, ctx: &Ctx<'_>, out: &mut Vec<Fixup>) {
    let twice = |what: &str| (format!("{what} is tracked twice"), "the second is ignored");
    if dedupe(&mut inst.track_interface, |t| &t.name) {
        let (problem, action) = twice("an interface");
        out.push(Fixup::new("track_interface", problem, action, "list each interface once"));
    }
    if dedupe(&mut inst.track_script, |t| &t.name) {
        let (problem, action) = twice("a script");
        out.push(Fixup::new("track_script", problem, action, "list each script once"));
    }
    let owner = inst.priority == OWNER_PRIORITY;
    if !ctx.in_sync_group && !owner {
        return;
    }
    let why = if ctx.in_sync_group { "in a vrrp_sync_group" } else { "at priority 255 (the address owner)" };
    let weighted: Vec<String> = inst.track_interface.iter().filter(|t| t.weight != 0).map(|t| t.name.clone()).collect();
    if !weighted.is_empty() {
        let action = if ctx.in_sync_group { "their weights are set to 0" } else { "they are not tracked" };
        if ctx.in_sync_group {
            inst.track_interface.iter_mut().for_each(|t| t.weight = 0);
        } else {
            inst.track_interface.retain(|t| t.weight == 0);
        }
        out.push(Fixup::new(
            "track_interface",
            format!("weighted tracked interfaces ({}) {why}", weighted.join(", ")),
            action,
            "remove the weights, or the entries",
        ));
    }
    let weight_of =
        |name: &str, w: Option<i32>| w.or_else(|| ctx.scripts.iter().find(|s| s.name == name).map(|s| s.weight));
    let weighted: Vec<String> = inst
        .track_script
        .iter()
        .filter(|t| weight_of(&t.name, t.weight).unwrap_or(0) != 0)
        .map(|t| t.name.clone())
        .collect();
    if !weighted.is_empty() {
        inst.track_script.retain(|t| !weighted.contains(&t.name));
        out.push(Fixup::new(
            "track_script",
            format!("weighted tracked scripts ({}) {why}", weighted.join(", ")),
            "they are not tracked",
            "remove them, or track them with `weight 0`",
        ));
    }
}

/// Drops the entries whose name came before; whether any was dropped.
fn dedupe<T>(list: &mut Vec<T>, name: impl Fn(&T) -> &String) -> bool {
    let mut seen = HashSet::new();
    let before = list.len();
    list.retain(|t| seen.insert(name(t).clone()));
    list.len() != before
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Auth, AuthType, TrackScript, VirtualAddress};

    fn instance() -> VrrpInstance {
        let mut i = VrrpInstance::new("VI_1");
        i.virtual_ipaddress.push(VirtualAddress::single("192.168.20.50".parse().unwrap()));
        i
    }

    fn keys(f: &[Fixup]) -> Vec<&str> {
        f.iter().map(|f| f.key).collect()
    }

    #[test]
    fn strict_demotes_and_drops_auth_and_completion_is_a_fixed_point() {
        let mut i = instance();
        i.strict = true;
        i.state = VrrpState::Master;
        i.authentication = Some(Auth { kind: AuthType::Pass, pass: "1111".into() });
        let ctx = Ctx { scripts: &[], in_sync_group: false };
        let f = complete(&mut i, &ctx);
        assert_eq!(keys(&f), ["state", "authentication", "accept"]);
        assert_eq!((i.state, i.authentication.is_none(), i.accept), (VrrpState::Backup, true, false));
        assert!(complete(&mut i.clone(), &ctx).is_empty());
    }

    #[test]
    fn advert_rounding_and_sync_group_weights() {
        let mut i = instance();
        i.advert_int = Duration::from_millis(1500);
        i.track_script = vec![TrackScript { name: "chk".into(), weight: None }];
        let scripts = [VrrpScript { weight: 10, ..VrrpScript::new("chk", "/bin/true") }];
        let f = complete(&mut i, &Ctx { scripts: &scripts, in_sync_group: true });
        assert_eq!(keys(&f), ["advert_int", "track_script"]);
        assert_eq!(i.advert_int, Duration::from_secs(2));
        assert!(i.track_script.is_empty());
        i.version = 3;
        i.advert_int = Duration::from_micros(10_004);
        complete(&mut i, &Ctx { scripts: &scripts, in_sync_group: false });
        assert_eq!(i.advert_int, Duration::from_millis(10));
    }
}
