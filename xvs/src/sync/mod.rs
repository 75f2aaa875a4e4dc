//! Connection sync for `xvs run`: IPVS's sync daemons ([`daemon`]) over UDP sockets set
//! up as the kernel's ([`socket`]). The wire format is `xvs_proto::ipvs_sync`; what is
//! synced and how it is installed is the engine's (`xvs_engine::sync`).

pub mod daemon;
pub mod socket;
