//! im2col_cols on Inception's geometries at its batch of 2, in the column ranges
//! engine::implicit_gemm asks for (its tiles and pieces): ms per convolution's columns and GB/s
//! written, best of 5. `cargo run --release --example column_ranges`.
use pad::engine::im2col::{im2col_cols, Patches, RectSpec};
use std::mem::MaybeUninit;
use std::time::Instant;

fn main() {
    let r = |kh, kw, sh, ph, pw| RectSpec { kh, kw, sh, sw: sh, ph, pw };
    let cases: Vec<(&str, Patches, usize)> = vec![
        ("6 7x1", Patches::rect(160, 2, 17, 17, r(7, 1, 1, 3, 0)), 80),
        ("6 1x7", Patches::rect(160, 2, 17, 17, r(1, 7, 1, 0, 3)), 80),
        ("5 3x3", Patches::rect(64, 2, 35, 35, r(3, 3, 1, 1, 1)), 160),
        ("5 5x5", Patches::rect(48, 2, 35, 35, r(5, 5, 1, 2, 2)), 160),
        ("2b 3x3", Patches::rect(32, 2, 147, 147, r(3, 3, 1, 1, 1)), 448),
        ("6a 3x3s2", Patches::rect(288, 2, 35, 35, r(3, 3, 2, 0, 0)), 160),
        ("7 1x3", Patches::rect(384, 2, 8, 8, r(1, 3, 1, 0, 1)), 64),
    ];
    let mut total = 0.0;
    for (name, g, w) in cases {
        let x: Vec<f32> = (0..g.image_len()).map(|i| (i % 977) as f32).collect();
        let mut out: Vec<MaybeUninit<f32>> = vec![MaybeUninit::new(0.0); g.rows() * w];
        let n = g.cols();
        let reps = (200_000_000 / (g.rows() * n)).max(3);
        let mut best = f64::MAX;
        for _ in 0..5 {
            let t = Instant::now();
            for _ in 0..reps {
                for j0 in (0..n).step_by(w) {
                    let width = w.min(n - j0);
                    im2col_cols(&g, &x, j0..j0 + width, &mut out[..g.rows() * width]);
                }
            }
            best = best.min(t.elapsed().as_secs_f64() / reps as f64);
        }
        let bytes = (g.rows() * n * 4) as f64;
        total += best;
        println!("{name:10} {:8.3} ms  {:6.1} GB/s written", best * 1e3, bytes / best / 1e9);
    }
    println!("sum {:.3} ms", total * 1e3);
}
