//! The frozen latent code z = E_z(x) of a set of images, optionally occluded first.
use crate::data::Images;
use crate::model::encoder::ZEncoder;
use crate::model::Encoder;
use ndarray::Array2;
use rayon::prelude::*;

/// Images per forward pass. Chunks are encoded in parallel, each by single-threaded-sized GEMMs
/// whose buffers stay in cache: measured on 1 thread, 64-image chunks ran 1.35x faster than
/// 500-image ones (whose im2col of conv2 alone is 131 MB), and z does not depend on the chunk
/// size to the bit (`tests::z_does_not_depend_on_chunking`).
const CHUNK: usize = 64;

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
    crate::engine::workers::on_worker(|| encode_chunked(enc, images, idx, &mask_of, CHUNK))
}

/// Every chunk of rows (`chunk_ranges`) encoded on its own, in parallel, into its rows of z.
fn encode_chunked(
    enc: &Encoder,
    images: Images,
    idx: &[usize],
    mask_of: &(impl Fn(usize) -> Option<Vec<f32>> + Sync),
    chunk: usize,
) -> Array2<f32> {
    let mut z = vec![0.0f32; idx.len() * enc.nz];
    let mut jobs = Vec::new();
    let mut rest = &mut z[..];
    for r in chunk_ranges(idx.len(), chunk) {
        let (rows, tail) = rest.split_at_mut(r.len() * enc.nz);
        jobs.push((r, rows));
        rest = tail;
    }
    let z_enc = enc.for_inference();
    jobs.into_par_iter().for_each(|(r, out)| encode_rows(&z_enc, images, &idx[r.clone()], r.start, mask_of, out));
    Array2::from_shape_vec((idx.len(), enc.nz), z).expect("one nz-row per image")
}

/// Row ranges of `chunk` rows, except that a last chunk of a single row joins the one before:
/// a one-column GEMM takes the kernel library's matrix-vector path, which rounds differently,
/// while every width from 2 up gives the same bits (`tests::z_does_not_depend_on_chunking`).
fn chunk_ranges(len: usize, chunk: usize) -> Vec<std::ops::Range<usize>> {
    let mut ranges: Vec<_> = (0..len).step_by(chunk).map(|s| s..(s + chunk).min(len)).collect();
    if ranges.len() >= 2 && ranges[ranges.len() - 1].len() == 1 {
        let last = ranges.pop().expect("two ranges");
        ranges.last_mut().expect("one range").end = last.end;
    }
    ranges
}

/// z of the images `rows` (result rows `start..start + rows.len()`) into `out`, row-major [rows, nz].
fn encode_rows(
    enc: &ZEncoder<'_>,
    images: Images,
    rows: &[usize],
    start: usize,
    mask_of: &(impl Fn(usize) -> Option<Vec<f32>> + Sync),
    out: &mut [f32],
) {
    let (mut x, xs) = images.batch(rows);
    let plane = xs.h * xs.w;
    for b in 0..rows.len() {
        if let Some(m) = mask_of(start + b) {
            // CNHW: image b's plane of channel ch is block (ch * n + b).
            for ch in 0..xs.c {
                let p = &mut x[(ch * xs.n + b) * plane..(ch * xs.n + b + 1) * plane];
                p.iter_mut().zip(&m).for_each(|(v, k)| *v *= k);
            }
        }
    }
    let z = enc.z(&x, xs);
    // z is [nz, n]: transpose into rows.
    let (n, nz) = (rows.len(), enc.nz());
    for j in 0..nz {
        for b in 0..n {
            out[b * nz + j] = z[j * n + b];
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::rng::Stream;
    use crate::model::{Heads, Network};
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

    /// Every probe, occlusion and distance number is made of these bytes: the chunk size (a speed
    /// setting) must not move one bit. Paper-size encoder; edge chunks of 1, 7 and 37 rows.
    #[test]
    fn z_does_not_depend_on_chunking() {
        let mut enc = Encoder::new(3);
        enc.init(&mut Stream::derive(5, "test-init", 0));
        let (_, data, _) = crate::eval::testutil::tiny(150, 3, 12);
        let images = Images::new(&data, 3).unwrap();
        let idx: Vec<usize> = (0..150).rev().collect();
        let mask = tile_mask(crate::data::SIDE, crate::data::SIDE, 0.3, 4, &mut Stream::derive(2, "t", 0));
        let mask_of = |r: usize| r.is_multiple_of(3).then(|| mask.clone());
        let bits = |z: Array2<f32>| z.iter().map(|v| v.to_bits()).collect::<Vec<u32>>();
        let reference = bits(encode_chunked(&enc, images, &idx, &mask_of, 500));
        // 149 leaves a one-row remainder (150 = 149 + 1), which must join the chunk before it.
        let sizes = (2..=80).chain([CHUNK, 149]);
        let bad: Vec<usize> =
            sizes.filter(|&c| bits(encode_chunked(&enc, images, &idx, &mask_of, c)) != reference).collect();
        assert!(bad.is_empty(), "chunk sizes whose z differs from one 150-row pass: {bad:?}");
        assert_eq!(chunk_ranges(150, 149), vec![0..150]);
        assert_eq!(chunk_ranges(129, 64), vec![0..64, 64..129]);
        assert_eq!(chunk_ranges(1, 64), vec![0..1]);
        // And forward_z is forward's z head.
        let (x, xs) = images.batch(&idx[..9]);
        assert_eq!(enc.forward_z(&x, xs), enc.forward(&x, xs, Heads { z: true, d: false }).z);
    }
}
