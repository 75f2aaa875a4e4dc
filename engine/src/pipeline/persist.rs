//! Persistence templates (ipvsadm -p): (service, client & netmask, destination) -> real.
//!
//! Owns: finding, creating, invalidating, re-checking and freeing templates, and their
//! index. Must not touch: connections, or any counter directly (a template's binding to
//! its real goes through `bind`).
//!
//! Invariants:
//! - A template is in the template index and counted in its real's persistent count
//!   exactly while it is `linked`. An invalidated one (its real gone, or quiesced with
//!   `expire_quiescent_template`) is unlinked at once and freed when its connections are
//!   gone.
//! - Every connection created through a template restarts its persistence timer.
//! - A template that still has connections does not expire: it is re-checked every 60 s
//!   counted from its deadline, as the kernel's timer does.

use xvs_sched::Flow;

use super::bind::{bind_real, unbind_real, Holder};
use super::flow::{template_hash, FlowKey};
use super::new_conn::schedule;
use super::Ctx;
use crate::conn::{FamilyTables, Template, NO_TEMPLATE};
use crate::family::Family;
use crate::ids::{RealId, ServiceId};
use crate::store::Expiring;

/// IPVS re-checks a template that still has connections every 60 s.
const TEMPLATE_RECHECK_MS: u64 = 60_000;

/// A template's key: the service, the client's address masked to the service's
/// persistence netmask, the destination, and their hash.
struct TemplateKey<A> {
    service: ServiceId,
    client: A,
    vip: A,
    hash: u64,
}

/// The real for a new connection of persistent service `sid`, and the template it goes
/// through (or [`NO_TEMPLATE`] when the template table is full: the connection goes on
/// without persistence). `None`: no real available.
pub(super) fn persistent_real<A: Family>(
    t: &mut FamilyTables<A>,
    cx: &mut Ctx,
    sid: ServiceId,
    key: &FlowKey<A>,
    flow: &Flow,
) -> Option<(RealId, u32)> {
    let svc = &cx.services[sid];
    let (persistence, mask) = (svc.spec.persistence, svc.spec.persistence_netmask);
    let client = key.src.mask(mask);
    // A fwmark service keeps one template per client across all it covers (IPVS keys
    // it by the mark, not the destination).
    let vip = if svc.spec.fwmark != 0 { A::default() } else { key.dst };
    let hash = template_hash(&cx.hasher, sid, client, vip);
    let tk = TemplateKey { service: sid, client, vip, hash };
    let deadline = cx.now + persistence as u64 * 1000;
    let (rid, template) = match valid_template(t, cx, &tk) {
        Some((tid, rid)) => {
            // Every connection through a template restarts its persistence timer (a later
            // deadline needs no re-arming: the wheel hands the entry back early).
            t.templates.get_mut(tid).deadline = deadline as u32;
            (rid, tid)
        }
        None => {
            let rid = schedule(cx, sid, flow)?;
            (rid, new_template(t, cx, &tk, rid, deadline))
        }
    };
    Some((rid, template))
}

/// The client's template and its real, if it has one whose real may still take it;
/// a template whose real may not is unlinked now (freed once its connections are gone).
fn valid_template<A: Family>(t: &mut FamilyTables<A>, cx: &mut Ctx, tk: &TemplateKey<A>) -> Option<(u32, RealId)> {
    let (tid, _) = {
        let templates = &t.templates;
        t.template_index.find(tk.hash, |o, _| {
            let x = templates.get(o);
            x.service == tk.service && x.client == tk.client && x.vip == tk.vip
        })?
    };
    let tp = *t.templates.get(tid);
    let r = &cx.services[tp.real];
    // A sorry server is out of the pool once a real can take new connections again
    // (keepalived removes it then; with sorry_server_inhibit it stays at weight 0).
    let sorry_out = r.is_sorry && {
        let svc = &cx.services[r.service];
        !svc.spec.sorry_inhibit && svc.dests.iter().any(|d| d.weight > 0)
    };
    if r.available && !sorry_out && !(cx.cfg.expire_quiescent_template && r.weight == 0) {
        return Some((tid, tp.real));
    }
    unlink(t, cx, tid, tk.hash);
    let tp = t.templates.get_mut(tid);
    tp.deadline = cx.now as u32;
    t.templates.rearm(tid);
    None
}

/// A new template for `tk` pinned to `rid`, expiring at `deadline` (armed on the wheel
/// with it: an entry armed before its deadline is known would wait for whatever the
/// placeholder widened to, up to 24 days); [`NO_TEMPLATE`] when the table is full.
fn new_template<A: Family>(
    t: &mut FamilyTables<A>,
    cx: &mut Ctx,
    tk: &TemplateKey<A>,
    rid: RealId,
    deadline: u64,
) -> u32 {
    let tp = Template {
        client: tk.client,
        vip: tk.vip,
        deadline: deadline as u32,
        real: rid,
        refs: 0,
        service: tk.service,
        linked: true,
    };
    if !t.template_index.has_room(tk.hash) {
        // Colliding keys (the probe bound): as a full template table, no persistence.
        return NO_TEMPLATE;
    }
    let Some(tid) = t.templates.alloc(tp) else {
        return NO_TEMPLATE;
    };
    let indexed = t.template_index.insert(tk.hash, tid, false);
    debug_assert!(indexed, "room was checked");
    bind_real(cx, &mut t.templates, rid, Holder::Template);
    cx.stats.templates_created += 1;
    tid
}

/// Take template `tid` (hashing to `th`) out of the index and off its real's count.
fn unlink<A: Family>(t: &mut FamilyTables<A>, cx: &mut Ctx, tid: u32, th: u64) {
    let FamilyTables { templates, template_index, .. } = t;
    template_index.remove(th, tid, false, |o, _| {
        let x = templates.get(o);
        template_hash(&cx.hasher, x.service, x.client, x.vip)
    });
    let tp = templates.get_mut(tid);
    tp.linked = false;
    let rid = tp.real;
    unbind_real(cx, templates, rid, Holder::Template);
}

/// Template `h`'s deadline passed: re-arm it while connections still use it, else free it.
pub(super) fn template_due<A: Family>(t: &mut FamilyTables<A>, cx: &mut Ctx, h: u32) {
    let tp = *t.templates.get(h);
    if tp.refs > 0 {
        // Recheck every 60 s counted from the deadline, as the kernel's timer does, so
        // the result does not depend on how late the reaper got to it.
        let due = tp.deadline(cx.now);
        let next = due + TEMPLATE_RECHECK_MS * (cx.now.saturating_sub(due) / TEMPLATE_RECHECK_MS + 1);
        t.templates.get_mut(h).deadline = next as u32;
        t.templates.rearm(h);
        return;
    }
    if tp.linked {
        let th = template_hash(&cx.hasher, tp.service, tp.client, tp.vip);
        unlink(t, cx, h, th);
    }
    t.templates.free(h);
    cx.stats.templates_expired += 1;
}

/// A template received from a sync master: refresh the client's template of service
/// `sid` to `deadline`, or create it pinned to `rid`. `Some(true)`: created; `None`: the
/// table is full.
pub(super) fn synced_template<A: Family>(
    t: &mut FamilyTables<A>,
    cx: &mut Ctx,
    sid: ServiceId,
    client: A,
    vip: A,
    rid: RealId,
    deadline: u64,
) -> Option<bool> {
    let client = client.mask(cx.services[sid].spec.persistence_netmask);
    let hash = template_hash(&cx.hasher, sid, client, vip);
    let tk = TemplateKey { service: sid, client, vip, hash };
    let found = {
        let templates = &t.templates;
        t.template_index.find(hash, |o, _| {
            let x = templates.get(o);
            x.service == sid && x.client == client && x.vip == vip
        })
    };
    let (tid, created) = match found {
        Some((tid, _)) => (tid, false),
        None => match new_template(t, cx, &tk, rid, deadline) {
            NO_TEMPLATE => return None,
            tid => (tid, true),
        },
    };
    if !created {
        let tp = t.templates.get_mut(tid);
        let earlier = (deadline as u32).wrapping_sub(tp.deadline) > u32::MAX / 2;
        tp.deadline = deadline as u32;
        if earlier {
            t.templates.rearm(tid);
        }
    }
    Some(created)
}
