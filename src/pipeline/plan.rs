//! From a profile to the graph of stage instances, each with its key.
use super::cache::stage_key;
use super::config::Profile;
use serde_json::{json, Value};

/// The kinds of stage, in pipeline order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum StageKind {
    Data,
    Train,
    Probe,
}

impl StageKind {
    pub const ALL: [StageKind; 3] = [StageKind::Data, StageKind::Train, StageKind::Probe];

    pub fn name(self) -> &'static str {
        match self {
            StageKind::Data => "data",
            StageKind::Train => "train",
            StageKind::Probe => "probe",
        }
    }

    /// Bumped whenever a stage's output for the same inputs would change.
    pub fn version(self) -> u32 {
        match self {
            StageKind::Data => 1,
            StageKind::Train => 1,
            StageKind::Probe => 1,
        }
    }

    pub fn parse(s: &str) -> Option<StageKind> {
        Self::ALL.into_iter().find(|k| k.name() == s)
    }
}

/// One stage instance: what it computes from which inputs.
#[derive(Clone, Debug)]
pub struct Node {
    pub kind: StageKind,
    /// Human-readable identity, e.g. "train fashion-demo/pad/seed0".
    pub label: String,
    pub params: Value,
    /// Indices of the input nodes in the plan.
    pub inputs: Vec<usize>,
    pub key: String,
    /// Where this node sits in the experiment (for the report).
    pub dataset: String,
    pub condition: Option<String>,
    pub seed: Option<u64>,
    pub epoch: Option<usize>,
}

pub struct Plan {
    pub profile: Profile,
    pub nodes: Vec<Node>,
}

impl Plan {
    pub fn new(profile: Profile) -> Plan {
        let mut nodes: Vec<Node> = Vec::new();
        let add = |nodes: &mut Vec<Node>, kind: StageKind, label: String, params: Value, inputs: Vec<usize>, at: (&str, Option<&str>, Option<u64>, Option<usize>)| {
            let input_keys: Vec<String> = inputs.iter().map(|&i| nodes[i].key.clone()).collect();
            let key = stage_key(kind.name(), kind.version(), &params, &input_keys);
            nodes.push(Node { kind, label, params, inputs, key, dataset: at.0.into(), condition: at.1.map(Into::into), seed: at.2, epoch: at.3 });
            nodes.len() - 1
        };
        for (dname, dspec) in &profile.datasets {
            let data = add(&mut nodes, StageKind::Data, format!("data {dname}"), json!({"dataset": dname, "spec": dspec}), vec![], (dname, None, None, None));
            for cond in &profile.conditions {
                for &seed in &profile.seeds {
                    // The summary is prose: it must not change a key.
                    let mut cjson = json!(cond);
                    cjson.as_object_mut().expect("object").remove("summary");
                    let params = json!({
                        "condition": cjson, "seed": seed, "epochs": profile.epochs, "batch": profile.batch,
                        "limit_train": profile.limit_train, "nf": crate::model::encoder::NF, "nz": crate::model::NZ,
                    });
                    let label = format!("{dname}/{}/seed{seed}", cond.name);
                    let train = add(&mut nodes, StageKind::Train, format!("train {label}"), params, vec![data], (dname, Some(cond.name), Some(seed), None));
                    for epoch in profile.probed_epochs() {
                        let e = &profile.eval;
                        let params = json!({"epoch": epoch, "lr": e.probe_lr, "batch": e.probe_batch, "epochs": e.probe_epochs, "seed": e.probe_seed});
                        add(&mut nodes, StageKind::Probe, format!("probe {label}/epoch{epoch}"), params, vec![train, data], (dname, Some(cond.name), Some(seed), Some(epoch)));
                    }
                }
            }
        }
        Plan { profile, nodes }
    }

    /// The nodes to run for the given kinds (all if empty), with every input they need, in order.
    pub fn select(&self, kinds: &[StageKind]) -> Vec<usize> {
        let mut want = vec![false; self.nodes.len()];
        for i in (0..self.nodes.len()).rev() {
            if kinds.is_empty() || kinds.contains(&self.nodes[i].kind) || want[i] {
                want[i] = true;
                for &j in &self.nodes[i].inputs {
                    want[j] = true;
                }
            }
        }
        (0..self.nodes.len()).filter(|&i| want[i]).collect()
    }
}
