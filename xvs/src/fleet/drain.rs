//! The director's side of `xvs ctl --drain`: whether it is draining, since when, whether
//! an announcer has seen it (the withdrawal left then), and the service frames that kept
//! arriving after it.
//!
//! Invariants:
//! - Draining is runtime state, not configuration: a SIGHUP reload keeps it, a restart
//!   ends it. A second `--drain` keeps the first one's start and counts.
//! - Frames are the poll loops' service frames (received and not handed to the kernel),
//!   counted from the drain's start; `idle` is the time since that count last moved.
//! - Every announcer poll is noted ([`Drain::handle_announce_poll`]), so `--drain` and a
//!   SIGTERM can tell whether anyone will withdraw the routes.

use std::time::{Duration, Instant};

use super::DrainStatus;

#[derive(Debug, Default)]
pub struct Drain {
    began: Option<Instant>,
    frames_at_start: u64,
    last_frames: u64,
    last_change: Option<Instant>,
    withdrawn_after: Option<Duration>,
    announcer_seen: Option<Instant>,
}

fn ms(d: Duration) -> u64 {
    d.as_millis().min(u64::MAX as u128) as u64
}

impl Drain {
    pub fn draining(&self) -> bool {
        self.began.is_some()
    }

    /// An `xvs announce` asked at `now` (and got the answer that says whether we drain).
    pub fn handle_announce_poll(&mut self, now: Instant) {
        self.announcer_seen = Some(now);
        if let (Some(b), None) = (self.began, self.withdrawn_after) {
            self.withdrawn_after = Some(now.saturating_duration_since(b));
        }
    }

    /// Whether an announcer asked within `within` of `now`.
    pub fn announcer_recent(&self, now: Instant, within: Duration) -> bool {
        self.announcer_seen.is_some_and(|t| now.saturating_duration_since(t) <= within)
    }

    /// Whether an announcer has seen the drain (its withdrawal is out).
    pub fn withdrawn(&self) -> bool {
        self.withdrawn_after.is_some()
    }

    /// Start draining at `now`, with the frame count `frames` (no-op when draining).
    pub fn begin(&mut self, now: Instant, frames: u64) {
        if self.began.is_none() {
            *self = Drain { announcer_seen: self.announcer_seen, ..Drain::default() };
            self.began = Some(now);
            self.frames_at_start = frames;
            self.last_frames = frames;
            self.last_change = Some(now);
        }
    }

    /// Stop draining: announce again.
    pub fn end(&mut self) {
        *self = Drain { announcer_seen: self.announcer_seen, ..Drain::default() };
    }

    /// The frame count at `now`, for the idle time.
    pub fn observe(&mut self, now: Instant, frames: u64) {
        if self.began.is_some() && frames != self.last_frames {
            self.last_frames = frames;
            self.last_change = Some(now);
        }
    }

    pub fn status(&self, now: Instant, live_connections: u64) -> DrainStatus {
        let since = |t: Option<Instant>| t.map(|t| ms(now.saturating_duration_since(t)));
        DrainStatus {
            draining: self.began.is_some(),
            since_ms: since(self.began).unwrap_or(0),
            withdrawn_after_ms: self.withdrawn_after.map(ms),
            frames: self.last_frames.saturating_sub(self.frames_at_start),
            idle_ms: since(self.last_change).unwrap_or(0),
            live_connections,
            announcer_seen_ms: since(self.announcer_seen),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn it_counts_frames_and_idle_time_from_the_drain_and_notes_the_withdrawal() {
        let t0 = Instant::now();
        let at = |ms: u64| t0 + Duration::from_millis(ms);
        let mut d = Drain::default();
        d.handle_announce_poll(t0);
        assert!(!d.draining() && !d.withdrawn());
        d.begin(at(100), 1000);
        d.observe(at(200), 1010);
        d.observe(at(300), 1025);
        d.handle_announce_poll(at(350));
        d.begin(at(400), 5000); // a second --drain keeps the first one's start
        d.observe(at(500), 1025);
        let s = d.status(at(1300), 7);
        assert_eq!(
            s,
            DrainStatus {
                draining: true,
                since_ms: 1200,
                withdrawn_after_ms: Some(250),
                frames: 25,
                idle_ms: 1000,
                live_connections: 7,
                announcer_seen_ms: Some(950),
            }
        );
        assert!(d.announcer_recent(at(1300), Duration::from_secs(1)));
        assert!(!d.announcer_recent(at(1400), Duration::from_secs(1)));
        d.end();
        assert!(!d.draining() && !d.withdrawn());
        assert_eq!(d.status(at(1500), 0).announcer_seen_ms, Some(1150));
    }
}
