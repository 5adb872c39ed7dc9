use super::*;
use crate::engine::testutil::*;

fn case(xs: Shape4, cout: usize, spec: ConvSpec, seed: u64) {
    let x = randn_like(xs.len(), seed);
    let w = randn_like(xs.c * cout * spec.k * spec.k, seed + 1);
    let b = randn_like(cout, seed + 2);
    let (y, ys, saved) = conv_transpose2d_forward(&x, xs, &w, &b, spec);
    let want = conv_transpose2d_ref(&to64(&x), xs, &to64(&w), &to64(&b), spec.k, spec.stride, spec.pad);
    assert_eq!((ys.h, ys.w), (out_size(xs.h, spec), out_size(xs.w, spec)));
    assert_eq!(y.len(), want.len());
    for (a, e) in y.iter().zip(&want) {
        assert!((*a as f64 - e).abs() < 1e-5 * (1.0 + e.abs()), "forward {a} vs {e}");
    }
    let r = randn_like(ys.len(), seed + 3);
    let r64 = to64(&r);
    let mut dw = vec![0.0; w.len()];
    let mut db = vec![0.0; b.len()];
    let dx = conv_transpose2d_backward(&saved, &x, &w, &r, &mut dw, &mut db, true).unwrap();
    let (x64, w64, b64) = (to64(&x), to64(&w), to64(&b));
    let (k, s, p) = (spec.k, spec.stride, spec.pad);
    check_grad("convT dx", &|v| dot(&conv_transpose2d_ref(v, xs, &w64, &b64, k, s, p), &r64), &x, &dx, 1e-4);
    check_grad("convT dw", &|v| dot(&conv_transpose2d_ref(&x64, xs, v, &b64, k, s, p), &r64), &w, &dw, 1e-4);
    check_grad("convT db", &|v| dot(&conv_transpose2d_ref(&x64, xs, &w64, v, k, s, p), &r64), &b, &db, 1e-4);
}

#[test]
fn generator_first_layer_1x1_to_4x4() {
    case(Shape4 { c: 4, n: 3, h: 1, w: 1 }, 3, ConvSpec { k: 4, stride: 1, pad: 0 }, 50);
}

#[test]
fn generator_upsampling_k4_s2_p1() {
    case(Shape4 { c: 3, n: 2, h: 4, w: 4 }, 2, ConvSpec { k: 4, stride: 2, pad: 1 }, 60);
}

#[test]
fn odd_geometry_k3_s2_p1() {
    case(Shape4 { c: 2, n: 2, h: 3, w: 5 }, 2, ConvSpec { k: 3, stride: 2, pad: 1 }, 70);
}

/// 256 input positions: the column matrix has padded rows (Patches::ld).
#[test]
fn padded_column_rows_k4_s2_p1() {
    let spec = ConvSpec { k: 4, stride: 2, pad: 1 };
    assert!(Patches::new(1, 4, 16, 16, 4, 2, 1).ld() > 256);
    case(Shape4 { c: 2, n: 4, h: 8, w: 8 }, 1, spec, 80);
}
