//! vipd's native TOML format: keepalived's keyword names, one `[[vrrp_instance]]` table each.
//!
//! ```toml
//! [global_defs]
//! router_id = "lb1"
//! [[vrrp_instance]]
//! name = "VI_1"
//! interface = "eth0"
//! virtual_router_id = 51
//! authentication = { auth_type = "PASS", auth_pass = "secret" }
//! virtual_ipaddress = ["192.168.91.151/24 dev eth0 label eth0:1"]
//! ```
//!
//! Deserialised with serde (`deny_unknown_fields`); values keep their spans so the shared
//! validation can name the line. Unknown keys are all reported at once, with suggestions.

use serde::Deserialize;
use toml::Spanned;
use toml::de::{DeTable, DeValue};

use super::validate::{RawConfig, RawInstance, Val};
use super::{Report, suggest};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    global_defs: Option<GlobalDefs>,
    #[serde(default)]
    vrrp_instance: Vec<Instance>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct GlobalDefs {
    router_id: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Instance {
    name: Spanned<String>,
    state: Option<Spanned<String>>,
    interface: Option<Spanned<String>>,
    virtual_router_id: Option<Spanned<i64>>,
    priority: Option<Spanned<i64>>,
    advert_int: Option<Spanned<i64>>,
    nopreempt: Option<Spanned<bool>>,
    preempt_delay: Option<Spanned<i64>>,
    authentication: Option<Authentication>,
    #[serde(default)]
    virtual_ipaddress: Vec<Spanned<String>>,
    unicast_src_ip: Option<Spanned<String>>,
    #[serde(default)]
    unicast_peer: Vec<Spanned<String>>,
    garp_master_delay: Option<Spanned<i64>>,
    garp_master_repeat: Option<Spanned<i64>>,
    garp_master_refresh: Option<Spanned<i64>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Authentication {
    auth_type: Option<Spanned<String>>,
    auth_pass: Option<Spanned<String>>,
}

const TOP_KEYS: &[&str] = &["global_defs", "vrrp_instance"];
const GLOBAL_KEYS: &[&str] = &["router_id"];
const INSTANCE_KEYS: &[&str] = &[
    "name",
    "state",
    "interface",
    "virtual_router_id",
    "priority",
    "advert_int",
    "nopreempt",
    "preempt_delay",
    "authentication",
    "virtual_ipaddress",
    "unicast_src_ip",
    "unicast_peer",
    "garp_master_delay",
    "garp_master_repeat",
    "garp_master_refresh",
];
const AUTH_KEYS: &[&str] = &["auth_type", "auth_pass"];

/// 1-based line and column (in characters) of byte `offset`.
fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |p| p + 1);
    (line, before[line_start..].chars().count() + 1)
}

/// Parses TOML text. `None` when it is not valid TOML or does not fit the shape.
pub(crate) fn parse(text: &str, report: &mut Report) -> Option<RawConfig> {
    match toml::from_str::<File>(text) {
        Ok(file) => Some(convert(file, text)),
        Err(e) => {
            if !unknown_keys(text, report) {
                let (line, col) = e.span().map_or((0, 0), |s| line_col(text, s.start));
                let message = e.message().trim().replace('\n', " ");
                let key = key_at(text, e.span().map_or(0, |s| s.start));
                let d = report.diag(line, col, &key, message);
                report.error(d);
            }
            None
        }
    }
}

/// The `key` of a `key = value` line that holds byte `offset`, for naming a type error.
fn key_at(text: &str, offset: usize) -> String {
    let (line, _) = line_col(text, offset);
    text.lines()
        .nth(line - 1)
        .and_then(|l| l.split_once('='))
        .map(|(k, _)| k.trim().trim_start_matches('{').trim().to_string())
        .filter(|k| !k.is_empty() && !k.contains(['[', ' ', ',']))
        .unwrap_or_default()
}

/// Reports every key the shape does not know, with a suggestion. True if there was one.
fn unknown_keys(text: &str, report: &mut Report) -> bool {
    let Ok(doc) = DeTable::parse(text) else {
        return false;
    };
    let before = report.error_count();
    check_table(
        text,
        doc.get_ref(),
        TOP_KEYS,
        "the top level",
        report,
        &|key, value| match (key, value) {
            ("global_defs", DeValue::Table(t)) => vec![(t, GLOBAL_KEYS, "global_defs")],
            ("vrrp_instance", DeValue::Array(a)) => a
                .iter()
                .filter_map(|v| match v.get_ref() {
                    DeValue::Table(t) => Some((t, INSTANCE_KEYS, "vrrp_instance")),
                    _ => None,
                })
                .collect(),
            ("authentication", DeValue::Table(t)) => vec![(t, AUTH_KEYS, "authentication")],
            _ => Vec::new(),
        },
    );
    report.error_count() > before
}

type Children<'a, 'i> = Vec<(&'a DeTable<'i>, &'static [&'static str], &'static str)>;

fn check_table<'a, 'i>(
    text: &str,
    table: &'a DeTable<'i>,
    keys: &[&str],
    place: &str,
    report: &mut Report,
    children: &dyn Fn(&str, &'a DeValue<'i>) -> Children<'a, 'i>,
) {
    for (k, v) in table.iter() {
        let name: &str = k.get_ref();
        if keys.contains(&name) {
            for (t, sub_keys, sub_place) in children(name, v.get_ref()) {
                check_table(text, t, sub_keys, sub_place, report, children);
            }
        } else {
            let (line, col) = line_col(text, k.span().start);
            let d = report
                .diag(line, col, name, format!("unknown key `{name}` in {place}"))
                .with_suggestion(suggest::keyword(name, None, keys));
            report.error(d);
        }
    }
}

fn val<T: ToString>(text: &str, s: &Spanned<T>) -> Val<String> {
    let (line, col) = line_col(text, s.span().start);
    Val::new(s.get_ref().to_string(), line, col)
}

fn convert(file: File, text: &str) -> RawConfig {
    let v = |s: &Spanned<String>| val(text, s);
    let n = |s: &Spanned<i64>| val(text, s);
    let instances = file
        .vrrp_instance
        .into_iter()
        .map(|i| {
            let auth = i.authentication.as_ref();
            RawInstance {
                name: v(&i.name),
                state: i.state.as_ref().map(v),
                interface: i.interface.as_ref().map(v),
                virtual_router_id: i.virtual_router_id.as_ref().map(n),
                priority: i.priority.as_ref().map(n),
                advert_int: i.advert_int.as_ref().map(n),
                nopreempt: i.nopreempt.as_ref().map(|b| {
                    let (line, col) = line_col(text, b.span().start);
                    Val::new(*b.get_ref(), line, col)
                }),
                preempt_delay: i.preempt_delay.as_ref().map(n),
                auth_type: auth.and_then(|a| a.auth_type.as_ref()).map(v),
                auth_pass: auth.and_then(|a| a.auth_pass.as_ref()).map(v),
                virtual_ipaddress: i.virtual_ipaddress.iter().map(|s| words(text, s)).collect(),
                unicast_src_ip: i.unicast_src_ip.as_ref().map(v),
                unicast_peer: i.unicast_peer.iter().map(v).collect(),
                garp_master_delay: i.garp_master_delay.as_ref().map(n),
                garp_master_repeat: i.garp_master_repeat.as_ref().map(n),
                garp_master_refresh: i.garp_master_refresh.as_ref().map(n),
            }
        })
        .collect();
    RawConfig {
        router_id: file.global_defs.and_then(|g| g.router_id).map(|r| v(&r)),
        instances,
        includes: Vec::new(),
    }
}

/// `"192.168.91.151/24 dev eth0"` split into words, each placed inside the string.
fn words(text: &str, s: &Spanned<String>) -> Vec<Val<String>> {
    let (line, col) = line_col(text, s.span().start);
    let value = s.get_ref();
    let mut out = Vec::new();
    let mut start = None;
    for (i, c) in value.chars().chain(std::iter::once(' ')).enumerate() {
        match (c.is_whitespace(), start) {
            (false, None) => start = Some(i),
            (true, Some(b)) => {
                let word: String = value.chars().skip(b).take(i - b).collect();
                // +1 for the opening quote.
                out.push(Val::new(word, line, col + 1 + b));
                start = None;
            }
            _ => {}
        }
    }
    if out.is_empty() {
        out.push(Val::new(String::new(), line, col));
    }
    out
}
