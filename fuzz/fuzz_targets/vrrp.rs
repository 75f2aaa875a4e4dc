//! The VRRP advertisement decoder: any message from any source checks or is rejected with
//! a reason. The first byte picks the family of the addresses the message came with.
#![no_main]

use std::net::IpAddr;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&fam, msg)) = data.split_first() else { return };
    let (src, dst): (IpAddr, IpAddr) = if fam & 1 == 0 {
        ("192.0.2.1".parse().unwrap(), "224.0.0.18".parse().unwrap())
    } else {
        ("fe80::1".parse().unwrap(), "ff02::12".parse().unwrap())
    };
    if let Ok(a) = xvs_vrrp::wire::decode(msg, src, dst) {
        let _ = format!("{a:?}");
    }
});
