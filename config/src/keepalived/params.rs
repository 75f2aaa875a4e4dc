//! keepalived's configuration parameters: a line `$NAME=value` defines `NAME` (the value
//! runs on over the next lines while a line ends with `\`, and then holds their line
//! breaks, so one parameter can stand for whole blocks), and `$NAME` or `${NAME}` in any
//! later word is replaced by its value, as keepalived's reader does before parsing.
//! Definitions are global: they hold in included files too, from where they are read on.
//!
//! Invariants: a definition's lines become empty lines, so every other token keeps its
//! file, line and column; a replaced word's tokens all carry the place of the word they
//! replace; expansion is bounded (values may use other parameters: at most
//! [`MAX_DEPTH`] levels and [`MAX_LEN`] bytes per word), so no definition can blow up.

use std::collections::HashMap;

/// How deep parameters may refer to parameters.
pub const MAX_DEPTH: usize = 16;
/// Longest expansion of one word.
pub const MAX_LEN: usize = 1 << 20;

/// The parameters defined so far.
#[derive(Debug, Default)]
pub struct Params {
    defs: HashMap<String, String>,
}

fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// `NAME` of a definition line `$NAME=...` (after leading blanks), and the value's start.
fn definition(line: &str) -> Option<(&str, usize)> {
    let lead = line.len() - line.trim_start().len();
    let rest = line[lead..].strip_prefix('$')?;
    let end = rest.find(|c: char| !is_name_char(c)).unwrap_or(rest.len());
    let name = &rest[..end];
    let after = rest[end..].trim_start();
    if name.is_empty() || !after.starts_with('=') {
        return None;
    }
    Some((name, line.len() - after.len() + 1))
}

impl Params {
    /// Take the definitions out of `text` (their lines left empty) and return the rest.
    pub fn take_definitions(&mut self, text: &str) -> String {
        let mut out = String::with_capacity(text.len());
        let mut lines = text.split_inclusive('\n');
        while let Some(line) = lines.next() {
            let Some((name, at)) = definition(line) else {
                out.push_str(line);
                continue;
            };
            let name = name.to_string();
            let mut value = String::new();
            let mut cur = &line[at..];
            loop {
                let body = cur.trim_end_matches(['\n', '\r']);
                let (part, more) = match body.strip_suffix('\\') {
                    Some(p) => (p, true),
                    None => (body, false),
                };
                value.push_str(part.trim());
                if cur.ends_with('\n') {
                    out.push('\n');
                }
                if !more {
                    break;
                }
                match lines.next() {
                    Some(next) => {
                        value.push('\n');
                        cur = next;
                    }
                    None => break,
                }
            }
            self.defs.insert(name, value);
        }
        out
    }

    /// `word` with its parameters replaced; `None` when it uses none that is defined.
    /// `Err` when the expansion is too deep or too long.
    pub fn substitute(&self, word: &str) -> Result<Option<String>, String> {
        if !word.contains('$') {
            return Ok(None);
        }
        let out = self.expand(word, 0)?;
        Ok((out != word).then_some(out))
    }

    fn expand(&self, word: &str, depth: usize) -> Result<String, String> {
        if depth > MAX_DEPTH {
            return Err(format!("parameters refer to parameters more than {MAX_DEPTH} deep"));
        }
        let mut out = String::new();
        let mut rest = word;
        while let Some(d) = rest.find('$') {
            out.push_str(&rest[..d]);
            let after = &rest[d + 1..];
            let (name, skip) = match after.strip_prefix('{') {
                Some(b) => match b.find('}') {
                    Some(e) => (&b[..e], e + 2),
                    None => ("", 0),
                },
                None => {
                    let e = after.find(|c: char| !is_name_char(c)).unwrap_or(after.len());
                    (&after[..e], e)
                }
            };
            match self.defs.get(name).filter(|_| !name.is_empty()) {
                Some(v) => out.push_str(&self.expand(v, depth + 1)?),
                None => out.push_str(&rest[d..d + 1 + skip]),
            }
            if out.len() > MAX_LEN {
                return Err(format!("a parameter expands to more than {MAX_LEN} bytes"));
            }
            rest = &after[skip..];
        }
        out.push_str(rest);
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn definitions_leave_empty_lines_and_words_are_replaced() {
        let mut p = Params::default();
        let text = "$IF=eth0\n  $PRIO = 100\n$BLOCK=real_server 10.0.2.11 80 { \\\n  weight 2 \\\n}\nvrrp_instance VI_${IF} {\n";
        let rest = p.take_definitions(text);
        assert_eq!(rest, "\n\n\n\n\nvrrp_instance VI_${IF} {\n", "line numbers hold");
        assert_eq!(p.substitute("VI_${IF}").unwrap().as_deref(), Some("VI_eth0"));
        assert_eq!(p.substitute("$PRIO").unwrap().as_deref(), Some("100"));
        assert_eq!(p.substitute("$BLOCK").unwrap().as_deref(), Some("real_server 10.0.2.11 80 {\nweight 2\n}"));
        assert_eq!(p.substitute("$UNKNOWN").unwrap(), None, "undefined: left as it is");
        assert_eq!(p.substitute("plain").unwrap(), None);
    }

    #[test]
    fn expansion_is_bounded() {
        let mut p = Params::default();
        p.take_definitions("$A=$B\n$B=$A\n");
        assert!(p.substitute("$A").is_err(), "a loop");
        let mut p = Params::default();
        let mut defs = String::from("$X0=xxxxxxxxxxxxxxxx\n");
        for i in 1..16 {
            defs.push_str(&format!("$X{i}=$X{0}$X{0}$X{0}$X{0}\n", i - 1));
        }
        p.take_definitions(&defs);
        assert!(p.substitute("$X15").is_err(), "4^15 copies");
    }
}
