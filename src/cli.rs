//! Command-line definitions of `vipd` and `vipctl`, in the library so that man pages and
//! shell completions are generated from the same clap types the binaries parse with.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::control::DEFAULT_SOCKET;

/// Virtual-IP failover agent: VRRPv2 (RFC 3768) elections that move virtual IPs between
/// hosts, on the wire like keepalived.
#[derive(Parser, Debug)]
#[command(name = "vipd", version)]
pub struct VipdArgs {
    /// Configuration file: `*.toml` is vipd's native format, any other name is read as
    /// keepalived.conf syntax.
    #[arg(short = 'f', long, value_name = "FILE")]
    pub config: PathBuf,
    /// Control socket that `vipctl` talks to.
    #[arg(long, value_name = "PATH", env = "VIPD_SOCKET", default_value = DEFAULT_SOCKET)]
    pub socket: PathBuf,
    /// Group that owns the control socket (mode 0660) and may change state (reload,
    /// handover, maint); others who can open the socket may only read. Default: root only.
    #[arg(long, value_name = "GROUP", env = "VIPD_SOCKET_GROUP")]
    pub socket_group: Option<String>,
    /// Where each instance records whether it is master and which VIPs it added, so that a
    /// restart (after kill -9, a crash or `vipctl upgrade`) keeps its own VIPs instead of
    /// moving them. Default: the control socket's directory (/run/vipd). An empty value: no
    /// records.
    #[arg(long, value_name = "DIR", env = "VIPD_STATE_DIR")]
    pub state_dir: Option<PathBuf>,
    /// Check the configuration and exit: 0 valid, 2 invalid.
    #[arg(short = 't', long)]
    pub check: bool,
    /// Log filter: error, warn, info, debug or trace (tracing's EnvFilter syntax).
    #[arg(long, value_name = "FILTER", env = "VIPD_LOG", default_value = "info")]
    pub log: String,
    /// keepalived's config id: keepalived.conf lines `@ID ...` are used only when it is ID,
    /// `@^ID ...` only when it is not. Default: the host name up to its first dot, as in
    /// keepalived.
    #[arg(short = 'i', long, value_name = "ID")]
    pub config_id: Option<String>,
    /// Forwarding threads for TCP `virtual_server` pools, each with its own listener per
    /// pool (SO_REUSEPORT); UDP pools share one thread of their own. Default: one per CPU
    /// vipd may run on. None run without pools.
    #[arg(long, value_name = "N", env = "VIPD_LB_THREADS",
          value_parser = clap::value_parser!(u16).range(1..=1024))]
    pub lb_threads: Option<u16>,
    /// Longest time, in microseconds, a forwarding thread goes on polling for events without
    /// sleeping after it last had work, so the CPUs that send it bytes need not wake it. The
    /// window adapts below it to how soon work comes back; an idle forwarder, or one moving a
    /// bulk transfer, sleeps. Polling trades CPU for latency: for a host that does little but
    /// forward. Default: 0 (off, sleep at once).
    #[arg(long, value_name = "MICROSECONDS", env = "VIPD_LB_BUSY_POLL",
          value_parser = clap::value_parser!(u16).range(0..=10_000))]
    pub lb_busy_poll: Option<u16>,
}

/// Operate a running vipd: show its VRRP instances, watch transitions, reload, hand over;
/// check and convert configuration files without one.
///
/// Exit status: 0 success, 1 vipd refused or failed the request, 2 usage error or invalid
/// configuration, 3 vipd unreachable, 4 permission denied (the command changes state: root or
/// --socket-group only).
#[derive(Parser, Debug)]
#[command(name = "vipctl", version)]
pub struct VipctlArgs {
    /// Control socket of the vipd to talk to.
    #[arg(long, value_name = "PATH", env = "VIPD_SOCKET", default_value = DEFAULT_SOCKET)]
    pub socket: PathBuf,
    #[command(subcommand)]
    #[allow(missing_docs)] // a doc comment here would change clap's help text
    pub command: VipctlCommand,
}

/// What `vipctl` is asked to do.
#[derive(Subcommand, Debug)]
pub enum VipctlCommand {
    /// Show every instance: state, master, VIPs (checked in the kernel), last transition,
    /// counters.
    Status {
        /// Print JSON (schema version 1, see README) instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Check a configuration file (keepalived.conf or `*.toml`) as vipd would load it, without
    /// a running vipd: prints every error and warning; exit 0 valid, 2 invalid.
    CheckConfig {
        /// The configuration file.
        file: PathBuf,
        /// keepalived's config id for `@ID` lines (default: the host name up to its first dot).
        #[arg(short = 'i', long, value_name = "ID")]
        config_id: Option<String>,
        /// Check the file for another host (CI): programs are not looked for on this machine.
        ///
        /// For a pipeline that templates keepalived.conf: the programs that vrrp_script,
        /// notify, MISC_CHECK and notify_up/down name are not looked for here (nor whether
        /// they are safe to run as root), and a file that leaves its instances to include
        /// patterns matching nothing here gets a warning, not an error. Every other check is
        /// made: syntax, keywords, values, names such as track_script's, VIP limits and
        /// duplicates. Give the target's config id with -i when the file has `@ID` lines.
        #[arg(long)]
        offline: bool,
    },
    /// Print a configuration file (keepalived.conf or `*.toml`) as vipd's commented TOML,
    /// which loads to the same configuration; exit 2 (and no output) when it is invalid.
    Convert {
        /// The configuration file.
        file: PathBuf,
        /// keepalived's config id for `@ID` lines (default: the host name up to its first dot).
        #[arg(short = 'i', long, value_name = "ID")]
        config_id: Option<String>,
    },
    /// Print transitions as they happen, until interrupted.
    Watch {
        /// One JSON object per line instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Re-read the configuration file, all or nothing (as SIGHUP does): an invalid file
    /// leaves the running configuration alone; unchanged instances keep their state.
    Reload,
    /// Planned switchover: the master resigns but keeps its VIPs until the new master
    /// advertises (at most 3 × advert_int), so that (almost) no packet is lost. Not for a
    /// route_instance (it has no master): `maint on` withdraws its routes.
    Handover {
        /// The instance; all masters when omitted.
        instance: Option<String>,
    },
    /// Re-execute vipd in place after its binary was replaced (a package upgrade): same
    /// process, VIPs and roles kept, no priority 0 sent, so the peers see no takeover (as
    /// SIGUSR2 does). Waits until the new binary answers; forwarded connections of
    /// virtual_server pools are cut.
    Upgrade,
    /// Maintenance mode: stay backup until turned off (a master hands over first); a
    /// route_instance withdraws its routes and keeps its addresses. Kept across reloads.
    #[command(alias = "maintenance")]
    Maint {
        /// `on` or `off`.
        mode: OnOff,
        /// The instance; all when omitted.
        instance: Option<String>,
    },
}

/// `on` or `off`.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum OnOff {
    /// Turn it on.
    On,
    /// Turn it off.
    Off,
}
