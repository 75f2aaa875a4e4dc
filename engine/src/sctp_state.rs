//! IPVS's SCTP association states (`ip_vs_proto_sctp.c`): the state a connection is in
//! as seen at the real, moved by the chunk that decides each packet (see
//! `xvs_proto::Packet::tcp_flags`) and its direction, with IPVS's per-state timeouts.
//!
//! Invariants:
//! - `next_state` is a total function of (state, direction, chunk): every state and chunk
//!   type has a row (an unknown chunk counts as DATA, as in IPVS).
//! - The numbers are IPVS's (`IP_VS_SCTP_S_*`), so they go into sync messages as they are.

use xvs_proto::sctp_chunk;

use crate::tcp_state::Direction;

/// An SCTP connection's state (IPVS's numbering).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
#[repr(u8)]
pub enum SctpState {
    None = 0,
    /// The client's first INIT sent, waiting for the real's INIT ACK.
    Init1,
    /// A later INIT.
    Init,
    /// The real's INIT ACK sent, waiting for the client's COOKIE ECHO.
    CookieSent,
    /// The client's COOKIE ECHO sent, waiting for the real's COOKIE ACK.
    CookieReplied,
    /// The real started one (INIT), waiting for the client's INIT ACK.
    CookieWait,
    Cookie,
    CookieEchoed,
    Established,
    ShutdownSent,
    ShutdownReceived,
    ShutdownAckSent,
    /// An INIT answered with ABORT.
    Rejected,
    Closed,
}

/// Number of SCTP states.
pub const NUM_SCTP_STATES: usize = 14;

impl SctpState {
    pub const ALL: [SctpState; NUM_SCTP_STATES] = [
        SctpState::None,
        SctpState::Init1,
        SctpState::Init,
        SctpState::CookieSent,
        SctpState::CookieReplied,
        SctpState::CookieWait,
        SctpState::Cookie,
        SctpState::CookieEchoed,
        SctpState::Established,
        SctpState::ShutdownSent,
        SctpState::ShutdownReceived,
        SctpState::ShutdownAckSent,
        SctpState::Rejected,
        SctpState::Closed,
    ];

    /// The state numbered `v` (out of range: CLOSED).
    pub fn from_u8(v: u8) -> SctpState {
        Self::ALL.get(usize::from(v)).copied().unwrap_or(SctpState::Closed)
    }

    /// IPVS's name (`ipvsadm -Lc`).
    pub fn name(self) -> &'static str {
        [
            "NONE",
            "INIT1",
            "INIT",
            "C-SENT",
            "C-REPLIED",
            "C-WAIT",
            "COOKIE",
            "C-ECHOED",
            "ESTABLISHED",
            "S-SENT",
            "S-RECEIVED",
            "S-ACK-SENT",
            "REJECTED",
            "CLOSED",
        ][self as usize]
    }

    /// Whether the association is over (its entry may be evicted first).
    pub fn is_closed(self) -> bool {
        matches!(self, SctpState::Closed | SctpState::Rejected)
    }
}

/// IPVS's events: which row of the table a chunk type selects.
fn event(chunk: u8) -> usize {
    match chunk {
        sctp_chunk::INIT => 1,
        sctp_chunk::INIT_ACK => 2,
        sctp_chunk::COOKIE_ECHO => 3,
        sctp_chunk::COOKIE_ACK => 4,
        sctp_chunk::SHUTDOWN => 5,
        sctp_chunk::SHUTDOWN_ACK => 6,
        sctp_chunk::SHUTDOWN_COMPLETE => 7,
        sctp_chunk::ERROR => 8,
        sctp_chunk::ABORT => 9,
        // DATA, SACK, HEARTBEAT(-ACK), ECNE, CWR and anything else.
        _ => 0,
    }
}

use SctpState::{
    Closed as CL, Cookie as CO, CookieEchoed as CE, CookieReplied as CR, CookieSent as CS, CookieWait as CW,
    Established as ES, Init as IN, Init1 as I1, Rejected as RJ, ShutdownAckSent as SA, ShutdownReceived as SR,
    ShutdownSent as SS,
};

/// The next state by event row (DATA, INIT, INIT ACK, COOKIE ECHO, COOKIE ACK, SHUTDOWN,
/// SHUTDOWN ACK, SHUTDOWN COMPLETE, ERROR, ABORT) and current state, for packets from the
/// client toward a NAT real.
const INPUT: [[SctpState; NUM_SCTP_STATES]; 10] = [
    [ES, I1, IN, CS, CR, CW, CO, CE, ES, SS, SR, SA, RJ, CL],
    [I1, IN, IN, CS, CR, CW, CO, CE, ES, SS, SR, SA, IN, IN],
    [CW, CW, CW, CS, CR, CO, CO, CE, ES, SS, SR, SA, RJ, CL],
    [CR, IN, IN, CR, CR, CW, CO, CE, ES, SS, SR, SA, RJ, CL],
    [ES, I1, IN, CS, CR, CW, CO, ES, ES, SS, SR, SA, RJ, CL],
    [SR, I1, IN, CS, CR, CW, CO, CE, SR, SS, SR, SA, RJ, CL],
    [CL, IN, IN, CS, CR, CW, CO, CE, ES, CL, SR, CL, RJ, CL],
    [CL, CL, CL, CS, CR, CW, CO, CE, ES, SS, SR, CL, RJ, CL],
    [CL, I1, IN, CS, CR, CW, CO, CL, ES, SS, SR, SA, RJ, CL],
    [CL, CL, CL, CL, CL, RJ, CL, CL, CL, CL, CL, CL, CL, CL],
];

/// The same for packets from the real (NAT replies).
const OUTPUT: [[SctpState; NUM_SCTP_STATES]; 10] = [
    [ES, I1, IN, CS, CR, CW, CO, CE, ES, SS, SR, SA, RJ, CL],
    [CW, CW, CW, CW, CW, CW, CW, CW, ES, CW, CW, CW, CW, CW],
    [CS, CS, CS, CS, CR, CW, CO, CE, ES, SS, SR, SA, RJ, CL],
    [CE, CE, CE, CE, CE, CE, CE, CE, ES, SS, SR, SA, RJ, CL],
    [ES, ES, ES, ES, ES, ES, ES, ES, ES, SS, SR, SA, RJ, CL],
    [SS, SS, SS, SS, SS, SS, SS, SS, SS, SS, SR, SA, RJ, CL],
    [SA, SA, SA, SA, SA, CW, CO, CE, ES, SA, SA, SA, RJ, CL],
    [CL, I1, IN, CS, CR, CW, CO, CE, ES, SS, SR, SA, RJ, CL],
    [CL, CL, CL, CL, CL, CW, CO, CE, ES, SS, SR, SA, RJ, CL],
    [CL, RJ, CL, CL, CL, CL, CL, CL, CL, CL, CL, CL, CL, CL],
];

/// The same where the director sees the client's packets only (DR, TUN).
const INPUT_ONLY: [[SctpState; NUM_SCTP_STATES]; 10] = [
    [ES, I1, IN, CS, CR, ES, CO, CE, ES, SS, SR, SA, RJ, CL],
    [I1, IN, IN, IN, IN, IN, CO, CE, ES, SS, SR, SA, IN, IN],
    [CE, CE, CE, CE, CE, CE, CO, CE, ES, SS, SR, SA, RJ, CL],
    [ES, ES, ES, ES, ES, ES, CO, CE, ES, SS, SR, SA, RJ, CL],
    [ES, I1, IN, ES, ES, CW, ES, ES, ES, SS, SR, SA, RJ, CL],
    [SR, I1, IN, CS, CR, CW, CO, CE, SR, SS, SR, SA, RJ, CL],
    [CL, IN, IN, CS, CR, CW, CO, CE, CL, CL, SR, CL, RJ, CL],
    [CL, CL, CL, CL, CL, CW, CO, CE, ES, SS, CL, CL, RJ, CL],
    [CL, I1, IN, CS, CR, CW, CO, CE, ES, SS, SR, SA, RJ, CL],
    [CL, CL, CL, CL, CL, RJ, CL, CL, CL, CL, CL, CL, CL, CL],
];

/// The state after a packet whose deciding chunk is `chunk`, going `dir`.
pub fn next_state(state: SctpState, dir: Direction, chunk: u8) -> SctpState {
    let table = match dir {
        Direction::Input => &INPUT,
        Direction::Output => &OUTPUT,
        Direction::InputOnly => &INPUT_ONLY,
    };
    table[event(chunk)][state as usize]
}

/// IPVS's SCTP timeouts in milliseconds, by state (`ipvsadm --set` has none for SCTP).
pub fn default_timeouts() -> [u32; NUM_SCTP_STATES] {
    // IPVS's IP_VS_SCTP_MAX_RTO: (60 + 1) s.
    const RTO: u32 = 61_000;
    let mut t = [RTO; NUM_SCTP_STATES];
    t[SctpState::None as usize] = 2_000;
    t[SctpState::Init1 as usize] = 4_000;
    t[SctpState::Established as usize] = 15 * 60_000;
    t[SctpState::Rejected as usize] = 4_000;
    t
}

#[cfg(test)]
mod tests {
    use super::*;
    use sctp_chunk::*;

    /// A whole association through NAT: the four-way setup, data, the three-way shutdown.
    #[test]
    fn nat_association_from_init_to_closed() {
        let steps = [
            (Direction::Input, INIT, SctpState::Init1),
            (Direction::Output, INIT_ACK, SctpState::CookieSent),
            (Direction::Input, COOKIE_ECHO, SctpState::CookieReplied),
            (Direction::Output, COOKIE_ACK, SctpState::Established),
            (Direction::Input, DATA, SctpState::Established),
            (Direction::Output, 3, SctpState::Established), // SACK
            (Direction::Input, SHUTDOWN, SctpState::ShutdownReceived),
            (Direction::Output, SHUTDOWN_ACK, SctpState::ShutdownAckSent),
            (Direction::Input, SHUTDOWN_COMPLETE, SctpState::Closed),
        ];
        let mut s = SctpState::None;
        for (dir, chunk, want) in steps {
            s = next_state(s, dir, chunk);
            assert_eq!(s, want, "after chunk {chunk} {dir:?}");
        }
    }

    /// DR and TUN see the client only: its COOKIE ECHO establishes the association.
    #[test]
    fn input_only_association() {
        let mut s = SctpState::None;
        for (chunk, want) in
            [(INIT, SctpState::Init1), (COOKIE_ECHO, SctpState::Established), (DATA, SctpState::Established)]
        {
            s = next_state(s, Direction::InputOnly, chunk);
            assert_eq!(s, want);
        }
        assert_eq!(next_state(s, Direction::InputOnly, ABORT), SctpState::Closed);
        assert_eq!(next_state(SctpState::Init1, Direction::Output, ABORT), SctpState::Rejected, "INIT refused");
        assert_eq!(default_timeouts()[SctpState::Established as usize], 900_000);
        assert_eq!(SctpState::from_u8(200), SctpState::Closed);
    }
}
