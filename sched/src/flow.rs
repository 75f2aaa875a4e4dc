//! What a scheduler may look at of a new flow.
//!
//! Invariant: a [`Flow`] is the client->VIP direction as seen on ingress; `src`/`sport` are the
//! client's, `dst`/`dport` the (virtual) destination's.

use std::net::IpAddr;

/// What the scheduler may look at of a new flow.
#[derive(Debug, Clone, Copy)]
pub struct Flow {
    pub proto: u8,
    pub src: IpAddr,
    pub sport: u16,
    pub dst: IpAddr,
    pub dport: u16,
}

pub(crate) const IPPROTO_TCP: u8 = 6;
pub(crate) const IPPROTO_UDP: u8 = 17;
pub(crate) const IPPROTO_SCTP: u8 = 132;

impl Flow {
    /// The source port as sh-port / mh-port hash it: only TCP, UDP and SCTP have one;
    /// any other protocol hashes port 0 (as the kernel's `ip_vs_{sh,mh}_get_port`).
    #[inline]
    pub(crate) fn hash_port(&self, use_port: bool) -> u16 {
        match self.proto {
            IPPROTO_TCP | IPPROTO_UDP | IPPROTO_SCTP if use_port => self.sport,
            _ => 0,
        }
    }
}
