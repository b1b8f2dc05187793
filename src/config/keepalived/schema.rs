//! keepalived.conf statements checked against the keyword table
//! ([`crate::config::keywords`]): what a block accepts, what needs a block, and what to say
//! about a keyword vipd does not read.
//!
//! Blocks vipd does not implement (`bfd_instance`, `garp_group`...) are accepted with a
//! warning, but their keywords are still checked against keepalived's, so a typo such as
//! `1b_algo` is an error with a suggestion instead of a silently broken load balancer.

use super::lexer::Kind;
use super::tree::Stmt;
use crate::config::keywords::{BLOCKS, Block, Body};
use crate::config::{Report, suggest, unsupported};

/// Keywords keepalived once had and 2.2 no longer knows; accepted with a warning.
const OBSOLETE: &[&str] = &["lvs_id", "nat_mask"];

/// How a block's reader words the warning for a keyword keepalived knows there and vipd
/// does not act on.
#[derive(Debug, Clone, Copy)]
pub(super) enum Skipped {
    /// What vipd does instead ([`unsupported::ignored`]), else this.
    Instead(&'static str),
    /// "ignored: vipd does not use `KEYWORD` in PLACE".
    NotUsed,
    /// "ignored in PLACE: not supported by this vipd version".
    NotSupported,
}

/// What [`Skipped::Instead`] says when there is nothing better.
pub(super) const NOT_SUPPORTED: &str = "not supported by this vipd version";

/// Whether `name` takes a `{ ... }` block wherever keepalived knows it.
pub(super) fn always_block(name: &str) -> bool {
    let mut found = BLOCKS.iter().filter_map(|b| b.body(name)).peekable();
    found.peek().is_some() && found.all(|b| matches!(b, Body::List | Body::Keywords(_)))
}

/// The block of a statement that must have one.
pub(super) fn block_of<'a>(stmt: &'a Stmt, report: &mut Report) -> Option<&'a [Stmt]> {
    if stmt.block.is_none() {
        report.error_at(
            stmt.key.at(),
            &stmt.key.text,
            format!(
                "`{}` needs a block `{{ ... }}`; keepalived would read the following lines as \
                 its contents",
                stmt.key.text
            ),
        );
    }
    stmt.block.as_deref()
}

/// A keyword a block's reader does not act on: one keepalived knows in `block` is warned
/// about as `how` says (and its block checked); anything else goes to [`keyword`].
pub(super) fn skip(
    stmt: &Stmt,
    block: &'static Block,
    place: &str,
    how: Skipped,
    report: &mut Report,
) {
    let name = stmt.key.text.as_str();
    let Some(body) = block.body(name) else {
        return keyword(stmt, block, place, report);
    };
    let message = match how {
        Skipped::Instead(generic) => unsupported::ignored(name, generic),
        Skipped::NotUsed => format!("ignored: vipd does not use `{name}` in {place}"),
        Skipped::NotSupported => format!("ignored in {place}: not supported by this vipd version"),
    };
    report.warn_at(stmt.key.at(), name, message);
    check_body(stmt, body, report);
}

/// A keyword in a block vipd skips, or one unknown where it stands: a known one gets only a
/// note if it has a newer name (and its block checked); the rest are warnings (obsolete, or
/// valid elsewhere) or errors with a suggestion.
pub(super) fn keyword(stmt: &Stmt, block: &'static Block, place: &str, report: &mut Report) {
    let key = &stmt.key;
    if let Some(body) = block.body(&key.text) {
        // Inside a block vipd skips, an old name is still worth a note for later.
        if let Some(note) = unsupported::renamed(&key.text) {
            report.warn_at(key.at(), &key.text, note);
        }
        return check_body(stmt, body, report);
    }
    if OBSOLETE.contains(&key.text.as_str()) {
        let why = "obsolete keepalived keyword (keepalived 2.2 ignores it too)";
        report.warn_at(key.at(), &key.text, unsupported::ignored(&key.text, why));
        return;
    }
    let elsewhere = BLOCKS
        .iter()
        .find_map(|b| b.body(&key.text).map(|body| (b.place, body)));
    match elsewhere {
        Some((elsewhere, body)) if key.kind == Kind::Word => {
            report.warn_at(
                key.at(),
                &key.text,
                format!(
                    "ignored: not valid in {place} (it belongs in {elsewhere}); keepalived \
                     ignores it here too"
                ),
            );
            check_body(stmt, body, report);
        }
        _ => unknown(stmt, block, place, report),
    }
}

/// An unknown keyword: an error, with a suggestion from this block's keywords (or any).
fn unknown(stmt: &Stmt, block: &'static Block, place: &str, report: &mut Report) {
    let key = &stmt.key;
    let next = stmt.arg(0).map(|t| t.text.as_str());
    let here: Vec<&str> = block.keepalived_names().collect();
    let suggestion = suggest::keyword(&key.text, next, &here).or_else(|| {
        let all: Vec<&str> = BLOCKS.iter().flat_map(|b| b.keepalived_names()).collect();
        suggest::keyword(&key.text, next, &all)
    });
    // `real server` is one keyword written as two words: show both in the key.
    let shown = match (&suggestion, stmt.arg(0)) {
        (Some(s), Some(n))
            if n.line == key.line
                && (*s == format!("{}_{}", key.text, n.text)
                    || *s == format!("{}{}", key.text, n.text)) =>
        {
            let gap = n.col.saturating_sub(key.col + key.text.chars().count());
            format!("{}{}{}", key.text, " ".repeat(gap), n.text)
        }
        _ => key.text.clone(),
    };
    let mut message = format!("unknown keyword `{shown}` in {place}");
    if place == "vrrp_sync_group" {
        message.push_str("; instance names go inside `group { ... }`");
    }
    report.error_at(key.at(), &shown, message).suggestion = suggestion.clone();
    // Check the block as the keyword that was meant, so later typos show up too.
    if let Some(body) = suggestion.and_then(|s| block.body(&s))
        && stmt.block.is_some()
    {
        check_body(stmt, body, report);
    }
}

/// Checks what follows a known keyword against the table.
pub(super) fn check_body(stmt: &Stmt, body: Body, report: &mut Report) {
    match body {
        Body::Leaf => {}
        Body::List => {
            block_of(stmt, report);
        }
        Body::Keywords(block) => {
            for item in block_of(stmt, report).unwrap_or_default() {
                keyword(item, block, &stmt.key.text, report);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_keyword_with_a_reason_is_a_keepalived_keyword() {
        for k in unsupported::listed() {
            assert!(
                BLOCKS.iter().any(|b| b.body(k).is_some()) || OBSOLETE.contains(&k),
                "{k} is not in keepalived's keyword tables"
            );
        }
    }
}
