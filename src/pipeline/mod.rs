//! The pipeline: pipeline.toml, the stage units and their keys, the content-addressed cache, the
//! runner, status, the report, and `diff` (results compared across commits). Knows which stage
//! needs what, not how a stage computes.
pub mod cache;
pub mod claims;
pub mod cluster;
pub mod config;
pub mod diff;
pub mod error;
pub mod jobs;
pub mod plan;
pub mod progress;
pub mod report;
pub mod rows;
pub mod run;
pub mod slurm;
pub mod stage;
pub mod stages;
pub mod status;

pub use cache::Cache;
pub use config::Config;
pub use error::PipelineError;
pub use plan::Plan;
pub use stage::{Kind, Node};
