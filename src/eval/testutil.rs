//! Helpers for the evaluation layer's tests.
use crate::data::PLANE;
use crate::engine::rng::Stream;
use crate::model::{Encoder, Network};

/// A small random encoder and random images with labels, for tests of the evaluation layer.
pub(crate) fn tiny(n: usize, channels: usize, seed: u64) -> (Encoder, Vec<u8>, Vec<u8>) {
    let mut enc = Encoder::with_size(channels, 4, 8);
    enc.init(&mut Stream::derive(seed, "test-init", 0));
    let mut rng = Stream::derive(seed, "test-images", 0);
    let data: Vec<u8> = (0..n * channels * PLANE).map(|_| rng.int_inclusive(0, 255) as u8).collect();
    let labels: Vec<u8> = (0..n).map(|i| (i % 3) as u8).collect();
    (enc, data, labels)
}
