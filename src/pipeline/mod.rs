//! The pipeline: pipeline.toml, stage keys, the content-addressed cache, the runner, status and
//! the report. Knows which stage needs what, not how a stage computes.
pub mod cache;
pub mod collect;
pub mod config;
pub mod error;
pub mod plan;
pub mod run;
pub mod stages;

pub use cache::Cache;
pub use config::Config;
pub use plan::{Plan, StageKind};
