//! ipvsadm's language, both readers of it: the command grammar `xvs ctl` uses (one line,
//! split as the shell would) and the `ipvsadm-save -n` file reader of `xvs run -c`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use xvs_config::ipvsadm::{parse, split_line};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    for line in text.lines().take(64) {
        let words = split_line(line);
        if let Err(e) = parse(&words) {
            let _ = e.to_string();
        }
    }
    if let Err(e) = xvs_config::parse_ipvsadm_save(&text, "fuzz.rules") {
        let _ = e.to_string();
    }
});
