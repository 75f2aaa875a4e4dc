//! Rules of `[[fwmark]]` entries and fwmark services: an entry covers some traffic, and a
//! fwmark service's mark has traffic of its family.

use super::Validator;
use crate::model::Config;
use crate::span::Section;

impl Validator<'_> {
    pub(super) fn fwmarks(&mut self, c: &Config) {
        for (i, f) in c.fwmarks.iter().enumerate() {
            if f.protocols.is_empty() {
                self.bad(
                    (Section::Fwmark(i), "protocols"),
                    format!("fwmark {}: `protocols` is empty, so the entry covers nothing", f.mark),
                    "list \"tcp\", \"udp\" or both (the default)",
                );
            }
        }
        for (i, svc) in c.services.iter().enumerate() {
            let Some(mark) = svc.fwmark else { continue };
            let v6 = svc.vip.addr.is_ipv6();
            if !c.fwmarks.iter().any(|f| f.mark == mark && f.dst.addr.is_ipv6() == v6) {
                let family = if v6 { "inet6" } else { "inet" };
                let other = c.fwmarks.iter().any(|f| f.mark == mark);
                self.bad(
                    (Section::Service(i), "fwmark"),
                    if other {
                        format!("fwmark {mark} has no [[fwmark]] entry of this service's family ({family})")
                    } else {
                        format!("fwmark {mark} is not defined: no [[fwmark]] entry says what traffic it stands for")
                    },
                    format!(
                        "XDP sees packets before netfilter marks them: define the mark's traffic, e.g. \
                         `[[fwmark]] mark = {mark}, dst = \"10.0.1.100\", ports = [80, 443]` (for a keepalived.conf \
                         or ipvsadm-save input, in the file given with --fwmarks)"
                    ),
                );
            }
        }
    }
}
