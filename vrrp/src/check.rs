//! The checks a received advert passes before it can touch an instance's state, in the
//! order keepalived 2.2.7 makes them (`vrrp_check_packet`), so that a bad advert is counted
//! under the reason keepalived would log.
//!
//! Order: length against the count; TTL 255 (multicast instances only: keepalived accepts
//! any TTL on unicast); version; VRRPv2 auth type (defined, then the instance's), PASS data,
//! advert interval; packet type; address count (when addresses are checked); IPv4
//! checksum (IPv6's is the kernel's in keepalived, so the instance checks it before
//! dispatch); multicast vs unicast destination; every configured address present (when
//! checked).
//!
//! Invariants: pure (reads the advert and the expectation, changes nothing); never panics
//! (the header was parsed, lengths are compared before any address is read).

use std::net::IpAddr;

use crate::config::Version;
use crate::stats::Reject;
use crate::wire::{self, Header};

/// What the instance expects of an advert.
pub(crate) struct Expect<'a> {
    pub version: Version,
    pub v6: bool,
    pub unicast: bool,
    /// VRRPv2 PASS password, if authenticating.
    pub auth: Option<[u8; 8]>,
    pub interval_cs: u16,
    /// The addresses the instance advertises itself.
    pub addresses: &'a [IpAddr],
    /// VRRPv3 IPv4 unicast: the peer uses keepalived ≤ 1.3.6's checksum (the multicast group
    /// as pseudo-header destination), and so does this instance now.
    pub old_unicast_checksum: bool,
}

/// A received packet.
#[derive(Clone, Copy)]
pub(crate) struct Rx<'a> {
    pub src: IpAddr,
    pub dst: IpAddr,
    pub ttl: u8,
    pub msg: &'a [u8],
}

/// Which checksum form a valid IPv4 VRRPv3 advert used.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ChecksumForm {
    Standard,
    /// The multicast group as pseudo-header destination of a unicast advert.
    OldUnicast,
}

/// Whether `dst` is a multicast address.
pub(crate) fn is_multicast(dst: IpAddr) -> bool {
    dst.is_multicast()
}

pub(crate) fn check(exp: &Expect, rx: Rx, h: &Header, check_addr: bool) -> Result<ChecksumForm, Reject> {
    wire::check_len(rx.msg, h, exp.v6)?;
    if !exp.unicast && rx.ttl != wire::TTL {
        return Err(Reject::BadTtl);
    }
    if h.version != exp.version.number() {
        return Err(Reject::BadVersion);
    }
    if exp.version == Version::V2 {
        check_v2(exp, rx, h)?;
    }
    if h.kind != wire::TYPE_ADVERT {
        return Err(Reject::BadType);
    }
    if check_addr && usize::from(h.count) != exp.addresses.len() {
        return Err(Reject::AddressMismatch);
    }
    let form = if exp.v6 { ChecksumForm::Standard } else { checksum_v4(exp, rx)? };
    if !exp.v6 && is_multicast(rx.dst) == exp.unicast {
        return Err(Reject::CastMismatch);
    }
    if check_addr {
        let theirs = wire::addresses(rx.msg, h.count, exp.v6);
        if exp.addresses.iter().any(|a| !theirs.contains(a)) {
            return Err(Reject::AddressMismatch);
        }
    }
    Ok(form)
}

fn check_v2(exp: &Expect, rx: Rx, h: &Header) -> Result<(), Reject> {
    if !matches!(h.auth_type, wire::AUTH_NONE | wire::AUTH_PASS | wire::AUTH_AH) {
        return Err(Reject::BadAuthType);
    }
    let ours = if exp.auth.is_some() { wire::AUTH_PASS } else { wire::AUTH_NONE };
    if h.auth_type != ours {
        return Err(Reject::AuthTypeMismatch);
    }
    if let Some(pass) = exp.auth {
        // The length was checked: the last 8 bytes are the auth data (IPv4 only; PASS is
        // never configured over IPv6).
        if rx.msg[rx.msg.len() - wire::AUTH_LEN..] != pass {
            return Err(Reject::AuthMismatch);
        }
    }
    if h.interval_cs() != u32::from(exp.interval_cs) {
        return Err(Reject::AdvertIntervalMismatch);
    }
    Ok(())
}

fn checksum_v4(exp: &Expect, rx: Rx) -> Result<ChecksumForm, Reject> {
    let group = IpAddr::V4(wire::MCAST_V4);
    let old_form_possible = exp.unicast && exp.version == Version::V3 && rx.dst != group;
    if exp.old_unicast_checksum && old_form_possible {
        // keepalived, once switched, checks only the old form.
        return if wire::checksum_ok(rx.msg, rx.src, group) {
            Ok(ChecksumForm::OldUnicast)
        } else {
            Err(Reject::BadChecksum)
        };
    }
    if wire::checksum_ok(rx.msg, rx.src, rx.dst) {
        Ok(ChecksumForm::Standard)
    } else if old_form_possible && wire::checksum_ok(rx.msg, rx.src, group) {
        Ok(ChecksumForm::OldUnicast)
    } else {
        Err(Reject::BadChecksum)
    }
}
