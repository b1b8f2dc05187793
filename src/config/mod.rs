//! Configuration: loaders for keepalived.conf and TOML that build one validated [`Config`].
//!
//! # Layout
//! - [`model`]: the typed model the daemon consumes.
//! - `keywords`: the keyword table: what each block accepts in keepalived.conf and in TOML,
//!   and what `convert` says about each key.
//! - `keepalived`: users' unchanged keepalived.conf files: lexer, statements, schema, reader.
//! - `toml`: vipd's native TOML format (serde, keys named as in keepalived).
//! - `raw`: the configuration as written (values with positions), which both loaders build.
//! - `validate`: the semantic checks both loaders share (ranges, IPv4 only, duplicates).
//! - `values`: value parsers the validators share (counts, seconds).
//! - `tracking`: `vrrp_script`, `vrrp_track_*`, sync groups, an instance's `track_*` and
//!   `notify*`, and the programs they run.
//! - `defaults`: `global_defs` keywords that are defaults of every instance.
//! - `vips`: what the VIP lists must satisfy together (255 per instance, one instance each).
//! - `virtual_server`: the same for `virtual_server` pools (lb_kind, schedulers, checkers).
//! - `suggest`: "did you mean" for misspelt keywords (edit distance plus real typos).
//! - `source`: keepalived's line-level preprocessing: `include`, `$NAME`, `@id` lines.
//! - [`convert`]: the model back to commented TOML (`vipctl convert`).
//! - `unsupported`: what vipd does instead of each keepalived keyword it ignores.
//!
//! Entry points are [`load`] and [`load_str`] (and [`load_with`] for a [`LoadOptions`]): a
//! `*.toml` path is read as TOML, any other as keepalived syntax. Every problem found in a
//! file, or in a file it includes, is reported at once, each as a [`Diagnostic`] naming the
//! file, line, column and key.

pub mod convert;
mod defaults;
mod keepalived;
mod keywords;
pub mod model;
mod protocol;
mod raw;
mod routes;
mod source;
mod suggest;
#[cfg(test)]
mod testing;
mod toml;
mod tracking;
mod unsupported;
mod validate;
mod values;
mod vips;
mod virtual_server;

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};

pub use model::{
    Argv, Check, CheckKind, Config, HttpUrl, InitialState, LbAlgo, Notify, PRIORITY_OWNER, Program,
    Protocol, ProxyProtocol, RealServer, RouteInstance, ScriptUser, SyncGroup, TrackFile,
    TrackInterface, TrackProcess, TrackRef, Tracks, VRRP_GROUP_V4, VRRP_GROUP_V6, VirtualIp,
    VirtualServer, VrrpInstance, VrrpScript, VrrpVersion,
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
/// line is known it follows on the next line with a caret under the problem.
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
    /// The text of the offending line, shown under the message with a caret. `None` for
    /// file-level problems (line 0).
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

/// How to read a configuration, beyond its text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadOptions {
    /// keepalived's config id: `@ID` lines are kept only when it is ID, `@^ID` lines only when
    /// it is not, and `$_INSTANCE` expands to it. keepalived's default, and
    /// [`LoadOptions::default`]'s, is the host name up to its first dot.
    pub config_id: Option<String>,
    /// What is checked on this machine beyond the file.
    pub host_checks: HostChecks,
}

/// What a load checks on this machine beyond the file itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HostChecks {
    /// Every program a script, notify or checker names exists, is executable, and (as root)
    /// cannot be changed by another user, and the users and groups scripts run as exist. What
    /// `vipd` does before it runs a file.
    Programs,
    /// The file alone, for a configuration meant for another machine (`vipctl check-config
    /// --offline`): programs, users and groups are not looked for, and where an `include`
    /// pattern matches nothing here, the names its files may define there (sync group
    /// members, tracked scripts, any instance at all) are warnings, not errors. Every other
    /// check is made.
    None,
}

impl Default for LoadOptions {
    fn default() -> Self {
        Self {
            config_id: source::host_config_id(),
            host_checks: HostChecks::Programs,
        }
    }
}

/// Reads and loads a configuration file: `*.toml` as TOML, anything else as keepalived.conf.
pub fn load(path: &Path) -> Result<Loaded, ConfigError> {
    load_with(path, &LoadOptions::default())
}

/// [`load`] with explicit [`LoadOptions`] (`vipd --config-id`, host checks).
pub fn load_with(path: &Path, options: &LoadOptions) -> Result<Loaded, ConfigError> {
    match std::fs::read(path) {
        Ok(bytes) => {
            let text = String::from_utf8_lossy(&bytes);
            load_str_with(&text, path, options)
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

/// Loads configuration text; `path` chooses the format (`*.toml` = TOML), names the file in
/// diagnostics and is where relative `include`s are looked for.
pub fn load_str(text: &str, path: &Path) -> Result<Loaded, ConfigError> {
    load_str_with(text, path, &LoadOptions::default())
}

/// [`load_str`] with explicit [`LoadOptions`].
pub fn load_str_with(
    text: &str,
    path: &Path,
    options: &LoadOptions,
) -> Result<Loaded, ConfigError> {
    let mut report = Report::new(path);
    report.host_checks = options.host_checks;
    let raw = if is_toml(path) {
        // TOML line numbers are the file's own: quote them under diagnostics too.
        report.set_origins(
            vec![path.to_path_buf()],
            text.split('\n')
                .enumerate()
                .map(|(i, l)| (0, i + 1, l.strip_suffix('\r').unwrap_or(l).to_string())),
        );
        toml::parse(text, &mut report)
    } else {
        let expanded = source::expand(text, path, options.config_id.as_deref());
        keepalived::parse(expanded, &mut report)
    };
    let config = raw.map(|raw| validate::validate(raw, &mut report));
    report.finish(config)
}

/// `d`, once in `list`.
fn pushed(list: &mut Vec<Diagnostic>, d: Diagnostic) -> &mut Diagnostic {
    list.push(d);
    list.last_mut().expect("just pushed")
}

fn is_toml(path: &Path) -> bool {
    path.extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("toml"))
}

/// Where one line the loaders number comes from (after includes, for keepalived files).
#[derive(Debug, Clone)]
struct Origin {
    /// Index into [`Report::files`].
    file: usize,
    /// 1-based line in that file.
    line: usize,
    /// The text to quote under a diagnostic.
    shown: String,
}

/// Collects the errors and warnings of one load.
///
/// The loaders number lines 1, 2, 3... over everything they read; for keepalived files with
/// `include`s that numbering runs through several files, and [`Report::diag`] turns it back
/// into the file and line the user wrote.
pub(crate) struct Report {
    file: PathBuf,
    /// Every file read; index 0 is [`Self::file`].
    files: Vec<PathBuf>,
    /// Per loader line, where it comes from.
    lines: Option<Vec<Origin>>,
    errors: Vec<Diagnostic>,
    warnings: Vec<Diagnostic>,
    /// What is checked on this machine beyond the file.
    pub(crate) host_checks: HostChecks,
    /// (line, column) of each keepalived `include` whose pattern matched no file here.
    pub(crate) unmatched_includes: Vec<(usize, usize)>,
}

impl Report {
    fn new(file: &Path) -> Self {
        Self {
            file: file.to_path_buf(),
            files: vec![file.to_path_buf()],
            lines: None,
            errors: Vec::new(),
            warnings: Vec::new(),
            host_checks: HostChecks::Programs,
            unmatched_includes: Vec::new(),
        }
    }

    /// Keep where each line came from: `(file index, line in file, text to quote)`.
    pub(crate) fn set_origins(
        &mut self,
        files: Vec<PathBuf>,
        lines: impl IntoIterator<Item = (usize, usize, String)>,
    ) {
        if !files.is_empty() {
            self.files = files;
        }
        self.lines = Some(
            lines
                .into_iter()
                .map(|(file, line, shown)| Origin { file, line, shown })
                .collect(),
        );
    }

    /// A diagnostic at loader line `line` (0 = the whole file), column `column`.
    pub(crate) fn diag(
        &self,
        line: usize,
        column: usize,
        key: &str,
        message: impl Into<String>,
    ) -> Diagnostic {
        match self.origin(line) {
            Some(o) => {
                let mut d = Diagnostic::new(&self.files[o.file], o.line, column, key, message);
                d.source_line = Some(o.shown.clone());
                d
            }
            None => Diagnostic::new(&self.file, line, column, key, message),
        }
    }

    fn origin(&self, line: usize) -> Option<&Origin> {
        let lines = self.lines.as_ref()?;
        line.checked_sub(1).and_then(|i| lines.get(i))
    }

    /// "line 12", or "line 3 of /etc/keepalived/conf.d/b.conf" when the load read several
    /// files: for messages that point at a second place.
    pub(crate) fn line_ref(&self, line: usize) -> String {
        match self.origin(line) {
            // With includes, "line 3" alone would not say which file.
            Some(o) if self.files.len() > 1 => {
                format!("line {} of {}", o.line, self.files[o.file].display())
            }
            Some(o) => format!("line {}", o.line),
            None => format!("line {line}"),
        }
    }

    /// Where (line, column) an include matched no file, when the file is checked for another
    /// host: what it includes there may define names this load does not see.
    pub(crate) fn elsewhere(&self) -> Option<(usize, usize)> {
        match self.host_checks {
            HostChecks::None => self.unmatched_includes.first().copied(),
            HostChecks::Programs => None,
        }
    }

    /// `d` is about a name the file does not define: an error, or a warning when the name may
    /// be defined where an include points on the host the file is for ([`Self::elsewhere`]).
    /// Returns whether it was an error.
    pub(crate) fn undefined_name(&mut self, mut d: Diagnostic) -> bool {
        match self.elsewhere() {
            Some((line, _)) => {
                d.message.push_str(&format!(
                    "; the include on {} matched no file here and may define it on the host the \
                     file is for",
                    self.line_ref(line)
                ));
                self.warn(d);
                false
            }
            None => {
                self.error(d);
                true
            }
        }
    }

    pub(crate) fn error(&mut self, d: Diagnostic) {
        self.errors.push(d);
    }

    pub(crate) fn warn(&mut self, d: Diagnostic) {
        self.warnings.push(d);
    }

    /// An error at `at` (loader line, column) about `key`: one rule, one line. Returns the
    /// diagnostic for a rule that has a suggestion to add.
    pub(crate) fn error_at(
        &mut self,
        at: (usize, usize),
        key: &str,
        message: impl Into<String>,
    ) -> &mut Diagnostic {
        let d = self.diag(at.0, at.1, key, message);
        pushed(&mut self.errors, d)
    }

    /// A warning at `at` (loader line, column) about `key`; see [`Self::error_at`].
    pub(crate) fn warn_at(
        &mut self,
        at: (usize, usize),
        key: &str,
        message: impl Into<String>,
    ) -> &mut Diagnostic {
        let d = self.diag(at.0, at.1, key, message);
        pushed(&mut self.warnings, d)
    }

    pub(crate) fn error_count(&self) -> usize {
        self.errors.len()
    }

    fn finish(mut self, config: Option<Config>) -> Result<Loaded, ConfigError> {
        // Reading order: by position in what the loader read, which follows the includes.
        let mut order: HashMap<(&Path, usize), usize> = HashMap::new();
        for (i, o) in self.lines.iter().flatten().enumerate() {
            order.entry((&self.files[o.file], o.line)).or_insert(i + 1);
        }
        let key = |d: &Diagnostic| {
            let at = order.get(&(d.file.as_path(), d.line)).copied();
            (at.unwrap_or(d.line), d.column)
        };
        self.errors.sort_by_cached_key(key);
        self.warnings.sort_by_cached_key(key);
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
