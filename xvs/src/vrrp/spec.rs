//! From the configuration model's VRRP part (`xvs_config::Vrrp`, keepalived's fix-ups
//! already applied) to what the runtime runs: the protocol's `InstanceConfig`, the
//! interface, the addresses to own, the announcements, the notify scripts and the sync
//! groups.

use std::net::IpAddr;
use std::time::Duration;

use xvs_config::{Notifies, NotifyScript, RunAs, Vrrp, VrrpInstance, VrrpState};
use xvs_vrrp::{InitialState, InstanceConfig, Version};

use super::group::GroupSpec;
use super::runtime::{GarpPolicy, InstanceSpec, Notify, VirtualAddress};
use super::track::{TrackedScript, Tracking};
use crate::host;
use crate::scripts::{Script, ScriptPolicy};

/// uid and gid of `who` (the group defaults to the user's).
fn run_as(who: &RunAs) -> Result<(u32, u32), String> {
    let user = nix::unistd::User::from_name(&who.user)
        .map_err(|e| format!("script_user {who}: {e}"))?
        .ok_or_else(|| format!("script_user {who}: no such user"))?;
    let gid = match &who.group {
        Some(g) => {
            nix::unistd::Group::from_name(g)
                .map_err(|e| format!("script_user {who}: {e}"))?
                .ok_or_else(|| format!("script_user {who}: no such group"))?
                .gid
        }
        None => user.gid,
    };
    Ok((user.uid.as_raw(), gid.as_raw()))
}

/// Who a script with its own `user` (if any) runs as, and whether insecure scripts are
/// refused, as keepalived decides it from `global_defs` (MISC_CHECK's `user` too).
pub fn script_policy(vrrp: &Vrrp, user: Option<&RunAs>) -> Result<ScriptPolicy, String> {
    let user = match user {
        Some(who) => Some(run_as(who)?),
        None => default_user(vrrp)?,
    };
    Ok(ScriptPolicy { user, security: vrrp.enable_script_security })
}

/// keepalived's default script user: `script_user`, else `keepalived_script` if that user
/// exists, else root.
fn default_user(vrrp: &Vrrp) -> Result<Option<(u32, u32)>, String> {
    if let Some(who) = &vrrp.script_user {
        return run_as(who).map(Some);
    }
    Ok(run_as(&RunAs { user: "keepalived_script".into(), group: None }).ok())
}

fn prepare(s: &NotifyScript, vrrp: &Vrrp, default: Option<(u32, u32)>) -> Result<Script, String> {
    let user = s.user.as_ref().map(run_as).transpose()?.or(default);
    let policy = ScriptPolicy { user, security: vrrp.enable_script_security };
    let script = Script::prepare(&s.script, &policy)?;
    for w in &script.warnings {
        eprintln!("xvs: warning: {w}");
    }
    Ok(script)
}

/// The address adverts of `i` leave from: `unicast_src_ip`, else the interface's first
/// address of the instance's family (IPv6: its link-local one, as VRRPv3 requires).
fn primary(i: &VrrpInstance, ifname: &str) -> Result<IpAddr, String> {
    if let Some(a) = i.unicast_src_ip {
        return Ok(a);
    }
    let index = host::ifindex(ifname).map_err(|e| format!("vrrp_instance {}: interface {ifname}: {e}", i.name))?;
    let addrs = host::addresses_of(index).map_err(|e| format!("interface {ifname}: {e}"))?;
    let v6 = i.is_ipv6();
    addrs
        .iter()
        .map(|a| a.addr)
        .find(|a| match a {
            IpAddr::V4(_) => !v6,
            IpAddr::V6(x) => v6 && x.is_unicast_link_local(),
        })
        .ok_or_else(|| {
            format!(
                "vrrp_instance {}: {ifname} has no {} address to send adverts from",
                i.name,
                if v6 { "link-local IPv6" } else { "IPv4" }
            )
        })
}

fn protocol(i: &VrrpInstance, vrrp: &Vrrp, primary: IpAddr) -> InstanceConfig {
    let auth_pass = i.authentication.as_ref().map(|a| {
        let mut p = [0u8; 8];
        let b = a.pass.as_bytes();
        p[..b.len().min(8)].copy_from_slice(&b[..b.len().min(8)]);
        p
    });
    InstanceConfig {
        name: i.name.clone(),
        vrid: i.virtual_router_id,
        version: if i.version == 3 { Version::V3 } else { Version::V2 },
        priority: i.priority,
        advert_int_cs: (i.advert_int.as_millis() / 10).clamp(1, 4095) as u16,
        preempt: !i.nopreempt,
        preempt_delay_ms: i.preempt_delay.as_millis().min(u128::from(u32::MAX)) as u32,
        initial: if i.state == VrrpState::Master { InitialState::Master } else { InitialState::Backup },
        auth_pass,
        addresses: i.virtual_ipaddress.iter().map(|a| a.addr).collect(),
        primary,
        unicast_peers: i.unicast_peer.clone(),
        strict: i.strict || vrrp.strict,
        skip_check_adv_addr: i.skip_check_adv_addr || vrrp.skip_check_adv_addr,
    }
}

/// The notify scripts `n` of `whose` (`vrrp_instance NAME`, `vrrp_sync_group NAME`).
fn notify(n: &Notifies, whose: &str, vrrp: &Vrrp, default: Option<(u32, u32)>) -> Result<Notify, String> {
    let one = |s: &Option<NotifyScript>| s.as_ref().map(|s| prepare(s, vrrp, default)).transpose();
    let with_name = |e: String| format!("{whose}: {e}");
    Ok(Notify {
        master: one(&n.master).map_err(with_name)?,
        backup: one(&n.backup).map_err(with_name)?,
        fault: one(&n.fault).map_err(with_name)?,
        stop: one(&n.stop).map_err(with_name)?,
        any: one(&n.notify).map_err(with_name)?,
    })
}

/// Everything the runtime needs for every instance, or what stops it from running.
pub fn specs(vrrp: &Vrrp) -> Result<Vec<InstanceSpec>, String> {
    let default = default_user(vrrp)?;
    vrrp.instances
        .iter()
        .map(|i| {
            let ifname = i.interface.clone().ok_or_else(|| {
                format!("vrrp_instance {}: xvs run needs the instance's interface (an interface-less unicast instance is not supported)", i.name)
            })?;
            let primary = primary(i, &ifname)?;
            let own = |a: &xvs_config::VirtualAddress| VirtualAddress {
                addr: a.addr,
                prefix_len: a.prefix_len,
                dev: a.dev.clone(),
                label: a.label.clone(),
            };
            Ok(InstanceSpec {
                protocol: protocol(i, vrrp, primary),
                interface: ifname,
                // Excluded addresses are owned with the others but not advertised.
                addresses: i.virtual_ipaddress.iter().chain(&i.virtual_ipaddress_excluded).map(own).collect(),
                garp: GarpPolicy {
                    delay: Duration::from_secs(u64::from(i.garp_master_delay)),
                    repeat: i.garp_master_repeat.max(1),
                    refresh: (i.garp_master_refresh > 0).then(|| Duration::from_secs(u64::from(i.garp_master_refresh))),
                },
                notify: notify(&i.notify, &format!("vrrp_instance {}", i.name), vrrp, default)?,
                tracking: tracking(i, vrrp),
            })
        })
        .collect()
}

/// Every `vrrp_sync_group`, its members by index into `vrrp.instances` (the order of
/// [`specs`]).
pub fn groups(vrrp: &Vrrp) -> Result<Vec<GroupSpec>, String> {
    let default = default_user(vrrp)?;
    vrrp.sync_groups
        .iter()
        .map(|g| {
            let members = g
                .group
                .iter()
                .map(|m| {
                    vrrp.instances
                        .iter()
                        .position(|i| i.name == *m)
                        .ok_or_else(|| format!("vrrp_sync_group {}: no vrrp_instance named {m}", g.name))
                })
                .collect::<Result<Vec<_>, _>>()?;
            let notify = notify(&g.notify, &format!("vrrp_sync_group {}", g.name), vrrp, default)?;
            Ok(GroupSpec { name: g.name.clone(), members, notify })
        })
        .collect()
}

/// What `i` tracks: its own interface with weight 0 (unless `dont_track_primary`), its
/// `track_interface` entries, and its `track_script` entries by index into `vrrp.scripts`
/// (with the script's own weight unless the entry gives one).
fn tracking(i: &VrrpInstance, vrrp: &Vrrp) -> Tracking {
    let own = i.interface.iter().filter(|_| !i.dont_track_primary).map(|n| (n.clone(), 0));
    let interfaces = own.chain(i.track_interface.iter().map(|t| (t.name.clone(), t.weight))).collect();
    let scripts = i
        .track_script
        .iter()
        .filter_map(|t| {
            let k = vrrp.scripts.iter().position(|s| s.name == t.name)?;
            Some((k, t.weight.unwrap_or(vrrp.scripts[k].weight)))
        })
        .collect();
    Tracking { interfaces, scripts }
}

/// Every `vrrp_script`, ready to run (instances refer to them by index).
pub fn scripts(vrrp: &Vrrp) -> Result<Vec<TrackedScript>, String> {
    let default = default_user(vrrp)?;
    vrrp.scripts
        .iter()
        .map(|s| {
            let user = s.user.as_ref().map(run_as).transpose()?.or(default);
            let policy = ScriptPolicy { user, security: vrrp.enable_script_security };
            let script = Script::prepare(&s.script, &policy).map_err(|e| format!("vrrp_script {}: {e}", s.name))?;
            Ok(TrackedScript {
                name: s.name.clone(),
                script,
                interval: Duration::from_secs(u64::from(s.interval.max(1))),
                timeout: Duration::from_secs(u64::from(s.timeout.max(1))),
                rise: s.rise,
                fall: s.fall,
                init_fail: s.init_fail,
            })
        })
        .collect()
}

/// Every address some instance owns while MASTER (a service with one of these VIPs is
/// served only then, and `manage_vips` leaves it to VRRP).
pub fn owned_addresses(vrrp: &Vrrp) -> Vec<IpAddr> {
    vrrp.instances
        .iter()
        .flat_map(|i| i.virtual_ipaddress.iter().chain(&i.virtual_ipaddress_excluded))
        .map(|a| a.addr)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seed() -> xvs_config::Config {
        let text = "vrrp_instance VI_1 {\n  state MASTER\n  interface lo\n  virtual_router_id 51\n  priority 150\n  advert_int 1\n  \
                    authentication {\n    auth_type PASS\n    auth_pass 1111\n  }\n  virtual_ipaddress {\n    192.168.20.50\n  }\n}\n";
        xvs_config::parse_keepalived(text, "keepalived.conf").map_err(|e| e.to_string()).unwrap().0
    }

    #[test]
    fn the_seed_instance_becomes_the_protocols_config() {
        let cfg = seed();
        let i = &cfg.vrrp.instances[0];
        let p = protocol(i, &cfg.vrrp, "127.0.0.1".parse().unwrap());
        assert_eq!((p.vrid, p.priority, p.advert_int_cs, p.version), (51, 150, 100, Version::V2));
        assert_eq!(p.initial, InitialState::Master);
        assert_eq!(p.auth_pass, Some(*b"1111\0\0\0\0"));
        assert_eq!(p.addresses, ["192.168.20.50".parse::<IpAddr>().unwrap()]);
        assert!(p.preempt && p.unicast_peers.is_empty());
        assert_eq!(owned_addresses(&cfg.vrrp), ["192.168.20.50".parse::<IpAddr>().unwrap()]);
    }

    #[test]
    fn a_sync_group_names_its_members_by_index() {
        let mut cfg = seed();
        cfg.vrrp.sync_groups.push(xvs_config::SyncGroup {
            name: "VG".into(),
            group: vec!["VI_1".into()],
            notify: Default::default(),
        });
        let g = groups(&cfg.vrrp).unwrap();
        assert_eq!((g[0].name.as_str(), g[0].members.as_slice()), ("VG", &[0usize][..]));
    }

    #[test]
    fn tracking_follows_keepalived() {
        let mut cfg = seed();
        let i = &mut cfg.vrrp.instances[0];
        i.track_interface.push(xvs_config::TrackInterface { name: "eth1".into(), weight: -20 });
        i.track_script.push(xvs_config::TrackScript { name: "chk".into(), weight: None });
        i.track_script.push(xvs_config::TrackScript { name: "chk".into(), weight: Some(5) });
        let mut s = xvs_config::VrrpScript::new("chk", "/bin/true");
        s.weight = -30;
        cfg.vrrp.scripts.push(s);
        let t = tracking(&cfg.vrrp.instances[0], &cfg.vrrp);
        assert_eq!(t.interfaces, [("lo".to_string(), 0), ("eth1".to_string(), -20)]);
        assert_eq!(t.scripts, [(0, -30), (0, 5)]);
        cfg.vrrp.instances[0].dont_track_primary = true;
        assert_eq!(tracking(&cfg.vrrp.instances[0], &cfg.vrrp).interfaces, [("eth1".to_string(), -20)]);
        let scripts = scripts(&cfg.vrrp).unwrap();
        assert_eq!(
            (scripts[0].name.as_str(), scripts[0].interval, scripts[0].rise),
            ("chk", Duration::from_secs(1), 1)
        );
    }
}
