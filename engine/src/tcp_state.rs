//! IPVS's TCP connection states and transition tables.
//!
//! Invariants: the three tables (INPUT: client->server seen on a NAT connection,
//! OUTPUT: server->client, INPUT_ONLY: DR/TUN where only client->server is seen) have the
//! kernel's next-state entries (`net/netfilter/ipvs/ip_vs_proto_tcp.c`, `tcp_states`,
//! secure_tcp off), indexed by the first of RST, SYN, FIN, ACK present in the segment;
//! a segment with none of those flags moves the connection to CLOSE, as in the kernel.
//! Only ESTABLISHED counts as an active connection.

use xvs_proto::tcp_flags;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
pub enum TcpState {
    None = 0,
    Established = 1,
    SynSent = 2,
    SynRecv = 3,
    FinWait = 4,
    TimeWait = 5,
    Close = 6,
    CloseWait = 7,
    LastAck = 8,
    Listen = 9,
    SynAck = 10,
}

pub const NUM_TCP_STATES: usize = 11;

impl TcpState {
    pub const ALL: [TcpState; NUM_TCP_STATES] = [
        TcpState::None,
        TcpState::Established,
        TcpState::SynSent,
        TcpState::SynRecv,
        TcpState::FinWait,
        TcpState::TimeWait,
        TcpState::Close,
        TcpState::CloseWait,
        TcpState::LastAck,
        TcpState::Listen,
        TcpState::SynAck,
    ];

    #[inline]
    pub fn from_u8(v: u8) -> TcpState {
        Self::ALL.get(v as usize).copied().unwrap_or(TcpState::Close)
    }

    /// The name ipvsadm prints.
    pub fn name(self) -> &'static str {
        match self {
            TcpState::None => "NONE",
            TcpState::Established => "ESTABLISHED",
            TcpState::SynSent => "SYN_SENT",
            TcpState::SynRecv => "SYN_RECV",
            TcpState::FinWait => "FIN_WAIT",
            TcpState::TimeWait => "TIME_WAIT",
            TcpState::Close => "CLOSE",
            TcpState::CloseWait => "CLOSE_WAIT",
            TcpState::LastAck => "LAST_ACK",
            TcpState::Listen => "LISTEN",
            TcpState::SynAck => "SYNACK",
        }
    }

    /// Half-open states: the first candidates for eviction when the table is full.
    pub fn is_half_open(self) -> bool {
        matches!(self, TcpState::None | TcpState::SynRecv | TcpState::SynSent | TcpState::SynAck)
    }

    /// States after which a new SYN from the same client port starts a new connection
    /// (IPVS `conn_reuse_mode`).
    pub fn is_closing(self) -> bool {
        matches!(
            self,
            TcpState::TimeWait | TcpState::Close | TcpState::CloseWait | TcpState::LastAck | TcpState::FinWait
        )
    }
}

/// Which packets of a connection the director sees.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    /// client -> server on a connection whose replies also pass (NAT)
    Input,
    /// server -> client (NAT replies)
    Output,
    /// client -> server where replies bypass the director (DR, TUN)
    InputOnly,
}

use TcpState::{
    Close as CL, CloseWait as CW, Established as ES, FinWait as FW, LastAck as LA, Listen as LI, SynRecv as SR,
    SynSent as SS, TimeWait as TW,
};
#[allow(unused_imports)]
use TcpState::{None as NO, SynAck as SA};

type Row = [TcpState; NUM_TCP_STATES];

//                      from: NO  ES  SS  SR  FW  TW  CL  CW  LA  LI  SA
const INPUT: [Row; 4] = [
    /* syn */ [SR, ES, ES, SR, SR, SR, SR, SR, SR, SR, SR],
    /* fin */ [CL, CW, SS, TW, TW, TW, CL, CW, LA, LI, TW],
    /* ack */ [ES, ES, SS, ES, FW, TW, CL, CW, CL, LI, ES],
    /* rst */ [CL, CL, CL, SR, CL, CL, CL, CL, LA, LI, SR],
];
const OUTPUT: [Row; 4] = [
    /* syn */ [SS, ES, SS, SR, SS, SS, SS, SS, SS, LI, SR],
    /* fin */ [TW, FW, SS, TW, FW, TW, CL, TW, LA, LI, TW],
    /* ack */ [ES, ES, SS, ES, FW, TW, CL, CW, LA, ES, ES],
    /* rst */ [CL, CL, SS, CL, CL, TW, CL, CL, CL, CL, CL],
];
const INPUT_ONLY: [Row; 4] = [
    /* syn */ [SR, ES, ES, SR, SR, SR, SR, SR, SR, SR, SR],
    /* fin */ [CL, FW, SS, TW, FW, TW, CL, CW, LA, LI, TW],
    /* ack */ [ES, ES, SS, ES, FW, TW, CL, CW, CL, LI, ES],
    /* rst */ [CL, CL, CL, SR, CL, CL, CL, CL, LA, LI, CL],
];

/// The next state after a segment with `flags` in direction `dir`.
#[inline]
pub fn next_state(state: TcpState, dir: Direction, flags: u8) -> TcpState {
    let row = if flags & tcp_flags::RST != 0 {
        3
    } else if flags & tcp_flags::SYN != 0 {
        0
    } else if flags & tcp_flags::FIN != 0 {
        1
    } else if flags & tcp_flags::ACK != 0 {
        2
    } else {
        return TcpState::Close;
    };
    let table = match dir {
        Direction::Input => &INPUT,
        Direction::Output => &OUTPUT,
        Direction::InputOnly => &INPUT_ONLY,
    };
    table[row][state as usize]
}

/// Per-state timeouts in milliseconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timeouts {
    pub tcp: [u32; NUM_TCP_STATES],
    pub udp: u32,
    /// SCTP's, by `SctpState` (IPVS's; `ipvsadm --set` has none for SCTP).
    pub sctp: [u32; crate::sctp_state::NUM_SCTP_STATES],
}

impl Timeouts {
    /// IPVS defaults, with `tcp`, `tcp_fin` and `udp` in seconds as `ipvsadm --set` takes
    /// them (`tcp` sets ESTABLISHED, `tcp_fin` sets FIN_WAIT).
    pub fn from_secs(tcp: u32, tcp_fin: u32, udp: u32) -> Timeouts {
        let s = |x: u32| x.saturating_mul(1000);
        let mut t = [0u32; NUM_TCP_STATES];
        t[TcpState::None as usize] = s(2);
        t[TcpState::Established as usize] = s(tcp);
        t[TcpState::SynSent as usize] = s(120);
        t[TcpState::SynRecv as usize] = s(60);
        t[TcpState::FinWait as usize] = s(tcp_fin);
        t[TcpState::TimeWait as usize] = s(120);
        t[TcpState::Close as usize] = s(10);
        t[TcpState::CloseWait as usize] = s(60);
        t[TcpState::LastAck as usize] = s(30);
        t[TcpState::Listen as usize] = s(120);
        t[TcpState::SynAck as usize] = s(120);
        Timeouts { tcp: t, udp: s(udp), sctp: crate::sctp_state::default_timeouts() }
    }
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts::from_secs(900, 120, 300)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tcp_flags::{ACK, FIN, RST, SYN};

    /// What the fast path (`pipeline::fast`) rests on: ESTABLISHED with ACK and no
    /// SYN, FIN or RST (any other bits) stays ESTABLISHED in every direction's table.
    #[test]
    fn established_ack_stays_established() {
        for dir in [Direction::Input, Direction::Output, Direction::InputOnly] {
            for other in 0..=u8::MAX {
                let flags = (other & !(SYN | FIN | RST)) | ACK;
                assert_eq!(next_state(TcpState::Established, dir, flags), TcpState::Established, "{dir:?} {flags:#x}");
            }
        }
    }

    #[test]
    fn nat_handshake_data_and_close() {
        let mut s = TcpState::None;
        s = next_state(s, Direction::Input, SYN);
        assert_eq!(s, TcpState::SynRecv);
        s = next_state(s, Direction::Output, SYN | ACK);
        assert_eq!(s, TcpState::SynRecv);
        s = next_state(s, Direction::Input, ACK);
        assert_eq!(s, TcpState::Established);
        s = next_state(s, Direction::Input, FIN | ACK);
        assert_eq!(s, TcpState::CloseWait);
        s = next_state(s, Direction::Output, FIN | ACK);
        assert_eq!(s, TcpState::TimeWait);
    }

    #[test]
    fn dr_sees_input_only() {
        let mut s = TcpState::None;
        for (flags, want) in [
            (SYN, TcpState::SynRecv),
            (ACK, TcpState::Established),
            (FIN | ACK, TcpState::FinWait),
            (ACK, TcpState::FinWait),
            (RST, TcpState::Close),
        ] {
            s = next_state(s, Direction::InputOnly, flags);
            assert_eq!(s, want);
        }
    }

    /// The kernel's `tcp_states[]` (ip_vs_proto_tcp.c, secure_tcp off), as printed there.
    const KERNEL: &str = "
/*	INPUT */
/*syn*/ {{sSR, sES, sES, sSR, sSR, sSR, sSR, sSR, sSR, sSR, sSR }},
/*fin*/ {{sCL, sCW, sSS, sTW, sTW, sTW, sCL, sCW, sLA, sLI, sTW }},
/*ack*/ {{sES, sES, sSS, sES, sFW, sTW, sCL, sCW, sCL, sLI, sES }},
/*rst*/ {{sCL, sCL, sCL, sSR, sCL, sCL, sCL, sCL, sLA, sLI, sSR }},
/*	OUTPUT */
/*syn*/ {{sSS, sES, sSS, sSR, sSS, sSS, sSS, sSS, sSS, sLI, sSR }},
/*fin*/ {{sTW, sFW, sSS, sTW, sFW, sTW, sCL, sTW, sLA, sLI, sTW }},
/*ack*/ {{sES, sES, sSS, sES, sFW, sTW, sCL, sCW, sLA, sES, sES }},
/*rst*/ {{sCL, sCL, sSS, sCL, sCL, sTW, sCL, sCL, sCL, sCL, sCL }},
/*	INPUT-ONLY */
/*syn*/ {{sSR, sES, sES, sSR, sSR, sSR, sSR, sSR, sSR, sSR, sSR }},
/*fin*/ {{sCL, sFW, sSS, sTW, sFW, sTW, sCL, sCW, sLA, sLI, sTW }},
/*ack*/ {{sES, sES, sSS, sES, sFW, sTW, sCL, sCW, sCL, sLI, sES }},
/*rst*/ {{sCL, sCL, sCL, sSR, sCL, sCL, sCL, sCL, sLA, sLI, sCL }},
";

    #[test]
    fn tables_are_the_kernels() {
        let names = ["sNO", "sES", "sSS", "sSR", "sFW", "sTW", "sCL", "sCW", "sLA", "sLI", "sSA"];
        let rows: Vec<Vec<TcpState>> = KERNEL
            .lines()
            .filter_map(|l| l.split_once("{{"))
            .map(|(_, r)| {
                r.trim_end_matches(" }},")
                    .split(", ")
                    .map(|n| TcpState::ALL[names.iter().position(|x| *x == n.trim()).unwrap()])
                    .collect()
            })
            .collect();
        assert_eq!(rows.len(), 12);
        let flags = [SYN, FIN, ACK, RST];
        for (d, dir) in [Direction::Input, Direction::Output, Direction::InputOnly].into_iter().enumerate() {
            for (i, &f) in flags.iter().enumerate() {
                for from in TcpState::ALL {
                    assert_eq!(
                        next_state(from, dir, f),
                        rows[d * 4 + i][from as usize],
                        "{dir:?} {} from {}",
                        ["syn", "fin", "ack", "rst"][i],
                        from.name()
                    );
                }
            }
        }
        // RST wins over everything, then SYN, FIN, ACK (tcp_state_idx).
        assert_eq!(next_state(TcpState::Established, Direction::Input, SYN | RST | FIN | ACK), TcpState::Close);
        assert_eq!(next_state(TcpState::Established, Direction::Output, FIN | ACK), TcpState::FinWait);
        assert_eq!(next_state(TcpState::TimeWait, Direction::Input, SYN | FIN), TcpState::SynRecv);
    }

    #[test]
    fn no_flags_closes() {
        assert_eq!(next_state(TcpState::Established, Direction::Input, 0), TcpState::Close);
    }

    #[test]
    fn defaults_match_ipvs() {
        let t = Timeouts::default();
        assert_eq!(t.tcp[TcpState::Established as usize], 900_000);
        assert_eq!(t.tcp[TcpState::SynRecv as usize], 60_000);
        assert_eq!(t.tcp[TcpState::Close as usize], 10_000);
        assert_eq!(t.udp, 300_000);
    }
}
