//! From a profile to the graph of stage instances, each with its key.
//!
//! Per dataset: its data stage; per seed the untrained networks' evaluations (they depend on the
//! seed only, so every condition's curve shares them); per run (condition x seed) training, a
//! probe per probed epoch, and at the last epoch the occlusion sweep, latent distances and PCA;
//! dreams at the early and the last epoch; and, for the profile's FID conditions, the FID of NREM
//! and REM dreams at those epochs against the dataset's real-image statistics.
use super::cache::stage_key;
use super::config::Profile;
use serde_json::{json, Value};

/// The kinds of stage, in pipeline order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum StageKind {
    Data,
    Train,
    Probe,
    Occlusion,
    Distances,
    Pca,
    Dreams,
    FidReal,
    Fid,
}

impl StageKind {
    pub const ALL: [StageKind; 9] = [
        StageKind::Data,
        StageKind::Train,
        StageKind::Probe,
        StageKind::Occlusion,
        StageKind::Distances,
        StageKind::Pca,
        StageKind::Dreams,
        StageKind::FidReal,
        StageKind::Fid,
    ];

    pub fn name(self) -> &'static str {
        match self {
            StageKind::Data => "data",
            StageKind::Train => "train",
            StageKind::Probe => "probe",
            StageKind::Occlusion => "occlusion",
            StageKind::Distances => "distances",
            StageKind::Pca => "pca",
            StageKind::Dreams => "dreams",
            StageKind::FidReal => "fid-real",
            StageKind::Fid => "fid",
        }
    }

    /// Bumped whenever a stage's output for the same inputs would change.
    pub fn version(self) -> u32 {
        match self {
            StageKind::Data => 1,
            StageKind::Train => 1,
            // 2: also writes the trained read-out (classifier.safetensors).
            StageKind::Probe => 2,
            _ => 1,
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
    /// None for per-dataset stages and for the untrained networks' evaluations.
    pub condition: Option<String>,
    pub seed: Option<u64>,
    pub epoch: Option<usize>,
}

impl Node {
    /// An evaluation of the untrained networks of a seed (shared by all conditions).
    pub fn is_untrained(&self) -> bool {
        self.condition.is_none() && self.seed.is_some()
    }

    /// The condition as the report names it ("untrained" for the untrained networks).
    pub fn condition_name(&self) -> String {
        self.condition.clone().unwrap_or_else(|| if self.is_untrained() { "untrained".into() } else { String::new() })
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

pub struct Plan {
    pub profile: Profile,
    pub nodes: Vec<Node>,
    pub fid_weights: Weights,
}

type At<'a> = (&'a str, Option<&'a str>, Option<u64>, Option<usize>);

/// Merges the fields of `extra` (an object) into `base` (an object).
fn with(mut base: Value, extra: &Value) -> Value {
    if let (Some(b), Some(e)) = (base.as_object_mut(), extra.as_object()) {
        for (k, v) in e {
            b.insert(k.clone(), v.clone());
        }
    }
    base
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
        let mut plan = Plan { profile, nodes: Vec::new(), fid_weights };
        let profile = plan.profile.clone();
        for (dname, dspec) in &profile.datasets {
            let data = plan.add(
                StageKind::Data,
                format!("data {dname}"),
                json!({"dataset": dname, "spec": dspec}),
                vec![],
                (dname, None, None, None),
            );
            for &seed in &profile.seeds {
                // The untrained networks are init_state(seed): the same for every condition.
                let label = format!("{dname}/untrained/seed{seed}");
                let net = json!({"untrained_seed": seed, "nf": crate::model::encoder::NF, "nz": crate::model::NZ, "epoch": 0});
                plan.evaluations(&label, &net, vec![data], (dname, None, Some(seed), Some(0)), false);
            }
            let fid_real = (!profile.fid_conditions.is_empty()).then(|| {
                let e = &profile.eval;
                let weights = match &plan.fid_weights {
                    Weights::Found { sha256, .. } => sha256.clone(),
                    _ => "missing".into(),
                };
                let params = json!({"samples": e.fid_samples, "split": "train", "seed": e.eval_seed, "layout": e.fid_layout, "weights_sha256": weights});
                plan.add(StageKind::FidReal, format!("fid-real {dname}"), params, vec![data], (dname, None, None, None))
            });
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
                    let train = plan.add(
                        StageKind::Train,
                        format!("train {label}"),
                        params,
                        vec![data],
                        (dname, Some(cond.name.as_str()), Some(seed), None),
                    );
                    for epoch in profile.probed_epochs().into_iter().filter(|&e| e > 0) {
                        let at = (dname.as_str(), Some(cond.name.as_str()), Some(seed), Some(epoch));
                        let last = epoch == profile.epochs;
                        plan.evaluations(
                            &format!("{label}/epoch{epoch}"),
                            &json!({"epoch": epoch}),
                            vec![data, train],
                            at,
                            !last,
                        );
                    }
                    let mut dream_epochs = vec![profile.eval.early_epoch, profile.epochs];
                    dream_epochs.dedup();
                    for epoch in dream_epochs {
                        let at = (dname.as_str(), Some(cond.name.as_str()), Some(seed), Some(epoch));
                        let e = &profile.eval;
                        let params = json!({"epoch": epoch, "n": 8, "split": "train", "seed": e.eval_seed});
                        plan.add(
                            StageKind::Dreams,
                            format!("dreams {label}/epoch{epoch}"),
                            params,
                            vec![data, train],
                            at,
                        );
                        if let (Some(real), true) = (fid_real, profile.fid_conditions.contains(&cond.name)) {
                            let params = json!({"epoch": epoch, "samples": e.fid_samples, "split": "train", "seed": e.eval_seed, "kinds": ["nrem", "rem"]});
                            plan.add(
                                StageKind::Fid,
                                format!("fid {label}/epoch{epoch}"),
                                params,
                                vec![data, train, real],
                                at,
                            );
                        }
                    }
                }
            }
        }
        plan
    }

    fn add(&mut self, kind: StageKind, label: String, params: Value, inputs: Vec<usize>, at: At) -> usize {
        let input_keys: Vec<String> = inputs.iter().map(|&i| self.nodes[i].key.clone()).collect();
        let key = stage_key(kind.name(), kind.version(), &params, &input_keys);
        self.nodes.push(Node {
            kind,
            label,
            params,
            inputs,
            key,
            dataset: at.0.into(),
            condition: at.1.map(Into::into),
            seed: at.2,
            epoch: at.3,
        });
        self.nodes.len() - 1
    }

    /// The probe of one network state, and unless `probe_only` the occlusion sweep (which reuses
    /// the probe's read-out), latent distances and PCA of it. `net` identifies the networks.
    fn evaluations(&mut self, label: &str, net: &Value, inputs: Vec<usize>, at: At, probe_only: bool) {
        let e = self.profile.eval.clone();
        let probe_params = with(
            json!({"lr": e.probe_lr, "batch": e.probe_batch, "epochs": e.probe_epochs, "seed": e.probe_seed}),
            net,
        );
        let probe = self.add(StageKind::Probe, format!("probe {label}"), probe_params, inputs.clone(), at);
        if probe_only {
            return;
        }
        let o = crate::eval::SweepConfig::default();
        let occlusion = with(json!({"levels": o.levels, "tile": o.tile, "seed": e.eval_seed}), net);
        let mut occ_inputs = inputs.clone();
        occ_inputs.push(probe);
        self.add(StageKind::Occlusion, format!("occlusion {label}"), occlusion, occ_inputs, at);
        let d = crate::eval::DistanceConfig::default();
        let distances = with(
            json!({"split": "train", "intra_pairs_per_class": d.intra_pairs_per_class, "inter_pairs": d.inter_pairs, "occluded_pairs": d.occluded_pairs, "drop": d.drop, "tile": d.tile, "seed": e.eval_seed}),
            net,
        );
        self.add(StageKind::Distances, format!("distances {label}"), distances, inputs.clone(), at);
        let p = crate::eval::PcaConfig::default();
        let pca = with(
            json!({"split": "test", "samples": e.pca_samples, "drop": p.drop, "tile": p.tile, "seed": e.eval_seed}),
            net,
        );
        self.add(StageKind::Pca, format!("pca {label}"), pca, inputs, at);
    }

    /// Refuses to start a run that would fail hours in: FID stages selected without weights.
    pub fn check(&self, nodes: &[usize]) -> Result<(), String> {
        let wants_fid = nodes.iter().any(|&i| matches!(self.nodes[i].kind, StageKind::FidReal | StageKind::Fid));
        match &self.fid_weights {
            Weights::Missing { path, why } if wants_fid => Err(format!(
                "[eval] fid_weights = \"{path}\": {why}\n  FID needs pytorch-fid's Inception weights converted to safetensors: see docs/fid.md \
                 (tools/convert_inception.py), or drop fid_conditions from profile {}",
                self.profile.name
            )),
            _ => Ok(()),
        }
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
