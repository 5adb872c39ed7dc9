use super::*;
use crate::engine::testutil::*;

fn case(xs: Shape4, cout: usize, spec: ConvSpec, seed: u64) {
    let x = randn_like(xs.len(), seed);
    let w = randn_like(cout * xs.c * spec.k * spec.k, seed + 1);
    let b = randn_like(cout, seed + 2);
    let (y, ys, saved) = conv2d_forward(&x, xs, &w, &b, spec);
    let want = conv2d_ref(&to64(&x), xs, &to64(&w), &to64(&b), spec.k, spec.stride, spec.pad);
    assert_eq!(y.len(), want.len());
    for (a, e) in y.iter().zip(&want) {
        assert!((*a as f64 - e).abs() < 1e-5 * (1.0 + e.abs()), "forward {a} vs {e}");
    }
    // L = <y, r>, so dL/dy = r.
    let r = randn_like(ys.len(), seed + 3);
    let r64 = to64(&r);
    let mut dw = vec![0.0; w.len()];
    let mut db = vec![0.0; b.len()];
    let dx = conv2d_backward(&saved, &w, &r, &mut dw, &mut db, true).unwrap();
    let (x64, w64, b64) = (to64(&x), to64(&w), to64(&b));
    let (k, s, p) = (spec.k, spec.stride, spec.pad);
    check_grad("conv2d dx", &|v| dot(&conv2d_ref(v, xs, &w64, &b64, k, s, p), &r64), &x, &dx, 1e-4);
    check_grad("conv2d dw", &|v| dot(&conv2d_ref(&x64, xs, v, &b64, k, s, p), &r64), &w, &dw, 1e-4);
    check_grad("conv2d db", &|v| dot(&conv2d_ref(&x64, xs, &w64, v, k, s, p), &r64), &b, &db, 1e-4);
    // Gradients accumulate like autograd: a second backward adds the same amount again.
    let (dw1, db1) = (dw.clone(), db.clone());
    conv2d_backward(&saved, &w, &r, &mut dw, &mut db, false);
    for (a, b) in dw.iter().zip(&dw1).chain(db.iter().zip(&db1)) {
        assert!((a - 2.0 * b).abs() <= 1e-5 * (1.0 + b.abs()));
    }
}

#[test]
fn pad_encoder_geometry_k4_s2_p1() {
    case(Shape4 { c: 2, n: 2, h: 8, w: 8 }, 3, ConvSpec { k: 4, stride: 2, pad: 1 }, 10);
}

#[test]
fn latent_head_geometry_k4_s2_p0_to_1x1() {
    case(Shape4 { c: 3, n: 3, h: 4, w: 4 }, 5, ConvSpec { k: 4, stride: 2, pad: 0 }, 20);
}

#[test]
fn odd_sizes_k3_s1_p1_and_k3_s2_p0() {
    case(Shape4 { c: 2, n: 2, h: 7, w: 5 }, 2, ConvSpec { k: 3, stride: 1, pad: 1 }, 30);
    case(Shape4 { c: 1, n: 2, h: 9, w: 9 }, 2, ConvSpec { k: 3, stride: 2, pad: 0 }, 40);
}

/// f64 direct rectangular conv2d on CNHW, the definition the inference path must meet.
fn conv2d_rect_ref(x: &[f64], xs: Shape4, w: &[f64], b: &[f64], s: RectSpec) -> (Vec<f64>, usize, usize) {
    let (oh, ow) = ((xs.h + 2 * s.ph - s.kh) / s.sh + 1, (xs.w + 2 * s.pw - s.kw) / s.sw + 1);
    let mut y = vec![0.0; b.len() * xs.n * oh * ow];
    for (co, &bias) in b.iter().enumerate() {
        for n in 0..xs.n {
            for i in 0..oh {
                for j in 0..ow {
                    let mut acc = bias;
                    for ci in 0..xs.c {
                        for a in 0..s.kh {
                            for c in 0..s.kw {
                                let (ih, iw) =
                                    ((i * s.sh + a) as isize - s.ph as isize, (j * s.sw + c) as isize - s.pw as isize);
                                if ih >= 0 && iw >= 0 && (ih as usize) < xs.h && (iw as usize) < xs.w {
                                    acc += w[((co * xs.c + ci) * s.kh + a) * s.kw + c]
                                        * x[((ci * xs.n + n) * xs.h + ih as usize) * xs.w + iw as usize];
                                }
                            }
                        }
                    }
                    y[((co * xs.n + n) * oh + i) * ow + j] = acc;
                }
            }
        }
    }
    (y, oh, ow)
}

#[test]
fn inference_conv_with_rectangular_kernels_and_pointwise_shortcut() {
    let xs = Shape4 { c: 3, n: 2, h: 9, w: 8 };
    let specs = [
        RectSpec { kh: 1, kw: 7, sh: 1, sw: 1, ph: 0, pw: 3 },
        RectSpec { kh: 7, kw: 1, sh: 1, sw: 1, ph: 3, pw: 0 },
        RectSpec { kh: 1, kw: 3, sh: 1, sw: 1, ph: 0, pw: 1 },
        RectSpec { kh: 3, kw: 1, sh: 1, sw: 1, ph: 1, pw: 0 },
        RectSpec { kh: 1, kw: 1, sh: 1, sw: 1, ph: 0, pw: 0 },
        RectSpec { kh: 3, kw: 3, sh: 2, sw: 2, ph: 0, pw: 0 },
    ];
    for (t, spec) in specs.into_iter().enumerate() {
        let x = randn_like(xs.len(), 50 + t as u64);
        let w = randn_like(4 * xs.c * spec.kh * spec.kw, 60 + t as u64);
        let b = randn_like(4, 70 + t as u64);
        let (y, ys) = conv2d_infer(&x, xs, &w, &b, spec);
        let (want, oh, ow) = conv2d_rect_ref(&to64(&x), xs, &to64(&w), &to64(&b), spec);
        assert_eq!(ys, Shape4 { c: 4, n: 2, h: oh, w: ow });
        for (a, e) in y.iter().zip(&want) {
            assert!((*a as f64 - e).abs() < 1e-5 * (1.0 + e.abs()), "{spec:?}: {a} vs {e}");
        }
    }
    // The square path is the same computation as the training forward.
    let spec = ConvSpec { k: 3, stride: 1, pad: 1 };
    let x = randn_like(xs.len(), 80);
    let w = randn_like(4 * xs.c * 9, 81);
    let b = randn_like(4, 82);
    assert_eq!(conv2d_infer(&x, xs, &w, &b, spec.into()).0, conv2d_forward(&x, xs, &w, &b, spec).0);
    // The fused ReLU, into a new buffer or memory the caller owns, is the two passes' bytes.
    let bits = |v: &[f32]| v.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
    let plain: Vec<f32> = conv2d_infer(&x, xs, &w, &b, spec.into()).0.iter().map(|v| v.max(0.0)).collect();
    assert!(plain.contains(&0.0) && plain.iter().any(|v| *v > 0.0));
    let (fused, _) = conv2d_infer_then(&x, xs, &w, &b, spec.into(), Epilogue::BiasRelu);
    let mut owned = vec![MaybeUninit::new(f32::NAN); plain.len()];
    conv2d_infer_uninit(&x, xs, &w, &b, spec.into(), Epilogue::BiasRelu, &mut owned);
    let owned: Vec<f32> = owned.iter().map(|v| unsafe { v.assume_init() }).collect();
    assert_eq!((bits(&fused), bits(&owned)), (bits(&plain), bits(&plain)));
}

/// Bias and ReLU are applied to each tile of the product as it is finished (engine::gemm's
/// RowsThen) rather than in a pass of their own: on products of many tiles, through each path
/// (pointwise, columns made per tile, tiles that cut images into pieces), the bytes are those of
/// the whole product followed by the two steps.
#[test]
fn epilogue_per_tile_gives_the_bytes_of_a_pass_after_the_product() {
    let bits = |v: &[f32]| v.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
    let cases = [
        (Shape4 { c: 96, n: 2, h: 35, w: 35 }, 64, RectSpec { kh: 1, kw: 1, sh: 1, sw: 1, ph: 0, pw: 0 }),
        (Shape4 { c: 48, n: 2, h: 35, w: 35 }, 64, RectSpec { kh: 3, kw: 3, sh: 1, sw: 1, ph: 1, pw: 1 }),
        (Shape4 { c: 40, n: 2, h: 17, w: 17 }, 72, RectSpec { kh: 1, kw: 7, sh: 1, sw: 1, ph: 0, pw: 3 }),
        (Shape4 { c: 3, n: 2, h: 149, w: 149 }, 32, RectSpec { kh: 3, kw: 3, sh: 2, sw: 2, ph: 0, pw: 0 }),
        (Shape4 { c: 48, n: 2, h: 61, w: 61 }, 32, RectSpec { kh: 3, kw: 3, sh: 1, sw: 1, ph: 0, pw: 0 }),
    ];
    for (t, (xs, cout, spec)) in cases.into_iter().enumerate() {
        let x = randn_like(xs.len(), 90 + t as u64);
        let w = randn_like(cout * xs.c * spec.kh * spec.kw, 100 + t as u64);
        let b = randn_like(cout, 110 + t as u64);
        let g = spec.geometry(xs);
        let wm = MatRef::rm(&w, cout, g.rows());
        assert!(crate::engine::gemm::tile_count(cout, g.cols(), g.rows(), 2) > 1, "{spec:?}: one tile");
        let product = gemm_new(wm, g.col_matrix(&crate::engine::im2col::im2col_new(&g, &x)));
        let per_row = |f: &dyn Fn(f32, f32) -> f32| -> Vec<f32> {
            product.chunks(g.cols()).zip(&b).flat_map(|(row, &bi)| row.iter().map(move |&v| f(v, bi))).collect()
        };
        let (biased, relu) = (per_row(&|v, bi| v + bi), per_row(&|v, bi| (v + bi).max(0.0)));
        assert!(relu.contains(&0.0) && relu.iter().any(|v| *v > 0.0));
        assert_eq!(bits(&conv2d_infer(&x, xs, &w, &b, spec).0), bits(&biased), "{spec:?}: bias");
        assert_eq!(bits(&conv2d_infer_then(&x, xs, &w, &b, spec, Epilogue::BiasRelu).0), bits(&relu), "{spec:?}");
        let mut owned = vec![MaybeUninit::new(f32::NAN); relu.len()];
        conv2d_infer_uninit(&x, xs, &w, &b, spec, Epilogue::BiasRelu, &mut owned);
        let owned: Vec<f32> = owned.iter().map(|v| unsafe { v.assume_init() }).collect();
        assert_eq!(bits(&owned), bits(&relu), "{spec:?}: into the caller's memory");
    }
}

/// A batch whose column count is a multiple of 256 gets padded column rows (Patches::ld); the
/// gradients still match the definition.
#[test]
fn padded_column_rows_k4_s2_p1() {
    let xs = Shape4 { c: 1, n: 4, h: 16, w: 16 };
    let geom = Patches::new(1, 4, 16, 16, 4, 2, 1);
    assert!(geom.ld() > geom.cols(), "this geometry must exercise the padding");
    case(xs, 2, ConvSpec { k: 4, stride: 2, pad: 1 }, 90);
}

/// The padding only moves where rows start: the forward, weight-gradient and column-gradient
/// products give the bytes of the same products on unpadded rows (conv2's geometry at batch 8).
#[test]
fn padded_rows_give_the_bytes_of_unpadded_ones() {
    let xs = Shape4 { c: 64, n: 8, h: 16, w: 16 };
    let (spec, cout) = (ConvSpec { k: 4, stride: 2, pad: 1 }, 128);
    let x = randn_like(xs.len(), 100);
    let w = randn_like(cout * xs.c * 16, 101);
    let (y, ys, saved) = conv2d_forward(&x, xs, &w, &vec![0.0; cout], spec);
    let g = saved.geom;
    assert!(g.ld() > g.cols());
    let plain: Vec<f32> = saved.cols.chunks(g.ld()).flat_map(|r| r[..g.cols()].to_vec()).collect();
    let plain = MatRef::rm(&plain, g.rows(), g.cols());
    let wm = MatRef::rm(&w, cout, g.rows());
    let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
    assert_eq!(bits(&y), bits(&gemm_new(wm, plain)), "forward");
    let dy = randn_like(ys.len(), 102);
    let dym = MatRef::rm(&dy, cout, g.cols());
    let (mut dw, mut db, mut dcols) = (vec![0.0; w.len()], vec![0.0; cout], vec![0.0; g.col_len()]);
    conv2d_backward_cols(&saved, &w, &dy, &mut dw, &mut db, Some(&mut dcols));
    let mut want_dw = vec![0.0; w.len()];
    gemm(dym, plain.t(), &mut want_dw, g.rows(), true);
    assert_eq!(bits(&dw), bits(&want_dw), "weight gradient");
    let want_dcols = gemm_new(wm.t(), dym);
    let got: Vec<f32> = dcols.chunks(g.ld()).flat_map(|r| r[..g.cols()].to_vec()).collect();
    assert_eq!(bits(&got), bits(&want_dcols), "column gradient");
}
