//! Evaluation of trained networks: frozen features and the linear probe.
pub mod features;
pub mod fid;
pub mod fid_cli;
pub mod inception;
pub mod probe;

pub use features::encode;
pub use probe::{linear_probe, ProbeConfig, ProbeEpoch};
