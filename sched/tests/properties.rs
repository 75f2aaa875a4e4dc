//! Property tests over every scheduler: whatever the reals, weights, counters and flows, a
//! scheduler returns `None` or the index of a real with weight > 0, and each scheduler's own
//! rule for when it may return `None` and which real it picks holds; the least-cost
//! schedulers pick exactly the first real of least cost (IPVS's tie-breaking).

use proptest::prelude::*;
use std::net::IpAddr;
use std::sync::atomic::Ordering;
use xvs_sched::*;

#[derive(Debug, Clone)]
struct D {
    weight: u32,
    active: u32,
    inactive: u32,
    overloaded: bool,
}

fn build(ds: &[D]) -> Vec<Dest> {
    ds.iter()
        .enumerate()
        .map(|(i, d)| {
            let x = Dest::new(IpAddr::from([10, 0, 2, i as u8 + 1]), 80, d.weight);
            x.counters.active.store(d.active, Ordering::Relaxed);
            x.counters.inactive.store(d.inactive, Ordering::Relaxed);
            x.counters.overloaded.store(d.overloaded, Ordering::Relaxed);
            x
        })
        .collect()
}

fn dest_strategy() -> impl Strategy<Value = D> {
    (0u32..6, 0u32..8, 0u32..8, prop::bool::weighted(0.25)).prop_map(|(weight, active, inactive, overloaded)| D {
        weight,
        active,
        inactive,
        overloaded,
    })
}

fn flow_strategy() -> impl Strategy<Value = Flow> {
    (any::<u32>(), any::<u16>(), 0u32..6, prop::sample::select(vec![6u8, 17, 1])).prop_map(
        |(src, sport, dst, proto)| Flow {
            proto,
            src: IpAddr::from(src.to_be_bytes()),
            sport,
            dst: IpAddr::from((0xcb00_7100 + dst).to_be_bytes()),
            dport: 80,
        },
    )
}

fn avail(d: &Dest) -> bool {
    d.weight > 0 && !d.counters.overloaded.load(Ordering::Relaxed)
}

fn check(name: &str, flags: SchedFlags, dests: &[Dest], flows: &[Flow], steps: &[u64]) {
    let cfg = SchedConfig { flags, mh_table_size: 251, seed: 42 };
    let mut s = new_scheduler(name, &cfg).unwrap();
    s.update(dests);
    let any_avail = dests.iter().any(avail);
    let mut now = 0u64;
    for (f, step) in flows.iter().zip(steps) {
        now += step;
        let r = s.schedule(dests, f, now);
        if let Some(i) = r {
            assert!(i < dests.len(), "{name}: index out of range");
            assert!(dests[i].weight > 0, "{name}: picked a weight-0 real");
            if name != "lblc" {
                assert!(avail(&dests[i]), "{name}: picked an overloaded real");
            }
        }
        let fallback = (name == "sh" && flags.sh_fallback) || (name == "mh" && flags.mh_fallback);
        match name {
            "rr" | "wrr" | "lc" | "wlc" | "fo" | "sed" | "nq" | "twos" | "lblcr" => {
                assert_eq!(r.is_some(), any_avail, "{name}: None iff nothing available")
            }
            "lblc" => assert!(r.is_some() || !any_avail, "lblc: None while a real is available"),
            "sh" if fallback => assert_eq!(r.is_some(), any_avail, "sh-fallback"),
            "dh" | "sh" | "mh" => {
                // table schedulers: the same flow maps to the same real
                assert_eq!(s.schedule(dests, f, now), r, "{name}: not deterministic");
            }
            "ovf" => {
                let ok = |d: &Dest| avail(d) && d.counters.active.load(Ordering::Relaxed) <= d.weight;
                assert_eq!(r.is_some(), dests.iter().any(ok), "ovf");
                if let Some(i) = r {
                    let hw = dests.iter().filter(|d| ok(d)).map(|d| d.weight).max();
                    assert_eq!(Some(dests[i].weight), hw);
                }
            }
            _ => {}
        }
        let Some(i) = r else { continue };
        let ov = |d: &Dest| d.overhead() as u128;
        let sed = |d: &Dest| u128::from(d.active()) + 1;
        let w = |d: &Dest| u128::from(d.weight);
        let a = &dests[i];
        let others = dests.iter().filter(|d| avail(d));
        match name {
            "lc" => assert!(others.clone().all(|d| ov(a) <= ov(d)), "lc"),
            "wlc" => assert!(others.clone().all(|d| ov(a) * w(d) <= ov(d) * w(a)), "wlc"),
            "sed" => assert!(others.clone().all(|d| sed(a) * w(d) <= sed(d) * w(a)), "sed"),
            "nq" => {
                if let Some(idle) = dests.iter().position(|d| avail(d) && d.active() == 0) {
                    assert_eq!(i, idle, "nq: first idle real");
                } else {
                    assert!(others.clone().all(|d| sed(a) * w(d) <= sed(d) * w(a)), "nq");
                }
            }
            "fo" => assert_eq!(Some(a.weight), others.clone().map(|d| d.weight).max()),
            _ => {}
        }
    }
}

fn flag_sets(name: &str) -> Vec<SchedFlags> {
    let mut v = vec![SchedFlags::default()];
    match name {
        "sh" => {
            for (fb, p) in [(true, false), (false, true), (true, true)] {
                v.push(SchedFlags { sh_fallback: fb, sh_port: p, ..Default::default() });
            }
        }
        "mh" => {
            for (fb, p) in [(true, false), (false, true), (true, true)] {
                v.push(SchedFlags { mh_fallback: fb, mh_port: p, ..Default::default() });
            }
        }
        _ => {}
    }
    v
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn every_scheduler_obeys_its_rule(
        ds in prop::collection::vec(dest_strategy(), 0..8),
        flows in prop::collection::vec(flow_strategy(), 1..24),
        steps in prop::collection::vec(prop::sample::select(vec![0u64, 1, 1000, 400_000, 90_000_000]), 24),
    ) {
        let dests = build(&ds);
        for name in SCHEDULER_NAMES {
            for flags in flag_sets(name) {
                check(name, flags, &dests, &flows, &steps);
            }
        }
    }
}

/// The first index among `cands` whose cost `num / den` is least (compared by
/// cross-multiplication): the exact pick, ties included, of the least-cost schedulers.
fn first_least(dests: &[Dest], cands: impl Fn(&Dest) -> bool, cost: impl Fn(&Dest) -> (u128, u128)) -> Option<usize> {
    let c: Vec<usize> = (0..dests.len()).filter(|&i| cands(&dests[i])).collect();
    let below = |a: (u128, u128), b: (u128, u128)| a.0 * b.1 < b.0 * a.1;
    c.iter().copied().find(|&i| c.iter().all(|&j| !below(cost(&dests[j]), cost(&dests[i]))))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// Ties keep the earlier real: lc, wlc, sed, nq, fo and ovf pick exactly the first real
    /// with the least cost (small counters and weights, so that ties are common).
    #[test]
    fn least_cost_ties_keep_the_first_real(
        ds in prop::collection::vec(
            (0u32..4, 0u32..3, 0u32..3, prop::bool::weighted(0.2))
                .prop_map(|(weight, active, inactive, overloaded)| D { weight, active, inactive, overloaded }),
            0..8,
        ),
    ) {
        let dests = build(&ds);
        let flow = Flow { proto: 6, src: IpAddr::from([192, 0, 2, 1]), sport: 1, dst: IpAddr::from([10, 0, 1, 100]), dport: 80 };
        let w = |d: &Dest| u128::from(d.weight);
        let overhead = |d: &Dest| (d.overhead() as u128, 1);
        let per_weight = |d: &Dest| (d.overhead() as u128, w(d));
        let sed = |d: &Dest| (u128::from(d.active()) + 1, w(d));
        let highest_weight = |d: &Dest| (1, w(d));
        let open = |d: &Dest| avail(d) && d.active() <= d.weight;
        let idle = dests.iter().position(|d| avail(d) && d.active() == 0);
        let want = [
            ("lc", first_least(&dests, avail, overhead)),
            ("wlc", first_least(&dests, avail, per_weight)),
            ("sed", first_least(&dests, avail, sed)),
            ("nq", idle.or(first_least(&dests, avail, sed))),
            ("fo", first_least(&dests, avail, highest_weight)),
            ("ovf", first_least(&dests, open, highest_weight)),
        ];
        for (name, want) in want {
            let mut s = new_scheduler(name, &SchedConfig::default()).unwrap();
            s.update(&dests);
            prop_assert_eq!(s.schedule(&dests, &flow, 0), want, "{}", name);
        }
    }
}

#[test]
fn all_weight_zero_gives_none_everywhere() {
    let ds: Vec<D> = (0..5).map(|i| D { weight: 0, active: i, inactive: 0, overloaded: false }).collect();
    let dests = build(&ds);
    for name in SCHEDULER_NAMES {
        for flags in flag_sets(name) {
            let cfg = SchedConfig { flags, mh_table_size: 251, seed: 1 };
            let mut s = new_scheduler(name, &cfg).unwrap();
            s.update(&dests);
            for i in 0..50u32 {
                let f = Flow {
                    proto: 6,
                    src: IpAddr::from((0x0b00_0000 + i).to_be_bytes()),
                    sport: i as u16,
                    dst: IpAddr::from((0xcb00_7100 + i % 4).to_be_bytes()),
                    dport: 80,
                };
                assert_eq!(s.schedule(&dests, &f, u64::from(i) * 1000), None, "{name}");
            }
            assert_eq!(
                s.schedule(
                    &[],
                    &Flow {
                        proto: 6,
                        src: IpAddr::from([1, 1, 1, 1]),
                        sport: 1,
                        dst: IpAddr::from([2, 2, 2, 2]),
                        dport: 80
                    },
                    0
                ),
                None,
                "{name} with a mismatched empty slice"
            );
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// sh, dh and mh agree on every flow whatever the order the reals are listed in (and
    /// so whatever order they were added): their tables are a function of the set of
    /// reals, weights and health alone, which a fleet of directors behind ECMP needs.
    #[test]
    fn hash_schedulers_ignore_the_order_of_the_reals(
        ds in prop::collection::vec(dest_strategy(), 1..12),
        ports in prop::collection::vec(prop::sample::select(vec![80u16, 8080]), 12),
        shuffle in any::<u64>(),
        flows in prop::collection::vec(flow_strategy(), 1..200),
    ) {
        let listed = build(&ds);
        let listed: Vec<Dest> = listed
            .into_iter()
            .zip(&ports)
            .map(|(mut d, &p)| {
                d.port = p;
                d
            })
            .collect();
        // Another director's list: the same reals (shared counters: the same health), in
        // another order.
        let mut other = listed.clone();
        let mut x = shuffle | 1;
        for i in (1..other.len()).rev() {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            other.swap(i, (x % (i as u64 + 1)) as usize);
        }
        for name in ["sh", "dh", "mh"] {
            for flags in flag_sets(name) {
                let cfg = SchedConfig { flags, mh_table_size: 251, seed: 42 };
                let (mut a, mut b) = (new_scheduler(name, &cfg).unwrap(), new_scheduler(name, &cfg).unwrap());
                a.update(&listed);
                b.update(&other);
                for f in &flows {
                    let pa = a.schedule(&listed, f, 0).map(|i| listed[i].key());
                    let pb = b.schedule(&other, f, 0).map(|i| other[i].key());
                    prop_assert_eq!(pa, pb, "{} {:?}", name, flags);
                }
            }
        }
    }
}
