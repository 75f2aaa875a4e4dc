//! The heart of `xvs announce`: successive answers of the director in, ExaBGP process-API
//! lines out (`announce route P next-hop N` / `withdraw route P next-hop N`).
//!
//! Invariants:
//! - After every [`Announcer::handle_state`], the set announced is exactly the set the
//!   answer calls ready; no answer (`None`: the director is gone, hung or its socket
//!   removed) means nothing is ready.
//! - The first call says everything: an announce for each ready prefix and a withdraw for
//!   every other prefix it knows (from the configuration or the answer), since a helper
//!   that restarts cannot know what its predecessor left announced in the BGP speaker.
//! - A VIP whose services all forward by NAT is never announced unless allowed: across a
//!   fleet its replies would return to whichever director the reals route through.
//! - Prefixes that were ever known stay known, so a prefix that leaves the configuration
//!   is withdrawn, and so is everything when the director stops answering.

use super::AnnounceState;

#[derive(Debug)]
pub struct Announcer {
    /// Announced now, in the order first seen.
    announced: Vec<String>,
    /// Every prefix seen, in the order first seen.
    known: Vec<String>,
    next_hop: String,
    /// Appended to each announce (ExaBGP route attributes, e.g. `med 10`).
    attributes: String,
    /// Announce VIPs whose services all forward by NAT (a fleet of one).
    allow_nat: bool,
    /// NAT-only VIPs already warned about.
    warned_nat: Vec<String>,
    started: bool,
}

impl Announcer {
    /// A helper that knows `configured` prefixes before the director first answers.
    pub fn new(configured: Vec<String>, next_hop: &str, attributes: &str) -> Announcer {
        let mut known = Vec::new();
        for p in configured {
            if !known.contains(&p) {
                known.push(p);
            }
        }
        Announcer {
            announced: Vec::new(),
            known,
            next_hop: next_hop.to_string(),
            attributes: attributes.trim().to_string(),
            allow_nat: false,
            warned_nat: Vec::new(),
            started: false,
        }
    }

    /// Announce NAT-only VIPs too (`xvs announce --nat`).
    pub fn allow_nat(mut self) -> Announcer {
        self.allow_nat = true;
        self
    }

    /// NAT-only VIPs that are ready but held back, not yet reported: each once.
    pub fn take_nat_warnings(&mut self, state: Option<&AnnounceState>) -> Vec<String> {
        let mut out = Vec::new();
        for v in state.iter().flat_map(|s| s.vips.iter()).filter(|v| v.ready && v.nat_only && !self.allow_nat) {
            if !self.warned_nat.contains(&v.prefix) {
                self.warned_nat.push(v.prefix.clone());
                out.push(v.prefix.clone());
            }
        }
        out
    }

    fn announce(&self, p: &str) -> String {
        let attrs = if self.attributes.is_empty() { String::new() } else { format!(" {}", self.attributes) };
        format!("announce route {p} next-hop {}{attrs}", self.next_hop)
    }

    fn withdraw(&self, p: &str) -> String {
        format!("withdraw route {p} next-hop {}", self.next_hop)
    }

    /// The lines that make the BGP speaker's announcements match `state`.
    pub fn handle_state(&mut self, state: Option<&AnnounceState>) -> Vec<String> {
        let allow_nat = self.allow_nat;
        let ready: Vec<&str> = state
            .map(|s| {
                s.vips.iter().filter(|v| v.ready && (allow_nat || !v.nat_only)).map(|v| v.prefix.as_str()).collect()
            })
            .unwrap_or_default();
        for v in state.iter().flat_map(|s| s.vips.iter()) {
            if !self.known.contains(&v.prefix) {
                self.known.push(v.prefix.clone());
            }
        }
        let mut lines = Vec::new();
        let first = !self.started;
        self.started = true;
        for p in &self.known {
            let is_ready = ready.contains(&p.as_str());
            let was = self.announced.contains(p);
            if is_ready && !was {
                lines.push(self.announce(p));
            } else if !is_ready && (was || first) {
                lines.push(self.withdraw(p));
            }
        }
        self.announced = self.known.iter().filter(|p| ready.contains(&p.as_str())).cloned().collect();
        lines
    }

    /// What is announced now.
    pub fn announced(&self) -> &[String] {
        &self.announced
    }
}

#[cfg(test)]
mod tests {
    use super::super::VipState;
    use super::*;

    fn state(vips: &[(&str, bool)]) -> AnnounceState {
        AnnounceState {
            draining: false,
            vips: vips
                .iter()
                .map(|(p, r)| VipState { prefix: p.to_string(), ready: *r, why: String::new(), nat_only: false })
                .collect(),
        }
    }

    #[test]
    fn it_says_everything_at_start_then_only_changes() {
        let mut a = Announcer::new(vec!["10.0.1.100/32".into(), "10.0.1.101/32".into()], "self", "");
        let s = state(&[("10.0.1.100/32", true), ("10.0.1.101/32", false)]);
        assert_eq!(
            a.handle_state(Some(&s)),
            ["announce route 10.0.1.100/32 next-hop self", "withdraw route 10.0.1.101/32 next-hop self"]
        );
        assert!(a.handle_state(Some(&s)).is_empty(), "nothing changed, nothing said");
        let s = state(&[("10.0.1.100/32", true), ("10.0.1.101/32", true), ("2001:db8::1/128", true)]);
        assert_eq!(
            a.handle_state(Some(&s)),
            ["announce route 10.0.1.101/32 next-hop self", "announce route 2001:db8::1/128 next-hop self"]
        );
        assert_eq!(a.announced(), ["10.0.1.100/32", "10.0.1.101/32", "2001:db8::1/128"]);
    }

    #[test]
    fn no_answer_withdraws_everything_and_an_answer_brings_it_back() {
        let mut a = Announcer::new(Vec::new(), "self", "med 10");
        let s = state(&[("10.0.1.100/32", true)]);
        assert_eq!(a.handle_state(Some(&s)), ["announce route 10.0.1.100/32 next-hop self med 10"]);
        assert_eq!(a.handle_state(None), ["withdraw route 10.0.1.100/32 next-hop self"]);
        assert!(a.handle_state(None).is_empty());
        assert_eq!(a.handle_state(Some(&s)), ["announce route 10.0.1.100/32 next-hop self med 10"]);
    }

    #[test]
    fn a_prefix_that_leaves_the_configuration_is_withdrawn() {
        let mut a = Announcer::new(Vec::new(), "10.8.0.11", "");
        a.handle_state(Some(&state(&[("10.0.1.100/32", true), ("10.0.1.101/32", true)])));
        assert_eq!(
            a.handle_state(Some(&state(&[("10.0.1.101/32", true)]))),
            ["withdraw route 10.0.1.100/32 next-hop 10.8.0.11"]
        );
    }

    #[test]
    fn nat_only_vips_are_held_back_unless_allowed() {
        let mut s = state(&[("10.0.1.100/32", true), ("10.0.1.101/32", true)]);
        s.vips[0].nat_only = true;
        let mut a = Announcer::new(Vec::new(), "self", "");
        assert_eq!(
            a.handle_state(Some(&s)),
            ["withdraw route 10.0.1.100/32 next-hop self", "announce route 10.0.1.101/32 next-hop self"]
        );
        assert_eq!(a.take_nat_warnings(Some(&s)), ["10.0.1.100/32"]);
        assert!(a.take_nat_warnings(Some(&s)).is_empty(), "said once");
        let mut a = Announcer::new(Vec::new(), "self", "").allow_nat();
        assert_eq!(a.handle_state(Some(&s)).len(), 2);
        assert_eq!(a.announced().len(), 2);
    }

    #[test]
    fn a_helper_started_while_the_director_is_away_withdraws_what_the_file_names() {
        let mut a = Announcer::new(vec!["10.0.1.100/32".into()], "self", "");
        assert_eq!(a.handle_state(None), ["withdraw route 10.0.1.100/32 next-hop self"]);
        assert!(a.handle_state(None).is_empty());
    }
}
