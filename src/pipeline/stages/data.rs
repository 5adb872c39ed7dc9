//! The data stage: one dataset fetched (or read from its mirror), verified against its lock file
//! and decoded into the canonical artifact (u8 images + labels).
use crate::data::{load_artifact, Dataset, Images, SourceSpec};
use crate::pipeline::config::DatasetSpec;
use crate::pipeline::error::PipelineError;

use crate::pipeline::stage::{decode, Contribution, Coord, Env, Inputs, Item, Kind, Planner, ReportCtx, Unit};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// The dataset artifact in a data stage's directory.
pub const ARTIFACT: &str = "dataset.safetensors";

pub static KIND: Kind = Kind {
    name: "data",
    version: 1,
    about: "fetch, verify and decode a dataset into its artifact",
    resumable: false,
    plan,
    decode: decode::<Data>,
    report,
};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Data {
    /// The profile's name for it (also the artifact's name).
    pub dataset: String,
    pub spec: DatasetSpec,
    /// Where archives are kept when the spec names no download_dir ([defaults] data_dir). Not
    /// hashed: archives are verified by sha256, so where they sit cannot change the artifact.
    #[serde(skip, default = "default_data_dir")]
    pub data_dir: PathBuf,
}

fn default_data_dir() -> PathBuf {
    PathBuf::from("data")
}

fn plan(p: &mut Planner) {
    for (name, spec) in &p.profile.datasets {
        let stage = Data { dataset: name.clone(), spec: spec.clone(), data_dir: p.profile.data_dir.clone() };
        p.add(stage, vec![], Coord { dataset: name.clone(), ..Coord::default() });
    }
}

impl Unit for Data {
    fn kind() -> &'static Kind {
        &KIND
    }

    fn compute(&self, _: &Inputs, work: &Path, _: &Env) -> Result<(), PipelineError> {
        let s = &self.spec;
        let source = SourceSpec {
            dataset: s.source.clone(),
            mirror: s.mirror.clone(),
            path: s.path.clone().map(PathBuf::from),
            name: Some(self.dataset.clone()),
            lock: s.lock.clone().map(PathBuf::from),
            allow_unpublished: s.allow_unpublished,
        };
        let download = s.download_dir.clone().map(PathBuf::from).unwrap_or_else(|| self.data_dir.clone());
        let (ds, sources) = crate::data::sources::build_with_sources(&source, &download)?;
        crate::data::artifact::write_artifact_with_sources(&ds, &sources, &work.join(ARTIFACT))?;
        Ok(())
    }
}

fn report(_: &ReportCtx, _: &[Item]) -> Result<Contribution, PipelineError> {
    Ok(Contribution::default())
}

/// The dataset of a stage's data input.
pub fn dataset(inputs: &Inputs) -> Result<Dataset, PipelineError> {
    Ok(load_artifact(&inputs.need(&KIND)?.join(ARTIFACT))?)
}

/// The "train" or "test" split of a dataset as an image set and its labels.
pub fn split<'a>(ds: &'a Dataset, name: Split) -> Result<(Images<'a>, &'a [u8]), PipelineError> {
    let s = match name {
        Split::Train => &ds.train,
        Split::Test => &ds.test,
    };
    Ok((Images::new(&s.images, ds.channels)?, &s.labels))
}

/// Which part of a dataset an evaluation draws from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Split {
    Train,
    Test,
}
