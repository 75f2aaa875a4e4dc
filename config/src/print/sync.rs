//! Prints `[sync]` as normalized xvs TOML, only when it differs from `Sync::default()`
//! (a configuration without connection sync prints nothing here).
//!
//! Invariant: every key is written with its resolved value (`syncid` included, however
//! it was resolved), so the printed table reads back to the same `Sync`; an unset
//! option is a comment saying what unset means.

use std::fmt::{Result, Write};

use super::q;
use crate::model::Sync;

/// Writes `[sync]` (nothing for the default).
pub(super) fn write_sync(o: &mut String, s: &Sync) -> Result {
    if *s == Sync::default() {
        return Ok(());
    }
    writeln!(o)?;
    writeln!(o, "[sync]")?;
    match &s.daemon {
        None => writeln!(o, "# interface: unset = no sync daemon")?,
        Some(d) => {
            writeln!(o, "interface = {}", q(&d.interface))?;
            match &d.instance {
                Some(i) => writeln!(o, "instance = {}", q(i))?,
                None => writeln!(o, "# instance: unset = the daemon both sends and receives")?,
            }
            writeln!(o, "syncid = {}", d.syncid)?;
            match d.maxlen {
                Some(m) => writeln!(o, "maxlen = {m}")?,
                None => writeln!(o, "# maxlen: unset = the interface's MTU less the IP and UDP headers")?,
            }
            writeln!(o, "port = {}", d.port)?;
            writeln!(o, "ttl = {}", d.ttl)?;
            writeln!(o, "group = {}", q(&d.group.to_string()))?;
        }
    }
    writeln!(o, "sync_threshold = [{}, {}]", s.threshold, s.period)?;
    writeln!(o, "sync_refresh_period = {}", s.refresh_period)
}
