//! What comes in on the VRRP socket: every check RFC 3768 section 7.1 asks for before an
//! advert reaches the state machine, and for each drop its counter and a rate-limited log line.

use std::net::IpAddr;

use tracing::warn;

use super::{Instance, now};
use crate::ratelimit::held_back;
use crate::vrrp::doors::Doors;
use crate::vrrp::packet::{self, Expected, PacketError};

impl<D: Doors> Instance<D> {
    /// RFC 3768 §7.1: every check, then the state machine.
    pub(super) fn on_datagram(&mut self, datagram: &[u8]) {
        let parsed = if self.unicast_peers.is_empty() {
            packet::parse_ipv4(datagram)
        } else {
            packet::parse_ipv4_unicast(datagram)
        };
        let received = match parsed {
            Ok(r) => r,
            Err(e) => return self.drop_packet(None, &e),
        };
        if Some(received.src) == self.source.map(IpAddr::V4) {
            // Our own advert comes back only when the unicast peer list names us (a config
            // shared by all nodes); otherwise another host uses our address.
            if self.unicast_peers.contains(&received.src) {
                return;
            }
            return self.drop_packet(
                Some(received.src),
                &PacketError::OwnAddress { src: received.src },
            );
        }
        if received.advert.vrid != self.vrid {
            // Another virtual router on the same link: counted, not worth a log line.
            self.count_drop(&PacketError::VridMismatch {
                got: received.advert.vrid,
                want: self.vrid,
            });
            return;
        }
        if !self.unicast_peers.is_empty() && !self.unicast_peers.contains(&received.src) {
            return self.drop_packet(
                Some(received.src),
                &PacketError::UnknownPeer { src: received.src },
            );
        }
        let addrs: Vec<IpAddr> = self.vips.addrs().iter().map(|&a| a.into()).collect();
        let expected = Expected {
            version: self.version,
            vrid: self.vrid,
            auth: &self.auth,
            interval: self.interval,
            addrs: &addrs,
        };
        if let Err(e) = packet::validate(&received.advert, &expected) {
            return self.drop_packet(Some(received.src), &e);
        }
        self.status().counters.adverts_received += 1;
        self.fsm
            .handle_advert(now(), received.src, received.advert.priority);
    }

    fn count_drop(&self, e: &PacketError) {
        let mut status = self.status();
        *status
            .counters
            .drops
            .entry(e.counter_name().to_string())
            .or_default() += 1;
    }

    fn drop_packet(&mut self, from: Option<IpAddr>, e: &PacketError) {
        self.count_drop(e);
        if let Some(suppressed) = self.rate_limit.allow(e.counter_name(), now()) {
            let from = from.map_or_else(String::new, |a| format!(" from {a}"));
            let more = held_back(suppressed);
            warn!("{}: dropped advert{from}: {e}{more}", self.name);
        }
    }
}
