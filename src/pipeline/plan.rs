//! From a profile to the graph of stage instances, each with its key. The plan only wires: every
//! registered kind (stages/mod.rs, in order) adds its nodes, reading the nodes of its inputs'
//! kinds; what a node computes is its own business.
use super::config::Profile;
use super::error::PipelineError;
use super::stage::{Coord, Kind, Node, Unit};
use super::stages::{self, fid_real};

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

pub struct Plan {
    pub profile: Profile,
    pub nodes: Vec<Node>,
    pub fid_weights: Weights,
}

/// The graph under construction, as the kinds' `plan` functions see it.
pub struct Planner<'a> {
    pub profile: &'a Profile,
    pub fid_weights: &'a Weights,
    nodes: Vec<Node>,
}

impl Planner<'_> {
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

impl Plan {
    pub fn new(profile: Profile) -> Plan {
        let fid_weights = match (&profile.eval.fid_weights, profile.fid_conditions.is_empty()) {
            (Some(path), false) => match crate::files::sha256_file(std::path::Path::new(path)) {
                Ok(sha256) => Weights::Found { path: path.clone(), sha256 },
                Err(e) => Weights::Missing { path: path.clone(), why: e.to_string() },
            },
            _ => Weights::NotNeeded,
        };
        let mut planner = Planner { profile: &profile, fid_weights: &fid_weights, nodes: Vec::new() };
        for kind in stages::KINDS {
            (kind.plan)(&mut planner);
        }
        let nodes = planner.nodes;
        Plan { profile, nodes, fid_weights }
    }

    /// A registered kind by name.
    pub fn kind(name: &str) -> Result<&'static Kind, PipelineError> {
        stages::KINDS.iter().copied().find(|k| k.name == name).ok_or_else(|| PipelineError::UnknownStage {
            name: name.into(),
            known: stages::KINDS.iter().map(|k| k.name).collect::<Vec<_>>().join(", ") + ", report",
        })
    }

    /// The node with this key (a full key, or a unique prefix of at least 8 characters).
    pub fn find(&self, key: &str) -> Result<usize, PipelineError> {
        let hits: Vec<usize> =
            (0..self.nodes.len()).filter(|&i| key.len() >= 8 && self.nodes[i].key.starts_with(key)).collect();
        match hits.as_slice() {
            [i] => Ok(*i),
            _ => Err(PipelineError::NoSuchKey { key: key.into(), profile: self.profile.name.clone() }),
        }
    }

    /// Refuses to start a run that would fail hours in: FID stages selected without weights.
    pub fn check(&self, nodes: &[usize]) -> Result<(), PipelineError> {
        let wants_fid =
            nodes.iter().any(|&i| self.nodes[i].is(&fid_real::KIND) || self.nodes[i].is(&stages::fid::KIND));
        match &self.fid_weights {
            Weights::Missing { path, why } if wants_fid => Err(PipelineError::Refused {
                profile: self.profile.name.clone(),
                msg: format!(
                    "[eval] fid_weights = \"{path}\": {why}\n  FID needs pytorch-fid's Inception weights converted to \
                     safetensors: see docs/fid.md (tools/convert_inception.py), or drop fid_conditions from the profile"
                ),
            }),
            _ => Ok(()),
        }
    }

    /// The nodes to run for the given kinds (all if empty), with every input they need, in order.
    pub fn select(&self, kinds: &[&Kind]) -> Vec<usize> {
        let mut want = vec![false; self.nodes.len()];
        for i in (0..self.nodes.len()).rev() {
            if kinds.is_empty() || kinds.contains(&self.nodes[i].kind()) || want[i] {
                want[i] = true;
                for &j in &self.nodes[i].inputs {
                    want[j] = true;
                }
            }
        }
        (0..self.nodes.len()).filter(|&i| want[i]).collect()
    }

    /// The nodes of `kind`.
    pub fn of<'a>(&'a self, kind: &'a Kind) -> impl Iterator<Item = &'a Node> + 'a {
        self.nodes.iter().filter(move |n| n.is(kind))
    }
}
