//! Seeded random streams, one per purpose.
//!
//! A stream is a PCG-64 (rand_pcg::Pcg64) whose state and increment are the first 32 bytes of
//! sha256("pad-rng-v1", seed, purpose, index). Purposes are names ("init", "shuffle", "noise",
//! "occlusion", ...) and `index` separates e.g. epochs, so drawing more from one purpose never
//! shifts another, and any epoch's stream can be rebuilt from (seed, epoch) alone, which is what
//! makes resuming exact. Normal deviates use Box-Muller with the pure-Rust `libm`, so the bytes do
//! not depend on the platform's C library.
use rand_core::RngCore;
use rand_pcg::Pcg64;
use rayon::prelude::*;
use sha2::{Digest, Sha256};

/// Normal deviates per parallel piece of `fill_normal`: even, so every piece starts on a pair.
const NORMALS_PER_PIECE: usize = 2048;

pub struct Stream {
    pcg: Pcg64,
}

impl Stream {
    pub fn derive(seed: u64, purpose: &str, index: u64) -> Self {
        let mut h = Sha256::new();
        h.update(b"pad-rng-v1\0");
        h.update(seed.to_le_bytes());
        h.update((purpose.len() as u64).to_le_bytes());
        h.update(purpose.as_bytes());
        h.update(index.to_le_bytes());
        let d = h.finalize();
        let state = u128::from_le_bytes(d[0..16].try_into().unwrap());
        let inc = u128::from_le_bytes(d[16..32].try_into().unwrap());
        Stream { pcg: Pcg64::new(state, inc) }
    }

    pub fn next_u64(&mut self) -> u64 {
        self.pcg.next_u64()
    }

    /// Uniform in [0, 1) with 53 random bits.
    pub fn uniform(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// Uniform integer in [lo, hi] (inclusive), without modulo bias.
    pub fn int_inclusive(&mut self, lo: u64, hi: u64) -> u64 {
        let span = hi - lo + 1;
        let zone = u64::MAX - (u64::MAX % span) - 1;
        loop {
            let v = self.next_u64();
            if v <= zone {
                return lo + v % span;
            }
        }
    }

    /// Fills `out` with N(mean, std^2) deviates (Box-Muller, pairs).
    pub fn fill_normal(&mut self, out: &mut [f32], mean: f32, std: f32) {
        // Each pair of outputs takes exactly two draws, so the pieces below start from copies of
        // the stream advanced to their first pair: the bytes of one serial pass, on any number of
        // threads (the training loop draws 32,768 of them per iteration).
        if out.len() <= NORMALS_PER_PIECE {
            return self.fill_normal_serial(out, mean, std);
        }
        let start = self.pcg.clone();
        out.par_chunks_mut(NORMALS_PER_PIECE).enumerate().for_each(|(i, piece)| {
            let mut s = Stream { pcg: start.clone() };
            s.pcg.advance((i * NORMALS_PER_PIECE) as u128);
            s.fill_normal_serial(piece, mean, std);
        });
        self.pcg.advance(2 * out.len().div_ceil(2) as u128);
    }

    /// Box-Muller, one pair of outputs from two draws; an odd last output drops its sine.
    fn fill_normal_serial(&mut self, out: &mut [f32], mean: f32, std: f32) {
        for pair in out.chunks_mut(2) {
            let u1 = 1.0 - self.uniform(); // (0, 1]
            let u2 = self.uniform();
            let r = libm::sqrt(-2.0 * libm::log(u1));
            let a = 2.0 * std::f64::consts::PI * u2;
            pair[0] = mean + std * (r * libm::cos(a)) as f32;
            if pair.len() > 1 {
                pair[1] = mean + std * (r * libm::sin(a)) as f32;
            }
        }
    }

    /// Fisher-Yates shuffle.
    pub fn shuffle<T>(&mut self, v: &mut [T]) {
        for i in (1..v.len()).rev() {
            let j = self.int_inclusive(0, i as u64) as usize;
            v.swap(i, j);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn purposes_and_indices_are_independent_and_reproducible() {
        let a: Vec<u64> = (0..4)
            .map({
                let mut s = Stream::derive(1, "noise", 0);
                move |_| s.next_u64()
            })
            .collect();
        let b: Vec<u64> = (0..4)
            .map({
                let mut s = Stream::derive(1, "noise", 0);
                move |_| s.next_u64()
            })
            .collect();
        let c: Vec<u64> = (0..4)
            .map({
                let mut s = Stream::derive(1, "occlusion", 0);
                move |_| s.next_u64()
            })
            .collect();
        let d: Vec<u64> = (0..4)
            .map({
                let mut s = Stream::derive(1, "noise", 1);
                move |_| s.next_u64()
            })
            .collect();
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert_ne!(a, d);
    }

    #[test]
    fn normal_deviates_have_unit_moments() {
        let mut s = Stream::derive(7, "noise", 0);
        let mut v = vec![0.0f32; 200_001];
        s.fill_normal(&mut v, 0.0, 1.0);
        let m = v.iter().map(|&x| x as f64).sum::<f64>() / v.len() as f64;
        let var = v.iter().map(|&x| (x as f64 - m).powi(2)).sum::<f64>() / v.len() as f64;
        assert!(m.abs() < 0.01 && (var - 1.0).abs() < 0.01, "mean {m} var {var}");
    }

    /// The pieces of a parallel fill give the bytes of one serial pass and leave the stream
    /// where the serial pass leaves it, for odd and even lengths and any thread count.
    #[test]
    fn a_parallel_fill_is_the_serial_fill() {
        for len in [1, 2, 2047, 2048, 2049, 4096, 32_768, 10_001] {
            let mut serial = Stream::derive(5, "noise", 3);
            let mut want = vec![0.0f32; len];
            serial.fill_normal_serial(&mut want, 0.5, 2.0);
            let next = serial.next_u64();
            for threads in [1, 2, 3] {
                let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
                let mut s = Stream::derive(5, "noise", 3);
                let mut got = vec![0.0f32; len];
                pool.install(|| s.fill_normal(&mut got, 0.5, 2.0));
                let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
                assert!(bits(&got) == bits(&want), "{len} normals on {threads} threads");
                assert_eq!(s.next_u64(), next, "stream after {len} normals");
            }
        }
    }

    #[test]
    fn shuffle_is_a_permutation_and_ints_stay_in_range() {
        let mut s = Stream::derive(3, "shuffle", 0);
        let mut v: Vec<u32> = (0..1000).collect();
        s.shuffle(&mut v);
        let mut w = v.clone();
        w.sort();
        assert_eq!(w, (0..1000).collect::<Vec<_>>());
        assert_ne!(v, w);
        for _ in 0..1000 {
            let t = s.int_inclusive(1, 8);
            assert!((1..=8).contains(&t));
        }
    }
}
