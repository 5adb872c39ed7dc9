//! Training: the conditions table, the three phases, occlusion masks, the epoch loop with
//! checkpoints and exact resume. Knows nothing of where data came from.
pub mod batches;
pub mod conditions;
pub mod error;
pub mod networks;
pub mod occlusion;
pub mod phases;
pub mod record;
pub mod run;

pub use conditions::{condition, conditions, Condition};
pub use error::TrainError;
pub use networks::Networks;
pub use phases::{IterationDraws, PadState, Phase, StepStats};
pub use record::{record, start_state, Recording};
pub use run::{train, RunReport, RunSpec};
