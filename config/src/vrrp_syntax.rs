//! The syntax of VRRP values, shared by the keepalived and TOML readers: the entry lines
//! of `virtual_ipaddress`, `track_interface` and `track_script` (the TOML keeps them as
//! strings in keepalived's syntax), and decimal seconds.
//!
//! Invariants:
//! - Pure functions of their words; a line is read as keepalived 2.2.7 reads it
//!   (`alloc_ipaddress`, `alloc_track_if`, `alloc_track_script`).
//! - An option keepalived knows and xvs can leave out without changing what happens on
//!   the wire is a warning (with the index of its word); one that would change it is a
//!   refusal; a value keepalived would drop (so the entry would silently vanish) is a
//!   refusal too. The first refusal ends the line.

use std::net::IpAddr;
use std::time::Duration;

use crate::model::{full_prefix, TrackInterface, TrackScript, VirtualAddress, IFNAME_MAX, TRACK_WEIGHT_RANGE};
use crate::syntax::Problem;

/// What reading one line found: its value and warnings, or the word that is refused.
pub(crate) type Line<T> = Result<(T, Vec<(usize, String)>), (usize, Problem)>;

/// What xvs does with an option of a `virtual_ipaddress` entry keepalived accepts.
enum AddrOpt {
    Dev,
    Label,
    /// Left out, with the reason; `true` when it takes a value.
    Ignore(bool, &'static str),
    Refuse(bool, &'static str),
}

fn addr_option(word: &str) -> Option<AddrOpt> {
    Some(match word {
        "dev" => AddrOpt::Dev,
        "label" => AddrOpt::Label,
        "brd" | "broadcast" => AddrOpt::Ignore(true, "xvs adds the address without a broadcast address"),
        "scope" => AddrOpt::Ignore(true, "xvs adds the address with the kernel's default scope"),
        "preferred_lft" => AddrOpt::Ignore(true, "xvs adds the address with the kernel's default lifetime"),
        "-nodad" | "mngtmpaddr" | "autojoin" => AddrOpt::Ignore(false, "xvs adds the address without this flag"),
        "no_track" => AddrOpt::Ignore(false, "xvs does not watch its addresses for deletion"),
        "noprefixroute" => AddrOpt::Refuse(false, "xvs adds the address with its prefix route"),
        "peer" => AddrOpt::Refuse(true, "point-to-point addresses are not supported"),
        "home" => AddrOpt::Refuse(false, "mobile IPv6 home addresses are not supported"),
        "use_vmac" => AddrOpt::Refuse(false, "VRRP virtual MACs are not supported"),
        "track_group" => AddrOpt::Refuse(true, "static track groups are not supported"),
        _ => return None,
    })
}

/// `ADDR[/LEN] [dev IF] [label LABEL] [...]`.
pub(crate) fn virtual_address(words: &[&str]) -> Line<VirtualAddress> {
    let first = words.first().copied().unwrap_or_default();
    let mut a = address_with_prefix(first).map_err(|p| (0, p))?;
    let mut notes = Vec::new();
    let mut i = 1;
    while i < words.len() {
        let word = words[i];
        let Some(opt) = addr_option(word) else {
            notes.push((i, format!("unknown option `{word}` of a virtual address; ignored, as keepalived does")));
            i += 1;
            continue;
        };
        let takes_value =
            matches!(opt, AddrOpt::Dev | AddrOpt::Label | AddrOpt::Ignore(true, _) | AddrOpt::Refuse(true, _));
        let value = words.get(i + 1).copied();
        if takes_value && value.is_none() {
            let p = Problem::new(format!("`{word}` needs a value"), format!("for example `{first} {word} eth0`"));
            return Err((i, p));
        }
        match opt {
            AddrOpt::Dev | AddrOpt::Label => {
                let v = value.unwrap_or_default();
                if v.chars().count() > IFNAME_MAX {
                    let p = Problem::new(
                        format!("{word} `{v}` is longer than {IFNAME_MAX} characters"),
                        "keepalived drops such an address; use a shorter name",
                    );
                    return Err((i + 1, p));
                }
                let slot = if word == "dev" { &mut a.dev } else { &mut a.label };
                *slot = Some(v.to_string());
            }
            AddrOpt::Ignore(_, why) => {
                notes.push((i, format!("`{word}` of virtual address {first} is ignored: {why}")))
            }
            AddrOpt::Refuse(_, _) if word == "noprefixroute" && a.prefix_len == full_prefix(a.addr) => notes.push((
                i,
                format!(
                    "`noprefixroute` of virtual address {first} is ignored: a /{} has no prefix route",
                    a.prefix_len
                ),
            )),
            AddrOpt::Refuse(_, why) => {
                let p = Problem::new(
                    format!("`{word}` (virtual address {first}) is not supported: {why}"),
                    format!("remove `{word}`; xvs refuses what it cannot do the way keepalived does"),
                );
                return Err((i, p));
            }
        }
        i += 1 + usize::from(takes_value);
    }
    Ok((a, notes))
}

/// `ADDR` or `ADDR/LEN` (keepalived's default length: the whole address).
pub(crate) fn address_with_prefix(s: &str) -> Result<VirtualAddress, Problem> {
    let (addr_s, len_s) = match s.split_once('/') {
        Some((a, l)) => (a, Some(l)),
        None => (s, None),
    };
    let addr: IpAddr = addr_s.parse().map_err(|_| {
        Problem::new(
            format!("bad virtual address `{s}`: `{addr_s}` is not an IP address"),
            "write `192.168.20.50`, `10.0.1.100/24` or `2001:db8::10/64`",
        )
    })?;
    let mut a = VirtualAddress::single(addr);
    if let Some(l) = len_s {
        let full = full_prefix(addr);
        match l.parse::<u8>() {
            Ok(len) if len <= full => a.prefix_len = len,
            _ => {
                return Err(Problem::new(
                    format!("bad prefix length `{l}` in virtual address `{s}`: expected 0..={full}"),
                    format!("write `{addr_s}/{full}` or leave the length out"),
                ))
            }
        }
    }
    Ok(a)
}

/// The `weight N [noreverse]` tail of a track entry or a vrrp_script (`tail[0]` is
/// `weight`; empty: no weight); indices are into `tail`.
pub(crate) fn weight(name: &str, what: &str, tail: &[&str]) -> Line<Option<i32>> {
    let mut notes = Vec::new();
    let Some(&kw) = tail.first() else {
        return Ok((None, notes));
    };
    if kw != "weight" {
        let p = Problem::new(format!("unknown {what} option `{kw}`"), format!("write `{name}` or `{name} weight -20`"));
        return Err((0, p));
    }
    let Some(w) = tail.get(1) else {
        let p = Problem::new(format!("`weight` of {what} {name} needs a value"), "for example `weight -20`");
        return Err((0, p));
    };
    let weight = match w.parse::<i32>() {
        // keepalived still reads the old limit +/-254 as +/-253.
        Ok(v @ (-254 | 254)) => {
            let to = v.signum() * 253;
            notes.push((1, format!("weight {v} of {what} {name} is read as {to}, as keepalived does")));
            to
        }
        Ok(v) if TRACK_WEIGHT_RANGE.contains(&v) => v,
        _ => {
            let p = Problem::new(format!("weight `{w}` of {what} {name} is not in -253..=253"), "use -253..=253");
            return Err((1, p));
        }
    };
    match tail.get(2).copied() {
        None | Some("noreverse") => {}
        Some("reverse") => {
            let p = Problem::new(
                format!("`reverse` ({what} {name}) is not supported"),
                "remove `reverse` and give the weight the opposite sign where that is what you mean",
            );
            return Err((2, p));
        }
        Some(other) => notes.push((2, format!("unknown weight option `{other}` of {what} {name}; ignored"))),
    }
    if tail.len() > 3 {
        notes.push((3, format!("`{}` after {what} {name} is not understood; ignored", tail[3..].join(" "))));
    }
    Ok((Some(weight), notes))
}

/// Shifts the word indices of a line read from `words[by..]`.
fn shifted<T>(line: Line<T>, by: usize) -> Line<T> {
    match line {
        Ok((v, notes)) => Ok((v, notes.into_iter().map(|(i, n)| (i + by, n)).collect())),
        Err((i, p)) => Err((i + by, p)),
    }
}

/// `IFNAME [weight N]`.
pub(crate) fn track_interface(words: &[&str]) -> Line<TrackInterface> {
    let name = words.first().copied().unwrap_or_default();
    if name.chars().count() > IFNAME_MAX {
        let p = Problem::new(
            format!("interface name `{name}` is longer than {IFNAME_MAX} characters"),
            "use the interface's real name",
        );
        return Err((0, p));
    }
    let (weight, notes) = shifted(weight(name, "track_interface", &words[1.min(words.len())..]), 1)?;
    Ok((TrackInterface { name: name.to_string(), weight: weight.unwrap_or(0) }, notes))
}

/// `SCRIPT_NAME [weight N]`.
pub(crate) fn track_script(words: &[&str]) -> Line<TrackScript> {
    let name = words.first().copied().unwrap_or_default();
    let (weight, notes) = shifted(weight(name, "track_script", &words[1.min(words.len())..]), 1)?;
    Ok((TrackScript { name: name.to_string(), weight }, notes))
}

/// Decimal seconds (`1`, `0.25`, `0.000001`), rounded to microseconds, at most `max`.
pub(crate) fn seconds(s: &str, max: Duration) -> Option<Duration> {
    let v: f64 = s.parse().ok()?;
    seconds_of(v, max)
}

/// `v` seconds rounded to microseconds, when `0 <= v <= max`.
pub(crate) fn seconds_of(v: f64, max: Duration) -> Option<Duration> {
    if !v.is_finite() || v < 0.0 || v > max.as_secs_f64() + 1e-9 {
        return None;
    }
    Some(Duration::from_micros((v * 1e6).round() as u64))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::format_seconds;

    #[test]
    fn addresses() {
        let (a, w) = virtual_address(&["10.0.1.100/24", "dev", "eth0", "label", "eth0:1"]).unwrap();
        assert_eq!(a.to_string(), "10.0.1.100/24 dev eth0 label eth0:1");
        assert!(w.is_empty());
        let (a, w) = virtual_address(&["192.168.20.50", "brd", "+", "scope", "global"]).unwrap();
        assert_eq!(a.to_string(), "192.168.20.50/32");
        assert_eq!(w.iter().map(|w| w.0).collect::<Vec<_>>(), [1, 3]);
        assert_eq!(virtual_address(&["2001:db8::1", "peer", "2001:db8::2"]).unwrap_err().0, 1);
        assert_eq!(virtual_address(&["10.0.0.1", "dev"]).unwrap_err().0, 1);
        assert_eq!(virtual_address(&["10.0.0.1/33"]).unwrap_err().0, 0);
        assert_eq!(virtual_address(&["10.0.0.1/24", "noprefixroute"]).unwrap_err().0, 1);
        assert!(virtual_address(&["10.0.0.1", "noprefixroute"]).is_ok());
    }

    #[test]
    fn tracks() {
        let (t, _) = track_interface(&["eth1", "weight", "-20"]).unwrap();
        assert_eq!((t.name.as_str(), t.weight), ("eth1", -20));
        let (t, w) = track_script(&["chk", "weight", "254"]).unwrap();
        assert_eq!((t.weight, w.len()), (Some(253), 1));
        assert_eq!(track_script(&["chk"]).unwrap().0.weight, None);
        assert_eq!(track_script(&["chk", "weight", "10", "reverse"]).unwrap_err().0, 3);
        assert_eq!(track_script(&["chk", "weight", "300"]).unwrap_err().0, 2);
    }

    #[test]
    fn decimal_seconds() {
        let max = Duration::from_secs(1000);
        assert_eq!(seconds("0.000001", max), Some(Duration::from_micros(1)));
        assert_eq!(seconds("4.12", max), Some(Duration::from_millis(4120)));
        assert_eq!(seconds("1001", max), None);
        assert_eq!(seconds("-1", max), None);
        for s in ["1", "0.25", "0.000001", "40.95"] {
            assert_eq!(format_seconds(seconds(s, max).unwrap()), s);
        }
    }
}
