//! Stored u8 images as the network's input: CNHW float32 batches in [-1, 1].
use super::{DataError, PLANE, SIDE};
use crate::engine::Shape4;

/// A set of images as the data layer stores them: u8 [N, C, 32, 32], borrowed.
#[derive(Clone, Copy)]
pub struct Images<'a> {
    pub data: &'a [u8],
    pub n: usize,
    pub channels: usize,
}

impl<'a> Images<'a> {
    pub fn new(data: &'a [u8], channels: usize) -> Result<Self, DataError> {
        let per = channels * PLANE;
        if channels == 0 || !data.len().is_multiple_of(per) {
            return Err(DataError::ImageBytes { len: data.len(), channels });
        }
        Ok(Images { data, n: data.len() / per, channels })
    }

    /// The first `n` images (all of them if there are fewer).
    pub fn prefix(&self, n: usize) -> Images<'a> {
        let n = n.min(self.n);
        Images { data: &self.data[..n * self.channels * PLANE], n, channels: self.channels }
    }

    /// The images at `idx` as CNHW floats in [-1, 1], computed as torchvision's ToTensor then
    /// Normalize(0.5, 0.5): (v / 255 - 0.5) / 0.5 in float32.
    pub fn batch(&self, idx: &[usize]) -> (Vec<f32>, Shape4) {
        let per = self.channels * PLANE;
        let mut x = vec![0.0f32; idx.len() * per];
        for c in 0..self.channels {
            for (b, &i) in idx.iter().enumerate() {
                let src = &self.data[i * per + c * PLANE..i * per + (c + 1) * PLANE];
                let dst = &mut x[(c * idx.len() + b) * PLANE..(c * idx.len() + b + 1) * PLANE];
                for (d, &v) in dst.iter_mut().zip(src) {
                    *d = (v as f32 / 255.0 - 0.5) / 0.5;
                }
            }
        }
        (x, Shape4 { c: self.channels, n: idx.len(), h: SIDE, w: SIDE })
    }
}
