//! One PAD iteration: Wake, then NREM and REM (in the condition's order), exactly as the authors'
//! main_PAD.py computes it, with paper-era (PyTorch 1.x) optimizer semantics:
//! `zero_grad()` zeroes gradients but keeps them, so each optimizer step moves every parameter
//! that has ever had a gradient, by momentum alone when it got none in this phase.
use super::conditions::{Condition, Mix, NremSource, PhaseOrder};
use super::occlusion::apply_mask;
use crate::engine::adam::{AdamConfig, AdamSlot, AdamStep};
use crate::engine::loss::{bce_backward, bce_forward, kl_backward, kl_forward, mse_backward, mse_forward};
use crate::engine::{swap_leading_axes, Shape4};
use crate::model::{Encoder, Generator, Heads, Network};
use rayon::prelude::*;

/// The random draws of one iteration, in PyTorch's layouts (noise [N, nz], mask [H, W]), so a
/// golden test can inject PyTorch's own.
#[derive(Clone, Debug)]
pub struct IterationDraws {
    /// Wake: z + epsilon * wake_noise (drawn even when epsilon = 0, as the reference does).
    pub wake_noise: Vec<f32>,
    /// REM: the noise of the latent mixture.
    pub rem_noise: Vec<f32>,
    /// NREM occlusion mask, 1 = keep, 0 = grey.
    pub mask: Vec<f32>,
}

/// The three phases of an iteration.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    Wake = 0,
    Nrem = 1,
    Rem = 2,
}

impl Phase {
    pub fn name(self) -> &'static str {
        match self {
            Phase::Wake => "wake",
            Phase::Nrem => "nrem",
            Phase::Rem => "rem",
        }
    }
}

/// Per-iteration losses and discriminator outputs (means over the batch).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct StepStats {
    /// Wake reconstruction MSE (L_img).
    pub rec: f32,
    /// Wake KL regulariser (L_KL).
    pub kl: f32,
    /// Wake BCE(d(x), 1) (L_real).
    pub real: f32,
    /// NREM latent MSE (L_NREM).
    pub nrem: f32,
    /// REM BCE(d(G(z_mix)), 0) (L_fake).
    pub fake: f32,
    /// mean d(x) in Wake.
    pub d_real: f32,
    /// mean d(G(z_mix)) in REM.
    pub d_fake: f32,
}

impl StepStats {
    pub const NAMES: [&'static str; 7] = ["L_img", "L_KL", "L_real", "L_NREM", "L_fake", "d_real", "d_fake"];
    pub fn values(&self) -> [f32; 7] {
        [self.rec, self.kl, self.real, self.nrem, self.fake, self.d_real, self.d_fake]
    }
}

/// Everything that changes during training: the networks, their optimizers and the
/// hippocampus (the previous mini-batch's latents, for REM's memory mix).
#[derive(Clone)]
pub struct PadState {
    pub enc: Encoder,
    pub gen: Generator,
    pub opt_e: Vec<AdamSlot>,
    pub opt_g: Vec<AdamSlot>,
    pub adam: AdamConfig,
    /// z of the previous mini-batch, [nz, N]; None at the start of an epoch.
    pub z_old: Option<Vec<f32>>,
    /// Wall-clock seconds spent in Wake, NREM and REM so far (for benchmarks; never saved).
    pub phase_seconds: [f64; 3],
}

impl PadState {
    pub fn new(enc: Encoder, gen: Generator) -> Self {
        let opt_e = enc.params().iter().map(|p| AdamSlot::new(p.value.len())).collect();
        let opt_g = gen.params().iter().map(|p| AdamSlot::new(p.value.len())).collect();
        PadState { enc, gen, opt_e, opt_g, adam: AdamConfig::default(), z_old: None, phase_seconds: [0.0; 3] }
    }

    /// One full iteration on images `x` (CNHW, values in [-1, 1]).
    pub fn step(
        &mut self,
        cond: &Condition,
        x: &[f32],
        xs: Shape4,
        draws: &IterationDraws,
        first_of_epoch: bool,
    ) -> StepStats {
        self.step_observed(cond, x, xs, draws, first_of_epoch, &mut |_, _| {})
    }

    /// `step`, calling `before_step(phase, state)` just before each phase's optimizer steps, with
    /// that phase's gradients in place (the golden test compares them with PyTorch's).
    pub fn step_observed(
        &mut self,
        cond: &Condition,
        x: &[f32],
        xs: Shape4,
        draws: &IterationDraws,
        first_of_epoch: bool,
        before_step: &mut dyn FnMut(Phase, &PadState),
    ) -> StepStats {
        let n = xs.n;
        let mut st = StepStats::default();
        let hook = before_step;
        let t = std::time::Instant::now();
        let z = self.wake(cond, x, xs, &to_latent_layout(&draws.wake_noise, n), &mut st, hook);
        self.phase_seconds[0] += t.elapsed().as_secs_f64();
        let mix = if first_of_epoch || self.z_old.is_none() { cond.first_mix() } else { cond.rem_mix };
        let z_mix = mix_latents(mix, &z, self.z_old.as_deref(), &to_latent_layout(&draws.rem_noise, n));
        let (nrem_src, nrem_target) = match cond.nrem_source {
            NremSource::Latent => (&z, &z),
            NremSource::RemMixture => (&z_mix, &z_mix),
        };
        let sleep = match cond.order {
            PhaseOrder::WakeNremRem => [Phase::Nrem, Phase::Rem],
            PhaseOrder::WakeRemNrem => [Phase::Rem, Phase::Nrem],
        };
        for phase in sleep {
            let t = std::time::Instant::now();
            match phase {
                Phase::Nrem => self.nrem(cond, nrem_src, nrem_target, xs, &draws.mask, &mut st, hook),
                _ => self.rem(cond, &z_mix, &mut st, hook),
            }
            self.phase_seconds[phase as usize] += t.elapsed().as_secs_f64();
        }
        self.z_old = Some(z);
        st
    }

    /// Wake: reconstruct x through z, pull z's batch statistics to N(0, 1), teach d "real".
    /// Returns the latents z [nz, N] (detached: the hippocampus stores them).
    fn wake(
        &mut self,
        cond: &Condition,
        x: &[f32],
        xs: Shape4,
        noise: &[f32],
        st: &mut StepStats,
        hook: &mut dyn FnMut(Phase, &PadState),
    ) -> Vec<f32> {
        self.enc.zero_grad();
        self.gen.zero_grad();
        let e = self.enc.forward(x, xs, Heads { z: true, d: true });
        let z_noisy: Vec<f32> = e.z.iter().zip(noise).map(|(z, n)| z + cond.epsilon * n).collect();
        let g = self.gen.forward(&z_noisy);
        st.rec = mse_forward(&g.x, x);
        st.kl = kl_forward(&e.z, self.enc.nz);
        st.real = bce_forward(&e.d, 1.0);
        st.d_real = mean(&e.d);
        let mut dz = kl_backward(&e.z, self.enc.nz);
        if cond.w > 0.0 {
            let dimg = mse_backward(&g.x, x, cond.w);
            let dz_rec = self.gen.backward(&g, &dimg, true).expect("dz requested");
            dz.iter_mut().zip(&dz_rec).for_each(|(a, b)| *a += b);
        }
        let dd = cond.rem_on().then(|| bce_backward(&e.d, 1.0, 1.0));
        self.enc.backward(&e, Some(&dz), dd.as_deref(), false);
        hook(Phase::Wake, self);
        self.step_e();
        self.step_g();
        e.z
    }

    /// NREM (perturbed dreaming): dream G(src) without gradient, occlude it, teach E to recover
    /// `target` from the occluded dream. E steps even when N = 0 (momentum only), as the reference.
    #[allow(clippy::too_many_arguments)]
    fn nrem(
        &mut self,
        cond: &Condition,
        src: &[f32],
        target: &[f32],
        xs: Shape4,
        mask: &[f32],
        st: &mut StepStats,
        hook: &mut dyn FnMut(Phase, &PadState),
    ) {
        self.enc.zero_grad();
        let mut dream = self.gen.forward(src).x;
        apply_mask(&mut dream, mask);
        let e = self.enc.forward(&dream, xs, Heads { z: true, d: false });
        st.nrem = mse_forward(&e.z, target);
        if cond.n > 0.0 {
            let dz = mse_backward(&e.z, target, cond.n);
            self.enc.backward(&e, Some(&dz), None, false);
        }
        hook(Phase::Nrem, self);
        self.step_e();
    }

    /// REM (adversarial dreaming): dream G(z_mix); E learns to call it "internal" while G, through
    /// the sign-switched gradient, learns to make it pass as external. No step when REM is off.
    fn rem(&mut self, cond: &Condition, z_mix: &[f32], st: &mut StepStats, hook: &mut dyn FnMut(Phase, &PadState)) {
        self.enc.zero_grad();
        self.gen.zero_grad();
        let g = self.gen.forward(z_mix);
        let e = self.enc.forward(&g.x, g.xs, Heads { z: false, d: true });
        st.fake = bce_forward(&e.d, 0.0);
        st.d_fake = mean(&e.d);
        if cond.rem_on() {
            let dd = bce_backward(&e.d, 0.0, 1.0);
            let mut dimg = self.enc.backward(&e, None, Some(&dd), true).expect("dx requested");
            dimg.par_iter_mut().for_each(|v| *v = -*v); // gradient reversal
            self.gen.backward(&g, &dimg, false);
            hook(Phase::Rem, self);
            self.step_e();
            self.step_g();
        }
    }

    fn step_e(&mut self) {
        adam_step(&self.adam, self.enc.params_mut(), &mut self.opt_e);
    }
    fn step_g(&mut self) {
        adam_step(&self.adam, self.gen.params_mut(), &mut self.opt_g);
    }
}

/// One optimizer step over the parameters that have gradients (see the module doc). The tensors
/// are cut into pieces of a fixed size, updated in parallel: parallel over whole tensors, two
/// of them (conv4's and tconv1's weights, 1M each) held a core each while the rest waited.
fn adam_step(cfg: &AdamConfig, params: Vec<&mut crate::model::Param>, slots: &mut [AdamSlot]) {
    const PIECE: usize = 1 << 15;
    let mut pieces = Vec::new();
    for (p, s) in params.into_iter().zip(slots.iter_mut()) {
        if !p.has_grad {
            continue;
        }
        let step = AdamStep::next(cfg, s);
        let parts =
            p.value.chunks_mut(PIECE).zip(p.grad.chunks(PIECE)).zip(s.m.chunks_mut(PIECE)).zip(s.v.chunks_mut(PIECE));
        pieces.extend(parts.map(|(((p, g), m), v)| (step, p, g, m, v)));
    }
    pieces.into_par_iter().for_each(|(step, p, g, m, v)| step.apply(p, g, m, v));
}

/// a z + b z_old + c noise (z_old ignored when its weight is 0).
pub fn mix_latents(mix: Mix, z: &[f32], z_old: Option<&[f32]>, noise: &[f32]) -> Vec<f32> {
    let old = z_old.filter(|_| mix.z_old != 0.0);
    (0..z.len())
        .map(|i| {
            let mut v = mix.z * z[i];
            if let Some(o) = old {
                v += mix.z_old * o[i];
            }
            v + mix.noise * noise[i]
        })
        .collect()
}

/// [N, nz] (PyTorch) -> [nz, N] (ours).
pub fn to_latent_layout(v: &[f32], n: usize) -> Vec<f32> {
    swap_leading_axes(v, n, v.len() / n, 1)
}

fn mean(v: &[f32]) -> f32 {
    (crate::engine::reduce::sum(v) / v.len() as f64) as f32
}
