//! `pad diff`: what changed in the science between two commits (or two results directories).
//! Every table of results/<profile>/ is compared row by row (tables), each change is judged
//! against the noise of the seeds (noise), and shown next to what changed in pipeline.toml
//! (config) and in the stages' versions (provenance); output.rs prints it as text, CSV, JSON or
//! Markdown.
pub mod changes;
pub mod compare;
pub mod config;
pub mod error;
pub mod noise;
pub mod output;
pub mod provenance;
pub mod run;
pub mod source;
pub mod table;
pub mod verdicts;

pub use changes::Diff;
pub use error::DiffError;
pub use output::Format;
pub use run::{diff, Options};
pub use source::Layout;
