//! CPU time as the kernel accounts it: one core's time by kind (`/proc/stat`) and one
//! process's user and system time (`/proc/PID/stat`), in clock ticks (`USER_HZ`).
//!
//! Invariants: readings are cumulative counters; a figure for a window is the difference
//! of two readings. A core's busy time is user + nice + system + irq + softirq: idle,
//! iowait and steal (time the hypervisor gave to someone else) are not work done here.
//! The kernel on this machine has no IRQ time accounting, so softirq work that runs in a
//! task's context is charged to that task's system time; the core's total is the figure
//! that is comparable across a userspace director and the kernel forwarding.

use std::fs;

/// One core's cumulative times, in ticks.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CoreTimes {
    pub user: u64,
    pub system: u64,
    pub softirq: u64,
    /// irq (hard interrupts); small here
    pub irq: u64,
    pub idle: u64,
}

impl CoreTimes {
    /// Busy ticks: everything but idle, iowait and steal.
    pub fn busy(&self) -> u64 {
        self.user + self.system + self.softirq + self.irq
    }

    /// The times spent between `earlier` and `self`.
    pub fn since(&self, earlier: &CoreTimes) -> CoreTimes {
        CoreTimes {
            user: self.user.saturating_sub(earlier.user),
            system: self.system.saturating_sub(earlier.system),
            softirq: self.softirq.saturating_sub(earlier.softirq),
            irq: self.irq.saturating_sub(earlier.irq),
            idle: self.idle.saturating_sub(earlier.idle),
        }
    }
}

/// Core `cpu`'s times from `/proc/stat`.
pub fn core_times(cpu: usize) -> Option<CoreTimes> {
    parse_stat(&fs::read_to_string("/proc/stat").ok()?, cpu)
}

fn parse_stat(text: &str, cpu: usize) -> Option<CoreTimes> {
    let label = format!("cpu{cpu}");
    let line = text.lines().find(|l| l.split_whitespace().next() == Some(label.as_str()))?;
    let v: Vec<u64> = line.split_whitespace().skip(1).map(|x| x.parse().unwrap_or(0)).collect();
    // user nice system idle iowait irq softirq steal ...
    let at = |i: usize| v.get(i).copied().unwrap_or(0);
    Some(CoreTimes { user: at(0) + at(1), system: at(2), idle: at(3), irq: at(5), softirq: at(6) })
}

/// (user, system) ticks of process `pid` (all its threads), from `/proc/PID/stat`.
pub fn process_times(pid: u32) -> Option<(u64, u64)> {
    parse_pid_stat(&fs::read_to_string(format!("/proc/{pid}/stat")).ok()?)
}

fn parse_pid_stat(text: &str) -> Option<(u64, u64)> {
    // The command name may hold spaces and parentheses: fields start after the last ')'.
    let rest = &text[text.rfind(')')? + 1..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    // rest[0] is field 3 (state); utime and stime are fields 14 and 15.
    Some((f.get(11)?.parse().ok()?, f.get(12)?.parse().ok()?))
}

/// Clock ticks per second (`sysconf(_SC_CLK_TCK)`, 100 if unknown).
pub fn ticks_per_sec() -> u64 {
    // SAFETY: sysconf has no preconditions.
    let t = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if t > 0 {
        t as u64
    } else {
        100
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_proc_stat_and_pid_stat() {
        let stat = "cpu  10 1 20 300 4 5 6 7 0 0\ncpu0 1 2 3 4 5 6 7 8 0 0\ncpu1 9 9 9 9 9 9 9 9 0 0\n";
        let c = parse_stat(stat, 0).unwrap();
        assert_eq!(c, CoreTimes { user: 3, system: 3, idle: 4, irq: 6, softirq: 7 });
        assert_eq!(c.busy(), 19);
        assert!(parse_stat(stat, 2).is_none());
        let pid = "42 (a (b) c) R 1 2 3 4 5 6 7 8 9 10 111 222 0 0 20 0 1";
        assert_eq!(parse_pid_stat(pid), Some((111, 222)));
        assert!(core_times(0).is_some() && process_times(std::process::id()).is_some());
    }
}
