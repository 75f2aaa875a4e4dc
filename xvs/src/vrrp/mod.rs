//! VRRP's I/O for `xvs run`: the protocol itself is the sans-I/O `xvs-vrrp` crate; this
//! module gives it a socket on the wire ([`socket`]) and the link-layer announcements a
//! new MASTER sends ([`announce`]).

pub mod announce;
pub mod group;
pub mod runtime;
pub mod socket;
pub mod spec;
pub mod track;
