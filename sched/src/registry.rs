//! Schedulers by their ipvsadm names.
//!
//! Invariants: every name in [`SCHEDULER_NAMES`] builds (with a valid config); a scheduler
//! flag is accepted only by the scheduler it belongs to (`sh-*` by `sh`, `mh-*` by `mh`);
//! `mh_table_size` is checked (prime) only for `mh`. A freshly built scheduler has seen an
//! empty dest list; call [`crate::Scheduler::update`] before scheduling.

use crate::{SchedConfig, Scheduler};

/// Every scheduler, by its ipvsadm name.
pub const SCHEDULER_NAMES: [&str; 14] =
    ["rr", "wrr", "lc", "wlc", "fo", "ovf", "lblc", "lblcr", "dh", "sh", "mh", "sed", "nq", "twos"];

/// Errors building a scheduler.
#[derive(Debug, thiserror::Error)]
pub enum SchedError {
    #[error("unknown scheduler '{0}' (one of {names})", names = SCHEDULER_NAMES.join(" "))]
    Unknown(String),
    #[error("mh table size {0} is not a prime (IPVS uses primes such as 251, 509, 1021, 2039, 4093, 8191, 16381, 32749, 65521, 131071; xvs defaults to 65537)")]
    NotPrime(u32),
    #[error("scheduler flag '{flag}' applies only to the '{owner}' scheduler, not to '{scheduler}'; remove it or use scheduler = \"{owner}\"")]
    FlagNotForScheduler { flag: &'static str, owner: &'static str, scheduler: String },
}

/// Build the scheduler called `name` (an ipvsadm name, lower case).
pub fn new_scheduler(name: &str, cfg: &SchedConfig) -> Result<Box<dyn Scheduler>, SchedError> {
    if !SCHEDULER_NAMES.contains(&name) {
        return Err(SchedError::Unknown(name.to_string()));
    }
    let f = cfg.flags;
    let wrong = |flag: &'static str, owner: &'static str| SchedError::FlagNotForScheduler {
        flag,
        owner,
        scheduler: name.to_string(),
    };
    if name != "sh" {
        if f.sh_fallback {
            return Err(wrong("sh-fallback", "sh"));
        }
        if f.sh_port {
            return Err(wrong("sh-port", "sh"));
        }
    }
    if name != "mh" {
        if f.mh_fallback {
            return Err(wrong("mh-fallback", "mh"));
        }
        if f.mh_port {
            return Err(wrong("mh-port", "mh"));
        }
    }
    let s: Box<dyn Scheduler> = match name {
        "rr" => Box::new(crate::rr::Rr::default()),
        "wrr" => Box::new(crate::wrr::Wrr::default()),
        "lc" => Box::new(crate::lc::Lc),
        "wlc" => Box::new(crate::wlc::Wlc::default()),
        "fo" => Box::new(crate::fo::Fo),
        "ovf" => Box::new(crate::ovf::Ovf),
        "lblc" => Box::new(crate::lblc::Lblc::new()),
        "lblcr" => Box::new(crate::lblcr::Lblcr::new()),
        "dh" => Box::new(crate::dh::Dh::default()),
        "sh" => Box::new(crate::sh::Sh::new(f.sh_fallback, f.sh_port)),
        "mh" => {
            if !is_prime(cfg.mh_table_size) {
                return Err(SchedError::NotPrime(cfg.mh_table_size));
            }
            Box::new(crate::mh::Mh::new(cfg.mh_table_size, f.mh_fallback, f.mh_port))
        }
        "sed" => Box::new(crate::sed::Sed),
        "nq" => Box::new(crate::nq::Nq),
        "twos" => Box::new(crate::twos::Twos::new(cfg.seed)),
        _ => return Err(SchedError::Unknown(name.to_string())),
    };
    Ok(s)
}

/// Whether `n` is prime (trial division; `n` is at most `u32::MAX`).
pub fn is_prime(n: u32) -> bool {
    if n < 2 {
        return false;
    }
    if n < 4 {
        return true;
    }
    if n % 2 == 0 || n % 3 == 0 {
        return false;
    }
    let n = u64::from(n);
    let mut i = 5u64;
    while i * i <= n {
        if n % i == 0 || n % (i + 2) == 0 {
            return false;
        }
        i += 6;
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::SchedFlags;

    #[test]
    fn every_name_builds_with_its_name() {
        for n in SCHEDULER_NAMES {
            let s = new_scheduler(n, &SchedConfig::default()).unwrap();
            assert_eq!(s.name(), n);
        }
    }

    #[test]
    fn unknown_and_flags_and_prime() {
        let e = new_scheduler("foo", &SchedConfig::default()).unwrap_err();
        assert!(e.to_string().contains("unknown scheduler 'foo'"));
        let cfg = SchedConfig { flags: SchedFlags { sh_port: true, ..Default::default() }, ..Default::default() };
        assert!(new_scheduler("sh", &cfg).is_ok());
        let e = new_scheduler("mh", &cfg).unwrap_err();
        assert!(matches!(e, SchedError::FlagNotForScheduler { flag: "sh-port", .. }));
        let cfg = SchedConfig {
            flags: SchedFlags { mh_fallback: true, ..Default::default() },
            mh_table_size: 4093,
            ..Default::default()
        };
        assert!(new_scheduler("mh", &cfg).is_ok());
        assert!(new_scheduler("wlc", &cfg).is_err());
        let cfg = SchedConfig { mh_table_size: 65536, ..Default::default() };
        assert!(matches!(new_scheduler("mh", &cfg), Err(SchedError::NotPrime(65536))));
        // the table size matters to mh only
        assert!(new_scheduler("rr", &cfg).is_ok());
    }

    #[test]
    fn primes() {
        for p in [2, 3, 5, 251, 509, 1021, 2039, 4093, 8191, 16381, 32749, 65521, 65537, 131071] {
            assert!(is_prime(p), "{p}");
        }
        for n in [0, 1, 4, 9, 25, 65535, 65536, 4095, 1 << 20, u32::MAX] {
            assert!(!is_prime(n), "{n}");
        }
        assert!(is_prime(4_294_967_291));
    }
}
