//! `xvs announce --bird-include FILE`: the announced set as a BIRD 2 include file, for a
//! director whose BGP speaker is BIRD instead of ExaBGP.
//!
//! Invariants: the file always defines both static protocols, `xvs_vips4` and
//! `xvs_vips6` (possibly without routes), so the operator's export filters
//! (`export where proto = "xvs_vips4"`) always name something; each announced prefix is
//! one `unreachable` route of its family (BIRD exports it over BGP with its own next hop;
//! the director's kernel table needs no route: the XDP program takes the VIP's traffic).

/// The include file for `announced` (prefixes `ADDR/LEN`).
pub fn include_text(announced: &[String]) -> String {
    let routes = |v6: bool| -> String {
        announced.iter().filter(|p| p.contains(':') == v6).map(|p| format!("\n    route {p} unreachable;")).collect()
    };
    format!(
        "# Written by xvs announce: the VIPs this director is ready to serve. Do not edit.\n\
         protocol static xvs_vips4 {{\n    ipv4;{}\n}}\n\
         protocol static xvs_vips6 {{\n    ipv6;{}\n}}\n",
        routes(false),
        routes(true)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_protocols_always_exist_and_each_prefix_goes_to_its_family() {
        assert_eq!(
            include_text(&[]),
            "# Written by xvs announce: the VIPs this director is ready to serve. Do not edit.\n\
             protocol static xvs_vips4 {\n    ipv4;\n}\nprotocol static xvs_vips6 {\n    ipv6;\n}\n"
        );
        let t = include_text(&["10.7.0.100/32".into(), "2001:db8::7/128".into(), "203.0.113.0/24".into()]);
        assert!(t.contains(
            "protocol static xvs_vips4 {\n    ipv4;\n    route 10.7.0.100/32 unreachable;\n    route 203.0.113.0/24 \
             unreachable;\n}"
        ));
        assert!(t.contains("protocol static xvs_vips6 {\n    ipv6;\n    route 2001:db8::7/128 unreachable;\n}"));
    }
}
