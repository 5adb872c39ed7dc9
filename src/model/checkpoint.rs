//! Checkpoints as safetensors files.
//!
//! Tensor names are the authors' state-dict names (conv1.0.weight ... dis.0.bias for E,
//! tconv1.0.weight ... tconv4.0.bias for G; the two sets do not collide), so PyTorch loads a pad
//! checkpoint with `E.load_state_dict(sd, strict=False)` (or by filtering names), and pad reads
//! weights trained by PyTorch. Optimizer state, when present, is stored as
//! `adam.<E|G>.<param>.exp_avg` / `.exp_avg_sq` tensors plus step counts in the metadata.
//! Reading checks every name, shape and dtype and reports all that is missing at once.
use super::error::ModelError;
use super::param::{Network, Param};
use crate::engine::adam::AdamSlot;
use crate::files::safetensors::{self, Dtype, HeaderLayout, Loaded, Tensor};
use std::collections::BTreeMap;
use std::path::Path;

/// Raw contents of a checkpoint file: f32 tensors by name, and string metadata.
pub struct TensorFile {
    pub tensors: BTreeMap<String, (Vec<usize>, Vec<f32>)>,
    pub metadata: BTreeMap<String, String>,
}

/// Serialises f32 tensors and metadata to safetensors bytes, byte-identical across runs (sorted
/// keys; see files::safetensors).
pub fn to_bytes(tensors: &BTreeMap<String, (Vec<usize>, Vec<f32>)>, metadata: &BTreeMap<String, String>) -> Vec<u8> {
    let data: Vec<Vec<u8>> = tensors.values().map(|(_, v)| safetensors::f32_bytes(v)).collect();
    let list: Vec<Tensor> = tensors
        .iter()
        .zip(&data)
        .map(|((name, (shape, _)), data)| Tensor { name, dtype: Dtype::F32, shape: shape.clone(), data })
        .collect();
    safetensors::to_bytes(&list, metadata, HeaderLayout::Sorted)
}

/// Reads every tensor of a safetensors file as f32 (error on any other dtype).
pub fn read_file(path: &Path) -> Result<TensorFile, ModelError> {
    tensor_file(path, safetensors::load(path)?)
}

pub fn parse(path: &Path, bytes: &[u8]) -> Result<TensorFile, ModelError> {
    let loaded = Loaded::parse(bytes.to_vec()).map_err(|source| ModelError::Format { path: path.into(), source })?;
    tensor_file(path, loaded)
}

fn tensor_file(path: &Path, f: Loaded) -> Result<TensorFile, ModelError> {
    let mut tensors = BTreeMap::new();
    for (name, t) in &f.header.tensors {
        if t.dtype != Dtype::F32 {
            return Err(ModelError::DType { path: path.into(), name: name.clone(), found: format!("{:?}", t.dtype) });
        }
        tensors.insert(name.clone(), (t.shape.clone(), safetensors::f32s(f.data(t))));
    }
    Ok(TensorFile { tensors, metadata: f.header.metadata.clone() })
}

impl TensorFile {
    /// Copies the named tensors into `params`, checking that all exist with the right shapes.
    pub fn load_params(&self, path: &Path, what: &str, params: Vec<&mut Param>) -> Result<(), ModelError> {
        let missing: Vec<String> =
            params.iter().filter(|p| !self.tensors.contains_key(&p.name)).map(|p| p.name.clone()).collect();
        if !missing.is_empty() {
            return Err(ModelError::Missing { path: path.into(), what: what.into(), names: missing });
        }
        for p in params {
            let (shape, v) = &self.tensors[&p.name];
            if *shape != p.shape {
                return Err(ModelError::Shape {
                    path: path.into(),
                    name: p.name.clone(),
                    expected: p.shape.clone(),
                    found: shape.clone(),
                });
            }
            p.value.copy_from_slice(v);
        }
        Ok(())
    }

    /// Restores Adam state written by `put_adam`; `prefix` is "E" or "G".
    pub fn load_adam(
        &self,
        path: &Path,
        prefix: &str,
        params: &[&Param],
        slots: &mut [AdamSlot],
    ) -> Result<(), ModelError> {
        let key = format!("adam.{prefix}.steps");
        let steps: Vec<u64> = serde_json::from_str(self.metadata.get(&key).ok_or_else(|| ModelError::Metadata {
            path: path.into(),
            key: key.clone(),
            msg: "missing (a weights-only file cannot resume training)".into(),
        })?)
        .map_err(|e| ModelError::Metadata { path: path.into(), key: key.clone(), msg: e.to_string() })?;
        if steps.len() != params.len() {
            return Err(ModelError::Metadata {
                path: path.into(),
                key,
                msg: format!("{} step counts for {} parameters", steps.len(), params.len()),
            });
        }
        for ((p, slot), step) in params.iter().zip(slots.iter_mut()).zip(steps) {
            for (field, dst) in [("exp_avg", &mut slot.m), ("exp_avg_sq", &mut slot.v)] {
                let name = format!("adam.{prefix}.{}.{field}", p.name);
                let (shape, v) = self.tensors.get(&name).ok_or_else(|| ModelError::Missing {
                    path: path.into(),
                    what: "optimizer state".into(),
                    names: vec![name.clone()],
                })?;
                if *shape != p.shape {
                    return Err(ModelError::Shape {
                        path: path.into(),
                        name,
                        expected: p.shape.clone(),
                        found: shape.clone(),
                    });
                }
                dst.copy_from_slice(v);
            }
            slot.step = step;
        }
        Ok(())
    }
}

/// Adds parameters by their names.
pub fn put_params(out: &mut BTreeMap<String, (Vec<usize>, Vec<f32>)>, params: &[&Param]) {
    for p in params {
        out.insert(p.name.clone(), (p.shape.clone(), p.value.clone()));
    }
}

/// Adds Adam moments as tensors and step counts as metadata.
pub fn put_adam(
    out: &mut BTreeMap<String, (Vec<usize>, Vec<f32>)>,
    meta: &mut BTreeMap<String, String>,
    prefix: &str,
    params: &[&Param],
    slots: &[AdamSlot],
) {
    for (p, s) in params.iter().zip(slots) {
        out.insert(format!("adam.{prefix}.{}.exp_avg", p.name), (p.shape.clone(), s.m.clone()));
        out.insert(format!("adam.{prefix}.{}.exp_avg_sq", p.name), (p.shape.clone(), s.v.clone()));
    }
    let steps: Vec<u64> = slots.iter().map(|s| s.step).collect();
    meta.insert(format!("adam.{prefix}.steps"), serde_json::to_string(&steps).unwrap());
}

/// The tensor-name prefixes under which other tools store the authors' state dicts
/// ("" for pad's own files; "encoder."/"generator." for the PyTorch peer's safetensors twin).
const PREFIXES: [(&str, &str); 2] = [("", ""), ("encoder.", "generator.")];

impl TensorFile {
    /// The prefix pair under which this file stores the encoder, if any.
    fn prefixes(&self) -> Option<(&'static str, &'static str)> {
        PREFIXES.iter().copied().find(|(e, _)| self.tensors.contains_key(&format!("{e}conv1.0.weight")))
    }

    /// The encoder stored in this file, its sizes (channels, nf, nz) read off the tensor shapes.
    pub fn encoder(&self, path: &Path) -> Result<super::Encoder, ModelError> {
        let (pe, _) = self.prefixes().ok_or_else(|| ModelError::Missing {
            path: path.into(),
            what: "the encoder".into(),
            names: vec!["conv1.0.weight".into()],
        })?;
        let shape = |n: &str| self.tensors.get(&format!("{pe}{n}")).map(|t| t.0.clone()).unwrap_or_default();
        let (c1, c4) = (shape("conv1.0.weight"), shape("conv4.0.weight"));
        if c1.len() != 4 || c4.len() != 4 {
            return Err(ModelError::Missing {
                path: path.into(),
                what: "the encoder".into(),
                names: vec![format!("{pe}conv4.0.weight")],
            });
        }
        let mut enc = super::Encoder::with_size(c1[1], c1[0], c4[0]);
        self.without_prefix(pe).load_params(path, "the encoder", enc.params_mut())?;
        Ok(enc)
    }

    /// The generator stored in this file, sizes read off the tensor shapes.
    pub fn generator(&self, path: &Path) -> Result<super::Generator, ModelError> {
        let (_, pg) = self.prefixes().unwrap_or(("", ""));
        let shape = |n: &str| self.tensors.get(&format!("{pg}{n}")).map(|t| t.0.clone()).unwrap_or_default();
        let (t1, t4) = (shape("tconv1.0.weight"), shape("tconv4.0.weight"));
        if t1.len() != 4 || t4.len() != 4 {
            return Err(ModelError::Missing {
                path: path.into(),
                what: "the generator".into(),
                names: vec![format!("{pg}tconv1.0.weight")],
            });
        }
        let mut gen = super::Generator::with_size(t4[1], t4[0], t1[0]);
        self.without_prefix(pg).load_params(path, "the generator", gen.params_mut())?;
        Ok(gen)
    }

    /// The tensors whose names start with `prefix`, with it removed.
    fn without_prefix(&self, prefix: &str) -> TensorFile {
        let tensors = self
            .tensors
            .iter()
            .filter_map(|(k, v)| k.strip_prefix(prefix).map(|b| (b.to_string(), v.clone())))
            .collect();
        TensorFile { tensors, metadata: BTreeMap::new() }
    }
}
