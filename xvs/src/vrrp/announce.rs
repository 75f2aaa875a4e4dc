//! What a new MASTER says on the link so that neighbours move the virtual addresses to it:
//! a gratuitous ARP for each IPv4 address, an unsolicited neighbour advertisement for
//! each IPv6 one (RFC 5798 §6.4.2, keepalived's `garp_master_*`).
//!
//! Invariant: the frames are whole Ethernet frames, byte-exact to the RFCs (the NA's
//! ICMPv6 checksum over the pseudo-header included), built without any I/O; sending them
//! is `xvs::sys::send_on_link`'s.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use xvs_proto::checksum::{fold, sum};

const BROADCAST: [u8; 6] = [0xff; 6];
/// All-nodes multicast ff02::1 and its Ethernet address.
const ALL_NODES: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 1);
const ALL_NODES_MAC: [u8; 6] = [0x33, 0x33, 0, 0, 0, 1];

/// The announcement of `addr` from the interface whose MAC is `mac`.
pub fn frame(addr: IpAddr, mac: [u8; 6]) -> Vec<u8> {
    match addr {
        IpAddr::V4(a) => gratuitous_arp(a, mac),
        IpAddr::V6(a) => unsolicited_na(a, mac),
    }
}

fn ethernet(dst: [u8; 6], src: [u8; 6], ethertype: u16) -> Vec<u8> {
    let mut f = Vec::with_capacity(90);
    f.extend_from_slice(&dst);
    f.extend_from_slice(&src);
    f.extend_from_slice(&ethertype.to_be_bytes());
    f
}

/// An ARP request for `addr` from `addr` (RFC 5227's ARP announcement, what keepalived
/// sends), broadcast.
fn gratuitous_arp(addr: Ipv4Addr, mac: [u8; 6]) -> Vec<u8> {
    let mut f = ethernet(BROADCAST, mac, 0x0806);
    f.extend_from_slice(&[0, 1, 0x08, 0x00, 6, 4, 0, 1]); // Ethernet, IPv4, request
    f.extend_from_slice(&mac);
    f.extend_from_slice(&addr.octets());
    f.extend_from_slice(&[0; 6]);
    f.extend_from_slice(&addr.octets());
    f
}

/// An unsolicited neighbour advertisement for `addr` to all nodes: override flag set,
/// with the target link-layer address option, hop limit 255.
fn unsolicited_na(addr: Ipv6Addr, mac: [u8; 6]) -> Vec<u8> {
    let mut icmp = vec![136, 0, 0, 0, 0x20, 0, 0, 0]; // NA, code 0, checksum, O flag
    icmp.extend_from_slice(&addr.octets());
    icmp.extend_from_slice(&[2, 1]); // target link-layer address, 8 bytes
    icmp.extend_from_slice(&mac);
    let len = icmp.len() as u32;
    let mut pseudo = Vec::with_capacity(40);
    pseudo.extend_from_slice(&addr.octets());
    pseudo.extend_from_slice(&ALL_NODES.octets());
    pseudo.extend_from_slice(&len.to_be_bytes());
    pseudo.extend_from_slice(&[0, 0, 0, 58]);
    let csum = !fold(sum(&pseudo) + sum(&icmp));
    icmp[2..4].copy_from_slice(&csum.to_be_bytes());
    let mut f = ethernet(ALL_NODES_MAC, mac, 0x86dd);
    f.extend_from_slice(&[0x60, 0, 0, 0]);
    f.extend_from_slice(&(len as u16).to_be_bytes());
    f.extend_from_slice(&[58, 255]);
    f.extend_from_slice(&addr.octets());
    f.extend_from_slice(&ALL_NODES.octets());
    f.extend_from_slice(&icmp);
    f
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAC: [u8; 6] = [2, 0, 0, 0, 0, 0x0a];

    #[test]
    fn gratuitous_arp_is_an_announcement() {
        let f = frame("192.168.20.50".parse().unwrap(), MAC);
        let want: Vec<u8> = [
            &[0xff; 6][..],
            &MAC,
            &[0x08, 0x06, 0, 1, 0x08, 0, 6, 4, 0, 1],
            &MAC,
            &[192, 168, 20, 50],
            &[0; 6],
            &[192, 168, 20, 50],
        ]
        .concat();
        assert_eq!(f, want);
    }

    #[test]
    fn unsolicited_na_checksums_and_fields() {
        let addr: Ipv6Addr = "2001:db8:20::50".parse().unwrap();
        let f = frame(addr.into(), MAC);
        assert_eq!(&f[..6], &ALL_NODES_MAC);
        assert_eq!(f.len(), 14 + 40 + 32);
        assert_eq!(f[14 + 7], 255, "hop limit");
        let p = etherparse::SlicedPacket::from_ethernet(&f).expect("parses");
        let Some(etherparse::TransportSlice::Icmpv6(icmp)) = p.transport else { panic!("{p:?}") };
        let Some(etherparse::NetSlice::Ipv6(ip)) = p.net else { panic!() };
        let h = ip.header();
        // The checksum, computed independently by etherparse.
        let want = icmp.icmp_type().calc_checksum(h.source(), h.destination(), icmp.payload()).unwrap();
        assert_eq!(icmp.checksum(), want);
        assert_eq!(&f[14 + 40 + 8..14 + 40 + 24], &addr.octets(), "target");
        assert_eq!(&f[14 + 40 + 24..], &[2, 1, 2, 0, 0, 0, 0, 0x0a], "target link-layer option");
    }
}
