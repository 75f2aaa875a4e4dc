//! Applying ipvsadm edits to the configuration model.
//!
//! Invariants:
//! - [`apply_batch`] works on a copy: it applies every command in order, checks the whole
//!   model with `Config::validate()` after each one (so an error names its line), and
//!   returns the new model only if all of them succeeded. The caller swaps it in; on an
//!   error the live model is untouched (`-R` is all or nothing).
//! - Semantics are IPVS's: `-A` of an existing service is "Service already exists", `-a`
//!   to a missing service is "Service not defined", and so on, with ipvsadm's messages.
//!   `-E` and `-e` replace what ipvsadm's options describe (an `-E` without `-p` makes the
//!   service non-persistent; an `-e` without `-w` sets weight 1), as the kernel does; what
//!   ipvsadm cannot express (health checks, `mh_table_size`, the sorry server, ...) stays.
//! - What an option means for the model is the grammar's (`ServiceOpts::to_service`,
//!   `RealOpts::apply_to`, ... in `xvs_config::ipvsadm`), the same the ipvsadm-save reader
//!   of `xvs run -c` uses; this module owns only IPVS's table semantics and the batch.

use std::fmt;

use xvs_config::Config;

use super::args::{self, Command, SvcId};

/// An edit that failed: where, which command, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EditError {
    /// The `-R` input line (1-based), when the command came from there.
    pub line: Option<usize>,
    /// The command as written.
    pub command: String,
    pub message: String,
    /// True when the command itself could not be parsed (a usage error, exit 2).
    pub usage: bool,
}

impl fmt::Display for EditError {
    /// `line 3: -a -t 10.0.1.100:80 -r 10.0.2.11:80 -g -w 1: Service not defined`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(l) = self.line {
            write!(f, "line {l}: ")?;
        }
        if !self.command.is_empty() {
            write!(f, "{}: ", self.command)?;
        }
        f.write_str(&self.message)
    }
}

fn find(cfg: &Config, id: &SvcId) -> Option<usize> {
    cfg.services.iter().position(|s| id.is(s))
}

/// Apply one command to `cfg` (no validation); the error is ipvsadm's message.
pub fn apply_command(cfg: &mut Config, cmd: &Command) -> Result<(), String> {
    match cmd {
        Command::AddService(o) => {
            if find(cfg, &o.id).is_some() {
                return Err("Service already exists".into());
            }
            cfg.services.push(o.to_service());
        }
        Command::EditService(o) => {
            let i = find(cfg, &o.id).ok_or("No such service")?;
            o.apply_to(&mut cfg.services[i]);
        }
        Command::DelService(id) => {
            let i = find(cfg, id).ok_or("No such service")?;
            cfg.services.remove(i);
        }
        Command::Flush => cfg.services.clear(),
        Command::AddReal(o) => {
            let i = find(cfg, &o.svc).ok_or("Service not defined")?;
            let s = &mut cfg.services[i];
            if s.reals.iter().any(|r| r.addr == o.addr) {
                return Err("Destination already exists".into());
            }
            s.reals.push(o.to_real());
        }
        Command::EditReal(o) => {
            let i = find(cfg, &o.svc).ok_or("Service not defined")?;
            let r = cfg.services[i].reals.iter_mut().find(|r| r.addr == o.addr).ok_or("No such destination")?;
            o.apply_to(r);
        }
        Command::DelReal { svc, addr } => {
            let i = find(cfg, svc).ok_or("Service not defined")?;
            let s = &mut cfg.services[i];
            let k = s.reals.iter().position(|r| r.addr == *addr).ok_or("No such destination")?;
            s.reals.remove(k);
        }
        Command::SetTimeouts { tcp, tcp_fin, udp } => {
            // ipvsadm --set: 0 leaves that timeout as it is.
            for (v, t) in
                [(*tcp, &mut cfg.timeouts.tcp), (*tcp_fin, &mut cfg.timeouts.tcp_fin), (*udp, &mut cfg.timeouts.udp)]
            {
                if v != 0 {
                    *t = v;
                }
            }
        }
        Command::Zero(Some(id)) => {
            find(cfg, id).ok_or("No such service")?;
        }
        Command::Zero(None)
        | Command::List(_)
        | Command::Save
        | Command::Restore
        | Command::Help
        | Command::Version => {}
        Command::StartDaemon(_) | Command::StopDaemon(_) => {
            return Err("the sync daemon is not part of a rule set: start or stop it with its own `xvs ctl` line".into())
        }
    }
    Ok(())
}

/// One command of a batch: its `-R` line (if any), its text, and the parsed command.
pub type Step = (Option<usize>, String, Command);

/// Apply `steps` to a copy of `model`; the new model, or the first error (and then
/// nothing changed).
pub fn apply_batch(model: &Config, steps: &[Step]) -> Result<Config, EditError> {
    let mut cfg = model.clone();
    for (line, text, cmd) in steps {
        let fail = |message: String| EditError { line: *line, command: text.clone(), message, usage: false };
        apply_command(&mut cfg, cmd).map_err(fail)?;
        if let Err(errors) = cfg.validate() {
            let e = &errors.0[0];
            let mut m = e.message.clone();
            if let Some(h) = &e.hint {
                m.push_str(&format!(" ({h})"));
            }
            return Err(fail(m));
        }
    }
    Ok(cfg)
}

/// Parse `-R` input (ipvsadm-save output) into steps; only edits may appear.
pub fn parse_restore(input: &str) -> Result<Vec<Step>, EditError> {
    let mut steps = Vec::new();
    for (n, line) in input.lines().enumerate() {
        let words = args::split_line(line);
        if words.is_empty() {
            continue;
        }
        let text = words.join(" ");
        let err = |message: String, usage: bool| EditError { line: Some(n + 1), command: text.clone(), message, usage };
        let cmd = args::parse(&words).map_err(|e| err(e.to_string(), true))?;
        if !cmd.is_edit() || cmd == Command::Restore {
            return Err(err("only -A -E -D -C -a -e -d and --set may appear in -R input".into(), true));
        }
        steps.push((Some(n + 1), text, cmd));
    }
    Ok(steps)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn model() -> Config {
        xvs_config::parse_str(
            "[[service]]\nvip = \"10.0.1.100:80\"\nforward = \"nat\"\n\
             [[service.real]]\naddr = \"10.0.2.11:8080\"\n[[service.real]]\naddr = \"10.0.2.12:8080\"\n",
            "t.toml",
        )
        .unwrap()
    }

    fn step(s: &str) -> Step {
        let words: Vec<String> = s.split_whitespace().map(str::to_string).collect();
        (None, s.to_string(), args::parse(&words).unwrap())
    }

    fn one(cfg: &Config, s: &str) -> Result<Config, String> {
        apply_batch(cfg, &[step(s)]).map_err(|e| e.to_string())
    }

    #[test]
    fn ipvsadm_errors() {
        let m = model();
        for (cmd, message) in [
            ("-A -t 10.0.1.100:80", "Service already exists"),
            ("-E -t 10.0.1.101:80", "No such service"),
            ("-D -t 10.0.1.101:80", "No such service"),
            ("-a -t 10.0.1.101:80 -r 10.0.2.11", "Service not defined"),
            ("-a -t 10.0.1.100:80 -r 10.0.2.11:8080 -m", "Destination already exists"),
            ("-e -t 10.0.1.100:80 -r 10.0.2.13:8080 -m", "No such destination"),
            ("-d -t 10.0.1.100:80 -r 10.0.2.11", "No such destination"),
            ("-Z -t 10.0.1.101:80", "No such service"),
        ] {
            assert_eq!(one(&m, cmd).unwrap_err(), format!("{cmd}: {message}"));
        }
    }

    /// One grammar: the lines `ipvsadm-save` prints mean the same model to `xvs run -c`
    /// (the file reader) and to `xvs ctl -R`, defaults included.
    #[test]
    fn a_save_file_and_ctl_restore_read_the_same_model() {
        let text = "-A -t 10.0.1.100:80 -s wlc -p -M 255.255.255.0\n\
                    -a -t 10.0.1.100:80 -r 10.0.2.11:80 -g -w 1 -x 0 -y 0\n\
                    -a -t 10.0.1.100:80 -r 10.0.2.12 -w 3 -x 1000 -y 800\n\
                    -a -t 10.0.1.100:80 -r 10.0.2.13:8080 -i\n\
                    -A -u 10.0.1.53:53 -s sh -b flag-1,sh-port -o\n\
                    -a -u 10.0.1.53:53 -r 10.0.2.21:5353 -m -w 2\n\
                    -A -t [2001:db8::1]:443 -s mh -b mh-port -p 600 -M 64\n\
                    -a -t [2001:db8::1]:443 -r 2001:db8:2::11 -m\n\
                    --add-service --tcp-service=203.0.113.0/24:0 --scheduler dh --persistent\n\
                    -A -t 10.0.1.100\t-p 60 # every port\n";
        let (from_file, _) = xvs_config::parse_ipvsadm_save(text, "rules").unwrap_or_else(|e| panic!("{e}"));
        let steps = parse_restore(text).unwrap_or_else(|e| panic!("{e}"));
        let mut from_ctl = apply_batch(&Config::default(), &steps).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(from_ctl.services.len(), 5);
        // The file reader also settles each service's default `forward` from its reals (for
        // the TOML it prints); the reals' own, which is what forwards, must agree.
        for (c, f) in from_ctl.services.iter_mut().zip(&from_file.services) {
            c.forward = f.forward;
        }
        assert_eq!(from_ctl, from_file);
        let s = &from_file.services;
        assert_eq!((s[0].persistence, s[0].persistence_netmask, s[0].reals[2].addr.port()), (300, 24, 80));
        assert!(s[1].scheduler_flags.sh_fallback && s[1].scheduler_flags.sh_port && s[1].ops);
        assert_eq!((s[2].reals[0].addr.port(), s[3].vip.prefix_len, s[4].vip.port), (443, 24, 0));
    }

    #[test]
    fn edits() {
        let m = model();
        let c = one(&m, "-a -t 10.0.1.100:80 -r 10.0.2.13:8080 -m -w 3 -x 10 -y 5").unwrap();
        let r = &c.services[0].reals[2];
        assert_eq!(
            (r.addr.to_string(), r.weight, r.upper_threshold, r.lower_threshold),
            ("10.0.2.13:8080".into(), 3, 10, 5)
        );
        let c = one(&c, "-e -t 10.0.1.100:80 -r 10.0.2.13:8080 -m -w 0").unwrap();
        assert_eq!((c.services[0].reals[2].weight, c.services[0].reals[2].upper_threshold), (0, 0));
        let c = one(&c, "-d -t 10.0.1.100:80 -r 10.0.2.13:8080").unwrap();
        assert_eq!(c.services[0].reals.len(), 2);
        let c = one(&c, "-E -t 10.0.1.100:80 -s sh -b sh-port -p 60 -M 255.255.255.0").unwrap();
        let s = &c.services[0];
        assert_eq!(
            (s.scheduler.as_str(), s.scheduler_flags.sh_port, s.persistence, s.persistence_netmask),
            ("sh", true, 60, 24)
        );
        assert_eq!(s.reals.len(), 2, "-E keeps the reals");
        let c = one(&c, "-E -t 10.0.1.100:80").unwrap();
        assert_eq!((c.services[0].scheduler.as_str(), c.services[0].persistence), ("wlc", 0), "ipvsadm -E semantics");
        let c = one(&c, "--set 0 60 0").unwrap();
        assert_eq!((c.timeouts.tcp, c.timeouts.tcp_fin, c.timeouts.udp), (900, 60, 300));
        let c = one(&c, "-A -u 10.0.1.100:53 -s rr --ops").unwrap();
        assert!(c.services[1].ops);
        let c = one(&c, "-D -t 10.0.1.100:80").unwrap();
        assert_eq!(c.services.len(), 1);
        let c = one(&c, "-C").unwrap();
        assert!(c.services.is_empty());
    }

    #[test]
    fn restore_is_all_or_nothing() {
        let m = model();
        let input = "-A -t 10.0.1.101:80 -s rr\n-a -t 10.0.1.101:80 -r 10.0.2.11:80 -g -w 1\n\
                     -A -t 10.0.1.100:80 -s wlc\n-a -t 10.0.1.101:80 -r 10.0.2.12:80 -g -w 1\n";
        let steps = parse_restore(input).unwrap();
        let e = apply_batch(&m, &steps).unwrap_err();
        assert_eq!(e.to_string(), "line 3: -A -t 10.0.1.100:80 -s wlc: Service already exists");
        assert_eq!(m, model(), "the live model is untouched");
        // Without the bad line, all of it applies.
        let good: Vec<Step> = steps.into_iter().filter(|s| s.0 != Some(3)).collect();
        let c = apply_batch(&m, &good).unwrap();
        assert_eq!(c.services.len(), 2);
        assert_eq!(c.services[1].reals.len(), 2);
        // A line that does not parse is a usage error, with its line.
        let e = parse_restore("-C\n\n-a -t 10.0.1.100:80 -r 10.0.2.11 -w x\n").unwrap_err();
        assert!(e.usage);
        assert_eq!(
            e.to_string(),
            "line 3: -a -t 10.0.1.100:80 -r 10.0.2.11 -w x: illegal weight specified (argument 7: `x`)"
        );
        assert!(parse_restore("-L -n\n").unwrap_err().to_string().contains("only -A -E -D -C"));
    }

    #[test]
    fn validation_errors_name_the_line() {
        let m = model();
        // The model's own rules (Config::validate) apply after every line.
        let steps = parse_restore("-C\n-A -t 203.0.113.1/24:80 -s dh\n").unwrap();
        let e = apply_batch(&m, &steps).unwrap_err().to_string();
        assert!(
            e.starts_with("line 2: -A -t 203.0.113.1/24:80 -s dh: VIP prefix 203.0.113.1/24:80 has host bits set"),
            "{e}"
        );
        assert!(e.contains("203.0.113.0/24:80"), "the hint: {e}");
        assert!(apply_batch(&m, &parse_restore("-A -t 203.0.113.0/24:80 -s dh\n").unwrap()).is_ok());
    }
}
