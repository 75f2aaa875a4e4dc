//! Why an advert was not taken ([`Reject`]) and an instance's counters ([`Stats`]).
//!
//! Invariants:
//! - Every advert given to `Instance::handle_advert` is counted exactly once: in
//!   `adverts_received` when it passed every check, else under its one [`Reject`] reason.
//! - [`Reject::ALL`] lists every reason once, in declaration order, and [`Reject::name`]
//!   is unique and stable (a metrics label).
//! - Not every reason is an error: [`Reject::WrongVrid`] (another instance's advert) and
//!   [`Reject::Inactive`] (the instance is in FAULT or stopped) are expected on a shared
//!   LAN; [`Stats::errors`] leaves them out.

/// Why an advert was dropped.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Reject {
    /// Shorter than the fixed header, or than its address count says.
    Truncated,
    /// Longer than its address count says.
    BadLength,
    /// Another VRID: not for this instance (not an error).
    WrongVrid,
    /// The instance is in FAULT or stopped and ignores adverts, as keepalived does (not an
    /// error).
    Inactive,
    /// Source (or destination) of the other address family.
    WrongFamily,
    /// TTL / hop limit other than 255 on a multicast instance.
    BadTtl,
    /// Not the instance's VRRP version (or no defined version at all).
    BadVersion,
    /// VRRPv2 auth type other than 0, 1 or 2.
    BadAuthType,
    /// VRRPv2 auth type other than the instance's.
    AuthTypeMismatch,
    /// VRRPv2 PASS data other than the instance's password.
    AuthMismatch,
    /// VRRPv2 advert interval other than the instance's (keepalived drops these).
    AdvertIntervalMismatch,
    /// Packet type other than 1 (advertisement).
    BadType,
    /// Address count or list other than the instance's.
    AddressMismatch,
    /// Checksum wrong.
    BadChecksum,
    /// Multicast received by a unicast instance, or unicast by a multicast one.
    CastMismatch,
}

impl Reject {
    /// Every reason, in declaration order.
    pub const ALL: [Reject; 15] = [
        Reject::Truncated,
        Reject::BadLength,
        Reject::WrongVrid,
        Reject::Inactive,
        Reject::WrongFamily,
        Reject::BadTtl,
        Reject::BadVersion,
        Reject::BadAuthType,
        Reject::AuthTypeMismatch,
        Reject::AuthMismatch,
        Reject::AdvertIntervalMismatch,
        Reject::BadType,
        Reject::AddressMismatch,
        Reject::BadChecksum,
        Reject::CastMismatch,
    ];

    /// A stable snake_case name (a metrics label).
    pub fn name(self) -> &'static str {
        match self {
            Reject::Truncated => "truncated",
            Reject::BadLength => "bad_length",
            Reject::WrongVrid => "wrong_vrid",
            Reject::Inactive => "inactive",
            Reject::WrongFamily => "wrong_family",
            Reject::BadTtl => "bad_ttl",
            Reject::BadVersion => "bad_version",
            Reject::BadAuthType => "bad_auth_type",
            Reject::AuthTypeMismatch => "auth_type_mismatch",
            Reject::AuthMismatch => "auth_mismatch",
            Reject::AdvertIntervalMismatch => "advert_interval_mismatch",
            Reject::BadType => "bad_type",
            Reject::AddressMismatch => "address_mismatch",
            Reject::BadChecksum => "bad_checksum",
            Reject::CastMismatch => "cast_mismatch",
        }
    }

    /// Whether this is a malformed or mismatched advert (as opposed to one that is simply
    /// not for this instance, or arrives while it listens to none).
    pub fn is_error(self) -> bool {
        !matches!(self, Reject::WrongVrid | Reject::Inactive)
    }

    fn index(self) -> usize {
        Reject::ALL.iter().position(|r| *r == self).unwrap_or(0)
    }
}

impl std::fmt::Display for Reject {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// An instance's counters (monotonic).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Adverts sent (one per advert, whatever the number of unicast peers it goes to).
    pub adverts_sent: u64,
    /// Adverts that passed every check.
    pub adverts_received: u64,
    pub priority_zero_sent: u64,
    pub priority_zero_received: u64,
    /// Valid adverts of a lower priority discarded by a BACKUP that preempts.
    pub lower_priority_discarded: u64,
    pub became_master: u64,
    pub released_master: u64,
    /// VRRPv3 IPv4 unicast adverts whose checksum used the multicast group as pseudo-header
    /// destination (keepalived ≤ 1.3.6); seeing one switches this instance to that form.
    pub old_unicast_checksums: u64,
    rejected: [u64; Reject::ALL.len()],
}

impl Stats {
    /// Adverts dropped for `reason`.
    pub fn rejected(&self, reason: Reject) -> u64 {
        self.rejected[reason.index()]
    }

    /// Every reason with its count, in [`Reject::ALL`] order.
    pub fn rejections(&self) -> impl Iterator<Item = (Reject, u64)> + '_ {
        Reject::ALL.iter().map(|r| (*r, self.rejected(*r)))
    }

    /// Adverts dropped as errors ([`Reject::is_error`]).
    pub fn errors(&self) -> u64 {
        self.rejections().filter(|(r, _)| r.is_error()).map(|(_, n)| n).sum()
    }

    pub(crate) fn reject(&mut self, reason: Reject) {
        self.rejected[reason.index()] += 1;
    }
}
