//! xvs-lab: labs of Linux network namespaces and the one HTTP client that talks to them,
//! for `xvs demo`, the end-to-end tests (`xvs/tests`) and `xvs-bench veth`.
//!
//! - [`netns`]: a [`Lab`] of namespaces, veth pairs, addresses, routes and sysctls, with
//!   commands and background processes ([`Proc`]) run inside them.
//! - [`director`]: a [`DirectorLab`] built on a [`Lab`]: client, one-armed director and
//!   real servers on one bridge, wired for NAT, DR or TUN, with the reals' servers and
//!   `xvs run` started in it.
//! - [`keepalived`]: the distribution's keepalived as a VRRP peer in a namespace.
//! - [`http`]: the HTTP/1.1 client the demo's lab, the tests and the bench speak to the
//!   reals with.
//!
//! Invariants:
//! - Every namespace a lab makes is removed when the lab is dropped, also when the owner
//!   panics; every process it spawns (and their children) is killed then.
//! - Every wait is bounded: commands, process start-ups, shutdowns and HTTP reads all have
//!   a timeout, and the output readers are given up on after a second.
//! - Nothing skips: without root or iproute2 a lab panics with the reason.
//! - No `unsafe`: namespaces are entered with nix's `setns`, sockets bound with nix's
//!   `socket`/`bind`/`connect`.
//! - This crate knows the product only as a program to run (`xvs run`, `xvs realserver`)
//!   and a config text to write; it does not depend on the `xvs` library or the engine.

#![forbid(unsafe_code)]

pub mod director;
pub mod http;
pub mod keepalived;
pub mod netns;

pub use director::{DirectorLab, LabMode};
pub use keepalived::Keepalived;
pub use netns::{Lab, Proc};

/// A new private directory under the temporary directory, named `PREFIX-XXXXXX` with a
/// random suffix (`mkdtemp`: created atomically, mode 0700, never an existing path or a
/// symlink someone planted), for a lab's files.
pub fn private_dir(prefix: &str) -> std::path::PathBuf {
    let template = std::env::temp_dir().join(format!("{prefix}-XXXXXX"));
    nix::unistd::mkdtemp(&template).unwrap_or_else(|e| panic!("mkdtemp {}: {e}", template.display()))
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn private_dirs_are_new_random_and_closed() {
        let (a, b) = (super::private_dir("xvs-test"), super::private_dir("xvs-test"));
        assert_ne!(a, b);
        for d in [&a, &b] {
            let meta = std::fs::symlink_metadata(d).unwrap();
            assert!(meta.is_dir() && !meta.file_type().is_symlink());
            assert_eq!(meta.permissions().mode() & 0o777, 0o700);
            std::fs::remove_dir(d).unwrap();
        }
    }
}
