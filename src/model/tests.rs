//! The networks' engine::direct middles against their im2col + GEMM form (which the golden tests
//! hold to PyTorch), and their bytes across thread counts.
use super::{Encoder, Generator, Heads, Network};
use crate::engine::rng::Stream;
use crate::engine::Shape4;

/// The smallest networks whose middle layers run on engine::direct: 16 base filters.
const NF: usize = 16;
const NZ: usize = 32;
const N: usize = 3;

fn networks(gemm_middle: bool) -> (Encoder, Generator) {
    let (mut e, mut g) = (Encoder::with_size(3, NF, NZ), Generator::with_size(3, NF, NZ));
    e.init(&mut Stream::derive(1, "test-init", 0));
    g.init(&mut Stream::derive(1, "test-init", 1));
    e.gemm_middle = gemm_middle;
    g.gemm_middle = gemm_middle;
    (e, g)
}

fn noise(len: usize, index: u64) -> Vec<f32> {
    let mut v = vec![0.0; len];
    Stream::derive(2, "test-data", index).fill_normal(&mut v, 0.0, 1.0);
    v
}

/// E's z, d and image gradient, G's image and latent gradient, then every parameter gradient.
fn one_pass(gemm_middle: bool) -> Vec<Vec<f32>> {
    let (mut e, mut g) = networks(gemm_middle);
    let xs = Shape4 { c: 3, n: N, h: 32, w: 32 };
    let x = noise(xs.len(), 0);
    let pass = e.forward(&x, xs, Heads { z: true, d: true });
    let dx = e.backward(&pass, Some(&noise(NZ * N, 1)), Some(&noise(N, 2)), true).unwrap();
    let gp = g.forward(&noise(NZ * N, 3));
    let dz = g.backward(&gp, &noise(gp.x.len(), 4), true).unwrap();
    let mut out = vec![pass.z.clone(), pass.d.clone(), dx, gp.x.clone(), dz];
    out.extend(e.params().iter().chain(g.params().iter()).map(|p| p.grad.clone()));
    out
}

/// Whether this CPU runs the direct middles at all (AVX-512 or AVX2); elsewhere the networks
/// keep the GEMM path and the comparisons below compare it with itself.
fn direct_here() -> bool {
    let here = crate::engine::direct::Isa::detect().is_vector();
    if !here {
        eprintln!("neither AVX-512 nor AVX2 on this CPU: the networks keep the GEMM path");
    }
    here
}

#[test]
fn the_paper_sized_middles_run_on_engine_direct() {
    if !direct_here() {
        return;
    }
    let (e, g) = networks(false);
    assert!(e.conv2.is_direct() && e.conv3.is_direct() && g.tconv2.is_direct() && g.tconv3.is_direct());
    assert!(!e.conv1.is_direct() && !g.tconv1.is_direct() && !e.conv4.is_direct());
}

/// Same functions and gradients either way: within 1e-4 of each tensor's largest value, as the
/// golden tests hold pad to PyTorch.
#[test]
fn direct_middles_compute_what_the_gemm_middles_compute() {
    let (direct, gemm) = (one_pass(false), one_pass(true));
    for (i, (a, b)) in direct.iter().zip(&gemm).enumerate() {
        assert_eq!(a.len(), b.len(), "tensor {i}");
        let scale = b.iter().fold(1e-3f32, |m, v| m.max(v.abs()));
        for (j, (x, y)) in a.iter().zip(b).enumerate() {
            assert!((x - y).abs() <= 1e-4 * scale, "tensor {i}[{j}]: direct {x} vs gemm {y} (scale {scale})");
        }
    }
}

#[test]
fn direct_middles_give_the_same_bytes_on_any_thread_count() {
    let run = |threads: usize| {
        let pool = crate::engine::fpmode::thread_pool(Some(threads));
        let out = pool.install(|| one_pass(false));
        out.iter().flatten().map(|v| v.to_bits()).collect::<Vec<u32>>()
    };
    let one = run(1);
    for threads in [2, 3, 7] {
        assert!(run(threads) == one, "{threads} threads");
    }
}

#[test]
fn forward_z_is_forwards_z_head_on_the_direct_middle() {
    let (e, _) = networks(false);
    let xs = Shape4 { c: 3, n: N, h: 32, w: 32 };
    let x = noise(xs.len(), 5);
    let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
    assert_eq!(bits(&e.forward_z(&x, xs)), bits(&e.forward(&x, xs, Heads { z: true, d: false }).z));
}
