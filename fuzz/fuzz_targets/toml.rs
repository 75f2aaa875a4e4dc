//! The xvs TOML reader: any text is a validated configuration or errors with positions;
//! what it accepts prints as TOML that reads back to the same configuration.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    match xvs_config::parse_toml(&text, "fuzz.toml") {
        Ok(c) => {
            let printed = c.to_toml();
            let again = xvs_config::parse_toml(&printed, "printed.toml")
                .unwrap_or_else(|e| panic!("printed TOML does not read back: {e}\n{printed}"));
            assert_eq!(again, c, "printed TOML reads back differently:\n{printed}");
        }
        Err(e) => {
            let _ = e.to_string();
        }
    }
});
