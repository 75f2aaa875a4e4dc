//! Prometheus text exposition (format 0.0.4) of the director's state: a merged poll-loop
//! [`Snapshot`], the estimator's rates ([`DirectorRates`]), optional health states, the
//! XDP attach modes, the batch-time histogram and the VRRP instances' status; plus
//! [`serve`], a tiny blocking HTTP/1.1 server for `GET /metrics`.
//!
//! Invariants:
//! - Every family is written once, as `# HELP`, `# TYPE`, then all its samples; within a
//!   family every sample has the same label names, and no two samples the same label set
//!   (duplicate snapshot lines, e.g. a draining real added again, are summed).
//! - Label values are escaped (`\` → `\\`, `"` → `\"`, newline → `\n`), HELP text likewise
//!   (backslash and newline); metric and label names are fixed here and valid.
//! - Every [`DropReason`] has its `xvs_drops_total` sample, zeros included, so a reason's
//!   series exists before its first drop.
//! - Counters (`_total`) are the snapshot's cumulative values; rates are gauges read from
//!   the estimator (0 for a real it has not sampled yet); families whose input is absent
//!   (no rates, no health, no capacity, no VRRP) are left out whole.
//! - Labels: `service="tcp/10.0.1.100:80"` (protocol lower case, `/`, VIP endpoint),
//!   `real="10.0.2.11:8080"`, `direction="in|out"` (in: client to real); VRRP's
//!   `instance="VI_1"`, `state="MASTER"` (every state has its sample, 1 for the current
//!   one), `direction="sent|received"`, `reason` (every [`Reject`], zeros included).

use std::collections::{BTreeMap, HashMap};
use std::fmt::{Display, Write as _};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::Duration;

use crate::observe::estimator::{DirectorRates, Rates};
use crate::sync::daemon::DROP_REASONS;
use crate::vrrp::runtime::InstanceStatus;
use xvs_datapath::snapshot::Snapshot;
use xvs_engine::sync::SyncOutcome;
use xvs_engine::{Counters, DropReason, RealKey, ServiceKey};
use xvs_vrrp::{Reject, State};

/// The content type of the exposition.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Bucket upper bounds (seconds) of `xvs_batch_duration_seconds`: a batch of 64 frames
/// takes microseconds; milliseconds mean trouble.
pub const BATCH_BUCKETS: [f64; 14] =
    [1e-6, 2.5e-6, 5e-6, 1e-5, 2.5e-5, 5e-5, 1e-4, 2.5e-4, 5e-4, 1e-3, 2.5e-3, 5e-3, 1e-2, 1e-1];

/// A histogram as the exposition needs it: finite upper bounds (ascending), the cumulative
/// count of observations `<=` each, the total count (the `+Inf` bucket) and the sum.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct HistogramInput {
    pub bounds: Vec<f64>,
    pub cumulative: Vec<u64>,
    pub count: u64,
    pub sum: f64,
}

impl HistogramInput {
    /// From an hdrhistogram of nanoseconds, with `bounds` in seconds. A bucket counts the
    /// values within the histogram's resolution of its bound (2 significant digits for
    /// `batch_ns`); the sum is `mean * count` (hdrhistogram keeps no exact sum).
    pub fn from_hdr_ns(h: &hdrhistogram::Histogram<u64>, bounds: &[f64]) -> HistogramInput {
        let count = h.len();
        let cumulative = bounds
            .iter()
            .map(|b| if count == 0 { 0 } else { h.count_between(0, (b * 1e9).round() as u64).min(count) })
            .collect();
        let sum = if count == 0 { 0.0 } else { h.mean() * count as f64 / 1e9 };
        HistogramInput { bounds: bounds.to_vec(), cumulative, count, sum }
    }
}

/// Everything one exposition shows.
#[derive(Clone, Debug, Default)]
pub struct Exposition<'a> {
    pub snapshot: Option<&'a Snapshot>,
    pub rates: Option<&'a DirectorRates>,
    /// (real, up) of every checked real.
    pub health: Option<&'a [(RealKey, bool)]>,
    /// (interface, "native" | "generic")
    pub xdp_modes: &'a [(String, String)],
    /// Connection table capacity (all poll cores together).
    pub conn_capacity: Option<u64>,
    pub batch: Option<HistogramInput>,
    /// The VRRP instances (`None`: VRRP does not run).
    pub vrrp: Option<&'a [InstanceStatus]>,
    /// The sync daemons' counters (`None`: not a daemon that can sync).
    pub sync: Option<SyncView>,
}

/// The sync daemons' and queues' counters at one moment.
#[derive(Clone, Debug, Default)]
pub struct SyncView {
    pub sent_messages: u64,
    pub sent_entries: u64,
    pub send_errors: u64,
    pub received_messages: u64,
    pub received_entries: u64,
    /// Received messages dropped, by `daemon::DROP_REASONS`.
    pub dropped: [u64; 4],
    pub skipped_entries: u64,
    /// Received entries lost because a loop's queue was full.
    pub in_dropped: u64,
    /// Entries the loops could not write: no free message buffer.
    pub out_full: u64,
}

impl<'a> Exposition<'a> {
    /// The exposition of `snapshot`, with its `batch_ns` as the batch histogram.
    pub fn new(snapshot: &'a Snapshot) -> Exposition<'a> {
        Exposition {
            snapshot: Some(snapshot),
            batch: Some(HistogramInput::from_hdr_ns(&snapshot.batch_ns, &BATCH_BUCKETS)),
            ..Exposition::default()
        }
    }
}

/// A service's label: `tcp/10.0.1.100:80`, `udp/[2001:db8::1]:53`, `tcp/203.0.113.0/24:80`.
pub fn service_label(k: &ServiceKey) -> String {
    let shown = k.to_string();
    match shown.split_once(' ') {
        Some((proto, vip)) => format!("{}/{vip}", proto.to_ascii_lowercase()),
        None => shown,
    }
}

/// A label value in the exposition's escaping.
pub fn escape_label(v: &str) -> String {
    let mut o = String::with_capacity(v.len());
    for c in v.chars() {
        match c {
            '\\' => o.push_str("\\\\"),
            '"' => o.push_str("\\\""),
            '\n' => o.push_str("\\n"),
            c => o.push(c),
        }
    }
    o
}

fn escape_help(v: &str) -> String {
    v.replace('\\', "\\\\").replace('\n', "\\n")
}

struct Out(String);

impl Out {
    fn family(&mut self, name: &str, kind: &str, help: &str) {
        let _ = writeln!(self.0, "# HELP {name} {}", escape_help(help));
        let _ = writeln!(self.0, "# TYPE {name} {kind}");
    }

    /// A family of one sample without labels.
    fn single(&mut self, name: &str, kind: &str, help: &str, value: impl Display) {
        self.family(name, kind, help);
        self.sample(name, &[], value);
    }

    fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: impl Display) {
        self.0.push_str(name);
        if !labels.is_empty() {
            self.0.push('{');
            for (i, (k, v)) in labels.iter().enumerate() {
                if i > 0 {
                    self.0.push(',');
                }
                let _ = write!(self.0, "{k}=\"{}\"", escape_label(v));
            }
            self.0.push('}');
        }
        let _ = writeln!(self.0, " {value}");
    }
}

/// One real's line, duplicates summed; labels as exported.
struct RealLine {
    key: RealKey,
    service: String,
    real: String,
    counters: Counters,
    active: u64,
    inactive: u64,
    weight: u64,
}

fn real_lines(s: &Snapshot) -> Vec<RealLine> {
    let mut out: Vec<RealLine> = Vec::new();
    let mut at: HashMap<RealKey, usize> = HashMap::new();
    for r in &s.reals {
        let i = *at.entry(r.key).or_insert_with(|| {
            out.push(RealLine {
                key: r.key,
                service: service_label(&r.key.service),
                real: r.key.endpoint().to_string(),
                counters: Counters::default(),
                active: 0,
                inactive: 0,
                weight: 0,
            });
            out.len() - 1
        });
        let l = &mut out[i];
        l.counters += r.counters;
        l.active += u64::from(r.active);
        l.inactive += u64::from(r.inactive);
        if r.available {
            l.weight = u64::from(r.weight);
        }
    }
    out
}

/// The labels of a per-real sample.
fn sr(l: &RealLine) -> [(&'static str, &str); 2] {
    [("service", &l.service), ("real", &l.real)]
}

/// The labels of a per-real sample with a direction.
fn dir<'a>(d: &'static str, l: &'a RealLine) -> [(&'static str, &'a str); 3] {
    [("direction", d), ("service", &l.service), ("real", &l.real)]
}

/// Render `e` as Prometheus text format 0.0.4.
pub fn render(e: &Exposition) -> String {
    let mut o = Out(String::with_capacity(16 * 1024));
    let empty = Snapshot::default();
    let s = e.snapshot.unwrap_or(&empty);
    let reals = real_lines(s);
    real_families(&mut o, &reals);
    if let Some(rates) = e.rates {
        rate_families(&mut o, &reals, rates);
    }
    if let Some(health) = e.health {
        health_family(&mut o, health);
    }
    director_families(&mut o, s, e.conn_capacity);
    if !e.xdp_modes.is_empty() {
        let mut modes: BTreeMap<(&str, &str), u8> = BTreeMap::new();
        for (i, m) in e.xdp_modes {
            modes.insert((i, m), 1);
        }
        o.family("xvs_xdp_mode", "gauge", "The XDP attach mode obtained on the interface (always 1).");
        for ((i, m), v) in &modes {
            o.sample("xvs_xdp_mode", &[("interface", i), ("mode", m)], v);
        }
    }
    socket_families(&mut o, s);
    if let Some(h) = &e.batch {
        batch_family(&mut o, h);
    }
    if let Some(v) = e.vrrp.filter(|v| !v.is_empty()) {
        vrrp_families(&mut o, v);
    }
    if let Some(v) = &e.sync {
        sync_families(&mut o, s, v);
    }
    o.0
}

/// `xvs_sync_*`: messages and entries sent and received, drops by reason, and what the
/// engines did with the entries.
fn sync_families(o: &mut Out, s: &Snapshot, v: &SyncView) {
    o.family("xvs_sync_messages_total", "counter", "IPVS sync messages sent, and received that passed every check.");
    o.sample("xvs_sync_messages_total", &[("direction", "sent")], v.sent_messages);
    o.sample("xvs_sync_messages_total", &[("direction", "received")], v.received_messages);
    o.family("xvs_sync_messages_dropped_total", "counter", "Sync messages received and dropped, by reason.");
    for (r, n) in DROP_REASONS.iter().zip(v.dropped) {
        o.sample("xvs_sync_messages_dropped_total", &[("reason", r)], n);
    }
    o.single("xvs_sync_send_errors_total", "counter", "Sync messages the socket refused to send.", v.send_errors);
    o.family(
        "xvs_sync_entries_total",
        "counter",
        "Connection entries: recorded by the engines, sent, received, skipped.",
    );
    for (d, n) in [
        ("recorded", s.stats.sync.recorded),
        ("sent", v.sent_entries),
        ("received", v.received_entries),
        ("skipped", v.skipped_entries),
    ] {
        o.sample("xvs_sync_entries_total", &[("direction", d)], n);
    }
    o.family("xvs_sync_connections_total", "counter", "Received sync entries by what installing them did.");
    for out in SyncOutcome::ALL {
        o.sample("xvs_sync_connections_total", &[("outcome", out.name())], s.stats.sync.received[out as usize]);
    }
    o.family(
        "xvs_sync_mixed_family_total",
        "counter",
        "Connections not synced: tunnelled to a real of the other address family (a sync message holds one family).",
    );
    o.sample("xvs_sync_mixed_family_total", &[], s.stats.sync.mixed_family);
    o.family("xvs_sync_queue_drops_total", "counter", "Sync entries lost because a queue was full.");
    for (q, n) in [("outbox", s.stats.sync.out_full), ("messages", v.out_full), ("in", v.in_dropped)] {
        o.sample("xvs_sync_queue_drops_total", &[("queue", q)], n);
    }
}

/// Per-real counters and gauges.
fn real_families(o: &mut Out, reals: &[RealLine]) {
    o.family("xvs_connections_total", "counter", "Connections scheduled to the real (IPVS Conns).");
    for l in reals {
        o.sample("xvs_connections_total", &sr(l), l.counters.conns);
    }
    o.family(
        "xvs_packets_total",
        "counter",
        "Packets forwarded for the real; in: client to real, out: real to client.",
    );
    for l in reals {
        o.sample("xvs_packets_total", &dir("in", l), l.counters.pkts_in);
        o.sample("xvs_packets_total", &dir("out", l), l.counters.pkts_out);
    }
    o.family("xvs_bytes_total", "counter", "Bytes forwarded for the real; in: client to real, out: real to client.");
    for l in reals {
        o.sample("xvs_bytes_total", &dir("in", l), l.counters.bytes_in);
        o.sample("xvs_bytes_total", &dir("out", l), l.counters.bytes_out);
    }
    o.family("xvs_connections_active", "gauge", "Established connections on the real (IPVS ActiveConn).");
    for l in reals {
        o.sample("xvs_connections_active", &sr(l), l.active);
    }
    o.family("xvs_connections_inactive", "gauge", "Other connections on the real (IPVS InActConn).");
    for l in reals {
        o.sample("xvs_connections_inactive", &sr(l), l.inactive);
    }
    o.family("xvs_real_weight", "gauge", "The real's weight (0: quiesced or removed).");
    for l in reals {
        o.sample("xvs_real_weight", &sr(l), l.weight);
    }
}

/// The estimator's rates, per real and per service.
fn rate_families(o: &mut Out, reals: &[RealLine], rates: &DirectorRates) {
    let of = |l: &RealLine| rates.real(&l.key).unwrap_or_default();
    o.family("xvs_rate_cps", "gauge", "Connections per second to the real, IPVS's 2 s EWMA estimator (CPS).");
    for l in reals {
        o.sample("xvs_rate_cps", &sr(l), of(l).cps);
    }
    o.family("xvs_rate_pps", "gauge", "Packets per second for the real, IPVS's estimator (InPPS, OutPPS).");
    for l in reals {
        o.sample("xvs_rate_pps", &dir("in", l), of(l).in_pps);
        o.sample("xvs_rate_pps", &dir("out", l), of(l).out_pps);
    }
    o.family("xvs_rate_bps", "gauge", "Bytes per second for the real, IPVS's estimator (InBPS, OutBPS).");
    for l in reals {
        o.sample("xvs_rate_bps", &dir("in", l), of(l).in_bps);
        o.sample("xvs_rate_bps", &dir("out", l), of(l).out_bps);
    }
    // Services: in snapshot order, once each.
    let mut services: Vec<(ServiceKey, &str)> = Vec::new();
    for l in reals {
        if !services.iter().any(|(k, _)| *k == l.key.service) {
            services.push((l.key.service, &l.service));
        }
    }
    let svc: Vec<(&str, Rates)> =
        services.iter().map(|(k, lbl)| (*lbl, rates.service(k).unwrap_or_default())).collect();
    o.family("xvs_service_rate_cps", "gauge", "Connections per second to the service, IPVS's estimator (CPS).");
    for (s, r) in &svc {
        o.sample("xvs_service_rate_cps", &[("service", s)], r.cps);
    }
    o.family("xvs_service_rate_pps", "gauge", "Packets per second for the service, IPVS's estimator.");
    for (s, r) in &svc {
        o.sample("xvs_service_rate_pps", &[("direction", "in"), ("service", s)], r.in_pps);
        o.sample("xvs_service_rate_pps", &[("direction", "out"), ("service", s)], r.out_pps);
    }
    o.family("xvs_service_rate_bps", "gauge", "Bytes per second for the service, IPVS's estimator.");
    for (s, r) in &svc {
        o.sample("xvs_service_rate_bps", &[("direction", "in"), ("service", s)], r.in_bps);
        o.sample("xvs_service_rate_bps", &[("direction", "out"), ("service", s)], r.out_bps);
    }
}

/// `xvs_real_up`: a real with several verdicts (the same real in two lines) is up only
/// when all are.
fn health_family(o: &mut Out, health: &[(RealKey, bool)]) {
    let mut up: BTreeMap<(String, String), bool> = BTreeMap::new();
    for (k, ok) in health {
        *up.entry((service_label(&k.service), k.endpoint().to_string())).or_insert(true) &= *ok;
    }
    o.family("xvs_real_up", "gauge", "The real's health check: 1 up, 0 down.");
    for ((svc, real), ok) in &up {
        o.sample("xvs_real_up", &[("service", svc.as_str()), ("real", real)], u8::from(*ok));
    }
}

/// The engines' own counters.
fn director_families(o: &mut Out, s: &Snapshot, capacity: Option<u64>) {
    let st = &s.stats;
    o.single("xvs_rx_packets_total", "counter", "Frames the poll loops received from AF_XDP.", st.rx);
    o.single("xvs_tx_packets_total", "counter", "Frames the poll loops transmitted.", st.tx);
    o.single("xvs_passed_packets_total", "counter", "Frames handed back to the kernel (not for a service).", st.passed);
    o.family("xvs_drops_total", "counter", "Frames dropped, by reason.");
    for r in DropReason::ALL {
        o.sample("xvs_drops_total", &[("reason", r.name())], st.drops[r as usize]);
    }
    o.family(
        "xvs_connection_events_total",
        "counter",
        "Connection table events: created, expired, evicted (unverified or closed ones, to make room), verified.",
    );
    for (ev, n) in [
        ("created", st.conns_created),
        ("expired", st.conns_expired),
        ("evicted", st.conns_evicted),
        ("verified", st.conns_verified),
    ] {
        o.sample("xvs_connection_events_total", &[("event", ev)], n);
    }
    o.single(
        "xvs_fragment_records_displaced_total",
        "counter",
        "First-fragment records displaced by another datagram's before their 2 s were up.",
        st.frags_displaced,
    );
    o.single(
        "xvs_stateless_forwarded_packets_total",
        "counter",
        "Packets of DR/TUN services with sh, dh or mh forwarded without an entry: the table was full of verified connections.",
        st.stateless_forwarded,
    );
    o.family("xvs_template_events_total", "counter", "Persistence template events: created, expired.");
    for (ev, n) in [("created", st.templates_created), ("expired", st.templates_expired)] {
        o.sample("xvs_template_events_total", &[("event", ev)], n);
    }
    o.single(
        "xvs_icmp_too_big_sent_total",
        "counter",
        "ICMP fragmentation-needed / packet-too-big messages sent.",
        st.icmp_too_big_sent,
    );
    o.single(
        "xvs_handoff_full_total",
        "counter",
        "Frames for another poll core dropped: hand-off pool or queue full.",
        s.handoff_full,
    );
    o.single("xvs_connection_table_entries", "gauge", "Live connections in the connection tables.", s.live_connections);
    if let Some(cap) = capacity {
        o.single("xvs_connection_table_capacity", "gauge", "Connection table capacity, all poll cores together.", cap);
    }
}

/// AF_XDP sockets: summed per (interface, queue) in case two loops report the same one.
fn socket_families(o: &mut Out, s: &Snapshot) {
    let mut socks: BTreeMap<(&str, u32), [u64; 4]> = BTreeMap::new();
    for (i, q, x) in &s.sockets {
        let e = socks.entry((i.as_str(), *q)).or_default();
        e[0] += x.rx;
        e[1] += x.tx;
        e[2] += x.tx_ring_full;
        e[3] += x.wakeups;
    }
    if socks.is_empty() {
        return;
    }
    o.family("xvs_afxdp_socket_packets_total", "counter", "Frames through each AF_XDP socket; in: received.");
    for ((i, q), v) in &socks {
        let q = q.to_string();
        o.sample("xvs_afxdp_socket_packets_total", &[("interface", i), ("queue", &q), ("direction", "in")], v[0]);
        o.sample("xvs_afxdp_socket_packets_total", &[("interface", i), ("queue", &q), ("direction", "out")], v[1]);
    }
    o.family("xvs_afxdp_socket_tx_ring_full_total", "counter", "Frames dropped: the socket's TX ring was full.");
    for ((i, q), v) in &socks {
        o.sample("xvs_afxdp_socket_tx_ring_full_total", &[("interface", i), ("queue", &q.to_string())], v[2]);
    }
    o.family("xvs_afxdp_socket_wakeups_total", "counter", "Kernel wake-ups (sendto) on the socket.");
    for ((i, q), v) in &socks {
        o.sample("xvs_afxdp_socket_wakeups_total", &[("interface", i), ("queue", &q.to_string())], v[3]);
    }
}

/// `xvs_batch_duration_seconds`.
fn batch_family(o: &mut Out, h: &HistogramInput) {
    let name = "xvs_batch_duration_seconds";
    o.family(name, "histogram", "Time to process and transmit one batch of received frames.");
    let mut last = 0;
    for (b, c) in h.bounds.iter().zip(&h.cumulative) {
        // Cumulative and never above the count, whatever the input.
        last = (*c).max(last).min(h.count);
        o.sample(&format!("{name}_bucket"), &[("le", &b.to_string())], last);
    }
    o.sample(&format!("{name}_bucket"), &[("le", "+Inf")], h.count);
    o.sample(&format!("{name}_sum"), &[], h.sum);
    o.sample(&format!("{name}_count"), &[], h.count);
}

/// The VRRP states, in the order `xvs_vrrp_state` lists them.
const VRRP_STATES: [State; 4] = [State::Init, State::Backup, State::Master, State::Fault];

/// `xvs_vrrp_*`: each instance's state, priority, transitions and advert counters.
fn vrrp_families(o: &mut Out, all: &[InstanceStatus]) {
    o.family("xvs_vrrp_state", "gauge", "The VRRP instance's state: 1 for the current one, 0 for the others.");
    for v in all {
        for s in VRRP_STATES {
            o.sample("xvs_vrrp_state", &[("instance", &v.name), ("state", s.name())], u8::from(v.state == s));
        }
    }
    o.family("xvs_vrrp_priority", "gauge", "The VRRP instance's effective priority.");
    for v in all {
        o.sample("xvs_vrrp_priority", &[("instance", &v.name)], v.priority);
    }
    o.family("xvs_vrrp_transitions_total", "counter", "The VRRP instance's state changes (the startup one included).");
    for v in all {
        o.sample("xvs_vrrp_transitions_total", &[("instance", &v.name)], v.transitions);
    }
    o.family(
        "xvs_vrrp_adverts_total",
        "counter",
        "VRRP adverts sent, and received that passed every check (rejected ones: xvs_vrrp_adverts_rejected_total).",
    );
    for v in all {
        o.sample("xvs_vrrp_adverts_total", &[("instance", &v.name), ("direction", "sent")], v.stats.adverts_sent);
        let received = v.stats.adverts_received;
        o.sample("xvs_vrrp_adverts_total", &[("instance", &v.name), ("direction", "received")], received);
    }
    o.family(
        "xvs_vrrp_priority_zero_total",
        "counter",
        "VRRP priority-0 adverts (a master resigning) sent and received.",
    );
    for v in all {
        let (sent, received) = (v.stats.priority_zero_sent, v.stats.priority_zero_received);
        o.sample("xvs_vrrp_priority_zero_total", &[("instance", &v.name), ("direction", "sent")], sent);
        o.sample("xvs_vrrp_priority_zero_total", &[("instance", &v.name), ("direction", "received")], received);
    }
    o.family("xvs_vrrp_adverts_rejected_total", "counter", "VRRP adverts dropped, by reason.");
    for v in all {
        for r in Reject::ALL {
            o.sample(
                "xvs_vrrp_adverts_rejected_total",
                &[("instance", &v.name), ("reason", r.name())],
                v.stats.rejected(r),
            );
        }
    }
}

/// Answer HTTP/1.1 requests on `listener` until it fails, one connection at a time:
/// `GET /metrics` (any query) gets `render()`, another path 404, another method 405.
/// Each connection is closed after one answer; a client gets 2 s to send its request.
/// Scrapes served at once; more wait in the listener's backlog.
pub const MAX_SCRAPES: usize = 4;
/// The longest a client may take to send its request, all of it (not per read: a client
/// trickling a byte a second must not hold a slot for long).
pub const REQUEST_DEADLINE: Duration = Duration::from_secs(2);

/// Serve `GET /metrics` on `listener` until the process ends: up to [`MAX_SCRAPES`]
/// clients at once, each with [`REQUEST_DEADLINE`] for its request; failing accepts back
/// off instead of spinning.
pub fn serve(listener: TcpListener, render: impl Fn() -> String + Sync) {
    let busy = std::sync::atomic::AtomicUsize::new(0);
    let (render, busy) = (&render, &busy);
    std::thread::scope(|s| {
        for conn in listener.incoming() {
            match conn {
                Ok(c) => {
                    // At the limit, wait for a slot: the kernel's backlog holds the rest.
                    while busy.load(std::sync::atomic::Ordering::Acquire) >= MAX_SCRAPES {
                        std::thread::sleep(Duration::from_millis(10));
                    }
                    busy.fetch_add(1, std::sync::atomic::Ordering::AcqRel);
                    s.spawn(move || {
                        let _ = answer(c, render);
                        busy.fetch_sub(1, std::sync::atomic::Ordering::AcqRel);
                    });
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => {
                    eprintln!("xvs: metrics: accept: {e}");
                    std::thread::sleep(Duration::from_millis(100));
                }
            }
        }
    });
}

fn answer(mut c: TcpStream, render: &impl Fn() -> String) -> std::io::Result<()> {
    let deadline = std::time::Instant::now() + REQUEST_DEADLINE;
    c.set_write_timeout(Some(Duration::from_secs(5)))?;
    let mut head = Vec::with_capacity(1024);
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") && !head.windows(2).any(|w| w == b"\n\n") {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        if left.is_zero() {
            return Err(std::io::ErrorKind::TimedOut.into());
        }
        c.set_read_timeout(Some(left))?;
        let n = c.read(&mut buf)?;
        if n == 0 {
            break;
        }
        head.extend_from_slice(&buf[..n]);
        if head.len() > 16 * 1024 {
            break;
        }
    }
    let text = String::from_utf8_lossy(&head);
    let mut parts = text.lines().next().unwrap_or("").split_whitespace();
    let (method, target) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let path = target.split('?').next().unwrap_or("");
    let (status, ctype, body) = match (method, path) {
        ("GET" | "HEAD", "/metrics") => ("200 OK", CONTENT_TYPE, render()),
        ("GET" | "HEAD", _) => ("404 Not Found", "text/plain", "not found: try /metrics\n".to_string()),
        _ => ("405 Method Not Allowed", "text/plain", "only GET\n".to_string()),
    };
    let mut resp = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    if method != "HEAD" {
        resp.push_str(&body);
    }
    c.write_all(resp.as_bytes())?;
    c.flush()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    use openmetrics_parser::{prometheus::parse_prometheus, MetricNumber, PrometheusType, PrometheusValue};
    use xvs_datapath::snapshot::{batch_histogram, RealSnapshot};
    use xvs_datapath::xsk::XskStats;

    type Labels = BTreeMap<String, String>;

    /// A parsed family: its type, help, label names and samples (labels, value; a
    /// histogram's value is its count, its buckets come separately).
    #[derive(Debug)]
    struct Family {
        kind: PrometheusType,
        help: String,
        label_names: Vec<String>,
        samples: Vec<(Labels, f64)>,
        buckets: Vec<(f64, f64)>,
        sum: f64,
    }

    fn num(n: &MetricNumber) -> f64 {
        n.as_f64()
    }

    /// Parse with a real parser (openmetrics-parser's Prometheus 0.0.4 grammar): any
    /// syntax error, duplicate family, duplicate label set or bad histogram fails here.
    fn parse(text: &str) -> BTreeMap<String, Family> {
        let exp = parse_prometheus(text).unwrap_or_else(|e| panic!("does not parse: {e:?}\n{text}"));
        let mut out = BTreeMap::new();
        for (name, f) in &exp.families {
            let mut fam = Family {
                kind: f.family_type.clone(),
                help: f.help.clone(),
                label_names: f.get_label_names().to_vec(),
                samples: Vec::new(),
                buckets: Vec::new(),
                sum: 0.0,
            };
            for s in f.iter_samples() {
                let labels: Labels = s
                    .get_labelset()
                    .map(|l| l.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
                    .unwrap_or_default();
                let v = match &s.value {
                    PrometheusValue::Counter(c) => num(&c.value),
                    PrometheusValue::Gauge(n) | PrometheusValue::Unknown(n) => num(n),
                    PrometheusValue::Histogram(h) => {
                        fam.buckets = h.buckets.iter().map(|b| (b.upper_bound, num(&b.count))).collect();
                        fam.sum = h.sum.as_ref().map(num).unwrap_or(f64::NAN);
                        h.count.unwrap_or(0) as f64
                    }
                    PrometheusValue::Summary(_) => panic!("no summaries here"),
                };
                fam.samples.push((labels, v));
            }
            out.insert(name.clone(), fam);
        }
        out
    }

    fn labels(kv: &[(&str, &str)]) -> Labels {
        kv.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    fn value(f: &BTreeMap<String, Family>, name: &str, kv: &[(&str, &str)]) -> f64 {
        let fam = f.get(name).unwrap_or_else(|| panic!("no family {name}"));
        let want = labels(kv);
        fam.samples.iter().find(|(l, _)| *l == want).unwrap_or_else(|| panic!("{name}: no sample {want:?}")).1
    }

    fn real(service: ServiceKey, real: &str, c: Counters, active: u32, inactive: u32) -> RealSnapshot {
        let a: std::net::SocketAddr = real.parse().unwrap();
        RealSnapshot {
            key: RealKey { service, addr: a.ip(), port: a.port(), sorry: false },
            forward: xvs_engine::Forward::Nat,
            weight: 1,
            available: true,
            counters: c,
            active,
            inactive,
        }
    }

    fn counters(i: u64) -> Counters {
        Counters { conns: 10 * i, pkts_in: 2000 * i, pkts_out: 1000 * i, bytes_in: 100_000 * i, bytes_out: 900_000 * i }
    }

    const TCP: ServiceKey = ServiceKey {
        proto: 6,
        vip: std::net::IpAddr::V4(std::net::Ipv4Addr::new(10, 0, 1, 100)),
        prefix_len: 32,
        port: 80,
        fwmark: 0,
    };
    const UDP6: ServiceKey = ServiceKey {
        proto: 17,
        vip: std::net::IpAddr::V6(std::net::Ipv6Addr::new(0x2001, 0xdb8, 1, 0, 0, 0, 0, 0x100)),
        prefix_len: 128,
        port: 53,
        fwmark: 0,
    };

    fn key(service: ServiceKey, endpoint: &str) -> RealKey {
        real(service, endpoint, Counters::default(), 0, 0).key
    }

    /// Two poll loops' snapshots of a NAT director: two services, three reals.
    fn snapshot(i: u64) -> Snapshot {
        let mut parts = Vec::new();
        for core in 0..2u64 {
            let mut s = Snapshot::default();
            s.stats.rx = 5000 * i;
            s.stats.tx = 4900 * i;
            s.stats.passed = 60 * i;
            s.stats.drops[DropReason::TcpNoConn as usize] = 30 * i;
            s.stats.drops[DropReason::NoReal as usize] = 10 * i;
            s.stats.conns_created = 40 * i;
            s.live_connections = 7;
            s.reals = vec![
                real(TCP, "10.0.2.11:8080", counters(i), 3, 1),
                real(TCP, "10.0.2.12:8080", counters(2 * i), 2, 0),
                real(UDP6, "[2001:db8:2::11]:5353", counters(i), 0, 4),
            ];
            s.sockets =
                vec![("d0".into(), core as u32, XskStats { rx: 100 * i, tx: 90 * i, tx_ring_full: 1, wakeups: 5 })];
            s.handoff_full = 2;
            for v in [3_000u64, 4_000, 7_500, 40_000, 2_000_000] {
                s.batch_ns.record(v).unwrap();
            }
            parts.push(s);
        }
        Snapshot::merge(&parts)
    }

    /// The exposition of a realistic director (two loops, two services, three reals, rates,
    /// health, an XDP mode, a capacity, two VRRP instances), parsed.
    fn realistic() -> BTreeMap<String, Family> {
        let mut rates = DirectorRates::new();
        for i in 0..=3 {
            rates.sample(i * 2000, &snapshot(i));
        }
        let snap = snapshot(3);
        let health = vec![(key(TCP, "10.0.2.11:8080"), true), (key(TCP, "10.0.2.12:8080"), false)];
        let modes = vec![("d0".to_string(), "native".to_string())];
        let vrrp = vrrp_instances();
        let mut snap = snap;
        snap.stats.sync.recorded = 120;
        snap.stats.sync.received[SyncOutcome::Installed as usize] = 80;
        snap.stats.sync.received[SyncOutcome::NoService as usize] = 2;
        let sync = SyncView {
            sent_messages: 3,
            sent_entries: 120,
            received_messages: 2,
            received_entries: 82,
            dropped: [1, 0, 4, 0],
            ..SyncView::default()
        };
        let e = Exposition {
            rates: Some(&rates),
            health: Some(&health),
            xdp_modes: &modes,
            conn_capacity: Some(400_000),
            vrrp: Some(&vrrp),
            sync: Some(sync),
            ..Exposition::new(&snap)
        };
        let text = render(&e);
        parse(&text)
    }

    #[test]
    fn a_realistic_snapshot_parses_with_every_family() {
        let f = realistic();
        let kinds = [
            ("xvs_connections_total", PrometheusType::Counter, &["real", "service"][..]),
            ("xvs_packets_total", PrometheusType::Counter, &["direction", "real", "service"]),
            ("xvs_bytes_total", PrometheusType::Counter, &["direction", "real", "service"]),
            ("xvs_connections_active", PrometheusType::Gauge, &["real", "service"]),
            ("xvs_connections_inactive", PrometheusType::Gauge, &["real", "service"]),
            ("xvs_real_weight", PrometheusType::Gauge, &["real", "service"]),
            ("xvs_rate_cps", PrometheusType::Gauge, &["real", "service"]),
            ("xvs_rate_pps", PrometheusType::Gauge, &["direction", "real", "service"]),
            ("xvs_rate_bps", PrometheusType::Gauge, &["direction", "real", "service"]),
            ("xvs_service_rate_cps", PrometheusType::Gauge, &["service"]),
            ("xvs_service_rate_pps", PrometheusType::Gauge, &["direction", "service"]),
            ("xvs_service_rate_bps", PrometheusType::Gauge, &["direction", "service"]),
            ("xvs_real_up", PrometheusType::Gauge, &["real", "service"]),
            ("xvs_rx_packets_total", PrometheusType::Counter, &[]),
            ("xvs_tx_packets_total", PrometheusType::Counter, &[]),
            ("xvs_passed_packets_total", PrometheusType::Counter, &[]),
            ("xvs_drops_total", PrometheusType::Counter, &["reason"]),
            ("xvs_connection_events_total", PrometheusType::Counter, &["event"]),
            ("xvs_template_events_total", PrometheusType::Counter, &["event"]),
            ("xvs_icmp_too_big_sent_total", PrometheusType::Counter, &[]),
            ("xvs_stateless_forwarded_packets_total", PrometheusType::Counter, &[]),
            ("xvs_fragment_records_displaced_total", PrometheusType::Counter, &[]),
            ("xvs_handoff_full_total", PrometheusType::Counter, &[]),
            ("xvs_connection_table_entries", PrometheusType::Gauge, &[]),
            ("xvs_connection_table_capacity", PrometheusType::Gauge, &[]),
            ("xvs_xdp_mode", PrometheusType::Gauge, &["interface", "mode"]),
            ("xvs_afxdp_socket_packets_total", PrometheusType::Counter, &["direction", "interface", "queue"]),
            ("xvs_afxdp_socket_tx_ring_full_total", PrometheusType::Counter, &["interface", "queue"]),
            ("xvs_afxdp_socket_wakeups_total", PrometheusType::Counter, &["interface", "queue"]),
            ("xvs_batch_duration_seconds", PrometheusType::Histogram, &[]),
            ("xvs_vrrp_state", PrometheusType::Gauge, &["instance", "state"]),
            ("xvs_vrrp_priority", PrometheusType::Gauge, &["instance"]),
            ("xvs_vrrp_transitions_total", PrometheusType::Counter, &["instance"]),
            ("xvs_vrrp_adverts_total", PrometheusType::Counter, &["direction", "instance"]),
            ("xvs_vrrp_priority_zero_total", PrometheusType::Counter, &["direction", "instance"]),
            ("xvs_vrrp_adverts_rejected_total", PrometheusType::Counter, &["instance", "reason"]),
            ("xvs_sync_messages_total", PrometheusType::Counter, &["direction"]),
            ("xvs_sync_messages_dropped_total", PrometheusType::Counter, &["reason"]),
            ("xvs_sync_send_errors_total", PrometheusType::Counter, &[]),
            ("xvs_sync_entries_total", PrometheusType::Counter, &["direction"]),
            ("xvs_sync_connections_total", PrometheusType::Counter, &["outcome"]),
            ("xvs_sync_queue_drops_total", PrometheusType::Counter, &["queue"]),
            ("xvs_sync_mixed_family_total", PrometheusType::Counter, &[]),
        ];
        let mut names: Vec<&str> = f.keys().map(|k| k.as_str()).collect();
        let mut want: Vec<&str> = kinds.iter().map(|k| k.0).collect();
        names.sort();
        want.sort();
        assert_eq!(names, want);
        for (name, kind, lnames) in kinds {
            let fam = &f[name];
            assert_eq!(fam.kind, kind, "{name}");
            assert!(!fam.help.is_empty(), "{name} has no HELP");
            let mut got = fam.label_names.clone();
            got.sort();
            assert_eq!(got, lnames, "{name}");
            for (l, _) in &fam.samples {
                let mut ks: Vec<&str> = l.keys().map(|k| k.as_str()).collect();
                ks.sort();
                assert_eq!(ks, lnames, "{name}: {l:?}");
            }
        }
    }

    #[test]
    fn realistic_values_per_real_and_engine_wide() {
        let f = realistic();
        // Per real, merged over the two loops.
        let svc = "tcp/10.0.1.100:80";
        let r11 = [("service", svc), ("real", "10.0.2.11:8080")];
        let in11 = [("direction", "in"), ("service", svc), ("real", "10.0.2.11:8080")];
        let out12 = [("direction", "out"), ("service", svc), ("real", "10.0.2.12:8080")];
        assert_eq!(value(&f, "xvs_connections_total", &r11), 60.0);
        assert_eq!(value(&f, "xvs_packets_total", &in11), 12_000.0);
        assert_eq!(value(&f, "xvs_packets_total", &out12), 12_000.0);
        assert_eq!(value(&f, "xvs_bytes_total", &in11), 600_000.0);
        assert_eq!(value(&f, "xvs_bytes_total", &out12), 10_800_000.0);
        // Active/inactive come from shared counters in the engine; merge keeps the first.
        assert_eq!(value(&f, "xvs_connections_active", &r11), 3.0);
        assert_eq!(value(&f, "xvs_connections_inactive", &r11), 1.0);
        assert_eq!(f["xvs_packets_total"].samples.len(), 6);
        let udp = [("direction", "in"), ("service", "udp/[2001:db8:1::100]:53"), ("real", "[2001:db8:2::11]:5353")];
        assert_eq!(value(&f, "xvs_packets_total", &udp), 12_000.0);

        // Rates: 4000 packets in per 2 s on .11 (two loops), three samples: 2000 pps * 0.578.
        assert_eq!(value(&f, "xvs_rate_pps", &in11), 1156.0);
        assert_eq!(value(&f, "xvs_rate_cps", &r11), 6.0);
        assert_eq!(value(&f, "xvs_service_rate_pps", &[("direction", "in"), ("service", svc)]), 3469.0);
        assert_eq!(f["xvs_service_rate_cps"].samples.len(), 2);

        // Health.
        assert_eq!(value(&f, "xvs_real_up", &r11), 1.0);
        assert_eq!(value(&f, "xvs_real_up", &[("service", svc), ("real", "10.0.2.12:8080")]), 0.0);

        // Engine-wide.
        assert_eq!(value(&f, "xvs_rx_packets_total", &[]), 30_000.0);
        assert_eq!(value(&f, "xvs_tx_packets_total", &[]), 29_400.0);
        assert_eq!(value(&f, "xvs_passed_packets_total", &[]), 360.0);
        assert_eq!(f["xvs_drops_total"].samples.len(), DropReason::COUNT);
        assert_eq!(value(&f, "xvs_drops_total", &[("reason", "tcp_no_conn")]), 180.0);
        assert_eq!(value(&f, "xvs_drops_total", &[("reason", "no_real")]), 60.0);
        assert_eq!(value(&f, "xvs_drops_total", &[("reason", "nat_clash")]), 0.0);
        assert_eq!(value(&f, "xvs_connection_events_total", &[("event", "created")]), 240.0);
        assert_eq!(value(&f, "xvs_connection_table_entries", &[]), 14.0);
        assert_eq!(value(&f, "xvs_connection_table_capacity", &[]), 400_000.0);
        assert_eq!(value(&f, "xvs_handoff_full_total", &[]), 4.0);
        assert_eq!(value(&f, "xvs_xdp_mode", &[("interface", "d0"), ("mode", "native")]), 1.0);
        let q1 = [("interface", "d0"), ("queue", "1"), ("direction", "in")];
        assert_eq!(value(&f, "xvs_afxdp_socket_packets_total", &q1), 300.0);
        assert_eq!(f["xvs_afxdp_socket_packets_total"].samples.len(), 4);

        // The batch histogram: 3, 4, 7.5, 40 and 2000 us, from each of two loops.
        let h = &f["xvs_batch_duration_seconds"];
        assert_eq!(h.samples[0].1, 10.0);
        let b: BTreeMap<String, f64> = h.buckets.iter().map(|(le, c)| (le.to_string(), *c)).collect();
        assert_eq!(b["0.0000025"], 0.0);
        assert_eq!(b["0.000005"], 4.0);
        assert_eq!(b["0.00001"], 6.0);
        assert_eq!(b["0.00005"], 8.0);
        assert_eq!(b["0.001"], 8.0);
        assert_eq!(b["0.0025"], 10.0);
        assert_eq!(b["inf"], 10.0);
        let want = 2.0 * (3_000 + 4_000 + 7_500 + 40_000 + 2_000_000) as f64 / 1e9;
        assert!((h.sum - want).abs() / want < 0.01, "sum {} vs {want}", h.sum);
    }

    #[test]
    fn realistic_vrrp_families() {
        let f = realistic();
        // VRRP: every state of every instance, 1 for the current one; every reason.
        let vi1 = [("instance", "VI_1")];
        assert_eq!(value(&f, "xvs_vrrp_state", &[("instance", "VI_1"), ("state", "MASTER")]), 1.0);
        assert_eq!(value(&f, "xvs_vrrp_state", &[("instance", "VI_1"), ("state", "BACKUP")]), 0.0);
        assert_eq!(value(&f, "xvs_vrrp_state", &[("instance", "VI_GW"), ("state", "BACKUP")]), 1.0);
        assert_eq!(f["xvs_vrrp_state"].samples.len(), 8);
        assert_eq!(f["xvs_vrrp_state"].samples.iter().map(|s| s.1).sum::<f64>(), 2.0);
        assert_eq!(value(&f, "xvs_vrrp_priority", &vi1), 150.0);
        assert_eq!(value(&f, "xvs_vrrp_transitions_total", &vi1), 2.0);
        assert_eq!(value(&f, "xvs_vrrp_adverts_total", &[("instance", "VI_1"), ("direction", "sent")]), 40.0);
        assert_eq!(value(&f, "xvs_vrrp_adverts_total", &[("instance", "VI_GW"), ("direction", "received")]), 7.0);
        assert_eq!(value(&f, "xvs_vrrp_priority_zero_total", &[("instance", "VI_GW"), ("direction", "received")]), 1.0);
        assert_eq!(f["xvs_vrrp_adverts_rejected_total"].samples.len(), 2 * Reject::ALL.len());
        assert_eq!(value(&f, "xvs_vrrp_adverts_rejected_total", &[("instance", "VI_1"), ("reason", "truncated")]), 3.0);
        assert_eq!(
            value(&f, "xvs_vrrp_adverts_rejected_total", &[("instance", "VI_1"), ("reason", "auth_mismatch")]),
            0.0
        );
    }

    #[test]
    fn realistic_sync_families() {
        let f = realistic();
        assert_eq!(value(&f, "xvs_sync_messages_total", &[("direction", "sent")]), 3.0);
        assert_eq!(value(&f, "xvs_sync_messages_dropped_total", &[("reason", "syncid")]), 4.0);
        assert_eq!(f["xvs_sync_messages_dropped_total"].samples.len(), 4);
        assert_eq!(value(&f, "xvs_sync_entries_total", &[("direction", "recorded")]), 120.0);
        assert_eq!(value(&f, "xvs_sync_entries_total", &[("direction", "received")]), 82.0);
        assert_eq!(value(&f, "xvs_sync_connections_total", &[("outcome", "installed")]), 80.0);
        assert_eq!(value(&f, "xvs_sync_connections_total", &[("outcome", "no_service")]), 2.0);
        assert_eq!(f["xvs_sync_connections_total"].samples.len(), SyncOutcome::COUNT);
        assert_eq!(f["xvs_sync_queue_drops_total"].samples.len(), 3);
    }

    /// Two VRRP instances: VI_1 MASTER, VI_GW BACKUP; VI_1 has three adverts with a wrong TTL.
    fn vrrp_instances() -> Vec<InstanceStatus> {
        let one = |name: &str, state, priority, sent, received| {
            let mut stats = xvs_vrrp::Stats::default();
            (stats.adverts_sent, stats.adverts_received) = (sent, received);
            stats.priority_zero_received = u64::from(state == State::Backup);
            InstanceStatus {
                name: name.into(),
                state,
                priority,
                master: None,
                last_transition: None,
                interface: "d0".into(),
                vrid: 51,
                addresses: Vec::new(),
                transitions: 2,
                stats,
            }
        };
        let mut v = vec![one("VI_1", State::Master, 150, 40, 0), one("VI_GW", State::Backup, 100, 0, 7)];
        v[0].stats.clone_from(&truncated(3));
        v[0].stats.adverts_sent = 40;
        v
    }

    /// The counters of an instance that got `n` truncated adverts (a reject is only ever
    /// counted by an instance).
    fn truncated(n: usize) -> xvs_vrrp::Stats {
        let cfg = xvs_vrrp::InstanceConfig {
            name: "VI_1".into(),
            vrid: 51,
            version: xvs_vrrp::Version::V2,
            priority: 150,
            advert_int_cs: 100,
            preempt: true,
            preempt_delay_ms: 0,
            initial: xvs_vrrp::InitialState::Backup,
            auth_pass: None,
            addresses: vec!["192.168.20.50".parse().unwrap()],
            primary: "192.168.20.1".parse().unwrap(),
            unicast_peers: Vec::new(),
            strict: false,
            skip_check_adv_addr: false,
        };
        let mut i = xvs_vrrp::Instance::new(cfg, 0).unwrap();
        let (src, dst) = ("192.168.20.2".parse().unwrap(), "224.0.0.18".parse().unwrap());
        for _ in 0..n {
            assert!(i.handle_advert(src, dst, 255, &[0x21, 51], 0).is_err());
        }
        i.stats().clone()
    }

    #[test]
    fn awkward_label_values_are_escaped_and_read_back() {
        // Services and reals are typed keys (addresses cannot be awkward); interface names
        // and modes are free text.
        let s = Snapshot {
            reals: vec![real(UDP6, "[2001:db8:2::11]:5353", counters(1), 0, 0)],
            sockets: vec![("if\"0\n".into(), 0, XskStats::default())],
            ..Snapshot::default()
        };
        let health = vec![(key(UDP6, "[2001:db8:2::11]:5353"), true)];
        let modes = vec![("a\\b".to_string(), "generic".to_string())];
        let e = Exposition { health: Some(&health), xdp_modes: &modes, ..Exposition::new(&s) };
        let text = render(&e);
        // No raw newline inside a sample line: every line is a comment or a whole sample.
        for line in text.lines() {
            assert!(line.starts_with('#') || line.starts_with("xvs_"), "{line:?}");
        }
        let f = parse(&text);
        let (svc, real) = ("udp/[2001:db8:1::100]:53", "[2001:db8:2::11]:5353");
        let in_ = [("direction", "in"), ("service", svc), ("real", real)];
        assert_eq!(value(&f, "xvs_packets_total", &in_), 2000.0);
        assert_eq!(value(&f, "xvs_real_up", &[("service", svc), ("real", real)]), 1.0);
        let sock = [("interface", "if\"0\n"), ("queue", "0"), ("direction", "out")];
        assert_eq!(value(&f, "xvs_afxdp_socket_packets_total", &sock), 0.0);
        assert_eq!(value(&f, "xvs_xdp_mode", &[("interface", "a\\b"), ("mode", "generic")]), 1.0);
        assert_eq!(escape_label("a\\b\"c\nd"), "a\\\\b\\\"c\\nd");
    }

    /// The parser is a real check: it refuses what a sloppy writer would produce.
    #[test]
    fn the_parser_refuses_bad_expositions() {
        let ok = "# HELP a_total x\n# TYPE a_total counter\na_total{l=\"v\\\"w\"} 1\n";
        assert!(parse_prometheus(ok).is_ok());
        for bad in [
            "# TYPE a_total counter\na_total{l=\"v\"w\"} 1\n",
            "# TYPE a_total counter\na_total{l=\"v\nw\"} 1\n",
            "# TYPE a_total counter\na_total{l=\"v\"} 1\na_total{l=\"v\"} 2\n",
            "# TYPE a_total counter\na_total 1\n# TYPE b gauge\nb 1\n# TYPE a_total counter\na_total 2\n",
        ] {
            assert!(parse_prometheus(bad).is_err(), "accepted {bad:?}");
        }
    }

    #[test]
    fn an_empty_director_still_parses() {
        let s = Snapshot::default();
        let f = parse(&render(&Exposition::new(&s)));
        assert_eq!(f["xvs_drops_total"].samples.len(), DropReason::COUNT);
        assert!(f["xvs_packets_total"].samples.is_empty());
        assert_eq!(f["xvs_batch_duration_seconds"].samples[0].1, 0.0);
        assert!(!f.contains_key("xvs_real_up") && !f.contains_key("xvs_rate_pps"));
        // No VRRP (none configured, or none running yet): no VRRP families.
        for vrrp in [None, Some(&[][..])] {
            let f = parse(&render(&Exposition { vrrp, ..Exposition::new(&s) }));
            assert!(!f.keys().any(|k| k.starts_with("xvs_vrrp_")), "{:?}", f.keys());
        }
        // Default Exposition: no snapshot at all.
        parse(&render(&Exposition::default()));
    }

    #[test]
    fn duplicate_real_lines_are_summed() {
        let mut gone = real(TCP, "10.0.2.11:8080", counters(1), 0, 2);
        gone.available = false;
        let s = Snapshot { reals: vec![gone, real(TCP, "10.0.2.11:8080", counters(2), 1, 0)], ..Snapshot::default() };
        let f = parse(&render(&Exposition::new(&s)));
        let r = [("service", "tcp/10.0.1.100:80"), ("real", "10.0.2.11:8080")];
        assert_eq!(value(&f, "xvs_connections_total", &r), 30.0);
        assert_eq!(value(&f, "xvs_connections_inactive", &r), 2.0);
        assert_eq!(value(&f, "xvs_real_weight", &r), 1.0);
    }

    #[test]
    fn merge_adds_the_batch_histograms() {
        let mut a = Snapshot::default();
        let mut b = Snapshot::default();
        a.batch_ns.record(1_000).unwrap();
        b.batch_ns.record(1_000).unwrap();
        b.batch_ns.record(50_000).unwrap();
        let m = Snapshot::merge(&[a, b]);
        assert_eq!(m.batch_ns.len(), 3);
        let h = HistogramInput::from_hdr_ns(&m.batch_ns, &[1e-6, 1e-5, 1e-4]);
        assert_eq!(h.cumulative, [2, 2, 3]);
        assert_eq!(batch_histogram().len(), 0);
    }

    fn http(addr: std::net::SocketAddr, req: &str) -> String {
        let mut c = TcpStream::connect(addr).unwrap();
        c.write_all(req.as_bytes()).unwrap();
        let mut out = String::new();
        c.read_to_string(&mut out).unwrap();
        out
    }

    #[test]
    fn serves_get_metrics_and_nothing_else() {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        std::thread::spawn(move || serve(l, || render(&Exposition::new(&Snapshot::default()))));
        let r = http(addr, "GET /metrics HTTP/1.1\r\nHost: x\r\nAccept: */*\r\n\r\n");
        let (head, body) = r.split_once("\r\n\r\n").unwrap();
        assert!(head.starts_with("HTTP/1.1 200 OK\r\n"), "{head}");
        assert!(head.contains("Content-Type: text/plain; version=0.0.4; charset=utf-8"), "{head}");
        assert!(head.contains(&format!("Content-Length: {}", body.len())), "{head}");
        assert!(parse(body).contains_key("xvs_drops_total"));
        assert!(http(addr, "GET /metrics?x=1 HTTP/1.0\r\n\r\n").starts_with("HTTP/1.1 200"));
        assert!(http(addr, "GET / HTTP/1.1\r\n\r\n").starts_with("HTTP/1.1 404"));
        assert!(http(addr, "POST /metrics HTTP/1.1\r\nContent-Length: 0\r\n\r\n").starts_with("HTTP/1.1 405"));
        let head = http(addr, "HEAD /metrics HTTP/1.1\r\n\r\n");
        assert!(head.starts_with("HTTP/1.1 200") && head.ends_with("\r\n\r\n"), "{head}");
        // A client that connects and says nothing does not stop the server for long.
        let idle = TcpStream::connect(addr).unwrap();
        assert!(http(addr, "GET /metrics HTTP/1.1\r\n\r\n").starts_with("HTTP/1.1 200"));
        drop(idle);
    }

    #[test]
    fn slow_clients_neither_block_scrapes_nor_keep_their_slot() {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        std::thread::spawn(move || serve(l, || render(&Exposition::new(&Snapshot::default()))));
        // Clients trickling a byte every 0.5 s, more of them than there are slots.
        let trickle = |n: usize| {
            std::thread::spawn(move || {
                let mut c = TcpStream::connect(addr).unwrap();
                let start = std::time::Instant::now();
                for b in b"GET /metrics HTTP/1.1\r\n\r\n".iter().take(n) {
                    if c.write_all(&[*b]).is_err() {
                        break;
                    }
                    std::thread::sleep(Duration::from_millis(500));
                }
                let mut out = Vec::new();
                let _ = c.read_to_end(&mut out);
                (start.elapsed(), out)
            })
        };
        let slow: Vec<_> = (0..MAX_SCRAPES - 1).map(|_| trickle(20)).collect();
        std::thread::sleep(Duration::from_millis(200));
        // A scrape still gets a slot and its answer at once.
        let t = std::time::Instant::now();
        assert!(http(addr, "GET /metrics HTTP/1.1\r\n\r\n").starts_with("HTTP/1.1 200"));
        assert!(t.elapsed() < Duration::from_secs(1), "a scrape waited {:?}", t.elapsed());
        // The trickling ones are cut at the request deadline, not served 10 s later.
        for h in slow {
            let (took, out) = h.join().unwrap();
            assert!(out.is_empty(), "a trickling client was answered");
            assert!(took < REQUEST_DEADLINE + Duration::from_secs(2), "held for {took:?}");
        }
    }
}
