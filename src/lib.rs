//! pad: perturbed and adversarial dreaming (Deperrois et al., eLife 2022) on CPUs.
//! Layers, each depending only on those before it: engine, files (atomic writes, file errors,
//! hashing, safetensors), data, model, train, eval, report, pipeline; the commands (bench, the
//! cli) on top. tests/layering.rs checks the order and that no files import each other in a
//! circle.
pub mod bench;
pub mod data;
pub mod engine;
pub mod eval;
pub mod files;
pub mod model;
pub mod pipeline;
pub mod report;
pub mod train;
