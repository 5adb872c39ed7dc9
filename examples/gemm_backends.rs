//! Compares the two GEMM backends single-threaded at the shapes PAD uses:
//!     cargo run --release --example gemm_backends
use std::time::Instant;
fn main() {
    for &(m, k, n) in &[
        (1024usize, 1024usize, 1024usize),
        (128, 1024, 4096),
        (256, 2048, 1024),
        (2048, 256, 1024),
        (64, 48, 16384),
        (256, 4096, 64),
    ] {
        let a = vec![0.5f32; m * k];
        let b = vec![0.25f32; k * n];
        let mut c = vec![0.0f32; m * n];
        let reps = 10;
        let t = Instant::now();
        for _ in 0..reps {
            unsafe {
                matrixmultiply::sgemm(
                    m,
                    k,
                    n,
                    1.0,
                    a.as_ptr(),
                    k as isize,
                    1,
                    b.as_ptr(),
                    n as isize,
                    1,
                    0.0,
                    c.as_mut_ptr(),
                    n as isize,
                    1,
                )
            }
        }
        let s1 = t.elapsed().as_secs_f64() / reps as f64;
        let t = Instant::now();
        for _ in 0..reps {
            unsafe {
                gemm::gemm(
                    m,
                    n,
                    k,
                    c.as_mut_ptr(),
                    1,
                    n as isize,
                    false,
                    a.as_ptr(),
                    1,
                    k as isize,
                    b.as_ptr(),
                    1,
                    n as isize,
                    0.0,
                    1.0,
                    false,
                    false,
                    false,
                    gemm::Parallelism::None,
                )
            }
        }
        let s2 = t.elapsed().as_secs_f64() / reps as f64;
        let f = 2.0 * (m * k * n) as f64 / 1e9;
        println!("{m}x{k}x{n}: matrixmultiply {:.1} GFLOP/s   gemm {:.1} GFLOP/s", f / s1, f / s2);
    }
}
