pub mod atomic;
pub mod engine;
pub mod model;
pub mod train;
