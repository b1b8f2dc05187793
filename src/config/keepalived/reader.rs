//! The blocks vipd reads, from keepalived.conf statements into a [`RawConfig`]: each
//! keyword's value as written, with its position; meaning is for the validators. A keyword
//! a reader does not act on goes to [`skip`], which checks it against the keyword table.

use super::lexer::{Kind, Tok};
use super::schema::{NOT_SUPPORTED, Skipped, block_of, check_body, keyword, skip};
use super::tree::Stmt;
use crate::config::keywords::{
    self, AUTHENTICATION, Body, CHECKER, GLOBAL_DEFS, REAL_SERVER, ROUTE_INSTANCE, SYNC_GROUP, TOP,
    TRACK_FILE, TRACK_PROCESS, URL, VIRTUAL_SERVER, VRRP_INSTANCE, VRRP_SCRIPT,
};
use crate::config::raw::{
    RawCheck, RawCheckDefaults, RawConfig, RawInstance, RawRealServer, RawRouteInstance, RawScript,
    RawSyncGroup, RawTrackFile, RawTrackProcess, RawUrl, RawVirtualServer, Val,
};
use crate::config::tracking::join_command;
use crate::config::{Report, unsupported};

/// The statements of a whole file, into what vipd reads.
pub(super) fn read(tree: &[Stmt], report: &mut Report) -> RawConfig {
    let mut raw = RawConfig::default();
    for stmt in tree {
        top(stmt, &mut raw, report);
    }
    raw
}

fn top(stmt: &Stmt, raw: &mut RawConfig, report: &mut Report) {
    let tracking = &mut raw.tracking;
    match stmt.key.text.as_str() {
        "global_defs" => global_defs(block_of(stmt, report).unwrap_or_default(), raw, report),
        "vrrp_instance" => raw.instances.extend(vrrp_instance(stmt, report)),
        "route_instance" => raw.route_instances.extend(route_instance(stmt, report)),
        "virtual_server" => raw.virtual_servers.extend(virtual_server(stmt, report)),
        "vrrp_script" => tracking.scripts.extend(vrrp_script(stmt, report)),
        "vrrp_track_file" | "track_file" => tracking.files.extend(vrrp_track_file(stmt, report)),
        "vrrp_track_process" | "track_process" => {
            tracking.processes.extend(vrrp_track_process(stmt, report));
        }
        "vrrp_sync_group" => tracking.sync_groups.extend(vrrp_sync_group(stmt, report)),
        "include" => {
            // A well-formed `include FILE` never gets here: `source` replaced it by the files.
            report.error_at(
                stmt.key.at(),
                "include",
                format!(
                    "include takes exactly one file pattern, got {} words (quote a path that \
                     has blanks); keepalived ignores this line",
                    stmt.args.len()
                ),
            );
        }
        _ => skip(
            stmt,
            &TOP,
            TOP.place,
            Skipped::Instead(NOT_SUPPORTED),
            report,
        ),
    }
}

fn global_defs(items: &[Stmt], raw: &mut RawConfig, report: &mut Report) {
    for stmt in items {
        let key = &stmt.key;
        match key.text.as_str() {
            "router_id" => {
                if let Some(v) = value(stmt, report) {
                    raw.router_id = Some(v);
                }
            }
            // vipd's own keyword: keepalived has no metrics page.
            "metrics_listen" => {
                if let Some(v) = value(stmt, report) {
                    raw.metrics_listen = Some(v);
                }
            }
            "vrrp_version" => raw.defaults.vrrp_version = value(stmt, report),
            "vrrp_mcast_group4" => raw.defaults.vrrp_mcast_group4 = value(stmt, report),
            "vrrp_mcast_group6" => raw.defaults.vrrp_mcast_group6 = value(stmt, report),
            // keepalived 2.2.8's keyword, read as vipd's own.
            "v3_checksum_as_v2" => raw.defaults.v3_checksum_as_v2 = switch(stmt, report),
            "script_user" => raw.tracking.script_user = words(stmt, 1, 2, report),
            "vrrp_garp_master_repeat" => {
                raw.defaults.vrrp_garp_master_repeat = value(stmt, report);
            }
            "vrrp_garp_lower_prio_repeat" => {
                raw.defaults.vrrp_garp_lower_prio_repeat = value(stmt, report);
            }
            "vrrp_lower_prio_no_advert" => {
                raw.defaults.vrrp_lower_prio_no_advert = switch(stmt, report);
            }
            "enable_script_security" => {
                extra_words(stmt, 0, report);
                raw.tracking.enable_script_security = true;
            }
            _ => {
                let how = Skipped::Instead("vipd does not use this global_defs setting");
                skip(stmt, &GLOBAL_DEFS, "global_defs", how, report);
            }
        }
    }
}

fn vrrp_instance(stmt: &Stmt, report: &mut Report) -> Option<RawInstance> {
    let Some(name) = stmt.arg(0) else {
        report.error_at(
            stmt.key.at(),
            "vrrp_instance",
            "vrrp_instance needs a name (`vrrp_instance VI_1 { ... }`)",
        );
        return None;
    };
    extra_words(stmt, 1, report);
    let items = block_of(stmt, report)?;
    let mut inst = RawInstance {
        name: name.val(),
        ..RawInstance::default()
    };
    for item in items {
        let key = &item.key;
        match key.text.as_str() {
            "state" => inst.state = value(item, report),
            "interface" => inst.interface = value(item, report),
            "virtual_router_id" => inst.virtual_router_id = value(item, report),
            "priority" => inst.priority = value(item, report),
            "advert_int" => inst.advert_int = value(item, report),
            "preempt_delay" => inst.preempt_delay = value(item, report),
            "unicast_src_ip" => inst.unicast_src_ip = value(item, report),
            "garp_master_delay" => inst.garp_master_delay = value(item, report),
            "garp_master_repeat" => inst.garp_master_repeat = value(item, report),
            "garp_master_refresh" => inst.garp_master_refresh = value(item, report),
            "garp_lower_prio_repeat" => inst.garp_lower_prio_repeat = value(item, report),
            "lower_prio_no_advert" => inst.lower_prio_no_advert = switch(item, report),
            "nopreempt" | "preempt" => {
                extra_words(item, 0, report);
                inst.nopreempt = Some(Val::new(key.text == "nopreempt", key.line, key.col));
            }
            "version" => inst.version = value(item, report),
            "native_ipv6" => inst.native_ipv6 = flag(item, report),
            "accept" | "no_accept" => {
                extra_words(item, 0, report);
                inst.accept = Some(Val::new(key.text == "accept", key.line, key.col));
            }
            "use_vmac" => {
                extra_words(item, 1, report);
                // Alone: keepalived's default name, chosen when every instance is read.
                inst.use_vmac = Some(
                    item.arg(0)
                        .map_or_else(|| Val::new(String::new(), key.line, key.col), Tok::val),
                );
            }
            "vmac_xmit_base" => inst.vmac_xmit_base = flag(item, report),
            "route_table" => inst.route_table = value(item, report),
            "v3_checksum_as_v2" => inst.v3_checksum_as_v2 = switch(item, report),
            "authentication" => authentication(item, &mut inst, report),
            "virtual_ipaddress" => inst.virtual_ipaddress.extend(block_lines(item, report)),
            "virtual_ipaddress_excluded" => inst
                .virtual_ipaddress_excluded
                .extend(block_lines(item, report)),
            "unicast_peer" => {
                for a in block_of(item, report).unwrap_or_default() {
                    extra_words(a, 0, report);
                    inst.unicast_peer.push(a.key.val());
                }
            }
            "track_script" | "track_interface" | "track_file" | "track_process" => {
                let lines = block_lines(item, report);
                if let Some(slot) = inst.tracks.slot(&key.text) {
                    slot.extend(lines);
                }
            }
            name if inst.notify.slot(name).is_some() => {
                let line = rest_of_line(item, report);
                if let Some(slot) = inst.notify.slot(name) {
                    *slot = line;
                }
            }
            _ => skip(
                item,
                &VRRP_INSTANCE,
                "vrrp_instance",
                Skipped::Instead(NOT_SUPPORTED),
                report,
            ),
        }
    }
    Some(inst)
}

/// vipd's `route_instance NAME { ... }`.
fn route_instance(stmt: &Stmt, report: &mut Report) -> Option<RawRouteInstance> {
    let name = block_name(
        stmt,
        "route_instance WEB { virtual_ipaddress { 10.0.0.10 } }",
        report,
    )?;
    let mut inst = RawRouteInstance {
        name,
        ..RawRouteInstance::default()
    };
    for item in block_of(stmt, report)? {
        let key = &item.key;
        match key.text.as_str() {
            "virtual_ipaddress" => inst.virtual_ipaddress.extend(block_lines(item, report)),
            "priority" => inst.priority = value(item, report),
            "route_table" => inst.route_table = value(item, report),
            "route_interface" => inst.route_interface = value(item, report),
            "withdraw_delay" => inst.withdraw_delay = value(item, report),
            "track_script" | "track_interface" | "track_file" | "track_process" => {
                let lines = block_lines(item, report);
                if let Some(slot) = inst.tracks.slot(&key.text) {
                    slot.extend(lines);
                }
            }
            _ => skip(
                item,
                &ROUTE_INSTANCE,
                "route_instance",
                Skipped::NotSupported,
                report,
            ),
        }
    }
    Some(inst)
}

/// `authentication { auth_type PASS; auth_pass X }`.
fn authentication(stmt: &Stmt, inst: &mut RawInstance, report: &mut Report) {
    for a in block_of(stmt, report).unwrap_or_default() {
        match a.key.text.as_str() {
            "auth_type" => inst.auth_type = value(a, report),
            "auth_pass" => inst.auth_pass = value(a, report),
            _ => keyword(a, &AUTHENTICATION, "authentication", report),
        }
    }
}

fn virtual_server(stmt: &Stmt, report: &mut Report) -> Option<RawVirtualServer> {
    let items = block_of(stmt, report)?;
    let mut vs = RawVirtualServer {
        key: stmt.key.val(),
        addr: stmt.args.iter().map(Tok::val).collect(),
        ..RawVirtualServer::default()
    };
    for item in items {
        match item.key.text.as_str() {
            "delay_loop" => vs.delay_loop = value(item, report),
            "lb_algo" | "lvs_sched" => vs.lb_algo = value(item, report),
            "lb_kind" | "lvs_method" => vs.lb_kind = value(item, report),
            "persistence_timeout" => vs.persistence_timeout = value(item, report),
            "protocol" => vs.protocol = value(item, report),
            "sorry_server" => vs.sorry_server = Some(item.args.iter().map(Tok::val).collect()),
            "quorum" => vs.quorum = value(item, report),
            "hysteresis" => vs.hysteresis = value(item, report),
            "alpha" => vs.alpha = flag(item, report),
            "omega" => vs.omega = flag(item, report),
            // vipd's own keyword: keepalived's IPVS keeps the client's address instead.
            "proxy_protocol" => vs.proxy_protocol = value(item, report),
            "maxconn" => vs.maxconn = value(item, report),
            "real_server" => vs.real_servers.extend(real_server(item, report)),
            _ if check_default(item, &mut vs.defaults, report) => {}
            _ => skip(
                item,
                &VIRTUAL_SERVER,
                "virtual_server",
                Skipped::NotUsed,
                report,
            ),
        }
    }
    Some(vs)
}

fn real_server(stmt: &Stmt, report: &mut Report) -> Option<RawRealServer> {
    let mut rs = RawRealServer {
        key: stmt.key.val(),
        addr: stmt.args.iter().map(Tok::val).collect(),
        ..RawRealServer::default()
    };
    // `real_server IP PORT` without a block is valid keepalived: no checker, weight 1.
    let Some(items) = &stmt.block else {
        return Some(rs);
    };
    for item in items {
        let name = item.key.text.as_str();
        match name {
            "weight" => rs.weight = value(item, report),
            "inhibit_on_failure" => rs.inhibit_on_failure = flag(item, report),
            "notify_up" => rs.notify_up = command(item, report),
            "notify_down" => rs.notify_down = command(item, report),
            "proxy_protocol" => rs.proxy_protocol = value(item, report),
            "maxconn" => rs.maxconn = value(item, report),
            "uthreshold" => rs.uthreshold = value(item, report),
            "lthreshold" => rs.lthreshold = value(item, report),
            _ if keywords::checkers().any(|c| c == name) => {
                rs.checks.extend(checker(item, report));
            }
            _ if check_default(item, &mut rs.defaults, report) => {}
            _ if name.ends_with("_CHECK") || name == "SSL_GET" => {
                report.warn_at(
                    item.key.at(),
                    name,
                    "ignored: vipd runs TCP_CHECK, HTTP_GET and MISC_CHECK only; without \
                     another checker this real server counts as always up",
                );
                check_body(item, REAL_SERVER.body(name).unwrap_or(Body::Leaf), report);
            }
            _ => skip(item, &REAL_SERVER, "real_server", Skipped::NotUsed, report),
        }
    }
    Some(rs)
}

fn checker(stmt: &Stmt, report: &mut Report) -> Option<RawCheck> {
    let items = block_of(stmt, report)?;
    let mut c = RawCheck {
        kind: stmt.key.val(),
        ..RawCheck::default()
    };
    for item in items {
        match item.key.text.as_str() {
            "connect_ip" => c.connect_ip = value(item, report),
            "connect_port" => c.connect_port = value(item, report),
            "bindto" => c.bindto = value(item, report),
            "rise" => c.rise = value(item, report),
            "misc_path" => c.misc_path = command(item, report),
            "misc_timeout" => c.misc_timeout = value(item, report),
            "user" => c.user = words(item, 1, 2, report),
            "payload" => c.payload = joined(item, report),
            "require_reply" => {
                c.require_reply = Some(Val::new(true, item.key.line, item.key.col));
                if !item.args.is_empty() {
                    c.reply_data = joined(item, report);
                }
            }
            "min_reply_length" => c.min_reply_length = value(item, report),
            "max_reply_length" => c.max_reply_length = value(item, report),
            "url" => {
                let mut u = RawUrl {
                    key: item.key.val(),
                    ..RawUrl::default()
                };
                for a in block_of(item, report).unwrap_or_default() {
                    match a.key.text.as_str() {
                        "path" => u.path = value(a, report),
                        "status_code" => u.status_code = value(a, report),
                        "digest" => u.digest = value(a, report),
                        _ => skip(a, &URL, "url", Skipped::NotUsed, report),
                    }
                }
                c.urls.push(u);
            }
            _ if check_default(item, &mut c.defaults, report) => {}
            _ => skip(item, &CHECKER, &stmt.key.text, Skipped::NotUsed, report),
        }
    }
    Some(c)
}

/// The checker defaults (`connect_timeout`, `retry`...) any of these blocks may hold; true
/// when `item` was one.
fn check_default(item: &Stmt, d: &mut RawCheckDefaults, report: &mut Report) -> bool {
    match item.key.text.as_str() {
        "connect_timeout" => d.connect_timeout = value(item, report),
        "retry" | "nb_get_retry" => {
            if let Some(note) = unsupported::renamed(&item.key.text) {
                report.warn_at(item.key.at(), &item.key.text, note);
            }
            d.retry = value(item, report);
        }
        "delay_before_retry" => d.delay_before_retry = value(item, report),
        "delay_loop" => d.delay_loop = value(item, report),
        _ => return false,
    }
    true
}

fn vrrp_script(stmt: &Stmt, report: &mut Report) -> Option<RawScript> {
    let name = block_name(stmt, "vrrp_script chk_nginx { ... }", report)?;
    let mut out = RawScript {
        name,
        ..RawScript::default()
    };
    for item in block_of(stmt, report)? {
        match item.key.text.as_str() {
            "script" => out.script = rest_of_line(item, report),
            "interval" => out.interval = value(item, report),
            "timeout" => out.timeout = value(item, report),
            "weight" => {
                out.weight = item.arg(0).map(Tok::val);
                if item.arg(1).is_some_and(|t| t.text == "reverse") {
                    report.warn_at(item.key.at(), "weight", "`reverse` is not supported by this vipd version: the weight applies as written");
                }
            }
            "rise" => out.rise = value(item, report),
            "fall" => out.fall = value(item, report),
            "user" => out.user = words(item, 1, 2, report),
            "init_fail" => {
                extra_words(item, 0, report);
                out.init_fail = true;
            }
            _ => skip(
                item,
                &VRRP_SCRIPT,
                "vrrp_script",
                Skipped::NotSupported,
                report,
            ),
        }
    }
    Some(out)
}

fn vrrp_track_file(stmt: &Stmt, report: &mut Report) -> Option<RawTrackFile> {
    let name = block_name(
        stmt,
        "vrrp_track_file maint { file /etc/vipd/maint }",
        report,
    )?;
    let mut out = RawTrackFile {
        name,
        ..RawTrackFile::default()
    };
    for item in block_of(stmt, report)? {
        match item.key.text.as_str() {
            "file" => out.file = value(item, report),
            "weight" => out.weight = value(item, report),
            _ => skip(
                item,
                &TRACK_FILE,
                &stmt.key.text,
                Skipped::NotSupported,
                report,
            ),
        }
    }
    Some(out)
}

fn vrrp_track_process(stmt: &Stmt, report: &mut Report) -> Option<RawTrackProcess> {
    let name = block_name(stmt, "vrrp_track_process nginx { process nginx }", report)?;
    let mut out = RawTrackProcess {
        name,
        ..RawTrackProcess::default()
    };
    for item in block_of(stmt, report)? {
        match item.key.text.as_str() {
            "process" => out.process = rest_of_line(item, report),
            "weight" => out.weight = value(item, report),
            "quorum" => out.quorum = value(item, report),
            "full_command" => {
                extra_words(item, 0, report);
                out.full_command = true;
            }
            _ => skip(
                item,
                &TRACK_PROCESS,
                &stmt.key.text,
                Skipped::NotSupported,
                report,
            ),
        }
    }
    Some(out)
}

fn vrrp_sync_group(stmt: &Stmt, report: &mut Report) -> Option<RawSyncGroup> {
    let name = block_name(stmt, "vrrp_sync_group VG_1 { group { VI_1 VI_2 } }", report)?;
    let mut out = RawSyncGroup {
        name,
        ..RawSyncGroup::default()
    };
    for item in block_of(stmt, report)? {
        match item.key.text.as_str() {
            "group" => {
                for line in block_lines(item, report) {
                    out.group.extend(line);
                }
            }
            name if out.notify.slot(name).is_some() => {
                let line = rest_of_line(item, report);
                if let Some(slot) = out.notify.slot(name) {
                    *slot = line;
                }
            }
            _ => skip(
                item,
                &SYNC_GROUP,
                "vrrp_sync_group",
                Skipped::NotSupported,
                report,
            ),
        }
    }
    Some(out)
}

// The values of a statement, as each keyword takes them.

/// The single value of `key VALUE`; extra words are warned about, a missing one is an error.
fn value(stmt: &Stmt, report: &mut Report) -> Option<Val<String>> {
    let Some(v) = stmt.arg(0) else {
        report.error_at(
            stmt.key.at(),
            &stmt.key.text,
            format!("`{}` needs a value", stmt.key.text),
        );
        return None;
    };
    extra_words(stmt, 1, report);
    Some(v.val())
}

/// A keepalived switch: `KEY` alone means true, else its one word as written (`true`, `off`...).
fn switch(stmt: &Stmt, report: &mut Report) -> Option<Val<String>> {
    extra_words(stmt, 1, report);
    Some(match stmt.arg(0) {
        Some(v) => v.val(),
        None => Val::new("true".to_string(), stmt.key.line, stmt.key.col),
    })
}

/// `KEY WORD...`: the words joined without spaces (a hex string keepalived reads the same
/// way, spaces or not).
fn joined(stmt: &Stmt, report: &mut Report) -> Option<Val<String>> {
    let first = value_required(stmt, report)?;
    let text: String = stmt.args.iter().map(|t| t.text.as_str()).collect();
    Some(Val::new(text, first.line, first.col))
}

/// A flag keyword (no value): present = true.
fn flag(item: &Stmt, report: &mut Report) -> Option<Val<bool>> {
    extra_words(item, 0, report);
    Some(Val::new(true, item.key.line, item.key.col))
}

/// `key A [B]`: between `min` and `max` words.
fn words(stmt: &Stmt, min: usize, max: usize, report: &mut Report) -> Option<Vec<Val<String>>> {
    if stmt.args.len() < min {
        value_required(stmt, report)?;
    }
    extra_words(stmt, max, report);
    Some(stmt.args.iter().take(max).map(Tok::val).collect())
}

fn value_required<'a>(stmt: &'a Stmt, report: &mut Report) -> Option<&'a Tok> {
    let v = stmt.arg(0);
    if v.is_none() {
        report.error_at(
            stmt.key.at(),
            &stmt.key.text,
            format!("`{}` needs a value", stmt.key.text),
        );
    }
    v
}

/// Warns about words after the `n` a keyword takes (keepalived ignores them too).
fn extra_words(stmt: &Stmt, n: usize, report: &mut Report) {
    if let Some(extra) = stmt.args.get(n) {
        let words: Vec<&str> = stmt.args[n..].iter().map(|t| t.text.as_str()).collect();
        report.warn_at(
            extra.at(),
            &stmt.key.text,
            format!(
                "extra words `{}` ignored, as keepalived does; put each keyword on its own line",
                words.join(" ")
            ),
        );
    }
}

/// Everything after the keyword, as one command line (`notify_master "/x.sh a"` or
/// `notify_master /x.sh a`).
fn rest_of_line(stmt: &Stmt, report: &mut Report) -> Option<Val<String>> {
    let first = value_required(stmt, report)?;
    // A single (usually quoted) token is a whole command line as keepalived reads it; several
    // words are joined so that they split back into the same argv.
    let line = match stmt.args.as_slice() {
        [only] => only.text.clone(),
        words => join_command(&words.iter().map(|t| t.text.clone()).collect::<Vec<_>>()),
    };
    Some(Val::new(line, first.line, first.col))
}

/// A program and its arguments as one line: `notify_up "/bin/x up"` or `notify_up /bin/x up`.
fn command(item: &Stmt, report: &mut Report) -> Option<Val<String>> {
    let first = item.arg(0).or_else(|| {
        report.error_at(
            item.key.at(),
            &item.key.text,
            format!("`{}` needs a program to run", item.key.text),
        );
        None
    })?;
    let words: Vec<String> = item
        .args
        .iter()
        .map(|t| {
            if t.kind == Kind::Quoted && item.args.len() > 1 {
                format!("\"{}\"", t.text)
            } else {
                t.text.clone()
            }
        })
        .collect();
    Some(Val::new(words.join(" "), first.line, first.col))
}

/// The words of each line of a list block (`track_script { chk weight -20 }`).
fn block_lines(stmt: &Stmt, report: &mut Report) -> Vec<Vec<Val<String>>> {
    block_of(stmt, report)
        .unwrap_or_default()
        .iter()
        .map(|line| {
            let mut words = vec![line.key.val()];
            words.extend(line.args.iter().map(Tok::val));
            words
        })
        .collect()
}

/// The name after a block keyword (`vrrp_script chk_nginx {`).
fn block_name(stmt: &Stmt, example: &str, report: &mut Report) -> Option<Val<String>> {
    let Some(name) = stmt.arg(0) else {
        report.error_at(
            stmt.key.at(),
            &stmt.key.text,
            format!("{} needs a name (`{example}`)", stmt.key.text),
        );
        return None;
    };
    extra_words(stmt, 1, report);
    Some(name.val())
}
