//! Training: the conditions table, the three phases, occlusion masks, the epoch loop with
//! checkpoints and exact resume. Knows nothing of where data came from.
pub mod conditions;
pub mod occlusion;
pub mod phases;

pub use conditions::{condition, Condition, CONDITIONS};
pub use phases::{IterationDraws, PadState, Phase, StepStats};
