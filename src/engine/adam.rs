//! Adam with PyTorch's arithmetic (torch.optim.Adam, single-tensor CPU path): m by lerp, v by
//! addcmul, bias corrections in f64, denominator sqrt(v)/sqrt(bc2) + eps, update by addcdiv.
//!
//! Paper-era semantics: the caller decides which parameters a step touches. PyTorch 1.x's
//! zero_grad() left zero-filled gradients behind, so every parameter that ever received a
//! gradient is updated at every step of its optimizer (by momentum alone when its gradient is 0);
//! parameters that never received one are skipped and their step count stays 0.
use super::simd::wide;

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AdamConfig {
    pub lr: f64,
    pub beta1: f64,
    pub beta2: f64,
    pub eps: f64,
}

impl Default for AdamConfig {
    /// The authors' settings: lr 2e-4, betas (0.5, 0.999), eps 1e-8.
    fn default() -> Self {
        AdamConfig { lr: 2e-4, beta1: 0.5, beta2: 0.999, eps: 1e-8 }
    }
}

/// Per-parameter optimizer state.
#[derive(Clone, Debug, PartialEq)]
pub struct AdamSlot {
    pub m: Vec<f32>,
    pub v: Vec<f32>,
    pub step: u64,
}

impl AdamSlot {
    pub fn new(len: usize) -> Self {
        AdamSlot { m: vec![0.0; len], v: vec![0.0; len], step: 0 }
    }
}

/// The scalars of one step of one parameter, fixed before its elements are updated.
#[derive(Clone, Copy, Debug)]
pub struct AdamStep {
    step_size: f32,
    w1: f32,
    w2: f32,
    b2: f32,
    bc2s: f32,
    eps: f32,
}

impl AdamStep {
    /// Advances the slot's step count and returns that step's scalars.
    pub fn next(cfg: &AdamConfig, slot: &mut AdamSlot) -> Self {
        slot.step += 1;
        let t = slot.step as f64;
        let bc1 = 1.0 - cfg.beta1.powf(t);
        let bc2_sqrt = (1.0 - cfg.beta2.powf(t)).sqrt();
        AdamStep {
            step_size: (cfg.lr / bc1) as f32,
            w1: (1.0 - cfg.beta1) as f32,
            w2: (1.0 - cfg.beta2) as f32,
            b2: cfg.beta2 as f32,
            bc2s: bc2_sqrt as f32,
            eps: cfg.eps as f32,
        }
    }

    /// Updates a run of elements (any run: each element's arithmetic involves only itself, so
    /// a parameter may be cut into pieces and updated in parallel with the same bytes).
    pub fn apply(&self, param: &mut [f32], grad: &[f32], m: &mut [f32], v: &mut [f32]) {
        assert!(param.len() == grad.len() && grad.len() == m.len() && m.len() == v.len());
        let AdamStep { step_size, w1, w2, b2, bc2s, eps } = *self;
        // Bound by sqrt and div: 16 lanes instead of SSE's 4, same bytes (engine::simd).
        wide(|| {
            for (((p, &g), m), v) in param.iter_mut().zip(grad).zip(m.iter_mut()).zip(v.iter_mut()) {
                // torch.lerp(m, g, w) for w >= 0.5 is g - (g - m) * (1 - w)
                *m = if w1 < 0.5 { *m + w1 * (g - *m) } else { g - (g - *m) * (1.0 - w1) };
                *v = *v * b2 + w2 * g * g;
                let denom = v.sqrt() / bc2s + eps;
                *p += -step_size * *m / denom;
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One Adam update of a whole tensor, as training applies it piece by piece.
    fn adam_update(cfg: &AdamConfig, param: &mut [f32], grad: &[f32], slot: &mut AdamSlot) {
        assert!(param.len() == grad.len() && grad.len() == slot.m.len());
        let step = AdamStep::next(cfg, slot);
        step.apply(param, grad, &mut slot.m, &mut slot.v);
    }

    #[test]
    fn first_step_moves_each_weight_by_lr_against_the_gradient_sign() {
        let cfg = AdamConfig::default();
        let mut p = vec![1.0f32, 1.0, 1.0];
        let mut s = AdamSlot::new(3);
        adam_update(&cfg, &mut p, &[0.5, -2.0, 0.0], &mut s);
        assert!((p[0] - (1.0 - 2e-4)).abs() < 1e-7 && (p[1] - (1.0 + 2e-4)).abs() < 1e-7 && p[2] == 1.0);
        // A zero gradient afterwards still moves by momentum (paper-era zero_grad semantics).
        adam_update(&cfg, &mut p, &[0.0, 0.0, 0.0], &mut s);
        assert!(p[0] < 1.0 - 2e-4 && p[1] > 1.0 + 2e-4 && s.step == 2);
    }

    /// A step applied piece by piece gives the bytes of the whole-tensor step.
    #[test]
    fn a_step_cut_into_pieces_is_the_whole_step() {
        let cfg = AdamConfig::default();
        let n = 1000;
        let p0: Vec<f32> = (0..n).map(|i| (i as f32 * 0.37).sin()).collect();
        let g: Vec<f32> = (0..n).map(|i| (i as f32 * 0.11).cos() * 1e-2).collect();
        let (mut whole, mut pieces) = (p0.clone(), p0);
        let (mut s1, mut s2) = (AdamSlot::new(n), AdamSlot::new(n));
        for _ in 0..3 {
            adam_update(&cfg, &mut whole, &g, &mut s1);
            let step = AdamStep::next(&cfg, &mut s2);
            for (((p, g), m), v) in
                pieces.chunks_mut(77).zip(g.chunks(77)).zip(s2.m.chunks_mut(77)).zip(s2.v.chunks_mut(77))
            {
                step.apply(p, g, m, v);
            }
        }
        assert_eq!(whole, pieces);
        assert_eq!((s1.m, s1.v, s1.step), (s2.m, s2.v, s2.step));
    }
}
