//! Prints one health check: the keys every check has, then those of its kind; several
//! URLs as `[[service.real.check.url]]` tables, last, since keys after them would be
//! theirs.

use std::fmt::{self, Write};

use super::q;
use crate::model::{format_hex, Check, CheckKind, HttpUrl, Real, Service};

pub(super) fn write(o: &mut String, c: &Check, r: &Real, s: &Service) -> fmt::Result {
    writeln!(o, "kind = {}", q(c.kind.name()))?;
    if c.kind.has_port() {
        match c.port {
            Some(p) => writeln!(o, "port = {p}")?,
            None => writeln!(o, "# port: unset = the real's port ({})", r.addr.port())?,
        }
    }
    writeln!(o, "connect_timeout = {}", c.connect_timeout)?;
    writeln!(o, "retry = {}", c.retry)?;
    writeln!(o, "delay_before_retry = {}", c.delay_before_retry)?;
    if let Some(d) = c.delay_loop {
        writeln!(o, "delay_loop = {d}")?;
    }
    if let Some(a) = c.alpha {
        writeln!(o, "alpha = {a}")?;
    }
    match c.warmup {
        Some(w) => writeln!(o, "warmup = {w}")?,
        None => {
            writeln!(o, "# warmup: unset = up to delay_loop ({} s), at random", c.delay_loop.unwrap_or(s.delay_loop))?
        }
    }
    connect(o, c)?;
    match c.kind {
        CheckKind::Http | CheckKind::Ssl => http(o, c)?,
        CheckKind::Misc => {
            writeln!(o, "command = {}", q(&c.command))?;
            writeln!(o, "dynamic = {}", c.dynamic)?;
            if let Some(u) = &c.user {
                writeln!(o, "user = {}", q(&u.to_string()))?;
            }
        }
        CheckKind::Dns => {
            writeln!(o, "dns_type = {}", q(&c.dns_type))?;
            writeln!(o, "dns_name = {}", q(&c.dns_name))?;
        }
        CheckKind::Udp => {
            let u = &c.udp;
            match &u.payload {
                Some(p) => writeln!(o, "payload = {}", q(&format_hex(&p.iter().map(|b| (*b, 0)).collect::<Vec<_>>())))?,
                None => writeln!(o, "# payload: unset = random bytes")?,
            }
            writeln!(o, "require_reply = {}", u.require_reply)?;
            if !u.reply.is_empty() {
                writeln!(o, "reply = {}", q(&format_hex(&u.reply)))?;
            }
            writeln!(o, "min_reply_length = {}", u.min_reply_length)?;
            writeln!(o, "max_reply_length = {}", u.max_reply_length)?;
        }
        CheckKind::Smtp => writeln!(o, "helo_name = {}", q(&c.helo_name))?,
        CheckKind::File => {
            let f = &c.file;
            writeln!(o, "file = {}", q(&f.path))?;
            writeln!(o, "weight = {}", f.weight)?;
            writeln!(o, "reverse = {}", f.reverse)?;
            if let Some((v, overwrite)) = f.init {
                writeln!(o, "init_file = {v}")?;
                writeln!(o, "init_overwrite = {overwrite}")?;
            }
        }
        CheckKind::Tcp | CheckKind::Ping => {}
    }
    // Url tables come last: every key after them would be theirs.
    if c.urls.len() > 1 {
        for u in &c.urls {
            writeln!(o)?;
            writeln!(o, "[[service.real.check.url]]")?;
            url(o, u)?;
        }
    }
    Ok(())
}

fn connect(o: &mut String, c: &Check) -> fmt::Result {
    let k = &c.connect;
    if let Some(ip) = k.ip {
        writeln!(o, "connect_ip = {}", q(&ip.to_string()))?;
    }
    if let Some(ip) = k.bind {
        writeln!(o, "bindto = {}", q(&ip.to_string()))?;
    }
    if let Some(p) = k.bind_port {
        writeln!(o, "bind_port = {p}")?;
    }
    if !k.bind_if.is_empty() {
        writeln!(o, "bind_if = {}", q(&k.bind_if))?;
    }
    if k.fwmark != 0 {
        writeln!(o, "fwmark = {}", k.fwmark)?;
    }
    Ok(())
}

fn http(o: &mut String, c: &Check) -> fmt::Result {
    writeln!(o, "http_protocol = {}", q(c.http_protocol.name()))?;
    if c.urls.len() > 1 {
        writeln!(o, "fast_recovery = {}", c.fast_recovery)?;
    }
    if !c.sni.is_empty() {
        writeln!(o, "sni = {}", q(&c.sni))?;
    }
    if let [u] = c.urls.as_slice() {
        url(o, u)?;
    }
    Ok(())
}

fn url(o: &mut String, u: &HttpUrl) -> fmt::Result {
    writeln!(o, "path = {}", q(&u.path))?;
    match u.status.0.as_slice() {
        [] => writeln!(o, "# status: unset = any 2xx")?,
        [(a, b)] if a == b => writeln!(o, "status = {a}")?,
        _ => writeln!(o, "status = {}", q(&u.status.to_string()))?,
    }
    writeln!(o, "digest = {}", q(&u.digest))?;
    if !u.virtualhost.is_empty() {
        writeln!(o, "virtualhost = {}", q(&u.virtualhost))?;
    }
    if let Some(re) = &u.regex {
        writeln!(o, "regex = {}", q(&re.pattern))?;
        writeln!(o, "regex_no_match = {}", re.no_match)?;
        if !re.options.is_empty() {
            let opts: Vec<String> = re.options.iter().map(|x| q(x)).collect();
            writeln!(o, "regex_options = [{}]", opts.join(", "))?;
        }
        if re.min_offset != 0 {
            writeln!(o, "regex_min_offset = {}", re.min_offset)?;
        }
        if let Some(m) = re.max_offset {
            writeln!(o, "regex_max_offset = {m}")?;
        }
    }
    Ok(())
}
