//! Prints the VRRP part of a `Config` as normalized xvs TOML: `[vrrp_global]` (when
//! anything VRRP is set), then `[[vrrp_script]]`, `[[vrrp]]` (with
//! `[vrrp.authentication]`) and `[[vrrp_sync_group]]`, every key with its resolved value.
//! List entries are written in keepalived's syntax, durations in seconds.

use std::fmt::{Result, Write};

use super::q;
use crate::model::{format_seconds, Notifies, NotifyScript, RunAs, Vrrp, VrrpInstance};

/// `[a, b]` of TOML strings.
fn list<T: ToString>(items: &[T]) -> String {
    format!("[{}]", items.iter().map(|i| q(&i.to_string())).collect::<Vec<_>>().join(", "))
}

/// `key = value` for a set option, else a comment saying what unset means.
fn opt(o: &mut String, key: &str, value: Option<String>, unset: &str) -> Result {
    match value {
        Some(v) => writeln!(o, "{key} = {v}"),
        None => writeln!(o, "# {key}: unset = {unset}"),
    }
}

fn user(u: &Option<RunAs>) -> Option<String> {
    u.as_ref().map(|u| q(&u.to_string()))
}

/// `key = "script"`, or with its user `key = { script = "...", user = "USER [GROUP]" }`.
pub(super) fn notify_script(o: &mut String, key: &str, s: &NotifyScript) -> Result {
    match &s.user {
        None => writeln!(o, "{key} = {}", q(&s.script)),
        Some(u) => writeln!(o, "{key} = {{ script = {}, user = {} }}", q(&s.script), q(&u.to_string())),
    }
}

fn notifies(o: &mut String, n: &Notifies) -> Result {
    for (key, s) in n.set() {
        notify_script(o, key, s)?;
    }
    Ok(())
}

/// Writes the VRRP tables (nothing for a configuration without VRRP).
pub(super) fn write_vrrp(o: &mut String, v: &Vrrp) -> Result {
    if *v == Vrrp::default() {
        return Ok(());
    }
    writeln!(o)?;
    writeln!(o, "[vrrp_global]")?;
    writeln!(o, "version = {}", v.version)?;
    opt(o, "router_id", v.router_id.as_deref().map(q), "none (keepalived uses the host name)")?;
    writeln!(o, "strict = {}", v.strict)?;
    writeln!(o, "skip_check_adv_addr = {}", v.skip_check_adv_addr)?;
    writeln!(o, "garp_interval = {}", format_seconds(v.garp_interval))?;
    writeln!(o, "gna_interval = {}", format_seconds(v.gna_interval))?;
    opt(o, "script_user", user(&v.script_user), "keepalived_script if that user exists, else root")?;
    writeln!(o, "enable_script_security = {}", v.enable_script_security)?;
    for s in &v.scripts {
        writeln!(o)?;
        writeln!(o, "[[vrrp_script]]")?;
        writeln!(o, "name = {}", q(&s.name))?;
        writeln!(o, "script = {}", q(&s.script))?;
        writeln!(o, "interval = {}", s.interval)?;
        writeln!(o, "timeout = {}", s.timeout)?;
        writeln!(o, "weight = {}", s.weight)?;
        writeln!(o, "rise = {}", s.rise)?;
        writeln!(o, "fall = {}", s.fall)?;
        opt(o, "user", user(&s.user), "script_user")?;
        writeln!(o, "init_fail = {}", s.init_fail)?;
    }
    for i in &v.instances {
        write_instance(o, i)?;
    }
    for g in &v.sync_groups {
        writeln!(o)?;
        writeln!(o, "[[vrrp_sync_group]]")?;
        writeln!(o, "name = {}", q(&g.name))?;
        writeln!(o, "group = {}", list(&g.group))?;
        notifies(o, &g.notify)?;
    }
    Ok(())
}

fn write_instance(o: &mut String, i: &VrrpInstance) -> Result {
    writeln!(o)?;
    writeln!(o, "[[vrrp]]")?;
    writeln!(o, "name = {}", q(&i.name))?;
    writeln!(o, "state = {}", q(i.state.name()))?;
    opt(o, "interface", i.interface.as_deref().map(q), "none (unicast from unicast_src_ip)")?;
    writeln!(o, "virtual_router_id = {}", i.virtual_router_id)?;
    writeln!(o, "priority = {}", i.priority)?;
    writeln!(o, "advert_int = {}", format_seconds(i.advert_int))?;
    writeln!(o, "version = {}", i.version)?;
    writeln!(o, "strict = {}", i.strict)?;
    writeln!(o, "skip_check_adv_addr = {}", i.skip_check_adv_addr)?;
    writeln!(o, "accept = {}", i.accept)?;
    writeln!(o, "virtual_ipaddress = {}", list(&i.virtual_ipaddress))?;
    writeln!(o, "virtual_ipaddress_excluded = {}", list(&i.virtual_ipaddress_excluded))?;
    writeln!(o, "nopreempt = {}", i.nopreempt)?;
    writeln!(o, "preempt_delay = {}", format_seconds(i.preempt_delay))?;
    writeln!(o, "dont_track_primary = {}", i.dont_track_primary)?;
    opt(o, "unicast_src_ip", i.unicast_src_ip.map(|a| q(&a.to_string())), "the interface's primary address")?;
    writeln!(o, "unicast_peer = {}", list(&i.unicast_peer))?;
    writeln!(o, "track_interface = {}", list(&i.track_interface))?;
    writeln!(o, "track_script = {}", list(&i.track_script))?;
    notifies(o, &i.notify)?;
    writeln!(o, "garp_master_delay = {}", i.garp_master_delay)?;
    writeln!(o, "garp_master_repeat = {}", i.garp_master_repeat)?;
    writeln!(o, "garp_master_refresh = {}", i.garp_master_refresh)?;
    if let Some(a) = &i.authentication {
        writeln!(o)?;
        writeln!(o, "[vrrp.authentication]")?;
        writeln!(o, "auth_type = {}", q(a.kind.name()))?;
        writeln!(o, "auth_pass = {}", q(&a.pass))?;
    }
    Ok(())
}
