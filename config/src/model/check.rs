//! Health checks: `[[service.real.check]]` and keepalived's checkers (TCP_CHECK,
//! HTTP_GET, SSL_GET, MISC_CHECK, UDP_CHECK, DNS_CHECK, SMTP_CHECK, PING_CHECK,
//! FILE_CHECK).
//!
//! Invariants (for a validated `Config`):
//! - Every keepalived inheritance is resolved by the reader: a `virtualhost` of the
//!   virtual_server or real_server is in each [`HttpUrl`] that had none, a FILE_CHECK's
//!   `track_file` block is copied into its [`FileCheck`].
//! - An http/ssl check has at least one URL; every URL's `regex` compiles.
//! - Fields of other kinds keep their defaults; readers and the printer only write the
//!   ones of the check's kind.

use std::fmt;
use std::net::IpAddr;

use super::RunAs;

keyword_enum!(
    /// Health-check kind (keepalived TCP_CHECK, HTTP_GET, SSL_GET, MISC_CHECK, UDP_CHECK,
    /// DNS_CHECK, SMTP_CHECK, PING_CHECK, FILE_CHECK).
    CheckKind {
        Tcp = "tcp",
        Http = "http",
        Ssl = "ssl",
        Misc = "misc",
        Udp = "udp",
        Dns = "dns",
        Smtp = "smtp",
        Ping = "ping",
        File = "file",
    }
);

impl CheckKind {
    /// Whether a check of this kind reaches the real over the network (and so takes the
    /// connection options of [`Connect`]): all but a script and a file.
    pub fn connects(self) -> bool {
        !matches!(self, CheckKind::Misc | CheckKind::File)
    }

    /// Whether the check's `port` means something (ping has no port).
    pub fn has_port(self) -> bool {
        self.connects() && self != CheckKind::Ping
    }

    /// keepalived's default `retry` for this checker.
    pub fn default_retry(self) -> u32 {
        match self {
            CheckKind::Misc | CheckKind::File => 0,
            CheckKind::Dns => 3,
            _ => 1,
        }
    }
}

/// `[service.real.check]`: a health check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Check {
    pub kind: CheckKind,
    /// `None` = the real's port (keepalived `connect_port`).
    pub port: Option<u16>,
    pub connect_timeout: u32,
    pub retry: u32,
    pub delay_before_retry: u32,
    /// Seconds between probes (keepalived's per-checker `delay_loop`); `None`: the
    /// service's.
    pub delay_loop: Option<u32>,
    /// keepalived `alpha` of the checker or its real_server; `None`: the service's.
    pub alpha: Option<bool>,
    /// The most a check waits, at random, before its first probe (keepalived `warmup`);
    /// `None`: the check's `delay_loop`, keepalived's default.
    pub warmup: Option<u32>,
    /// Where the probe goes and comes from (keepalived `connect_ip`, `bindto`, ...).
    pub connect: Connect,
    /// http/ssl: the URLs fetched; all must answer as wanted.
    pub urls: Vec<HttpUrl>,
    /// http/ssl: the request's HTTP version (keepalived `http_protocol`).
    pub http_protocol: HttpProtocol,
    /// http/ssl with several URLs: a down real comes back after one pass over all of them
    /// instead of one URL per `delay_loop` (keepalived `fast_recovery`).
    pub fast_recovery: bool,
    /// ssl: the server name sent in the TLS handshake (keepalived `sni_name` with
    /// `enable_sni`); empty: none.
    pub sni: String,
    /// misc: the command (keepalived `misc_path`).
    pub command: String,
    /// misc: exit codes 2..255 set the weight (keepalived `misc_dynamic`).
    pub dynamic: bool,
    /// misc: who runs the command (keepalived MISC_CHECK `user`); `None`: `script_user`,
    /// else `keepalived_script` if that user exists, else root, as keepalived does.
    pub user: Option<RunAs>,
    /// dns: query type, one of [`DNS_TYPES`] (keepalived DNS_CHECK `type`).
    pub dns_type: String,
    /// dns: the name queried (keepalived DNS_CHECK `name`).
    pub dns_name: String,
    /// udp: what is sent and what answer is wanted.
    pub udp: UdpCheck,
    /// smtp: the name sent with HELO (keepalived `helo_name`).
    pub helo_name: String,
    /// file: the file read and what its number means.
    pub file: FileCheck,
}

/// keepalived's default SMTP_CHECK `helo_name`.
pub const DEFAULT_HELO_NAME: &str = "smtpchecker.keepalived.org";

/// Query types a dns check can send (keepalived's DNS_CHECK list).
pub const DNS_TYPES: [&str; 7] = ["A", "NS", "CNAME", "SOA", "MX", "TXT", "AAAA"];

impl Check {
    /// A check of `kind` with every default applied.
    pub fn new(kind: CheckKind) -> Check {
        Check {
            kind,
            port: None,
            connect_timeout: 3,
            retry: 3,
            delay_before_retry: 3,
            delay_loop: None,
            alpha: None,
            warmup: None,
            connect: Connect::default(),
            urls: if matches!(kind, CheckKind::Http | CheckKind::Ssl) { vec![HttpUrl::new("/")] } else { Vec::new() },
            http_protocol: HttpProtocol::Http10,
            fast_recovery: false,
            sni: String::new(),
            command: String::new(),
            dynamic: false,
            user: None,
            dns_type: "SOA".to_string(),
            dns_name: ".".to_string(),
            udp: UdpCheck::default(),
            helo_name: DEFAULT_HELO_NAME.to_string(),
            file: FileCheck::default(),
        }
    }
}

/// Where a probe connects to and from (keepalived's generic checker options).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Connect {
    /// The address probed (`connect_ip`); `None`: the real's.
    pub ip: Option<IpAddr>,
    /// The source address (`bindto`); `None`: the kernel's choice.
    pub bind: Option<IpAddr>,
    /// The source port (`bind_port`); `None`: an ephemeral one.
    pub bind_port: Option<u16>,
    /// The interface the probe leaves by (`bind_if`, SO_BINDTODEVICE); empty: any.
    pub bind_if: String,
    /// The mark of the probe's packets (`fwmark`, SO_MARK); 0: none.
    pub fwmark: u32,
}

impl Connect {
    /// Whether nothing is set.
    pub fn is_default(&self) -> bool {
        *self == Connect::default()
    }
}

keyword_enum!(
    /// keepalived `http_protocol`: HTTP/1.0, HTTP/1.0 with `Connection: close`, HTTP/1.1
    /// (which sends `Connection: close` too).
    HttpProtocol { Http10 = "1.0", Http10Close = "1.0C", Http11 = "1.1" }
);

/// One `url` of an HTTP_GET/SSL_GET.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpUrl {
    pub path: String,
    /// The status codes that mean up (keepalived `status_code`; empty: any 2xx).
    pub status: StatusCodes,
    /// MD5 of the body, lower-case hex; empty: not checked.
    pub digest: String,
    /// The `Host` header (keepalived `virtualhost`, from the url, checker, real_server or
    /// virtual_server); empty: the probed address and port, as keepalived sends.
    pub virtualhost: String,
    /// A pattern the body must (or, with `no_match`, must not) contain.
    pub regex: Option<BodyRegex>,
}

impl HttpUrl {
    /// A URL with every default: any 2xx, no digest, no Host override, no regex.
    pub fn new(path: &str) -> HttpUrl {
        HttpUrl {
            path: path.to_string(),
            status: StatusCodes::default(),
            digest: String::new(),
            virtualhost: String::new(),
            regex: None,
        }
    }
}

/// keepalived's `regex`, `regex_no_match`, `regex_options`, `regex_min_offset` and
/// `regex_max_offset` of a url.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BodyRegex {
    pub pattern: String,
    /// A match fails the check instead.
    pub no_match: bool,
    /// keepalived's PCRE2 option names that take effect here: [`REGEX_OPTIONS`].
    pub options: Vec<String>,
    /// The first body offset a match may start at.
    pub min_offset: u32,
    /// The last body offset a match may start at; `None`: anywhere.
    pub max_offset: Option<u32>,
}

/// keepalived `regex_options` xvs applies, with the inline flag each maps to (empty: no
/// effect on what matches: a matcher optimisation or capture-group setting).
pub const REGEX_OPTIONS: &[(&str, &str)] = &[
    ("caseless", "i"),
    ("multiline", "m"),
    ("dotall", "s"),
    ("extended", "x"),
    ("ungreedy", "U"),
    ("utf", ""),
    ("ucp", ""),
    ("no_auto_capture", ""),
    ("no_auto_possess", ""),
    ("no_dotstar_anchor", ""),
    ("no_start_optimize", ""),
    ("auto_callout", ""),
    ("dupnames", ""),
    ("never_backslash_c", ""),
    ("use_offset_limit", ""),
];

impl BodyRegex {
    /// The pattern with its options as inline flags, for a byte-oriented regex engine
    /// (Rust's `regex`: PCRE's syntax without backreferences and lookaround). As PCRE2
    /// without `utf`/`ucp`, it matches bytes with ASCII classes (`(?-u)`).
    pub fn effective_pattern(&self) -> String {
        let mut flags: String =
            self.options.iter().filter_map(|o| REGEX_OPTIONS.iter().find(|(n, _)| n == o).map(|(_, f)| *f)).collect();
        if !self.options.iter().any(|o| o == "utf" || o == "ucp") {
            flags.push_str("-u");
        }
        format!("(?{flags}){}", self.pattern)
    }
}

/// UDP_CHECK's payload and the answer it wants.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UdpCheck {
    /// What is sent; `None`: random bytes, as keepalived sends.
    pub payload: Option<Vec<u8>>,
    /// An answer must come (else silence without an ICMP error is up).
    pub require_reply: bool,
    /// The answer's first bytes, as (value, mask of ignored bits) pairs (keepalived's
    /// `x` nibbles); compared over the shorter of it and the answer. Empty: any answer.
    pub reply: Vec<(u8, u8)>,
    /// With a `reply` pattern: the answer's length must lie within these.
    pub min_reply_length: u32,
    pub max_reply_length: u32,
}

impl Default for UdpCheck {
    fn default() -> Self {
        UdpCheck { payload: None, require_reply: false, reply: Vec::new(), min_reply_length: 0, max_reply_length: 255 }
    }
}

/// Reads keepalived's free-form hex (`Ab12f 3 456`: pairs of digits, a lone digit before
/// a space or the end is one byte); with `wildcards`, `x`/`X` is a nibble that matches
/// anything. Returns (value, ignored bits) per byte.
pub fn parse_hex(text: &str, wildcards: bool) -> Result<Vec<(u8, u8)>, String> {
    let nibble = |c: char| -> Result<(u8, u8), String> {
        match c {
            'x' | 'X' if wildcards => Ok((0, 0x0f)),
            _ => c.to_digit(16).map(|d| (d as u8, 0)).ok_or_else(|| format!("`{c}` is not a hex digit")),
        }
    };
    let mut out = Vec::new();
    let chars: Vec<char> = text.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        if chars[i] == ' ' || chars[i] == '\t' {
            i += 1;
            continue;
        }
        let (mut v, mut m) = nibble(chars[i])?;
        i += 1;
        if i < chars.len() && chars[i] != ' ' && chars[i] != '\t' {
            let (v2, m2) = nibble(chars[i])?;
            (v, m) = (v << 4 | v2, m << 4 | m2);
            i += 1;
        }
        out.push((v, m));
    }
    if out.is_empty() {
        return Err("no hex digits".into());
    }
    Ok(out)
}

/// Writes bytes back as hex pairs separated by spaces (`x` for ignored nibbles).
pub fn format_hex(bytes: &[(u8, u8)]) -> String {
    let nib = |v: u8, m: u8| if m == 0x0f { 'x' } else { char::from_digit(u32::from(v & 0x0f), 16).unwrap_or('0') };
    bytes.iter().map(|&(v, m)| format!("{}{}", nib(v >> 4, m >> 4), nib(v, m & 0x0f))).collect::<Vec<_>>().join(" ")
}

/// FILE_CHECK: a number read from a file (keepalived `track_file`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FileCheck {
    pub path: String,
    /// 0: a non-zero number is down, 0 is up. Otherwise the number times the weight
    /// (negated with `reverse`) is added to the real's weight (clamped to 0..=max).
    pub weight: i32,
    pub reverse: bool,
    /// keepalived `init_file [VALUE] [overwrite]`: write VALUE at start when the file is
    /// missing, or always with `overwrite`.
    pub init: Option<(i64, bool)>,
}

impl FileCheck {
    /// What the number `value` read from the file means: `None` = down, else the
    /// weight to add.
    pub fn verdict(&self, value: i64) -> Option<i64> {
        let sign = if self.reverse { -1 } else { 1 };
        if self.weight == 0 {
            // keepalived: with weight 0 a non-zero value is a failure (reversed: zero is).
            return if (value != 0) != self.reverse { None } else { Some(0) };
        }
        Some(value.saturating_mul(i64::from(self.weight)).saturating_mul(sign))
    }
}

/// Reads a number as keepalived's track_file does (`strtol(buf, NULL, 0)`: leading
/// blanks, a sign, `0x` hex or `0` octal; what cannot be read is 0).
pub fn read_track_value(text: &str) -> i64 {
    let t = text.trim_start();
    let (neg, t) = match t.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, t.strip_prefix('+').unwrap_or(t)),
    };
    let (radix, digits) = if let Some(r) = t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
        (16, r)
    } else if t.starts_with('0') && t.len() > 1 {
        (8, &t[1..])
    } else {
        (10, t)
    };
    let end = digits.find(|c: char| !c.is_digit(radix)).unwrap_or(digits.len());
    let v = i64::from_str_radix(&digits[..end], radix).unwrap_or(0);
    if neg {
        -v
    } else {
        v
    }
}

/// HTTP status codes a check accepts, as inclusive ranges; empty: any 2xx, keepalived's
/// default when `status_code` is not given.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct StatusCodes(pub Vec<(u16, u16)>);

impl StatusCodes {
    /// Whether `code` means up.
    pub fn accepts(&self, code: u16) -> bool {
        if self.0.is_empty() {
            (200..=299).contains(&code)
        } else {
            self.0.iter().any(|&(a, b)| (a..=b).contains(&code))
        }
    }

    /// keepalived's `status_code` arguments: codes and ranges (`200`, `200-299 301`,
    /// commas allowed between them).
    pub fn parse(text: &str) -> Result<StatusCodes, String> {
        let mut out = Vec::new();
        for part in text.split(|c: char| c == ',' || c.is_whitespace()).filter(|p| !p.is_empty()) {
            let (a, b) = part.split_once('-').unwrap_or((part, part));
            match (a.parse::<u16>(), b.parse::<u16>()) {
                (Ok(a), Ok(b)) => out.push((a, b)),
                _ => return Err(format!("`{part}` is not a status code or a range of them")),
            }
        }
        if out.is_empty() {
            return Err("no status code".into());
        }
        Ok(StatusCodes(out))
    }
}

impl fmt::Display for StatusCodes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            return write!(f, "2xx");
        }
        let parts: Vec<String> =
            self.0.iter().map(|&(a, b)| if a == b { a.to_string() } else { format!("{a}-{b}") }).collect();
        write!(f, "{}", parts.join(" "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keepalived_hex() {
        // The man page's example: "Ab12f 3 456 546443123" is AB 12 0F 03 45 06 54 64 43 12 03.
        let got: Vec<u8> = parse_hex("Ab12f 3 456 546443123", false).unwrap().iter().map(|b| b.0).collect();
        assert_eq!(got, [0xab, 0x12, 0x0f, 0x03, 0x45, 0x06, 0x54, 0x64, 0x43, 0x12, 0x03]);
        assert_eq!(parse_hex("1x X", true).unwrap(), [(0x10, 0x0f), (0, 0x0f)]);
        assert!(parse_hex("1x", false).is_err(), "wildcards only in a reply pattern");
        assert!(parse_hex("  ", false).is_err());
        assert_eq!(format_hex(&parse_hex("1x 0a", true).unwrap()), "1x 0a");
    }

    #[test]
    fn track_file_values_and_verdicts() {
        assert_eq!(read_track_value(" 12\n"), 12);
        assert_eq!(read_track_value("-3"), -3);
        assert_eq!(read_track_value("0x10"), 16);
        assert_eq!(read_track_value("010"), 8);
        assert_eq!(read_track_value("up"), 0);
        let zero = FileCheck { weight: 0, ..FileCheck::default() };
        assert_eq!(zero.verdict(0), Some(0));
        assert_eq!(zero.verdict(5), None);
        let rev = FileCheck { weight: 0, reverse: true, ..FileCheck::default() };
        assert_eq!((rev.verdict(0), rev.verdict(1)), (None, Some(0)));
        let w = FileCheck { weight: 2, ..FileCheck::default() };
        assert_eq!(w.verdict(-3), Some(-6));
        let wr = FileCheck { weight: 2, reverse: true, ..FileCheck::default() };
        assert_eq!(wr.verdict(3), Some(-6));
    }
}
