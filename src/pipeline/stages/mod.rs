//! The stage kinds, one file each, and their registration. A new stage is one new file here and
//! one line in `KINDS` (docs/stages.md).
pub mod data;
pub mod distances;
pub mod dreams;
pub mod fid;
pub mod fid_real;
pub mod occlusion;
pub mod pca;
pub mod probe;
pub mod states;
pub mod train;

use super::stage::Kind;
pub use states::{final_states, networks, trained_states, untrained_states, Networks, State};

/// Every stage kind, in pipeline order: a kind's `plan` sees the nodes of the kinds before it,
/// and the report's sections follow this order.
pub static KINDS: &[&Kind] = &[
    &data::KIND,
    &train::KIND,
    &probe::KIND,
    &occlusion::KIND,
    &distances::KIND,
    &pca::KIND,
    &dreams::KIND,
    &fid_real::KIND,
    &fid::KIND,
];
