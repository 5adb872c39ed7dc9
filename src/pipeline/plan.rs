//! From a profile to the graph of stage instances, each with its key. The plan only wires: every
//! registered kind (stages/mod.rs, in order) adds its nodes, reading the nodes of its inputs'
//! kinds; what a node computes is its own business.
use super::config::Profile;
use super::error::PipelineError;
pub use super::stage::Weights;
use super::stage::{Kind, Node, Planner};
use super::stages::{self, fid_real};

pub struct Plan {
    pub profile: Profile,
    pub nodes: Vec<Node>,
    pub fid_weights: Weights,
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
        let mut planner = Planner::new(&profile, &fid_weights);
        for kind in stages::KINDS {
            (kind.plan)(&mut planner);
        }
        let nodes = planner.into_nodes();
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::config::Config;

    /// The size a profile announces (checked at load against the bound) is the size of its plan.
    #[test]
    fn plan_stages_counts_what_the_kinds_plan() {
        let text = |profile: &str| {
            format!(
                "[datasets.a]\nsource = \"mnist\"\n[datasets.b]\nsource = \"svhn\"\n\
                 [eval]\nfid_weights = \"no/such/weights.safetensors\"\nearly_epoch = 2\n\
                 [profiles.p]\ndatasets = [\"a\", \"b\"]\nseeds = [3, 1, 2]\nbatch = 8\n{profile}"
            )
        };
        for profile in [
            "conditions = [\"pad\"]\nepochs = 2\n",
            "conditions = [\"pad\", \"wo_rem\", \"wake_only\"]\nepochs = 7\nprobe_every = 3\nprobe_also = [1, 7, 4]\n",
            "conditions = [\"pad\", \"wo_nrem\"]\nepochs = 5\nfid_conditions = [\"wo_nrem\"]\n",
            "conditions = [\"pad\", \"wo_nrem\"]\nepochs = 2\nprobe_every = 9\nfid_conditions = [\"pad\", \"wo_nrem\"]\n",
        ] {
            let cfg = Config::parse(std::path::Path::new("t.toml"), text(profile)).unwrap();
            let p = cfg.profile("p").unwrap();
            let want = p.plan_stages();
            assert_eq!(Plan::new(p).nodes.len() as u128, want, "{profile}");
        }
    }
}
