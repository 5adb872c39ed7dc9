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
    pub w: Option<Spanned<f32>>,
    pub n: Option<Spanned<f32>>,
    pub r: Option<Spanned<f32>>,
    pub epsilon: Option<Spanned<f32>>,
    /// [z, z_old, noise] coefficients of REM's latent mixture.
    pub rem_mix: Option<Spanned<[f32; 3]>>,
    /// "latent" or "rem_mixture"
    pub nrem_source: Option<Spanned<String>>,
    /// "wake_nrem_rem" or "wake_rem_nrem"
    pub order: Option<Spanned<String>>,
}

/// Evaluation parameters (defaults: the paper's and the authors' scripts').
#[derive(Debug, Clone, Deserialize, serde::Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct EvalSpec {
    #[serde(deserialize_with = "positive_number")]
    pub probe_lr: f32,
    #[serde(deserialize_with = "probe_batch")]
    pub probe_batch: usize,
    #[serde(deserialize_with = "probe_epochs")]
    pub probe_epochs: usize,
    pub probe_seed: u64,
    /// Penalty of the ridge read-out beside the paper's probe (eval/ridge.rs).
    #[serde(deserialize_with = "positive_number")]
    pub ridge_lambda: f64,
    /// Seed of the evaluations' own draws: occlusion masks, distance pairs, PCA sample, dream
    /// images and noise, FID samples.
    pub eval_seed: u64,
    /// Test images in the PCA projection (Fig. 6b-d).
    #[serde(deserialize_with = "pca_samples")]
    pub pca_samples: usize,
    /// The "early" checkpoint of dreams and dream FID (Fig. 3); the late one is the last epoch.
    pub early_epoch: usize,
    /// Images per FID side (the paper: 10,000; the authors' script: 500).
    #[serde(deserialize_with = "fid_samples")]
    pub fid_samples: usize,
    /// Inception-v3 weights as safetensors (tools/convert_inception.py, docs/fid.md).
    pub fid_weights: Option<String>,
    /// Which network those weights are: "fid" (pytorch-fid's) or "torchvision".
    pub fid_layout: crate::eval::inception::Layout,
}

/// A finite number > 0 (refused while the file is read, so the error shows the line). An f32 is
/// checked after its conversion: 1e39 becomes infinite.
fn positive_number<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de> + Copy + Into<f64> + std::fmt::Display,
{
    let v = T::deserialize(d)?;
    let x: f64 = v.into();
    if x.is_finite() && x > 0.0 {
        Ok(v)
    } else {
        Err(serde::de::Error::custom(format!("must be a finite number > 0, not {v}")))
    }
}

/// `eval.KEY`, a whole number in `lo..=hi`, refused while the file is read (so the error shows
/// the line).
fn within<'de, D: serde::Deserializer<'de>>(
    d: D,
    key: &str,
    lo: usize,
    hi: usize,
    why: &str,
) -> Result<usize, D::Error> {
    let v = <usize as Deserialize>::deserialize(d)?;
    if (lo..=hi).contains(&v) {
        Ok(v)
    } else {
        Err(serde::de::Error::custom(format!("eval.{key}: {v} is not in {lo}..={hi}{why}")))
    }
}

fn probe_batch<'de, D: serde::Deserializer<'de>>(d: D) -> Result<usize, D::Error> {
    within(d, "probe_batch", 1, MAX_PROBE_BATCH, "")
}

fn probe_epochs<'de, D: serde::Deserializer<'de>>(d: D) -> Result<usize, D::Error> {
    within(d, "probe_epochs", 1, MAX_EPOCHS, "")
}

/// A covariance needs two samples; a dataset has at most `MAX_IMAGES` images.
const SAMPLES: &str = " (a covariance needs 2; no dataset has more images)";

fn pca_samples<'de, D: serde::Deserializer<'de>>(d: D) -> Result<usize, D::Error> {
    within(d, "pca_samples", 2, crate::data::limits::MAX_IMAGES as usize, SAMPLES)
}

fn fid_samples<'de, D: serde::Deserializer<'de>>(d: D) -> Result<usize, D::Error> {
    within(d, "fid_samples", 2, crate::data::limits::MAX_IMAGES as usize, SAMPLES)
}

/// Training epochs of a profile, and epochs of the probe's SGD.
pub const MAX_EPOCHS: usize = 10_000;
/// Training mini-batch (the paper's: 64).
pub const MAX_BATCH: usize = 4096;
/// The probe's mini-batch (on latent codes, not images).
pub const MAX_PROBE_BATCH: usize = 65_536;
/// Stages of one profile's plan (the paper's grid has 4,116): `pad status` and `pad run` hold the
/// whole plan in memory.
pub const MAX_PLAN_STAGES: u128 = 100_000;

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

/// The first entry of `list` that repeats an earlier one.
fn repeated(list: &[(String, std::ops::Range<usize>)]) -> Option<&(String, std::ops::Range<usize>)> {
    list.iter().enumerate().find(|(i, a)| list[..*i].iter().any(|b| b.0 == a.0)).map(|(_, a)| a)
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
        let mut v: Vec<usize> = (0..=self.epochs).step_by(self.probe_every).collect();
        v.extend(&self.probe_also);
        v.push(self.epochs);
        v.sort_unstable();
        v.dedup();
        v
    }

    /// How many epochs `probed_epochs` gives, counted without listing them.
    pub fn probed_count(&self) -> u128 {
        let k = self.probe_every;
        let mut also: Vec<usize> =
            self.probe_also.iter().copied().filter(|&e| !e.is_multiple_of(k) && e != self.epochs).collect();
        also.sort_unstable();
        also.dedup();
        (self.epochs / k) as u128 + 1 + u128::from(!self.epochs.is_multiple_of(k)) + also.len() as u128
    }

    /// The number of stages the plan of this profile has, computed from its sizes (the plan's
    /// kinds, stages/*.rs, each add theirs; a test in plan.rs holds the two equal). Per dataset:
    /// its data, a training run and the probes of its probed epochs per condition and seed, each
    /// seed's untrained networks probed, and for those and every run's last epoch an occlusion
    /// sweep, distances and a PCA; dreams at the early and last epoch of every run; with FID, the
    /// real images' statistics and the FID of each FID condition's dreams.
    pub fn plan_stages(&self) -> u128 {
        let (c, s) = (self.conditions.len() as u128, self.seeds.len() as u128);
        let runs = c * s;
        let dream_epochs: u128 = if self.eval.early_epoch == self.epochs { 1 } else { 2 };
        let fid =
            if self.fid_conditions.is_empty() { 0 } else { 1 + self.fid_conditions.len() as u128 * s * dream_epochs };
        let per_dataset = 1 + runs + s + runs * (self.probed_count() - 1) + 3 * (s + runs) + runs * dream_epochs + fid;
        self.datasets.len() as u128 * per_dataset
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
        // Check every condition and profile now, so a bad value anywhere in the file is reported
        // at once, used or not.
        for (name, spec) in &cfg.raw.conditions {
            cfg.defined_condition(name, spec)?;
        }
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
            self.check_dataset(d.get_ref(), spec)?;
            datasets.push((d.get_ref().clone(), spec.clone()));
        }
        let mut conditions = Vec::new();
        for c in p.conditions.get_ref() {
            conditions.push(self.condition(c.get_ref(), c.span(), key("conditions"))?);
        }
        for (k, v) in [("epochs", &p.epochs), ("probe_every", &p.probe_every), ("batch", &p.batch)] {
            if *v.get_ref() == 0 {
                return Err(self.err(v.span(), key(k), "must be at least 1".into()));
            }
        }
        for (k, v, max, why) in [
            ("epochs", &p.epochs, MAX_EPOCHS, "the paper trains 50"),
            ("batch", &p.batch, MAX_BATCH, "the paper's is 64"),
        ] {
            if *v.get_ref() > max {
                return Err(self.err(v.span(), key(k), format!("{} is more than {max} ({why})", v.get_ref())));
            }
        }
        let names = |v: &[Spanned<String>]| v.iter().map(|x| (x.get_ref().clone(), x.span())).collect::<Vec<_>>();
        let seeds: Vec<(String, std::ops::Range<usize>)> =
            p.seeds.get_ref().iter().map(|s| (s.to_string(), p.seeds.span())).collect();
        let fids = p.fid_conditions.as_ref().map(|l| names(l.get_ref())).unwrap_or_default();
        for (k, list) in [
            ("datasets", names(p.datasets.get_ref())),
            ("conditions", names(p.conditions.get_ref())),
            ("seeds", seeds),
            ("fid_conditions", fids),
        ] {
            if let Some((dup, span)) = repeated(&list) {
                return Err(self.err(span.clone(), key(k), format!("'{dup}' is listed twice (the same stages twice)")));
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
        let profile = Profile {
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
        };
        let stages = profile.plan_stages();
        if stages > MAX_PLAN_STAGES {
            return Err(self.err(
                p.epochs.span(),
                format!("profiles.{name}"),
                format!(
                    "its plan would have {stages} stages ({} dataset(s) x {} condition(s) x {} seed(s), {} probed \
                     epochs each), more than the {MAX_PLAN_STAGES} pad plans at once; probe fewer epochs \
                     (probe_every) or split the profile",
                    profile.datasets.len(),
                    profile.conditions.len(),
                    profile.seeds.len(),
                    profile.probed_count()
                ),
            ));
        }
        Ok(profile)
    }

    /// Whether a condition of that name exists (built in, or defined in this file).
    pub fn knows_condition(&self, name: &str) -> bool {
        self.raw.conditions.contains_key(name) || condition(name).is_ok()
    }

    /// A [datasets.NAME] table names a source pad knows, with what it needs. (Its fields are
    /// hashed into the data stage's key as they are, so they carry no spans: the error points at
    /// the table's header.)
    fn check_dataset(&self, name: &str, spec: &DatasetSpec) -> Result<(), ConfigError> {
        let header = format!("[datasets.{name}]");
        let at = self.text.find(&header).or_else(|| self.text.find(&format!("[datasets.\"{name}\"]"))).unwrap_or(0);
        let known = crate::data::sources::DATASETS.iter().map(|d| d.name).chain(["image-folder"]);
        if !known.clone().any(|k| k == spec.source) {
            let known: Vec<&str> = known.collect();
            return Err(self.err(
                at..at,
                format!("datasets.{name}.source"),
                format!("'{}' is not a source pad knows ({})", spec.source, known.join(", ")),
            ));
        }
        if spec.source == "image-folder" && spec.path.is_none() {
            return Err(self.err(
                at..at,
                format!("datasets.{name}.path"),
                "an image-folder needs path = \"ROOT\" (a directory or .tar.gz with train/<class>/, test/<class>/)"
                    .into(),
            ));
        }
        Ok(())
    }

    /// A built-in condition, or one defined in [conditions.NAME]; `at` and `key` say where the
    /// profile names it.
    fn condition(&self, name: &str, at: std::ops::Range<usize>, key: String) -> Result<Condition, ConfigError> {
        match self.raw.conditions.get(name) {
            Some(spec) => self.defined_condition(name, spec),
            None => condition(name)
                .map_err(|e| self.err(at, key, format!("{e}; or define [conditions.{name}] in this file"))),
        }
    }

    /// The condition of a [conditions.NAME] table: a built-in base with parameters changed, each
    /// checked (`Condition::check`); an error names the key and its line.
    fn defined_condition(&self, name: &str, spec: &ConditionSpec) -> Result<Condition, ConfigError> {
        let key = |field: &str| format!("conditions.{name}.{field}");
        let base =
            condition(spec.base.get_ref()).map_err(|e| self.err(spec.base.span(), key("base"), e.to_string()))?;
        let summary = spec.summary.clone().unwrap_or_else(|| format!("{} with changes", base.name));
        let mut c = Condition { name: name.to_string(), summary, ..base.clone() };
        let value = |v: &Option<Spanned<f32>>, default: f32| v.as_ref().map_or(default, |v| *v.get_ref());
        c.w = value(&spec.w, c.w);
        c.n = value(&spec.n, c.n);
        c.r = value(&spec.r, c.r);
        c.epsilon = value(&spec.epsilon, c.epsilon);
        if let Some(m) = &spec.rem_mix {
            let [z, z_old, noise] = *m.get_ref();
            c.rem_mix = Mix { z, z_old, noise };
        }
        if let Some(s) = &spec.nrem_source {
            c.nrem_source = match s.get_ref().as_str() {
                "latent" => NremSource::Latent,
                "rem_mixture" => NremSource::RemMixture,
                other => {
                    return Err(self.err(
                        s.span(),
                        key("nrem_source"),
                        format!("'{other}' is not latent or rem_mixture"),
                    ))
                }
            };
        }
        if let Some(s) = &spec.order {
            c.order = match s.get_ref().as_str() {
                "wake_nrem_rem" => PhaseOrder::WakeNremRem,
                "wake_rem_nrem" => PhaseOrder::WakeRemNrem,
                other => {
                    return Err(self.err(
                        s.span(),
                        key("order"),
                        format!("'{other}' is not wake_nrem_rem or wake_rem_nrem"),
                    ))
                }
            };
        }
        c.check().map_err(|(field, msg)| {
            // The line of the value that is wrong, or of the table's base when it came from there.
            let span = match field {
                "w" => spec.w.as_ref().map(|v| v.span()),
                "n" => spec.n.as_ref().map(|v| v.span()),
                "r" => spec.r.as_ref().map(|v| v.span()),
                "epsilon" => spec.epsilon.as_ref().map(|v| v.span()),
                "rem_mix" => spec.rem_mix.as_ref().map(|v| v.span()),
                _ => None,
            };
            self.err(span.unwrap_or_else(|| spec.base.span()), key(field), msg)
        })?;
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
        for bad in ["0", "-1.0", "nan", "inf"] {
            let text = format!("[eval]\nridge_lambda = {bad}\n{GOOD}");
            let e = parse(&text).err().unwrap().to_string();
            assert!(e.contains("line 2") && e.contains("ridge_lambda") && e.contains("> 0"), "{e}");
        }
        let ok = parse(&format!("[eval]\nridge_lambda = 2\n{GOOD}")).unwrap().profile("demo").unwrap();
        assert_eq!((ok.eval.ridge_lambda, EvalSpec::default().ridge_lambda), (2.0, 1.0));
    }

    #[test]
    fn condition_parameters_are_checked_with_key_and_line_used_or_not() {
        for (bad, want) in [
            ("n = nan", "pipeline.toml:8: conditions.half_nrem.n: NaN is not a loss weight"),
            ("n = 1e39", "pipeline.toml:8: conditions.half_nrem.n: inf is not a loss weight"),
            ("n = 0.5\nepsilon = -0.1", "pipeline.toml:9: conditions.half_nrem.epsilon: -0.1 is not a noise std"),
            ("n = 0.5\nr = 0.5", "pipeline.toml:9: conditions.half_nrem.r: 0.5 is not 0 or 1"),
            ("n = 0.5\nrem_mix = [0.5, inf, 0]", "pipeline.toml:9: conditions.half_nrem.rem_mix: [0.5, inf, 0]"),
            ("n = 0.5\nrem_mix = [0, 0, 0]", "conditions.half_nrem.rem_mix: [0, 0, 0] makes every dream latent 0"),
            ("n = 0\nw = 0\nr = 0", "conditions.half_nrem.w: w = n = r = 0 trains nothing"),
            ("n = 0.5\norder = \"sideways\"", "pipeline.toml:9: conditions.half_nrem.order: 'sideways' is not"),
        ] {
            let e = parse(&GOOD.replace("n = 0.5", bad)).err().unwrap().to_string();
            assert!(e.contains(want), "{bad}: {e}");
        }
        // A condition no profile uses is checked all the same.
        let unused = GOOD.replace("conditions = [\"pad\", \"half_nrem\"]", "conditions = [\"pad\"]");
        parse(&unused).unwrap();
        let e = parse(&unused.replace("n = 0.5", "n = -1")).err().unwrap().to_string();
        assert!(e.contains("conditions.half_nrem.n: -1 is not a loss weight"), "{e}");
        // Good values are taken as written.
        let c = parse(&GOOD.replace("n = 0.5", "n = 0.25\nepsilon = 0.5\nrem_mix = [0.5, 0.5, 0]")).unwrap();
        let c = c.profile("demo").unwrap().conditions[1].clone();
        assert_eq!((c.n, c.epsilon, c.rem_mix), (0.25, 0.5, Mix { z: 0.5, z_old: 0.5, noise: 0.0 }));
    }

    #[test]
    fn profile_and_eval_parameters_are_checked() {
        let e = parse(&GOOD.replace("seeds = [0, 1]", "seeds = [0, 1, 0]")).err().unwrap().to_string();
        assert!(e.contains("pipeline.toml:13: profiles.demo.seeds: '0' is listed twice"), "{e}");
        let e = parse(&GOOD.replace("[\"pad\", \"half_nrem\"]", "[\"pad\", \"half_nrem\", \"pad\"]")).err().unwrap();
        assert!(e.to_string().contains("profiles.demo.conditions: 'pad' is listed twice"), "{e}");
        let e = parse(&GOOD.replace("datasets = [\"demo\"]", "datasets = [\"demo\", \"demo\"]")).err().unwrap();
        assert!(e.to_string().contains("profiles.demo.datasets: 'demo' is listed twice"), "{e}");
        let e = parse(&GOOD.replace("epochs = 3", "epochs = 1000000000000")).err().unwrap().to_string();
        assert!(e.contains("pipeline.toml:14: profiles.demo.epochs: 1000000000000 is more than 10000"), "{e}");
        let e = parse(&GOOD.replace("epochs = 3", "epochs = 3\nbatch = 100000")).err().unwrap().to_string();
        assert!(e.contains("profiles.demo.batch: 100000 is more than 4096"), "{e}");
        for (bad, want) in [
            ("probe_batch = 0", "eval.probe_batch: 0 is not in 1..=65536"),
            ("probe_epochs = 0", "eval.probe_epochs: 0 is not in 1..=10000"),
            ("fid_samples = 1", "eval.fid_samples: 1 is not in 2..=1000000 (a covariance needs 2"),
            ("pca_samples = 1", "eval.pca_samples: 1 is not in 2..=1000000"),
            ("probe_lr = nan", "must be a finite number > 0, not NaN"),
            ("probe_lr = -0.2", "must be a finite number > 0, not -0.2"),
        ] {
            let e = parse(&format!("[eval]\n{bad}\n{GOOD}")).err().unwrap().to_string();
            let key = bad.split(' ').next().unwrap();
            assert!(e.contains("line 2") && e.contains(key) && e.contains(want), "{bad}: {e}");
        }
    }

    #[test]
    fn a_dataset_source_pad_does_not_know_is_refused_at_its_table() {
        let e = parse(&GOOD.replace("\"fashion-mnist\"", "\"fashion-mnst\"")).err().unwrap().to_string();
        assert!(
            e.contains("pipeline.toml:2: datasets.demo.source: 'fashion-mnst' is not a source pad knows (cifar10"),
            "{e}"
        );
        let e = parse(&GOOD.replace("\"fashion-mnist\"", "\"image-folder\"")).err().unwrap().to_string();
        assert!(e.contains("pipeline.toml:2: datasets.demo.path: an image-folder needs path"), "{e}");
    }

    #[test]
    fn a_plan_too_large_is_refused_with_its_size_before_it_is_built() {
        let seeds = (0..20).map(|s| s.to_string()).collect::<Vec<_>>().join(", ");
        let huge = GOOD.replace("seeds = [0, 1]", &format!("seeds = [{seeds}]")).replace("epochs = 3", "epochs = 5000");
        let t = std::time::Instant::now();
        let e = parse(&huge).err().unwrap().to_string();
        assert!(t.elapsed() < std::time::Duration::from_secs(1), "{:?}", t.elapsed());
        // Per dataset: 1 + 40 runs + 20 + 40 x 5000 probes + 3 x 60 + 40 x 2 dream epochs.
        let stages = 1 + 40 + 20 + 40 * 5000 + 3 * 60 + 40 * 2;
        assert!(
            e.contains(&format!(
                "pipeline.toml:14: profiles.demo: its plan would have {stages} stages (1 dataset(s) x 2 condition(s) x \
                 20 seed(s), 5001 probed epochs each), more than the 100000"
            )),
            "{e}"
        );
        // Probed every 100th epoch, the same grid fits.
        let p = parse(&huge.replace("epochs = 5000", "epochs = 5000\nprobe_every = 100")).unwrap();
        assert_eq!(p.profile("demo").unwrap().probed_count(), 51);
    }

    #[test]
    fn probed_epochs_are_every_kth_the_extra_and_the_last_counted_alike() {
        let p = parse(GOOD).unwrap().profile("demo").unwrap();
        for epochs in 1..40usize {
            for k in 1..12 {
                for also in [vec![], vec![1], vec![epochs, 1, 1], vec![epochs.div_ceil(2), 3.min(epochs)]] {
                    let q = Profile { epochs, probe_every: k, probe_also: also.clone(), ..p.clone() };
                    let want: Vec<usize> =
                        (0..=epochs).filter(|e| e % k == 0 || *e == epochs || also.contains(e)).collect();
                    assert_eq!(q.probed_epochs(), want, "{epochs} {k} {also:?}");
                    assert_eq!(q.probed_count(), want.len() as u128, "{epochs} {k} {also:?}");
                }
            }
        }
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
