//! `vipctl convert`: a loaded configuration as vipd's TOML, each key with its comment from
//! the keyword table.
//!
//! One place maps the model onto the TOML loader's own serde structs (they derive `Serialize`
//! as well as `Deserialize`), so key names and shapes are the loader's by construction, and
//! every model struct is destructured without `..`: a field added to the model does not
//! compile here until it is converted. The tests load the output again and compare models,
//! for a maximal configuration and for every sample and corpus file.

use std::fmt::Write as _;
use std::path::Path;
use std::time::Duration;

use toml::Spanned;

use super::Loaded;
use super::keywords::{self, Block};
use super::model::{
    Check, CheckKind, Config, HttpUrl, InitialState, Notify, RealServer, RouteInstance, ScriptUser,
    SyncGroup, TrackFile, TrackInterface, TrackProcess, TrackRef, Tracks, VirtualIp, VirtualServer,
    VrrpInstance, VrrpScript, VrrpVersion,
};
use super::toml::{
    Authentication, CheckT, File, GlobalDefs, Instance, RealServerT, RouteInstanceT, Script,
    Seconds, SyncGroupTable, TrackFileTable, TrackProcessTable, UrlT, VirtualServerT, Vmac,
};
use super::tracking::join_command;

/// Why a valid configuration cannot be written as TOML.
#[derive(Debug, thiserror::Error)]
pub enum ConvertError {
    /// keepalived cut the password to 8 bytes in the middle of a UTF-8 character.
    #[error(
        "vrrp_instance {instance}: auth_pass is not valid UTF-8 once cut to 8 bytes (as \
         keepalived cuts it), and TOML strings must be; choose an ASCII password"
    )]
    AuthPassNotUtf8 {
        /// The instance.
        instance: String,
    },
    /// keepalived allows several checkers of one kind on a real server; the TOML has one.
    #[error(
        "real_server {server}: more than one {kind}: vipd's TOML holds one checker of each kind"
    )]
    RepeatedChecker {
        /// The real server.
        server: String,
        /// TCP_CHECK, HTTP_GET or MISC_CHECK.
        kind: &'static str,
    },
    /// The TOML serializer refused (a bug: every model value has a TOML form).
    #[error("cannot write TOML: {0}")]
    Toml(#[from] toml::ser::Error),
}

/// `loaded` (read from `source`) as commented TOML that loads to the same configuration.
pub fn to_toml(loaded: &Loaded, source: &Path) -> Result<String, ConvertError> {
    let body = toml::to_string_pretty(&file(&loaded.config)?)?;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# vipd configuration, converted by `vipctl convert` from {}.",
        for_comment(&source.display().to_string())
    );
    out.push_str("# `vipd --config THIS.toml` runs the same configuration as the original.\n");
    if !loaded.warnings.is_empty() {
        out.push_str(
            "#\n# Warnings about the original, as `vipctl check-config` gives them (ignored \
             keywords are not carried over):\n",
        );
        for w in &loaded.warnings {
            let first = w.to_string();
            let first = first.lines().next().unwrap_or_default();
            let _ = writeln!(out, "#   {}", for_comment(first));
        }
    }
    out.push('\n');
    out.push_str(&annotate(&body));
    Ok(out)
}

/// `text` as a TOML comment may hold it: control characters (a warning quotes the original's
/// words, which may have any) are written escaped, as `\u{1}`.
fn for_comment(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c.is_control() && c != '\t' {
                c.escape_default().to_string()
            } else {
                c.to_string()
            }
        })
        .collect()
}

/// Puts each key's comment from the keyword table above it, and a blank line before each
/// table.
fn annotate(body: &str) -> String {
    let mut out = String::new();
    let mut block: Option<&Block> = Some(&keywords::TOP);
    for line in body.lines() {
        if line.starts_with('[') {
            if !out.is_empty() && !out.ends_with("\n\n") {
                out.push('\n');
            }
            block = keywords::toml_block(line.trim_matches(['[', ']']));
            if block.is_some_and(|b| std::ptr::eq(b, &keywords::ROUTE_INSTANCE)) {
                out.push_str(ROUTE_INSTANCE_NOTE);
            }
        } else if line.is_empty() {
            continue;
        } else if let Some((key, _)) = line.split_once(" = ")
            && !key.starts_with(char::is_whitespace)
            && let Some(doc) = block.and_then(|b| b.toml_key(key)).map(|k| k.doc)
            && !doc.is_empty()
        {
            let _ = writeln!(out, "# {doc}");
        }
        out.push_str(line);
        out.push('\n');
    }
    out
}

/// Above each `[[route_instance]]`: vipd's own block, which keepalived cannot run.
const ROUTE_INSTANCE_NOTE: &str = "# vipd only, keepalived has no equivalent: the VIPs are \
    announced as host routes\n# in route_table for a routing daemon (BIRD) to export, not by \
    VRRP.\n";

/// A value without a position: spans only matter when reading.
fn sp<T>(value: T) -> Spanned<T> {
    Spanned::new(0..0, value)
}

fn whole_seconds(d: Duration) -> i64 {
    i64::try_from(d.as_secs()).unwrap_or(i64::MAX)
}

fn seconds(d: Duration) -> Seconds {
    if d.subsec_nanos() == 0 {
        Seconds::Whole(whole_seconds(d))
    } else {
        Seconds::Fraction(d.as_secs_f64())
    }
}

fn file(config: &Config) -> Result<File, ConvertError> {
    let Config {
        router_id,
        instances,
        route_instances,
        vrrp_script,
        vrrp_track_file,
        vrrp_track_process,
        vrrp_sync_group,
        script_user,
        enable_script_security,
        metrics_listen,
        virtual_servers,
    } = config;
    // The multicast groups are global in both formats: every instance of a family has the
    // same one.
    let group = |ipv6: bool| {
        (instances.iter())
            .filter(|i| i.is_ipv6() == ipv6)
            .find_map(|i| i.mcast_group)
            .map(|g| sp(g.to_string()))
    };
    let (group4, group6) = (group(false), group(true));
    let has_globals = router_id.is_some()
        || script_user.is_some()
        || *enable_script_security
        || metrics_listen.is_some()
        || group4.is_some()
        || group6.is_some();
    Ok(File {
        global_defs: has_globals.then(|| GlobalDefs {
            router_id: router_id.as_ref().map(|r| sp(r.clone())),
            script_user: script_user.as_ref().map(|u| sp(user(u))),
            enable_script_security: *enable_script_security,
            metrics_listen: metrics_listen.map(|m| sp(m.to_string())),
            // Each instance's resolved values are written instead.
            vrrp_garp_master_repeat: None,
            vrrp_lower_prio_no_advert: None,
            vrrp_garp_lower_prio_repeat: None,
            vrrp_version: None,
            v3_checksum_as_v2: None,
            vrrp_mcast_group4: group4,
            vrrp_mcast_group6: group6,
        }),
        vrrp_instance: instances.iter().map(instance).collect::<Result<_, _>>()?,
        route_instance: route_instances.iter().map(route_instance).collect(),
        vrrp_script: vrrp_script.iter().map(script).collect(),
        vrrp_track_file: vrrp_track_file.iter().map(track_file).collect(),
        vrrp_track_process: vrrp_track_process.iter().map(track_process).collect(),
        vrrp_sync_group: vrrp_sync_group.iter().map(sync_group).collect(),
        virtual_server: virtual_servers
            .iter()
            .map(virtual_server)
            .collect::<Result<_, _>>()?,
    })
}

fn virtual_server(v: &VirtualServer) -> Result<VirtualServerT, ConvertError> {
    let VirtualServer {
        addr,
        protocol,
        delay_loop,
        lb_algo,
        persistence_timeout,
        sorry_server,
        quorum,
        hysteresis,
        alpha,
        omega,
        connect_timeout,
        proxy_protocol,
        maxconn,
        real_servers,
    } = v;
    Ok(VirtualServerT {
        ip: sp(addr.ip().to_string()),
        port: sp(i64::from(addr.port())),
        delay_loop: Some(sp(seconds(*delay_loop))),
        lb_algo: Some(sp(lb_algo.as_str().to_string())),
        lb_kind: Some(sp("NAT".to_string())),
        persistence_timeout: persistence_timeout.map(|d| sp(whole_seconds(d))),
        protocol: Some(sp(protocol.as_str().to_string())),
        sorry_server: sorry_server.map(|s| sp(format!("{} {}", s.ip(), s.port()))),
        quorum: Some(sp(i64::from(*quorum))),
        hysteresis: Some(sp(i64::from(*hysteresis))),
        alpha: Some(sp(*alpha)),
        omega: Some(sp(*omega)),
        proxy_protocol: proxy_protocol.map(|p| sp(p.as_str().to_string())),
        maxconn: maxconn.map(|n| sp(i64::from(n))),
        connect_timeout: Some(sp(seconds(*connect_timeout))),
        retry: None,
        delay_before_retry: None,
        real_server: real_servers
            .iter()
            .map(real_server)
            .collect::<Result<_, _>>()?,
    })
}

fn real_server(r: &RealServer) -> Result<RealServerT, ConvertError> {
    let RealServer {
        addr,
        weight,
        inhibit_on_failure,
        notify_up,
        notify_down,
        proxy_protocol,
        maxconn,
        uthreshold,
        lthreshold,
        checks,
    } = r;
    let mut out = RealServerT {
        ip: sp(addr.ip().to_string()),
        port: sp(i64::from(addr.port())),
        weight: Some(sp(i64::from(*weight))),
        inhibit_on_failure: Some(sp(*inhibit_on_failure)),
        notify_up: notify_up.as_ref().map(|p| sp(join_command(&p.argv))),
        notify_down: notify_down.as_ref().map(|p| sp(join_command(&p.argv))),
        proxy_protocol: proxy_protocol.map(|p| sp(p.as_str().to_string())),
        maxconn: maxconn.map(|n| sp(i64::from(n))),
        uthreshold: (*uthreshold > 0).then(|| sp(i64::from(*uthreshold))),
        lthreshold: (*lthreshold > 0).then(|| sp(i64::from(*lthreshold))),
        connect_timeout: None,
        retry: None,
        delay_before_retry: None,
        delay_loop: None,
        tcp_check: None,
        http_get: None,
        misc_check: None,
        udp_check: None,
    };
    for c in checks {
        let (slot, kind) = match c.kind {
            CheckKind::Tcp { .. } => (&mut out.tcp_check, "TCP_CHECK"),
            CheckKind::Http { .. } => (&mut out.http_get, "HTTP_GET"),
            CheckKind::Misc { .. } => (&mut out.misc_check, "MISC_CHECK"),
            CheckKind::Udp { .. } => (&mut out.udp_check, "UDP_CHECK"),
        };
        if slot.is_some() {
            return Err(ConvertError::RepeatedChecker {
                server: addr.to_string(),
                kind,
            });
        }
        *slot = Some(sp(check(c, *addr)));
    }
    Ok(out)
}

fn check(c: &Check, server: std::net::SocketAddr) -> CheckT {
    let Check {
        kind,
        connect_timeout,
        retry,
        delay_before_retry,
        rise,
        delay_loop,
        bindto,
    } = c;
    let mut out = CheckT {
        connect_ip: None,
        connect_port: None,
        bindto: bindto.map(|ip| sp(ip.to_string())),
        connect_timeout: Some(sp(seconds(*connect_timeout))),
        retry: Some(sp(i64::from(*retry))),
        nb_get_retry: None,
        delay_before_retry: Some(sp(seconds(*delay_before_retry))),
        delay_loop: delay_loop.map(|d| sp(seconds(d))),
        rise: Some(sp(i64::from(*rise))),
        url: Vec::new(),
        misc_path: None,
        misc_timeout: None,
        user: None,
        payload: None,
        require_reply: None,
        min_reply_length: None,
        max_reply_length: None,
    };
    let mut target_of = |target: &std::net::SocketAddr| {
        if target.ip() != server.ip() {
            out.connect_ip = Some(sp(target.ip().to_string()));
        }
        if target.port() != server.port() {
            out.connect_port = Some(sp(i64::from(target.port())));
        }
    };
    match kind {
        CheckKind::Tcp { target } => target_of(target),
        CheckKind::Http { target, urls } => {
            target_of(target);
            out.url = urls.iter().map(|u| sp(url(u))).collect();
        }
        CheckKind::Misc {
            program,
            timeout,
            user: who,
        } => {
            out.misc_path = Some(sp(join_command(&program.argv)));
            out.misc_timeout = timeout.map(|d| sp(seconds(d)));
            out.user = who.as_ref().map(|u| sp(user(u)));
        }
        CheckKind::Udp {
            target,
            payload,
            require_reply,
            reply_length: (min, max),
        } => {
            target_of(target);
            if !payload.is_empty() {
                let hex: String = payload.iter().map(|b| format!("{b:02x}")).collect();
                out.payload = Some(sp(hex));
            }
            out.require_reply = Some(sp(*require_reply));
            out.min_reply_length = Some(sp(i64::from(*min)));
            out.max_reply_length = Some(sp(i64::from(*max)));
        }
    }
    out
}

fn url(u: &HttpUrl) -> UrlT {
    let HttpUrl {
        path,
        status_code,
        digest,
    } = u;
    UrlT {
        path: Some(sp(path.clone())),
        status_code: status_code.map(|c| sp(i64::from(c))),
        digest: digest.as_ref().map(|d| sp(d.clone())),
    }
}

fn user(u: &ScriptUser) -> String {
    let ScriptUser { user, group } = u;
    match group {
        Some(g) => format!("{user} {g}"),
        None => user.clone(),
    }
}

fn script(s: &VrrpScript) -> Script {
    let VrrpScript {
        name,
        script,
        interval,
        timeout,
        weight,
        rise,
        fall,
        user: who,
        init_fail,
    } = s;
    Script {
        name: sp(name.clone()),
        script: Some(sp(join_command(&script.argv))),
        interval: Some(sp(seconds(*interval))),
        timeout: Some(sp(seconds(*timeout))),
        weight: Some(sp(i64::from(*weight))),
        rise: Some(sp(i64::from(*rise))),
        fall: Some(sp(i64::from(*fall))),
        user: who.as_ref().map(|u| sp(user(u))),
        init_fail: *init_fail,
    }
}

fn track_file(f: &TrackFile) -> TrackFileTable {
    let TrackFile { name, file, weight } = f;
    TrackFileTable {
        name: sp(name.clone()),
        file: Some(sp(file.display().to_string())),
        weight: Some(sp(i64::from(*weight))),
    }
}

fn track_process(p: &TrackProcess) -> TrackProcessTable {
    let TrackProcess {
        name,
        process,
        weight,
        quorum,
        full_command,
    } = p;
    TrackProcessTable {
        name: sp(name.clone()),
        process: Some(sp(process.clone())),
        weight: Some(sp(i64::from(*weight))),
        quorum: Some(sp(i64::from(*quorum))),
        full_command: *full_command,
    }
}

/// The five `notify*` keys, as command lines.
type NotifyLines = [Option<Spanned<String>>; 5];

fn notify(n: &Notify) -> NotifyLines {
    let Notify {
        master,
        backup,
        fault,
        stop,
        any,
    } = n;
    [master, backup, fault, stop, any].map(|a| a.as_ref().map(|p| sp(join_command(&p.argv))))
}

fn sync_group(g: &SyncGroup) -> SyncGroupTable {
    let SyncGroup {
        name,
        group,
        notify: scripts,
    } = g;
    let [
        notify_master,
        notify_backup,
        notify_fault,
        notify_stop,
        notify,
    ] = notify(scripts);
    SyncGroupTable {
        name: sp(name.clone()),
        group: group.iter().map(|m| sp(m.clone())).collect(),
        notify_master,
        notify_backup,
        notify_fault,
        notify_stop,
        notify,
    }
}

/// `NAME [weight W]`, as `track_*` lines are written.
fn track_ref(r: &TrackRef) -> Spanned<String> {
    let TrackRef { name, weight } = r;
    sp(match weight {
        Some(w) => format!("{name} weight {w}"),
        None => name.clone(),
    })
}

fn track_interface(t: &TrackInterface) -> Spanned<String> {
    let TrackInterface { interface, weight } = t;
    sp(format!("{interface} weight {weight}"))
}

fn instance(i: &VrrpInstance) -> Result<Instance, ConvertError> {
    let VrrpInstance {
        name,
        state,
        interface,
        virtual_router_id,
        priority,
        version,
        advert_int,
        native_ipv6,
        preempt,
        preempt_delay,
        auth_pass,
        virtual_ipaddress,
        virtual_ipaddress_excluded,
        unicast_src_ip,
        unicast_peer,
        mcast_group: _,
        v3_checksum_as_v2,
        accept,
        use_vmac,
        vmac_xmit_base,
        route_table,
        garp_master_delay,
        garp_master_repeat,
        garp_master_refresh,
        lower_prio_no_advert,
        garp_lower_prio_repeat,
        track_script,
        track_interface: tracked_interfaces,
        track_file,
        track_process,
        notify: scripts,
    } = i;
    let [
        notify_master,
        notify_backup,
        notify_fault,
        notify_stop,
        notify,
    ] = notify(scripts);
    let authentication = match auth_pass {
        Some(pass) => Some(Authentication {
            auth_type: Some(sp("PASS".to_string())),
            auth_pass: Some(sp(String::from_utf8(pass.clone()).map_err(|_| {
                ConvertError::AuthPassNotUtf8 {
                    instance: name.clone(),
                }
            })?)),
        }),
        None => None,
    };
    let preempt_delay = seconds(*preempt_delay);
    Ok(Instance {
        name: sp(name.clone()),
        state: Some(sp(match state {
            InitialState::Master => "MASTER".to_string(),
            InitialState::Backup => "BACKUP".to_string(),
        })),
        interface: Some(sp(interface.clone())),
        virtual_router_id: Some(sp(i64::from(*virtual_router_id))),
        priority: Some(sp(i64::from(*priority))),
        version: Some(sp(match version {
            VrrpVersion::V2 => 2,
            VrrpVersion::V3 => 3,
        })),
        advert_int: Some(sp(seconds(*advert_int))),
        native_ipv6: native_ipv6.then(|| sp(true)),
        nopreempt: Some(sp(!preempt)),
        preempt_delay: Some(sp(preempt_delay)),
        authentication,
        virtual_ipaddress: virtual_ipaddress.iter().map(|v| sp(vip(v))).collect(),
        virtual_ipaddress_excluded: (virtual_ipaddress_excluded.iter())
            .map(|v| sp(vip(v)))
            .collect(),
        unicast_src_ip: unicast_src_ip.map(|a| sp(a.to_string())),
        unicast_peer: unicast_peer.iter().map(|a| sp(a.to_string())).collect(),
        garp_master_delay: Some(sp(whole_seconds(*garp_master_delay))),
        garp_master_repeat: Some(sp(i64::from(*garp_master_repeat))),
        garp_master_refresh: garp_master_refresh.map(|d| sp(whole_seconds(d))),
        lower_prio_no_advert: Some(sp(*lower_prio_no_advert)),
        garp_lower_prio_repeat: Some(sp(i64::from(*garp_lower_prio_repeat))),
        accept: Some(sp(*accept)),
        use_vmac: use_vmac.as_ref().map(|n| sp(Vmac::Name(n.clone()))),
        vmac_xmit_base: vmac_xmit_base.then(|| sp(true)),
        v3_checksum_as_v2: v3_checksum_as_v2.then(|| sp(true)),
        route_table: route_table.map(|t| sp(i64::from(t))),
        track_script: track_script.iter().map(track_ref).collect(),
        track_interface: tracked_interfaces.iter().map(track_interface).collect(),
        track_file: track_file.iter().map(track_ref).collect(),
        track_process: track_process.iter().map(track_ref).collect(),
        notify_master,
        notify_backup,
        notify_fault,
        notify_stop,
        notify,
    })
}

fn route_instance(r: &RouteInstance) -> RouteInstanceT {
    let RouteInstance {
        name,
        virtual_ipaddress,
        priority,
        route_table,
        route_interface,
        withdraw_delay,
        tracks:
            Tracks {
                track_script,
                track_interface: tracked_interfaces,
                track_file,
                track_process,
            },
    } = r;
    RouteInstanceT {
        name: sp(name.clone()),
        virtual_ipaddress: virtual_ipaddress
            .iter()
            .map(|a| sp(a.to_string()))
            .collect(),
        priority: Some(sp(i64::from(*priority))),
        route_table: Some(sp(i64::from(*route_table))),
        route_interface: Some(sp(route_interface.clone())),
        withdraw_delay: Some(sp(seconds(*withdraw_delay))),
        track_interface: tracked_interfaces.iter().map(track_interface).collect(),
        track_script: track_script.iter().map(track_ref).collect(),
        track_file: track_file.iter().map(track_ref).collect(),
        track_process: track_process.iter().map(track_ref).collect(),
    }
}

/// `ADDR[/LEN] [dev IF] [label L]`, as `virtual_ipaddress` lines are written.
fn vip(v: &VirtualIp) -> String {
    let VirtualIp {
        addr,
        prefix_len,
        dev,
        label,
    } = v;
    let mut s = addr.to_string();
    let host = if addr.is_ipv6() { 128 } else { 32 };
    if *prefix_len != host {
        let _ = write!(s, "/{prefix_len}");
    }
    if let Some(dev) = dev {
        let _ = write!(s, " dev {dev}");
    }
    if let Some(label) = label {
        let _ = write!(s, " label {label}");
    }
    s
}

#[cfg(test)]
mod tests {
    use std::net::{IpAddr, Ipv4Addr};
    use std::path::Path;
    use std::time::Duration;

    use super::*;
    use crate::config::testing::{load, ok};

    /// Every keyword vipd implements, each set away from its default.
    const MAXIMAL: &str = "global_defs {\n router_id lb-east-1\n script_user root root\n \
        enable_script_security\n metrics_listen 127.0.0.1:9650\n vrrp_mcast_group6 ff02::112\n}\n\
        vrrp_script chk {\n script \"/bin/sh -c 'exit 0'\"\n interval 2\n timeout 0.5\n \
        weight -20\n rise 2\n fall 3\n user root\n init_fail\n}\n\
        vrrp_track_file maint {\n file /etc/vipd/maint\n weight -50\n}\n\
        vrrp_track_process web {\n process \"nginx: master\"\n weight 10\n quorum 2\n \
        full_command\n}\n\
        vrrp_sync_group VG {\n group {\n VI_1\n VI_2\n }\n notify /bin/true\n}\n\
        vrrp_instance VI_1 {\n state MASTER\n interface eth1\n virtual_router_id 42\n \
        priority 150\n advert_int 3\n preempt_delay 2.5\n authentication {\n auth_type PASS\n \
        auth_pass s3cret12\n }\n virtual_ipaddress {\n 192.168.91.151/24 dev eth2 label eth2:vip\n \
        10.0.0.5\n }\n unicast_src_ip 10.0.0.11\n unicast_peer {\n 10.0.0.12\n 10.0.0.13\n }\n \
        garp_master_delay 7\n garp_master_repeat 2\n garp_master_refresh 60\n \
        lower_prio_no_advert\n garp_lower_prio_repeat 1\n \
        track_script {\n chk weight -30\n }\n track_interface {\n eth3 weight -5\n }\n \
        track_file {\n maint\n }\n track_process {\n web\n }\n \
        notify_master \"/bin/echo 'up now'\"\n notify_backup /bin/true\n \
        notify_fault /bin/true\n notify_stop /bin/true\n notify /bin/true\n route_table 201\n}\n\
        route_instance WEB {\n virtual_ipaddress {\n 10.99.0.10\n 2001:db8:99::10/128\n }\n \
        priority 150\n route_table 300\n route_interface lo0\n withdraw_delay 0.5\n \
        track_script {\n chk weight -60\n }\n track_interface {\n eth3\n }\n \
        track_file {\n maint weight -10\n }\n track_process {\n web\n }\n}\n\
        vrrp_instance VI_2 {\n state BACKUP\n interface eth0\n virtual_router_id 43\n \
        nopreempt\n virtual_ipaddress {\n 10.1.0.1/16\n }\n}\n\
        vrrp_instance VI_3 {\n interface eth0\n virtual_router_id 44\n native_ipv6\n \
        advert_int 0.05\n no_accept\n use_vmac vmac44\n vmac_xmit_base\n v3_checksum_as_v2\n \
        virtual_ipaddress {\n fe80::44/64\n 2001:db8::44 dev eth1\n }\n \
        virtual_ipaddress_excluded {\n 192.168.44.1/24\n 2001:db8:1::44\n }\n}\n\
        virtual_server 10.0.0.5 80 {\n delay_loop 3\n lb_algo sh\n lb_kind NAT\n \
        persistence_timeout 50\n protocol TCP\n sorry_server 10.0.0.9 8080\n quorum 2\n \
        hysteresis 1\n alpha\n omega\n connect_timeout 2.5\n \
        real_server 10.0.0.21 8080 {\n weight 3\n inhibit_on_failure\n \
        notify_up \"/bin/echo 'up'\"\n notify_down /bin/true\n \
        TCP_CHECK {\n connect_port 81\n connect_timeout 2\n retry 4\n \
        delay_before_retry 0.5\n rise 2\n delay_loop 7\n }\n \
        HTTP_GET {\n url {\n path /health\n status_code 204\n \
        digest 9e107d9d372bb6826bd81d3542a419d6\n }\n }\n \
        MISC_CHECK {\n misc_path \"/bin/sh -c 'exit 0'\"\n misc_timeout 4\n user nobody\n }\n }\n}\n";

    fn round_trip(text: &str, name: &str) -> (Config, Config, String) {
        let loaded = ok(text, name);
        let toml = to_toml(&loaded, Path::new(name)).expect("converts");
        let again = load(&toml, "converted.toml")
            .unwrap_or_else(|e| panic!("converted TOML does not load: {e}\n{toml}"));
        assert!(again.warnings.is_empty(), "{:?}\n{toml}", again.warnings);
        (loaded.config, again.config, toml)
    }

    #[test]
    fn maximal_config_round_trips() {
        let (original, converted, toml) = round_trip(MAXIMAL, "max.conf");
        assert_eq!(original, converted, "{toml}");
    }

    #[test]
    fn ipv6_virtual_servers_round_trip() {
        let text = "virtual_server 2001:db8::10 443 {\n lb_algo rr\n \
                    sorry_server fd00::9 8080\n real_server fd00::2 80 {\n \
                    TCP_CHECK {\n connect_ip fd00::99\n connect_port 81\n bindto fd00::1\n }\n }\n}\n";
        let (original, converted, toml) = round_trip(text, "v6.conf");
        assert_eq!(original, converted, "{toml}");
        assert!(toml.contains("\"2001:db8::10\""), "{toml}");
    }

    #[test]
    fn udp_virtual_servers_round_trip() {
        let text = "virtual_server 10.0.0.53 53 {\n lb_algo rr\n protocol UDP\n \
                    persistence_timeout 5\n real_server 10.0.0.1 53 {\n UDP_CHECK {\n \
                    connect_port 5353\n payload 0001ff\n require_reply\n \
                    min_reply_length 12\n }\n }\n real_server 10.0.0.2 53 {\n \
                    UDP_CHECK {\n }\n }\n}\n";
        let (original, converted, toml) = round_trip(text, "udp.conf");
        assert_eq!(original, converted, "{toml}");
        assert!(toml.contains("protocol = \"UDP\""), "{toml}");
    }

    /// The maximal config really is maximal: every model field differs from its default, so
    /// the round trip above would catch a field convert forgot. Destructured without `..`, so
    /// a new model field fails to compile here until MAXIMAL sets it.
    #[test]
    fn maximal_config_sets_every_field() {
        let config = ok(MAXIMAL, "max.conf").config;
        let Config {
            router_id,
            instances,
            route_instances,
            vrrp_script,
            vrrp_track_file,
            vrrp_track_process,
            vrrp_sync_group,
            script_user,
            enable_script_security,
            metrics_listen,
            virtual_servers,
        } = &config;
        let default = RouteInstance::with_defaults("");
        let RouteInstance {
            name,
            virtual_ipaddress,
            priority,
            route_table,
            route_interface,
            withdraw_delay,
            tracks,
        } = &route_instances[0];
        assert_ne!(*name, default.name);
        assert_eq!(virtual_ipaddress.len(), 2);
        assert_ne!(*priority, default.priority);
        assert_ne!(*route_table, default.route_table);
        assert_ne!(*route_interface, default.route_interface);
        assert_ne!(*withdraw_delay, default.withdraw_delay);
        assert!(
            !tracks.track_script.is_empty()
                && !tracks.track_interface.is_empty()
                && !tracks.track_file.is_empty()
                && !tracks.track_process.is_empty()
        );
        let v = &virtual_servers[0];
        assert!(v.alpha && v.omega && v.sorry_server.is_some() && v.persistence_timeout.is_some());
        assert_eq!((v.quorum, v.hysteresis), (2, 1));
        assert_eq!(v.real_servers[0].checks.len(), 3);
        assert!(matches!(
            &v.real_servers[0].checks[2].kind,
            CheckKind::Misc { user: Some(_), .. }
        ));
        assert!(v.real_servers[0].inhibit_on_failure && v.real_servers[0].notify_up.is_some());
        assert!(router_id.is_some() && metrics_listen.is_some());
        assert!(script_user.is_some() && *enable_script_security);
        let s = &vrrp_script[0];
        assert!(s.init_fail && s.user.is_some() && s.rise == 2 && s.fall == 3);
        assert_eq!(s.timeout, Duration::from_millis(500));
        assert!(vrrp_track_process[0].full_command && vrrp_track_process[0].quorum == 2);
        assert_eq!(vrrp_track_file[0].weight, -50);
        assert!(vrrp_sync_group[0].notify.any.is_some());
        let default = VrrpInstance::with_defaults("", "", 0);
        let VrrpInstance {
            name,
            state,
            interface,
            virtual_router_id,
            priority,
            // VRRPv3 has no authentication: its fields are checked on VI_3, below.
            version: _,
            advert_int,
            native_ipv6: _,
            preempt: _,
            preempt_delay,
            auth_pass,
            virtual_ipaddress,
            virtual_ipaddress_excluded: _,
            unicast_src_ip,
            unicast_peer,
            mcast_group: _,
            v3_checksum_as_v2: _,
            accept: _,
            use_vmac: _,
            vmac_xmit_base: _,
            route_table,
            garp_master_delay,
            garp_master_repeat,
            garp_master_refresh,
            lower_prio_no_advert,
            garp_lower_prio_repeat,
            track_script,
            track_interface,
            track_file,
            track_process,
            notify,
        } = &instances[0];
        assert_eq!(track_script[0].weight, Some(-30));
        assert_eq!(track_interface[0].weight, -5);
        assert!(!track_file.is_empty() && !track_process.is_empty());
        assert!(
            notify.master.is_some()
                && notify.backup.is_some()
                && notify.fault.is_some()
                && notify.stop.is_some()
                && notify.any.is_some()
        );
        assert_ne!(*name, default.name);
        assert_ne!(*state, default.state);
        assert_ne!(*interface, default.interface);
        assert_ne!(*virtual_router_id, default.virtual_router_id);
        assert_ne!(*priority, default.priority);
        assert_ne!(*advert_int, default.advert_int);
        assert_ne!(*preempt_delay, default.preempt_delay);
        assert_ne!(*auth_pass, default.auth_pass);
        assert_ne!(*virtual_ipaddress, default.virtual_ipaddress);
        assert_ne!(*unicast_src_ip, default.unicast_src_ip);
        assert_ne!(*unicast_peer, default.unicast_peer);
        assert_ne!(*garp_master_delay, default.garp_master_delay);
        assert_ne!(*garp_master_repeat, default.garp_master_repeat);
        assert_ne!(*garp_master_refresh, default.garp_master_refresh);
        assert_ne!(*lower_prio_no_advert, default.lower_prio_no_advert);
        assert_ne!(*garp_lower_prio_repeat, default.garp_lower_prio_repeat);
        assert_eq!(*route_table, Some(201));
        // `nopreempt` is cleared with state MASTER (as keepalived does): VI_2 carries it.
        assert!(!instances[1].preempt);
        let v3 = &instances[2];
        assert_eq!(v3.version, VrrpVersion::V3);
        assert_ne!(v3.version, default.version);
        assert_eq!(v3.advert_int, Duration::from_millis(50));
        assert!(v3.native_ipv6 && v3.is_ipv6() && !v3.accept);
        assert!(v3.v3_checksum_as_v2 && v3.vmac_xmit_base);
        assert_eq!(v3.use_vmac.as_deref(), Some("vmac44"));
        assert_eq!(v3.mcast_group, Some("ff02::112".parse().unwrap()));
        assert_eq!(v3.virtual_ipaddress[1].prefix_len, 128);
        let excluded: Vec<String> = (v3.virtual_ipaddress_excluded.iter())
            .map(|v| format!("{}/{}", v.addr, v.prefix_len))
            .collect();
        assert_eq!(excluded, ["192.168.44.1/24", "2001:db8:1::44/128"]);
        let VirtualIp {
            addr,
            prefix_len,
            dev,
            label,
        } = &instances[0].virtual_ipaddress[0];
        assert_eq!(
            (*addr, *prefix_len, dev.is_some(), label.is_some()),
            (
                IpAddr::from(Ipv4Addr::new(192, 168, 91, 151)),
                24,
                true,
                true
            )
        );
        assert_eq!(*preempt_delay, Duration::from_millis(2500));
    }

    #[test]
    fn output_is_commented_and_names_what_was_dropped() {
        let text = format!("global_defs {{\n smtp_server 10.0.0.9\n}}\n{MAXIMAL}");
        let loaded = ok(&text, "k.conf");
        let toml = to_toml(&loaded, Path::new("/etc/keepalived/k.conf")).unwrap();
        assert!(toml.starts_with(
            "# vipd configuration, converted by `vipctl convert` from /etc/keepalived/k.conf.\n"
        ));
        assert!(toml.contains("#   k.conf:2:2: smtp_server: "), "{toml}");
        // Every key written has its comment above it.
        let lines: Vec<&str> = toml.lines().collect();
        for (i, line) in lines.iter().enumerate() {
            if let Some((key, _)) = line.split_once(" = ")
                && !key.starts_with([' ', '#'])
            {
                assert!(
                    i > 0 && lines[i - 1].starts_with("# "),
                    "no comment above `{line}`:\n{toml}"
                );
            }
        }
        assert!(toml.contains("nopreempt = true"), "{toml}");
        assert!(toml.contains("preempt_delay = 2.5"), "{toml}");
        assert!(
            toml.contains("\"192.168.91.151/24 dev eth2 label eth2:vip\""),
            "{toml}"
        );
    }

    #[test]
    fn a_password_cut_inside_a_character_cannot_be_converted() {
        // 7 ASCII bytes and a 2-byte `é`: keepalived keeps 8 bytes, half of the `é`.
        let text = MAXIMAL.replace("auth_pass s3cret12", "auth_pass abcdefgé");
        let loaded = ok(&text, "k.conf");
        let e = to_toml(&loaded, Path::new("k.conf")).unwrap_err();
        assert!(
            e.to_string().contains("vrrp_instance VI_1: auth_pass"),
            "{e}"
        );
    }

    #[test]
    fn toml_converts_to_itself() {
        let (_, converted, toml) = round_trip(MAXIMAL, "max.conf");
        let loaded = ok(&toml, "c.toml");
        let again = to_toml(&loaded, Path::new("c.toml")).unwrap();
        let back = ok(&again, "d.toml").config;
        assert_eq!(back, converted);
    }

    /// Found by the config_text fuzz target: a control character in words keepalived
    /// ignores went into a warning, and from there raw into a TOML comment, which TOML
    /// refuses.
    #[test]
    fn warnings_with_control_characters_stay_valid_toml() {
        let text = "vrrp_instance VI_1 {\n interface eth0\n virtual_router_id 51\n \
                    priority 100 extra\u{1}words\n virtual_ipaddress {\n  10.0.0.1\n }\n}\n";
        let loaded = ok(text, "k.conf");
        assert!(!loaded.warnings.is_empty());
        let toml = to_toml(&loaded, Path::new("k\u{7}.conf")).unwrap();
        assert!(toml.contains("extra\\u{1}words"), "{toml}");
        assert_eq!(ok(&toml, "c.toml").config, loaded.config);
    }
}
