//! From stored u8 images to the network's input: shuffled mini-batches in CNHW float32.
use crate::engine::rng::Stream;
use crate::engine::Shape4;

/// Images as the data layer stores them: u8 [N, C, 32, 32].
#[derive(Clone, Copy)]
pub struct Images<'a> {
    pub data: &'a [u8],
    pub n: usize,
    pub channels: usize,
}

pub const SIDE: usize = 32;

impl<'a> Images<'a> {
    pub fn new(data: &'a [u8], channels: usize) -> Result<Self, String> {
        let per = channels * SIDE * SIDE;
        if channels == 0 || data.len() % per != 0 {
            return Err(format!("{} bytes is not a whole number of {channels}x32x32 images", data.len()));
        }
        Ok(Images { data, n: data.len() / per, channels })
    }

    /// The first `n` images (all of them if there are fewer).
    pub fn prefix(&self, n: usize) -> Images<'a> {
        let n = n.min(self.n);
        Images { data: &self.data[..n * self.channels * SIDE * SIDE], n, channels: self.channels }
    }

    /// The images at `idx` as CNHW floats in [-1, 1], computed as torchvision's ToTensor then
    /// Normalize(0.5, 0.5): (v / 255 - 0.5) / 0.5 in float32.
    pub fn batch(&self, idx: &[usize]) -> (Vec<f32>, Shape4) {
        let plane = SIDE * SIDE;
        let per = self.channels * plane;
        let mut x = vec![0.0f32; idx.len() * per];
        for c in 0..self.channels {
            for (b, &i) in idx.iter().enumerate() {
                let src = &self.data[i * per + c * plane..i * per + (c + 1) * plane];
                let dst = &mut x[(c * idx.len() + b) * plane..(c * idx.len() + b + 1) * plane];
                for (d, &v) in dst.iter_mut().zip(src) {
                    *d = (v as f32 / 255.0 - 0.5) / 0.5;
                }
            }
        }
        (x, Shape4 { c: self.channels, n: idx.len(), h: SIDE, w: SIDE })
    }
}

/// The epoch's order of examples: a Fisher-Yates shuffle from the epoch's "shuffle" stream.
/// Mini-batches are consecutive `batch`-sized runs of it; the last partial one is dropped.
pub fn epoch_order(seed: u64, epoch: usize, n: usize) -> Vec<usize> {
    let mut order: Vec<usize> = (0..n).collect();
    Stream::derive(seed, "shuffle", epoch as u64).shuffle(&mut order);
    order
}
