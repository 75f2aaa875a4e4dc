//! Listing connections for people and tests (`xvs ctl -c`, `xvs demo`): slow path.
//!
//! Owns: [`ConnInfo`] and reading the tables into it. Must not touch: anything (it only
//! reads).

use std::net::IpAddr;

use xvs_proto::PROTO_TCP;

use super::Ctx;
use crate::conn::FamilyTables;
use crate::family::Family;
use crate::spec::Forward;
use crate::store::Expiring;
use crate::tcp_state::TcpState;

/// A connection as listed by `xvs ctl -c` and the tests.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConnInfo {
    pub proto: u8,
    pub client: IpAddr,
    pub cport: u16,
    pub vip: IpAddr,
    pub vport: u16,
    pub real: IpAddr,
    pub rport: u16,
    pub state: &'static str,
    pub expires_ms: u64,
    pub forward: Forward,
    /// Verified (README "Defences"): never evicted for another connection.
    pub verified: bool,
}

/// Append `t`'s live connections to `out` until it holds `max`.
pub(super) fn collect<A: Family>(t: &FamilyTables<A>, cx: &Ctx, max: usize, out: &mut Vec<ConnInfo>) {
    for (_, c) in t.conns.iter_live() {
        if out.len() >= max {
            return;
        }
        let r = &cx.services[c.real];
        let state = if c.proto == PROTO_TCP { TcpState::from_u8(c.state).name() } else { "UDP" };
        out.push(ConnInfo {
            proto: c.proto,
            client: c.cip.to_ip(),
            cport: c.cport,
            vip: c.vip.to_ip(),
            vport: c.vport,
            real: r.addr,
            rport: r.port_for(c.vport),
            state,
            expires_ms: c.deadline(cx.now).saturating_sub(cx.now),
            forward: c.xmit().forward(),
            verified: c.is_verified(),
        });
    }
}
