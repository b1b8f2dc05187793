//! `virtual_server`: vipd's user-space L4 TCP forwarder with health-checked pools, for
//! machines without the kernel's IPVS (what keepalived's `lb_kind NAT` does there).
//!
//! # Layout
//! - `sched`: the schedulers (rr, wrr, lc, wlc, sh) and persistence. Pure.
//! - `pool`: one virtual server's live state: health, quorum, counters, status.
//! - `check`: TCP_CHECK, HTTP_GET, MISC_CHECK and the loop that runs them.
//! - `proxy`: the listener (IP_FREEBIND, SO_REUSEPORT) and each connection's life.
//! - `pump`: the bytes: small bursts copied, bulk by splice(2) through pooled pipes.
//!
//! [`Lb::start`] binds every listener first (so a port in use stops the daemon before it
//! changes anything), then starts the checkers and the accept loops on the current tokio
//! runtime. [`Lb::stop`] ends them all.

mod check;
mod pool;
mod proxy;
mod pump;
pub mod sched;

use std::sync::Arc;

use tokio::task::JoinHandle;
use tracing::{info, warn};

pub use pump::pooled_pipes;

use crate::config::VirtualServer;
use crate::control::proto::VirtualServerStatus;
use pool::Pool;

/// A listener that could not be opened.
#[derive(Debug, thiserror::Error)]
#[error("virtual_server {addr}: cannot listen: {source}")]
pub struct LbError {
    /// The virtual server's address.
    pub addr: std::net::SocketAddrV4,
    /// Why.
    pub source: std::io::Error,
}

/// File descriptors one busy proxied connection can hold: two sockets and two pipes.
const FDS_PER_CONNECTION: u64 = 6;
/// Below this many concurrent connections' worth of descriptors, say so at startup.
const MIN_CONNECTIONS: u64 = 10_000;

/// The running forwarder: every pool's state and the tasks serving it.
#[derive(Default)]
pub struct Lb {
    pools: Vec<Arc<Pool>>,
    tasks: Vec<JoinHandle<()>>,
}

/// A cheap handle on the pools' state, for the control socket.
#[derive(Clone, Default)]
pub struct LbView {
    pools: Vec<Arc<Pool>>,
}

impl LbView {
    /// The status of every virtual server, in config order.
    pub fn status(&self) -> Vec<VirtualServerStatus> {
        self.pools.iter().map(|p| p.status()).collect()
    }
}

impl Lb {
    /// Binds every virtual server's listener, then starts checkers and accept loops.
    pub fn start(config: &[VirtualServer]) -> Result<Lb, LbError> {
        if config.is_empty() {
            return Ok(Lb::default());
        }
        check_nofile(config.len());
        let mut listeners = Vec::new();
        for vs in config {
            let l = proxy::listen(vs.addr).map_err(|source| LbError {
                addr: vs.addr,
                source,
            })?;
            listeners.push(l);
        }
        let mut lb = Lb::default();
        for (vs, listener) in config.iter().zip(listeners) {
            let pool = Pool::new(vs.clone());
            for (i, rs) in vs.real_servers.iter().enumerate() {
                for c in 0..rs.checks.len() {
                    lb.tasks.push(tokio::spawn(check::run(pool.clone(), i, c)));
                }
            }
            lb.tasks
                .push(tokio::spawn(proxy::serve(listener, pool.clone())));
            info!(
                "virtual_server {}: listening ({} real server(s), lb_algo {})",
                vs.addr,
                vs.real_servers.len(),
                vs.lb_algo.as_str()
            );
            lb.pools.push(pool);
        }
        Ok(lb)
    }

    /// A handle for status.
    pub fn view(&self) -> LbView {
        LbView {
            pools: self.pools.clone(),
        }
    }

    /// Stops listening and checking; with `omega`, runs notify_down of every up server.
    pub fn stop(self) {
        for t in &self.tasks {
            t.abort();
        }
        for pool in &self.pools {
            if pool.config.omega {
                for rs in pool.up_servers() {
                    if let Some(argv) = &rs.notify_down {
                        check::notify(argv, &format!("real_server {} (omega)", rs.addr));
                    }
                }
            }
        }
    }
}

/// Raises the soft RLIMIT_NOFILE to the hard limit, as HAProxy and nginx do, and warns when
/// even that leaves room for few connections.
fn check_nofile(pools: usize) {
    use nix::sys::resource::{Resource, getrlimit, setrlimit};
    let Ok((soft, hard)) = getrlimit(Resource::RLIMIT_NOFILE) else {
        return;
    };
    let mut have = soft;
    if soft < hard && setrlimit(Resource::RLIMIT_NOFILE, hard, hard).is_ok() {
        info!("raised the open-file limit from {soft} to {hard} for the forwarder");
        have = hard;
    }
    let want = MIN_CONNECTIONS * FDS_PER_CONNECTION;
    if have < want {
        warn!(
            "open-file limit is {have}: {} virtual server(s) can hold about {} connections at \
             once (each needs up to {FDS_PER_CONNECTION} descriptors); raise it to {want} or \
             more (systemd LimitNOFILE=, ulimit -n)",
            pools,
            have / FDS_PER_CONNECTION
        );
    }
}
