//! Shared test support for xvs-vrrp's tests: an RFC 1071 checksum written here from scratch
//! (so the wire tests do not judge the encoder by its own code), configuration builders,
//! and [`Lan`], a simulated LAN of instances on one clock.
//!
//! Invariants of [`Lan`]: time only moves forward, to the earliest deadline of a live
//! instance (or the end of a run); adverts are delivered with zero delay, multicast to
//! every other live instance and unicast to the one whose primary address is the
//! destination; every event is recorded with the time it happened; a run stops after a
//! bounded number of steps.

#![allow(dead_code)]

use std::net::IpAddr;

use xvs_vrrp::{Cause, Event, InitialState, Instance, InstanceConfig, State, Version};

pub fn ip(s: &str) -> IpAddr {
    s.parse().unwrap_or_else(|e| panic!("{s:?}: {e}"))
}

/// RFC 1071 checksum of `parts` concatenated (each part of even length but the last).
pub fn rfc1071(parts: &[&[u8]]) -> u16 {
    let mut sum: u64 = 0;
    for p in parts {
        let mut i = 0;
        while i + 1 < p.len() {
            sum += u64::from(p[i]) * 256 + u64::from(p[i + 1]);
            i += 2;
        }
        if i < p.len() {
            sum += u64::from(p[i]) * 256;
        }
    }
    while sum >> 16 != 0 {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// The pseudo-header of a VRRP message of `len` bytes (IPv4: RFC 768 layout; IPv6:
/// RFC 8200 §8.1), written out byte by byte.
pub fn pseudo_header(src: IpAddr, dst: IpAddr, len: usize) -> Vec<u8> {
    match (src, dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            let mut p = Vec::new();
            p.extend_from_slice(&s.octets());
            p.extend_from_slice(&d.octets());
            p.extend_from_slice(&[0, 112]);
            p.extend_from_slice(&(len as u16).to_be_bytes());
            p
        }
        (IpAddr::V6(s), IpAddr::V6(d)) => {
            let mut p = Vec::new();
            p.extend_from_slice(&s.octets());
            p.extend_from_slice(&d.octets());
            p.extend_from_slice(&(len as u32).to_be_bytes());
            p.extend_from_slice(&[0, 0, 0, 112]);
            p
        }
        _ => panic!("mixed families"),
    }
}

/// A message's checksum recomputed here (field zeroed): v2 over IPv4 without a
/// pseudo-header, everything else with one.
pub fn expected_checksum(msg: &[u8], src: IpAddr, dst: IpAddr) -> u16 {
    let mut m = msg.to_vec();
    m[6] = 0;
    m[7] = 0;
    if msg[0] >> 4 == 2 && src.is_ipv4() {
        rfc1071(&[&m])
    } else {
        rfc1071(&[&pseudo_header(src, dst, m.len()), &m])
    }
}

/// Bytes from hex (spaces ignored).
pub fn unhex(s: &str) -> Vec<u8> {
    let s: String = s.chars().filter(|c| !c.is_whitespace()).collect();
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex")).collect()
}

/// An instance configuration with keepalived's defaults: multicast, preempt, no auth,
/// state BACKUP, one VIP.
pub fn cfg(version: Version, vrid: u8, priority: u8, advert_int_cs: u16, primary: &str) -> InstanceConfig {
    let primary = ip(primary);
    let vip = if primary.is_ipv6() { ip("2001:db8::50") } else { ip("192.168.20.50") };
    InstanceConfig {
        name: format!("VI_{vrid}"),
        vrid,
        version,
        priority,
        advert_int_cs,
        preempt: true,
        preempt_delay_ms: 0,
        initial: InitialState::Backup,
        auth_pass: None,
        addresses: vec![vip],
        primary,
        unicast_peers: Vec::new(),
        strict: false,
        skip_check_adv_addr: false,
    }
}

/// A password as keepalived pads it.
pub fn pass(s: &str) -> [u8; 8] {
    let mut p = [0u8; 8];
    for (d, b) in p.iter_mut().zip(s.bytes()) {
        *d = b;
    }
    p
}

/// One router on the simulated LAN.
pub struct Node {
    pub inst: Instance,
    pub alive: bool,
}

/// A simulated LAN (see the module doc).
pub struct Lan {
    pub now: u64,
    pub nodes: Vec<Node>,
    /// (time, node, event).
    pub log: Vec<(u64, usize, Event)>,
    /// (time, from node, priority) of every advert sent.
    pub sent: Vec<(u64, usize, u8)>,
    /// Nodes whose adverts are lost (a partition).
    pub deaf: Vec<usize>,
}

impl Lan {
    pub fn new(cfgs: Vec<InstanceConfig>) -> Lan {
        let nodes =
            cfgs.into_iter().map(|c| Node { inst: Instance::new(c, 0).expect("config"), alive: true }).collect();
        let mut lan = Lan { now: 0, nodes, log: Vec::new(), sent: Vec::new(), deaf: Vec::new() };
        lan.settle();
        lan
    }

    /// Adds a node started at the current time.
    pub fn start(&mut self, c: InstanceConfig) -> usize {
        self.nodes.push(Node { inst: Instance::new(c, self.now).expect("config"), alive: true });
        self.settle();
        self.nodes.len() - 1
    }

    pub fn state(&self, n: usize) -> State {
        self.nodes[n].inst.state()
    }

    /// `kill -9`: the node stops without a word.
    pub fn kill(&mut self, n: usize) {
        self.nodes[n].alive = false;
    }

    /// A clean stop: the node's shutdown advert goes out.
    pub fn stop(&mut self, n: usize) {
        let now = self.now;
        self.nodes[n].inst.shutdown(now);
        self.settle();
        self.nodes[n].alive = false;
    }

    /// Runs until `until` (ms).
    pub fn run_until(&mut self, until: u64) {
        for _ in 0..1_000_000 {
            let next = self
                .nodes
                .iter()
                .filter(|n| n.alive)
                .filter_map(|n| n.inst.poll_timeout())
                .min()
                .unwrap_or(u64::MAX)
                .max(self.now);
            if next > until {
                self.now = until;
                return;
            }
            self.now = next;
            for i in 0..self.nodes.len() {
                if self.nodes[i].alive {
                    self.nodes[i].inst.handle_timeout(next);
                }
            }
            self.settle();
        }
        panic!("simulation did not reach {until} ms");
    }

    pub fn run_for(&mut self, ms: u64) {
        self.run_until(self.now + ms);
    }

    /// Delivers every queued advert and records events, until nothing moves.
    pub fn settle(&mut self) {
        for _ in 0..10_000 {
            let mut moved = false;
            for i in 0..self.nodes.len() {
                while let Some(e) = self.nodes[i].inst.poll_event() {
                    self.log.push((self.now, i, e));
                }
                while let Some(t) = self.nodes[i].inst.poll_transmit() {
                    moved = true;
                    self.sent.push((self.now, i, t.payload[2]));
                    if self.deaf.contains(&i) || !self.nodes[i].alive {
                        continue;
                    }
                    for j in 0..self.nodes.len() {
                        let to_j =
                            if t.dst.is_multicast() { j != i } else { self.nodes[j].inst.config().primary == t.dst };
                        if to_j && self.nodes[j].alive {
                            let _ = self.nodes[j].inst.handle_advert(t.src, t.dst, t.ttl, &t.payload, self.now);
                        }
                    }
                }
            }
            if !moved {
                return;
            }
        }
        panic!("adverts did not settle");
    }

    /// The first state change of node `n` to `to` at or after `since`, with its time and cause.
    pub fn change_to(&self, n: usize, to: State, since: u64) -> Option<(u64, Cause)> {
        self.log.iter().find_map(|(t, i, e)| match e {
            Event::StateChanged { to: s, cause, .. } if *i == n && *s == to && *t >= since => Some((*t, *cause)),
            _ => None,
        })
    }

    /// How many nodes are MASTER now.
    pub fn masters(&self) -> usize {
        self.nodes.iter().filter(|n| n.alive && n.inst.state() == State::Master).count()
    }
}
