//! The configuration as written, before validation: what both loaders (keepalived.conf and
//! TOML) build and the validators read.
//!
//! Every value keeps where it was written ([`Val`]), and numbers stay text, so that both
//! formats share one set of checks and messages: the loaders know syntax only.

/// A value as written in the file, with where it was written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Val<T> {
    /// The value.
    pub(crate) value: T,
    /// 1-based line.
    pub(crate) line: usize,
    /// 1-based column.
    pub(crate) col: usize,
}

impl<T> Val<T> {
    pub(crate) fn new(value: T, line: usize, col: usize) -> Self {
        Self { value, line, col }
    }

    /// Where it was written: (line, column), for [`super::Report::error_at`].
    pub(crate) fn at(&self) -> (usize, usize) {
        (self.line, self.col)
    }
}

impl Default for Val<String> {
    fn default() -> Self {
        Val::new(String::new(), 0, 0)
    }
}

/// A whole file, before validation.
#[derive(Debug, Default)]
pub(crate) struct RawConfig {
    pub(crate) router_id: Option<Val<String>>,
    pub(crate) metrics_listen: Option<Val<String>>,
    pub(crate) instances: Vec<RawInstance>,
    pub(crate) route_instances: Vec<RawRouteInstance>,
    pub(crate) virtual_servers: Vec<RawVirtualServer>,
    /// `vrrp_script`, `vrrp_track_*`, `vrrp_sync_group`, `script_user`.
    pub(crate) tracking: RawTracking,
    /// `global_defs` keywords that are defaults of every instance.
    pub(crate) defaults: RawDefaults,
}

/// One `vrrp_instance`, before validation. Numbers stay text so both loaders share one set of
/// range checks and messages.
#[derive(Debug, Default)]
pub(crate) struct RawInstance {
    pub(crate) name: Val<String>,
    pub(crate) state: Option<Val<String>>,
    pub(crate) interface: Option<Val<String>>,
    pub(crate) virtual_router_id: Option<Val<String>>,
    pub(crate) priority: Option<Val<String>>,
    pub(crate) advert_int: Option<Val<String>>,
    /// `version 2|3`.
    pub(crate) version: Option<Val<String>>,
    pub(crate) native_ipv6: Option<Val<bool>>,
    pub(crate) nopreempt: Option<Val<bool>>,
    pub(crate) preempt_delay: Option<Val<String>>,
    pub(crate) auth_type: Option<Val<String>>,
    pub(crate) auth_pass: Option<Val<String>>,
    /// Each entry: the words of one line, `ADDR[/LEN] [dev IF] [label L] ...`.
    pub(crate) virtual_ipaddress: Vec<Vec<Val<String>>>,
    /// The same for `virtual_ipaddress_excluded`.
    pub(crate) virtual_ipaddress_excluded: Vec<Vec<Val<String>>>,
    pub(crate) unicast_src_ip: Option<Val<String>>,
    pub(crate) unicast_peer: Vec<Val<String>>,
    pub(crate) garp_master_delay: Option<Val<String>>,
    pub(crate) garp_master_repeat: Option<Val<String>>,
    pub(crate) garp_master_refresh: Option<Val<String>>,
    /// `lower_prio_no_advert [true|false]` (`true` when written alone).
    pub(crate) lower_prio_no_advert: Option<Val<String>>,
    pub(crate) garp_lower_prio_repeat: Option<Val<String>>,
    /// `v3_checksum_as_v2 [true|false]` (`true` when written alone).
    pub(crate) v3_checksum_as_v2: Option<Val<String>>,
    /// `accept` (true) or `no_accept` (false).
    pub(crate) accept: Option<Val<bool>>,
    /// `use_vmac [NAME]`: the name, empty for keepalived's default.
    pub(crate) use_vmac: Option<Val<String>>,
    pub(crate) vmac_xmit_base: Option<Val<bool>>,
    /// `route_table N` (vipd's own): host routes for the VIPs while master.
    pub(crate) route_table: Option<Val<String>>,
    pub(crate) tracks: RawTracks,
    pub(crate) notify: RawNotify,
}

/// One `route_instance` (vipd's own), before validation.
#[derive(Debug, Default)]
pub(crate) struct RawRouteInstance {
    pub(crate) name: Val<String>,
    /// Each entry: the words of one line (`ADDR[/LEN]`).
    pub(crate) virtual_ipaddress: Vec<Vec<Val<String>>>,
    pub(crate) priority: Option<Val<String>>,
    pub(crate) route_table: Option<Val<String>>,
    pub(crate) route_interface: Option<Val<String>>,
    pub(crate) withdraw_delay: Option<Val<String>>,
    pub(crate) tracks: RawTracks,
}

/// The global defaults as written in `global_defs`.
#[derive(Debug, Default)]
pub(crate) struct RawDefaults {
    /// `vrrp_garp_master_repeat`.
    pub(crate) vrrp_garp_master_repeat: Option<Val<String>>,
    /// `vrrp_lower_prio_no_advert [true|false]` (`true` when written alone).
    pub(crate) vrrp_lower_prio_no_advert: Option<Val<String>>,
    /// `vrrp_garp_lower_prio_repeat`.
    pub(crate) vrrp_garp_lower_prio_repeat: Option<Val<String>>,
    /// `vrrp_version 2|3`.
    pub(crate) vrrp_version: Option<Val<String>>,
    /// `v3_checksum_as_v2 [true|false]`.
    pub(crate) v3_checksum_as_v2: Option<Val<String>>,
    /// `vrrp_mcast_group4 ADDR`.
    pub(crate) vrrp_mcast_group4: Option<Val<String>>,
    /// `vrrp_mcast_group6 ADDR`.
    pub(crate) vrrp_mcast_group6: Option<Val<String>>,
}

/// Global tracking keywords, before validation.
#[derive(Debug, Default)]
pub(crate) struct RawTracking {
    pub(crate) scripts: Vec<RawScript>,
    pub(crate) files: Vec<RawTrackFile>,
    pub(crate) processes: Vec<RawTrackProcess>,
    pub(crate) sync_groups: Vec<RawSyncGroup>,
    /// `script_user USER [GROUP]`.
    pub(crate) script_user: Option<Vec<Val<String>>>,
    pub(crate) enable_script_security: bool,
}

/// One `vrrp_script`.
#[derive(Debug, Default)]
pub(crate) struct RawScript {
    pub(crate) name: Val<String>,
    /// The whole command line as written.
    pub(crate) script: Option<Val<String>>,
    pub(crate) interval: Option<Val<String>>,
    pub(crate) timeout: Option<Val<String>>,
    pub(crate) weight: Option<Val<String>>,
    pub(crate) rise: Option<Val<String>>,
    pub(crate) fall: Option<Val<String>>,
    pub(crate) user: Option<Vec<Val<String>>>,
    pub(crate) init_fail: bool,
}

/// One `vrrp_track_file`.
#[derive(Debug, Default)]
pub(crate) struct RawTrackFile {
    pub(crate) name: Val<String>,
    pub(crate) file: Option<Val<String>>,
    pub(crate) weight: Option<Val<String>>,
}

/// One `vrrp_track_process`.
#[derive(Debug, Default)]
pub(crate) struct RawTrackProcess {
    pub(crate) name: Val<String>,
    pub(crate) process: Option<Val<String>>,
    pub(crate) weight: Option<Val<String>>,
    pub(crate) quorum: Option<Val<String>>,
    pub(crate) full_command: bool,
}

/// One `vrrp_sync_group`.
#[derive(Debug, Default)]
pub(crate) struct RawSyncGroup {
    pub(crate) name: Val<String>,
    pub(crate) group: Vec<Val<String>>,
    pub(crate) notify: RawNotify,
}

/// `notify*` keywords: each the whole command line as written.
#[derive(Debug, Default)]
pub(crate) struct RawNotify {
    pub(crate) master: Option<Val<String>>,
    pub(crate) backup: Option<Val<String>>,
    pub(crate) fault: Option<Val<String>>,
    pub(crate) stop: Option<Val<String>>,
    pub(crate) any: Option<Val<String>>,
}

impl RawNotify {
    /// The field for a `notify*` keyword, or `None` if it is not one.
    pub(crate) fn slot(&mut self, keyword: &str) -> Option<&mut Option<Val<String>>> {
        match keyword {
            "notify_master" => Some(&mut self.master),
            "notify_backup" => Some(&mut self.backup),
            "notify_fault" => Some(&mut self.fault),
            "notify_stop" => Some(&mut self.stop),
            "notify" => Some(&mut self.any),
            _ => None,
        }
    }
}

/// An instance's `track_*` lists: the words of each line (`NAME [weight W]`).
#[derive(Debug, Default)]
pub(crate) struct RawTracks {
    pub(crate) script: Vec<Vec<Val<String>>>,
    pub(crate) interface: Vec<Vec<Val<String>>>,
    pub(crate) file: Vec<Vec<Val<String>>>,
    pub(crate) process: Vec<Vec<Val<String>>>,
}

impl RawTracks {
    /// The list for a `track_*` keyword, or `None` if it is not one vipd reads.
    pub(crate) fn slot(&mut self, keyword: &str) -> Option<&mut Vec<Vec<Val<String>>>> {
        match keyword {
            "track_script" => Some(&mut self.script),
            "track_interface" => Some(&mut self.interface),
            "track_file" => Some(&mut self.file),
            "track_process" => Some(&mut self.process),
            _ => None,
        }
    }
}

/// One `virtual_server`, before validation.
#[derive(Debug, Default)]
pub(crate) struct RawVirtualServer {
    /// The `virtual_server` keyword itself (for block-level messages).
    pub(crate) key: Val<String>,
    /// The words after the keyword: `IP PORT` (or `fwmark N`, `group NAME`).
    pub(crate) addr: Vec<Val<String>>,
    pub(crate) delay_loop: Option<Val<String>>,
    pub(crate) lb_algo: Option<Val<String>>,
    pub(crate) lb_kind: Option<Val<String>>,
    pub(crate) persistence_timeout: Option<Val<String>>,
    pub(crate) protocol: Option<Val<String>>,
    /// `sorry_server IP PORT`: its words.
    pub(crate) sorry_server: Option<Vec<Val<String>>>,
    pub(crate) quorum: Option<Val<String>>,
    pub(crate) hysteresis: Option<Val<String>>,
    pub(crate) alpha: Option<Val<bool>>,
    pub(crate) omega: Option<Val<bool>>,
    pub(crate) proxy_protocol: Option<Val<String>>,
    pub(crate) maxconn: Option<Val<String>>,
    /// Defaults for the checkers of every real server, and the forwarder's connect timeout.
    pub(crate) defaults: RawCheckDefaults,
    pub(crate) real_servers: Vec<RawRealServer>,
}

/// `connect_timeout`, `retry`, `delay_before_retry`, `delay_loop` written outside a checker:
/// defaults for the checkers inside.
#[derive(Debug, Default, Clone)]
pub(crate) struct RawCheckDefaults {
    pub(crate) connect_timeout: Option<Val<String>>,
    pub(crate) retry: Option<Val<String>>,
    pub(crate) delay_before_retry: Option<Val<String>>,
    pub(crate) delay_loop: Option<Val<String>>,
}

/// One `real_server`, before validation.
#[derive(Debug, Default)]
pub(crate) struct RawRealServer {
    pub(crate) key: Val<String>,
    pub(crate) addr: Vec<Val<String>>,
    pub(crate) weight: Option<Val<String>>,
    pub(crate) inhibit_on_failure: Option<Val<bool>>,
    pub(crate) notify_up: Option<Val<String>>,
    pub(crate) notify_down: Option<Val<String>>,
    pub(crate) proxy_protocol: Option<Val<String>>,
    pub(crate) maxconn: Option<Val<String>>,
    pub(crate) uthreshold: Option<Val<String>>,
    pub(crate) lthreshold: Option<Val<String>>,
    pub(crate) defaults: RawCheckDefaults,
    pub(crate) checks: Vec<RawCheck>,
}

/// One checker block (`TCP_CHECK`, `HTTP_GET`, `MISC_CHECK`), before validation.
#[derive(Debug, Default)]
pub(crate) struct RawCheck {
    /// The checker keyword.
    pub(crate) kind: Val<String>,
    pub(crate) connect_ip: Option<Val<String>>,
    pub(crate) connect_port: Option<Val<String>>,
    pub(crate) bindto: Option<Val<String>>,
    pub(crate) rise: Option<Val<String>>,
    pub(crate) defaults: RawCheckDefaults,
    pub(crate) urls: Vec<RawUrl>,
    pub(crate) misc_path: Option<Val<String>>,
    pub(crate) misc_timeout: Option<Val<String>>,
    /// `user USER [GROUP]` (MISC_CHECK).
    pub(crate) user: Option<Vec<Val<String>>>,
    /// UDP_CHECK `payload HEX` (its words joined).
    pub(crate) payload: Option<Val<String>>,
    /// UDP_CHECK `require_reply`.
    pub(crate) require_reply: Option<Val<bool>>,
    /// UDP_CHECK `require_reply HEX`: the reply data keepalived compares (keepalived.conf
    /// only; refused).
    pub(crate) reply_data: Option<Val<String>>,
    pub(crate) min_reply_length: Option<Val<String>>,
    pub(crate) max_reply_length: Option<Val<String>>,
}

/// One `url { ... }`.
#[derive(Debug, Default)]
pub(crate) struct RawUrl {
    pub(crate) key: Val<String>,
    pub(crate) path: Option<Val<String>>,
    pub(crate) status_code: Option<Val<String>>,
    pub(crate) digest: Option<Val<String>>,
}
