//! xvs-tests: helpers shared by the replay and end-to-end tests and the bundled demo
//! capture: writing and reading captures, a simulated lab of clients and real servers
//! around an engine, independent checks of output frames, and a lab of real network
//! namespaces for end-to-end tests (`netns`).
//!
//! Invariant: the checks here recompute everything from the bytes (checksums in full,
//! headers parsed afresh); they never call the engine's own rewrite code.

pub mod checks;
pub mod lab;
pub use xvs::netns;
pub mod pcap_io;
