//! The PAD networks with the authors' parameter names and layouts, and checkpoint I/O.
//! Knows nothing of datasets or stages.
pub mod checkpoint;
pub mod encoder;
pub mod error;
pub mod generator;
pub mod param;

pub use encoder::{Encoder, Heads, NF, NZ};
pub use error::ModelError;
pub use generator::Generator;
pub use param::{ConvLayer, Network, Param};
#[cfg(test)]
mod tests;
