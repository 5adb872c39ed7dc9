pub mod atomic;
pub mod data;
pub mod engine;
