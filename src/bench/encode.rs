//! `pad bench --encode`: the speed of feature extraction, the encoder's forward pass to z that
//! every probe, occlusion sweep and distance stage runs over a whole dataset (eval::encode), as
//! images/s, GFLOP/s and share of the GEMM ceiling measured in the same run.
use super::layers::{gemm_ceiling, pad_layers};
use super::{random_images, time_ms, CHANNELS};
use crate::data::Images;
use crate::engine::rng::Stream;
use crate::model::{encoder::NF, Encoder, Network, NZ};
use serde::Serialize;

/// Images of a CIFAR-10 probe's feature extraction (50,000 train + 10,000 test).
pub const PROBE_IMAGES: usize = 60_000;

#[derive(Serialize, Clone, Debug)]
pub struct EncodeTime {
    pub threads: usize,
    pub images: usize,
    /// Median over repetitions of one eval::encode call over `images` images.
    pub ms: f64,
    pub images_per_s: f64,
    pub gflops: f64,
    /// engine::gemm on a `ceiling_n`^3 product, GFLOP/s (median).
    pub ceiling_gflops: f64,
    pub ceiling_n: usize,
    /// `ms` scaled to PROBE_IMAGES, in seconds.
    pub probe_features_s: f64,
}

/// Multiply-adds of the z path (conv1..conv4; no d head) for one image.
pub fn encoder_macs_per_image() -> f64 {
    pad_layers(CHANNELS, NF, NZ).iter().filter(|l| !l.transposed && l.name != "dis").map(|l| l.macs(1)).sum()
}

/// eval::encode of `images` random CIFAR-size images on `pool`, `reps` timed calls after a warm-up.
pub fn encode_rate(pool: &rayon::ThreadPool, images: usize, reps: usize, ceiling_n: usize) -> EncodeTime {
    pool.install(|| {
        let ceiling_gflops = gemm_ceiling(ceiling_n, reps);
        let data = random_images(images, "bench-encode");
        let set = Images::new(&data, CHANNELS).expect("whole images");
        let mut enc = Encoder::with_size(CHANNELS, NF, NZ);
        enc.init(&mut Stream::derive(0, "bench-encode-init", 0));
        let ms = time_ms(reps, || drop(crate::eval::encode(&enc, set, None)));
        EncodeTime {
            threads: pool.current_num_threads(),
            images,
            ms,
            images_per_s: images as f64 / ms * 1e3,
            gflops: 2.0 * encoder_macs_per_image() * images as f64 / ms / 1e6,
            ceiling_gflops,
            ceiling_n,
            probe_features_s: ms * PROBE_IMAGES as f64 / images as f64 / 1e3,
        }
    })
}

#[cfg(test)]
mod tests {
    /// conv1..conv4 at batch 1: 48x64x256 + 1024x128x64 + 2048x256x16 + 4096x256x1 multiply-adds.
    #[test]
    fn encoder_account_is_the_four_trunk_and_z_layers() {
        let want = (48 * 64 * 256 + 1024 * 128 * 64 + 2048 * 256 * 16 + 4096 * 256) as f64;
        assert_eq!(super::encoder_macs_per_image(), want);
    }
}
