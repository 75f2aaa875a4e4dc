//! The fleet: a director that is one of several behind routers doing ECMP, each
//! announcing the VIPs it is ready to serve through an existing BGP speaker (ExaBGP's
//! process API) and withdrawing them when it stops being ready or is drained.
//!
//! Modules: [`readiness`] says which VIPs a running configuration can serve;
//! [`announcer`] turns successive answers of the director into ExaBGP's `announce` and
//! `withdraw` lines (the heart of `xvs announce`); [`bird`] writes the same set as a BIRD 2
//! include file instead; [`drain`] is the director's side of
//! `xvs ctl --drain`.
//!
//! Protocol: the helper and `xvs ctl --drain` ask over the control socket with a
//! [`FleetRequest`] in the ctl [`Request`](crate::ctl::Request) (its ipvsadm `args` are
//! then empty); the answer's stdout is one line of JSON ([`AnnounceState`] or
//! [`DrainStatus`]).
//!
//! Invariants:
//! - A VIP is ready when the datapath runs (the control loop answers only while every
//!   poll loop does), the director is not draining, and at least one service on it can
//!   take a new connection (not on VRRP standby, a real of weight > 0 or a sorry server).
//! - The helper never trusts an old answer: no answer within its deadline is "nothing is
//!   ready", and everything it announced is withdrawn.

pub mod announcer;
pub mod bird;
pub mod drain;
pub mod readiness;

use serde::{Deserialize, Serialize};

/// What the fleet's tools ask of the director.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FleetRequest {
    /// `xvs announce`: which VIPs are ready now ([`AnnounceState`]).
    Announce,
    /// `xvs ctl --drain`: stop announcing; answers [`DrainStatus`].
    Drain,
    /// `xvs ctl --undrain`: announce again; answers [`DrainStatus`].
    Undrain,
    /// `xvs ctl --drain-status` (and the polls of `--drain`): [`DrainStatus`].
    DrainStatus,
}

/// One VIP (or prefix) of the configuration and whether this director is ready to
/// serve it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VipState {
    /// `ADDR/LEN`: what the helper announces (`/32`, `/128`, or a prefix VIP's length).
    pub prefix: String,
    pub ready: bool,
    /// Why not, when not ready ("draining", "no live real", "VRRP standby").
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub why: String,
    /// Every service on it forwards by NAT: its replies must come back through this
    /// director, which ECMP across a fleet cannot promise (the announcer refuses it
    /// unless told `--nat`).
    #[serde(default)]
    pub nat_only: bool,
}

/// The answer to [`FleetRequest::Announce`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct AnnounceState {
    pub draining: bool,
    pub vips: Vec<VipState>,
}

/// The answer to the drain requests: what the director has seen since the drain began.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct DrainStatus {
    pub draining: bool,
    /// Milliseconds since the drain began (0 when not draining).
    pub since_ms: u64,
    /// Milliseconds between the drain and the first announcer poll that saw it (the
    /// withdrawal went out then); `None` while no announcer has seen it.
    pub withdrawn_after_ms: Option<u64>,
    /// Service frames (received and not handed to the kernel) since the drain began.
    pub frames: u64,
    /// Milliseconds since the last service frame arrived (since the drain began, if none).
    pub idle_ms: u64,
    /// Connections in the table now.
    pub live_connections: u64,
    /// Milliseconds since an `xvs announce` last asked; `None`: never.
    pub announcer_seen_ms: Option<u64>,
}
