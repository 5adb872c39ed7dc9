//! FID of dreams (Fig. 3d): Inception statistics of NREM dreams G(E(x)) and REM dreams
//! G(0.25 E(x) + 0.25 E(x') + 0.5 n), and of real training images, as fig6_compute_FID.py makes
//! them — except that the images are drawn by seeded shuffles (not fresh DataLoader shuffles),
//! so every value can be recomputed to the bit.
//!
//! Which images: real images are the first `n` of the "eval-fid-real" shuffle of the set; NREM
//! dreams come from the first `n` of the "eval-fid-nrem" shuffle (so not the same images as the
//! real side, as in the authors' script); REM dreams mix the first `n` images of the
//! "eval-fid-rem-a" and "eval-fid-rem-b" shuffles with noise from "eval-fid-rem-noise" (one
//! stream per batch). With n larger than the set, shuffles repeat (a fresh shuffle per pass).
use super::error::EvalError;
use super::fid::{Stats, StatsBuilder};
use super::inception::{InceptionV3, DIM};
use crate::data::Images;
use crate::engine::rng::Stream;
use crate::model::{Encoder, Generator, Heads};
use serde::{Deserialize, Serialize};

/// Images per generator/encoder pass and per Inception pass.
pub const CHUNK: usize = 50;

/// What is fed to the Inception network.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DreamKind {
    Nrem,
    Rem,
}

impl DreamKind {
    pub const ALL: [DreamKind; 2] = [DreamKind::Nrem, DreamKind::Rem];

    pub fn name(self) -> &'static str {
        match self {
            DreamKind::Nrem => "nrem",
            DreamKind::Rem => "rem",
        }
    }
}

/// `n` image indices from the `purpose` shuffles of `0..len` (one more shuffle per pass when
/// `n > len`).
pub fn sample_indices(len: usize, n: usize, seed: u64, purpose: &str) -> Vec<usize> {
    let mut out = Vec::with_capacity(n);
    let mut pass = 0u64;
    while out.len() < n && len > 0 {
        let mut order: Vec<usize> = (0..len).collect();
        Stream::derive(seed, purpose, pass).shuffle(&mut order);
        out.extend(order.into_iter().take(n - out.len()));
        pass += 1;
    }
    out
}

fn add_features(
    b: &mut StatsBuilder,
    net: &InceptionV3,
    x: &[f32],
    channels: usize,
    n: usize,
) -> Result<(), EvalError> {
    let xs = crate::engine::Shape4 { c: channels, n, h: crate::data::SIDE, w: crate::data::SIDE };
    b.add(&net.pool3_cnhw(x, xs)?)
}

/// Statistics of `n` real images of the set.
pub fn real_stats(
    net: &InceptionV3,
    images: Images,
    n: usize,
    seed: u64,
    progress: &dyn Fn(usize),
) -> Result<Stats, EvalError> {
    super::fid::stats_of_selected(net, images, &sample_indices(images.n, n, seed, "eval-fid-real"), progress)
}

/// One chunk of dreams of `kind`, CNHW in [-1, 1]: images `a` (and `b` for REM), chunk number
/// `k` selecting the noise stream.
#[allow(clippy::too_many_arguments)] // each is an input of the measurement; a struct would only rename them
pub fn dream_chunk(
    enc: &Encoder,
    gen: &Generator,
    images: Images,
    kind: DreamKind,
    a: &[usize],
    b: &[usize],
    k: usize,
    seed: u64,
) -> Vec<f32> {
    let heads = Heads { z: true, d: false };
    let (xa, sa) = images.batch(a);
    let z = enc.forward(&xa, sa, heads).z;
    let latent = match kind {
        DreamKind::Nrem => z,
        DreamKind::Rem => {
            let (xb, sb) = images.batch(b);
            let z2 = enc.forward(&xb, sb, heads).z;
            let mut noise = vec![0.0f32; z.len()];
            Stream::derive(seed, "eval-fid-rem-noise", k as u64).fill_normal(&mut noise, 0.0, 1.0);
            super::dreams::rem_mixture(&z, &z2, &noise)
        }
    };
    gen.forward(&latent).x
}

/// Statistics of `n` dreams of `kind` generated from the set's images by (enc, gen).
#[allow(clippy::too_many_arguments)] // each is an input of the measurement; a struct would only rename them
pub fn dream_stats(
    net: &InceptionV3,
    enc: &Encoder,
    gen: &Generator,
    images: Images,
    kind: DreamKind,
    n: usize,
    seed: u64,
    progress: &dyn Fn(usize),
) -> Result<Stats, EvalError> {
    if enc.nz != gen.nz || enc.channels != images.channels || gen.channels != images.channels {
        return Err(EvalError::Input(format!(
            "encoder ({} ch, nz {}), generator ({} ch, nz {}) and images ({} ch) do not fit",
            enc.channels, enc.nz, gen.channels, gen.nz, images.channels
        )));
    }
    let (first, second) = match kind {
        DreamKind::Nrem => (sample_indices(images.n, n, seed, "eval-fid-nrem"), Vec::new()),
        DreamKind::Rem => {
            (sample_indices(images.n, n, seed, "eval-fid-rem-a"), sample_indices(images.n, n, seed, "eval-fid-rem-b"))
        }
    };
    let mut b = StatsBuilder::new(DIM);
    for (k, a) in first.chunks(CHUNK).enumerate() {
        let other = if second.is_empty() { &[][..] } else { &second[k * CHUNK..k * CHUNK + a.len()] };
        let x = dream_chunk(enc, gen, images, kind, a, other, k, seed);
        add_features(&mut b, net, &x, images.channels, a.len())?;
        progress(k * CHUNK + a.len());
    }
    b.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn samples_are_distinct_within_a_pass_and_repeat_across_passes() {
        let s = sample_indices(10, 25, 1, "p");
        assert_eq!(s.len(), 25);
        let mut first: Vec<usize> = s[..10].to_vec();
        first.sort();
        assert_eq!(first, (0..10).collect::<Vec<_>>());
        assert_ne!(s[..10], s[10..20], "each pass is a fresh shuffle");
        assert_eq!(s, sample_indices(10, 25, 1, "p"));
        assert_ne!(sample_indices(10, 10, 1, "p"), sample_indices(10, 10, 1, "q"));
        assert!(sample_indices(0, 5, 1, "p").is_empty());
    }

    #[test]
    fn nrem_dream_chunk_is_the_generator_of_the_codes_and_rem_adds_noise() {
        use crate::model::Network;
        let (enc, data, _) = crate::eval::testutil::tiny(6, 1, 2);
        let mut gen = Generator::with_size(1, 4, 8);
        gen.init(&mut Stream::derive(2, "test-init-g", 0));
        let images = Images::new(&data, 1).unwrap();
        let nrem = dream_chunk(&enc, &gen, images, DreamKind::Nrem, &[0, 1], &[], 0, 5);
        let (x, xs) = images.batch(&[0, 1]);
        let want = gen.forward(&enc.forward(&x, xs, Heads { z: true, d: false }).z).x;
        assert_eq!(nrem, want);
        let rem = dream_chunk(&enc, &gen, images, DreamKind::Rem, &[0, 1], &[2, 3], 0, 5);
        assert_eq!(rem.len(), nrem.len());
        assert_ne!(rem, nrem);
        // Same inputs, same chunk: same noise; another chunk number: other noise.
        assert_eq!(rem, dream_chunk(&enc, &gen, images, DreamKind::Rem, &[0, 1], &[2, 3], 0, 5));
        assert_ne!(rem, dream_chunk(&enc, &gen, images, DreamKind::Rem, &[0, 1], &[2, 3], 1, 5));
    }
}
