//! Detects the format of a configuration file from its content.
//!
//! Invariants:
//! - Anything that parses as TOML is TOML (so an empty file is an empty xvs config).
//! - Otherwise: a line starting with `-A` or `-a` means ipvsadm-save output; a
//!   `virtual_server`, `virtual_server_group`, `global_defs` or `vrrp_*` block opened
//!   with `{`, or a line starting with `include `, means keepalived.conf; anything else
//!   is treated as (broken) TOML so the TOML syntax error is what the operator sees.
//! - Detection never fails; it returns where the evidence is, for messages.

/// A configuration file format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Toml,
    Keepalived,
    IpvsadmSave,
}

impl Format {
    /// A human name for messages.
    pub fn describe(self) -> &'static str {
        match self {
            Format::Toml => "xvs TOML",
            Format::Keepalived => "keepalived.conf",
            Format::IpvsadmSave => "ipvsadm-save output",
        }
    }
}

/// The format of `text`, and the 1-based line that gave it away (1 for TOML).
pub fn detect_format(text: &str) -> (Format, usize) {
    if toml_edit::ImDocument::parse(text).is_ok() {
        return (Format::Toml, 1);
    }
    for (i, line) in text.lines().enumerate() {
        let l = line.trim_start();
        if l.starts_with("-A ") || l.starts_with("-a ") || l == "-A" || l == "-a" {
            return (Format::IpvsadmSave, i + 1);
        }
    }
    let blocks = ["virtual_server", "global_defs", "vrrp_", "static_ipaddress", "real_server"];
    for (i, line) in text.lines().enumerate() {
        let l = line.trim_start();
        if blocks.iter().any(|b| l.starts_with(b)) && braced(text, i) {
            return (Format::Keepalived, i + 1);
        }
    }
    // A keepalived.conf that only includes others.
    for (i, line) in text.lines().enumerate() {
        if line.trim_start().starts_with("include ") {
            return (Format::Keepalived, i + 1);
        }
    }
    (Format::Toml, 1)
}

/// Whether the block keyword on line `i` is followed by `{` on it or the next line.
fn braced(text: &str, i: usize) -> bool {
    text.lines().skip(i).take(2).any(|l| l.contains('{'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats() {
        assert_eq!(detect_format("").0, Format::Toml);
        assert_eq!(detect_format("[director]\nseed = 1\n").0, Format::Toml);
        assert_eq!(detect_format("[director\n").0, Format::Toml);
        assert_eq!(
            detect_format("-A -t 10.0.1.100:80 -s wlc\n-a -t 10.0.1.100:80 -r 10.0.2.11:80 -g -w 1\n"),
            (Format::IpvsadmSave, 1)
        );
        assert_eq!(
            detect_format("! comment\nglobal_defs {\n  router_id x\n}\nvirtual_server 10.0.1.100 80 {\n}\n"),
            (Format::Keepalived, 2)
        );
        assert_eq!(detect_format("virtual_server 10.0.1.100 80\n{\n  lb_algo rr\n}\n"), (Format::Keepalived, 1));
        assert_eq!(detect_format("! only includes\ninclude /etc/keepalived/conf.d/*.conf\n"), (Format::Keepalived, 2));
    }
}
