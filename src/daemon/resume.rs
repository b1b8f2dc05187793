//! A restart that keeps its own VIPs (issue: planned operations lose nothing). At start, an
//! instance whose record ([`crate::runstate`]) says it was master, for the same VRID and
//! interface, with exactly its configured VIPs added by that run and all still in place, and
//! written (a master writes it every advert interval) less than a backup's
//! Master_Down_Interval ago, is resumed: the VIPs are neither cleared nor re-added, and the instance listens a moment for
//! a stronger master before advertising again (see
//! [`Fsm::handle_startup_restarted`](crate::vrrp::fsm::Fsm::handle_startup_restarted)). So a
//! restart shorter than the peers' Master_Down_Interval moves nothing, and a late one (a peer
//! took over meanwhile) follows the usual election. Anything else starts as any start does,
//! clearing what a killed run left.

use std::path::PathBuf;
use std::time::Duration;

use tracing::info;

use super::Options;
use crate::net::addr::Netlink;
use crate::runstate::{self, Leftover};
use crate::vrrp::instance::Setup;

/// How old an upgrade's record may be and still skip the listen window: it was master a
/// moment ago, and nobody can have taken over since.
const HANDOFF_FRESH_MS: u64 = 2_000;

/// Points `setup` at its record in `dir` and decides whether it resumes; true when it does
/// (then its VIPs must not be cleared).
pub(super) async fn plan(setup: &mut Setup, options: &Options, netlink: &Netlink) -> bool {
    let Some(path) = record_path(options, &setup.config.name) else {
        return false;
    };
    let record = runstate::read(&path);
    setup.state_file = Some(path);
    let Some(record) = record else {
        return false;
    };
    if !matches_setup(&record, setup) || !all_in_place(setup, netlink).await {
        return false;
    }
    let adv = setup.config.advert_int;
    let silent = Duration::from_millis(record.age_ms());
    if !record.handoff && silent > 3 * adv + runstate::heartbeat(adv) {
        info!(
            "{}: our previous run was master, but {:.2} s ago: a backup has taken over; \
             clearing its VIPs and starting as usual",
            setup.config.name,
            silent.as_secs_f64()
        );
        return false;
    }
    let listen = listen_window(&record, setup.config.advert_int);
    info!(
        "{}: our previous run was master {:.2} s ago and its VIPs are still in place: keeping \
         them{}",
        setup.config.name,
        silent.as_secs_f64(),
        if listen.is_zero() {
            " (an in-place upgrade: master at once)".to_string()
        } else {
            format!(
                ", listening {:.2} s for a stronger master",
                listen.as_secs_f64()
            )
        }
    );
    setup.resume = Some(listen);
    true
}

/// Where instance `name` keeps its record: in the state directory, under the control
/// socket's name.
pub(super) fn record_path(options: &Options, name: &str) -> Option<PathBuf> {
    let dir = options.state_dir.as_deref()?;
    let tag = options
        .socket_path
        .file_name()
        .map_or_else(|| "vipd".into(), |n| n.to_string_lossy());
    Some(runstate::path_for(dir, &tag, name))
}

/// The record is this instance's, as master, with exactly its configured VIPs.
fn matches_setup(record: &Leftover, setup: &Setup) -> bool {
    record.master
        && record.vrid == setup.config.virtual_router_id
        && record.interface == setup.interface
        && !record.vips.is_empty()
        && record.vips.len() == setup.vips.len()
        && setup.vips.iter().all(|v| {
            record
                .vips
                .iter()
                .any(|l| l.addr == v.addr && l.prefix_len == v.prefix_len && l.dev == v.dev)
        })
}

async fn all_in_place(setup: &Setup, netlink: &Netlink) -> bool {
    for vip in &setup.vips {
        if !netlink
            .has_address(vip.ifindex, vip.addr)
            .await
            .unwrap_or(false)
        {
            return false;
        }
    }
    true
}

/// One advert interval and a quarter: a master that took over meanwhile advertises within
/// it, and a backup's Master_Down_Interval (three intervals and its skew) is not reached.
/// None after a fresh in-place upgrade.
fn listen_window(record: &Leftover, advert_int: Duration) -> Duration {
    if record.handoff && record.age_ms() < HANDOFF_FRESH_MS {
        Duration::ZERO
    } else {
        advert_int * 5 / 4
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_listen_window_is_one_and_a_quarter_intervals_or_none_after_a_fresh_handoff() {
        let mut record = Leftover::new(51, "eth0", true, Vec::new());
        let second = Duration::from_secs(1);
        assert_eq!(listen_window(&record, second), Duration::from_millis(1250));
        record.handoff = true;
        assert_eq!(listen_window(&record, second), Duration::ZERO);
        record.at_unix_ms -= HANDOFF_FRESH_MS + 1;
        assert_eq!(listen_window(&record, second), Duration::from_millis(1250));
    }
}
