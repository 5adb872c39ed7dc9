//! Element-wise activations, forward in place and backward from the saved *output*
//! (as PyTorch does for in-place LeakyReLU, tanh and sigmoid).
//! Transcendentals come from the pure-Rust `libm`, so results do not depend on the platform's C library.
use super::simd::wide;
use rayon::prelude::*;

const CHUNK: usize = 1 << 14;

/// y = x if x > 0 else slope * x, in place.
pub fn leaky_relu_forward(x: &mut [f32], slope: f32) {
    // Written as a select (not a branch) so it vectorises.
    x.par_chunks_mut(CHUNK)
        .for_each(|c| wide(|| c.iter_mut().for_each(|v| *v = if *v > 0.0 { *v } else { *v * slope })));
}

/// dx = dy where y > 0, slope * dy elsewhere (in place on dy). `y` is the forward output.
pub fn leaky_relu_backward(dy: &mut [f32], y: &[f32], slope: f32) {
    assert_eq!(dy.len(), y.len());
    dy.par_chunks_mut(CHUNK)
        .zip(y.par_chunks(CHUNK))
        .for_each(|(d, y)| wide(|| d.iter_mut().zip(y).for_each(|(d, &y)| *d = if y > 0.0 { *d } else { *d * slope })));
}

pub fn tanh_forward(x: &mut [f32]) {
    x.par_chunks_mut(CHUNK).for_each(|c| c.iter_mut().for_each(|v| *v = libm::tanhf(*v)));
}

/// dx = dy * (1 - y^2), in place on dy.
pub fn tanh_backward(dy: &mut [f32], y: &[f32]) {
    assert_eq!(dy.len(), y.len());
    dy.par_chunks_mut(CHUNK)
        .zip(y.par_chunks(CHUNK))
        .for_each(|(d, y)| wide(|| d.iter_mut().zip(y).for_each(|(d, &y)| *d *= 1.0 - y * y)));
}

pub fn sigmoid_forward(x: &mut [f32]) {
    x.iter_mut().for_each(|v| *v = 1.0 / (1.0 + libm::expf(-*v)));
}

/// dx = dy * y * (1 - y), in place on dy.
pub fn sigmoid_backward(dy: &mut [f32], y: &[f32]) {
    assert_eq!(dy.len(), y.len());
    dy.iter_mut().zip(y).for_each(|(d, &y)| *d *= y * (1.0 - y));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::testutil::*;

    fn check(name: &str, fwd: fn(&mut [f32]), bwd: &dyn Fn(&mut [f32], &[f32]), f64fn: fn(f64) -> f64) {
        let x = randn_like(40, 3).iter().map(|v| v * 3.0).collect::<Vec<_>>();
        let r = randn_like(40, 4);
        let mut y = x.clone();
        fwd(&mut y);
        let mut dx = r.clone();
        bwd(&mut dx, &y);
        let r64 = to64(&r);
        check_grad(name, &|v| v.iter().zip(&r64).map(|(a, b)| f64fn(*a) * b).sum(), &x, &dx, 1e-4);
    }

    #[test]
    fn gradients_match_finite_differences() {
        check(
            "leaky_relu",
            |x| leaky_relu_forward(x, 0.2),
            &|d, y| leaky_relu_backward(d, y, 0.2),
            |v| if v > 0.0 { v } else { 0.2 * v },
        );
        check("tanh", tanh_forward, &|d, y| tanh_backward(d, y), f64::tanh);
        check("sigmoid", sigmoid_forward, &|d, y| sigmoid_backward(d, y), |v| 1.0 / (1.0 + (-v).exp()));
    }
}
