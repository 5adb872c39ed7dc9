//! pipeline.toml: the experiment as data (datasets, conditions, seeds, epochs, evaluation
//! parameters, named profiles). Unknown keys and bad values are errors naming the key and line.
use crate::train::conditions::{Mix, NremSource, PhaseOrder};
use crate::train::{condition, Condition};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use toml::Spanned;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{path}: {msg}")]
    Parse { path: PathBuf, msg: String },
    #[error("{path}:{line}: {key}: {msg}")]
    Value { path: PathBuf, line: usize, key: String, msg: String },
    #[error("{path}: no profile '{name}'; profiles: {known}")]
    NoProfile { path: PathBuf, name: String, known: String },
}

/// One dataset: which `pad fetch` source and where its files come from.
#[derive(Debug, Clone, Deserialize, serde::Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct DatasetSpec {
    /// cifar10 | svhn | mnist | fashion-mnist | cifar10-jpeg | image-folder
    pub source: String,
    /// A directory or URL standing in for the official origin.
    pub mirror: Option<String>,
    /// image-folder: the root directory or .tar.gz.
    pub path: Option<String>,
    /// Lock file with the archives' sha256s (default: <data_dir>/datasets.lock).
    pub lock: Option<String>,
    /// Directory holding (or receiving) the archives (default: [defaults].data_dir).
    pub download_dir: Option<String>,
    /// Accept archives that are not the published ones (still locked by sha256).
    #[serde(default)]
    pub allow_unpublished: bool,
}

/// A condition defined in the file: a built-in one (`base`) with some parameters changed.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConditionSpec {
    pub base: Spanned<String>,
    pub summary: Option<String>,
    pub w: Option<f32>,
    pub n: Option<f32>,
    pub r: Option<f32>,
    pub epsilon: Option<f32>,
    /// [z, z_old, noise] coefficients of REM's latent mixture.
    pub rem_mix: Option<[f32; 3]>,
    /// "latent" or "rem_mixture"
    pub nrem_source: Option<Spanned<String>>,
    /// "wake_nrem_rem" or "wake_rem_nrem"
    pub order: Option<Spanned<String>>,
}

/// Evaluation parameters (defaults: the paper's and the authors' scripts').
#[derive(Debug, Clone, Deserialize, serde::Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct EvalSpec {
    pub probe_lr: f32,
    pub probe_batch: usize,
    pub probe_epochs: usize,
    pub probe_seed: u64,
    /// Penalty of the ridge read-out beside the paper's probe (eval/ridge.rs).
    #[serde(deserialize_with = "positive_number")]
    pub ridge_lambda: f64,
    /// Seed of the evaluations' own draws: occlusion masks, distance pairs, PCA sample, dream
    /// images and noise, FID samples.
    pub eval_seed: u64,
    /// Test images in the PCA projection (Fig. 6b-d).
    pub pca_samples: usize,
    /// The "early" checkpoint of dreams and dream FID (Fig. 3); the late one is the last epoch.
    pub early_epoch: usize,
    /// Images per FID side (the paper: 10,000; the authors' script: 500).
    pub fid_samples: usize,
    /// Inception-v3 weights as safetensors (tools/convert_inception.py, docs/fid.md).
    pub fid_weights: Option<String>,
    /// Which network those weights are: "fid" (pytorch-fid's) or "torchvision".
    pub fid_layout: crate::eval::inception::Layout,
}

/// A finite number > 0 (refused while the file is read, so the error shows the line).
fn positive_number<'de, D: serde::Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    let v = <f64 as Deserialize>::deserialize(d)?;
    if v.is_finite() && v > 0.0 {
        Ok(v)
    } else {
        Err(serde::de::Error::custom(format!("must be a finite number > 0, not {v}")))
    }
}

impl Default for EvalSpec {
    fn default() -> Self {
        EvalSpec {
            probe_lr: 0.2,
            probe_batch: 64,
            probe_epochs: 20,
            probe_seed: 0,
            ridge_lambda: crate::eval::ridge::DEFAULT_LAMBDA,
            eval_seed: 0,
            pca_samples: 1000,
            early_epoch: 1,
            fid_samples: 10_000,
            fid_weights: None,
            fid_layout: crate::eval::inception::Layout::Fid,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProfileSpec {
    pub datasets: Spanned<Vec<Spanned<String>>>,
    pub conditions: Spanned<Vec<Spanned<String>>>,
    pub seeds: Spanned<Vec<u64>>,
    pub epochs: Spanned<usize>,
    /// Probe the checkpoint of every k-th epoch (and always the last and the untrained one).
    #[serde(default = "one")]
    pub probe_every: Spanned<usize>,
    /// Epochs probed besides every probe_every-th (e.g. [1] for the first epoch of a long run).
    #[serde(default)]
    pub probe_also: Option<Spanned<Vec<Spanned<usize>>>>,
    /// Train on the first N training images only (small, fast profiles).
    pub limit_train: Option<Spanned<usize>>,
    #[serde(default = "batch64")]
    pub batch: Spanned<usize>,
    /// Conditions whose NREM and REM dreams get an FID (early and last epoch); needs
    /// [eval].fid_weights.
    #[serde(default)]
    pub fid_conditions: Option<Spanned<Vec<Spanned<String>>>>,
    pub summary: Option<String>,
}

fn one() -> Spanned<usize> {
    Spanned::new(0..0, 1)
}
fn batch64() -> Spanned<usize> {
    Spanned::new(0..0, 64)
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct Defaults {
    pub data_dir: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    #[serde(default)]
    defaults: Defaults,
    datasets: BTreeMap<String, DatasetSpec>,
    #[serde(default)]
    conditions: BTreeMap<String, ConditionSpec>,
    #[serde(default)]
    eval: EvalSpec,
    profiles: BTreeMap<String, ProfileSpec>,
    /// Resources of the Slurm executor's jobs (docs/slurm.md).
    #[serde(default)]
    slurm: crate::pipeline::slurm::SlurmConfig,
}

/// A checked profile, ready to plan.
#[derive(Debug, Clone)]
pub struct Profile {
    pub name: String,
    pub datasets: Vec<(String, DatasetSpec)>,
    pub conditions: Vec<Condition>,
    pub seeds: Vec<u64>,
    pub epochs: usize,
    pub probe_every: usize,
    /// Epochs probed besides every probe_every-th (checked to lie in 1..=epochs).
    pub probe_also: Vec<usize>,
    pub limit_train: Option<usize>,
    pub batch: usize,
    /// Names of the conditions whose dreams get an FID.
    pub fid_conditions: Vec<String>,
    pub eval: EvalSpec,
    pub data_dir: PathBuf,
    /// The [slurm] table (used only by `--executor slurm`).
    pub slurm: crate::pipeline::slurm::SlurmConfig,
}

impl Profile {
    /// The training epochs whose checkpoints are probed, ascending: 0 (untrained), every k-th,
    /// those of probe_also, and the last.
    pub fn probed_epochs(&self) -> Vec<usize> {
        let mut v: Vec<usize> = (0..=self.epochs)
            .filter(|e| e % self.probe_every == 0 || *e == self.epochs || self.probe_also.contains(e))
            .collect();
        v.dedup();
        v
    }
}

/// The parsed file: its profiles are checked when asked for by name.
pub struct Config {
    path: PathBuf,
    text: String,
    raw: RawConfig,
}

impl Config {
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Io { path: path.into(), source })?;
        Self::parse(path, text)
    }

    pub fn parse(path: &Path, text: String) -> Result<Config, ConfigError> {
        let raw: RawConfig =
            toml::from_str(&text).map_err(|e| ConfigError::Parse { path: path.into(), msg: e.to_string() })?;
        let cfg = Config { path: path.into(), text, raw };
        // Check every profile now, so a typo anywhere in the file is reported at once.
        for name in cfg.raw.profiles.keys() {
            cfg.profile(name)?;
        }
        Ok(cfg)
    }

    pub fn profile_names(&self) -> Vec<String> {
        self.raw.profiles.keys().cloned().collect()
    }

    fn line(&self, span: std::ops::Range<usize>) -> usize {
        self.text[..span.start.min(self.text.len())].matches('\n').count() + 1
    }

    fn err(&self, span: std::ops::Range<usize>, key: String, msg: String) -> ConfigError {
        ConfigError::Value { path: self.path.clone(), line: self.line(span), key, msg }
    }

    pub fn profile(&self, name: &str) -> Result<Profile, ConfigError> {
        let p = self.raw.profiles.get(name).ok_or_else(|| ConfigError::NoProfile {
            path: self.path.clone(),
            name: name.into(),
            known: self.profile_names().join(", "),
        })?;
        let key = |k: &str| format!("profiles.{name}.{k}");
        let mut datasets = Vec::new();
        for d in p.datasets.get_ref() {
            let spec = self.raw.datasets.get(d.get_ref()).ok_or_else(|| {
                self.err(
                    d.span(),
                    key("datasets"),
                    format!(
                        "unknown dataset '{}'; [datasets] has: {}",
                        d.get_ref(),
                        self.raw.datasets.keys().cloned().collect::<Vec<_>>().join(", ")
                    ),
                )
            })?;
            datasets.push((d.get_ref().clone(), spec.clone()));
        }
        let mut conditions = Vec::new();
        for c in p.conditions.get_ref() {
            conditions.push(self.condition(c.get_ref()).map_err(|msg| self.err(c.span(), key("conditions"), msg))?);
        }
        for (k, v) in [("epochs", &p.epochs), ("probe_every", &p.probe_every), ("batch", &p.batch)] {
            if *v.get_ref() == 0 {
                return Err(self.err(v.span(), key(k), "must be at least 1".into()));
            }
        }
        let mut probe_also = Vec::new();
        for e in p.probe_also.iter().flat_map(|l| l.get_ref()) {
            if *e.get_ref() == 0 || *e.get_ref() > *p.epochs.get_ref() {
                return Err(self.err(
                    e.span(),
                    key("probe_also"),
                    format!("{} is not an epoch of this profile (1..={})", e.get_ref(), p.epochs.get_ref()),
                ));
            }
            probe_also.push(*e.get_ref());
        }
        if *p.batch.get_ref() < 2 {
            return Err(self.err(
                p.batch.span(),
                key("batch"),
                "must be at least 2 (the KL term needs a batch standard deviation)".into(),
            ));
        }
        for (k, empty, span) in [
            ("datasets", datasets.is_empty(), p.datasets.span()),
            ("conditions", conditions.is_empty(), p.conditions.span()),
            ("seeds", p.seeds.get_ref().is_empty(), p.seeds.span()),
        ] {
            if empty {
                return Err(self.err(span, key(k), "must not be empty".into()));
            }
        }
        if let Some(l) = &p.limit_train {
            if *l.get_ref() < *p.batch.get_ref() {
                return Err(self.err(
                    l.span(),
                    key("limit_train"),
                    format!("{} images make no mini-batch of {}", l.get_ref(), p.batch.get_ref()),
                ));
            }
        }
        let mut fid_conditions = Vec::new();
        for c in p.fid_conditions.iter().flat_map(|l| l.get_ref()) {
            if !conditions.iter().any(|k| k.name == *c.get_ref()) {
                return Err(self.err(
                    c.span(),
                    key("fid_conditions"),
                    format!("'{}' is not one of this profile's conditions", c.get_ref()),
                ));
            }
            fid_conditions.push(c.get_ref().clone());
        }
        if !fid_conditions.is_empty() && self.raw.eval.fid_weights.is_none() {
            let span = p.fid_conditions.as_ref().map(|l| l.span()).unwrap_or(0..0);
            return Err(self.err(
                span,
                key("fid_conditions"),
                "FID needs Inception weights: set [eval] fid_weights (see docs/fid.md)".into(),
            ));
        }
        if self.raw.eval.early_epoch == 0 || self.raw.eval.early_epoch > *p.epochs.get_ref() {
            return Err(self.err(
                p.epochs.span(),
                "eval.early_epoch".into(),
                format!("{} is not an epoch of profile {name} (1..={})", self.raw.eval.early_epoch, p.epochs.get_ref()),
            ));
        }
        Ok(Profile {
            name: name.into(),
            datasets,
            conditions,
            seeds: p.seeds.get_ref().clone(),
            epochs: *p.epochs.get_ref(),
            probe_every: *p.probe_every.get_ref(),
            probe_also,
            limit_train: p.limit_train.as_ref().map(|l| *l.get_ref()),
            batch: *p.batch.get_ref(),
            fid_conditions,
            eval: self.raw.eval.clone(),
            data_dir: PathBuf::from(self.raw.defaults.data_dir.clone().unwrap_or_else(|| "data".into())),
            slurm: self.raw.slurm.clone(),
        })
    }

    /// Whether a condition of that name exists (built in, or defined in this file).
    pub fn knows_condition(&self, name: &str) -> bool {
        self.raw.conditions.contains_key(name) || condition(name).is_ok()
    }

    /// A built-in condition, or one defined in [conditions.NAME] from a built-in base.
    fn condition(&self, name: &str) -> Result<Condition, String> {
        let Some(spec) = self.raw.conditions.get(name) else {
            return condition(name).map_err(|e| format!("{e}; or define [conditions.{name}] in this file"));
        };
        let ckey = format!("conditions.{name}");
        let base = condition(spec.base.get_ref())
            .map_err(|e| format!("{ckey}.base (line {}): {e}", self.line(spec.base.span())))?;
        let summary = spec.summary.clone().unwrap_or_else(|| format!("{} with changes", base.name));
        let mut c = Condition { name: name.to_string(), summary, ..base.clone() };
        c.w = spec.w.unwrap_or(c.w);
        c.n = spec.n.unwrap_or(c.n);
        c.r = spec.r.unwrap_or(c.r);
        c.epsilon = spec.epsilon.unwrap_or(c.epsilon);
        if let Some([z, z_old, noise]) = spec.rem_mix {
            c.rem_mix = Mix { z, z_old, noise };
        }
        if let Some(s) = &spec.nrem_source {
            c.nrem_source = match s.get_ref().as_str() {
                "latent" => NremSource::Latent,
                "rem_mixture" => NremSource::RemMixture,
                other => {
                    return Err(format!(
                        "{ckey}.nrem_source (line {}): '{other}' is not latent or rem_mixture",
                        self.line(s.span())
                    ))
                }
            };
        }
        if let Some(s) = &spec.order {
            c.order = match s.get_ref().as_str() {
                "wake_nrem_rem" => PhaseOrder::WakeNremRem,
                "wake_rem_nrem" => PhaseOrder::WakeRemNrem,
                other => {
                    return Err(format!(
                        "{ckey}.order (line {}): '{other}' is not wake_nrem_rem or wake_rem_nrem",
                        self.line(s.span())
                    ))
                }
            };
        }
        Ok(c)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
[datasets.demo]
source = "fashion-mnist"
mirror = "data/demo"

[conditions.half_nrem]
base = "pad"
n = 0.5

[profiles.demo]
datasets = ["demo"]
conditions = ["pad", "half_nrem"]
seeds = [0, 1]
epochs = 3
"#;

    fn parse(s: &str) -> Result<Config, ConfigError> {
        Config::parse(Path::new("pipeline.toml"), s.to_string())
    }

    #[test]
    fn a_good_file_gives_checked_profiles_with_data_defined_conditions() {
        let p = parse(GOOD).unwrap().profile("demo").unwrap();
        assert_eq!(p.conditions[1].name, "half_nrem");
        assert_eq!(p.conditions[1].n, 0.5);
        assert_eq!(p.conditions[1].r, 1.0);
        assert_eq!(p.probed_epochs(), vec![0, 1, 2, 3]);
    }

    #[test]
    fn an_unknown_key_is_named_with_its_line() {
        let bad = GOOD.replace("epochs = 3", "epochs = 3\nepoch = 4");
        let e = parse(&bad).err().unwrap().to_string();
        assert!(e.contains("pipeline.toml") && e.contains("epoch") && e.contains("line 15"), "{e}");
    }

    #[test]
    fn an_unknown_condition_or_dataset_is_named_with_key_and_line() {
        let e = parse(&GOOD.replace("\"half_nrem\"]", "\"half_nrm\"]")).err().unwrap().to_string();
        assert!(
            e.contains("pipeline.toml:12") && e.contains("profiles.demo.conditions") && e.contains("half_nrm"),
            "{e}"
        );
        let e = parse(&GOOD.replace("datasets = [\"demo\"]", "datasets = [\"dmo\"]")).err().unwrap().to_string();
        assert!(e.contains("pipeline.toml:11") && e.contains("unknown dataset 'dmo'"), "{e}");
    }

    #[test]
    fn bad_values_are_refused() {
        let e = parse(&GOOD.replace("epochs = 3", "epochs = 0")).err().unwrap().to_string();
        assert!(e.contains("profiles.demo.epochs") && e.contains("at least 1"), "{e}");
        let e = parse(&GOOD.replace("epochs = 3", "epochs = -3")).err().unwrap().to_string();
        assert!(e.contains("line 16") || e.contains("epochs"), "{e}");
        let e = parse(&GOOD.replace("n = 0.5", "n = 0.5\norder = \"sideways\"")).err().unwrap().to_string();
        assert!(e.contains("conditions.half_nrem.order") && e.contains("sideways"), "{e}");
        for bad in ["0", "-1.0", "nan", "inf"] {
            let text = format!("[eval]\nridge_lambda = {bad}\n{GOOD}");
            let e = parse(&text).err().unwrap().to_string();
            assert!(e.contains("line 2") && e.contains("ridge_lambda") && e.contains("> 0"), "{e}");
        }
        let ok = parse(&format!("[eval]\nridge_lambda = 2\n{GOOD}")).unwrap().profile("demo").unwrap();
        assert_eq!((ok.eval.ridge_lambda, EvalSpec::default().ridge_lambda), (2.0, 1.0));
    }

    #[test]
    fn probe_also_adds_epochs_to_every_kth_and_is_checked() {
        let every = |k: &str, also: &str| {
            let text = GOOD.replace("epochs = 3", &format!("epochs = 12\nprobe_every = {k}\nprobe_also = [{also}]"));
            parse(&text).map(|c| c.profile("demo").unwrap().probed_epochs())
        };
        assert_eq!(every("5", "1").unwrap(), vec![0, 1, 5, 10, 12]);
        assert_eq!(every("4", "4, 1, 12").unwrap(), vec![0, 1, 4, 8, 12]);
        for bad in ["0", "13"] {
            let e = every("5", bad).err().unwrap().to_string();
            assert!(
                e.contains("profiles.demo.probe_also") && e.contains("1..=12") && e.contains("pipeline.toml:16"),
                "{e}"
            );
        }
    }
}
