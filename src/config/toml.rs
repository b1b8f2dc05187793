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
//! [[virtual_server]]
//! ip = "192.168.91.151"
//! port = 6201
//! lb_algo = "rr"
//! [[virtual_server.real_server]]
//! ip = "192.168.91.104"
//! port = 6101
//! TCP_CHECK = { connect_timeout = 3 }
//! ```
//!
//! Deserialised with serde (`deny_unknown_fields`); values keep their spans so the shared
//! validation can name the line. Unknown keys are all reported at once, with suggestions,
//! from the keyword table. [`super::convert`] fills the same structs to write a
//! configuration back, so both directions have one shape.

use serde::{Deserialize, Serialize};
use toml::Spanned;
use toml::de::{DeTable, DeValue};

use super::keywords::{self, Block, Body, Toml};
use super::raw::{
    RawCheck, RawCheckDefaults, RawConfig, RawDefaults, RawInstance, RawNotify, RawRealServer,
    RawRouteInstance, RawScript, RawSyncGroup, RawTrackFile, RawTrackProcess, RawTracking,
    RawTracks, RawUrl, RawVirtualServer, Val,
};
use super::{Report, suggest};

#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub(super) struct File {
    pub(super) global_defs: Option<GlobalDefs>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(super) vrrp_instance: Vec<Instance>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(super) route_instance: Vec<RouteInstanceT>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(super) virtual_server: Vec<VirtualServerT>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(super) vrrp_script: Vec<Script>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(super) vrrp_track_file: Vec<TrackFileTable>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(super) vrrp_track_process: Vec<TrackProcessTable>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(super) vrrp_sync_group: Vec<SyncGroupTable>,
}

/// `[[virtual_server]]`: `ip` and `port` instead of keepalived's two words.
#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub(super) struct VirtualServerT {
    pub(super) ip: Spanned<String>,
    pub(super) port: Spanned<i64>,
    pub(super) delay_loop: Option<Spanned<Seconds>>,
    pub(super) lb_algo: Option<Spanned<String>>,
    pub(super) lb_kind: Option<Spanned<String>>,
    pub(super) persistence_timeout: Option<Spanned<i64>>,
    pub(super) protocol: Option<Spanned<String>>,
    /// `"IP PORT"`, as in keepalived.
    pub(super) sorry_server: Option<Spanned<String>>,
    pub(super) quorum: Option<Spanned<i64>>,
    pub(super) hysteresis: Option<Spanned<i64>>,
    pub(super) alpha: Option<Spanned<bool>>,
    pub(super) omega: Option<Spanned<bool>>,
    pub(super) proxy_protocol: Option<Spanned<String>>,
    pub(super) maxconn: Option<Spanned<i64>>,
    pub(super) connect_timeout: Option<Spanned<Seconds>>,
    pub(super) retry: Option<Spanned<i64>>,
    pub(super) delay_before_retry: Option<Spanned<Seconds>>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(super) real_server: Vec<RealServerT>,
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RealServerT {
    pub(super) ip: Spanned<String>,
    pub(super) port: Spanned<i64>,
    pub(super) weight: Option<Spanned<i64>>,
    pub(super) inhibit_on_failure: Option<Spanned<bool>>,
    pub(super) notify_up: Option<Spanned<String>>,
    pub(super) notify_down: Option<Spanned<String>>,
    pub(super) proxy_protocol: Option<Spanned<String>>,
    pub(super) maxconn: Option<Spanned<i64>>,
    pub(super) uthreshold: Option<Spanned<i64>>,
    pub(super) lthreshold: Option<Spanned<i64>>,
    pub(super) connect_timeout: Option<Spanned<Seconds>>,
    pub(super) retry: Option<Spanned<i64>>,
    pub(super) delay_before_retry: Option<Spanned<Seconds>>,
    pub(super) delay_loop: Option<Spanned<Seconds>>,
    #[serde(rename = "TCP_CHECK")]
    pub(super) tcp_check: Option<Spanned<CheckT>>,
    #[serde(rename = "HTTP_GET")]
    pub(super) http_get: Option<Spanned<CheckT>>,
    #[serde(rename = "MISC_CHECK")]
    pub(super) misc_check: Option<Spanned<CheckT>>,
    #[serde(rename = "UDP_CHECK")]
    pub(super) udp_check: Option<Spanned<CheckT>>,
}

/// Any checker table; the shared validation says which keys fit which checker.
#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub(super) struct CheckT {
    pub(super) connect_ip: Option<Spanned<String>>,
    pub(super) connect_port: Option<Spanned<i64>>,
    pub(super) bindto: Option<Spanned<String>>,
    pub(super) connect_timeout: Option<Spanned<Seconds>>,
    pub(super) retry: Option<Spanned<i64>>,
    pub(super) nb_get_retry: Option<Spanned<i64>>,
    pub(super) delay_before_retry: Option<Spanned<Seconds>>,
    pub(super) delay_loop: Option<Spanned<Seconds>>,
    pub(super) rise: Option<Spanned<i64>>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(super) url: Vec<Spanned<UrlT>>,
    pub(super) misc_path: Option<Spanned<String>>,
    pub(super) misc_timeout: Option<Spanned<Seconds>>,
    pub(super) user: Option<Spanned<String>>,
    pub(super) payload: Option<Spanned<String>>,
    pub(super) require_reply: Option<Spanned<bool>>,
    pub(super) min_reply_length: Option<Spanned<i64>>,
    pub(super) max_reply_length: Option<Spanned<i64>>,
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Script {
    pub(super) name: Spanned<String>,
    pub(super) script: Option<Spanned<String>>,
    pub(super) interval: Option<Spanned<Seconds>>,
    pub(super) timeout: Option<Spanned<Seconds>>,
    pub(super) weight: Option<Spanned<i64>>,
    pub(super) rise: Option<Spanned<i64>>,
    pub(super) fall: Option<Spanned<i64>>,
    pub(super) user: Option<Spanned<String>>,
    #[serde(default, skip_serializing_if = "is_false")]
    pub(super) init_fail: bool,
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub(super) struct TrackFileTable {
    pub(super) name: Spanned<String>,
    pub(super) file: Option<Spanned<String>>,
    pub(super) weight: Option<Spanned<i64>>,
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub(super) struct TrackProcessTable {
    pub(super) name: Spanned<String>,
    pub(super) process: Option<Spanned<String>>,
    pub(super) weight: Option<Spanned<i64>>,
    pub(super) quorum: Option<Spanned<i64>>,
    #[serde(default, skip_serializing_if = "is_false")]
    pub(super) full_command: bool,
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub(super) struct SyncGroupTable {
    pub(super) name: Spanned<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(super) group: Vec<Spanned<String>>,
    pub(super) notify_master: Option<Spanned<String>>,
    pub(super) notify_backup: Option<Spanned<String>>,
    pub(super) notify_fault: Option<Spanned<String>>,
    pub(super) notify_stop: Option<Spanned<String>>,
    pub(super) notify: Option<Spanned<String>>,
}

fn is_false(b: &bool) -> bool {
    !b
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub(super) struct UrlT {
    pub(super) path: Option<Spanned<String>>,
    pub(super) status_code: Option<Spanned<i64>>,
    pub(super) digest: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub(super) struct GlobalDefs {
    pub(super) router_id: Option<Spanned<String>>,
    pub(super) script_user: Option<Spanned<String>>,
    #[serde(default, skip_serializing_if = "is_false")]
    pub(super) enable_script_security: bool,
    pub(super) metrics_listen: Option<Spanned<String>>,
    /// Every instance's `garp_master_repeat` unless it sets its own.
    pub(super) vrrp_garp_master_repeat: Option<Spanned<i64>>,
    /// Every instance's `lower_prio_no_advert` unless it sets its own.
    pub(super) vrrp_lower_prio_no_advert: Option<Spanned<bool>>,
    /// Every instance's `garp_lower_prio_repeat` unless it sets its own.
    pub(super) vrrp_garp_lower_prio_repeat: Option<Spanned<i64>>,
    /// Every instance's `version` unless it sets its own.
    pub(super) vrrp_version: Option<Spanned<i64>>,
    /// Every instance's `v3_checksum_as_v2` unless it sets its own.
    pub(super) v3_checksum_as_v2: Option<Spanned<bool>>,
    pub(super) vrrp_mcast_group4: Option<Spanned<String>>,
    pub(super) vrrp_mcast_group6: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Instance {
    pub(super) name: Spanned<String>,
    pub(super) state: Option<Spanned<String>>,
    pub(super) interface: Option<Spanned<String>>,
    pub(super) virtual_router_id: Option<Spanned<i64>>,
    pub(super) priority: Option<Spanned<i64>>,
    pub(super) version: Option<Spanned<i64>>,
    pub(super) advert_int: Option<Spanned<Seconds>>,
    pub(super) native_ipv6: Option<Spanned<bool>>,
    pub(super) nopreempt: Option<Spanned<bool>>,
    pub(super) preempt_delay: Option<Spanned<Seconds>>,
    pub(super) authentication: Option<Authentication>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(super) virtual_ipaddress: Vec<Spanned<String>>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(super) virtual_ipaddress_excluded: Vec<Spanned<String>>,
    pub(super) unicast_src_ip: Option<Spanned<String>>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(super) unicast_peer: Vec<Spanned<String>>,
    pub(super) garp_master_delay: Option<Spanned<i64>>,
    pub(super) garp_master_repeat: Option<Spanned<i64>>,
    pub(super) garp_master_refresh: Option<Spanned<i64>>,
    pub(super) lower_prio_no_advert: Option<Spanned<bool>>,
    pub(super) garp_lower_prio_repeat: Option<Spanned<i64>>,
    pub(super) accept: Option<Spanned<bool>>,
    pub(super) use_vmac: Option<Spanned<Vmac>>,
    pub(super) vmac_xmit_base: Option<Spanned<bool>>,
    pub(super) v3_checksum_as_v2: Option<Spanned<bool>>,
    pub(super) route_table: Option<Spanned<i64>>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(super) track_script: Vec<Spanned<String>>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(super) track_interface: Vec<Spanned<String>>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(super) track_file: Vec<Spanned<String>>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(super) track_process: Vec<Spanned<String>>,
    pub(super) notify_master: Option<Spanned<String>>,
    pub(super) notify_backup: Option<Spanned<String>>,
    pub(super) notify_fault: Option<Spanned<String>>,
    pub(super) notify_stop: Option<Spanned<String>>,
    pub(super) notify: Option<Spanned<String>>,
}

/// `[[route_instance]]` (vipd's own).
#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RouteInstanceT {
    pub(super) name: Spanned<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(super) virtual_ipaddress: Vec<Spanned<String>>,
    pub(super) priority: Option<Spanned<i64>>,
    pub(super) route_table: Option<Spanned<i64>>,
    pub(super) route_interface: Option<Spanned<String>>,
    pub(super) withdraw_delay: Option<Spanned<Seconds>>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(super) track_interface: Vec<Spanned<String>>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(super) track_script: Vec<Spanned<String>>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(super) track_file: Vec<Spanned<String>>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(super) track_process: Vec<Spanned<String>>,
}

/// Seconds as a TOML integer or float (`preempt_delay = 1.5`, as keepalived allows).
#[derive(Debug, Clone, Copy, PartialEq, Deserialize, Serialize)]
#[serde(untagged)]
pub(super) enum Seconds {
    Whole(i64),
    Fraction(f64),
}

impl std::fmt::Display for Seconds {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Seconds::Whole(n) => write!(f, "{n}"),
            Seconds::Fraction(x) => write!(f, "{x}"),
        }
    }
}

/// `use_vmac = "NAME"`, or `true` for keepalived's default name (`false` = none).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(untagged)]
pub(super) enum Vmac {
    On(bool),
    Name(String),
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Authentication {
    pub(super) auth_type: Option<Spanned<String>>,
    pub(super) auth_pass: Option<Spanned<String>>,
}

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
        Ok(file) => Some(raw_config(&file, text)),
        Err(e) => {
            if !unknown_keys(text, report) {
                let (line, col) = e.span().map_or((0, 0), |s| line_col(text, s.start));
                let message = e.message().trim().replace('\n', " ");
                let key = key_at(text, e.span().map_or(0, |s| s.start));
                report.error_at((line, col), &key, message);
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

/// Reports every key the keyword table does not have, with a suggestion. True if there was
/// one.
fn unknown_keys(text: &str, report: &mut Report) -> bool {
    let Ok(doc) = DeTable::parse(text) else {
        return false;
    };
    let before = report.error_count();
    check_table(text, doc.get_ref(), &keywords::TOP, report);
    report.error_count() > before
}

/// Checks the keys of `table`, and of the tables in it, against `block`.
fn check_table(text: &str, table: &DeTable<'_>, block: &'static Block, report: &mut Report) {
    for (k, v) in table.iter() {
        let name: &str = k.get_ref();
        match block.toml_key(name).map(|k| k.body) {
            Some(Body::Keywords(inner)) => {
                for t in tables_of(v.get_ref(), inner) {
                    check_table(text, t, inner, report);
                }
            }
            Some(Body::Leaf | Body::List) => {}
            None => {
                let (line, col) = line_col(text, k.span().start);
                let message = format!("unknown key `{name}` in {}", block.toml_place());
                let suggestion = suggest::keyword(name, None, &block.toml_keys());
                report.error_at((line, col), name, message).suggestion = suggestion;
            }
        }
    }
}

/// The tables `value` holds when it has the shape TOML gives `block` (a table, or an array
/// of tables); none otherwise, for serde to report.
fn tables_of<'a, 'i>(value: &'a DeValue<'i>, block: &Block) -> Vec<&'a DeTable<'i>> {
    match (block.toml, value) {
        (Toml::Table(_), DeValue::Table(t)) => vec![t],
        (Toml::Tables(_), DeValue::Array(a)) => a
            .iter()
            .filter_map(|v| match v.get_ref() {
                DeValue::Table(t) => Some(t),
                _ => None,
            })
            .collect(),
        _ => Vec::new(),
    }
}

/// The TOML text being read: where each value stands in it.
#[derive(Clone, Copy)]
struct Source<'t>(&'t str);

impl Source<'_> {
    fn at<T>(self, s: &Spanned<T>) -> (usize, usize) {
        line_col(self.0, s.span().start)
    }

    /// A value as text (numbers too: the validators read both formats' numbers as written).
    fn val<T: ToString>(self, s: &Spanned<T>) -> Val<String> {
        let (line, col) = self.at(s);
        Val::new(s.get_ref().to_string(), line, col)
    }

    fn opt<T: ToString>(self, s: &Option<Spanned<T>>) -> Option<Val<String>> {
        s.as_ref().map(|s| self.val(s))
    }

    fn flag(self, b: &Option<Spanned<bool>>) -> Option<Val<bool>> {
        b.as_ref().map(|b| {
            let (line, col) = self.at(b);
            Val::new(*b.get_ref(), line, col)
        })
    }

    /// `"192.168.91.151/24 dev eth0"` split into words, each placed inside the string.
    fn words(self, s: &Spanned<String>) -> Vec<Val<String>> {
        let (line, col) = self.at(s);
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

    /// Each string of a list, split into words (`track_script = ["chk weight -20"]`).
    fn lines(self, list: &[Spanned<String>]) -> Vec<Vec<Val<String>>> {
        list.iter().map(|s| self.words(s)).collect()
    }

    /// The five `notify*` keys.
    fn notify(self, keys: [&Option<Spanned<String>>; 5]) -> RawNotify {
        let [master, backup, fault, stop, any] = keys.map(|k| self.opt(k));
        RawNotify {
            master,
            backup,
            fault,
            stop,
            any,
        }
    }
}

/// The file as the validators read it.
fn raw_config(file: &File, text: &str) -> RawConfig {
    let src = Source(text);
    let global = file.global_defs.as_ref();
    RawConfig {
        router_id: global.and_then(|g| src.opt(&g.router_id)),
        metrics_listen: global.and_then(|g| src.opt(&g.metrics_listen)),
        instances: file
            .vrrp_instance
            .iter()
            .map(|i| instance(src, i))
            .collect(),
        route_instances: file
            .route_instance
            .iter()
            .map(|i| route_instance(src, i))
            .collect(),
        virtual_servers: file
            .virtual_server
            .iter()
            .map(|vs| virtual_server(src, vs))
            .collect(),
        tracking: tracking(src, file),
        defaults: RawDefaults {
            vrrp_garp_master_repeat: global.and_then(|g| src.opt(&g.vrrp_garp_master_repeat)),
            vrrp_lower_prio_no_advert: global.and_then(|g| src.opt(&g.vrrp_lower_prio_no_advert)),
            vrrp_garp_lower_prio_repeat: global
                .and_then(|g| src.opt(&g.vrrp_garp_lower_prio_repeat)),
            vrrp_version: global.and_then(|g| src.opt(&g.vrrp_version)),
            v3_checksum_as_v2: global.and_then(|g| src.opt(&g.v3_checksum_as_v2)),
            vrrp_mcast_group4: global.and_then(|g| src.opt(&g.vrrp_mcast_group4)),
            vrrp_mcast_group6: global.and_then(|g| src.opt(&g.vrrp_mcast_group6)),
        },
    }
}

fn instance(src: Source<'_>, i: &Instance) -> RawInstance {
    let auth = i.authentication.as_ref();
    RawInstance {
        name: src.val(&i.name),
        state: src.opt(&i.state),
        interface: src.opt(&i.interface),
        virtual_router_id: src.opt(&i.virtual_router_id),
        priority: src.opt(&i.priority),
        version: src.opt(&i.version),
        advert_int: src.opt(&i.advert_int),
        native_ipv6: src.flag(&i.native_ipv6),
        nopreempt: src.flag(&i.nopreempt),
        preempt_delay: src.opt(&i.preempt_delay),
        auth_type: auth.and_then(|a| src.opt(&a.auth_type)),
        auth_pass: auth.and_then(|a| src.opt(&a.auth_pass)),
        virtual_ipaddress: src.lines(&i.virtual_ipaddress),
        virtual_ipaddress_excluded: src.lines(&i.virtual_ipaddress_excluded),
        unicast_src_ip: src.opt(&i.unicast_src_ip),
        unicast_peer: i.unicast_peer.iter().map(|p| src.val(p)).collect(),
        garp_master_delay: src.opt(&i.garp_master_delay),
        garp_master_repeat: src.opt(&i.garp_master_repeat),
        garp_master_refresh: src.opt(&i.garp_master_refresh),
        lower_prio_no_advert: src.opt(&i.lower_prio_no_advert),
        garp_lower_prio_repeat: src.opt(&i.garp_lower_prio_repeat),
        v3_checksum_as_v2: src.opt(&i.v3_checksum_as_v2),
        accept: src.flag(&i.accept),
        use_vmac: i.use_vmac.as_ref().and_then(|v| {
            let (line, col) = src.at(v);
            match v.get_ref() {
                Vmac::On(false) => None,
                Vmac::On(true) => Some(Val::new(String::new(), line, col)),
                Vmac::Name(name) => Some(Val::new(name.clone(), line, col + 1)),
            }
        }),
        vmac_xmit_base: src.flag(&i.vmac_xmit_base),
        route_table: src.opt(&i.route_table),
        tracks: RawTracks {
            script: src.lines(&i.track_script),
            interface: src.lines(&i.track_interface),
            file: src.lines(&i.track_file),
            process: src.lines(&i.track_process),
        },
        notify: src.notify([
            &i.notify_master,
            &i.notify_backup,
            &i.notify_fault,
            &i.notify_stop,
            &i.notify,
        ]),
    }
}

fn route_instance(src: Source<'_>, i: &RouteInstanceT) -> RawRouteInstance {
    RawRouteInstance {
        name: src.val(&i.name),
        virtual_ipaddress: src.lines(&i.virtual_ipaddress),
        priority: src.opt(&i.priority),
        route_table: src.opt(&i.route_table),
        route_interface: src.opt(&i.route_interface),
        withdraw_delay: src.opt(&i.withdraw_delay),
        tracks: RawTracks {
            script: src.lines(&i.track_script),
            interface: src.lines(&i.track_interface),
            file: src.lines(&i.track_file),
            process: src.lines(&i.track_process),
        },
    }
}

/// `vrrp_script`, `vrrp_track_*`, `vrrp_sync_group` and the global script settings.
fn tracking(src: Source<'_>, file: &File) -> RawTracking {
    let global = file.global_defs.as_ref();
    RawTracking {
        scripts: file.vrrp_script.iter().map(|s| script(src, s)).collect(),
        files: file
            .vrrp_track_file
            .iter()
            .map(|f| RawTrackFile {
                name: src.val(&f.name),
                file: src.opt(&f.file),
                weight: src.opt(&f.weight),
            })
            .collect(),
        processes: file
            .vrrp_track_process
            .iter()
            .map(|p| RawTrackProcess {
                name: src.val(&p.name),
                process: src.opt(&p.process),
                weight: src.opt(&p.weight),
                quorum: src.opt(&p.quorum),
                full_command: p.full_command,
            })
            .collect(),
        sync_groups: file
            .vrrp_sync_group
            .iter()
            .map(|g| RawSyncGroup {
                name: src.val(&g.name),
                group: g.group.iter().map(|m| src.val(m)).collect(),
                notify: src.notify([
                    &g.notify_master,
                    &g.notify_backup,
                    &g.notify_fault,
                    &g.notify_stop,
                    &g.notify,
                ]),
            })
            .collect(),
        script_user: global.and_then(|g| g.script_user.as_ref().map(|u| src.words(u))),
        enable_script_security: global.is_some_and(|g| g.enable_script_security),
    }
}

fn script(src: Source<'_>, s: &Script) -> RawScript {
    RawScript {
        name: src.val(&s.name),
        script: src.opt(&s.script),
        interval: src.opt(&s.interval),
        timeout: src.opt(&s.timeout),
        weight: src.opt(&s.weight),
        rise: src.opt(&s.rise),
        fall: src.opt(&s.fall),
        user: s.user.as_ref().map(|u| src.words(u)),
        init_fail: s.init_fail,
    }
}

fn virtual_server(src: Source<'_>, vs: &VirtualServerT) -> RawVirtualServer {
    RawVirtualServer {
        key: src.val(&vs.ip),
        addr: vec![src.val(&vs.ip), src.val(&vs.port)],
        delay_loop: src.opt(&vs.delay_loop),
        lb_algo: src.opt(&vs.lb_algo),
        lb_kind: src.opt(&vs.lb_kind),
        persistence_timeout: src.opt(&vs.persistence_timeout),
        protocol: src.opt(&vs.protocol),
        sorry_server: vs.sorry_server.as_ref().map(|s| src.words(s)),
        quorum: src.opt(&vs.quorum),
        hysteresis: src.opt(&vs.hysteresis),
        alpha: src.flag(&vs.alpha),
        omega: src.flag(&vs.omega),
        proxy_protocol: src.opt(&vs.proxy_protocol),
        maxconn: src.opt(&vs.maxconn),
        defaults: RawCheckDefaults {
            connect_timeout: src.opt(&vs.connect_timeout),
            retry: src.opt(&vs.retry),
            delay_before_retry: src.opt(&vs.delay_before_retry),
            delay_loop: None,
        },
        real_servers: vs
            .real_server
            .iter()
            .map(|rs| real_server(src, rs))
            .collect(),
    }
}

fn real_server(src: Source<'_>, rs: &RealServerT) -> RawRealServer {
    RawRealServer {
        key: src.val(&rs.ip),
        addr: vec![src.val(&rs.ip), src.val(&rs.port)],
        weight: src.opt(&rs.weight),
        inhibit_on_failure: src.flag(&rs.inhibit_on_failure),
        notify_up: src.opt(&rs.notify_up),
        notify_down: src.opt(&rs.notify_down),
        proxy_protocol: src.opt(&rs.proxy_protocol),
        maxconn: src.opt(&rs.maxconn),
        uthreshold: src.opt(&rs.uthreshold),
        lthreshold: src.opt(&rs.lthreshold),
        defaults: RawCheckDefaults {
            connect_timeout: src.opt(&rs.connect_timeout),
            retry: src.opt(&rs.retry),
            delay_before_retry: src.opt(&rs.delay_before_retry),
            delay_loop: src.opt(&rs.delay_loop),
        },
        checks: [
            ("TCP_CHECK", &rs.tcp_check),
            ("HTTP_GET", &rs.http_get),
            ("MISC_CHECK", &rs.misc_check),
            ("UDP_CHECK", &rs.udp_check),
        ]
        .into_iter()
        .filter_map(|(kind, c)| c.as_ref().map(|c| check(src, kind, c)))
        .collect(),
    }
}

fn check(src: Source<'_>, kind: &str, c: &Spanned<CheckT>) -> RawCheck {
    let (line, col) = src.at(c);
    let body = c.get_ref();
    RawCheck {
        kind: Val::new(kind.to_string(), line, col),
        connect_ip: src.opt(&body.connect_ip),
        connect_port: src.opt(&body.connect_port),
        bindto: src.opt(&body.bindto),
        rise: src.opt(&body.rise),
        defaults: RawCheckDefaults {
            connect_timeout: src.opt(&body.connect_timeout),
            retry: src.opt(&body.retry).or_else(|| src.opt(&body.nb_get_retry)),
            delay_before_retry: src.opt(&body.delay_before_retry),
            delay_loop: src.opt(&body.delay_loop),
        },
        urls: body
            .url
            .iter()
            .map(|u| {
                let (line, col) = src.at(u);
                let u = u.get_ref();
                RawUrl {
                    key: Val::new("url".to_string(), line, col),
                    path: src.opt(&u.path),
                    status_code: src.opt(&u.status_code),
                    digest: src.opt(&u.digest),
                }
            })
            .collect(),
        misc_path: src.opt(&body.misc_path),
        misc_timeout: src.opt(&body.misc_timeout),
        user: body.user.as_ref().map(|u| src.words(u)),
        payload: src.opt(&body.payload),
        require_reply: src.flag(&body.require_reply),
        reply_data: None,
        min_reply_length: src.opt(&body.min_reply_length),
        max_reply_length: src.opt(&body.max_reply_length),
    }
}

#[cfg(test)]
mod tests {
    use std::net::{IpAddr, Ipv4Addr};
    use std::time::Duration;

    use crate::config::testing::{line_key_suggestion, load, ok};
    use crate::config::{InitialState, VirtualIp};

    const EXAMPLE: &str = r#"[global_defs]
router_id = "lb1"
[[vrrp_instance]]
name = "VI_1"
state = "BACKUP"
interface = "eth0"
virtual_router_id = 51
priority = 100
advert_int = 1
nopreempt = false
preempt_delay = 0
authentication = { auth_type = "PASS", auth_pass = "secret" }
virtual_ipaddress = ["192.168.91.151/24 dev eth0 label eth0:1", "10.0.0.5"]
unicast_src_ip = "10.0.0.11"
unicast_peer = ["10.0.0.12"]
garp_master_delay = 5
garp_master_repeat = 5
garp_master_refresh = 0   # 0 = off
"#;

    /// The keys serde reads into `T`: the names `deserialize_struct` is given.
    fn serde_keys<'de, T: serde::Deserialize<'de>>() -> Vec<&'static str> {
        use serde::de::{self, Visitor, value::Error};
        struct Keys(&'static [&'static str]);
        impl<'de> de::Deserializer<'de> for &mut Keys {
            type Error = Error;
            fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Error> {
                Err(de::Error::custom("only a struct's keys are asked for"))
            }
            fn deserialize_struct<V: Visitor<'de>>(
                self,
                _: &'static str,
                fields: &'static [&'static str],
                _: V,
            ) -> Result<V::Value, Error> {
                self.0 = fields;
                Err(de::Error::custom("keys taken"))
            }
            serde::forward_to_deserialize_any! {
                bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes
                byte_buf option unit unit_struct newtype_struct seq tuple tuple_struct map enum
                identifier ignored_any
            }
        }
        let mut keys = Keys(&[]);
        let _ = T::deserialize(&mut keys);
        let mut keys = keys.0.to_vec();
        keys.sort_unstable();
        keys
    }

    /// Every serde struct has exactly the keys the keyword table gives its block, so that
    /// the table's key lists (unknown keys, suggestions, convert's comments) are the TOML's.
    #[test]
    fn serde_structs_have_the_tables_keys() {
        use crate::config::keywords::{self, Block};
        let table = |block: &Block| {
            let mut keys = block.toml_keys();
            keys.sort_unstable();
            keys
        };
        let pairs = [
            (serde_keys::<super::File>(), &keywords::TOP),
            (serde_keys::<super::GlobalDefs>(), &keywords::GLOBAL_DEFS),
            (serde_keys::<super::Instance>(), &keywords::VRRP_INSTANCE),
            (
                serde_keys::<super::RouteInstanceT>(),
                &keywords::ROUTE_INSTANCE,
            ),
            (
                serde_keys::<super::Authentication>(),
                &keywords::AUTHENTICATION,
            ),
            (serde_keys::<super::Script>(), &keywords::VRRP_SCRIPT),
            (serde_keys::<super::TrackFileTable>(), &keywords::TRACK_FILE),
            (
                serde_keys::<super::TrackProcessTable>(),
                &keywords::TRACK_PROCESS,
            ),
            (serde_keys::<super::SyncGroupTable>(), &keywords::SYNC_GROUP),
            (
                serde_keys::<super::VirtualServerT>(),
                &keywords::VIRTUAL_SERVER,
            ),
            (serde_keys::<super::RealServerT>(), &keywords::REAL_SERVER),
            (serde_keys::<super::CheckT>(), &keywords::CHECKER),
            (serde_keys::<super::UrlT>(), &keywords::URL),
        ];
        for (serde, block) in pairs {
            assert!(!serde.is_empty(), "{}", block.place);
            assert_eq!(serde, table(block), "{}", block.place);
        }
    }

    #[test]
    fn example_loads() {
        let l = load(EXAMPLE, "vipd.toml").unwrap_or_else(|e| panic!("{e}"));
        assert!(l.warnings.is_empty(), "{:?}", l.warnings);
        assert_eq!(l.config.router_id.as_deref(), Some("lb1"));
        let i = &l.config.instances[0];
        assert_eq!(i.name, "VI_1");
        assert_eq!(i.state, InitialState::Backup);
        assert_eq!(
            (i.interface.as_str(), i.virtual_router_id, i.priority),
            ("eth0", 51, 100)
        );
        assert_eq!(i.advert_int, Duration::from_secs(1));
        assert!(i.preempt);
        assert_eq!(i.auth_pass.as_deref(), Some(&b"secret"[..]));
        assert_eq!(
            i.virtual_ipaddress,
            [
                VirtualIp {
                    addr: Ipv4Addr::new(192, 168, 91, 151).into(),
                    prefix_len: 24,
                    dev: Some("eth0".into()),
                    label: Some("eth0:1".into()),
                },
                VirtualIp {
                    addr: Ipv4Addr::new(10, 0, 0, 5).into(),
                    prefix_len: 32,
                    dev: None,
                    label: None
                },
            ]
        );
        assert_eq!(i.unicast_src_ip, Some(Ipv4Addr::new(10, 0, 0, 11).into()));
        assert_eq!(i.unicast_peer, [IpAddr::from(Ipv4Addr::new(10, 0, 0, 12))]);
        assert_eq!(i.garp_master_refresh, None);
    }

    #[test]
    fn toml_and_keepalived_agree() {
        let ka = "global_defs {\n router_id lb1\n}\nvrrp_instance VI_1 {\n state BACKUP\n \
                  interface eth0\n virtual_router_id 51\n authentication {\n auth_type PASS\n \
                  auth_pass secret\n }\n virtual_ipaddress {\n 192.168.91.151/24 dev eth0 label \
                  eth0:1\n 10.0.0.5\n }\n unicast_src_ip 10.0.0.11\n unicast_peer {\n 10.0.0.12\n \
                  }\n}\n";
        let a = ok(ka, "k.conf").config;
        assert_eq!(a, load(EXAMPLE, "vipd.toml").unwrap().config);
    }

    #[test]
    fn unknown_keys_all_reported_with_suggestions() {
        let text = EXAMPLE
            .replace("priority = 100", "priorty = 100")
            .replace("unicast_peer =", "unicast_peers =")
            .replace("auth_pass =", "auth_password =")
            .replace("\nrouter_id =", "\nrouterid =");
        let e = load(&text, "vipd.toml").unwrap_err();
        assert_eq!(
            line_key_suggestion(&e),
            [
                (2, "routerid", Some("router_id")),
                (8, "priorty", Some("priority")),
                (12, "auth_password", Some("auth_pass")),
                (15, "unicast_peers", Some("unicast_peer")),
            ],
            "{e}"
        );
        assert_eq!(
            e.diagnostics[1].to_string(),
            "vipd.toml:8:1: priorty: unknown key `priorty` in vrrp_instance (did you mean \
             `priority`?)\n    priorty = 100\n    ^^^^^^^"
        );
    }

    #[test]
    fn type_error_names_line_and_key() {
        let e = load(
            &EXAMPLE.replace("priority = 100", "priority = \"high\""),
            "vipd.toml",
        )
        .unwrap_err();
        let d = &e.diagnostics[0];
        assert_eq!((d.line, d.key.as_str()), (8, "priority"), "{e}");
        assert!(d.message.contains("invalid type"), "{e}");
    }

    #[test]
    fn syntax_error_names_line() {
        let e = load(
            "[[vrrp_instance]]\nname = \"VI_1\"\ninterface = eth0\n",
            "vipd.toml",
        )
        .unwrap_err();
        assert_eq!(e.diagnostics[0].line, 3, "{e}");
    }

    #[test]
    fn missing_name() {
        let e = load("[[vrrp_instance]]\ninterface = \"eth0\"\n", "vipd.toml").unwrap_err();
        assert!(e.to_string().contains("missing field `name`"), "{e}");
    }

    #[test]
    fn vip_word_columns_point_inside_the_string() {
        let e = load(
            &EXAMPLE.replace("dev eth0 label", "dev eth0 lable"),
            "vipd.toml",
        )
        .unwrap_err();
        let d = &e.diagnostics[0];
        assert_eq!((d.line, d.column), (13, 50), "{e}");
        assert_eq!(e.diagnostics.len(), 1, "{e}");
        assert_eq!(d.suggestion.as_deref(), Some("label"));
    }
}
