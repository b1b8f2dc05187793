//! What the config unit tests share: load a text as a named file (the name picks the format
//! and appears in diagnostics), and take its result apart.

use std::path::Path;

use super::{ConfigError, Diagnostic, HostChecks, LoadOptions, Loaded, load_str, load_str_with};

/// Loads `text` as file `file` (`*.toml` is TOML, anything else keepalived.conf).
pub(crate) fn load(text: &str, file: &str) -> Result<Loaded, ConfigError> {
    load_str(text, Path::new(file))
}

/// [`load`] for another host (`vipctl check-config --offline`): no programs, users or groups
/// are looked for here.
pub(crate) fn load_offline(text: &str, file: &str) -> Result<Loaded, ConfigError> {
    let offline = LoadOptions {
        host_checks: HostChecks::None,
        ..LoadOptions::default()
    };
    load_str_with(text, Path::new(file), &offline)
}

/// The loaded configuration; panics with the errors if there are any.
pub(crate) fn ok(text: &str, file: &str) -> Loaded {
    load(text, file).unwrap_or_else(|e| panic!("{e}"))
}

/// The errors; panics if the text loads.
pub(crate) fn err(text: &str, file: &str) -> ConfigError {
    load(text, file).expect_err("must be rejected")
}

/// The only error; panics if there is none or more than one.
pub(crate) fn one_error(text: &str, file: &str) -> Diagnostic {
    let e = err(text, file);
    assert_eq!(e.diagnostics.len(), 1, "{e}");
    e.diagnostics[0].clone()
}

/// The first error; panics if the text loads.
pub(crate) fn first_error(text: &str, file: &str) -> Diagnostic {
    err(text, file).diagnostics[0].clone()
}

/// Each diagnostic's line, key and suggestion, for comparing a whole list at once.
pub(crate) fn line_key_suggestion(e: &ConfigError) -> Vec<(usize, &str, Option<&str>)> {
    e.diagnostics
        .iter()
        .map(|d| (d.line, d.key.as_str(), d.suggestion.as_deref()))
        .collect()
}
