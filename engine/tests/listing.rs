//! The paged connection listing (`xvs ctl -L -c` on a large table): pages of at most
//! `max` entries that together are exactly the table, IPv4 then IPv6, so a poll loop can
//! serve a listing of millions a page between batches.

mod common;

use std::collections::BTreeSet;

use common::*;
use xvs_engine::{EngineConfig, Forward, ListCursor};

#[test]
fn pages_are_bounded_and_cover_the_table_once() {
    let mut c: EngineConfig = simple(false, UDP, 53, 53, Forward::Dr, "rr", 2);
    c.services.extend(simple(true, UDP, 53, 53, Forward::Dr, "rr", 2).services);
    c.max_connections = 10_000;
    let mut lb = Lb::new(c);
    for i in 0..3000u32 {
        let v6 = i % 3 == 0;
        lb.verdict(&udp(sa(cip(v6, i), 1000 + (i % 7) as u16), sa(vip(v6), 53), b"q"), 0);
    }
    // Some gone, so pages skip free slots.
    lb.tick(1);
    let all: BTreeSet<String> = lb.e.connections().iter().map(|c| format!("{c:?}")).collect();
    assert_eq!(all.len(), 3000);
    let (mut seen, mut pages, mut cursor) = (BTreeSet::new(), 0, Some(ListCursor::default()));
    while let Some(from) = cursor {
        let (page, next) = lb.e.connections_page(from, 256);
        assert!(page.len() <= 256);
        pages += 1;
        for c in page {
            assert!(seen.insert(format!("{c:?}")), "listed twice: {c:?}");
        }
        cursor = next;
    }
    assert_eq!(seen, all);
    assert!(pages >= 3000 / 256, "{pages} pages");
}
