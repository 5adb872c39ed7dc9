//! Evaluation of trained networks (Methods 4.4): frozen features, the paper's linear probe and a
//! closed-form ridge read-out beside it (Fig. 4), the occlusion sweep (Fig. 5), latent distances
//! and PCA (Fig. 6), dreams (Fig. 3), and their FID (Fig. 3d): Inception-v3 on pad's engine, the
//! statistics and the Fréchet distance in f64. standalone.rs runs each on one checkpoint.
pub mod distances;
pub mod dream_fid;
pub mod dreams;
pub mod error;
pub mod features;
pub mod fid;
pub mod fid_sets;
pub mod inception;
pub mod linalg;
pub mod occlusion;
pub mod pca;
pub mod probe;
pub mod ridge;
pub mod standalone;
#[cfg(test)]
mod testutil;

pub use distances::{latent_distances, DistanceConfig, Distances};
pub use dreams::{dreams, DreamConfig, Dreams};
pub use error::EvalError;
pub use features::{encode, encode_selected};
pub use occlusion::{occlusion_curve, occlusion_sweep, SweepConfig, SweepRow};
pub use pca::{pca_projection, PcaConfig, PcaProjection};
pub use probe::{history_csv, linear_probe, ProbeConfig, ProbeEpoch};
pub use ridge::{ridge_fit, ridge_predict, ridge_readout, Ridge, RidgeScore};
pub use standalone::{ProbeOptions, SplitOptions, Subject};
