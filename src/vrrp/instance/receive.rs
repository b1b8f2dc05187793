//! What comes in on the VRRP socket: every check RFC 3768 and RFC 9568 section 7.1 ask for
//! before an advert reaches the state machine, and for each drop its counter and a
//! rate-limited log line. An IPv4 datagram comes with its header; the VRRP message of an
//! IPv6 packet comes with its addresses and hop limit beside it ([`Ipv6Meta`]).

use std::net::IpAddr;

use tracing::warn;

use super::{Instance, now};
use crate::net::socket::Ipv6Meta;
use crate::ratelimit::held_back;
use crate::vrrp::doors::Doors;
use crate::vrrp::packet::{self, Expected, PacketError, Received};

/// What one instance accepts: the receive checks that need more than the packet itself.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Filter<'a> {
    /// The instance's `unicast_peer` list; empty for multicast.
    pub(crate) unicast_peers: &'a [IpAddr],
    /// The address the instance sends from, if it has one.
    pub(crate) source: Option<IpAddr>,
    /// Version, VRID, authentication, interval and addresses of this virtual router.
    pub(crate) expected: Expected<'a>,
}

/// What to do with one datagram.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Passed every check: for the state machine.
    Accept(Received),
    /// Our own unicast advert, echoed because the peer list names us: ignored.
    OwnEcho,
    /// Dropped: counted and logged (rate-limited), with the sender when known.
    Drop(Option<IpAddr>, PacketError),
    /// Dropped: counted only (another virtual router on the link is not news).
    DropQuietly(PacketError),
}

/// RFC 3768 / RFC 9568 §7.1: every receive check of one datagram, pure. `ipv6` is `None` for
/// an IPv4 datagram (header included), the metadata of an IPv6 one (`datagram` is then the
/// VRRP message alone).
pub(crate) fn judge(datagram: &[u8], ipv6: Option<&Ipv6Meta>, filter: &Filter<'_>) -> Verdict {
    let multicast = filter.unicast_peers.is_empty();
    let parsed = match ipv6 {
        None if multicast => packet::parse_ipv4(datagram),
        None => packet::parse_ipv4_unicast(datagram),
        Some(m) if multicast => packet::parse_ipv6(datagram, m.src, m.dst, m.hop_limit),
        Some(m) => packet::parse_ipv6_unicast(datagram, m.src, m.dst, m.hop_limit),
    };
    let received = match parsed {
        Ok(r) => r,
        Err(e) => return Verdict::Drop(None, e),
    };
    let src = received.src;
    if Some(src) == filter.source {
        // Our own advert comes back only when the unicast peer list names us (a config
        // shared by all nodes); otherwise another host uses our address.
        if filter.unicast_peers.contains(&src) {
            return Verdict::OwnEcho;
        }
        return Verdict::Drop(Some(src), PacketError::OwnAddress { src });
    }
    if received.advert.vrid != filter.expected.vrid {
        return Verdict::DropQuietly(PacketError::VridMismatch {
            got: received.advert.vrid,
            want: filter.expected.vrid,
        });
    }
    if !filter.unicast_peers.is_empty() && !filter.unicast_peers.contains(&src) {
        return Verdict::Drop(Some(src), PacketError::UnknownPeer { src });
    }
    if let Err(e) = packet::validate(&received.advert, &filter.expected) {
        return Verdict::Drop(Some(src), e);
    }
    Verdict::Accept(received)
}

impl<D: Doors> Instance<D> {
    /// Every receive check ([`judge`]), then the state machine.
    pub(super) fn on_datagram(&mut self, datagram: &[u8], ipv6: Option<Ipv6Meta>) {
        let filter = Filter {
            unicast_peers: &self.unicast_peers,
            source: self.source,
            expected: Expected {
                version: self.version,
                vrid: self.vrid,
                auth: &self.auth,
                interval: self.interval,
                addrs: self.vips.addrs(),
            },
        };
        match judge(datagram, ipv6.as_ref(), &filter) {
            Verdict::Accept(received) => {
                self.status().counters.adverts_received += 1;
                self.fsm
                    .handle_advert(now(), received.src, received.advert.priority);
            }
            Verdict::OwnEcho => {}
            Verdict::Drop(from, e) => self.drop_packet(from, &e),
            Verdict::DropQuietly(e) => self.count_drop(&e),
        }
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
