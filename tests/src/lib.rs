//! xvs-tests: helpers shared by the replay and end-to-end tests and the bundled demo
//! capture: writing and reading captures, a simulated lab of clients and real servers
//! around an engine (`lab`), and independent checks of output frames. The lab of real
//! network namespaces is the `xvs-lab` crate.
//!
//! Invariant: the checks here recompute everything from the bytes (checksums in full,
//! headers parsed afresh); they never call the engine's own rewrite code.

pub mod checks;
pub mod lab;
pub mod pcap_io;
