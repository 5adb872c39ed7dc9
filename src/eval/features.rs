//! The frozen latent code z = E_z(x) of a set of images, optionally occluded first.
use crate::data::Images;
use crate::model::{Encoder, Heads};
use ndarray::Array2;

/// Images per forward pass: large enough for efficient GEMMs, small enough to bound memory.
const CHUNK: usize = 500;

/// z for every image, as an [N, nz] array. `mask` ([32*32], 1 keep / 0 grey) occludes every image.
pub fn encode(enc: &Encoder, images: Images, mask: Option<&[f32]>) -> Array2<f32> {
    let idx: Vec<usize> = (0..images.n).collect();
    encode_selected(enc, images, &idx, |_| mask.map(<[f32]>::to_vec))
}

/// z for the images at `idx` (row r of the result is image idx[r]). `mask_of(r)` gives row r's
/// own occlusion mask ([32*32], 1 keep / 0 grey), or None to leave it clean. A per-row function,
/// not one mask per chunk, so results do not depend on how rows are chunked.
/// Runs on a worker of the current rayon pool (see engine::workers).
pub fn encode_selected(
    enc: &Encoder,
    images: Images,
    idx: &[usize],
    mask_of: impl Fn(usize) -> Option<Vec<f32>> + Sync,
) -> Array2<f32> {
    crate::engine::workers::on_worker(|| encode_here(enc, images, idx, &mask_of))
}

fn encode_here(
    enc: &Encoder,
    images: Images,
    idx: &[usize],
    mask_of: &(impl Fn(usize) -> Option<Vec<f32>> + Sync),
) -> Array2<f32> {
    let mut z = Array2::<f32>::zeros((idx.len(), enc.nz));
    for (c, chunk) in idx.chunks(CHUNK).enumerate() {
        let start = c * CHUNK;
        let (mut x, xs) = images.batch(chunk);
        let plane = xs.h * xs.w;
        for b in 0..chunk.len() {
            if let Some(m) = mask_of(start + b) {
                // CNHW: image b's plane of channel ch is block (ch * n + b).
                for ch in 0..xs.c {
                    let p = &mut x[(ch * xs.n + b) * plane..(ch * xs.n + b + 1) * plane];
                    p.iter_mut().zip(&m).for_each(|(v, k)| *v *= k);
                }
            }
        }
        let pass = enc.forward(&x, xs, Heads { z: true, d: false });
        // pass.z is [nz, n]: transpose into rows.
        let n = chunk.len();
        for j in 0..enc.nz {
            for b in 0..n {
                z[[start + b, j]] = pass.z[j * n + b];
            }
        }
    }
    z
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::rng::Stream;
    use crate::train::occlusion::{apply_mask, tile_mask};

    #[test]
    fn selected_rows_with_per_row_masks_match_direct_forward_passes() {
        let (enc, data, _) = crate::eval::testutil::tiny(7, 3, 11);
        let images = Images::new(&data, 3).unwrap();
        let idx = [5, 0, 3];
        let masks: Vec<Vec<f32>> = (0..3)
            .map(|k| tile_mask(crate::data::SIDE, crate::data::SIDE, 0.5, 4, &mut Stream::derive(1, "t", k)))
            .collect();
        let z = encode_selected(&enc, images, &idx, |r| (r != 1).then(|| masks[r].clone()));
        for (r, &i) in idx.iter().enumerate() {
            let (mut x, xs) = images.batch(&[i]);
            if r != 1 {
                apply_mask(&mut x, &masks[r]);
            }
            let direct = enc.forward(&x, xs, Heads { z: true, d: false }).z;
            let row: Vec<f32> = z.row(r).to_vec();
            assert!(
                row.iter().zip(&direct).all(|(a, b)| (a - b).abs() <= 1e-5 * (1.0 + b.abs())),
                "row {r}: {row:?} vs {direct:?}"
            );
        }
        assert_ne!(z.row(0), encode(&enc, images, None).row(5));
    }
}
