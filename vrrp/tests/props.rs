//! Properties of the instance under any input: normalization is idempotent and leaves the
//! invariants config.rs promises; random sequences of adverts (random bytes and well-formed
//! adverts with random fields), timeouts, faults, priority changes and shutdowns never
//! panic, every advert is counted once, a deadline exists exactly in BACKUP and MASTER,
//! every state change is reported in order, and every advert sent decodes.

mod common;

use std::net::IpAddr;

use common::ip;
use proptest::prelude::*;
use xvs_vrrp::wire::{self, decode, Advert};
use xvs_vrrp::{Event, InitialState, Instance, InstanceConfig, State, Version};

fn any_config() -> impl Strategy<Value = InstanceConfig> {
    (
        (any::<bool>(), any::<bool>(), any::<u8>(), any::<u8>(), any::<u16>()),
        (any::<bool>(), 0u32..10_000, any::<bool>(), proptest::option::of(any::<[u8; 8]>())),
        (0usize..4, any::<bool>(), any::<bool>(), any::<bool>()),
    )
        .prop_map(|((v3, v6, vrid, priority, int), (preempt, delay, master, auth), (n, peers, strict, skip))| {
            let addr = |i: u8| if v6 { ip(&format!("2001:db8::{i}")) } else { ip(&format!("10.0.0.{i}")) };
            InstanceConfig {
                name: "VI_P".into(),
                vrid,
                version: if v3 { Version::V3 } else { Version::V2 },
                priority,
                advert_int_cs: int,
                preempt,
                preempt_delay_ms: delay,
                initial: if master { InitialState::Master } else { InitialState::Backup },
                auth_pass: auth,
                addresses: (0..n as u8).map(|i| addr(50 + i)).collect(),
                primary: addr(2),
                unicast_peers: if peers { vec![addr(1)] } else { vec![] },
                strict,
                skip_check_adv_addr: skip,
            }
        })
}

#[derive(Clone, Debug)]
enum Op {
    Bytes(Vec<u8>, bool, u8),
    Advert { priority: u8, v3: bool, int: u16, vrid_off: bool, multicast: bool, ttl: u8, from_low: bool },
    Wait(u64),
    Fault(bool),
    Priority(u8),
    Shutdown,
}

fn any_op() -> impl Strategy<Value = Op> {
    prop_oneof![
        1 => (proptest::collection::vec(any::<u8>(), 0..64), any::<bool>(), any::<u8>()).prop_map(|(b, m, t)| Op::Bytes(b, m, t)),
        4 => (any::<u8>(), any::<bool>(), 0u16..400, any::<bool>(), any::<bool>(), prop_oneof![Just(255u8), any::<u8>()], any::<bool>())
            .prop_map(|(priority, v3, int, vrid_off, multicast, ttl, from_low)| Op::Advert { priority, v3, int, vrid_off, multicast, ttl, from_low }),
        4 => (0u64..5_000).prop_map(Op::Wait),
        1 => any::<bool>().prop_map(Op::Fault),
        1 => any::<u8>().prop_map(Op::Priority),
        1 => Just(Op::Shutdown),
    ]
}

/// Feeds one advert-shaped op to `i` from a peer (lower or higher address than ours).
fn advert_op(i: &mut Instance, op: &Op, now: u64) {
    let c = i.config().clone();
    let v6 = c.primary.is_ipv6();
    let peer = |low: bool| -> IpAddr {
        match (v6, low) {
            (false, true) => ip("10.0.0.1"),
            (false, false) => ip("10.0.0.3"),
            (true, true) => ip("2001:db8::1"),
            (true, false) => ip("2001:db8::3"),
        }
    };
    let group = wire::mcast_group(c.primary);
    match op {
        Op::Bytes(b, multicast, ttl) => {
            let _ = i.handle_advert(peer(true), if *multicast { group } else { c.primary }, *ttl, b, now);
        }
        Op::Advert { priority, v3, int, vrid_off, multicast, ttl, from_low } => {
            let a = Advert {
                version: if *v3 { Version::V3 } else { Version::V2 },
                vrid: c.vrid.wrapping_add(u8::from(*vrid_off)),
                priority: *priority,
                auth_type: if c.auth_pass.is_some() { wire::AUTH_PASS } else { wire::AUTH_NONE },
                adver_int: if *v3 { *int } else { *int / 100 },
                addresses: c.addresses.clone(),
                auth_data: c.auth_pass.unwrap_or([0; 8]),
                checksum: 0,
            };
            let (src, dst) = (peer(*from_low), if *multicast { group } else { c.primary });
            let _ = i.handle_advert(src, dst, *ttl, &a.encode(src, dst), now);
        }
        _ => unreachable!(),
    }
}

proptest! {
    #[test]
    fn normalization_is_idempotent_and_keeps_its_promises(c in any_config()) {
        let mut once = c.clone();
        if once.normalize().is_ok() {
            prop_assert!(once.vrid != 0 && once.priority != 0);
            match once.version {
                Version::V2 => prop_assert!(once.advert_int_cs % 100 == 0 && (100..=25_500).contains(&once.advert_int_cs)),
                Version::V3 => prop_assert!((1..=4095).contains(&once.advert_int_cs)),
            }
            prop_assert!(once.auth_pass.is_none() || (once.version == Version::V2 && !once.strict));
            prop_assert!(once.priority != 255 || once.preempt);
            prop_assert!(once.initial != InitialState::Master || (once.preempt && once.preempt_delay_ms == 0));
            let mut twice = once.clone();
            prop_assert_eq!(twice.normalize(), Ok(vec![]));
            prop_assert_eq!(twice, once);
        }
    }

    #[test]
    fn any_sequence_keeps_the_instance_consistent(c in any_config(), ops in proptest::collection::vec(any_op(), 0..60)) {
        let Ok(mut i) = Instance::new(c, 1_000) else { return Ok(()) };
        let (mut now, mut state, mut adverts) = (1_000u64, State::Init, 0u64);
        for op in &ops {
            match op {
                Op::Bytes(..) | Op::Advert { .. } => {
                    advert_op(&mut i, op, now);
                    adverts += 1;
                }
                Op::Wait(ms) => {
                    now += ms;
                    while let Some(t) = i.poll_timeout().filter(|t| *t <= now) {
                        i.handle_timeout(t);
                    }
                }
                Op::Fault(f) => i.set_fault(*f, now),
                Op::Priority(p) => i.set_priority(*p, now),
                Op::Shutdown => i.shutdown(now),
            }
            while let Some(e) = i.poll_event() {
                if let Event::StateChanged { from, to, .. } = e {
                    prop_assert_eq!(from, state);
                    prop_assert_ne!(from, to);
                    state = to;
                }
            }
            prop_assert_eq!(state, i.state());
            prop_assert_eq!(i.poll_timeout().is_some(), matches!(i.state(), State::Backup | State::Master));
            while let Some(t) = i.poll_transmit() {
                prop_assert_eq!(t.ttl, 255);
                let ok = decode(&t.payload, t.src, t.dst).is_ok()
                    || decode(&t.payload, t.src, wire::mcast_group(t.src)).is_ok();
                prop_assert!(ok, "an advert we sent does not decode");
            }
            let s = i.stats();
            prop_assert_eq!(s.adverts_received + s.rejections().map(|(_, n)| n).sum::<u64>(), adverts);
        }
    }
}
