//! The instance's way onto its link: the interface it follows (index, carrier, the address
//! adverts come from), its VRRP socket, sending adverts, and the faults of the network with
//! their retry. The daemon tells it what the kernel says about the interface ([`Interface`]);
//! what it rides out:
//! - renumbered: adverts go from the new primary address at once (a new socket); with no
//!   address for a whole advert interval, FAULT;
//! - adverts that cannot be sent twice in a row: FAULT (never hold VIPs that no advert
//!   defends), retried every [`NET_RETRY`];
//! - interface deleted and re-created: FAULT, then the new interface by name (new index,
//!   socket and ARP senders), back to BACKUP once it is up with an address.

use std::net::IpAddr;
use std::time::{Duration, Instant};

use tracing::{debug, info, warn};

use super::{Instance, now};
use crate::net::NetError;
use crate::ratelimit::held_back;
use crate::track::eval::Fault;
use crate::vip::BoundVip;
use crate::vrrp::doors::{AdvertSocket, Doors};
use crate::vrrp::fsm::State;
use crate::vrrp::packet::{AdvertRepr, ChecksumOver, Endpoints};

/// The instance's interface as the kernel has it now.
#[derive(Debug)]
pub struct Interface {
    /// Its index: a new one means the interface was deleted and re-created.
    pub ifindex: u32,
    /// Up with carrier.
    pub up: bool,
    /// The address to send adverts from (the primary IPv4 address or the IPv6 link-local
    /// one, or `unicast_src_ip` while it is configured on the interface); `None` when there
    /// is none.
    pub source: Option<IpAddr>,
    /// The VIPs bound again to the re-created interface; `None` when the index is unchanged.
    pub vips: Option<Vec<BoundVip>>,
}

/// How long a failed network (no address to send from, adverts that cannot be sent) keeps an
/// instance in FAULT before it tries again.
pub const NET_RETRY: Duration = Duration::from_secs(5);

/// Adverts that fail in a row before a master gives up its VIPs.
const MAX_SEND_FAILURES: u32 = 2;

impl<D: Doors> Instance<D> {
    /// When [`Instance::on_net_timer`] is due: the end of the grace for a lost address, or
    /// the retry of a network fault.
    pub(super) fn net_deadline(&self) -> Option<Instant> {
        let grace = self
            .no_source_since
            .map(|t| t + self.fsm.config().advert_int);
        match (grace, self.net_retry_at) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    pub(super) fn on_net_timer(&mut self) {
        let now = now();
        if let Some(since) = self.no_source_since
            && now >= since + self.fsm.config().advert_int
            && self.net_fault.is_none()
        {
            // The grace is over: from here on the retry timer alone wakes us.
            self.no_source_since = None;
            self.set_net_fault(format!(
                "interface {} has no address to send adverts from",
                self.interface
            ));
        }
        if self.net_retry_at.is_some_and(|at| now >= at) {
            self.net_retry_at = None;
            if self.source.is_some() && self.socket.is_some() {
                info!("{}: trying the network again", self.name);
                self.net_fault = None;
                self.send_failures = 0;
                self.reevaluate();
            } else {
                self.net_retry_at = Some(now + NET_RETRY);
            }
        }
    }

    /// The network cannot carry our adverts: FAULT (VIPs removed at once), retried later.
    fn set_net_fault(&mut self, why: String) {
        self.net_fault = Some(Fault {
            source: format!("interface {}", self.interface),
            detail: why,
        });
        self.net_retry_at = Some(now() + NET_RETRY);
        self.reevaluate();
    }

    /// The daemon re-read the interface after a link or address event.
    pub(super) fn on_interface(&mut self, now: Interface) {
        if now.ifindex != self.ifindex {
            info!(
                "{}: interface {} was re-created (index {} -> {}): following it",
                self.name, self.interface, self.ifindex, now.ifindex
            );
            self.ifindex = now.ifindex;
            self.socket = None;
            if let Some(vips) = now.vips {
                if let Some(routes) = &mut self.routes {
                    routes.rebind(super::setup::routed(&vips));
                }
                self.vips.rebind(vips);
            }
            self.watch_arp();
        }
        if now.source != self.source || (now.source.is_some() && self.socket.is_none()) {
            self.change_source(now.source);
        }
        self.link_up = now.up;
        self.reevaluate();
    }

    /// Sends from `source` from now on, on a new socket; `None` starts the grace after which
    /// an instance without an address goes FAULT.
    fn change_source(&mut self, source: Option<IpAddr>) {
        let old = self.source;
        self.source = source;
        let Some(addr) = source else {
            warn!(
                "{}: {} lost {}, the address adverts are sent from; FAULT unless another \
                 address appears within {:.1} s",
                self.name,
                self.interface,
                old.map_or_else(|| "its address".to_string(), |a| a.to_string()),
                self.fsm.config().advert_int.as_secs_f64()
            );
            self.socket = None;
            self.no_source_since.get_or_insert_with(now);
            return;
        };
        match self
            .doors
            .open_socket(&self.interface, self.ifindex, addr, &self.transport)
        {
            Ok(socket) => {
                if old != Some(addr) {
                    info!(
                        "{}: adverts now go from {addr} (was {})",
                        self.name,
                        old.map_or_else(|| "none".to_string(), |a| a.to_string())
                    );
                }
                self.socket = Some(socket);
                self.fsm.set_local_addr(addr);
                self.status().source = addr.to_string();
                self.no_source_since = None;
                self.send_failures = 0;
                self.net_fault = None;
                self.net_retry_at = None;
            }
            Err(e) => {
                self.socket = None;
                self.set_net_fault(format!("cannot open the VRRP socket from {addr}: {e}"));
            }
        }
    }

    /// A receive error is reported once by the kernel (a link gone down, an ICMP error):
    /// logged, rate-limited, and a short pause so that a socket stuck in error cannot spin.
    pub(super) async fn on_receive_error(&mut self, e: &NetError) {
        if let Some(suppressed) = self.rate_limit.allow("receive", now()) {
            warn!(
                "{}: receive failed: {e}{}",
                self.name,
                held_back(suppressed)
            );
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    pub(super) fn send_advert(&mut self, priority: u8) {
        let advert = AdvertRepr {
            version: self.version,
            vrid: self.vrid,
            priority,
            interval: self.interval,
            auth: self.auth.clone(),
            addrs: self.vips.addrs().to_vec(),
        };
        let form = self.checksum_form;
        let sent = match (&self.socket, self.source) {
            // One message per destination: a pseudo-header checksum covers it.
            (Some(socket), Some(src)) => socket
                .send(|dst| {
                    let over = Endpoints::new(src, dst).map_or(ChecksumOver::MessageOnly, |ends| {
                        ChecksumOver::new(form, ends)
                    });
                    advert.to_bytes(&over)
                })
                .map_err(|e| e.to_string()),
            _ => Err(format!(
                "interface {} has no address to send from",
                self.interface
            )),
        };
        match sent {
            Ok(()) => {
                self.send_failures = 0;
                self.status().counters.adverts_sent += 1;
            }
            // Expected while the link is down: the resign advert is only worth a try.
            Err(e) if self.fsm.state() != State::Master || !self.link_up => {
                debug!("{}: advert not sent: {e}", self.name)
            }
            Err(e) => {
                self.send_failures += 1;
                warn!(
                    "{}: advert not sent ({} in a row): {e}",
                    self.name, self.send_failures
                );
                if self.send_failures >= MAX_SEND_FAILURES {
                    // The backup cannot hear us: holding the VIPs now means two holders.
                    self.set_net_fault(format!("adverts cannot be sent: {e}"));
                }
            }
        }
    }
}
