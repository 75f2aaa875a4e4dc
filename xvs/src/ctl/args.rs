//! ipvsadm's command line, parsed into one [`Command`]: the one grammar of ipvsadm's
//! language, `xvs_config::ipvsadm`, which the ipvsadm-save reader of `xvs run -c` uses
//! too, so a line means the same to both.
//!
//! This module only names it for the ctl modules (`args::parse`, `args::Command`, ...);
//! the grammar, its defaults, messages and tests live in `config/src/ipvsadm/`. It must
//! not grow a second reading of ipvsadm's syntax.

pub use xvs_config::ipvsadm::{
    parse, split_line, ArgError, Command, ListOpts, RealOpts, ServiceOpts, SvcId, DEFAULT_PERSISTENCE, MAX_TIMEOUT,
    USAGE,
};
