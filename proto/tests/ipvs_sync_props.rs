//! IPVS sync messages: any datagram parses or is refused without a panic, and what the
//! writer writes parses back to the same entries.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use proptest::prelude::*;
use xvs_proto::ipvs_sync::{SyncConn, SyncEntry, SyncMessage, SyncWriter, SYNC_MAXLEN_DEFAULT};

fn conn() -> impl Strategy<Value = SyncConn> {
    (
        any::<bool>(),
        any::<[u8; 16]>(),
        any::<[u8; 16]>(),
        any::<[u8; 16]>(),
        any::<(u8, u32, u16, u16, u16, u16)>(),
        any::<(u32, u32)>(),
    )
        .prop_map(|(v6, c, v, d, (protocol, flags, state, cport, vport, dport), (fwmark, timeout))| {
            let addr = |b: [u8; 16]| -> IpAddr {
                if v6 {
                    IpAddr::V6(Ipv6Addr::from(b))
                } else {
                    IpAddr::V4(Ipv4Addr::new(b[0], b[1], b[2], b[3]))
                }
            };
            SyncConn {
                protocol,
                // The writer clears HASHED, as the kernel's sender does.
                flags: flags & !0x40,
                state,
                cport,
                vport,
                dport,
                fwmark,
                timeout,
                caddr: addr(c),
                vaddr: addr(v),
                daddr: addr(d),
            }
        })
}

proptest! {
    #[test]
    fn any_bytes_parse_or_are_refused(bytes in proptest::collection::vec(any::<u8>(), 0..600), syncid in any::<u8>()) {
        if let Ok(m) = SyncMessage::parse(&bytes, syncid) {
            prop_assert!(m.entries().count() <= m.count as usize);
        }
    }

    #[test]
    fn written_messages_parse_back(conns in proptest::collection::vec(conn(), 0..60), syncid in 1u8..) {
        let mut buf = [0u8; SYNC_MAXLEN_DEFAULT];
        let mut w = SyncWriter::new(&mut buf, syncid).unwrap();
        let taken: Vec<SyncConn> = conns.iter().take_while(|c| w.push(c)).copied().collect();
        prop_assert!(w.bytes().len() <= SYNC_MAXLEN_DEFAULT);
        let m = SyncMessage::parse(w.bytes(), syncid).unwrap();
        let back: Vec<SyncEntry> = m.entries().collect();
        prop_assert_eq!(back, taken.into_iter().map(SyncEntry::Conn).collect::<Vec<_>>());
    }
}
