//! VIPs an earlier run left on the host (a `kill -9` leaves them where they were): removed at
//! startup, as keepalived does, before an instance decides whether to hold them again.

use tracing::{info, warn};

use super::BoundVip;
use crate::net::addr::Netlink;

/// Removes every one of `vips` (of instance `instance`) that is on its interface now.
pub async fn clear_stale(instance: &str, vips: &[BoundVip], netlink: &Netlink) {
    for vip in vips {
        match netlink
            .del_address(vip.ifindex, vip.addr, vip.prefix_len)
            .await
        {
            Ok(true) => info!(
                "{instance}: removed {}/{} from {}, left there by an earlier run",
                vip.addr, vip.prefix_len, vip.dev
            ),
            Ok(false) => {}
            Err(e) => warn!("{instance}: could not clear {}: {e}", vip.addr),
        }
    }
}
