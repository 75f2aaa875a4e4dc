//! Reads `[[fwmark]]` (what a firewall mark stands for) and the fwmark form of a
//! `[[service]]` (`fwmark = N`, `family = "inet" | "inet6"`, instead of `vip` and
//! `protocol`).
//!
//! Invariant: a fwmark service given a `vip` or `protocol` too is an error at that key
//! (its traffic is its mark's); `family` without `fwmark` is an error too.

use toml_edit::{Item, Value};

use super::{value_type_name, Reader, Tab};
use crate::model::{parse_port_range, Fwmark, Protocol, Service};
use crate::syntax::{parse_source_prefix, Problem};

/// Keys of `[[fwmark]]`.
pub const FWMARK_KEYS: &[&str] = &["mark", "dst", "protocols", "ports"];

impl Reader<'_> {
    pub(super) fn fwmark(&mut self, t: Tab<'_>) -> Fwmark {
        self.open(t, FWMARK_KEYS);
        for key in ["mark", "dst"] {
            if t.t.get(key).is_none() {
                self.missing(t, key);
            }
        }
        let mark = self.int(t, "mark", 1, u32::MAX.into()).map_or(1, |m| m as u32);
        let dst = self
            .parsed(t, "dst", |s| {
                parse_source_prefix(s)
                    .map_err(|p| Problem { message: p.message.replace("source prefix", "destination"), hint: p.hint })
            })
            .unwrap_or(crate::model::SourcePrefix { addr: std::net::Ipv4Addr::UNSPECIFIED.into(), len: 0 });
        let protocols = match self.strings(t, "protocols", "tcp") {
            None => vec![Protocol::Tcp, Protocol::Udp],
            Some(list) => {
                let mut out = Vec::new();
                for (name, span) in list {
                    match Protocol::from_name(name) {
                        Some(p) if !out.contains(&p) => out.push(p),
                        Some(_) => {}
                        None => self.bad(
                            t,
                            "protocols",
                            span,
                            format!("unknown protocol `{name}`"),
                            Some(format!("use {}", Protocol::NAMES.join(" or "))),
                        ),
                    }
                }
                out
            }
        };
        let ports = self.port_ranges(t);
        Fwmark { mark, dst, protocols, ports }
    }

    /// `ports = [80, 443, "8000-8080"]`.
    fn port_ranges(&mut self, t: Tab<'_>) -> Vec<(u16, u16)> {
        let Some(values) = self.array(t, "ports", "ports and ranges") else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for v in values {
            let parsed = match v {
                Value::Integer(n) => {
                    u16::try_from(*n.value()).map(|p| (p, p)).map_err(|_| format!("{n} is not a port"))
                }
                Value::String(s) => parse_port_range(s.value()),
                other => {
                    Err(format!("a port list holds ports and \"LOW-HIGH\" strings, not {}", value_type_name(other)))
                }
            };
            match parsed {
                Ok(r) => out.push(r),
                Err(e) => {
                    self.bad(t, "ports", v.span(), e, Some("for example `ports = [80, 443, \"8000-8080\"]`".into()))
                }
            }
        }
        out
    }

    /// The fwmark form of a `[[service]]`, when `fwmark` is given.
    pub(super) fn fwmark_service(&mut self, t: Tab<'_>) -> Option<Service> {
        if !t.t.contains_key("fwmark") {
            if t.t.contains_key("family") {
                let span = t.t.get("family").and_then(Item::span);
                self.bad(
                    t,
                    "family",
                    span,
                    "`family` applies to fwmark services only".into(),
                    Some("remove it: a VIP has its own family".into()),
                );
            }
            return None;
        }
        let mark = self.int(t, "fwmark", 1, u32::MAX.into()).map_or(1, |m| m as u32);
        let v6 = match self.string(t, "family") {
            None | Some("inet") => false,
            Some("inet6") => true,
            Some(other) => {
                let (span, other) = (t.t.get("family").and_then(Item::span), other.to_string());
                self.bad(
                    t,
                    "family",
                    span,
                    format!("unknown family `{other}`"),
                    Some("use \"inet\" or \"inet6\"".into()),
                );
                false
            }
        };
        for key in ["vip", "protocol"] {
            if let Some(item) = t.t.get(key) {
                self.bad(
                    t,
                    key,
                    item.span(),
                    format!("`{key}` beside `fwmark`: a fwmark service takes the traffic of its [[fwmark]] entries"),
                    Some(format!("remove `{key}`, or `fwmark` for a service of one VIP")),
                );
            }
        }
        Some(Service::new_fwmark(mark, v6))
    }
}
