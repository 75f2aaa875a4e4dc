//! `xvs ctl`: ipvsadm's command language against a running director, over a Unix socket.
//!
//! Modules: [`args`] parses ipvsadm argv into a [`args::Command`]; [`apply`] applies edits
//! to the configuration model (all of a batch or none of it); [`format`] renders the
//! ipvsadm listings (`-Ln`, `--stats`, `--rate`, `-c`, `--timeout`, `-S`) and the JSON
//! form; [`daemon`] is the director's side (the live model, `-Z` baselines, rates);
//! [`server`] is the socket; [`client`] is what `xvs ctl` sends.
//!
//! Protocol: one connection carries exactly one [`Request`] and one [`Response`], each a
//! single line of JSON terminated by `\n`. The daemon parses the arguments itself (the
//! client parses them too, only to report usage errors without a daemon and to know when
//! `-R` needs standard input), so the daemon is the one authority on what a command means.
//!
//! Invariants:
//! - Only root may talk to the daemon: the socket file is created 0600 and owned by root,
//!   and the server checks the peer's uid (SO_PEERCRED) and answers anyone else with an
//!   error (exit 1) before reading the request.
//! - An edit either changes the live configuration completely (model, engine, steering)
//!   or not at all; established connections keep their reals (the engine's reload
//!   semantics).
//! - A request with a `fleet` part is a fleet request (see [`crate::fleet`]); its `args`
//!   are not read.
//! - Exit codes: 0 ok, 1 runtime error (the daemon refused the change, or is unreachable),
//!   2 usage (the command line itself is wrong).

pub mod apply;
pub mod args;
pub mod client;
pub mod daemon;
pub mod format;
pub mod server;

use serde::{Deserialize, Serialize};

/// What `xvs ctl` asks of the daemon.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Request {
    /// The ipvsadm arguments, without the program name.
    pub args: Vec<String>,
    /// Standard input, for `-R`.
    #[serde(default)]
    pub input: Option<String>,
    /// A fleet request (`xvs announce`, `xvs ctl --drain`) instead of ipvsadm arguments.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fleet: Option<crate::fleet::FleetRequest>,
}

/// The daemon's answer: what to print and the exit status.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Response {
    pub exit: u8,
    #[serde(default)]
    pub stdout: String,
    #[serde(default)]
    pub stderr: String,
}

impl Response {
    pub fn ok(stdout: String) -> Response {
        Response { exit: 0, stdout, stderr: String::new() }
    }

    /// A runtime error (exit 1); `msg` gets a trailing newline.
    pub fn error(msg: impl AsRef<str>) -> Response {
        Response { exit: 1, stdout: String::new(), stderr: format!("{}\n", msg.as_ref().trim_end()) }
    }

    /// A usage error (exit 2).
    pub fn usage(msg: impl AsRef<str>) -> Response {
        Response { exit: 2, stdout: String::new(), stderr: format!("{}\n", msg.as_ref().trim_end()) }
    }
}
