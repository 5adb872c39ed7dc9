pub mod atomic;
pub mod bench;
pub mod data;
pub mod engine;
pub mod eval;
pub mod model;
pub mod report;
pub mod train;
