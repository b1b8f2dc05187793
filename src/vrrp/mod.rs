//! VRRP: wire format, state machine, and the per-instance driver with its kernel doors.

pub mod doors;
pub mod fsm;
pub mod instance;
pub mod packet;
