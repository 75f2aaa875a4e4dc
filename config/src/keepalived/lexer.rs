//! keepalived.conf tokens, with `include` resolved, and the statement tree built from them.
//!
//! Invariants:
//! - Every token carries the file it came from (an index into [`Source::files`], the main
//!   file first, then each included file in the order it was first read) and its 1-based
//!   line and character column there.
//! - Lexing follows keepalived's reader: `!` and `#` start a comment anywhere outside a
//!   double-quoted string; `{` and `}` are tokens of their own even without spaces around
//!   them; a `\` at the end of a line joins it with the next; a double-quoted string is one
//!   word (without the quotes) and may hold spaces, `!`, `#` and braces.
//! - `include PATTERN...` at the start of a statement is replaced by the tokens of every
//!   file the pattern matches (a glob, sorted), resolved relative to the directory of the
//!   including file, as keepalived does (it changes into that directory), brace groups
//!   `{a,b}` expanded as glob(3)'s GLOB_BRACE does (each alternative's matches in turn). A
//!   pattern without glob characters or braces must name a readable file (else an error); a
//!   pattern that matches nothing is a warning. Include loops and nesting deeper than [`MAX_INCLUDE_DEPTH`] are errors.
//! - The statement tree is keepalived's: a statement is the words of one line; it opens a
//!   block when `{` follows on the same line or starts the next non-empty line; `}` closes
//!   the innermost block, also in the middle of a line (`real_server 10.0.0.1 80 { weight 1 }`).
//!   Unbalanced braces are errors at the offending brace.
//! - keepalived's parameters (`$NAME=value`, `$NAME`, `${NAME}`) are replaced before the
//!   tree is built (`params`); a statement that still starts with `$` uses an undefined
//!   one: an error.
//! - A statement starting with `@ID` (keepalived's conditional configuration) is kept,
//!   without that word, only when `ID` is the config id (`crate::config_id`); `@^ID` only
//!   when it is not. (keepalived skips such lines; a skipped line that opens a block takes
//!   its block with it here.)
//! - Nothing here knows keywords other than `include`.

use std::path::{Path, PathBuf};

use crate::error::{ConfigError, ConfigWarning};
use crate::span::LineIndex;

/// How deep `include`s may nest.
pub const MAX_INCLUDE_DEPTH: usize = 16;

/// Where a token is: file index, 1-based line and character column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Loc {
    pub file: usize,
    pub line: usize,
    pub col: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Word,
    Open,
    Close,
    Newline,
}

#[derive(Debug, Clone)]
pub struct Tok {
    pub kind: Kind,
    pub text: String,
    pub at: Loc,
}

/// A statement: the words of one line, and the block it opens, if any.
#[derive(Debug, Clone)]
pub struct Stmt {
    pub words: Vec<Tok>,
    pub block: Option<Vec<Stmt>>,
}

impl Stmt {
    /// The keyword (first word).
    pub fn key(&self) -> &str {
        &self.words[0].text
    }

    /// Where the keyword is.
    pub fn at(&self) -> Loc {
        self.words[0].at
    }

    /// The words after the keyword.
    pub fn args(&self) -> &[Tok] {
        &self.words[1..]
    }
}

/// Every file read, the statement tree, and what went wrong on the way.
#[derive(Debug, Default)]
pub struct Source {
    pub files: Vec<String>,
    /// keepalived's `$NAME=value` parameters read so far (`params`).
    pub params: super::params::Params,
    pub stmts: Vec<Stmt>,
    pub errors: Vec<ConfigError>,
    pub warnings: Vec<ConfigWarning>,
}

impl Source {
    pub fn error(&mut self, at: Loc, message: impl Into<String>, hint: Option<String>) {
        let e = ConfigError::new(self.files[at.file].clone(), at.line, at.col, message, hint);
        self.errors.push(e);
    }

    pub fn warn(&mut self, at: Loc, message: impl Into<String>) {
        let w = ConfigWarning::new(self.files[at.file].clone(), at.line, at.col, message);
        self.warnings.push(w);
    }
}

/// Lexes `text` (the file called `name`), follows its includes, and builds the tree.
pub fn read(text: &str, name: &str) -> Source {
    let mut src = Source { files: vec![name.to_string()], ..Default::default() };
    let mut stack = vec![canonical(Path::new(name))];
    let toks = lex_file(&mut src, text, 0, &mut stack);
    let mut p = Parser { toks, i: 0, depth: 0 };
    let stmts = p.block(&mut src, None);
    src.stmts = stmts;
    src
}

fn canonical(p: &Path) -> PathBuf {
    p.canonicalize().unwrap_or_else(|_| p.to_path_buf())
}

/// The raw tokens of one file (no include processing).
fn scan(src: &mut Source, text: &str, file: usize) -> Vec<Tok> {
    let lines = LineIndex::new(text);
    let loc = |off: usize| {
        let p = lines.pos(off);
        Loc { file, line: p.line, col: p.col }
    };
    let mut toks = Vec::new();
    let mut it = text.char_indices().peekable();
    while let Some((off, c)) = it.next() {
        match c {
            '\n' => toks.push(Tok { kind: Kind::Newline, text: String::new(), at: loc(off) }),
            '\\' if matches!(it.peek(), Some((_, '\n'))) => {
                it.next();
            }
            '\\' if text[off + 1..].starts_with("\r\n") => {
                it.next();
                it.next();
            }
            c if c.is_whitespace() => {}
            '!' | '#' => while it.next_if(|(_, c)| *c != '\n').is_some() {},
            '{' => toks.push(Tok { kind: Kind::Open, text: "{".into(), at: loc(off) }),
            '}' => toks.push(Tok { kind: Kind::Close, text: "}".into(), at: loc(off) }),
            '"' => {
                let mut s = String::new();
                let mut closed = false;
                while let Some((_, c)) = it.next_if(|(_, c)| *c != '\n') {
                    if c == '"' {
                        closed = true;
                        break;
                    }
                    s.push(c);
                }
                if !closed {
                    let at = loc(off);
                    src.error(
                        at,
                        "unterminated quoted string",
                        Some("close the string with `\"` on the same line".into()),
                    );
                }
                toks.push(Tok { kind: Kind::Word, text: s, at: loc(off) });
            }
            c => {
                let mut s = String::from(c);
                loop {
                    // `${NAME}` (a parameter) is part of the word, braces and all.
                    if s.ends_with('$') && matches!(it.peek(), Some((_, '{'))) {
                        while let Some((_, c)) = it.next_if(|(_, c)| *c != '\n') {
                            s.push(c);
                            if c == '}' {
                                break;
                            }
                        }
                        continue;
                    }
                    match it.next_if(|(_, c)| !c.is_whitespace() && !matches!(c, '{' | '}' | '"' | '!' | '#')) {
                        Some((_, c)) => s.push(c),
                        None => break,
                    }
                }
                toks.push(Tok { kind: Kind::Word, text: s, at: loc(off) });
            }
        }
    }
    toks
}

/// `toks` with keepalived's parameters replaced: a word using one becomes the tokens of
/// its expansion, each at the word's place.
fn substitute(src: &mut Source, toks: Vec<Tok>) -> Vec<Tok> {
    let mut out = Vec::with_capacity(toks.len());
    for t in toks {
        if t.kind != Kind::Word {
            out.push(t);
            continue;
        }
        match src.params.substitute(&t.text) {
            Ok(None) => out.push(t),
            Ok(Some(text)) => {
                let at = t.at;
                out.extend(scan(src, &text, at.file).into_iter().map(|x| Tok { at, ..x }));
            }
            Err(e) => {
                src.error(t.at, format!("`{}`: {e}", t.text), Some("check the `$NAME=` definitions".into()));
                out.push(t);
            }
        }
    }
    out
}

/// The tokens of one file with its includes spliced in.
fn lex_file(src: &mut Source, text: &str, file: usize, stack: &mut Vec<PathBuf>) -> Vec<Tok> {
    let text = src.params.take_definitions(text);
    let scanned = scan(src, &text, file);
    let raw = substitute(src, scanned);
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        let starts_stmt = i == 0 || raw[i - 1].kind != Kind::Word;
        if starts_stmt && raw[i].kind == Kind::Word && raw[i].text == "include" {
            let kw = raw[i].at;
            i += 1;
            // The rest of the line, as keepalived reads an include: tokens that touch (a
            // brace group `{a,b}` was split into braces and words) make one pattern.
            let mut args: Vec<Tok> = Vec::new();
            while i < raw.len() && raw[i].kind != Kind::Newline {
                let t = raw[i].clone();
                match args.last_mut() {
                    Some(last) if last.at.line == t.at.line && last.at.col + last.text.chars().count() == t.at.col => {
                        last.text.push_str(&t.text);
                    }
                    _ => args.push(Tok { kind: Kind::Word, ..t }),
                }
                i += 1;
            }
            if args.is_empty() {
                src.error(
                    kw,
                    "`include` needs a file name",
                    Some("write `include /etc/keepalived/conf.d/*.conf`".into()),
                );
            }
            for arg in args {
                include(src, &arg, file, stack, &mut out);
            }
            // Keep the line break so the include ends a statement.
            out.push(Tok { kind: Kind::Newline, text: String::new(), at: kw });
            continue;
        }
        out.push(raw[i].clone());
        i += 1;
    }
    out
}

/// Most alternatives one include's braces may expand to.
const MAX_BRACE_ALTERNATIVES: usize = 1024;

/// `s` with its first `{a,b,...}` group (outermost, holding a comma) expanded, recursively:
/// glob(3)'s GLOB_BRACE, which keepalived's include uses. `None` past
/// [`MAX_BRACE_ALTERNATIVES`].
fn expand_braces(s: &str) -> Option<Vec<String>> {
    let b = s.as_bytes();
    let mut start = None;
    let mut depth = 0usize;
    let mut commas = Vec::new();
    for (i, &c) in b.iter().enumerate() {
        match c {
            b'{' => {
                if depth == 0 {
                    start = Some(i);
                    commas.clear();
                }
                depth += 1;
            }
            b',' if depth == 1 => commas.push(i),
            b'}' if depth > 0 => {
                depth -= 1;
                if depth == 0 {
                    let open = start.unwrap_or(0);
                    if commas.is_empty() {
                        continue;
                    }
                    let (head, tail) = (&s[..open], &s[i + 1..]);
                    let mut cuts = vec![open];
                    cuts.extend(&commas);
                    cuts.push(i);
                    let mut out = Vec::new();
                    for w in cuts.windows(2) {
                        for rest in expand_braces(&format!("{head}{}{tail}", &s[w[0] + 1..w[1]]))? {
                            out.push(rest);
                            if out.len() > MAX_BRACE_ALTERNATIVES {
                                return None;
                            }
                        }
                    }
                    return Some(out);
                }
            }
            _ => {}
        }
    }
    Some(vec![s.to_string()])
}

fn include(src: &mut Source, arg: &Tok, from: usize, stack: &mut Vec<PathBuf>, out: &mut Vec<Tok>) {
    let base = Path::new(&src.files[from]).parent().map(Path::to_path_buf).unwrap_or_default();
    let pattern = if Path::new(&arg.text).is_absolute() { PathBuf::from(&arg.text) } else { base.join(&arg.text) };
    let pattern_s = pattern.to_string_lossy().to_string();
    let Some(alternatives) = expand_braces(&arg.text) else {
        src.error(
            arg.at,
            format!("include `{}` expands to more than {MAX_BRACE_ALTERNATIVES} patterns", arg.text),
            Some("use fewer brace alternatives, or a glob".into()),
        );
        return;
    };
    let braced = alternatives.len() > 1;
    let is_glob = braced || arg.text.contains(['*', '?', '[']);
    let paths: Vec<PathBuf> = if is_glob {
        let mut paths = Vec::new();
        for alt in &alternatives {
            // Only the include's own text is a pattern: the including file's directory is literal.
            let glob_s = if Path::new(alt).is_absolute() {
                alt.clone()
            } else {
                Path::new(&glob::Pattern::escape(&base.to_string_lossy())).join(alt).to_string_lossy().to_string()
            };
            match glob::glob(&glob_s) {
                // glob(3) gives each alternative's matches sorted, alternatives in order.
                Ok(found) => paths.extend(found.filter_map(Result::ok).filter(|p| p.is_file())),
                Err(e) => {
                    src.error(arg.at, format!("bad include pattern `{}`: {e}", arg.text), None);
                    return;
                }
            }
        }
        paths
    } else {
        vec![pattern.clone()]
    };
    if is_glob && paths.is_empty() {
        src.warn(arg.at, format!("include `{}` matches no file ({pattern_s}); nothing is included", arg.text));
        return;
    }
    if stack.len() >= MAX_INCLUDE_DEPTH {
        src.error(
            arg.at,
            format!("includes nest deeper than {MAX_INCLUDE_DEPTH} files"),
            Some("flatten the includes; is a file including itself through another?".into()),
        );
        return;
    }
    for path in paths {
        let canon = canonical(&path);
        if stack.contains(&canon) {
            src.error(
                arg.at,
                format!("include loop: `{}` is already being read", path.display()),
                Some("remove the include that leads back to a file being read".into()),
            );
            continue;
        }
        let name = path.to_string_lossy().to_string();
        let text = match crate::read_config_file(&path) {
            Ok(t) => t,
            Err(e) => {
                src.error(
                    arg.at,
                    format!("cannot read included file `{name}`: {e}"),
                    Some("a relative include is resolved from the directory of the including file".into()),
                );
                continue;
            }
        };
        let idx = match src.files.iter().position(|f| *f == name) {
            Some(i) => i,
            None => {
                src.files.push(name);
                src.files.len() - 1
            }
        };
        stack.push(canon);
        let toks = lex_file(src, &text, idx, stack);
        stack.pop();
        out.extend(toks);
        out.push(Tok { kind: Kind::Newline, text: String::new(), at: arg.at });
    }
}

/// How deep blocks may nest (keepalived's deepest, a checker in a real in a virtual
/// server, is 4): deeper input is refused, never recursed into (a file of nested `{`
/// would otherwise overflow the stack of whoever reads it, a running daemon's on SIGHUP).
pub const MAX_BLOCK_DEPTH: usize = 16;

struct Parser {
    toks: Vec<Tok>,
    i: usize,
    /// Blocks open around the current one.
    depth: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.i)
    }

    fn skip_newlines(&mut self) {
        while self.peek().is_some_and(|t| t.kind == Kind::Newline) {
            self.i += 1;
        }
    }

    /// The block opened at `at` (its `{` just taken): its statements, or, nested deeper
    /// than [`MAX_BLOCK_DEPTH`], an error and its tokens skipped without recursion.
    fn nested(&mut self, src: &mut Source, at: Loc) -> Vec<Stmt> {
        if self.depth >= MAX_BLOCK_DEPTH {
            src.error(
                at,
                format!("blocks nest deeper than {MAX_BLOCK_DEPTH}"),
                Some("keepalived's deepest block is a checker in a real server in a virtual server".into()),
            );
            let mut open = 1usize;
            while let Some(t) = self.peek() {
                open = match t.kind {
                    Kind::Open => open + 1,
                    Kind::Close => open - 1,
                    _ => open,
                };
                self.i += 1;
                if open == 0 {
                    break;
                }
            }
            return Vec::new();
        }
        self.depth += 1;
        let stmts = self.block(src, Some(at));
        self.depth -= 1;
        stmts
    }

    /// Statements up to the `}` closing the block opened at `open` (or to the end).
    fn block(&mut self, src: &mut Source, open: Option<Loc>) -> Vec<Stmt> {
        let mut stmts = Vec::new();
        loop {
            self.skip_newlines();
            let Some(t) = self.peek().cloned() else {
                if let Some(at) = open {
                    src.error(at, "this `{` is never closed", Some("add the missing `}`".into()));
                }
                return stmts;
            };
            match t.kind {
                Kind::Close => {
                    self.i += 1;
                    if open.is_some() {
                        return stmts;
                    }
                    src.error(t.at, "unmatched `}`", Some("remove it, or add the `{` it was meant to close".into()));
                }
                Kind::Open => {
                    self.i += 1;
                    src.error(
                        t.at,
                        "a `{` without a keyword before it",
                        Some("a block opens after its keyword, e.g. `real_server 10.0.2.11 80 {`".into()),
                    );
                    self.nested(src, t.at);
                }
                Kind::Newline => unreachable!("skipped"),
                Kind::Word => {
                    let mut words = Vec::new();
                    while let Some(t) = self.peek().filter(|t| t.kind == Kind::Word) {
                        words.push(t.clone());
                        self.i += 1;
                    }
                    // `{` on this line, or starting the next non-empty line, opens a block.
                    let save = self.i;
                    self.skip_newlines();
                    let block = match self.peek() {
                        Some(t) if t.kind == Kind::Open => {
                            let at = t.at;
                            self.i += 1;
                            Some(self.nested(src, at))
                        }
                        _ => {
                            self.i = save;
                            None
                        }
                    };
                    let first = &words[0];
                    if let Some(cond) = first.text.strip_prefix('@') {
                        // keepalived's conditional line: kept (without its `@ID`) only for
                        // the config id it names, or, with `@^ID`, for every other one.
                        let (id, negated) = match cond.strip_prefix('^') {
                            Some(id) => (id, true),
                            None => (cond, false),
                        };
                        if (id == crate::config_id()) != negated && words.len() > 1 {
                            stmts.push(Stmt { words: words[1..].to_vec(), block });
                        }
                    } else if first.text.starts_with('$') {
                        let msg = format!("`{}` is not a defined parameter", first.text);
                        src.error(first.at, msg, Some("define it first with a line `$NAME=value`".into()));
                    } else {
                        stmts.push(Stmt { words, block });
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(s: &Stmt) -> Vec<&str> {
        s.words.iter().map(|t| t.text.as_str()).collect()
    }

    #[test]
    fn comments_quotes_braces() {
        let src = read(
            "! head\nvirtual_server 10.0.0.1 80 { # c\n  misc_path \"/bin/x -a #1 {}\" ! tail\n  real_server 10.0.0.2 80 { weight 2 }\n}\n",
            "k.conf",
        );
        assert!(src.errors.is_empty(), "{:?}", src.errors);
        assert_eq!(src.stmts.len(), 1);
        let vs = &src.stmts[0];
        assert_eq!(words(vs), ["virtual_server", "10.0.0.1", "80"]);
        assert_eq!(vs.at(), Loc { file: 0, line: 2, col: 1 });
        let body = vs.block.as_ref().unwrap();
        assert_eq!(words(&body[0]), ["misc_path", "/bin/x -a #1 {}"]);
        assert_eq!(body[0].words[1].at, Loc { file: 0, line: 3, col: 13 });
        assert_eq!(words(&body[1].block.as_ref().unwrap()[0]), ["weight", "2"]);
    }

    #[test]
    fn brace_on_next_line_and_continuation() {
        let src = read("virtual_server 10.0.0.1 80\n\n{\n  lb_algo \\\n rr\n}\n", "k.conf");
        assert!(src.errors.is_empty(), "{:?}", src.errors);
        let body = src.stmts[0].block.as_ref().unwrap();
        assert_eq!(words(&body[0]), ["lb_algo", "rr"]);
    }

    #[test]
    fn brace_groups_expand_as_glob_brace() {
        assert_eq!(expand_braces("a/{x,y}.conf").unwrap(), ["a/x.conf", "a/y.conf"]);
        assert_eq!(expand_braces("{a,b{1,2}}-{c,d}").unwrap(), ["a-c", "a-d", "b1-c", "b1-d", "b2-c", "b2-d"]);
        assert_eq!(expand_braces("no{brace}.conf").unwrap(), ["no{brace}.conf"], "a group without a comma stays");
        assert_eq!(expand_braces("plain.conf").unwrap(), ["plain.conf"]);
        let big = "{0,1,2,3}".repeat(6);
        assert!(expand_braces(&big).is_none(), "4^6 alternatives are refused");
    }

    #[test]
    fn unbalanced() {
        let src = read("a {\n b\n", "k.conf");
        assert_eq!((src.errors[0].line, src.errors[0].col), (1, 3));
        let src = read("a\n}\n", "k.conf");
        assert_eq!((src.errors[0].line, src.errors[0].col, src.errors[0].message.as_str()), (2, 1, "unmatched `}`"));
    }
}
