//! Value parsers the validators share: each reads one value as written and, when it does not
//! fit, reports why under the keyword's name.

use std::ops::{Bound, RangeBounds};
use std::time::Duration;

use super::Report;
use super::raw::Val;

/// The largest count keepalived reads into a C `int`.
pub(crate) const C_INT_MAX: u32 = i32::MAX.unsigned_abs();

/// A whole number in `range`. A range with an upper end says both ends ("a count from 1 to
/// 2147483647"); one without, the lower ("a whole number of at least 1").
pub(crate) fn count(
    v: &Val<String>,
    key: &str,
    range: impl RangeBounds<u32>,
    report: &mut Report,
) -> Option<u32> {
    let min = match range.start_bound() {
        Bound::Included(&min) => min,
        Bound::Excluded(&below) => below.saturating_add(1),
        Bound::Unbounded => 0,
    };
    let what = match range.end_bound() {
        Bound::Included(max) => format!("a count from {min} to {max}"),
        Bound::Excluded(end) => format!("a count from {min} to {}", end.saturating_sub(1)),
        Bound::Unbounded => format!("a whole number of at least {min}"),
    };
    must(v, key, &what, report, |s| {
        s.parse::<u32>().ok().filter(|n| range.contains(n))
    })
}

/// `3`, `0.5`: non-negative decimal seconds.
pub(crate) fn seconds(text: &str) -> Option<Duration> {
    if text.is_empty() || !text.chars().all(|c| c.is_ascii_digit() || c == '.') {
        return None;
    }
    text.parse::<f64>()
        .ok()
        .and_then(|s| Duration::try_from_secs_f64(s).ok())
}

/// `parse` of the value as written, or the error "KEY must be WHAT, got `VALUE`" at it.
pub(crate) fn must<T>(
    v: &Val<String>,
    key: &str,
    what: &str,
    report: &mut Report,
    parse: impl FnOnce(&str) -> Option<T>,
) -> Option<T> {
    let parsed = parse(&v.value);
    if parsed.is_none() {
        report.error_at(
            v.at(),
            key,
            format!("{key} must be {what}, got `{}`", v.value),
        );
    }
    parsed
}

/// Sets `field` from `written` when the value is written and `parse` accepts it. False when
/// it is written and `parse` refused it (and reported why), so that a block can check every
/// value before it gives up.
pub(crate) fn apply<T>(
    field: &mut T,
    written: Option<&Val<String>>,
    parse: impl FnOnce(&Val<String>) -> Option<T>,
) -> bool {
    match written.map(parse) {
        Some(Some(value)) => {
            *field = value;
            true
        }
        Some(None) => false,
        None => true,
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    #[test]
    fn seconds_parse() {
        assert_eq!(seconds("1.5"), Some(Duration::from_millis(1500)));
        assert_eq!(seconds("-1"), None);
        assert_eq!(seconds(""), None);
    }

    #[test]
    fn counts_say_their_bounds() {
        let mut report = Report::new(Path::new("t.conf"));
        let v = |s: &str| Val::new(s.to_string(), 1, 1);
        assert_eq!(count(&v("0"), "rise", 1.., &mut report), None);
        assert_eq!(count(&v("3"), "rise", 1.., &mut report), Some(3));
        assert_eq!(count(&v("-1"), "repeat", 0..=C_INT_MAX, &mut report), None);
        assert_eq!(
            count(&v("2147483648"), "repeat", 0..=C_INT_MAX, &mut report),
            None
        );
        let messages: Vec<&str> = report.errors.iter().map(|d| d.message.as_str()).collect();
        assert_eq!(
            messages,
            [
                "rise must be a whole number of at least 1, got `0`",
                "repeat must be a count from 0 to 2147483647, got `-1`",
                "repeat must be a count from 0 to 2147483647, got `2147483648`",
            ]
        );
    }
}
