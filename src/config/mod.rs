//! Configuration: loaders for keepalived.conf and TOML that build one validated [`Config`].
//!
//! # Layout
//! - [`model`]: the typed model the daemon consumes.
//! - `keepalived`: lexer and parser for users' unchanged keepalived.conf files.
//! - `toml`: vipd's native TOML format (serde, keys named as in keepalived).
//! - `validate`: the semantic checks both loaders share (ranges, IPv4 only, duplicates).
//! - `suggest`: "did you mean" for misspelt keywords (edit distance plus real typos).
//!
//! Entry points are [`load`] and [`load_str`]: a `*.toml` path is read as TOML, any other as
//! keepalived syntax. Every problem found in a file is reported at once, each as a
//! [`Diagnostic`] naming the file, line, column and key.

mod keepalived;
pub mod model;
mod suggest;
mod toml;
mod tracking;
mod validate;

use std::fmt;
use std::path::{Path, PathBuf};

pub use model::{
    Argv, Config, InitialState, Notify, ScriptUser, SyncGroup, TrackFile, TrackInterface,
    TrackProcess, TrackRef, VirtualIp, VrrpInstance, VrrpScript,
};

/// A configuration that loaded, and what was worth telling the user about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Loaded {
    /// The validated configuration.
    pub config: Config,
    /// Things accepted but ignored or adjusted (unsupported keepalived keywords, a long
    /// `auth_pass` cut to 8 bytes...). Never fatal.
    pub warnings: Vec<Diagnostic>,
}

/// One message about one place in a configuration file.
///
/// Displayed as `FILE:LINE:COL: KEY: MESSAGE (did you mean `SUGGESTION`?)`; when the source
/// line is known (keepalived files) it follows on the next line with a caret under the problem.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// The file the problem is in.
    pub file: PathBuf,
    /// 1-based line; 0 when the problem concerns the whole file.
    pub line: usize,
    /// 1-based column in characters; 0 when unknown.
    pub column: usize,
    /// The keyword (or TOML key) concerned.
    pub key: String,
    /// What is wrong, in words.
    pub message: String,
    /// The probable intended text, e.g. `lb_algo` for `1b_algo`.
    pub suggestion: Option<String>,
    /// The text of the offending line, shown under the message with a caret. `None` for TOML
    /// files and for file-level problems.
    pub source_line: Option<String>,
}

impl Diagnostic {
    /// A diagnostic without suggestion or source line.
    pub fn new(
        file: &Path,
        line: usize,
        column: usize,
        key: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        Self {
            file: file.to_path_buf(),
            line,
            column,
            key: key.into(),
            message: message.into(),
            suggestion: None,
            source_line: None,
        }
    }

    /// Adds a "did you mean" suggestion.
    pub fn with_suggestion(mut self, suggestion: Option<String>) -> Self {
        self.suggestion = suggestion;
        self
    }

    /// The caret line for [`Self::source_line`]: tabs are copied so the caret lines up, and
    /// it is as wide as the key when the key is written at the column, else the word there.
    fn caret(&self, source: &str) -> String {
        let chars: Vec<char> = source.chars().collect();
        let start = self.column.saturating_sub(1).min(chars.len());
        let mut out: String = chars[..start]
            .iter()
            .map(|&c| if c == '\t' { '\t' } else { ' ' })
            .collect();
        let rest: String = chars[start..].iter().collect();
        let width = if !self.key.is_empty() && rest.starts_with(&self.key) {
            self.key.chars().count()
        } else {
            rest.chars().take_while(|c| !c.is_whitespace()).count()
        };
        out.push_str(&"^".repeat(width.max(1)));
        out
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:", self.file.display())?;
        if self.line > 0 {
            write!(f, "{}:{}:", self.line, self.column)?;
        }
        if !self.key.is_empty() {
            write!(f, " {}:", self.key)?;
        }
        write!(f, " {}", self.message)?;
        if let Some(s) = &self.suggestion {
            write!(f, " (did you mean `{s}`?)")?;
        }
        if let Some(src) = &self.source_line {
            write!(f, "\n    {src}\n    {}", self.caret(src))?;
        }
        Ok(())
    }
}

/// A configuration that cannot be used: every error found in it (or why it could not be read).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ConfigError {
    /// All the errors, in file order.
    pub diagnostics: Vec<Diagnostic>,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, d) in self.diagnostics.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{d}")?;
        }
        Ok(())
    }
}

/// Reads and loads a configuration file: `*.toml` as TOML, anything else as keepalived.conf.
pub fn load(path: &Path) -> Result<Loaded, ConfigError> {
    load_with(path, HostChecks::Programs)
}

/// What a load checks on this machine beyond the file itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HostChecks {
    /// Every program a script or notify names exists, is executable, and (as root) cannot be
    /// changed by another user. What `vipd` does before it runs a file.
    Programs,
    /// The file alone: for a configuration meant for another machine.
    None,
}

/// [`load`], choosing what is checked on this machine.
pub fn load_with(path: &Path, checks: HostChecks) -> Result<Loaded, ConfigError> {
    match std::fs::read(path) {
        Ok(bytes) => {
            let text = String::from_utf8_lossy(&bytes);
            load_str_with(&text, path, checks)
        }
        Err(e) => Err(ConfigError {
            diagnostics: vec![Diagnostic::new(
                path,
                0,
                0,
                "",
                format!("cannot read {}: {e}", path.display()),
            )],
        }),
    }
}

/// Loads configuration text; `path` chooses the format (`*.toml` = TOML) and names the file in
/// diagnostics.
pub fn load_str(text: &str, path: &Path) -> Result<Loaded, ConfigError> {
    load_str_with(text, path, HostChecks::Programs)
}

/// [`load_str`], choosing what is checked on this machine.
pub fn load_str_with(text: &str, path: &Path, checks: HostChecks) -> Result<Loaded, ConfigError> {
    let mut report = Report::new(path);
    report.check_programs = checks == HostChecks::Programs;
    let raw = if is_toml(path) {
        toml::parse(text, &mut report)
    } else {
        keepalived::parse(text, &mut report)
    };
    let config = raw.map(|raw| validate::validate(raw, &mut report));
    report.finish(config)
}

fn is_toml(path: &Path) -> bool {
    path.extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("toml"))
}

/// Collects the errors and warnings of one load.
pub(crate) struct Report {
    file: PathBuf,
    /// Source lines for the caret display (keepalived files only).
    lines: Option<Vec<String>>,
    errors: Vec<Diagnostic>,
    warnings: Vec<Diagnostic>,
    /// Whether programs named by scripts are looked for on this machine.
    pub(crate) check_programs: bool,
}

impl Report {
    fn new(file: &Path) -> Self {
        Self {
            file: file.to_path_buf(),
            lines: None,
            errors: Vec::new(),
            warnings: Vec::new(),
            check_programs: true,
        }
    }

    /// Keep the text so diagnostics can quote their line.
    pub(crate) fn set_source(&mut self, text: &str) {
        self.lines = Some(
            text.split('\n')
                .map(|l| l.strip_suffix('\r').unwrap_or(l).to_string())
                .collect(),
        );
    }

    pub(crate) fn diag(
        &self,
        line: usize,
        column: usize,
        key: &str,
        message: impl Into<String>,
    ) -> Diagnostic {
        let mut d = Diagnostic::new(&self.file, line, column, key, message);
        if line > 0 {
            d.source_line = self.lines.as_ref().and_then(|l| l.get(line - 1)).cloned();
        }
        d
    }

    pub(crate) fn error(&mut self, d: Diagnostic) {
        self.errors.push(d);
    }

    pub(crate) fn warn(&mut self, d: Diagnostic) {
        self.warnings.push(d);
    }

    pub(crate) fn error_count(&self) -> usize {
        self.errors.len()
    }

    fn finish(mut self, config: Option<Config>) -> Result<Loaded, ConfigError> {
        let key = |d: &Diagnostic| (d.line, d.column);
        self.errors.sort_by_key(key);
        self.warnings.sort_by_key(key);
        match config {
            Some(config) if self.errors.is_empty() => Ok(Loaded {
                config,
                warnings: self.warnings,
            }),
            _ => {
                if self.errors.is_empty() {
                    let d = Diagnostic::new(&self.file, 0, 0, "", "no configuration could be read");
                    self.errors.push(d);
                }
                Err(ConfigError {
                    diagnostics: self.errors,
                })
            }
        }
    }
}
