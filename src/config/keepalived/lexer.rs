//! keepalived.conf's tokens: words, quoted strings and braces, with their positions.
//!
//! What it accepts, as keepalived 2.2 does: `#` and `!` start a comment anywhere outside
//! quotes (`\#` and `\!` escape them); `{` and `}` are words of their own, so
//! `vrrp_instance VI_1{` and `track_script { chk }` work; tabs, CRLF and a missing final
//! newline are fine.

use crate::config::Report;
use crate::config::raw::Val;

/// What a lexer token is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    /// A bare word.
    Word,
    /// A `"quoted string"` (without its quotes).
    Quoted,
    /// `{`.
    Open,
    /// `}`.
    Close,
}

/// One token with its position.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Tok {
    pub(super) kind: Kind,
    pub(super) text: String,
    pub(super) line: usize,
    pub(super) col: usize,
}

impl Tok {
    pub(super) fn val(&self) -> Val<String> {
        Val::new(self.text.clone(), self.line, self.col)
    }

    pub(super) fn at(&self) -> (usize, usize) {
        (self.line, self.col)
    }
}

/// Splits `text` into tokens; comment and quoting problems go to `report`.
#[cfg(test)]
fn lex(text: &str, report: &mut Report) -> Vec<Tok> {
    lex_lines(text.split('\n'), report)
}

/// Splits lines into tokens (line numbers count from 1); comment and quoting problems go to
/// `report`.
pub(super) fn lex_lines<'a>(lines: impl Iterator<Item = &'a str>, report: &mut Report) -> Vec<Tok> {
    let mut toks = Vec::new();
    for (i, text) in lines.enumerate() {
        let chars: Vec<char> = text.strip_suffix('\r').unwrap_or(text).chars().collect();
        lex_line(i + 1, &chars, &mut toks, report);
    }
    toks
}

/// The tokens of line `line`, up to its comment.
fn lex_line(line: usize, chars: &[char], toks: &mut Vec<Tok>, report: &mut Report) {
    let mut pos = 0;
    while pos < chars.len() {
        let c = chars[pos];
        let tok = |kind, text| Tok {
            kind,
            text,
            line,
            col: pos + 1,
        };
        if c.is_whitespace() {
            pos += 1;
        } else if c == '#' || c == '!' {
            glued_comment(line, chars, pos, report);
            return;
        } else if c == '{' || c == '}' {
            let kind = if c == '{' { Kind::Open } else { Kind::Close };
            toks.push(tok(kind, c.to_string()));
            pos += 1;
        } else if c == '"' {
            let start = pos + 1;
            let len = chars[start..].iter().position(|&c| c == '"');
            if len.is_none() {
                report.error_at((line, pos + 1), "\"", "unterminated quoted string");
            }
            let end = len.map_or(chars.len(), |len| start + len);
            toks.push(tok(Kind::Quoted, chars[start..end].iter().collect()));
            pos = (end + 1).min(chars.len());
        } else {
            let (word, next) = read_word(chars, pos);
            toks.push(tok(Kind::Word, word));
            pos = next;
        }
    }
}

/// A word from `pos`: up to a blank, a brace, a quote or a comment (`\#` and `\!` are
/// kept as `#` and `!`). The word and where it ends.
fn read_word(chars: &[char], mut pos: usize) -> (String, usize) {
    let mut word = String::new();
    while let Some(&c) = chars.get(pos) {
        if c == '\\' && matches!(chars.get(pos + 1), Some('#' | '!')) {
            word.push(chars[pos + 1]);
            pos += 2;
            continue;
        }
        if c.is_whitespace() || matches!(c, '#' | '!' | '{' | '}' | '"') {
            break;
        }
        word.push(c);
        pos += 1;
    }
    (word, pos)
}

/// A comment sign at `pos` glued to the word before it (`auth_pass Test123!`): keepalived
/// cuts the word there, which is rarely what was meant.
fn glued_comment(line: usize, chars: &[char], pos: usize, report: &mut Report) {
    if pos == 0 || chars[pos - 1].is_whitespace() || matches!(chars[pos - 1], '{' | '}') {
        return;
    }
    let c = chars[pos];
    let word_start = chars[..pos]
        .iter()
        .rposition(|c| c.is_whitespace())
        .map_or(0, |p| p + 1);
    let word: String = chars[word_start..]
        .iter()
        .take_while(|c| !c.is_whitespace())
        .collect();
    let kept: String = chars[word_start..pos].iter().collect();
    report.warn_at(
        (line, word_start + 1),
        &word,
        format!(
            "`{c}` starts a comment, so `{word}` is read as `{kept}` (as keepalived does); \
             write `\\{c}` or quote the value if `{c}` belongs to it"
        ),
    );
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    fn toks(text: &str) -> (Vec<(Kind, String, usize, usize)>, Report) {
        let mut report = Report::new(Path::new("t.conf"));
        let t = lex(text, &mut report)
            .into_iter()
            .map(|t| (t.kind, t.text, t.line, t.col))
            .collect();
        (t, report)
    }

    fn words(text: &str) -> Vec<String> {
        toks(text).0.into_iter().map(|t| t.1).collect()
    }

    #[test]
    fn lex_glued_braces() {
        assert_eq!(words("vrrp_instance VI_1{"), ["vrrp_instance", "VI_1", "{"]);
        assert_eq!(words("authentication{}"), ["authentication", "{", "}"]);
        assert_eq!(
            words("track_script { chk }"),
            ["track_script", "{", "chk", "}"]
        );
        let (t, _) = toks("a{\n\t}");
        assert_eq!(t[1], (Kind::Open, "{".into(), 1, 2));
        assert_eq!(t[2], (Kind::Close, "}".into(), 2, 2));
    }

    #[test]
    fn lex_comments() {
        assert_eq!(
            words("# whole line\n! also\nstate MASTER # end\npriority 5 ! end"),
            ["state", "MASTER", "priority", "5"]
        );
        assert_eq!(words("auth_pass a\\#b\\!c"), ["auth_pass", "a#b!c"]);
        assert_eq!(
            words("script \"a # b ! c\" # real comment"),
            ["script", "a # b ! c"]
        );
    }

    #[test]
    fn lex_comment_glued_to_value_warns() {
        let (t, report) = toks("auth_pass Test123!");
        assert_eq!(t.last().unwrap().1, "Test123");
        assert_eq!(report.warnings.len(), 1);
        let w = &report.warnings[0];
        assert_eq!((w.line, w.column, w.key.as_str()), (1, 11, "Test123!"));
        assert!(w.message.contains("`!` starts a comment"), "{}", w.message);
    }

    #[test]
    fn lex_crlf_tabs_no_final_newline() {
        let (t, report) = toks("a\tb\r\n\t\tc  d\r\ne");
        let got: Vec<_> = t.iter().map(|t| (t.1.as_str(), t.2, t.3)).collect();
        assert_eq!(
            got,
            [
                ("a", 1, 1),
                ("b", 1, 3),
                ("c", 2, 3),
                ("d", 2, 6),
                ("e", 3, 1)
            ]
        );
        assert!(report.errors.is_empty());
    }

    #[test]
    fn lex_quotes() {
        let (t, _) = toks("script \"/bin/check 1\"");
        assert_eq!(t[1], (Kind::Quoted, "/bin/check 1".into(), 1, 8));
        let (_, report) = toks("script \"/bin/check");
        assert_eq!(report.errors[0].message, "unterminated quoted string");
    }
}
