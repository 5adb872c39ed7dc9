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
use serde::Serialize;

#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Mix {
    pub z: f32,
    pub z_old: f32,
    pub noise: f32,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum NremSource {
    /// G(z) of the current mini-batch's Wake latents (the paper).
    Latent,
    /// G(z_mix) with the REM mixture as the target to recover.
    RemMixture,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum PhaseOrder {
    WakeNremRem,
    WakeRemNrem,
}

#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Condition {
    pub name: &'static str,
    pub summary: &'static str,
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
}

const PAD_MIX: Mix = Mix { z: 0.25, z_old: 0.25, noise: 0.5 };

const PAD: Condition = Condition {
    name: "pad",
    summary: "full model: Wake, NREM (perturbed dreaming), REM (adversarial dreaming)",
    w: 1.0,
    n: 1.0,
    r: 1.0,
    epsilon: 0.0,
    rem_mix: PAD_MIX,
    nrem_source: NremSource::Latent,
    order: PhaseOrder::WakeNremRem,
};

/// Every condition of the paper and its appendix.
pub const CONDITIONS: &[Condition] = &[
    PAD,
    Condition { name: "wo_nrem", summary: "without NREM (N = 0)", n: 0.0, ..PAD },
    Condition {
        name: "wo_rem",
        summary: "without REM (R = 0); Wake noise eps = 0.5 and NREM loss x0.5 (Methods 4.4.6)",
        n: 0.5,
        r: 0.0,
        epsilon: 0.5,
        ..PAD
    },
    Condition {
        name: "wo_memory_mix",
        summary: "REM dreams from the current memory alone (no z_old, no noise)",
        rem_mix: Mix { z: 1.0, z_old: 0.0, noise: 0.0 },
        ..PAD
    },
    Condition { name: "wake_only", summary: "Wake only (N = R = 0, eps = 0.5)", n: 0.0, r: 0.0, epsilon: 0.5, ..PAD },
    Condition {
        name: "rem_noise_only",
        summary: "appendix: REM dreams from noise alone",
        rem_mix: Mix { z: 0.0, z_old: 0.0, noise: 1.0 },
        ..PAD
    },
    Condition {
        name: "rem_mix_only",
        summary: "appendix: REM dreams from 0.5 z + 0.5 z_old, no noise",
        rem_mix: Mix { z: 0.5, z_old: 0.5, noise: 0.0 },
        ..PAD
    },
    Condition {
        name: "rem_before_nrem",
        summary: "appendix: phase order Wake, REM, NREM",
        order: PhaseOrder::WakeRemNrem,
        ..PAD
    },
    Condition {
        name: "nrem_mixed",
        summary: "appendix: NREM replays the REM mixture instead of single memories",
        nrem_source: NremSource::RemMixture,
        ..PAD
    },
];

/// Looks a condition up by name; the error lists the valid names.
pub fn condition(name: &str) -> Result<&'static Condition, String> {
    CONDITIONS.iter().find(|c| c.name == name).ok_or_else(|| {
        format!(
            "unknown condition '{name}'; known: {}",
            CONDITIONS.iter().map(|c| c.name).collect::<Vec<_>>().join(", ")
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_pad_first_mix_is_the_references() {
        let mut names: Vec<_> = CONDITIONS.iter().map(|c| c.name).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), CONDITIONS.len());
        assert_eq!(condition("pad").unwrap().first_mix(), Mix { z: 0.5, z_old: 0.0, noise: 0.5 });
        assert!(condition("nope").unwrap_err().contains("wo_rem"));
    }
}
