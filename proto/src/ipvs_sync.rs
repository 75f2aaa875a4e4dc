//! IPVS connection synchronisation messages, protocol version 1 (the kernel's
//! `net/netfilter/ipvs/ip_vs_sync.c`), so that xvs and a kernel IPVS director can be each
//! other's sync peer.
//!
//! A message is an 8-byte header (reserved 0, syncid, size, entry count, version 1, spare
//! 0) followed by `count` connection entries, each starting 4-byte aligned: 36 bytes for
//! IPv4, 72 for IPv6 (bit 0 of the entry's type), then optional parameters (type, length,
//! data). Multi-byte fields are big-endian.
//!
//! Invariants:
//! - [`SyncMessage::parse`] checks the whole framing (header, every entry's size, version,
//!   type and options) before any entry is handed out, so a message is taken whole or
//!   dropped whole with its reason ([`SyncError`]); an entry that is well formed but
//!   unusable here (persistence-engine data, an unknown mandatory option) is reported on
//!   its own ([`SyncEntry::Skip`]), as the kernel drops just that entry.
//! - [`SyncWriter`] writes into a caller's buffer, never past it and never more than 255
//!   entries (the count is one byte); what it writes parses back to the same entries.
//! - Nothing here allocates or panics, whatever the input.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// IPVS's sync port (UDP).
pub const SYNC_PORT: u16 = 8848;
/// IPVS's default sync group.
pub const SYNC_GROUP: Ipv4Addr = Ipv4Addr::new(224, 0, 0, 81);
/// The message format version this module speaks.
pub const SYNC_VERSION: u8 = 1;
/// Message header length.
pub const SYNC_HEADER_LEN: usize = 8;
/// An IPv4 connection entry without options.
pub const SYNC_V4_LEN: usize = 36;
/// An IPv6 connection entry without options.
pub const SYNC_V6_LEN: usize = 72;
/// IPVS's default largest message for a sender: a 1500-byte MTU less the IPv4 and UDP
/// headers (`start_sync_thread`).
pub const SYNC_MAXLEN_DEFAULT: usize = 1472;

/// The kernel's connection flags (`include/uapi/linux/ip_vs.h`) as they travel in an entry.
pub mod conn_flags {
    pub const FWD_MASK: u32 = 0x0007;
    pub const MASQ: u32 = 0x0000;
    pub const LOCALNODE: u32 = 0x0001;
    pub const TUNNEL: u32 = 0x0002;
    pub const DROUTE: u32 = 0x0003;
    pub const BYPASS: u32 = 0x0004;
    /// Set by a receiver on what it installed from sync.
    pub const SYNC: u32 = 0x0020;
    pub const HASHED: u32 = 0x0040;
    pub const NOOUTPUT: u32 = 0x0080;
    /// Not ESTABLISHED.
    pub const INACTIVE: u32 = 0x0100;
    pub const SEQ_MASK: u32 = 0x0600;
    pub const NO_CPORT: u32 = 0x0800;
    /// A persistence template, not a connection.
    pub const TEMPLATE: u32 = 0x1000;
    pub const ONE_PACKET: u32 = 0x2000;
    /// What a receiver keeps of a sender's flags (`IP_VS_CONN_F_BACKUP_MASK`).
    pub const BACKUP_MASK: u32 = FWD_MASK | NOOUTPUT | INACTIVE | SEQ_MASK | NO_CPORT | TEMPLATE;
}

const TYPE_INET6: u8 = 1;
const SVER_SHIFT: u16 = 12;
const SVER_MASK: u16 = 0x0fff;
const OPT_SEQ_DATA: u8 = 1;
const OPT_PE_DATA: u8 = 2;
const OPT_PE_NAME: u8 = 3;
/// An optional parameter: a receiver that does not know it skips it.
const OPT_F_PARAM: u8 = 1 << 6;
/// `struct ip_vs_sync_conn_options`: two `ip_vs_seq` of three u32.
const SEQ_OPTION_LEN: usize = 24;
const PE_DATA_MAXLEN: usize = 255;
const PE_NAME_MAXLEN: usize = 16;

/// One connection or persistence template as synced. The three addresses are of one
/// family (the entry's type says which).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SyncConn {
    pub protocol: u8,
    /// [`conn_flags`].
    pub flags: u32,
    /// The protocol's state number (IPVS's, e.g. TCP ESTABLISHED = 1).
    pub state: u16,
    pub cport: u16,
    pub vport: u16,
    pub dport: u16,
    pub fwmark: u32,
    /// Seconds the receiver keeps it from now (0: the state's own timeout).
    pub timeout: u32,
    /// Client (for a template: the client masked with the persistence netmask).
    pub caddr: IpAddr,
    pub vaddr: IpAddr,
    /// The real server.
    pub daddr: IpAddr,
}

impl SyncConn {
    /// Its size on the wire (no options are written).
    pub fn wire_len(&self) -> usize {
        if self.caddr.is_ipv6() {
            SYNC_V6_LEN
        } else {
            SYNC_V4_LEN
        }
    }

    pub fn is_template(&self) -> bool {
        self.flags & conn_flags::TEMPLATE != 0
    }
}

/// Why a whole message was dropped. [`SyncError::reason`] names are metric labels.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SyncError {
    /// Shorter than a header.
    TooShort,
    /// The header's size is not the datagram's length.
    SizeMismatch { header: u16, got: usize },
    /// Not a version 1 message (version 0, or reserved/spare bytes set).
    Version(u8),
    /// The sync id is not the one this receiver accepts.
    SyncId(u8),
    /// An entry runs past the message, or is shorter than its fixed part.
    EntryLength,
    /// An entry of a version other than 0.
    EntryVersion(u8),
    /// An entry type other than IPv4 (0) or IPv6 (1).
    EntryType(u8),
    /// A known option with a bad length, or found twice.
    BadOption,
}

impl SyncError {
    pub fn reason(&self) -> &'static str {
        match self {
            SyncError::TooShort | SyncError::SizeMismatch { .. } | SyncError::EntryLength => "length",
            SyncError::Version(_) | SyncError::EntryVersion(_) => "version",
            SyncError::SyncId(_) => "syncid",
            SyncError::EntryType(_) | SyncError::BadOption => "malformed",
        }
    }
}

impl std::fmt::Display for SyncError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SyncError::TooShort => write!(f, "shorter than a sync header"),
            SyncError::SizeMismatch { header, got } => write!(f, "header says {header} bytes, datagram has {got}"),
            SyncError::Version(v) => write!(f, "not a version 1 message (version byte {v})"),
            SyncError::SyncId(id) => write!(f, "sync id {id} is not ours"),
            SyncError::EntryLength => write!(f, "an entry runs past the message"),
            SyncError::EntryVersion(v) => write!(f, "entry version {v}"),
            SyncError::EntryType(t) => write!(f, "entry type {t}"),
            SyncError::BadOption => write!(f, "a malformed entry option"),
        }
    }
}

/// Why one well-formed entry is not handed out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SkipReason {
    /// It carries persistence-engine data (e.g. SIP Call-ID persistence), which xvs has no
    /// engine for; the kernel drops it too when the engine is not loaded.
    PersistenceEngine,
    /// An option xvs does not know that is not marked optional.
    UnknownOption,
}

/// One entry of a checked message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SyncEntry {
    Conn(SyncConn),
    Skip(SkipReason),
}

/// A version 1 message whose framing has been checked.
#[derive(Clone, Copy, Debug)]
pub struct SyncMessage<'a> {
    pub syncid: u8,
    pub count: u8,
    body: &'a [u8],
}

impl<'a> SyncMessage<'a> {
    /// Check datagram `buf`. `accept_syncid`: 0 accepts any sync id (IPVS's rule),
    /// another value only that one.
    pub fn parse(buf: &'a [u8], accept_syncid: u8) -> Result<SyncMessage<'a>, SyncError> {
        if buf.len() < SYNC_HEADER_LEN {
            return Err(SyncError::TooShort);
        }
        let size = be16(buf, 2);
        if size as usize != buf.len() {
            return Err(SyncError::SizeMismatch { header: size, got: buf.len() });
        }
        let syncid = buf[1];
        if accept_syncid != 0 && syncid != accept_syncid {
            return Err(SyncError::SyncId(syncid));
        }
        if buf[5] != SYNC_VERSION || buf[0] != 0 || buf[6] != 0 || buf[7] != 0 {
            return Err(SyncError::Version(if buf[0] != 0 { 0 } else { buf[5] }));
        }
        let msg = SyncMessage { syncid, count: buf[4], body: &buf[SYNC_HEADER_LEN..] };
        let mut at = 0;
        for _ in 0..msg.count {
            at = next_entry(msg.body, at)?.1;
        }
        Ok(msg)
    }

    /// The entries, in order (the framing was checked by `parse`).
    pub fn entries(&self) -> impl Iterator<Item = SyncEntry> + 'a {
        let body = self.body;
        let mut at = 0;
        (0..self.count).map_while(move |_| {
            let (entry, next) = next_entry(body, at).ok()?;
            at = next;
            Some(entry)
        })
    }
}

/// The entry at `at` of `body` and where the next one starts.
fn next_entry(body: &[u8], at: usize) -> Result<(SyncEntry, usize), SyncError> {
    let e = body.get(at..).ok_or(SyncError::EntryLength)?;
    if e.len() < SYNC_V4_LEN {
        return Err(SyncError::EntryLength);
    }
    let ver_size = be16(e, 2);
    let size = (ver_size & SVER_MASK) as usize;
    if size > e.len() {
        return Err(SyncError::EntryLength);
    }
    if ver_size >> SVER_SHIFT != 0 {
        return Err(SyncError::EntryVersion((ver_size >> SVER_SHIFT) as u8));
    }
    let fixed = match e[0] {
        0 => SYNC_V4_LEN,
        TYPE_INET6 => SYNC_V6_LEN,
        t => return Err(SyncError::EntryType(t)),
    };
    if size < fixed {
        return Err(SyncError::EntryLength);
    }
    let skip = options(&e[fixed..size])?;
    let next = at + ((size + 3) & !3);
    let entry = match skip {
        Some(r) => SyncEntry::Skip(r),
        None => SyncEntry::Conn(decode(e, fixed == SYNC_V6_LEN)),
    };
    Ok((entry, next))
}

/// Check an entry's options as the kernel does (`ip_vs_proc_sync_conn`): a bad known
/// option drops the message; persistence-engine data or an unknown mandatory option drop
/// only the entry.
fn options(mut opts: &[u8]) -> Result<Option<SkipReason>, SyncError> {
    let (mut seen, mut skip) = (0u8, None);
    while !opts.is_empty() {
        let [ptype, plen, rest @ ..] = opts else { return Err(SyncError::EntryLength) };
        let plen = *plen as usize;
        if plen == 0 || plen > rest.len() {
            return Err(SyncError::EntryLength);
        }
        let kind = ptype & !OPT_F_PARAM;
        let (max, exact) = match kind {
            OPT_SEQ_DATA => (SEQ_OPTION_LEN, true),
            OPT_PE_DATA => (PE_DATA_MAXLEN, false),
            OPT_PE_NAME => (PE_NAME_MAXLEN, false),
            _ => {
                if ptype & OPT_F_PARAM == 0 {
                    skip = skip.or(Some(SkipReason::UnknownOption));
                }
                opts = &rest[plen..];
                continue;
            }
        };
        let bit = 1u8 << kind;
        if (exact && plen != max) || plen > max || seen & bit != 0 {
            return Err(SyncError::BadOption);
        }
        seen |= bit;
        if kind != OPT_SEQ_DATA {
            skip = skip.or(Some(SkipReason::PersistenceEngine));
        }
        opts = &rest[plen..];
    }
    Ok(skip)
}

fn decode(e: &[u8], v6: bool) -> SyncConn {
    let addr = |i: usize| -> IpAddr {
        if v6 {
            let mut a = [0u8; 16];
            a.copy_from_slice(&e[24 + 16 * i..40 + 16 * i]);
            IpAddr::V6(Ipv6Addr::from(a))
        } else {
            IpAddr::V4(Ipv4Addr::from(be32(e, 24 + 4 * i)))
        }
    };
    SyncConn {
        protocol: e[1],
        flags: be32(e, 4),
        state: be16(e, 8),
        cport: be16(e, 10),
        vport: be16(e, 12),
        dport: be16(e, 14),
        fwmark: be32(e, 16),
        timeout: be32(e, 20),
        caddr: addr(0),
        vaddr: addr(1),
        daddr: addr(2),
    }
}

fn be16(b: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([b[at], b[at + 1]])
}

fn be32(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

/// Builds one message in a caller's buffer (its length is the message's maximum, IPVS's
/// `sync_maxlen`).
#[derive(Debug)]
pub struct SyncWriter<'b> {
    buf: &'b mut [u8],
    len: usize,
    count: u8,
}

impl<'b> SyncWriter<'b> {
    /// A message of sync id `syncid` in `buf`; `None` if `buf` cannot hold a header.
    pub fn new(buf: &'b mut [u8], syncid: u8) -> Option<SyncWriter<'b>> {
        let head = buf.get_mut(..SYNC_HEADER_LEN)?;
        head.copy_from_slice(&[0, syncid, 0, SYNC_HEADER_LEN as u8, 0, SYNC_VERSION, 0, 0]);
        Some(SyncWriter { buf, len: SYNC_HEADER_LEN, count: 0 })
    }

    /// Go on with the message `buf` holds (one a writer started there, with the same
    /// buffer length); `None` if its header does not fit `buf`.
    pub fn resume(buf: &'b mut [u8]) -> Option<SyncWriter<'b>> {
        let head = buf.get(..SYNC_HEADER_LEN)?;
        let (len, count) = (be16(head, 2) as usize, head[4]);
        (SYNC_HEADER_LEN..=buf.len()).contains(&len).then_some(SyncWriter { buf, len, count })
    }

    /// Append `c`; false (and nothing written) when the message has no room for it. The
    /// addresses must be of one family: `caddr`'s decides, the others are written as the
    /// same family (an address of the other family is written as all zeros).
    pub fn push(&mut self, c: &SyncConn) -> bool {
        let n = c.wire_len();
        if self.count == u8::MAX || self.len + n > self.buf.len() {
            return false;
        }
        let e = &mut self.buf[self.len..self.len + n];
        e[0] = if n == SYNC_V6_LEN { TYPE_INET6 } else { 0 };
        e[1] = c.protocol;
        e[2..4].copy_from_slice(&(n as u16).to_be_bytes());
        e[4..8].copy_from_slice(&(c.flags & !conn_flags::HASHED).to_be_bytes());
        e[8..10].copy_from_slice(&c.state.to_be_bytes());
        e[10..12].copy_from_slice(&c.cport.to_be_bytes());
        e[12..14].copy_from_slice(&c.vport.to_be_bytes());
        e[14..16].copy_from_slice(&c.dport.to_be_bytes());
        e[16..20].copy_from_slice(&c.fwmark.to_be_bytes());
        e[20..24].copy_from_slice(&c.timeout.to_be_bytes());
        let w = if n == SYNC_V6_LEN { 16 } else { 4 };
        for (i, a) in [c.caddr, c.vaddr, c.daddr].into_iter().enumerate() {
            let at = 24 + w * i;
            match a {
                IpAddr::V4(a) if w == 4 => e[at..at + 4].copy_from_slice(&a.octets()),
                IpAddr::V6(a) if w == 16 => e[at..at + 16].copy_from_slice(&a.octets()),
                _ => e[at..at + w].fill(0),
            }
        }
        self.len += n;
        self.count += 1;
        self.buf[2..4].copy_from_slice(&(self.len as u16).to_be_bytes());
        self.buf[4] = self.count;
        true
    }

    pub fn count(&self) -> u8 {
        self.count
    }

    /// Start a new message in the same buffer, with the same sync id.
    pub fn reset(&mut self) {
        self.len = SYNC_HEADER_LEN;
        self.count = 0;
        self.buf[2..4].copy_from_slice(&(SYNC_HEADER_LEN as u16).to_be_bytes());
        self.buf[4] = 0;
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// The message so far.
    pub fn bytes(&self) -> &[u8] {
        &self.buf[..self.len]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conn4() -> SyncConn {
        SyncConn {
            protocol: 6,
            flags: conn_flags::DROUTE,
            state: 1,
            cport: 40000,
            vport: 80,
            dport: 8080,
            fwmark: 0,
            timeout: 900,
            caddr: "10.0.0.1".parse().unwrap(),
            vaddr: "192.168.20.50".parse().unwrap(),
            daddr: "192.168.20.11".parse().unwrap(),
        }
    }

    /// The bytes `ip_vs_sync_conn` writes for `conn4()` with sync id 51.
    const MSG4: [u8; 44] = [
        0, 51, 0, 44, 1, 1, 0, 0, // header: reserved, syncid, size 44, 1 entry, version 1, spare
        0, 6, 0, 36, // type v4, TCP, version 0 / size 36
        0, 0, 0, 3, // flags: DROUTE
        0, 1, 0x9c, 0x40, // state ESTABLISHED, cport 40000
        0, 80, 0x1f, 0x90, // vport 80, dport 8080
        0, 0, 0, 0, // fwmark
        0, 0, 3, 0x84, // timeout 900 s
        10, 0, 0, 1, 192, 168, 20, 50, 192, 168, 20, 11,
    ];

    #[test]
    fn writes_the_kernels_bytes() {
        let mut buf = [0u8; SYNC_MAXLEN_DEFAULT];
        let mut w = SyncWriter::new(&mut buf, 51).unwrap();
        assert!(w.push(&conn4()));
        assert_eq!(w.bytes(), &MSG4[..]);
    }

    #[test]
    fn parses_what_it_writes_v4_and_v6() {
        let mut v6 = conn4();
        v6.caddr = "2001:db8::1".parse().unwrap();
        v6.vaddr = "2001:db8::50".parse().unwrap();
        v6.daddr = "2001:db8::11".parse().unwrap();
        v6.flags = conn_flags::TEMPLATE | conn_flags::MASQ | conn_flags::INACTIVE;
        let mut buf = [0u8; 150];
        let mut w = SyncWriter::new(&mut buf, 7).unwrap();
        assert!(w.push(&conn4()) && w.push(&v6));
        assert!(!w.push(&v6), "a third entry does not fit in 150 bytes");
        let len = w.bytes().len();
        assert_eq!(len, 8 + 36 + 72);
        let m = SyncMessage::parse(&buf[..len], 0).unwrap();
        let got: Vec<_> = m.entries().collect();
        assert_eq!(got, vec![SyncEntry::Conn(conn4()), SyncEntry::Conn(v6)]);
    }

    #[test]
    fn drops_bad_messages_with_their_reason() {
        let m = MSG4;
        assert_eq!(SyncMessage::parse(&m[..4], 0).unwrap_err(), SyncError::TooShort);
        assert_eq!(SyncMessage::parse(&m[..40], 0).unwrap_err(), SyncError::SizeMismatch { header: 44, got: 40 });
        assert_eq!(SyncMessage::parse(&m, 52).unwrap_err(), SyncError::SyncId(51));
        assert!(SyncMessage::parse(&m, 51).is_ok() && SyncMessage::parse(&m, 0).is_ok());
        let mut v0 = m;
        v0[0] = 1; // a version 0 header starts with the entry count
        assert_eq!(SyncMessage::parse(&v0, 0).unwrap_err(), SyncError::Version(0));
        let mut v2 = m;
        v2[5] = 2;
        assert_eq!(SyncMessage::parse(&v2, 0).unwrap_err(), SyncError::Version(2));
        let mut ev = m;
        ev[10] = 0x10; // entry version 1
        assert_eq!(SyncMessage::parse(&ev, 0).unwrap_err(), SyncError::EntryVersion(1));
        let mut big = m;
        big[11] = 40; // entry says 40 bytes, 36 are left
        assert_eq!(SyncMessage::parse(&big, 0).unwrap_err(), SyncError::EntryLength);
        let mut two = m;
        two[4] = 2; // claims a second entry that is not there
        assert_eq!(SyncMessage::parse(&two, 0).unwrap_err(), SyncError::EntryLength);
        let mut ty = m;
        ty[8] = 4;
        assert_eq!(SyncMessage::parse(&ty, 0).unwrap_err(), SyncError::EntryType(4));
    }

    /// `MSG4` with one option appended to its entry.
    fn with_option(opt: &[u8]) -> Vec<u8> {
        let mut m = MSG4.to_vec();
        m.extend_from_slice(opt);
        let entry = (36 + opt.len()) as u16;
        m[10..12].copy_from_slice(&entry.to_be_bytes());
        let padded = 8 + ((entry as usize + 3) & !3);
        m.resize(padded, 0);
        let total = m.len() as u16;
        m[2..4].copy_from_slice(&total.to_be_bytes());
        m
    }

    #[test]
    fn options_as_the_kernel_reads_them() {
        let mut seq = vec![OPT_SEQ_DATA, 24];
        seq.extend_from_slice(&[0; 24]);
        let m = with_option(&seq);
        let got: Vec<_> = SyncMessage::parse(&m, 0).unwrap().entries().collect();
        assert_eq!(got, vec![SyncEntry::Conn(conn4())], "sequence data is read and not needed");
        let m = with_option(&[OPT_SEQ_DATA, 4, 0, 0, 0, 0]);
        assert_eq!(SyncMessage::parse(&m, 0).unwrap_err(), SyncError::BadOption);
        let m = with_option(&[OPT_PE_DATA, 2, 1, 2, OPT_PE_NAME, 3, b's', b'i', b'p']);
        let got: Vec<_> = SyncMessage::parse(&m, 0).unwrap().entries().collect();
        assert_eq!(got, vec![SyncEntry::Skip(SkipReason::PersistenceEngine)]);
        let m = with_option(&[9, 2, 0, 0]);
        let got: Vec<_> = SyncMessage::parse(&m, 0).unwrap().entries().collect();
        assert_eq!(got, vec![SyncEntry::Skip(SkipReason::UnknownOption)]);
        let m = with_option(&[9 | OPT_F_PARAM, 2, 0, 0]);
        let got: Vec<_> = SyncMessage::parse(&m, 0).unwrap().entries().collect();
        assert_eq!(got, vec![SyncEntry::Conn(conn4())], "an optional unknown parameter is skipped");
        let m = with_option(&[9, 0]);
        assert_eq!(SyncMessage::parse(&m, 0).unwrap_err(), SyncError::EntryLength);
    }

    #[test]
    fn never_more_than_255_entries() {
        let mut buf = vec![0u8; 65507];
        let mut w = SyncWriter::new(&mut buf, 1).unwrap();
        let mut n = 0;
        while w.push(&conn4()) {
            n += 1;
        }
        assert_eq!(n, 255);
        assert_eq!(SyncMessage::parse(w.bytes(), 1).unwrap().entries().count(), 255);
    }
}
