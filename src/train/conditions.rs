//! The paper's conditions as data: each is one row of phase parameters, read by the one training
//! loop in `phases.rs`. Names follow the paper (Fig. 4, Appendix 1).
//!
//! Semantics, as in the authors' main_PAD.py:
//! - `w`: weight of the Wake reconstruction loss.
//! - `n`: weight of the NREM latent-recovery loss (0: no NREM gradient, but E's optimizer still
//!   steps in the NREM slot, as the reference does).
//! - `r`: REM on/off. The reference uses R only as a switch (`if opt.R > 0`): when on, the Wake
//!   real/fake loss and the REM loss enter with weight 1; when off, neither is computed into a
//!   gradient and REM takes no optimizer step.
//! - `epsilon`: std of the Gaussian noise added to z before G in Wake.
//! - `rem_mix`: REM's latent = a z + b z_old + c noise. On the first mini-batch of an epoch the
//!   reference has no z_old and uses 0.5 z + 0.5 noise: in general (a + b) z + c noise.
//! - `nrem_source`: what NREM replays: the stored z, or the REM mixture (appendix variant).
//! - `order`: Wake is always first; NREM then REM, or REM then NREM (appendix variant).
use super::error::TrainError;
use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Mix {
    pub z: f32,
    pub z_old: f32,
    pub noise: f32,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum NremSource {
    /// G(z) of the current mini-batch's Wake latents (the paper).
    Latent,
    /// G(z_mix) with the REM mixture as the target to recover.
    RemMixture,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum PhaseOrder {
    WakeNremRem,
    WakeRemNrem,
}

/// One condition: a row of phase parameters with its name. Owned, so that conditions defined in
/// pipeline.toml are values like the built-in ones. Serialised (pipeline stage keys hash it)
/// with the field names and values below.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Condition {
    pub name: String,
    /// Prose: not part of any key (a training stage hashes the condition without it).
    #[serde(skip, default)]
    pub summary: String,
    pub w: f32,
    pub n: f32,
    pub r: f32,
    pub epsilon: f32,
    pub rem_mix: Mix,
    pub nrem_source: NremSource,
    pub order: PhaseOrder,
}

impl Condition {
    pub fn rem_on(&self) -> bool {
        self.r > 0.0
    }
    /// The mixture used when no z_old exists yet (first mini-batch of an epoch).
    pub fn first_mix(&self) -> Mix {
        Mix { z: self.rem_mix.z + self.rem_mix.z_old, z_old: 0.0, noise: self.rem_mix.noise }
    }
    /// The parameters this training loop can run, as (field, why) for the first that is not:
    /// weights and the noise's std finite and >= 0; `r` a switch (0 or 1, as the reference reads
    /// it: any other value would act as 1); the REM mixture's coefficients finite, >= 0 and not all
    /// 0 where a phase draws from it; and something to train (not w = n = r = 0).
    pub fn check(&self) -> Result<(), (&'static str, String)> {
        for (field, v, what) in
            [("w", self.w, "a loss weight"), ("n", self.n, "a loss weight"), ("epsilon", self.epsilon, "a noise std")]
        {
            if !v.is_finite() || v < 0.0 {
                return Err((field, format!("{v} is not {what} (a finite number >= 0)")));
            }
        }
        if self.r != 0.0 && self.r != 1.0 {
            return Err((
                "r",
                format!(
                    "{} is not 0 or 1: REM is a switch (as in the authors' code, where any r > 0 acts as 1)",
                    self.r
                ),
            ));
        }
        let Mix { z, z_old, noise } = self.rem_mix;
        if [z, z_old, noise].iter().any(|v| !v.is_finite() || *v < 0.0) {
            return Err(("rem_mix", format!("[{z}, {z_old}, {noise}] must be finite numbers >= 0")));
        }
        let drawn = self.rem_on() || self.nrem_source == NremSource::RemMixture;
        if drawn && z + z_old + noise == 0.0 {
            return Err(("rem_mix", "[0, 0, 0] makes every dream latent 0".into()));
        }
        if self.w == 0.0 && self.n == 0.0 && !self.rem_on() {
            return Err(("w", "w = n = r = 0 trains nothing".into()));
        }
        Ok(())
    }

    /// This condition under another name and summary, with `change` applied.
    pub fn variant(&self, name: &str, summary: &str, change: impl FnOnce(&mut Condition)) -> Condition {
        let mut c = Condition { name: name.to_string(), summary: summary.to_string(), ..self.clone() };
        change(&mut c);
        c
    }
}

/// The full model, which every other condition changes.
fn pad() -> Condition {
    Condition {
        name: "pad".into(),
        summary: "full model: Wake, NREM (perturbed dreaming), REM (adversarial dreaming)".into(),
        w: 1.0,
        n: 1.0,
        r: 1.0,
        epsilon: 0.0,
        rem_mix: Mix { z: 0.25, z_old: 0.25, noise: 0.5 },
        nrem_source: NremSource::Latent,
        order: PhaseOrder::WakeNremRem,
    }
}

/// Every condition of the paper and its appendix, in the paper's order.
pub fn conditions() -> Vec<Condition> {
    let pad = pad();
    let variants = vec![
        pad.variant("wo_nrem", "without NREM (N = 0)", |c| c.n = 0.0),
        pad.variant("wo_rem", "without REM (R = 0); Wake noise eps = 0.5 and NREM loss x0.5 (Methods 4.4.6)", |c| {
            c.n = 0.5;
            c.r = 0.0;
            c.epsilon = 0.5;
        }),
        pad.variant("wo_memory_mix", "REM dreams from the current memory alone (no z_old, no noise)", |c| {
            c.rem_mix = Mix { z: 1.0, z_old: 0.0, noise: 0.0 }
        }),
        pad.variant("wake_only", "Wake only (N = R = 0, eps = 0.5)", |c| {
            c.n = 0.0;
            c.r = 0.0;
            c.epsilon = 0.5;
        }),
        pad.variant("rem_noise_only", "appendix: REM dreams from noise alone", |c| {
            c.rem_mix = Mix { z: 0.0, z_old: 0.0, noise: 1.0 }
        }),
        pad.variant("rem_mix_only", "appendix: REM dreams from 0.5 z + 0.5 z_old, no noise", |c| {
            c.rem_mix = Mix { z: 0.5, z_old: 0.5, noise: 0.0 }
        }),
        pad.variant("rem_before_nrem", "appendix: phase order Wake, REM, NREM", |c| c.order = PhaseOrder::WakeRemNrem),
        pad.variant("nrem_mixed", "appendix: NREM replays the REM mixture instead of single memories", |c| {
            c.nrem_source = NremSource::RemMixture
        }),
    ];
    std::iter::once(pad).chain(variants).collect()
}

/// Looks a condition up by name; the error lists the valid names.
pub fn condition(name: &str) -> Result<Condition, TrainError> {
    let all = conditions();
    let known = all.iter().map(|c| c.name.as_str()).collect::<Vec<_>>().join(", ");
    all.iter()
        .find(|c| c.name == name)
        .cloned()
        .ok_or_else(|| TrainError::UnknownCondition { name: name.into(), known })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_pad_first_mix_is_the_references() {
        let all = conditions();
        let mut names: Vec<_> = all.iter().map(|c| c.name.as_str()).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), all.len());
        assert_eq!(condition("pad").unwrap().first_mix(), Mix { z: 0.5, z_old: 0.0, noise: 0.5 });
        assert!(condition("nope").unwrap_err().to_string().contains("wo_rem"));
    }

    #[test]
    fn every_built_in_condition_passes_the_check_and_bad_values_are_named() {
        for c in conditions() {
            assert_eq!(c.check(), Ok(()), "{}", c.name);
        }
        let pad = condition("pad").unwrap();
        let bad = |f: fn(&mut Condition)| pad.variant("x", "", f).check().unwrap_err();
        assert_eq!(bad(|c| c.n = f32::NAN).0, "n");
        assert_eq!(bad(|c| c.w = f32::INFINITY).0, "w");
        assert_eq!(bad(|c| c.epsilon = -0.5), ("epsilon", "-0.5 is not a noise std (a finite number >= 0)".into()));
        assert_eq!(bad(|c| c.r = 0.5).0, "r");
        assert_eq!(bad(|c| c.rem_mix.noise = -1.0).0, "rem_mix");
        assert_eq!(bad(|c| c.rem_mix = Mix { z: 0.0, z_old: 0.0, noise: 0.0 }).0, "rem_mix");
        assert_eq!(bad(|c| (c.w, c.n, c.r) = (0.0, 0.0, 0.0)).0, "w");
        // A mixture nothing draws from may be anything finite and >= 0.
        let off = pad.variant("x", "", |c| (c.r, c.rem_mix) = (0.0, Mix { z: 0.0, z_old: 0.0, noise: 0.0 }));
        assert_eq!(off.check(), Ok(()));
    }
}
