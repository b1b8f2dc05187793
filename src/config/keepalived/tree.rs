//! keepalived.conf's statements: a keyword, the words after it on its line, and its
//! `{ ... }` block, built from the tokens with every brace problem reported.
//!
//! A `{` alone on a line opens the block of the statement before it. A keyword that always
//! takes a block, alone on its line with no `{` after it, gets the following lines up to the
//! next `}` as its block, as in keepalived (and an error).

use super::lexer::{Kind, Tok};
use super::schema::always_block;
use crate::config::Report;

/// A keyword, the words after it on its line, and its `{ ... }` block if it has one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Stmt {
    pub(super) key: Tok,
    pub(super) args: Vec<Tok>,
    pub(super) block: Option<Vec<Stmt>>,
}

impl Stmt {
    fn new(key: Tok) -> Self {
        Self {
            key,
            args: Vec::new(),
            block: None,
        }
    }

    pub(super) fn arg(&self, i: usize) -> Option<&Tok> {
        self.args.get(i)
    }
}

/// Builds the statement tree; brace problems go to `report`.
pub(super) fn parse_tree(toks: Vec<Tok>, report: &mut Report) -> Vec<Stmt> {
    let mut tree = Builder {
        report,
        open: Vec::new(),
        root: Vec::new(),
        pending: None,
    };
    for tok in toks {
        if tok.kind != Kind::Open {
            tree.missing_brace(&tok);
        }
        match tok.kind {
            Kind::Word | Kind::Quoted => tree.word(tok),
            Kind::Open => tree.open(tok),
            Kind::Close => tree.close(tok),
        }
    }
    tree.finish()
}

/// The tree as far as it is read.
struct Builder<'r> {
    report: &'r mut Report,
    /// Open blocks: the statement that owns each, and the statements read in it so far.
    open: Vec<(Stmt, Vec<Stmt>)>,
    /// The top-level statements read so far.
    root: Vec<Stmt>,
    /// The statement whose line is being read.
    pending: Option<Stmt>,
}

impl Builder<'_> {
    /// Where a finished statement goes: the innermost open block.
    fn items(&mut self) -> &mut Vec<Stmt> {
        match self.open.last_mut() {
            Some((_, items)) => items,
            None => &mut self.root,
        }
    }

    fn flush(&mut self) {
        if let Some(done) = self.pending.take() {
            self.items().push(done);
        }
    }

    /// `virtual_ipaddress` alone on its line and no `{` on the next: keepalived reads the
    /// lines that follow as its block, up to the next `}`; so does vipd, so that only the
    /// missing `{` is reported, not every line after it.
    fn missing_brace(&mut self, next: &Tok) {
        let Some(stmt) = self.pending.take_if(|p| {
            p.args.is_empty()
                && p.key.kind == Kind::Word
                && p.key.line != next.line
                && always_block(&p.key.text)
        }) else {
            return;
        };
        self.report.error_at(
            stmt.key.at(),
            &stmt.key.text,
            format!(
                "`{}` has no `{{`: keepalived reads the lines after it as its block, up to the \
                 next `}}`, and so does vipd; add the `{{`",
                stmt.key.text
            ),
        );
        self.open.push((stmt, Vec::new()));
    }

    fn word(&mut self, tok: Tok) {
        match &mut self.pending {
            Some(stmt) if stmt.key.line == tok.line => stmt.args.push(tok),
            _ => {
                self.flush();
                self.pending = Some(Stmt::new(tok));
            }
        }
    }

    fn open(&mut self, tok: Tok) {
        let owner = self.pending.take().unwrap_or_else(|| {
            self.report
                .error_at(tok.at(), "{", "`{` without a keyword before it");
            Stmt::new(tok)
        });
        self.open.push((owner, Vec::new()));
    }

    fn close(&mut self, tok: Tok) {
        self.flush();
        match self.open.pop() {
            Some((mut owner, body)) => {
                owner.block = Some(body);
                self.items().push(owner);
            }
            None => {
                let why = "`}` closes no block (one `{` too few above, or one `}` too many)";
                self.report.error_at(tok.at(), "}", why);
            }
        }
    }

    /// The tree, every block still open closed with an error.
    fn finish(mut self) -> Vec<Stmt> {
        self.flush();
        while let Some((mut owner, body)) = self.open.pop() {
            self.report.error_at(
                owner.key.at(),
                &owner.key.text,
                format!(
                    "the block of `{}` is never closed (missing `}}`)",
                    owner.key.text
                ),
            );
            owner.block = Some(body);
            self.items().push(owner);
        }
        self.root
    }
}
