//! The frozen latent code z = E_z(x) of a set of images, optionally occluded first.
use crate::model::{Encoder, Heads};
use crate::train::Images;
use ndarray::Array2;

/// Images per forward pass: large enough for efficient GEMMs, small enough to bound memory.
const CHUNK: usize = 500;

/// z for every image, as an [N, nz] array. `mask` ([32*32], 1 keep / 0 grey) occludes every image.
pub fn encode(enc: &Encoder, images: Images, mask: Option<&[f32]>) -> Array2<f32> {
    let mut z = Array2::<f32>::zeros((images.n, enc.nz));
    let mut start = 0;
    while start < images.n {
        let end = (start + CHUNK).min(images.n);
        let idx: Vec<usize> = (start..end).collect();
        let (mut x, xs) = images.batch(&idx);
        if let Some(m) = mask {
            crate::train::occlusion::apply_mask(&mut x, m);
        }
        let pass = enc.forward(&x, xs, Heads { z: true, d: false });
        // pass.z is [nz, n]: transpose into rows.
        let n = end - start;
        for j in 0..enc.nz {
            for b in 0..n {
                z[[start + b, j]] = pass.z[j * n + b];
            }
        }
        start = end;
    }
    z
}
