//! `xvs top [-c CONTROL_SOCKET | --config FILE] [--interval SECS] [--once]`: a live terminal
//! view of a running director's services and reals, with rates, health and shares of the
//! active connections — `watch ipvsadm -Ln --rate`, but readable.
//!
//! Every refresh asks the daemon, over its control socket, for the JSON listing
//! (`-Ln --stats --rate --json`, what `xvs ctl` would send) and draws it with ratatui: a
//! header (director version and uptime, each VRRP instance's role, totals of rates, live
//! connections, drops), one table per service with its reals (forward, weight, health, active and inactive
//! connections, CPS, InPPS, OutPPS, InBPS, OutBPS in human units, a share bar of the
//! service's active connections), and a footer with the keys.
//!
//! Invariants:
//! - Read-only: top only sends list requests; it never changes the director.
//! - The view is a pure function of the last answer (plus the last error and the sort and
//!   scroll state): [`draw`] renders it into a ratatui [`Buffer`], on the terminal in the
//!   live mode and into an off-screen buffer printed as text with `--once`, so both show
//!   the same thing.
//! - An unreachable or refusing daemon is shown in the view and asked again every
//!   interval; the live view never exits for it (the last good data stays, marked stale).
//!   `--once` prints the error to stderr and exits 1 instead.
//! - The terminal is always restored (raw mode off, main screen back, cursor shown): on
//!   `q`/Esc/Ctrl-C, on SIGTERM/SIGHUP/SIGINT, on an I/O error (a guard's `Drop`) and on a
//!   panic (ratatui's panic hook restores before the message is printed).
//! - The daemon is asked from a separate thread, so a slow answer never blocks the keys.
//! - Failed reals (health check down, out of the service as IPVS does it) come from the
//!   listing's `failed_reals` and are shown DOWN; `–` means the real is not checked.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use ratatui::buffer::Buffer;
use ratatui::crossterm::event::{self, Event, KeyCode, KeyEventKind, KeyModifiers};
use ratatui::layout::{Constraint, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, BorderType, Cell, Paragraph, Row, Table, Widget};
use xvs::ctl::client;
use xvs::ctl::Request;

/// The listing request: every field the view needs (stats, rates, health) is in its JSON.
pub const LIST_ARGS: [&str; 4] = ["-Ln", "--stats", "--rate", "--json"];

// ---------------------------------------------------------------------------------------
// The listing, as `xvs ctl -Ln --stats --rate --json` gives it.

// The one listing type, shared with the daemon that writes it.
pub use xvs::observe::estimator::Rates;
pub use xvs::observe::listing::{Health, Listing, RealListing as Real, ServiceListing as Service};

/// Ask the daemon at `socket` for the listing.
pub fn fetch(socket: &Path) -> Result<Listing, String> {
    let req = Request { args: LIST_ARGS.iter().map(|s| s.to_string()).collect(), input: None, fleet: None };
    let r = client::call(socket, &req).map_err(|e| match e {
        client::CallError::Connect(e) if e.kind() == std::io::ErrorKind::PermissionDenied => {
            format!("cannot reach xvs at {}: {e} (the control socket is root's: run xvs top as root)", socket.display())
        }
        e => format!("cannot reach xvs at {}: {e} (is `xvs run` running?)", socket.display()),
    })?;
    if r.exit != 0 {
        return Err(format!("xvs at {} refused the listing: {}", socket.display(), r.stderr.trim_end()));
    }
    serde_json::from_str(&r.stdout).map_err(|e| format!("a malformed listing from {}: {e}", socket.display()))
}

// ---------------------------------------------------------------------------------------
// View state.

/// How reals (and services) are ordered; `s` cycles through them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sort {
    /// ipvsadm's order: address, port.
    Address,
    /// Most active connections first.
    Active,
    /// Most new connections per second first.
    Cps,
    /// Most bytes per second (in + out) first.
    Traffic,
}

impl Sort {
    fn next(self) -> Sort {
        match self {
            Sort::Address => Sort::Active,
            Sort::Active => Sort::Cps,
            Sort::Cps => Sort::Traffic,
            Sort::Traffic => Sort::Address,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Sort::Address => "address",
            Sort::Active => "active",
            Sort::Cps => "CPS",
            Sort::Traffic => "bytes/s",
        }
    }

    /// Descending key (`None` for address order: keep the daemon's).
    fn key(self, active: u64, r: &Rates) -> Option<u64> {
        match self {
            Sort::Address => None,
            Sort::Active => Some(active),
            Sort::Cps => Some(r.cps),
            Sort::Traffic => Some(r.in_bps.saturating_add(r.out_bps)),
        }
    }
}

/// Everything the view shows.
#[derive(Debug)]
pub struct App {
    pub socket: PathBuf,
    pub interval: Duration,
    pub data: Option<Listing>,
    /// When `data` arrived.
    pub fetched: Option<Instant>,
    /// The last attempt's error (cleared by a good answer).
    pub error: Option<String>,
    pub sort: Sort,
    pub scroll: u16,
    /// Drops per second between the last two answers.
    pub drop_rate: Option<f64>,
    last_drops: Option<(Instant, u64)>,
}

impl App {
    pub fn new(socket: PathBuf, interval: Duration) -> App {
        App {
            socket,
            interval,
            data: None,
            fetched: None,
            error: None,
            sort: Sort::Address,
            scroll: 0,
            drop_rate: None,
            last_drops: None,
        }
    }

    /// Take one answer (or failure) of the daemon, received at `at`.
    pub fn update(&mut self, at: Instant, r: Result<Listing, String>) {
        match r {
            Ok(l) => {
                if let Some(d) = &l.director {
                    if let Some((t, n)) = self.last_drops {
                        let secs = at.saturating_duration_since(t).as_secs_f64();
                        if secs > 0.0 {
                            self.drop_rate = Some(d.drops.saturating_sub(n) as f64 / secs);
                        }
                    }
                    self.last_drops = Some((at, d.drops));
                }
                self.data = Some(l);
                self.fetched = Some(at);
                self.error = None;
            }
            Err(e) => self.error = Some(e),
        }
    }
}

// ---------------------------------------------------------------------------------------
// Units.

/// A count in SI units: `999`, `1.2k`, `12.3M`, `123G`.
pub fn human(n: u64) -> String {
    if n < 1000 {
        return n.to_string();
    }
    let mut v = n as f64;
    for unit in ["k", "M", "G", "T", "P", "E"] {
        v /= 1000.0;
        if v < 999.95 || unit == "E" {
            return if v < 99.95 { format!("{v:.1}{unit}") } else { format!("{v:.0}{unit}") };
        }
    }
    unreachable!("E is the last unit")
}

/// Bytes in SI units: `512 B`, `1.2 kB`, `34.5 MB`.
pub fn human_bytes(n: u64) -> String {
    if n < 1000 {
        format!("{n} B")
    } else {
        let h = human(n);
        let (num, unit) = h.split_at(h.len() - 1);
        format!("{num} {unit}B")
    }
}

/// An uptime: `42s`, `5m03s`, `1h02m`, `3d04h`.
pub fn human_duration(s: u64) -> String {
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m{:02}s", s / 60, s % 60),
        3600..86400 => format!("{}h{:02}m", s / 3600, s % 3600 / 60),
        _ => format!("{}d{:02}h", s / 86400, s % 86400 / 3600),
    }
}

const BAR: usize = 10;

/// A share bar of `part` of `whole`, `BAR` cells with eighths, and the percentage.
pub fn share_bar(part: u64, whole: u64) -> String {
    let frac = if whole == 0 { 0.0 } else { (part as f64 / whole as f64).clamp(0.0, 1.0) };
    let eighths = (frac * (BAR * 8) as f64).round() as usize;
    let (full, part) = (eighths / 8, eighths % 8);
    let mut s = "█".repeat(full);
    // A partial cell for the remaining eighths (none when the bar ends on a cell).
    s.extend(['▏', '▎', '▍', '▌', '▋', '▊', '▉'].get(part.wrapping_sub(1)));
    s.push_str(&"·".repeat(BAR - full - usize::from(part > 0)));
    format!("{s} {:>3.0}%", frac * 100.0)
}

// ---------------------------------------------------------------------------------------
// Drawing.

const HEADER_LINES: u16 = 3;
const COLUMNS: [&str; 12] =
    ["Real", "Forward", "Weight", "Health", "Active", "InAct", "CPS", "InPPS", "OutPPS", "InBPS", "OutBPS", "Share"];

/// Column widths for a real-address column of `addr` characters.
fn widths(addr: u16) -> [u16; 12] {
    [addr.max(14), 7, 6, 6, 7, 7, 7, 7, 7, 9, 9, (BAR + 5) as u16]
}

fn addr_width(l: &Listing) -> u16 {
    l.services
        .iter()
        .flat_map(|s| s.reals.iter().chain(&s.failed_reals))
        .map(|r| r.address.len() as u16)
        .max()
        .unwrap_or(0)
}

/// The width the whole view needs without squeezing a column.
pub fn natural_width(l: &Listing) -> u16 {
    let w = widths(addr_width(l));
    (w.iter().sum::<u16>() + (w.len() as u16 - 1) + 2).max(80)
}

/// Rows of one service's table: its reals and failed reals, then the total.
fn service_height(s: &Service) -> u16 {
    // Borders (2), column header (1), total (1).
    4 + (s.reals.len() + s.failed_reals.len()).max(1) as u16
}

/// The body's height: every service's table, one under another.
pub fn body_height(l: &Listing) -> u16 {
    l.services.iter().map(service_height).sum::<u16>().max(1)
}

fn services_in_order(l: &Listing, sort: Sort) -> Vec<Service> {
    let mut v = l.services.clone();
    if sort != Sort::Address {
        for s in &mut v {
            s.reals.sort_by_key(|r| std::cmp::Reverse(sort.key(u64::from(r.active), &r.rates)));
        }
        v.sort_by_key(|s| std::cmp::Reverse(sort.key(s.reals.iter().map(|r| u64::from(r.active)).sum(), &s.rates)));
    }
    v
}

fn right(s: String, w: u16) -> Cell<'static> {
    Cell::from(format!("{s:>w$}", w = w as usize))
}

fn health_cell(h: Option<&str>) -> Cell<'static> {
    match h {
        Some("up") => Cell::from("UP").style(Style::default().fg(Color::Green).add_modifier(Modifier::BOLD)),
        Some("down") => Cell::from("DOWN").style(Style::default().fg(Color::Red).add_modifier(Modifier::BOLD)),
        Some(other) => Cell::from(other.to_uppercase()),
        None => Cell::from("–").style(Style::default().fg(Color::DarkGray)),
    }
}

fn real_row(r: &Real, total_active: u64, w: &[u16; 12], failed: bool) -> Row<'static> {
    let x = &r.rates;
    let row = Row::new(vec![
        Cell::from(r.address.clone()),
        Cell::from(r.forward.to_uppercase()),
        right(r.weight.to_string(), w[2]),
        health_cell(r.health.map(Health::word)),
        right(r.active.to_string(), w[4]),
        right(r.inactive.to_string(), w[5]),
        right(human(x.cps), w[6]),
        right(human(x.in_pps), w[7]),
        right(human(x.out_pps), w[8]),
        right(human_bytes(x.in_bps), w[9]),
        right(human_bytes(x.out_bps), w[10]),
        Cell::from(share_bar(u64::from(r.active), total_active)).style(Style::default().fg(Color::Cyan)),
    ]);
    if failed {
        row.style(Style::default().fg(Color::DarkGray))
    } else {
        row
    }
}

fn service_title(s: &Service) -> Line<'static> {
    let mut t = vec![
        Span::raw(" "),
        Span::styled(format!("{} {}", s.protocol.to_uppercase(), s.vip), Style::default().add_modifier(Modifier::BOLD)),
        Span::raw(format!("  {}", s.scheduler)),
    ];
    if !s.flags.is_empty() {
        t.push(Span::raw(format!(" ({})", s.flags.join(","))));
    }
    if s.persistence > 0 {
        t.push(Span::raw(format!("  persistent {}s", s.persistence)));
    }
    if s.ops {
        t.push(Span::raw("  ops"));
    }
    let up = s.reals.iter().filter(|r| r.health != Some(Health::Down)).count();
    t.push(Span::raw(format!("  {up}/{} reals in service ", s.reals.len() + s.failed_reals.len())));
    Line::from(t)
}

fn render_service(s: &Service, area: Rect, buf: &mut Buffer, addr: u16) {
    let w = widths(addr);
    let total_active: u64 = s.reals.iter().chain(&s.failed_reals).map(|r| u64::from(r.active)).sum();
    let total_inactive: u64 = s.reals.iter().chain(&s.failed_reals).map(|r| u64::from(r.inactive)).sum();
    let mut rows: Vec<Row> = s.reals.iter().map(|r| real_row(r, total_active, &w, false)).collect();
    rows.extend(s.failed_reals.iter().map(|r| real_row(r, total_active, &w, true)));
    if rows.is_empty() {
        rows.push(Row::new(vec![Cell::from("(no reals)")]).style(Style::default().fg(Color::DarkGray)));
    }
    let x = &s.rates;
    rows.push(
        Row::new(vec![
            Cell::from("total"),
            Cell::from(""),
            Cell::from(""),
            Cell::from(""),
            right(total_active.to_string(), w[4]),
            right(total_inactive.to_string(), w[5]),
            right(human(x.cps), w[6]),
            right(human(x.in_pps), w[7]),
            right(human(x.out_pps), w[8]),
            right(human_bytes(x.in_bps), w[9]),
            right(human_bytes(x.out_bps), w[10]),
            Cell::from(""),
        ])
        .style(Style::default().add_modifier(Modifier::BOLD)),
    );
    let header = Row::new(COLUMNS.iter().zip(w).enumerate().map(|(i, (c, cw))| {
        if (2..=10).contains(&i) && i != 3 {
            right(c.to_string(), cw)
        } else {
            Cell::from(*c)
        }
    }))
    .style(Style::default().fg(Color::Yellow).add_modifier(Modifier::BOLD));
    Table::new(rows, w.map(Constraint::Length))
        .header(header)
        .column_spacing(1)
        .block(Block::bordered().border_type(BorderType::Rounded).title(service_title(s)))
        .render(area, buf);
}

/// The body (every service's table) at full height, into its own buffer.
fn render_body(app: &App, l: &Listing, width: u16) -> Buffer {
    let h = body_height(l);
    let mut buf = Buffer::empty(Rect::new(0, 0, width, h));
    let addr = addr_width(l);
    let mut y = 0;
    for s in services_in_order(l, app.sort) {
        let sh = service_height(&s);
        render_service(&s, Rect::new(0, y, width, sh), &mut buf, addr);
        y += sh;
    }
    if l.services.is_empty() {
        Paragraph::new("no services configured").render(Rect::new(0, 0, width, 1), &mut buf);
    }
    buf
}

fn header(app: &App, now: Instant) -> Vec<Line<'static>> {
    let bold = Style::default().add_modifier(Modifier::BOLD);
    let mut title = vec![Span::styled("xvs top", bold)];
    let mut totals = Vec::new();
    if let Some(l) = &app.data {
        if let Some(d) = &l.director {
            title.push(Span::raw(format!(" — xvs {}, up {}", d.version, human_duration(d.uptime_s))));
        }
        for v in &l.vrrp {
            // The role first: a BACKUP director serves no VRRP address.
            let style = if v.state == "MASTER" { bold.fg(Color::Green) } else { bold };
            title.push(Span::raw(format!(" — VRRP {} ", v.name)));
            title.push(Span::styled(v.state.clone(), style));
            title.push(Span::raw(format!(" prio {}", v.priority)));
        }
        let reals: usize = l.services.iter().map(|s| s.reals.len() + s.failed_reals.len()).sum();
        let down: usize = l
            .services
            .iter()
            .flat_map(|s| s.reals.iter().chain(&s.failed_reals))
            .filter(|r| r.health == Some(Health::Down))
            .count();
        title.push(Span::raw(format!(" — {} service(s), {reals} real(s)", l.services.len())));
        if down > 0 {
            title.push(Span::styled(
                format!(", {down} DOWN"),
                Style::default().fg(Color::Red).add_modifier(Modifier::BOLD),
            ));
        }
        let mut sum = Rates::default();
        for s in &l.services {
            sum.cps += s.rates.cps;
            sum.in_pps += s.rates.in_pps;
            sum.out_pps += s.rates.out_pps;
            sum.in_bps += s.rates.in_bps;
            sum.out_bps += s.rates.out_bps;
        }
        let kv = |k: &str, v: String| vec![Span::raw(format!("{k} ")), Span::styled(v, bold), Span::raw("   ")];
        totals.extend(kv("conn/s", human(sum.cps)));
        totals.extend(kv("pkt/s in", human(sum.in_pps)));
        totals.extend(kv("out", human(sum.out_pps)));
        totals.extend(kv("bytes/s in", human_bytes(sum.in_bps)));
        totals.extend(kv("out", human_bytes(sum.out_bps)));
        if let Some(d) = &l.director {
            totals.extend(kv("live conns", human(d.live_connections)));
            let mut drops = human(d.drops);
            if let Some(r) = app.drop_rate {
                drops.push_str(&format!(" ({}/s)", human(r.round() as u64)));
            }
            let style = if app.drop_rate.is_some_and(|r| r > 0.0) { bold.fg(Color::Red) } else { bold };
            totals.push(Span::raw("drops "));
            totals.push(Span::styled(drops, style));
        }
    }
    title.push(Span::raw(format!(" — {} — every {}s", app.socket.display(), fmt_secs(app.interval))));
    let status = match (&app.error, app.fetched) {
        (Some(e), Some(t)) => Line::from(Span::styled(
            format!("{e}; retrying (data from {} ago)", human_duration(now.saturating_duration_since(t).as_secs())),
            Style::default().fg(Color::Red).add_modifier(Modifier::BOLD),
        )),
        (Some(e), None) => Line::from(Span::styled(
            format!("{e}; retrying"),
            Style::default().fg(Color::Red).add_modifier(Modifier::BOLD),
        )),
        (None, None) => Line::from("waiting for the director's first answer…"),
        (None, Some(_)) => Line::from(Span::styled(
            "rates: 2 s samples, averaged as IPVS does (CPS, PPS, bytes/s); share: of the service's active connections",
            Style::default().fg(Color::DarkGray),
        )),
    };
    vec![Line::from(title), Line::from(totals), status]
}

fn fmt_secs(d: Duration) -> String {
    let s = format!("{:.1}", d.as_secs_f64());
    s.strip_suffix(".0").map(str::to_string).unwrap_or(s)
}

/// Draw the whole view into `area` of `buf`; `footer` adds the key help line (live mode).
/// Returns the largest useful scroll offset (so the caller can clamp its own).
pub fn draw(app: &App, now: Instant, area: Rect, buf: &mut Buffer, footer: bool) -> u16 {
    let head = Rect { height: HEADER_LINES.min(area.height), ..area };
    Paragraph::new(header(app, now)).render(head, buf);
    let foot_h = if footer && area.height > HEADER_LINES + 1 { 1 } else { 0 };
    let body = Rect { y: area.y + head.height, height: area.height.saturating_sub(head.height + foot_h), ..area };
    let mut max_scroll = 0;
    if let Some(l) = &app.data {
        let full = render_body(app, l, body.width);
        max_scroll = full.area.height.saturating_sub(body.height);
        let scroll = app.scroll.min(max_scroll);
        for y in 0..body.height.min(full.area.height - scroll) {
            for x in 0..body.width {
                buf[(body.x + x, body.y + y)] = full[(x, y + scroll)].clone();
            }
        }
    }
    if foot_h == 1 {
        let keys = Style::default().add_modifier(Modifier::REVERSED);
        let mut spans = vec![
            Span::styled(" q ", keys),
            Span::raw(" quit  "),
            Span::styled(" s ", keys),
            Span::raw(format!(" sort: {}  ", app.sort.name())),
            Span::styled(" ↑/↓ ", keys),
            Span::raw(" scroll"),
        ];
        if max_scroll > 0 {
            spans.push(Span::raw(format!(" ({}/{})", app.scroll.min(max_scroll), max_scroll)));
        }
        Paragraph::new(Line::from(spans)).render(Rect { y: area.y + area.height - 1, height: 1, ..area }, buf);
    }
    max_scroll
}

/// A buffer as plain text: its symbols, each line without trailing blanks.
pub fn buffer_text(buf: &Buffer) -> String {
    let mut out = String::new();
    for y in 0..buf.area.height {
        let mut line = String::new();
        for x in 0..buf.area.width {
            line.push_str(buf[(buf.area.x + x, buf.area.y + y)].symbol());
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// The view as text, at the width it needs (or `width`, when given and wider).
pub fn render_text(app: &App, width: Option<u16>) -> String {
    let (w, body) = match &app.data {
        Some(l) => (natural_width(l).max(width.unwrap_or(0)), body_height(l)),
        None => (width.unwrap_or(80), 0),
    };
    let mut buf = Buffer::empty(Rect::new(0, 0, w, HEADER_LINES + body));
    draw(app, Instant::now(), buf.area, &mut buf, false);
    buffer_text(&buf)
}

// ---------------------------------------------------------------------------------------
// The command.

/// Where the control socket is: `-c PATH`, or `--config FILE`'s `control_socket`, or the
/// default.
fn socket_of(socket: Option<PathBuf>, config: Option<&Path>) -> Result<PathBuf, String> {
    if let Some(s) = socket {
        return Ok(s);
    }
    if let Some(c) = config {
        return xvs_config::load(c).map(|cfg| cfg.director.control_socket).map_err(|e| e.to_string());
    }
    Ok(PathBuf::from(xvs_config::DEFAULT_CONTROL_SOCKET))
}

pub fn run(socket: Option<PathBuf>, config: Option<&Path>, interval: f64, once: bool) -> ExitCode {
    let socket = match socket_of(socket, config) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("xvs top: {e}");
            return ExitCode::from(2);
        }
    };
    if !(interval.is_finite() && (0.1..=3600.0).contains(&interval)) {
        eprintln!("xvs top: --interval takes seconds between 0.1 and 3600");
        return ExitCode::from(2);
    }
    let mut app = App::new(socket, Duration::from_secs_f64(interval));
    if once {
        let r = fetch(&app.socket);
        if let Err(e) = &r {
            eprintln!("xvs top: {e}");
            return ExitCode::from(1);
        }
        app.update(Instant::now(), r);
        let _ = std::io::stdout().write_all(render_text(&app, None).as_bytes());
        return ExitCode::SUCCESS;
    }
    match live(app) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xvs top: {e}");
            ExitCode::from(1)
        }
    }
}

/// Restores the terminal when dropped: whatever way `live` leaves.
struct Restore;

impl Drop for Restore {
    fn drop(&mut self) {
        ratatui::restore();
        let _ = ratatui::crossterm::execute!(std::io::stdout(), ratatui::crossterm::cursor::Show);
    }
}

fn live(mut app: App) -> Result<(), String> {
    let stop = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGTERM, signal_hook::consts::SIGHUP, signal_hook::consts::SIGINT] {
        signal_hook::flag::register(sig, stop.clone()).map_err(|e| format!("signal handler: {e}"))?;
    }
    // The daemon is asked on its own thread; it ends when the view has gone (send fails).
    let (tx, rx) = mpsc::channel();
    let (sock, every) = (app.socket.clone(), app.interval);
    std::thread::Builder::new()
        .name("xvs-top-fetch".into())
        .spawn(move || loop {
            let r = fetch(&sock);
            if tx.send((Instant::now(), r)).is_err() {
                break;
            }
            std::thread::sleep(every);
        })
        .map_err(|e| format!("starting the fetch thread: {e}"))?;

    let _restore = Restore;
    let mut terminal = ratatui::try_init().map_err(|e| format!("cannot set up the terminal: {e}"))?;
    let mut max_scroll = 0;
    let mut page = 10;
    let mut dirty = true;
    let mut last_draw = Instant::now();
    while !stop.load(Ordering::Relaxed) {
        while let Ok((at, r)) = rx.try_recv() {
            app.update(at, r);
            dirty = true;
        }
        // Redraw at least once a second, so "data from Ns ago" moves while unreachable.
        if dirty || last_draw.elapsed() >= Duration::from_secs(1) {
            terminal
                .draw(|f| {
                    let area = f.area();
                    page = area.height.saturating_sub(HEADER_LINES + 2).max(1);
                    max_scroll = draw(&app, Instant::now(), area, f.buffer_mut(), true);
                })
                .map_err(|e| format!("drawing: {e}"))?;
            app.scroll = app.scroll.min(max_scroll);
            dirty = false;
            last_draw = Instant::now();
        }
        if !event::poll(Duration::from_millis(100)).map_err(|e| format!("reading the terminal: {e}"))? {
            continue;
        }
        match event::read().map_err(|e| format!("reading the terminal: {e}"))? {
            Event::Key(k) if k.kind != KeyEventKind::Release => {
                let ctrl = k.modifiers.contains(KeyModifiers::CONTROL);
                match k.code {
                    KeyCode::Char('q') | KeyCode::Char('Q') | KeyCode::Esc => break,
                    KeyCode::Char('c') if ctrl => break,
                    KeyCode::Char('s') | KeyCode::Char('S') => app.sort = app.sort.next(),
                    KeyCode::Up | KeyCode::Char('k') => app.scroll = app.scroll.saturating_sub(1),
                    KeyCode::Down | KeyCode::Char('j') => app.scroll = (app.scroll + 1).min(max_scroll),
                    KeyCode::PageUp => app.scroll = app.scroll.saturating_sub(page),
                    KeyCode::PageDown | KeyCode::Char(' ') => app.scroll = (app.scroll + page).min(max_scroll),
                    KeyCode::Home | KeyCode::Char('g') => app.scroll = 0,
                    KeyCode::End | KeyCode::Char('G') => app.scroll = max_scroll,
                    _ => continue,
                }
                dirty = true;
            }
            Event::Resize(..) => dirty = true,
            _ => {}
        }
    }
    drop(terminal);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn listing() -> Listing {
        serde_json::from_str(
            r#"{"version":"1.2.1","director":{"version":"0.1.0","uptime_s":3725,"live_connections":42,"drops":7,"health_checks":true},
            "services":[{"protocol":"tcp","vip":"10.0.1.100:80","scheduler":"wrr","flags":["sh-port"],"persistence":0,"ops":false,
              "rates":{"cps":1500,"inpps":12000,"outpps":11000,"inbps":2500000,"outbps":900},
              "reals":[
                {"address":"10.0.2.11:8080","forward":"nat","weight":1,"active":10,"inactive":3,"rates":{"cps":500,"inpps":4000,"outpps":3000,"inbps":1000000,"outbps":300},"health":"up"},
                {"address":"10.0.2.12:8080","forward":"nat","weight":3,"active":30,"inactive":1,"rates":{"cps":1000,"inpps":8000,"outpps":8000,"inbps":1500000,"outbps":600},"health":null}],
              "failed_reals":[{"address":"10.0.2.13:8080","forward":"nat","weight":2,"active":0,"inactive":0,"rates":{},"health":"down"}]}]}"#,
        )
        .unwrap()
    }

    #[test]
    fn units() {
        assert_eq!(human(0), "0");
        assert_eq!(human(999), "999");
        assert_eq!(human(1000), "1.0k");
        assert_eq!(human(12_345), "12.3k");
        assert_eq!(human(123_456), "123k");
        assert_eq!(human(999_999), "1.0M");
        assert_eq!(human(12_345_678_901), "12.3G");
        assert_eq!(human(u64::MAX), "18.4E");
        assert_eq!(human_bytes(512), "512 B");
        assert_eq!(human_bytes(2_500_000), "2.5 MB");
        assert_eq!(human_duration(42), "42s");
        assert_eq!(human_duration(3725), "1h02m");
        assert_eq!(human_duration(90_000), "1d01h");
        assert_eq!(share_bar(0, 0), "··········   0%");
        assert_eq!(share_bar(1, 1), "██████████ 100%");
        assert_eq!(share_bar(1, 4), "██▌·······  25%");
    }

    #[test]
    fn once_text_shows_everything() {
        let mut app = App::new("/run/xvs.sock".into(), Duration::from_secs(1));
        let t0 = Instant::now();
        app.update(t0, Ok(listing()));
        let mut l2 = listing();
        l2.director.as_mut().unwrap().drops = 17;
        app.update(t0 + Duration::from_secs(2), Ok(l2));
        assert_eq!(app.drop_rate, Some(5.0));
        let text = render_text(&app, None);
        for want in [
            "xvs 0.1.0, up 1h02m",
            "1 service(s), 3 real(s), 1 DOWN",
            "conn/s 1.5k",
            "pkt/s in 12.0k",
            "bytes/s in 2.5 MB",
            "live conns 42",
            "drops 17 (5/s)",
            "TCP 10.0.1.100:80  wrr (sh-port)  2/3 reals in service",
            "Real",
            "InBPS",
            "Share",
        ] {
            assert!(text.contains(want), "{want:?} missing in\n{text}");
        }
        let row =
            |a: &str| text.lines().find(|l| l.contains(a)).unwrap_or_else(|| panic!("{a} in\n{text}")).to_string();
        let r0 = row("10.0.2.11:8080");
        assert!(r0.contains(" UP ") && r0.contains("500") && r0.contains("1.0 MB") && r0.contains("25%"), "{r0}");
        let r1 = row("10.0.2.12:8080");
        assert!(r1.contains(" – ") && r1.contains("1.0k") && r1.contains("75%"), "{r1}");
        assert!(row("10.0.2.13:8080").contains("DOWN"));
        assert!(row("total").contains("1.5k"));
        // Every line fits the natural width; the table has its borders.
        assert!(text.lines().all(|l| l.chars().count() <= natural_width(&listing()) as usize));
        assert!(text.contains('╭') && text.contains('╯'));
        assert!(!text.contains("VRRP"), "{text}");
        // With VRRP, each instance's role is in the header.
        let mut l3 = listing();
        l3.vrrp = serde_json::from_str(
            r#"[{"name":"VI_1","state":"MASTER","priority":150,"master":"192.168.20.2"},
                {"name":"VI_GW","state":"BACKUP","priority":100}]"#,
        )
        .unwrap();
        app.update(t0 + Duration::from_secs(4), Ok(l3));
        let text = render_text(&app, Some(200));
        let want = "up 1h02m — VRRP VI_1 MASTER prio 150 — VRRP VI_GW BACKUP prio 100 — 1 service(s)";
        assert!(text.contains(want), "{text}");
    }

    #[test]
    fn sort_and_errors() {
        let mut app = App::new("/x.sock".into(), Duration::from_millis(500));
        app.update(Instant::now(), Err("cannot reach xvs at /x.sock: No such file".into()));
        let text = render_text(&app, None);
        assert!(text.contains("cannot reach xvs at /x.sock: No such file; retrying"), "{text}");
        assert!(text.contains("every 0.5s"), "{text}");
        app.update(Instant::now(), Ok(listing()));
        app.update(Instant::now(), Err("gone".into()));
        let text = render_text(&app, None);
        assert!(text.contains("gone; retrying (data from"), "{text}");
        assert!(text.contains("10.0.2.11:8080"), "stale data stays: {text}");
        // Address order, then busiest first.
        let pos = |t: &str, a: &str| t.find(a).unwrap();
        assert!(pos(&text, "10.0.2.11:8080") < pos(&text, "10.0.2.12:8080"));
        app.sort = app.sort.next();
        assert_eq!(app.sort, Sort::Active);
        let text = render_text(&app, None);
        assert!(pos(&text, "10.0.2.12:8080") < pos(&text, "10.0.2.11:8080"));
    }

    #[test]
    fn scrolls_a_small_screen() {
        let mut app = App::new("/x.sock".into(), Duration::from_secs(1));
        app.update(Instant::now(), Ok(listing()));
        let mut buf = Buffer::empty(Rect::new(0, 0, 120, 8));
        let max = draw(&app, Instant::now(), buf.area, &mut buf, true);
        // Header 3 + footer 1 leave 4 body lines of the 7-line table.
        assert_eq!(max, 3);
        assert!(buffer_text(&buf).contains("q  quit"));
        app.scroll = 3;
        let mut buf = Buffer::empty(Rect::new(0, 0, 120, 8));
        draw(&app, Instant::now(), buf.area, &mut buf, true);
        let t = buffer_text(&buf);
        assert!(t.contains("10.0.2.12:8080") && !t.contains("10.0.2.11:8080"), "{t}");
    }
}
