pub mod atomic;
pub mod bench;
pub mod engine;
pub mod eval;
pub mod model;
pub mod train;
