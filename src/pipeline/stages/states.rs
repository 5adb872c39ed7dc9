//! The network states evaluations read: each seed's untrained networks and the runs' checkpoints.
use super::{data, train};
use crate::model::{Encoder, Generator};
use crate::pipeline::error::PipelineError;
use crate::pipeline::stage::{Coord, Inputs, Planner};
use serde::{Deserialize, Serialize};

/// Which networks an evaluation reads. Flattened into the evaluation's parameters: the untrained
/// networks are named by what re-creates them, trained ones by the train input and the epoch.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Networks {
    /// init_state(untrained_seed) with these sizes: bit-identical to every run's epoch-0000
    /// checkpoint of that seed, so every condition shares these evaluations.
    Untrained { untrained_seed: u64, nf: usize, nz: usize },
    /// The train input's checkpoint of this epoch.
    Checkpoint { epoch: usize },
}

/// A network state to evaluate: the nodes that provide it, where it sits, what it is.
pub struct State {
    pub inputs: Vec<usize>,
    pub at: Coord,
    pub net: Networks,
}

/// Each dataset's untrained networks, one state per seed (epoch 0).
pub fn untrained_states(p: &Planner) -> Vec<State> {
    let mut out = Vec::new();
    for d in p.of(&data::KIND) {
        for &seed in &p.profile.seeds {
            let at = Coord { dataset: p.node(d).at.dataset.clone(), condition: None, seed: Some(seed), epoch: Some(0) };
            let net = Networks::Untrained { untrained_seed: seed, nf: crate::model::encoder::NF, nz: crate::model::NZ };
            out.push(State { inputs: vec![d], at, net });
        }
    }
    out
}

/// Every training run's checkpoints at the epochs `epochs` picks (a run's data input first).
pub fn trained_states(p: &Planner, epochs: impl Fn(&crate::pipeline::config::Profile) -> Vec<usize>) -> Vec<State> {
    let mut out = Vec::new();
    for t in p.of(&train::KIND) {
        let node = p.node(t);
        for epoch in epochs(p.profile) {
            let at = Coord { epoch: Some(epoch), ..node.at.clone() };
            out.push(State { inputs: vec![node.inputs[0], t], at, net: Networks::Checkpoint { epoch } });
        }
    }
    out
}

/// The states evaluated in full (occlusion, distances, PCA): the untrained networks and every
/// run's last epoch.
pub fn final_states(p: &Planner) -> Vec<State> {
    let mut v = untrained_states(p);
    v.extend(trained_states(p, |pr| vec![pr.epochs]));
    v
}

/// The networks an evaluation reads: the train input's checkpoint of `epoch`, or the untrained
/// init_state(seed) (which needs no train input).
pub fn networks(net: &Networks, inputs: &Inputs, channels: usize) -> Result<(Encoder, Generator), PipelineError> {
    match net {
        Networks::Checkpoint { epoch } => {
            let path = crate::train::run::epoch_file(inputs.need(&train::KIND)?, *epoch);
            let f = crate::model::checkpoint::read_file(&path)?;
            Ok((f.encoder(&path)?, f.generator(&path)?))
        }
        Networks::Untrained { untrained_seed, nf, nz } => {
            let s = crate::train::run::init_state(*untrained_seed, channels, *nf, *nz);
            Ok((s.enc, s.gen))
        }
    }
}
