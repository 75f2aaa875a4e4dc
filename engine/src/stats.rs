//! Counters: per real (a service's are the sum of its reals',
//! `ServiceTable::service_stats`), and drops by reason.
//!
//! Invariants: every frame given to the pipeline ends as exactly one of transmitted,
//! passed to the kernel, or dropped with one reason, so
//! `rx == tx + passed + sum(drops)` after every batch. Counters only grow.

use xvs_proto::ClassifyError;

use crate::port::Verdict;

/// Why a frame was dropped. Names are stable: they are metric labels and replay output.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
pub enum DropReason {
    Truncated,
    BadIpHeader,
    BadL4Header,
    BadExtHeaders,
    /// A TCP segment that is not a SYN, for a service, with no connection.
    TcpNoConn,
    /// A packet whose L4 protocol xvs does not serve, addressed to a VIP.
    UnsupportedProto,
    /// The scheduler found no available real and there is no sorry server.
    NoReal,
    /// The connection table is full and nothing could be evicted.
    ConnTableFull,
    /// No MAC known for the next hop.
    NeighborMiss,
    /// A routed reply whose TTL / hop limit ran out.
    TtlExpired,
    /// A non-first fragment whose first fragment was not seen (or expired).
    FragNoFirst,
    /// Bigger than the egress MTU, DF clear, and xvs does not fragment.
    MtuExceeded,
    /// The buffer had no room to prepend the tunnel header.
    NoHeadroom,
    /// An IPv4 client on an IPv6 real or the reverse.
    FamilyMismatch,
    /// The connection's real was removed and `expire_nodest_conn` is set.
    NoDest,
    /// Another connection already owns this NAT reply tuple.
    NatClash,
    /// A tunnel real but no director address for the outer header.
    NoTunnelSource,
    /// A frame that does not match the parsed view any more (internal consistency).
    RewriteMismatch,
    /// A new connection for a service on standby (its VIP's VRRP instance is not MASTER).
    Standby,
    /// Too big for the egress MTU, and the ICMP answer was over its rate limit.
    IcmpRateLimited,
    /// A new connection whose key found no free index slot within the probe bound
    /// (`index::MAX_PROBE`): colliding keys (hash flooding), or a very full table.
    HashProbeLimit,
    /// A packet without a connection for a service that was removed and whose
    /// connections still drain (IPVS drops these silently; the kernel would reset them).
    ServiceRemoved,
    /// A packet that would start a connection from a source the service's `allow`/`deny`
    /// lists refuse.
    SourceDenied,
    /// An SCTP packet other than an INIT, for a service, with no connection.
    SctpNoConn,
}

impl DropReason {
    pub const ALL: [DropReason; 24] = [
        DropReason::Truncated,
        DropReason::BadIpHeader,
        DropReason::BadL4Header,
        DropReason::BadExtHeaders,
        DropReason::TcpNoConn,
        DropReason::UnsupportedProto,
        DropReason::NoReal,
        DropReason::ConnTableFull,
        DropReason::NeighborMiss,
        DropReason::TtlExpired,
        DropReason::FragNoFirst,
        DropReason::MtuExceeded,
        DropReason::NoHeadroom,
        DropReason::FamilyMismatch,
        DropReason::NoDest,
        DropReason::NatClash,
        DropReason::NoTunnelSource,
        DropReason::RewriteMismatch,
        DropReason::Standby,
        DropReason::IcmpRateLimited,
        DropReason::HashProbeLimit,
        DropReason::ServiceRemoved,
        DropReason::SourceDenied,
        DropReason::SctpNoConn,
    ];
    pub const COUNT: usize = Self::ALL.len();

    pub fn name(self) -> &'static str {
        match self {
            DropReason::Truncated => "truncated",
            DropReason::BadIpHeader => "bad_ip_header",
            DropReason::BadL4Header => "bad_l4_header",
            DropReason::BadExtHeaders => "bad_ext_headers",
            DropReason::TcpNoConn => "tcp_no_conn",
            DropReason::UnsupportedProto => "unsupported_proto",
            DropReason::NoReal => "no_real",
            DropReason::ConnTableFull => "conn_table_full",
            DropReason::NeighborMiss => "neighbor_miss",
            DropReason::TtlExpired => "ttl_expired",
            DropReason::FragNoFirst => "frag_no_first",
            DropReason::MtuExceeded => "mtu_exceeded",
            DropReason::NoHeadroom => "no_headroom",
            DropReason::FamilyMismatch => "family_mismatch",
            DropReason::NoDest => "nodest",
            DropReason::NatClash => "nat_clash",
            DropReason::NoTunnelSource => "no_tunnel_source",
            DropReason::RewriteMismatch => "rewrite_mismatch",
            DropReason::Standby => "standby",
            DropReason::IcmpRateLimited => "icmp_rate_limited",
            DropReason::HashProbeLimit => "hash_probe_limit",
            DropReason::ServiceRemoved => "service_removed",
            DropReason::SourceDenied => "source_denied",
            DropReason::SctpNoConn => "sctp_no_conn",
        }
    }

    /// The drop reason for a classification failure (`NotIp` is not a drop: it passes).
    pub fn from_classify(e: ClassifyError) -> Option<DropReason> {
        match e {
            ClassifyError::NotIp => None,
            ClassifyError::Truncated => Some(DropReason::Truncated),
            ClassifyError::BadIp => Some(DropReason::BadIpHeader),
            ClassifyError::BadL4 => Some(DropReason::BadL4Header),
            ClassifyError::BadExtHeaders => Some(DropReason::BadExtHeaders),
        }
    }
}

/// Traffic counters of one service or one real, as IPVS keeps them. Serialized with
/// ipvsadm's column names (`conns`, `inpkts`, ...), as every JSON listing shows them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct Counters {
    pub conns: u64,
    #[serde(rename = "inpkts")]
    pub pkts_in: u64,
    #[serde(rename = "outpkts")]
    pub pkts_out: u64,
    #[serde(rename = "inbytes")]
    pub bytes_in: u64,
    #[serde(rename = "outbytes")]
    pub bytes_out: u64,
}

impl Counters {
    /// Count one packet of `bytes`: in (toward a real) or out (toward a client).
    #[inline(always)]
    pub fn add_packet(&mut self, inbound: bool, bytes: u64) {
        if inbound {
            self.pkts_in += 1;
            self.bytes_in += bytes;
        } else {
            self.pkts_out += 1;
            self.bytes_out += bytes;
        }
    }

    /// The five counters in field order.
    fn to_array(self) -> [u64; 5] {
        [self.conns, self.pkts_in, self.pkts_out, self.bytes_in, self.bytes_out]
    }

    fn from_array([conns, pkts_in, pkts_out, bytes_in, bytes_out]: [u64; 5]) -> Counters {
        Counters { conns, pkts_in, pkts_out, bytes_in, bytes_out }
    }

    /// `f` applied to each pair of counters.
    fn zip_with(self, other: Counters, f: impl Fn(u64, u64) -> u64) -> Counters {
        let (a, b) = (self.to_array(), other.to_array());
        Counters::from_array(std::array::from_fn(|i| f(a[i], b[i])))
    }

    /// `self - base`, each counter floored at zero (a `-Z` baseline above a counter that
    /// restarted counts from zero).
    pub fn since(&self, base: &Counters) -> Counters {
        self.zip_with(*base, u64::saturating_sub)
    }

    /// True when any counter is below `last`'s (the counters restarted).
    pub fn restarted_since(&self, last: &Counters) -> bool {
        self.to_array().iter().zip(last.to_array()).any(|(now, last)| *now < last)
    }
}

impl std::ops::AddAssign for Counters {
    fn add_assign(&mut self, b: Counters) {
        *self = self.zip_with(b, |x, y| x + y);
    }
}

/// Engine-wide counters.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EngineStats {
    pub rx: u64,
    pub tx: u64,
    pub passed: u64,
    pub drops: [u64; DropReason::COUNT],
    pub conns_created: u64,
    pub conns_expired: u64,
    pub conns_evicted: u64,
    /// Connections that became verified (README "Defences").
    pub conns_verified: u64,
    /// Packets of hash-scheduled DR/TUN services forwarded without an entry because the
    /// table was full of verified connections.
    pub stateless_forwarded: u64,
    pub templates_created: u64,
    pub templates_expired: u64,
    pub icmp_too_big_sent: u64,
    /// First-fragment records displaced by another datagram's before their time.
    pub frags_displaced: u64,
    pub ops_scheduled: u64,
    pub sync: crate::sync::SyncStats,
}

impl std::ops::AddAssign<&EngineStats> for EngineStats {
    fn add_assign(&mut self, b: &EngineStats) {
        self.rx += b.rx;
        self.tx += b.tx;
        self.passed += b.passed;
        for (x, y) in self.drops.iter_mut().zip(b.drops.iter()) {
            *x += y;
        }
        self.conns_created += b.conns_created;
        self.conns_expired += b.conns_expired;
        self.conns_evicted += b.conns_evicted;
        self.conns_verified += b.conns_verified;
        self.stateless_forwarded += b.stateless_forwarded;
        self.templates_created += b.templates_created;
        self.templates_expired += b.templates_expired;
        self.icmp_too_big_sent += b.icmp_too_big_sent;
        self.frags_displaced += b.frags_displaced;
        self.ops_scheduled += b.ops_scheduled;
        self.sync += &b.sync;
    }
}

impl EngineStats {
    /// Count a frame and its verdict (with `count_sent`, the one place frames are
    /// counted).
    #[inline(always)]
    pub fn count(&mut self, v: &Verdict) {
        self.rx += 1;
        match v {
            Verdict::Tx { .. } => self.tx += 1,
            Verdict::Pass => self.passed += 1,
            Verdict::Drop(r) => self.drop(*r),
        }
    }

    /// Count `n` frames whose verdict is `Tx`: what `n` calls of [`count`](Self::count)
    /// with `Tx` would (a run of the fast path, or a group of the staged loop, counts
    /// its transmitted frames once, at its end).
    #[inline(always)]
    pub fn count_sent(&mut self, n: u64) {
        self.rx += n;
        self.tx += n;
    }

    #[inline]
    pub fn drop(&mut self, r: DropReason) {
        self.drops[r as usize] += 1;
    }

    pub fn dropped(&self) -> u64 {
        self.drops.iter().sum()
    }

    /// Non-zero drop counters by name.
    pub fn drops_by_reason(&self) -> impl Iterator<Item = (&'static str, u64)> + '_ {
        DropReason::ALL.iter().map(|r| (r.name(), self.drops[*r as usize])).filter(|(_, n)| *n > 0)
    }
}
