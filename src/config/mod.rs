//! Configuration: loaders for keepalived.conf and TOML that build one validated [`Config`].

pub mod model;

pub use model::{Config, InitialState, VirtualIp, VrrpInstance};
