//! The order of examples in an epoch (mini-batches are cut from the data layer's `Images`).
use crate::engine::rng::Stream;

/// The epoch's order of examples: a Fisher-Yates shuffle from the epoch's "shuffle" stream.
/// Mini-batches are consecutive `batch`-sized runs of it; the last partial one is dropped.
pub fn epoch_order(seed: u64, epoch: usize, n: usize) -> Vec<usize> {
    let mut order: Vec<usize> = (0..n).collect();
    Stream::derive(seed, "shuffle", epoch as u64).shuffle(&mut order);
    order
}
