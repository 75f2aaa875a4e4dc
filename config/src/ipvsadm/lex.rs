//! popt's reading of ipvsadm's arguments, and the one table of ipvsadm's options.
//!
//! Invariants: every option ipvsadm 1.31 knows is in [`OPTIONS`] once per spelling (so an
//! option xvs does not do is still read, and refused or warned about later, by name); an
//! occurrence is named by its long name whatever the spelling; nothing here knows what
//! an option means.

use super::{err_at, ArgError};

/// How an option takes a value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Arity {
    Flag,
    Value,
    /// popt's `POPT_ARGFLAG_OPTIONAL`: the next argument unless it starts with `-`.
    Optional,
}

use Arity::{Flag, Optional, Value};

/// No short spelling.
const NO: char = '\0';

/// Every option of ipvsadm 1.31 (and xvs's `--json`, `--health`, `--vrrp`): letter, long name, arity.
const OPTIONS: [(char, &str, Arity); 61] = [
    ('A', "add-service", Flag),
    ('E', "edit-service", Flag),
    ('D', "delete-service", Flag),
    ('C', "clear", Flag),
    ('L', "list", Flag),
    ('l', "list", Flag),
    ('Z', "zero", Flag),
    ('a', "add-server", Flag),
    ('e', "edit-server", Flag),
    ('d', "delete-server", Flag),
    ('h', "help", Flag),
    ('v', "version", Flag),
    ('R', "restore", Flag),
    ('S', "save", Flag),
    (NO, "set", Flag),
    (NO, "start-daemon", Value),
    (NO, "stop-daemon", Value),
    ('t', "tcp-service", Value),
    ('u', "udp-service", Value),
    (NO, "sctp-service", Value),
    ('f', "fwmark-service", Value),
    ('6', "ipv6", Flag),
    ('s', "scheduler", Value),
    ('b', "sched-flags", Value),
    ('p', "persistent", Optional),
    ('M', "netmask", Value),
    ('o', "ops", Flag),
    (NO, "pe", Value),
    ('r', "real-server", Value),
    ('g', "gatewaying", Flag),
    ('i', "ipip", Flag),
    ('m', "masquerading", Flag),
    ('w', "weight", Value),
    ('x', "u-threshold", Value),
    ('y', "l-threshold", Value),
    (NO, "tun-type", Value),
    (NO, "tun-port", Value),
    (NO, "tun-nocsum", Flag),
    (NO, "tun-csum", Flag),
    (NO, "tun-remcsum", Flag),
    ('n', "numeric", Flag),
    ('c', "connection", Flag),
    (NO, "timeout", Flag),
    (NO, "daemon", Flag),
    (NO, "stats", Flag),
    (NO, "rate", Flag),
    (NO, "thresholds", Flag),
    (NO, "persistent-conn", Flag),
    (NO, "nosort", Flag),
    (NO, "sort", Flag),
    ('X', "exact", Flag),
    (NO, "tun-info", Flag),
    (NO, "json", Flag),
    (NO, "health", Flag),
    (NO, "vrrp", Flag),
    (NO, "mcast-interface", Value),
    (NO, "syncid", Value),
    (NO, "mcast-group", Value),
    (NO, "mcast-port", Value),
    (NO, "mcast-ttl", Value),
    (NO, "sync-maxlen", Value),
];

fn find(matches: impl Fn(char, &str) -> bool) -> Option<(&'static str, Arity)> {
    OPTIONS.iter().find(|(c, l, _)| matches(*c, l)).map(|&(_, l, a)| (l, a))
}

/// One option as given: its long name, its value, and where both are.
#[derive(Debug, Clone)]
pub(super) struct Occ {
    pub name: &'static str,
    pub value: Option<String>,
    /// The argument (0-based) the option is in.
    pub at: usize,
    /// The argument its value is in (`at` when attached or absent).
    pub vat: usize,
    /// The argument the option is in, as written.
    pub text: String,
}

impl Occ {
    /// The value, or "" for an option that has none.
    pub fn value(&self) -> &str {
        self.value.as_deref().unwrap_or_default()
    }
}

/// The options of a command line, its positional arguments with their indices, and the
/// arguments that could not be read (each skipped, so the rest is still read).
#[derive(Debug, Default)]
pub(super) struct Tokens {
    pub occs: Vec<Occ>,
    pub positional: Vec<(usize, String)>,
    pub errors: Vec<ArgError>,
}

/// Splits `args` into option occurrences and positional arguments (popt's rules).
pub(super) fn tokenize(args: &[String]) -> Tokens {
    let mut lx = Lexer { args, i: 0, out: Tokens::default() };
    while lx.i < args.len() {
        let a = &args[lx.i];
        if a == "--" {
            lx.out.positional.extend(args.iter().enumerate().skip(lx.i + 1).map(|(k, s)| (k, s.clone())));
            break;
        }
        let read = if let Some(long) = a.strip_prefix("--") {
            lx.long(long)
        } else if a.len() > 1 && a.starts_with('-') {
            lx.shorts(&a[1..])
        } else {
            lx.out.positional.push((lx.i, a.clone()));
            Ok(())
        };
        if let Err(e) = read {
            lx.out.errors.push(e);
        }
        lx.i += 1;
    }
    lx.out
}

struct Lexer<'a> {
    args: &'a [String],
    /// The argument being read.
    i: usize,
    out: Tokens,
}

impl Lexer<'_> {
    fn invalid(&self, shown: &str) -> ArgError {
        err_at(format!("invalid option `{shown}'"), self.i, &self.args[self.i])
            .hint("see `ipvsadm -h` (`xvs ctl -h`) for the options")
    }

    /// `--name`, `--name value` or `--name=value`.
    fn long(&mut self, body: &str) -> Result<(), ArgError> {
        let (at, text) = (self.i, self.args[self.i].clone());
        let (name, attached) = match body.split_once('=') {
            Some((n, v)) => (n, Some(v.to_string())),
            None => (body, None),
        };
        let (name, arity) = find(|_, l| l == name).ok_or_else(|| self.invalid(&text))?;
        if arity == Flag && attached.is_some() {
            return Err(
                err_at(format!("option `--{name}' takes no value"), at, &text).hint(format!("write `--{name}` alone"))
            );
        }
        let value = self.value(arity, attached, &format!("--{name}"))?;
        self.out.occs.push(Occ { name, value, at, vat: self.i, text });
        Ok(())
    }

    /// A cluster of short options (`-Ln`, `-w3`, `-p`).
    fn shorts(&mut self, cluster: &str) -> Result<(), ArgError> {
        let (at, text) = (self.i, self.args[self.i].clone());
        let chars: Vec<char> = cluster.chars().collect();
        for (k, &c) in chars.iter().enumerate() {
            let (name, arity) = find(|s, _| s == c && c != NO).ok_or_else(|| self.invalid(&format!("-{c}")))?;
            let rest: String = chars[k + 1..].iter().collect();
            let attached = (arity != Flag && !rest.is_empty()).then_some(rest);
            let ends = attached.is_some();
            let value = self.value(arity, attached, &format!("-{c}"))?;
            self.out.occs.push(Occ { name, value, at, vat: self.i, text: text.clone() });
            if ends {
                break;
            }
        }
        Ok(())
    }

    /// The value of an option: attached, or the next argument (which it then consumes).
    fn value(&mut self, arity: Arity, attached: Option<String>, shown: &str) -> Result<Option<String>, ArgError> {
        if attached.is_some() || arity == Flag {
            return Ok(attached);
        }
        let next = self.args.get(self.i + 1);
        let take = match arity {
            Value => next.is_some(),
            _ => next.is_some_and(|a| !a.starts_with('-') || a == "-"),
        };
        if !take {
            if arity == Value {
                return Err(err_at(format!("missing argument to `{shown}'"), self.i, &self.args[self.i])
                    .hint(format!("`{shown}` takes a value; see `ipvsadm -h`")));
            }
            return Ok(None);
        }
        self.i += 1;
        Ok(Some(self.args[self.i].clone()))
    }
}
