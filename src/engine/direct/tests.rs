use super::conv::{conv_forward_on, conv_transpose_forward_on, output_runs};
use super::layout::Blocked;
use super::pack::{
    add_unpacked_out_major, add_unpacked_out_major_on, pack_in_major, pack_in_major_on, pack_out_major,
    pack_out_major_on,
};
use super::weight_grad::{conv_weight_grad_on, conv_weight_grad_runs};
use super::Isa;
use crate::engine::testutil::{conv2d_ref, conv_transpose2d_ref, randn_like, to64};
use crate::engine::Shape4;

/// [out/16][in][4][4][16] back to PyTorch's [out][in][4][4] (the inverse of `pack_out_major`).
fn unpack_out_major(p: &[f32], outs: usize, ins: usize) -> Vec<f32> {
    let mut w = vec![0.0; p.len()];
    add_unpacked_out_major(p, outs, ins, &mut w);
    w
}

fn bits(v: &[f32]) -> Vec<u32> {
    v.iter().map(|x| x.to_bits()).collect()
}

fn close(name: &str, got: &[f32], want: &[f64], tol: f64) {
    assert_eq!(got.len(), want.len(), "{name}: length");
    for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
        assert!((g as f64 - w).abs() <= tol * w.abs().max(1.0), "{name}[{i}]: {g} vs {w}");
    }
}

fn on_threads<R: Send>(threads: usize, f: impl FnOnce() -> R + Send) -> R {
    rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap().install(f)
}

/// The kernels' geometry: an odd number of output blocks (a pair and a single), pixel counts
/// that leave a tail after the groups of eight, five images (a run of four and one), and
/// borders wider than the kernels need.
const CIN: usize = 32;
const COUT: usize = 48;
const N: usize = 5;

#[test]
fn blocked_layout_round_trips_and_keeps_a_zero_border() {
    let s = Shape4 { c: 32, n: 3, h: 5, w: 7 };
    let x = randn_like(s.len(), 1);
    for border in [0, 1, 2] {
        let b = Blocked::from_cnhw(&x, s, border);
        assert_eq!(b.to_cnhw(), x);
        let inside: f64 = x.iter().map(|v| v.abs() as f64).sum();
        let all: f64 = b.data.iter().map(|v| v.abs() as f64).sum();
        assert_eq!(inside, all, "border {border} is not zero");
    }
    let w = randn_like(48 * 32 * 16, 2);
    assert_eq!(unpack_out_major(&pack_out_major(&w, 48, 32), 48, 32), w);
}

/// Every weight at its place in both packed layouts, and added back to its place, by the plain
/// loops and the vector transposes alike.
#[test]
fn weights_are_packed_to_their_places_on_every_isa() {
    let (outs, ins) = (48, 32);
    let w = randn_like(outs * ins * 16, 21);
    let base = randn_like(w.len(), 22);
    for isa in isas() {
        let p = pack_out_major_on(isa, &w, outs, ins);
        let q = pack_in_major_on(isa, &w, ins, outs);
        let mut back = base.clone();
        add_unpacked_out_major_on(isa, &p, outs, ins, &mut back);
        for o in 0..outs {
            for i in 0..ins {
                for (kh, kw) in (0..4).flat_map(|kh| (0..4).map(move |kw| (kh, kw))) {
                    let (ob, l, t) = (o / 16, o % 16, kh * 4 + kw);
                    // As a Conv2d's [out][in][4][4].
                    let conv = (o * ins + i) * 16 + t;
                    assert_eq!(p[((ob * ins + i) * 16 + t) * 16 + l], w[conv], "{isa:?} out-major o{o} i{i} t{t}");
                    assert_eq!(back[conv], base[conv] + w[conv], "{isa:?} unpacked o{o} i{i} t{t}");
                    // As a ConvTranspose2d's [in][out][4][4] (here `ins` rows of `outs`):
                    // class (py, px) = (1 - kh % 2, 1 - kw % 2), (a, b) = (kh / 2, kw / 2).
                    let class = (1 - kh % 2) * 2 + 1 - kw % 2;
                    let at = ((((ob * 4 + class) * ins + i) * 2 + kh / 2) * 2 + kw / 2) * 16 + l;
                    assert_eq!(q[at], w[(i * outs + o) * 16 + t], "{isa:?} in-major o{o} i{i} t{t}");
                }
            }
        }
    }
}

/// Each value lands at [image][channel / 16][row + border][column + border][channel % 16], for
/// planes whose pixel count the vector conversions take sixteen at a time and for others, on
/// every instruction set this CPU runs.
#[test]
fn blocked_layout_puts_each_value_in_its_place() {
    for (isa, (h, w, border)) in
        isas().into_iter().flat_map(|i| [(8, 8, 1), (4, 4, 0), (16, 16, 2), (3, 5, 1)].map(|g| (i, g)))
    {
        let s = Shape4 { c: 32, n: 3, h, w };
        let x = randn_like(s.len(), 17);
        let b = Blocked::from_cnhw_on(isa, &x, s, border);
        for c in 0..s.c {
            for n in 0..s.n {
                for y in 0..h {
                    for xx in 0..w {
                        let at = n * b.image_len() + (c / 16) * b.plane_len() + b.pixel(y, xx) + c % 16;
                        assert_eq!(
                            b.data[at],
                            x[((c * s.n + n) * h + y) * w + xx],
                            "{isa:?} {h}x{w}, c{c} n{n} ({y}, {xx})"
                        );
                    }
                }
            }
        }
        assert_eq!(b.to_cnhw_on(isa), x, "{isa:?} {h}x{w} round trip");
    }
}

#[test]
fn conv_forward_is_pytorch_conv2d_k4_s2_p1() {
    let s = Shape4 { c: CIN, n: N, h: 6, w: 6 };
    let (x, w, b) = (randn_like(s.len(), 3), randn_like(COUT * CIN * 16, 4), randn_like(COUT, 5));
    let want = conv2d_ref(&to64(&x), s, &to64(&w), &to64(&b), 4, 2, 1);
    for isa in isas() {
        for (xb, yb) in [(1, 0), (2, 1)] {
            let y = conv_forward_on(
                isa,
                &Blocked::from_cnhw(&x, s, xb),
                &pack_out_major(&w, COUT, CIN),
                Some(&b),
                COUT,
                yb,
            );
            close(&format!("{isa:?} conv, borders {xb}/{yb}"), &y.to_cnhw(), &want, 1e-5);
        }
    }
}

#[test]
fn conv_transpose_forward_is_pytorch_conv_transpose2d_k4_s2_p1() {
    let s = Shape4 { c: CIN, n: N, h: 3, w: 3 };
    let (x, w, b) = (randn_like(s.len(), 6), randn_like(CIN * COUT * 16, 7), randn_like(COUT, 8));
    let want = conv_transpose2d_ref(&to64(&x), s, &to64(&w), &to64(&b), 4, 2, 1);
    for isa in isas() {
        for (xb, yb) in [(1, 0), (2, 1)] {
            let y = conv_transpose_forward_on(
                isa,
                &Blocked::from_cnhw(&x, s, xb),
                &pack_in_major(&w, CIN, COUT),
                Some(&b),
                COUT,
                yb,
            );
            close(&format!("{isa:?} transposed conv, borders {xb}/{yb}"), &y.to_cnhw(), &want, 1e-5);
        }
    }
}

#[test]
fn weight_grad_is_the_sum_of_dy_times_x_over_batch_and_pixels() {
    let s = Shape4 { c: CIN, n: N, h: 6, w: 6 };
    let ys = Shape4 { c: COUT, n: N, h: 3, w: 3 };
    let (x, dy) = (randn_like(s.len(), 9), randn_like(ys.len(), 10));
    let mut want = vec![0.0f64; COUT * CIN * 16];
    for co in 0..COUT {
        for ci in 0..CIN {
            for t in 0..16 {
                let (kh, kw) = (t / 4, t % 4);
                let mut acc = 0.0;
                for n in 0..N {
                    for oy in 0..3 {
                        for ox in 0..3 {
                            let (iy, ix) = ((2 * oy + kh) as isize - 1, (2 * ox + kw) as isize - 1);
                            if iy < 0 || ix < 0 || iy >= 6 || ix >= 6 {
                                continue;
                            }
                            let xv = x[((ci * N + n) * 6 + iy as usize) * 6 + ix as usize] as f64;
                            acc += dy[((co * N + n) * 3 + oy) * 3 + ox] as f64 * xv;
                        }
                    }
                }
                want[(co * CIN + ci) * 16 + t] = acc;
            }
        }
    }
    for isa in isas() {
        for (xb, yb) in [(1, 0), (2, 1)] {
            let dw = conv_weight_grad_on(isa, &Blocked::from_cnhw(&x, s, xb), &Blocked::from_cnhw(&dy, ys, yb));
            close(
                &format!("{isa:?} weight gradient, borders {xb}/{yb}"),
                &unpack_out_major(&dw, COUT, CIN),
                &want,
                1e-5,
            );
        }
    }
}

/// The instruction sets this machine can run: the bit-for-bit tests below compare them.
fn isas() -> Vec<Isa> {
    Isa::ALL.into_iter().filter(|i| i.runs_here()).collect()
}

/// All three passes at one geometry, as bits.
fn all_passes(isa: Isa, cin: usize, cout: usize, n: usize, hw: usize) -> Vec<u32> {
    let s = Shape4 { c: cin, n, h: hw, w: hw };
    let ys = Shape4 { c: cout, n, h: hw / 2, w: hw / 2 };
    let (x, w, b, dy) =
        (randn_like(s.len(), 11), randn_like(cout * cin * 16, 12), randn_like(cout, 13), randn_like(ys.len(), 14));
    let xb = Blocked::from_cnhw(&x, s, 1);
    let y = conv_forward_on(isa, &xb, &pack_out_major(&w, cout, cin), Some(&b), cout, 1);
    let dyb = Blocked::from_cnhw(&dy, ys, 1);
    let dx = conv_transpose_forward_on(isa, &dyb, &pack_in_major(&w, cout, cin), None, cin, 0);
    let dw = conv_weight_grad_on(isa, &xb, &dyb);
    [bits(&y.data), bits(&dx.data), bits(&dw)].concat()
}

#[test]
fn vector_tiles_give_the_bytes_of_the_plain_ones() {
    let vector: Vec<Isa> = isas().into_iter().filter(|i| i.is_vector()).collect();
    if vector.is_empty() {
        eprintln!("neither AVX-512 nor AVX2 on this CPU: only the plain tiles run here");
    }
    // PAD's conv2 and tconv3 geometry (the compile-time strides), and odd ones.
    for (cin, cout, n, hw) in [(CIN, COUT, N, 6), (64, 128, 2, 16), (128, 256, 2, 8), (16, 16, 1, 2)] {
        let plain = all_passes(Isa::Scalar, cin, cout, n, hw);
        for &isa in &vector {
            assert!(all_passes(isa, cin, cout, n, hw) == plain, "{isa:?}: {cin}->{cout}, {n} images of {hw}x{hw}");
        }
    }
}

#[test]
fn every_thread_count_gives_the_same_bytes() {
    let isa = Isa::detect();
    let reference = on_threads(1, || all_passes(isa, CIN, COUT, 9, 6));
    for threads in [2, 3, 7] {
        assert!(on_threads(threads, || all_passes(isa, CIN, COUT, 9, 6)) == reference, "{threads} threads");
    }
}

#[test]
fn the_weight_gradient_does_not_depend_on_the_images_per_run() {
    // The run length follows the L1 cache of the machine (weight_grad::images_per_run); a chain
    // stored after one run and reloaded by the next must give the bytes of one unbroken chain.
    let s = Shape4 { c: 32, n: 9, h: 8, w: 8 };
    let ys = Shape4 { c: 32, n: 9, h: 4, w: 4 };
    let (x, dy) = (randn_like(s.len(), 17), randn_like(ys.len(), 18));
    let (xb, dyb) = (Blocked::from_cnhw(&x, s, 1), Blocked::from_cnhw(&dy, ys, 1));
    for isa in isas() {
        let whole = bits(&conv_weight_grad_runs(isa, &xb, &dyb, 9));
        for per_run in [1, 2, 3, 4] {
            assert!(bits(&conv_weight_grad_runs(isa, &xb, &dyb, per_run)) == whole, "{isa:?}, {per_run} per run");
        }
    }
}

#[test]
fn the_input_gradient_of_a_conv_is_its_transposed_conv() {
    // dx = conv_transpose(dy, W) with the Conv2d's weight read as [in = cout][out = cin]: checked
    // against the f64 transposed convolution of dy.
    let ys = Shape4 { c: COUT, n: N, h: 3, w: 3 };
    let (dy, w) = (randn_like(ys.len(), 15), randn_like(COUT * CIN * 16, 16));
    let want = conv_transpose2d_ref(&to64(&dy), ys, &to64(&w), &vec![0.0; CIN], 4, 2, 1);
    let dx = conv_transpose_forward_on(
        Isa::detect(),
        &Blocked::from_cnhw(&dy, ys, 1),
        &pack_in_major(&w, COUT, CIN),
        None,
        CIN,
        0,
    );
    close("conv dx", &dx.to_cnhw(), &want, 1e-5);
}

#[test]
fn output_runs_cover_every_block_once_without_a_lone_block() {
    for widest in [2, 3, 4] {
        for ob in 1..=40 {
            let runs = output_runs(ob, widest);
            let mut next = 0;
            for (i, &(first, len)) in runs.iter().enumerate() {
                assert_eq!(first, next, "{ob} blocks by {widest}: runs in order, no gap");
                assert!((1..=widest).contains(&len), "{ob} blocks by {widest}: run of {len}");
                // Pairs leave a lone last block of an odd count; wider runs never need one.
                let lone_ok = ob == 1 || (widest == 2 && i + 1 == runs.len());
                assert!(len > 1 || lone_ok, "{ob} blocks by {widest}: a lone block in {runs:?}");
                next += len;
            }
            assert_eq!(next, ob, "{ob} blocks by {widest}: every block");
            assert_eq!(runs.len(), ob.div_ceil(widest), "{ob} blocks by {widest}: as few tiles as full runs give");
        }
    }
}
