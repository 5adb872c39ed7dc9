//! pad: perturbed and adversarial dreaming (Deperrois et al., eLife 2022) on CPUs.
//! Layers, each depending only on those above it: engine, model, train, data, eval, pipeline,
//! report (see README.md).
pub mod atomic;
pub mod bench;
pub mod data;
pub mod engine;
pub mod eval;
pub mod model;
pub mod pipeline;
pub mod report;
pub mod train;
