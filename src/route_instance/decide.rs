//! What a route instance should do, from its health and the operator's wishes: pure, no clock,
//! no kernel. The driver asks after every change and carries the answer out.

use std::fmt;

/// Where a route instance is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RouteState {
    /// Not started yet.
    Init,
    /// Routes in the table with the metric of the effective priority.
    Announcing,
    /// Routes withdrawn by `vipctl maintenance on`; addresses kept.
    Maintenance,
    /// Routes withdrawn because a tracked check demands FAULT; addresses kept.
    Fault,
    /// Stopping (SIGTERM, or a reload removed it): routes withdrawn, the addresses go after
    /// withdraw_delay.
    Stopping,
}

impl RouteState {
    /// How status, logs and `vipctl watch` name it.
    pub fn as_str(self) -> &'static str {
        match self {
            RouteState::Init => "INIT",
            RouteState::Announcing => "ANNOUNCING",
            RouteState::Maintenance => "WITHDRAWN",
            RouteState::Fault => "FAULT",
            RouteState::Stopping => "STOPPING",
        }
    }
}

impl fmt::Display for RouteState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What the instance's checks say now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Health {
    /// The effective priority (1..=255).
    pub priority: u8,
    /// A tracked check demands FAULT.
    pub fault: bool,
}

/// The state to be in: FAULT before maintenance (both withdraw; FAULT says more), stopping
/// before either.
pub fn decide(health: Health, maintenance: bool, stopping: bool) -> RouteState {
    if stopping {
        RouteState::Stopping
    } else if health.fault || health.priority == 0 {
        RouteState::Fault
    } else if maintenance {
        RouteState::Maintenance
    } else {
        RouteState::Announcing
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEALTHY: Health = Health {
        priority: 150,
        fault: false,
    };
    const FAILED: Health = Health {
        priority: 150,
        fault: true,
    };

    #[test]
    fn healthy_announces_and_anything_else_withdraws() {
        assert_eq!(decide(HEALTHY, false, false), RouteState::Announcing);
        assert_eq!(decide(HEALTHY, true, false), RouteState::Maintenance);
        assert_eq!(decide(FAILED, false, false), RouteState::Fault);
        let zero = Health {
            priority: 0,
            fault: false,
        };
        assert_eq!(decide(zero, false, false), RouteState::Fault);
        assert_eq!(RouteState::Maintenance.to_string(), "WITHDRAWN");
    }

    #[test]
    fn fault_outranks_maintenance_and_stopping_outranks_both() {
        assert_eq!(decide(FAILED, true, false), RouteState::Fault);
        for (h, m) in [
            (HEALTHY, false),
            (HEALTHY, true),
            (FAILED, false),
            (FAILED, true),
        ] {
            assert_eq!(decide(h, m, true), RouteState::Stopping);
        }
    }
}
