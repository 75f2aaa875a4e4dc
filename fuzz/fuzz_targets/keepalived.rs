//! The keepalived.conf reader: any text is read to a configuration or to errors with
//! positions, never a panic, a hang or unbounded memory. The file sits in a directory that
//! does not exist, so a relative `include` finds nothing (absolute ones are bounded by the
//! reader: regular files of at most 16 MiB).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    if let Err(errors) = xvs_config::parse_keepalived(&text, "/nonexistent/xvs-fuzz/keepalived.conf") {
        // Every error renders (file:line:column, message, hint).
        let _ = errors.to_string();
    }
});
