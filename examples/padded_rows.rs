//! The three GEMMs of a convolution layer on its column matrix, with the matrix's rows unpadded
//! (a power-of-two number of floats apart) and padded by one cache line (as im2col::Patches::ld
//! lays them out), alternating, medians; and a check that both give the same bytes. The weight gradient, whose packing reads down 64 rows at once, is what gains.
//!     cargo run --release --example padded_rows -- [threads]
use pad::engine::gemm::{gemm, MatRef};
use std::time::Instant;

fn filled(n: usize, seed: u32) -> Vec<f32> {
    (0..n).map(|i| ((i as u32).wrapping_mul(2654435761).wrapping_add(seed) >> 20) as f32 / 4096.0 - 0.5).collect()
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Forward (W·cols), weight gradient (dy·cols^T) and column gradient (W^T·dy) with the column
/// matrix's rows `ld` apart: milliseconds of each, and the bits of all three results.
fn products(cout: usize, k: usize, p: usize, ld: usize) -> ([f64; 3], Vec<u32>) {
    let plain = filled(k * p, 1);
    let mut cols = vec![0.0f32; k * ld];
    for (dst, src) in cols.chunks_mut(ld).zip(plain.chunks(p)) {
        dst[..p].copy_from_slice(src);
    }
    let (dy, w) = (filled(cout * p, 2), filled(cout * k, 3));
    let cm = MatRef { data: &cols, rows: k, cols: p, rs: ld, cs: 1 };
    let (dym, wm) = (MatRef::rm(&dy, cout, p), MatRef::rm(&w, cout, k));
    let (mut dw, mut y, mut dcols) = (vec![0.0f32; cout * k], vec![0.0f32; cout * p], vec![0.0f32; k * ld]);
    let mut ms = [0.0; 3];
    let mut time = |i: usize, f: &mut dyn FnMut()| {
        let t = Instant::now();
        f();
        ms[i] = 1e3 * t.elapsed().as_secs_f64();
    };
    time(0, &mut || gemm(dym, cm.t(), &mut dw, k, false));
    time(1, &mut || gemm(wm, cm, &mut y, p, false));
    time(2, &mut || gemm(wm.t(), dym, &mut dcols, ld, false));
    let rows = dcols.chunks(ld).flat_map(|r| r[..p].to_vec());
    (ms, dw.iter().chain(&y).copied().chain(rows).map(f32::to_bits).collect())
}

fn main() {
    let threads = std::env::args().nth(1).map_or(1, |s| s.parse().expect("threads: a number"));
    let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
    // (layer, output channels, kernel rows, positions) of PAD's column matrices at batch 64.
    let shapes = [("conv1", 64, 48, 16384), ("conv2", 128, 1024, 4096), ("conv3", 256, 2048, 1024)];
    pool.install(|| {
        for (name, cout, k, p) in shapes {
            let mut times = [vec![], vec![]];
            let mut bits = [vec![], vec![]];
            for _ in 0..7 {
                for (i, ld) in [p, p + 16].into_iter().enumerate() {
                    let (ms, b) = products(cout, k, p, ld);
                    times[i].push(ms);
                    bits[i] = b;
                }
            }
            assert_eq!(bits[0], bits[1], "{name}: padded rows changed the bytes");
            let med = |t: &[[f64; 3]], j: usize| median(t.iter().map(|m| m[j]).collect());
            println!(
                "{name} {threads} thread(s): dW {:.2} -> {:.2} ms, forward {:.2} -> {:.2}, dx {:.2} -> {:.2} (same bytes)",
                med(&times[0], 0),
                med(&times[1], 0),
                med(&times[0], 1),
                med(&times[1], 1),
                med(&times[0], 2),
                med(&times[1], 2),
            );
        }
    });
}
