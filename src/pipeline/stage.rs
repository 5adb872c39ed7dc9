//! What a stage is. Each stage kind lives in one file under `stages/`, which owns:
//! - a typed, serialisable parameter struct (the `Unit`): its canonical JSON is hashed into the
//!   key, and the same struct is what `compute` runs on, so the key and the computation cannot
//!   disagree;
//! - where it sits in the graph (`Kind::plan`), reading its inputs by their kinds;
//! - `compute`, which calls the data, train and eval layers;
//! - its rows, figures and summary section in the report (`Kind::report`).
//!
//! The plan (plan.rs) only wires the graph; running, status and the report are generic loops
//! over nodes (run.rs, status.rs, report.rs).
use super::cache::{stage_key, Cache};
use super::config::Profile;
use super::error::PipelineError;
use crate::report::tables::Table;
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;
use std::fmt::Debug;
use std::path::{Path, PathBuf};

/// A kind of stage: its name and version (both in every key), and what it does.
pub struct Kind {
    /// The name in keys, cache paths, `pad run STAGE...` and the report.
    pub name: &'static str,
    /// Bumped whenever the output for the same parameters and inputs would change.
    pub version: u32,
    /// One line for `pad run --help` and docs/stages.md.
    pub about: &'static str,
    /// Resumes from its partial directory after a kill (training); every other kind starts
    /// afresh in a private directory.
    pub resumable: bool,
    /// Adds this kind's nodes to the graph (called in registration order, so every kind sees its
    /// inputs' nodes).
    pub plan: fn(&mut Planner),
    /// Rebuilds a node's parameters from their JSON (what `pad stage show` prints; tests use it to
    /// vary one field at a time).
    pub decode: fn(Value) -> Result<Box<dyn Stage>, serde_json::Error>,
    /// This kind's tables, figures and summary section, from its complete nodes (in report order).
    pub report: fn(&ReportCtx, &[Item]) -> Result<Contribution, PipelineError>,
}

impl PartialEq for Kind {
    fn eq(&self, other: &Kind) -> bool {
        self.name == other.name
    }
}

impl Debug for Kind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name)
    }
}

/// A stage's parameters, which are also the stage: `compute` may read nothing else of the
/// experiment. Things that cannot change the output (whether to draw progress bars, where
/// downloaded archives are kept) come in `Env`.
pub trait Unit: Serialize + DeserializeOwned + Debug + Send + Sync + 'static {
    fn kind() -> &'static Kind;
    /// Writes the stage's files into `work` (a fresh or, for training, resumable directory).
    fn compute(&self, inputs: &Inputs, work: &Path, env: &Env) -> Result<(), PipelineError>;
}

/// The object-safe face of a `Unit`, so one plan holds stages of every kind.
pub trait Stage: Debug + Send + Sync {
    fn kind(&self) -> &'static Kind;
    /// The parameters as hashed into the key.
    fn params(&self) -> Value;
    fn compute(&self, inputs: &Inputs, work: &Path, env: &Env) -> Result<(), PipelineError>;
}

impl<U: Unit> Stage for U {
    fn kind(&self) -> &'static Kind {
        U::kind()
    }
    fn params(&self) -> Value {
        // A struct of plain fields always serialises; a failure here is a programming error that
        // the key tests catch at once.
        serde_json::to_value(self).expect("stage parameters serialise to JSON")
    }
    fn compute(&self, inputs: &Inputs, work: &Path, env: &Env) -> Result<(), PipelineError> {
        Unit::compute(self, inputs, work, env)
    }
}

/// `Kind::decode` for a unit type.
pub fn decode<U: Unit>(v: Value) -> Result<Box<dyn Stage>, serde_json::Error> {
    Ok(Box::new(serde_json::from_value::<U>(v)?))
}

/// Where a node sits in the experiment: what the report groups and sorts by.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Coord {
    pub dataset: String,
    /// None for per-dataset stages and for the untrained networks' evaluations.
    pub condition: Option<String>,
    pub seed: Option<u64>,
    pub epoch: Option<usize>,
}

impl Coord {
    /// An evaluation of the untrained networks of a seed (shared by every condition).
    pub fn is_untrained(&self) -> bool {
        self.condition.is_none() && self.seed.is_some()
    }

    /// The condition as the report names it ("untrained" for the untrained networks).
    pub fn condition_name(&self) -> String {
        match (&self.condition, self.is_untrained()) {
            (Some(c), _) => c.clone(),
            (None, true) => "untrained".into(),
            (None, false) => String::new(),
        }
    }

    /// "dataset[/condition][/seedN][/epochE]" (the untrained networks have no epoch to name).
    pub fn label(&self) -> String {
        let mut s = self.dataset.clone();
        if self.seed.is_some() {
            s += &format!("/{}", self.condition_name());
        }
        if let Some(seed) = self.seed {
            s += &format!("/seed{seed}");
        }
        if let (Some(e), false) = (self.epoch, self.is_untrained()) {
            s += &format!("/epoch{e}");
        }
        s
    }
}

/// One stage instance of a plan.
#[derive(Debug)]
pub struct Node {
    pub stage: Box<dyn Stage>,
    /// e.g. "train fashion-demo/pad/seed0".
    pub label: String,
    /// Indices of the input nodes in the plan (always earlier nodes).
    pub inputs: Vec<usize>,
    pub key: String,
    pub at: Coord,
}

impl Node {
    pub fn new(stage: Box<dyn Stage>, inputs: Vec<usize>, input_keys: &[String], at: Coord) -> Node {
        let kind = stage.kind();
        let key = stage_key(kind.name, kind.version, &stage.params(), input_keys);
        Node { label: format!("{} {}", kind.name, at.label()), stage, inputs, key, at }
    }

    pub fn kind(&self) -> &'static Kind {
        self.stage.kind()
    }

    pub fn is(&self, kind: &Kind) -> bool {
        self.kind() == kind
    }
}

/// A node's inputs as the computation sees them: each input's kind and committed directory.
pub struct Inputs {
    pub label: String,
    pub entries: Vec<(&'static Kind, PathBuf, String)>,
}

impl Inputs {
    /// The inputs of `node` in `cache`.
    pub fn of(nodes: &[Node], node: &Node, cache: &Cache) -> Inputs {
        let entries = node
            .inputs
            .iter()
            .map(|&j| {
                let n = &nodes[j];
                (n.kind(), cache.dir(n.kind().name, &n.key), n.key.clone())
            })
            .collect();
        Inputs { label: node.label.clone(), entries }
    }

    /// The directory of the input of `kind`, if the node has one.
    pub fn dir(&self, kind: &Kind) -> Option<&Path> {
        self.entries.iter().find(|e| e.0 == kind).map(|e| e.1.as_path())
    }

    /// The directory of the input of `kind`, which the plan must have given.
    pub fn need(&self, kind: &Kind) -> Result<&Path, PipelineError> {
        self.dir(kind).ok_or_else(|| PipelineError::Planned { stage: self.label.clone(), missing: kind.name })
    }

    /// The key of the input of `kind`.
    pub fn key(&self, kind: &Kind) -> Result<&str, PipelineError> {
        self.entries
            .iter()
            .find(|e| e.0 == kind)
            .map(|e| e.2.as_str())
            .ok_or_else(|| PipelineError::Planned { stage: self.label.clone(), missing: kind.name })
    }
}

/// What a computation may know beyond its parameters: nothing that changes its bytes.
#[derive(Clone, Debug, Default)]
pub struct Env {
    /// Draw progress bars (with ETA) for long stages.
    pub progress: bool,
}

/// A complete node handed to its kind's report.
pub struct Item<'a> {
    pub node: &'a Node,
    pub dir: PathBuf,
    /// False for a resumable stage still under way: `dir` is its partial directory, holding
    /// what it has done so far (only resumable kinds see such items).
    pub complete: bool,
}

impl Item<'_> {
    /// The node's parameters as their type (the report reads them, e.g. a probe's settings).
    pub fn unit<U: Unit>(&self) -> Result<U, PipelineError> {
        serde_json::from_value(self.node.stage.params())
            .map_err(|e| PipelineError::Params { stage: self.node.label.clone(), msg: e.to_string() })
    }
}

/// The FID network's weights as planned: their sha256 enters the keys of the FID stages.
#[derive(Clone, Debug)]
pub enum Weights {
    NotNeeded,
    Found {
        path: String,
        sha256: String,
    },
    /// Planned but unreadable: the run refuses to start (see `Plan::check`).
    Missing {
        path: String,
        why: String,
    },
}

/// The graph under construction, as the kinds' `plan` functions see it.
pub struct Planner<'a> {
    pub profile: &'a Profile,
    pub fid_weights: &'a Weights,
    nodes: Vec<Node>,
}

impl<'a> Planner<'a> {
    pub fn new(profile: &'a Profile, fid_weights: &'a Weights) -> Planner<'a> {
        Planner { profile, fid_weights, nodes: Vec::new() }
    }

    pub fn into_nodes(self) -> Vec<Node> {
        self.nodes
    }

    /// Adds a node computing `stage` from `inputs` (earlier nodes); returns its index.
    pub fn add<U: Unit>(&mut self, stage: U, inputs: Vec<usize>, at: Coord) -> usize {
        let keys: Vec<String> = inputs.iter().map(|&i| self.nodes[i].key.clone()).collect();
        self.nodes.push(Node::new(Box::new(stage), inputs, &keys, at));
        self.nodes.len() - 1
    }

    /// The indices of the nodes of `kind`, in the order they were added.
    pub fn of(&self, kind: &Kind) -> Vec<usize> {
        (0..self.nodes.len()).filter(|&i| self.nodes[i].is(kind)).collect()
    }

    pub fn node(&self, i: usize) -> &Node {
        &self.nodes[i]
    }
}

/// What a kind's report sees besides its own nodes.
pub struct ReportCtx<'a> {
    pub profile: &'a Profile,
    pub nodes: &'a [Node],
    pub cache: &'a Cache,
    /// The paper's claims and numbers (claims.toml), where the report has them: figures mark
    /// the paper's values.
    pub claims: Option<&'a super::claims::Claims>,
}

impl ReportCtx<'_> {
    /// The committed directory of `node`'s input of `kind` (e.g. a PCA's dataset).
    pub fn input_dir(&self, node: &Node, kind: &Kind) -> Option<PathBuf> {
        node.inputs.iter().map(|&j| &self.nodes[j]).find(|n| n.is(kind)).map(|n| self.cache.dir(kind.name, &n.key))
    }

    /// The profile's colour of each condition, the same in every figure.
    pub fn colors(&self) -> crate::report::figures::Colors {
        let names: Vec<&str> = self.profile.conditions.iter().map(|c| c.name.as_str()).collect();
        crate::report::figures::Colors::new(&names)
    }
}

/// One kind's share of the report.
#[derive(Default)]
pub struct Contribution {
    /// CSV tables by file name.
    pub tables: Vec<(String, Table)>,
    /// Other files (figures) by path under results/<profile>/.
    pub files: Vec<(String, Vec<u8>)>,
    /// Its section of summary.md (Markdown; empty for none).
    pub summary: String,
}

impl Contribution {
    /// Adds a table, unless it has no rows (a table of nothing is not written).
    pub fn table(&mut self, name: &str, t: Table) {
        if !t.is_empty() {
            self.tables.push((name.into(), t));
        }
    }
}
