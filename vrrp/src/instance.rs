//! One VRRP instance as a sans-I/O state machine (quinn-proto style): the caller passes in
//! received adverts and the time, and polls out adverts to send, events and the next
//! deadline. The behaviour is keepalived 2.2.7's (`vrrp.c`, `vrrp_scheduler.c`,
//! `vrrp_track.c`), which bends RFC 3768 / 5798 in places; each such place is named below.
//!
//! - Start (`vrrp_init_state`): an address owner (priority 255) with `state MASTER` becomes
//!   MASTER at once and advertises; every other instance starts as BACKUP with the full
//!   Master_Down_Interval — also one with `state MASTER` below priority 255 (keepalived 2.2.7
//!   waits 3 × interval + skew before its first advert; checked against the real daemon).
//! - BACKUP receiving a valid advert: priority 0 → the down timer becomes Skew_Time;
//!   `nopreempt`, a priority ≥ ours, or a running `preempt_delay` → accepted (v3: the
//!   master's interval is taken), the down timer restarts; otherwise (a lower priority
//!   that we preempt) the advert is discarded and the timer runs on. `preempt_delay`
//!   starts at the first lower-priority advert (keepalived's `preempt_time`).
//! - MASTER receiving a valid advert: priority 0 → an advert is sent at once; a lower
//!   priority (or equal from a lower address) → an advert at once, unless `vrrp_strict`
//!   (keepalived's `lower_prio_no_advert`); a higher priority (or equal from a higher
//!   address) → BACKUP without a priority-0 advert; equal priority 255 from another
//!   address → our priority drops to 254 (keepalived's owner-conflict workaround).
//! - Every advert sent by a MASTER restarts its advert timer.
//! - FAULT: a MASTER entering it sends one priority-0 advert (keepalived sends two);
//!   adverts are ignored; leaving it always means BACKUP with a full Master_Down_Interval.
//! - Shutdown: a MASTER sends one priority-0 advert; the instance is then INIT for good.
//! - Sync group (`follow_group`): a BACKUP follows another member to MASTER at once; a
//!   MASTER follows one to BACKUP as if it had seen a higher priority.
//!
//! Invariants:
//! - Time is only what the caller passes (ms); it is kept in µs inside, as keepalived does,
//!   so the skew is exact; [`Instance::poll_timeout`] rounds up to the next ms.
//! - A deadline exists exactly in BACKUP (the master down timer) and MASTER (the next
//!   advert).
//! - An advert that fails a check changes nothing but its counter: no state, no timer.
//! - No panic on any input.

use std::collections::VecDeque;
use std::net::IpAddr;

use crate::check::{self, ChecksumForm, Expect, Rx};
use crate::config::{max_addresses, Adjustment, ConfigError, InitialState, InstanceConfig, Version};
use crate::event::{Cause, Event, State, Transmit};
use crate::stats::{Reject, Stats};
use crate::timers::{master_down_us, skew_us, US_PER_CS};
use crate::wire::{self, Advert, Header};

/// A VRRP instance (see the module doc).
#[derive(Debug)]
pub struct Instance {
    cfg: InstanceConfig,
    adjustments: Vec<Adjustment>,
    /// How many of `cfg.addresses` go into an advert.
    advertised: usize,
    state: State,
    base_priority: u8,
    priority: u8,
    /// Master_Adver_Interval (v3: learnt from the master's adverts).
    master_int_cs: u16,
    /// keepalived's `ms_down_timer`: the down timer's current length.
    down_timer_us: u64,
    deadline_us: Option<u64>,
    /// keepalived's `preempt_time`.
    preempt_at_us: Option<u64>,
    /// keepalived's `master_saddr`: the source of the last advert taken (or discarded as
    /// lower) in BACKUP.
    master_src: Option<IpAddr>,
    /// What a BACKUP → MASTER transition would be caused by.
    takeover_cause: Cause,
    old_unicast_checksum: bool,
    transmits: VecDeque<Transmit>,
    events: VecDeque<Event>,
    stats: Stats,
}

impl Instance {
    /// Starts an instance at `now_ms`. The configuration is normalized as keepalived
    /// completes an instance ([`Instance::adjustments`] says what changed).
    pub fn new(mut cfg: InstanceConfig, now_ms: u64) -> Result<Instance, ConfigError> {
        let adjustments = cfg.normalize()?;
        let advertised = cfg.addresses.len().min(max_addresses(cfg.version, cfg.is_ipv6()));
        let mut i = Instance {
            advertised,
            state: State::Init,
            base_priority: cfg.priority,
            priority: cfg.priority,
            master_int_cs: cfg.advert_int_cs,
            down_timer_us: 0,
            deadline_us: None,
            preempt_at_us: None,
            master_src: None,
            takeover_cause: Cause::MasterDownTimer,
            old_unicast_checksum: false,
            transmits: VecDeque::new(),
            events: VecDeque::new(),
            stats: Stats::default(),
            adjustments,
            cfg,
        };
        let now = us(now_ms);
        if i.cfg.initial == InitialState::Master && i.base_priority == 255 {
            i.become_master(now, Cause::Startup);
        } else {
            i.enter_backup(now, Cause::Startup);
        }
        Ok(i)
    }

    /// An advert received from `src` to `dst` with IP TTL / hop limit `ttl` (`msg` = the
    /// VRRP message, after the IP header).
    pub fn handle_advert(&mut self, src: IpAddr, dst: IpAddr, ttl: u8, msg: &[u8], now_ms: u64) -> Result<(), Reject> {
        let r = self.receive(Rx { src, dst, ttl, msg }, us(now_ms));
        match r {
            Ok(()) => self.stats.adverts_received += 1,
            Err(reason) => self.stats.reject(reason),
        }
        r
    }

    /// Runs the timer that is due at `now_ms`, if any: a BACKUP's master down timer (→
    /// MASTER), a MASTER's advert timer (→ an advert).
    pub fn handle_timeout(&mut self, now_ms: u64) {
        let now = us(now_ms);
        if self.deadline_us.is_none_or(|d| d > now) {
            return;
        }
        match self.state {
            State::Backup => self.become_master(now, self.takeover_cause),
            State::Master => self.send_advert(self.priority, now),
            State::Init | State::Fault => self.deadline_us = None,
        }
    }

    /// A tracked interface or script went down (`true`) or came back (`false`).
    pub fn set_fault(&mut self, fault: bool, now_ms: u64) {
        let now = us(now_ms);
        match (fault, self.state) {
            (true, State::Master) => {
                self.send_advert(0, now);
                self.stats.released_master += 1;
                self.enter_fault();
            }
            (true, State::Backup) => self.enter_fault(),
            (false, State::Fault) => {
                self.master_int_cs = self.cfg.advert_int_cs;
                self.enter_backup(now, Cause::FaultCleared);
            }
            _ => {}
        }
    }

    /// keepalived's `vrrp_sync_group`: another member became MASTER (`master`) or left
    /// MASTER for BACKUP; a BACKUP follows to MASTER (advertising at once), a MASTER to
    /// BACKUP (without a priority-0 advert, as on a higher-priority advert). FAULT and INIT
    /// stay (a group's FAULT is every member's `set_fault`).
    pub fn follow_group(&mut self, master: bool, now_ms: u64) {
        let now = us(now_ms);
        match (master, self.state) {
            (true, State::Backup) => self.become_master(now, Cause::SyncGroup),
            (false, State::Master) => self.enter_backup(now, Cause::SyncGroup),
            _ => {}
        }
    }

    /// The effective priority after `vrrp_script` / `track_*` weights. Clamped to 1..=254;
    /// ignored for an address owner (keepalived never changes priority 255).
    pub fn set_priority(&mut self, effective: u8, now_ms: u64) {
        let _ = now_ms;
        if self.base_priority == 255 {
            return;
        }
        let new = effective.clamp(1, 254);
        if new == self.priority {
            return;
        }
        self.events.push_back(Event::PriorityChanged { from: self.priority, to: new });
        self.priority = new;
        let old_down = self.down_timer_us;
        self.down_timer_us = self.master_down_us();
        // keepalived moves a BACKUP's running timer by the change of its length.
        if let (State::Backup, Some(d)) = (self.state, self.deadline_us) {
            self.deadline_us = Some(d.saturating_add(self.down_timer_us).saturating_sub(old_down));
        }
    }

    /// Stops the instance: a MASTER sends a priority-0 advert. The instance is INIT
    /// afterwards and stays so.
    pub fn shutdown(&mut self, now_ms: u64) {
        if self.state == State::Master {
            self.send_advert(0, us(now_ms));
            self.stats.released_master += 1;
        }
        self.deadline_us = None;
        self.set_state(State::Init, Cause::Shutdown);
    }

    /// The next deadline (ms, rounded up), if any.
    pub fn poll_timeout(&self) -> Option<u64> {
        self.deadline_us.map(|d| d.div_ceil(1000))
    }

    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.transmits.pop_front()
    }

    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    pub fn state(&self) -> State {
        self.state
    }

    /// The master as this instance knows it: itself in MASTER; in BACKUP the source of
    /// the last advert taken (or discarded for preemption), if any.
    pub fn master(&self) -> Option<IpAddr> {
        match self.state {
            State::Master => Some(self.cfg.primary),
            State::Backup => self.master_src,
            State::Init | State::Fault => None,
        }
    }

    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    /// The configuration as normalized.
    pub fn config(&self) -> &InstanceConfig {
        &self.cfg
    }

    /// What normalization changed in the configuration given to [`Instance::new`].
    pub fn adjustments(&self) -> &[Adjustment] {
        &self.adjustments
    }

    /// The effective priority.
    pub fn priority(&self) -> u8 {
        self.priority
    }

    /// Master_Adver_Interval in centiseconds (VRRPv3: the master's, once heard).
    pub fn master_interval_cs(&self) -> u16 {
        self.master_int_cs
    }

    /// The advert this instance sends with `priority`, before addressing.
    pub fn advert(&self, priority: u8) -> Advert {
        let (auth_type, auth_data) = match self.cfg.auth_pass {
            Some(p) if self.cfg.version == Version::V2 => (wire::AUTH_PASS, p),
            _ => (wire::AUTH_NONE, [0; 8]),
        };
        let adver_int = match self.cfg.version {
            Version::V2 => self.cfg.advert_int_cs / 100,
            Version::V3 => self.cfg.advert_int_cs,
        };
        Advert {
            version: self.cfg.version,
            vrid: self.cfg.vrid,
            priority,
            auth_type,
            adver_int,
            addresses: self.cfg.addresses[..self.advertised].to_vec(),
            auth_data,
            checksum: 0,
        }
    }

    fn receive(&mut self, rx: Rx, now: u64) -> Result<(), Reject> {
        let h = Header::parse(rx.msg)?;
        let v6 = self.cfg.is_ipv6();
        if rx.src.is_ipv6() != v6 || rx.dst.is_ipv6() != v6 {
            return Err(Reject::WrongFamily);
        }
        // keepalived's IPv6 socket has the kernel check the checksum (IPV6_CHECKSUM).
        if v6 && !wire::checksum_ok(rx.msg, rx.src, rx.dst) {
            return Err(Reject::BadChecksum);
        }
        if h.vrid != self.cfg.vrid {
            return Err(Reject::WrongVrid);
        }
        let unicast = !self.cfg.unicast_peers.is_empty();
        if matches!(self.state, State::Init | State::Fault) {
            return Err(Reject::Inactive);
        }
        if v6 && check::is_multicast(rx.dst) == unicast {
            return Err(Reject::CastMismatch);
        }
        let check_addr =
            self.state == State::Master || !self.cfg.skip_check_adv_addr || self.master_src != Some(rx.src);
        let form = check::check(&self.expect(), rx, &h, check_addr)?;
        if form == ChecksumForm::OldUnicast {
            self.stats.old_unicast_checksums += 1;
            self.old_unicast_checksum = true;
        }
        if h.priority == 0 {
            self.stats.priority_zero_received += 1;
        }
        match self.state {
            State::Backup => self.backup_rx(rx.src, &h, now),
            _ => self.master_rx(rx.src, &h, now),
        }
        Ok(())
    }

    fn expect(&self) -> Expect<'_> {
        Expect {
            version: self.cfg.version,
            v6: self.cfg.is_ipv6(),
            unicast: !self.cfg.unicast_peers.is_empty(),
            auth: if self.cfg.version == Version::V2 { self.cfg.auth_pass } else { None },
            interval_cs: self.cfg.advert_int_cs,
            addresses: &self.cfg.addresses[..self.advertised],
            old_unicast_checksum: self.old_unicast_checksum,
        }
    }

    /// keepalived's `vrrp_state_backup` after the checks.
    fn backup_rx(&mut self, src: IpAddr, h: &Header, now: u64) {
        let delay = u64::from(self.cfg.preempt_delay_ms) * 1000;
        if h.priority == 0 {
            self.down_timer_us = skew_us(self.cfg.version, self.priority, self.master_int_cs);
            self.deadline_us = Some(now.saturating_add(self.down_timer_us));
            self.takeover_cause = Cause::MasterResigned;
        } else if !self.cfg.preempt
            || h.priority >= self.priority
            || (delay != 0 && self.preempt_at_us.is_none_or(|t| t > now))
        {
            self.learn_interval(h);
            self.down_timer_us = self.master_down_us();
            self.deadline_us = Some(now.saturating_add(self.down_timer_us));
            self.master_src = Some(src);
            self.takeover_cause = Cause::MasterDownTimer;
            if delay != 0 {
                if h.priority >= self.priority {
                    self.preempt_at_us = None;
                } else if self.preempt_at_us.is_none() {
                    self.preempt_at_us = Some(now.saturating_add(delay));
                }
            }
        } else {
            // A lower-priority master that we preempt: its advert does not restart the timer.
            self.stats.lower_priority_discarded += 1;
            self.takeover_cause = Cause::Preempted;
            self.master_src = Some(src);
        }
    }

    /// keepalived's `vrrp_state_master_rx` after the checks.
    fn master_rx(&mut self, src: IpAddr, h: &Header, now: u64) {
        if h.priority == 0 {
            self.send_advert(self.priority, now);
            return;
        }
        let ours = self.cfg.primary;
        if h.priority == self.priority && src != ours && self.priority == 255 {
            // Two address owners: keepalived lowers its own priority and yields.
            self.events.push_back(Event::PriorityChanged { from: 255, to: 254 });
            self.priority = 254;
            self.base_priority = 254;
        }
        if h.priority < self.priority || (h.priority == self.priority && src < ours) {
            if !self.cfg.strict {
                self.send_advert(self.priority, now);
            }
            return;
        }
        if h.priority == self.priority && src == ours {
            return; // our own address: keepalived only warns
        }
        let cause = if h.priority > self.priority { Cause::HigherPriority } else { Cause::HigherAddress };
        self.learn_interval(h);
        self.master_src = Some(src);
        self.stats.released_master += 1;
        self.enter_backup(now, cause);
    }

    /// VRRPv3: a BACKUP takes the master's advertised interval (RFC 5798 §6.4.2).
    fn learn_interval(&mut self, h: &Header) {
        if self.cfg.version == Version::V3 && h.adver_int != self.master_int_cs {
            self.events.push_back(Event::MasterIntervalChanged { from_cs: self.master_int_cs, to_cs: h.adver_int });
            self.master_int_cs = h.adver_int;
        }
    }

    fn master_down_us(&self) -> u64 {
        master_down_us(self.cfg.version, self.priority, self.master_int_cs)
    }

    fn enter_backup(&mut self, now: u64, cause: Cause) {
        self.down_timer_us = self.master_down_us();
        self.deadline_us = Some(now.saturating_add(self.down_timer_us));
        self.preempt_at_us = None;
        self.takeover_cause = Cause::MasterDownTimer;
        self.set_state(State::Backup, cause);
    }

    fn enter_fault(&mut self) {
        self.deadline_us = None;
        self.preempt_at_us = None;
        self.master_src = None;
        self.set_state(State::Fault, Cause::Fault);
    }

    fn become_master(&mut self, now: u64, cause: Cause) {
        self.master_int_cs = self.cfg.advert_int_cs;
        self.stats.became_master += 1;
        self.set_state(State::Master, cause);
        self.send_advert(self.priority, now);
    }

    /// Queues the advert of `priority` to every destination; a MASTER's advert timer
    /// restarts.
    fn send_advert(&mut self, priority: u8, now: u64) {
        let advert = self.advert(priority);
        let src = self.cfg.primary;
        let group = wire::mcast_group(src);
        let dsts: Vec<IpAddr> =
            if self.cfg.unicast_peers.is_empty() { vec![group] } else { self.cfg.unicast_peers.clone() };
        // keepalived ≤ 1.3.6's form, once a peer used it: the group in the pseudo-header.
        let old_form = self.old_unicast_checksum && self.cfg.version == Version::V3 && !src.is_ipv6();
        for dst in dsts {
            let payload = advert.encode(src, if old_form { group } else { dst });
            self.transmits.push_back(Transmit { src, dst, ttl: wire::TTL, payload });
        }
        self.stats.adverts_sent += 1;
        if priority == 0 {
            self.stats.priority_zero_sent += 1;
        }
        if self.state == State::Master && priority != 0 {
            self.deadline_us = Some(now.saturating_add(u64::from(self.cfg.advert_int_cs) * US_PER_CS));
        }
    }

    fn set_state(&mut self, to: State, cause: Cause) {
        let from = self.state;
        if from != to {
            self.state = to;
            self.events.push_back(Event::StateChanged { from, to, cause });
        }
    }
}

/// The caller's ms as µs (saturating: a clock near `u64::MAX` ms must not panic).
fn us(now_ms: u64) -> u64 {
    now_ms.saturating_mul(1000)
}
