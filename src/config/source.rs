//! keepalived.conf before the lexer: the files, `include`, `$NAME` definitions and `@id` lines.
//!
//! keepalived handles these line by line before it looks at keywords (`read_line` in its
//! `lib/parser.c`), and so does this module, in the same order for each physical line:
//! 1. a line continuing a multi-line definition (`$NAME=a \` ... ) is added to it;
//! 2. `@ID rest` keeps `rest` only when ID is the router's config id, `@^ID rest` only when it
//!    is not (the config id is `--config-id`, else the host name up to its first dot);
//! 3. `$NAME=value` defines NAME (a trailing `\` continues the value on the next line);
//! 4. `$NAME` and `${NAME}` are replaced by their values (`$_INSTANCE` is the config id,
//!    `$_PWD` the directory of the file being read); an undefined name stays as written;
//! 5. `include PATTERN` (exactly two words, at any nesting level) is replaced by the files
//!    the glob matches, relative to the directory of the including file, in name order.
//!
//! What keepalived does not do and vipd adds: an include cycle or more than
//! [`MAX_INCLUDE_DEPTH`] nested includes is an error instead of a crash, and a literal
//! include path that does not exist is an error instead of a log line.
//!
//! The result is one list of lines for the lexer. Every physical line of every file yields at
//! least one [`Line`] (empty when it was consumed here) so every diagnostic can name the file
//! and line it comes from; the lexer's line numbers are indexes into this list.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// Includes nested deeper than this are refused (keepalived recurses until it crashes).
pub(crate) const MAX_INCLUDE_DEPTH: usize = 16;

/// Substitution passes per line before `$A=$B`, `$B=$A` is called a loop.
const MAX_EXPANSIONS: usize = 32;

/// One line the lexer will read, and where it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Line {
    /// Index into [`Expanded::files`].
    pub(crate) file: usize,
    /// 1-based line in that file.
    pub(crate) number: usize,
    /// The text to lex: after `@id` blanking and `$NAME` substitution; empty when consumed.
    pub(crate) text: String,
    /// The text to quote under a diagnostic, so the caret lines up with `text`'s columns.
    pub(crate) shown: String,
}

/// A problem found while expanding, placed on an index of [`Expanded::lines`] (0-based).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Note {
    pub(crate) at: usize,
    pub(crate) col: usize,
    pub(crate) key: String,
    pub(crate) message: String,
    pub(crate) error: bool,
}

/// Every file read, every line to lex, and what went wrong on the way.
#[derive(Debug, Default)]
pub(crate) struct Expanded {
    /// The files in the order they were first read; index 0 is the main file.
    pub(crate) files: Vec<PathBuf>,
    pub(crate) lines: Vec<Line>,
    pub(crate) notes: Vec<Note>,
    /// Where (index of [`Self::lines`], column) an `include` pattern matched no file: what it
    /// would have brought in may be on another machine.
    pub(crate) unmatched_includes: Vec<(usize, usize)>,
}

/// A `$NAME=value` definition.
#[derive(Debug, Clone)]
struct Def {
    value: String,
}

struct Expander<'a> {
    config_id: Option<&'a str>,
    out: Expanded,
    defs: HashMap<String, Def>,
    /// The definition being continued by lines ending in `\`.
    continuing: Option<String>,
    /// Canonical paths of the files being read, outermost first (cycle detection).
    stack: Vec<PathBuf>,
}

/// Expands `text`, the contents of `path`; included files are read from disk.
pub(crate) fn expand(text: &str, path: &Path, config_id: Option<&str>) -> Expanded {
    let mut ex = Expander {
        config_id,
        out: Expanded::default(),
        defs: HashMap::new(),
        continuing: None,
        stack: Vec::new(),
    };
    ex.file(text, path);
    ex.out
}

impl Expander<'_> {
    fn file(&mut self, text: &str, path: &Path) {
        let file = self.out.files.len();
        self.out.files.push(path.to_path_buf());
        self.stack
            .push(std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf()));
        // A definition does not continue into another file.
        self.continuing = None;
        let dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
        let mut lines: Vec<&str> = text.split('\n').collect();
        // A final newline ends the last line; it does not start one more.
        if lines.len() > 1 && text.ends_with('\n') {
            lines.pop();
        }
        for (i, raw) in lines.into_iter().enumerate() {
            let raw = raw.strip_suffix('\r').unwrap_or(raw);
            self.line(raw, file, i + 1, &dir);
        }
        self.continuing = None;
        self.stack.pop();
    }

    fn push(&mut self, file: usize, number: usize, text: String, shown: String) -> usize {
        self.out.lines.push(Line {
            file,
            number,
            text,
            shown,
        });
        self.out.lines.len() - 1
    }

    fn note(&mut self, at: usize, col: usize, key: &str, message: String, error: bool) {
        self.out.notes.push(Note {
            at,
            col,
            key: key.to_string(),
            message,
            error,
        });
    }

    fn line(&mut self, raw: &str, file: usize, number: usize, dir: &Path) {
        let at = self.push(file, number, String::new(), raw.to_string());
        let clean = decomment(raw);
        let trimmed = clean.trim();

        // 1. The continuation of a multi-line definition.
        if let Some(name) = self.continuing.clone() {
            let (part, more) = match trimmed.strip_suffix('\\') {
                Some(p) => (p.trim_end(), true),
                None => (trimmed, false),
            };
            if let Some(def) = self.defs.get_mut(&name)
                && !part.is_empty()
            {
                if !def.value.is_empty() {
                    def.value.push('\n');
                }
                def.value.push_str(part);
            }
            if !more || trimmed.is_empty() {
                self.continuing = None;
            }
            return;
        }

        // 2. `@id` and `@^id`: keep the rest of the line, columns unchanged, or drop it.
        let mut text = raw.to_string();
        let lead = raw.len() - raw.trim_start().len();
        if trimmed.starts_with('@') {
            let body = &raw[lead..];
            let (negate, id_start) = match body.strip_prefix("@^") {
                Some(_) => (true, 2),
                None => (false, 1),
            };
            let Some(id_len) = body[id_start..].find([' ', '\t']) else {
                // keepalived drops a conditional line with nothing after the id.
                return;
            };
            let id = &body[id_start..id_start + id_len];
            let matches = self.config_id == Some(id);
            if matches == negate {
                return;
            }
            let prefix = lead + id_start + id_len;
            text = format!("{}{}", " ".repeat(prefix), &raw[prefix..]);
        }

        // 3. `$NAME=value`.
        let clean = decomment(&text);
        let trimmed = clean.trim();
        if let Some((name, value)) = definition(trimmed) {
            let (value, more) = match value.strip_suffix('\\') {
                Some(v) => (v.trim_end().to_string(), true),
                None => (value.to_string(), false),
            };
            self.defs.insert(name.to_string(), Def { value });
            if more {
                self.continuing = Some(name.to_string());
            }
            return;
        }
        if trimmed.starts_with("~SEQ") {
            let col = lead + 1;
            self.note(
                at,
                col,
                "~SEQ",
                "~SEQ line generators are not supported by vipd: write the lines out".into(),
                true,
            );
            return;
        }

        // 4. `$NAME` substitution.
        let blanked = text.clone();
        if text.contains('$') {
            text = self.substitute(&text, at, dir);
        }

        // 5. `include PATTERN`.
        let words = words(&decomment(&text));
        if words.first().map(String::as_str) == Some("include") && words.len() == 2 {
            self.include(
                &words[1],
                at,
                text.find("include").map_or(1, |c| c + 1),
                dir,
            );
            return;
        }

        // A multi-line definition expands to several lines, all from this one.
        let mut parts = text.split('\n');
        let first = parts.next().unwrap_or_default().to_string();
        // Quote the line as written unless substitution moved its columns.
        self.out.lines[at].shown = if text == blanked {
            raw.to_string()
        } else {
            first.clone()
        };
        self.out.lines[at].text = first;
        for extra in parts {
            self.push(file, number, extra.to_string(), extra.to_string());
        }
    }

    /// Replaces `$NAME` and `${NAME}` until nothing changes; undefined names stay.
    fn substitute(&mut self, text: &str, at: usize, dir: &Path) -> String {
        let mut current = text.to_string();
        for _ in 0..MAX_EXPANSIONS {
            let (next, changed) = self.substitute_once(&current, dir);
            if !changed {
                self.undefined(&current, at);
                return current;
            }
            current = next;
        }
        self.note(
            at,
            1,
            "$",
            format!(
                "definitions expand into each other without end (stopped after \
                 {MAX_EXPANSIONS} rounds): `{}`",
                current.lines().next().unwrap_or_default()
            ),
            true,
        );
        String::new()
    }

    fn substitute_once(&self, text: &str, dir: &Path) -> (String, bool) {
        let mut out = String::with_capacity(text.len());
        let mut changed = false;
        let mut rest = text;
        while let Some(pos) = rest.find('$') {
            out.push_str(&rest[..pos]);
            let after = &rest[pos + 1..];
            match reference(after)
                .and_then(|(name, len)| self.value_of(name, dir).map(|v| (v, len)))
            {
                Some((value, len)) => {
                    out.push_str(&value);
                    rest = &after[len..];
                    changed = true;
                }
                None => {
                    out.push('$');
                    rest = after;
                }
            }
        }
        out.push_str(rest);
        (out, changed)
    }

    fn value_of(&self, name: &str, dir: &Path) -> Option<String> {
        if let Some(def) = self.defs.get(name) {
            return Some(def.value.clone());
        }
        match name {
            "_INSTANCE" => self.config_id.map(str::to_string),
            "_PWD" => Some(dir.display().to_string()),
            _ => None,
        }
    }

    /// Warns about `$NAME` left unreplaced outside quotes: most likely a missing definition.
    fn undefined(&mut self, text: &str, at: usize) {
        let mut quoted = false;
        let chars: Vec<char> = text.chars().collect();
        for (i, &c) in chars.iter().enumerate() {
            match c {
                '"' => quoted = !quoted,
                '#' | '!' if !quoted => break,
                '$' if !quoted => {
                    let after: String = chars[i + 1..].iter().collect();
                    if let Some((name, _)) = reference(&after) {
                        self.note(
                            at,
                            i + 1,
                            &format!("${name}"),
                            format!(
                                "`${name}` is not defined, so it is left as written (as \
                                 keepalived does); define it first with a line `${name}=VALUE`"
                            ),
                            false,
                        );
                    }
                }
                _ => {}
            }
        }
    }

    fn include(&mut self, pattern: &str, at: usize, col: usize, dir: &Path) {
        if self.stack.len() > MAX_INCLUDE_DEPTH {
            self.note(
                at,
                col,
                "include",
                format!(
                    "includes are nested more than {MAX_INCLUDE_DEPTH} deep: `{pattern}` is \
                     not read"
                ),
                true,
            );
            return;
        }
        let full = if Path::new(pattern).is_absolute() {
            PathBuf::from(pattern)
        } else {
            dir.join(pattern)
        };
        let mut matches: Vec<PathBuf> = Vec::new();
        let mut bad_pattern = None;
        for alt in expand_braces(&full.to_string_lossy()) {
            match glob::glob(&alt) {
                Ok(paths) => matches.extend(paths.filter_map(Result::ok)),
                Err(e) => bad_pattern = Some(e.to_string()),
            }
        }
        if let Some(e) = bad_pattern {
            self.note(
                at,
                col,
                "include",
                format!("`{pattern}` is not a valid file pattern: {e}"),
                true,
            );
            return;
        }
        let wildcard = pattern.contains(['*', '?', '[', '{']);
        if matches.is_empty() {
            let message = if wildcard {
                format!(
                    "`{pattern}` matches no file (looked in {}); nothing included, as in \
                     keepalived",
                    full.parent().unwrap_or(dir).display()
                )
            } else {
                format!("cannot read included file {}: no such file", full.display())
            };
            self.note(at, col, "include", message, !wildcard);
            self.out.unmatched_includes.push((at, col));
            return;
        }
        for path in matches {
            if path.is_dir() {
                continue;
            }
            // keepalived reads only regular, non-executable files (not /dev/zero, not scripts).
            if !path.is_file() || is_executable(&path) {
                self.note(
                    at,
                    col,
                    "include",
                    format!(
                        "{} is not a regular non-executable file: skipped, as keepalived does",
                        path.display()
                    ),
                    false,
                );
                continue;
            }
            let canonical = std::fs::canonicalize(&path).unwrap_or_else(|_| path.clone());
            if let Some(first) = self.stack.iter().position(|p| *p == canonical) {
                let mut chain: Vec<String> = self.stack[first..]
                    .iter()
                    .map(|p| p.display().to_string())
                    .collect();
                chain.push(canonical.display().to_string());
                self.note(
                    at,
                    col,
                    "include",
                    format!("include cycle: {}", chain.join(" -> ")),
                    true,
                );
                continue;
            }
            match std::fs::read(&path) {
                Ok(bytes) => {
                    let text = String::from_utf8_lossy(&bytes).into_owned();
                    self.file(&text, &path);
                }
                Err(e) => self.note(
                    at,
                    col,
                    "include",
                    format!("cannot read included file {}: {e}", path.display()),
                    true,
                ),
            }
        }
    }
}

/// `NAME` and the length of the reference after the `$`: `NAME` or `{NAME}`.
fn reference(after: &str) -> Option<(&str, usize)> {
    let braced = after.starts_with('{');
    let body = if braced { &after[1..] } else { after };
    let first = body.chars().next()?;
    if !(first.is_ascii_alphabetic() || first == '_') {
        return None;
    }
    let len = body
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .unwrap_or(body.len());
    let name = &body[..len];
    if braced {
        body[len..].starts_with('}').then_some((name, len + 2))
    } else {
        // keepalived only takes a name ending at a blank, `,`, `)` or the end of the line.
        match body[len..].chars().next() {
            None | Some(' ' | '\t' | ',' | ')' | '}' | '"' | '#' | '!') => Some((name, len)),
            _ => None,
        }
    }
}

/// `$NAME=value` (blanks allowed before `=`) as (NAME, value without leading blanks).
fn definition(line: &str) -> Option<(&str, &str)> {
    let body = line.strip_prefix('$')?;
    let first = body.chars().next()?;
    if !(first.is_ascii_alphabetic() || first == '_') {
        return None;
    }
    let len = body
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .unwrap_or(body.len());
    let rest = body[len..].trim_start_matches([' ', '\t']);
    let value = rest.strip_prefix('=')?;
    Some((&body[..len], value.trim_start_matches([' ', '\t'])))
}

/// The line without its comment (`#` or `!` outside quotes; `\#` and `\!` escape them).
pub(crate) fn decomment(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut quoted = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' => {
                quoted = !quoted;
                out.push(c);
            }
            '\\' if !quoted && matches!(chars.peek(), Some('#' | '!')) => {
                out.push(c);
                out.extend(chars.next());
            }
            '#' | '!' if !quoted => break,
            _ => out.push(c),
        }
    }
    out
}

/// Blank-separated words; a `"quoted string"` is one word without its quotes.
fn words(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut chars = line.chars().peekable();
    while let Some(&c) = chars.peek() {
        if c.is_whitespace() {
            chars.next();
        } else if c == '"' {
            chars.next();
            out.push(chars.by_ref().take_while(|&c| c != '"').collect());
        } else {
            let mut w = String::new();
            while let Some(&c) = chars.peek() {
                if c.is_whitespace() {
                    break;
                }
                w.push(c);
                chars.next();
            }
            out.push(w);
        }
    }
    out
}

/// `a{b,c}d` -> `abd`, `acd` (glob(3)'s GLOB_BRACE, which keepalived asks for).
fn expand_braces(pattern: &str) -> Vec<String> {
    let Some(open) = pattern.find('{') else {
        return vec![pattern.to_string()];
    };
    let mut depth = 0;
    let mut close = None;
    let mut commas = Vec::new();
    for (i, c) in pattern[open..].char_indices() {
        match c {
            '{' => depth += 1,
            '}' => {
                depth -= 1;
                if depth == 0 {
                    close = Some(open + i);
                    break;
                }
            }
            ',' if depth == 1 => commas.push(open + i),
            _ => {}
        }
    }
    let Some(close) = close else {
        return vec![pattern.to_string()];
    };
    let (head, tail) = (&pattern[..open], &pattern[close + 1..]);
    let mut bounds = vec![open];
    bounds.extend(&commas);
    bounds.push(close);
    let mut out = Vec::new();
    for w in bounds.windows(2) {
        let alt = &pattern[w[0] + 1..w[1]];
        out.extend(expand_braces(&format!("{head}{alt}{tail}")));
    }
    out
}

#[cfg(unix)]
fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.permissions().mode() & 0o111 != 0)
}

#[cfg(not(unix))]
fn is_executable(_: &Path) -> bool {
    false
}

/// keepalived's default config id: the host name up to its first dot.
pub(crate) fn host_config_id() -> Option<String> {
    let name = std::fs::read_to_string("/proc/sys/kernel/hostname").ok()?;
    let name = name.trim();
    let short = name.split('.').next().unwrap_or(name);
    (!short.is_empty()).then(|| short.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(e: &Expanded) -> Vec<&str> {
        e.lines.iter().map(|l| l.text.as_str()).collect()
    }

    #[test]
    fn plain_lines_pass_through_one_per_line() {
        let e = expand("a\r\n\tb\nc", Path::new("k.conf"), None);
        assert_eq!(texts(&e), ["a", "\tb", "c"]);
        let e = expand("a\nb\n", Path::new("k.conf"), None);
        assert_eq!(texts(&e), ["a", "b"]);
        assert!(e.notes.is_empty());
    }

    #[test]
    fn conditionals_follow_the_config_id() {
        let text = "@lb1 priority 200\n@lb2 priority 100\n@^lb1 state BACKUP\n@lb1\n";
        let e = expand(text, Path::new("k.conf"), Some("lb1"));
        assert_eq!(texts(&e), ["     priority 200", "", "", ""]);
        let e = expand(text, Path::new("k.conf"), Some("lb2"));
        assert_eq!(
            texts(&e),
            ["", "     priority 100", "      state BACKUP", ""]
        );
        // No config id: `@id` lines are dropped, `@^id` lines kept.
        let e = expand(text, Path::new("k.conf"), None);
        assert_eq!(texts(&e), ["", "", "      state BACKUP", ""]);
    }

    #[test]
    fn definitions_are_substituted() {
        let text = "$VIP=10.0.0.1/24\n$ IF = x\n$IFACE = eth0 # comment\nvip $VIP dev ${IFACE}\n\
                    keep $VIPX $undefined \"$HOME\"\nid $_INSTANCE";
        let e = expand(text, Path::new("k.conf"), Some("lb1"));
        assert_eq!(
            texts(&e)[3..],
            [
                "vip 10.0.0.1/24 dev eth0",
                "keep $VIPX $undefined \"$HOME\"",
                "id lb1"
            ]
        );
        // `$ IF = x` is not a definition: it stays for the lexer to complain about.
        assert_eq!(texts(&e)[1], "$ IF = x");
        let warned: Vec<&str> = e.notes.iter().map(|n| n.key.as_str()).collect();
        assert_eq!(warned, ["$VIPX", "$undefined"]);
        assert!(e.notes.iter().all(|n| !n.error));
    }

    #[test]
    fn multi_line_definitions_expand_to_several_lines() {
        let text = "$ADDRS=10.0.0.1 \\\n  10.0.0.2 \\\n  10.0.0.3\nvirtual_ipaddress {\n$ADDRS\n}";
        let e = expand(text, Path::new("k.conf"), None);
        assert_eq!(
            texts(&e),
            [
                "",
                "",
                "",
                "virtual_ipaddress {",
                "10.0.0.1",
                "10.0.0.2",
                "10.0.0.3",
                "}"
            ]
        );
        assert_eq!(
            e.lines[5].number, 5,
            "expanded lines keep the line of the reference"
        );
    }

    #[test]
    fn recursive_definitions_are_an_error() {
        let e = expand("$A=$B\n$B=$A\nx $A", Path::new("k.conf"), None);
        assert_eq!(e.notes.len(), 1);
        assert!(e.notes[0].error && e.notes[0].message.contains("without end"));
    }

    #[test]
    fn seq_is_refused() {
        let e = expand("~SEQ(i, 1, 3) x $i", Path::new("k.conf"), None);
        assert!(e.notes[0].error && e.notes[0].message.contains("~SEQ"));
    }

    #[test]
    fn includes_are_relative_globbed_sorted_and_cycle_free() {
        let dir = tempfile::tempdir().unwrap();
        let sub = dir.path().join("conf.d");
        std::fs::create_dir(&sub).unwrap();
        std::fs::write(sub.join("b.conf"), "b1\n").unwrap();
        std::fs::write(sub.join("a.conf"), "a1\ninclude ../leaf.inc\n").unwrap();
        std::fs::write(dir.path().join("leaf.inc"), "leaf").unwrap();
        std::fs::write(dir.path().join("loop.conf"), "include main.conf\n").unwrap();
        let main = dir.path().join("main.conf");
        let text = "top\ninclude conf.d/*.conf\ninclude {loop,nothing}.conf\ninclude none/*.x\n\
                    include missing.conf\n";
        std::fs::write(&main, text).unwrap();
        let e = expand(text, &main, None);
        let got: Vec<(String, usize, &str)> = e
            .lines
            .iter()
            .map(|l| {
                let f = e.files[l.file].file_name().unwrap().to_string_lossy();
                (f.into_owned(), l.number, l.text.as_str())
            })
            .collect();
        let want: Vec<(String, usize, &str)> = [
            ("main.conf", 1, "top"),
            ("main.conf", 2, ""),
            ("a.conf", 1, "a1"),
            ("a.conf", 2, ""),
            ("leaf.inc", 1, "leaf"),
            ("b.conf", 1, "b1"),
            ("main.conf", 3, ""),
            ("loop.conf", 1, ""),
            ("main.conf", 4, ""),
            ("main.conf", 5, ""),
        ]
        .iter()
        .map(|(f, n, t)| (f.to_string(), *n, *t))
        .collect();
        assert_eq!(got, want);
        let notes: Vec<(usize, bool, &str)> = e
            .notes
            .iter()
            .map(|n| (n.at, n.error, n.message.as_str()))
            .collect();
        assert_eq!(notes.len(), 3, "{notes:?}");
        assert!(notes[0].0 == 7 && notes[0].1 && notes[0].2.starts_with("include cycle: "));
        assert!(notes[1].0 == 8 && !notes[1].1 && notes[1].2.contains("matches no file"));
        assert!(notes[2].0 == 9 && notes[2].1 && notes[2].2.contains("missing.conf: no such"));
    }

    #[test]
    fn include_skips_executables_and_devices() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let script = dir.path().join("check.sh");
        std::fs::write(&script, "#!/bin/sh\n").unwrap();
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
        let main = dir.path().join("main.conf");
        let e = expand("include *.sh\ninclude /dev/zero\n", &main, None);
        assert_eq!(e.files.len(), 1);
        let messages: Vec<&str> = e.notes.iter().map(|n| n.message.as_str()).collect();
        assert_eq!(messages.len(), 2, "{messages:?}");
        assert!(
            messages
                .iter()
                .all(|m| m.contains("not a regular non-executable file"))
        );
        assert!(e.notes.iter().all(|n| !n.error));
    }

    #[test]
    fn include_depth_is_limited() {
        let dir = tempfile::tempdir().unwrap();
        // A chain f0 -> f1 -> ... -> f40 with no cycle: only the depth stops it.
        for i in 0..40 {
            std::fs::write(
                dir.path().join(format!("f{i}.conf")),
                format!("include f{}.conf\n", i + 1),
            )
            .unwrap();
        }
        let main = dir.path().join("f0.conf");
        let e = expand("include f1.conf\n", &main, None);
        assert_eq!(e.notes.len(), 1, "{:?}", e.notes);
        assert!(e.notes[0].message.contains("nested more than 16 deep"));
        assert_eq!(e.files.len(), MAX_INCLUDE_DEPTH + 1);
    }

    #[test]
    fn brace_expansion() {
        assert_eq!(expand_braces("a{b,c}d"), ["abd", "acd"]);
        assert_eq!(expand_braces("{x,{y,z}}"), ["x", "y", "z"]);
        assert_eq!(expand_braces("a{b"), ["a{b"]);
    }

    #[test]
    fn decomment_respects_quotes_and_escapes() {
        assert_eq!(decomment("a \"b # c\" # d"), "a \"b # c\" ");
        assert_eq!(decomment("pass a\\#b ! c"), "pass a\\#b ");
    }
}
