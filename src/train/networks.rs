//! The networks an evaluation looks at: a checkpoint's, or the untrained ones of a seed.
use super::run::init_state;
use crate::model::checkpoint::read_file;
use crate::model::{Encoder, Generator, ModelError, NF, NZ};
use std::path::Path;

/// Where the networks come from: a checkpoint (pad's epoch-NNNN.safetensors or the PyTorch
/// peer's), or init_state(seed) at the paper's sizes, bit-identical to every run's
/// epoch-0000 checkpoint of that seed.
#[derive(Clone, Copy, Debug)]
pub enum Networks<'a> {
    Checkpoint(&'a Path),
    Untrained { seed: u64 },
}

impl<'a> Networks<'a> {
    /// The checkpoint if there is one, else the untrained networks of `seed`.
    pub fn new(checkpoint: Option<&'a Path>, seed: u64) -> Self {
        checkpoint.map_or(Networks::Untrained { seed }, Networks::Checkpoint)
    }

    /// The encoder alone (a file holding only an encoder is enough).
    pub fn encoder(self, channels: usize) -> Result<Encoder, ModelError> {
        match self {
            Networks::Checkpoint(p) => read_file(p)?.encoder(p),
            Networks::Untrained { seed } => Ok(init_state(seed, channels, NF, NZ).enc),
        }
    }

    /// Encoder and generator.
    pub fn both(self, channels: usize) -> Result<(Encoder, Generator), ModelError> {
        match self {
            Networks::Checkpoint(p) => {
                let f = read_file(p)?;
                Ok((f.encoder(p)?, f.generator(p)?))
            }
            Networks::Untrained { seed } => {
                let s = init_state(seed, channels, NF, NZ);
                Ok((s.enc, s.gen))
            }
        }
    }
}
