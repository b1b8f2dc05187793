//! VRRP: wire format, state machine, and the per-instance driver.

pub mod fsm;
pub mod instance;
pub mod packet;
