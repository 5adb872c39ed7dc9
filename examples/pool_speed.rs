//! Inception's pools at its batch of 2 on one thread: the branch pools (3 x 3, stride 1,
//! padding 1; average with TensorFlow's rule, and Mixed_7c's max) and the stem's and reduction
//! blocks' max pools (3 x 3, stride 2): ms per pool and ns per output, best of 5.
//! `cargo run --release --example pool_speed`.
use pad::engine::pool::{avg_pool2d, max_pool2d, PoolSpec};
use pad::engine::Shape4;
use std::time::Instant;

fn main() {
    let same = PoolSpec { k: 3, stride: 1, pad: 1 };
    let down = PoolSpec { k: 3, stride: 2, pad: 0 };
    // (what, channels, side, window, average?)
    let cases = [
        ("Mixed_5b-d avg", 288, 35, same, true),
        ("Mixed_6b-e avg", 768, 17, same, true),
        ("Mixed_7b avg", 1280, 8, same, true),
        ("Mixed_7c max", 2048, 8, same, false),
        ("stem max", 64, 147, down, false),
        ("Mixed_6a max", 288, 35, down, false),
    ];
    let pool = rayon::ThreadPoolBuilder::new().num_threads(1).build().expect("a thread pool");
    let mut total = 0.0;
    for (what, c, side, spec, avg) in cases {
        let xs = Shape4 { c, n: 2, h: side, w: side };
        let x: Vec<f32> = (0..xs.len()).map(|i| ((i * 7919) % 1000) as f32 * 0.001 - 0.5).collect();
        let outputs = spec.out_shape(xs).expect("the window fits").len();
        let mut best = f64::MAX;
        for _ in 0..5 {
            let t = Instant::now();
            for _ in 0..20 {
                pool.install(|| {
                    let y = if avg { avg_pool2d(&x, xs, spec, false) } else { max_pool2d(&x, xs, spec) };
                    std::hint::black_box(y);
                });
            }
            best = best.min(t.elapsed().as_secs_f64() * 1e3 / 20.0);
        }
        total += best;
        println!(
            "{what:16} {c:5} x 2 x {side:3} x {side:<3} {best:7.3} ms  {:5.2} ns/output",
            best * 1e6 / outputs as f64
        );
    }
    println!("{:16} {total:29.3} ms", "all");
}
