//! Inception-v3 as FID uses it (pytorch-fid's port of the TensorFlow FID graph), forward only, on
//! the engine's CNHW im2col convolutions: images in [-1, 1] -> 2048-d pool3 features.
//!
//! Weights come by name from a safetensors file holding a PyTorch state dict (tools/
//! convert_inception.py writes one from pytorch-fid's pt_inception-2015-12-05-6726825d.pth).
//! Every `BasicConv2d` is conv (no bias) + BatchNorm(eps 0.001) + ReLU; the batch norm is folded
//! into the convolution at load time: W' = W * g / sqrt(v + eps), b' = beta - mean * g / sqrt(v + eps).
//!
//! Two layouts share the tensor names but differ in pooling:
//! * `Fid` (pytorch-fid's FIDInceptionA/C/E): the 3x3 average pools of Mixed_5*, 6b-e and 7b
//!   divide by the real pixels only (TensorFlow's rule, count_include_pad=False), and Mixed_7c
//!   pools by *max* (a quirk of the TF graph that FID is defined with).
//! * `Torchvision` (torchvision's inception_v3, used by the PAD authors' script): every branch
//!   pool is an average counting the padding; the file also carries AuxLogits.* (ignored).
use super::error::EvalError;
use crate::engine::conv2d::{conv2d_infer_then, conv2d_infer_uninit, Epilogue, RectSpec};
use crate::engine::pool::{avg_pool2d, global_avg_pool, max_pool2d, max_pool2d_uninit, PoolSpec};
use crate::engine::resize::resize_bilinear;
use crate::engine::{swap_leading_axes, Shape4};
use crate::files::safetensors::{self, Dtype};
use rayon::prelude::*;
use std::collections::{BTreeMap, BTreeSet};
use std::mem::MaybeUninit;
use std::path::Path;

/// Batch-norm epsilon of every Inception BasicConv2d (not stored in the weights file).
pub const BN_EPS: f64 = 0.001;
/// Side of the network's input images.
pub const SIDE: usize = 299;
/// The smallest input side for which every stage still has a valid window.
pub const MIN_SIDE: usize = 75;
/// Length of a pool3 feature vector.
pub const DIM: usize = 2048;
/// Images per forward pass. Small batches are faster here, not just leaner: at 2 images every
/// activation and im2col buffer stays under glibc's 32 MiB mmap limit, so freed buffers are
/// reused instead of being faulted in again on every pass (alternating runs on 2 cores: batch 2
/// gave 4.9-5.1 img/s on 1 thread and 7.1 on 2, batch 16 3.9-4.0 and 5.9-6.8, batch 1 4.4-4.7
/// and 6.7-7.0).
pub const BATCH: usize = 2;

/// The stages of the forward pass up to pool3, in order: the stem's convolutions and max pools,
/// the mixed blocks (each with its branch pools and concatenation), the global average pool. A
/// stage named like a convolution or a block prefix runs the convolutions of `conv_defs()` under
/// that name.
pub const STAGES: [&str; 19] = [
    "Conv2d_1a_3x3",
    "Conv2d_2a_3x3",
    "Conv2d_2b_3x3",
    "maxpool1",
    "Conv2d_3b_1x1",
    "Conv2d_4a_3x3",
    "maxpool2",
    "Mixed_5b",
    "Mixed_5c",
    "Mixed_5d",
    "Mixed_6a",
    "Mixed_6b",
    "Mixed_6c",
    "Mixed_6d",
    "Mixed_6e",
    "Mixed_7a",
    "Mixed_7b",
    "Mixed_7c",
    "avgpool",
];

/// Which network the weights file is for (same tensor names, different pooling).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Layout {
    /// pytorch-fid's FID Inception (the TensorFlow FID graph): the standard for FID values.
    #[serde(alias = "Fid")]
    Fid,
    /// torchvision's inception_v3 (ImageNet weights), as in the PAD authors' FID script.
    #[serde(alias = "Torchvision")]
    Torchvision,
}

impl Layout {
    pub fn name(self) -> &'static str {
        match self {
            Layout::Fid => "pytorch-fid",
            Layout::Torchvision => "torchvision",
        }
    }
}

impl std::fmt::Display for Layout {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl Layout {
    /// The names `FromStr` accepts, as pipeline.toml's `fid_layout` spells them.
    pub const NAMES: [&'static str; 2] = ["fid", "torchvision"];
}

/// Parses "fid" (or "pytorch-fid", what `Display` writes) and "torchvision".
impl std::str::FromStr for Layout {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "fid" | "pytorch-fid" => Ok(Layout::Fid),
            "torchvision" => Ok(Layout::Torchvision),
            other => Err(format!(
                "unknown Inception layout '{other}': fid (pytorch-fid's FID Inception) or torchvision (torchvision's inception_v3)"
            )),
        }
    }
}

/// One BasicConv2d of the architecture: name prefix, channels and geometry.
#[derive(Clone, Debug)]
pub struct ConvDef {
    pub name: String,
    pub cin: usize,
    pub cout: usize,
    pub spec: RectSpec,
}

fn def(
    name: String,
    cin: usize,
    cout: usize,
    (kh, kw): (usize, usize),
    stride: usize,
    (ph, pw): (usize, usize),
) -> ConvDef {
    ConvDef { name, cin, cout, spec: RectSpec { kh, kw, sh: stride, sw: stride, ph, pw } }
}

/// A 1x1 convolution.
fn pw(p: &str, b: &str, cin: usize, cout: usize) -> ConvDef {
    def(format!("{p}.{b}"), cin, cout, (1, 1), 1, (0, 0))
}

/// A k x k convolution with the given stride and padding.
fn sq(p: &str, b: &str, cin: usize, cout: usize, k: usize, stride: usize, pad: usize) -> ConvDef {
    def(format!("{p}.{b}"), cin, cout, (k, k), stride, (pad, pad))
}

/// A 1 x k (wide) or k x 1 (tall) convolution, padded to keep the size.
fn line(p: &str, b: &str, cin: usize, cout: usize, k: usize, wide: bool) -> ConvDef {
    let (kk, pad) = if wide { ((1, k), (0, k / 2)) } else { ((k, 1), (k / 2, 0)) };
    def(format!("{p}.{b}"), cin, cout, kk, 1, pad)
}

fn block_a(p: &str, cin: usize, pool: usize) -> Vec<ConvDef> {
    vec![
        pw(p, "branch1x1", cin, 64),
        pw(p, "branch5x5_1", cin, 48),
        sq(p, "branch5x5_2", 48, 64, 5, 1, 2),
        pw(p, "branch3x3dbl_1", cin, 64),
        sq(p, "branch3x3dbl_2", 64, 96, 3, 1, 1),
        sq(p, "branch3x3dbl_3", 96, 96, 3, 1, 1),
        pw(p, "branch_pool", cin, pool),
    ]
}

fn block_b(p: &str, cin: usize) -> Vec<ConvDef> {
    vec![
        sq(p, "branch3x3", cin, 384, 3, 2, 0),
        pw(p, "branch3x3dbl_1", cin, 64),
        sq(p, "branch3x3dbl_2", 64, 96, 3, 1, 1),
        sq(p, "branch3x3dbl_3", 96, 96, 3, 2, 0),
    ]
}

fn block_c(p: &str, c7: usize) -> Vec<ConvDef> {
    vec![
        pw(p, "branch1x1", 768, 192),
        pw(p, "branch7x7_1", 768, c7),
        line(p, "branch7x7_2", c7, c7, 7, true),
        line(p, "branch7x7_3", c7, 192, 7, false),
        pw(p, "branch7x7dbl_1", 768, c7),
        line(p, "branch7x7dbl_2", c7, c7, 7, false),
        line(p, "branch7x7dbl_3", c7, c7, 7, true),
        line(p, "branch7x7dbl_4", c7, c7, 7, false),
        line(p, "branch7x7dbl_5", c7, 192, 7, true),
        pw(p, "branch_pool", 768, 192),
    ]
}

fn block_d(p: &str) -> Vec<ConvDef> {
    vec![
        pw(p, "branch3x3_1", 768, 192),
        sq(p, "branch3x3_2", 192, 320, 3, 2, 0),
        pw(p, "branch7x7x3_1", 768, 192),
        line(p, "branch7x7x3_2", 192, 192, 7, true),
        line(p, "branch7x7x3_3", 192, 192, 7, false),
        sq(p, "branch7x7x3_4", 192, 192, 3, 2, 0),
    ]
}

fn block_e(p: &str, cin: usize) -> Vec<ConvDef> {
    vec![
        pw(p, "branch1x1", cin, 320),
        pw(p, "branch3x3_1", cin, 384),
        line(p, "branch3x3_2a", 384, 384, 3, true),
        line(p, "branch3x3_2b", 384, 384, 3, false),
        pw(p, "branch3x3dbl_1", cin, 448),
        sq(p, "branch3x3dbl_2", 448, 384, 3, 1, 1),
        line(p, "branch3x3dbl_3a", 384, 384, 3, true),
        line(p, "branch3x3dbl_3b", 384, 384, 3, false),
        pw(p, "branch_pool", cin, 192),
    ]
}

/// Every convolution of the network up to pool3, in forward order.
pub fn conv_defs() -> Vec<ConvDef> {
    let stem = |n: &str, cin, cout, k, s, p| def(n.to_string(), cin, cout, (k, k), s, (p, p));
    let mut v = vec![
        stem("Conv2d_1a_3x3", 3, 32, 3, 2, 0),
        stem("Conv2d_2a_3x3", 32, 32, 3, 1, 0),
        stem("Conv2d_2b_3x3", 32, 64, 3, 1, 1),
        stem("Conv2d_3b_1x1", 64, 80, 1, 1, 0),
        stem("Conv2d_4a_3x3", 80, 192, 3, 1, 0),
    ];
    v.extend(block_a("Mixed_5b", 192, 32));
    v.extend(block_a("Mixed_5c", 256, 64));
    v.extend(block_a("Mixed_5d", 288, 64));
    v.extend(block_b("Mixed_6a", 288));
    for (p, c7) in [("Mixed_6b", 128), ("Mixed_6c", 160), ("Mixed_6d", 160), ("Mixed_6e", 192)] {
        v.extend(block_c(p, c7));
    }
    v.extend(block_d("Mixed_7a"));
    v.extend(block_e("Mixed_7b", 1280));
    v.extend(block_e("Mixed_7c", 2048));
    v
}

/// The tensors a weights file must hold: (name, shape), sorted by name.
pub fn expected_tensors() -> Vec<(String, Vec<usize>)> {
    let mut out = Vec::new();
    for d in conv_defs() {
        out.push((format!("{}.conv.weight", d.name), vec![d.cout, d.cin, d.spec.kh, d.spec.kw]));
        for bn in ["weight", "bias", "running_mean", "running_var"] {
            out.push((format!("{}.bn.{bn}", d.name), vec![d.cout]));
        }
    }
    out.sort();
    out
}

/// Tensors a state dict may carry that pool3 does not use: the classifier, batch-norm step
/// counters, and (torchvision only) the auxiliary classifier.
pub fn is_ignorable(name: &str, layout: Layout) -> bool {
    name.starts_with("fc.")
        || name.ends_with(".bn.num_batches_tracked")
        || (layout == Layout::Torchvision && name.starts_with("AuxLogits."))
}

/// A convolution with its batch norm folded in: weight [cout, cin*kh*kw], bias [cout].
struct Conv {
    w: Vec<f32>,
    b: Vec<f32>,
    spec: RectSpec,
}

/// Folds BatchNorm(gamma, beta, mean, var, eps) into the preceding bias-free convolution, in f64.
fn fold(w: &[f32], gamma: &[f32], beta: &[f32], mean: &[f32], var: &[f32]) -> (Vec<f32>, Vec<f32>) {
    let per_out = w.len() / gamma.len();
    let scale: Vec<f64> = gamma.iter().zip(var).map(|(&g, &v)| g as f64 / (v as f64 + BN_EPS).sqrt()).collect();
    let wf = w.iter().enumerate().map(|(i, &x)| (x as f64 * scale[i / per_out]) as f32).collect();
    let bf = (0..gamma.len()).map(|c| (beta[c] as f64 - mean[c] as f64 * scale[c]) as f32).collect();
    (wf, bf)
}

/// An activation tensor and its CNHW shape.
struct Act {
    v: Vec<f32>,
    s: Shape4,
}

/// One branch of a mixed block, by what ends it: convolutions `prefix.name` applied one after
/// another to an input, or the block's max pool of its input.
enum Branch<'a> {
    Convs(&'a [&'a str], &'a Act),
    MaxPool(&'a Act),
}

/// The branch pools of the mixed blocks.
#[derive(Clone, Copy)]
enum BranchPool {
    Avg { include_pad: bool },
    Max,
}

const POOL3X3_SAME: PoolSpec = PoolSpec { k: 3, stride: 1, pad: 1 };
const POOL3X3_DOWN: PoolSpec = PoolSpec { k: 3, stride: 2, pad: 0 };

fn pool(x: &Act, kind: BranchPool, spec: PoolSpec) -> Act {
    let (v, s) = match kind {
        BranchPool::Avg { include_pad } => avg_pool2d(&x.v, x.s, spec, include_pad),
        BranchPool::Max => max_pool2d(&x.v, x.s, spec),
    };
    Act { v, s }
}

/// Inception-v3 up to pool3 with batch norm folded into its convolutions.
pub struct InceptionV3 {
    convs: BTreeMap<String, Conv>,
    pub layout: Layout,
}

impl InceptionV3 {
    /// Reads a weights file (pytorch-fid's or torchvision's state-dict names) and folds its batch norms.
    pub fn load(path: &Path, layout: Layout) -> Result<Self, EvalError> {
        let f = safetensors::load(path)?;
        let mut tensors = BTreeMap::new();
        let mut problems = TensorProblems::default();
        for (name, t) in &f.header.tensors {
            if is_ignorable(name, layout) {
                continue;
            }
            if t.dtype != Dtype::F32 {
                problems.dtype.push(format!("{name} ({:?})", t.dtype));
                continue;
            }
            tensors.insert(name.clone(), (t.shape.clone(), safetensors::f32s(f.data(t))));
        }
        Self::from_tensors(&tensors, layout, path, problems)
    }

    /// Builds the network from f32 tensors by name; `path` only labels errors.
    pub fn from_state_dict(
        tensors: &BTreeMap<String, (Vec<usize>, Vec<f32>)>,
        layout: Layout,
        path: &Path,
    ) -> Result<Self, EvalError> {
        let kept: BTreeMap<String, (Vec<usize>, Vec<f32>)> =
            tensors.iter().filter(|(k, _)| !is_ignorable(k, layout)).map(|(k, v)| (k.clone(), v.clone())).collect();
        Self::from_tensors(&kept, layout, path, TensorProblems::default())
    }

    fn from_tensors(
        tensors: &BTreeMap<String, (Vec<usize>, Vec<f32>)>,
        layout: Layout,
        path: &Path,
        mut problems: TensorProblems,
    ) -> Result<Self, EvalError> {
        problems.check(tensors, &expected_tensors());
        if !problems.is_empty() {
            return Err(EvalError::Tensors {
                path: path.into(),
                network: layout.name(),
                problems: problems.to_string(),
            });
        }
        let get = |n: String| tensors[&n].1.as_slice();
        let convs = conv_defs()
            .into_iter()
            .map(|d| {
                let p = &d.name;
                let (w, b) = fold(
                    get(format!("{p}.conv.weight")),
                    get(format!("{p}.bn.weight")),
                    get(format!("{p}.bn.bias")),
                    get(format!("{p}.bn.running_mean")),
                    get(format!("{p}.bn.running_var")),
                );
                (d.name, Conv { w, b, spec: d.spec })
            })
            .collect();
        Ok(InceptionV3 { convs, layout })
    }

    /// BasicConv2d: folded convolution, then ReLU (applied to each tile of the product).
    fn conv(&self, name: &str, x: &Act) -> Act {
        // All names were checked against conv_defs() at load time.
        let c = &self.convs[name];
        let (v, s) = conv2d_infer_then(&x.v, x.s, &c.w, &c.b, c.spec, Epilogue::BiasRelu);
        Act { v, s }
    }

    /// `conv` into `y`, all of which it writes (a branch's channels of its block's output).
    fn conv_uninit(&self, name: &str, x: &Act, y: &mut [MaybeUninit<f32>]) -> Shape4 {
        let c = &self.convs[name];
        conv2d_infer_uninit(&x.v, x.s, &c.w, &c.b, c.spec, Epilogue::BiasRelu, y)
    }

    /// A mixed block's output: its branches concatenated along channels, each written where it
    /// ends up (in CNHW a branch's channels are one contiguous range) instead of copied there.
    /// `side` is the block's output height and width.
    fn cat(&self, p: &str, x: &Act, side: (usize, usize), branches: &[Branch]) -> Act {
        let channels = |b: &Branch| match b {
            Branch::Convs(names, _) => self.convs[&format!("{p}.{}", names[names.len() - 1])].b.len(),
            Branch::MaxPool(x) => x.s.c,
        };
        let s = Shape4 { c: branches.iter().map(channels).sum(), n: x.s.n, h: side.0, w: side.1 };
        let plane = s.n * s.h * s.w;
        let mut v = Vec::with_capacity(s.len());
        let mut rest = &mut v.spare_capacity_mut()[..s.len()];
        let mut parts = Vec::with_capacity(branches.len());
        for b in branches {
            let (part, tail) = rest.split_at_mut(channels(b) * plane);
            rest = tail;
            parts.push((b, part));
        }
        // The branches run side by side: on the 8 x 8 and 17 x 17 maps one convolution is too
        // small to keep two cores busy. Each branch's bytes do not depend on what runs beside it.
        parts.into_par_iter().for_each(|(b, part)| {
            let got = match b {
                Branch::Convs(names, x) => {
                    let (last, first) = names.split_last().expect("a branch has convolutions");
                    let y = (!first.is_empty()).then(|| self.chain(p, first, x));
                    self.conv_uninit(&format!("{p}.{last}"), y.as_ref().unwrap_or(x), part)
                }
                Branch::MaxPool(x) => max_pool2d_uninit(&x.v, x.s, POOL3X3_DOWN, part),
            };
            assert_eq!(got, Shape4 { c: channels(b), ..s }, "{p}: a branch's output shape");
        });
        // SAFETY: the branches' ranges tile the buffer and each branch wrote all of its range.
        unsafe { v.set_len(s.len()) };
        Act { v, s }
    }

    /// Convolutions applied one after another, each named `prefix.branch`.
    fn chain(&self, prefix: &str, branches: &[&str], x: &Act) -> Act {
        let mut y = self.conv(&format!("{prefix}.{}", branches[0]), x);
        for b in &branches[1..] {
            y = self.conv(&format!("{prefix}.{b}"), &y);
        }
        y
    }

    fn avg_kind(&self) -> BranchPool {
        BranchPool::Avg { include_pad: self.layout == Layout::Torchvision }
    }

    fn block_a(&self, p: &str, x: &Act) -> Act {
        let pooled = pool(x, self.avg_kind(), POOL3X3_SAME);
        self.cat(
            p,
            x,
            (x.s.h, x.s.w),
            &[
                Branch::Convs(&["branch1x1"], x),
                Branch::Convs(&["branch5x5_1", "branch5x5_2"], x),
                Branch::Convs(&["branch3x3dbl_1", "branch3x3dbl_2", "branch3x3dbl_3"], x),
                Branch::Convs(&["branch_pool"], &pooled),
            ],
        )
    }

    /// The output side of the reduction blocks (B and D): that of their stride-2 3x3 max pool.
    fn reduced(x: &Act) -> (usize, usize) {
        let s = POOL3X3_DOWN.out_shape(x.s).expect("pool: the input is at least 75 x 75");
        (s.h, s.w)
    }

    fn block_b(&self, p: &str, x: &Act) -> Act {
        self.cat(
            p,
            x,
            Self::reduced(x),
            &[
                Branch::Convs(&["branch3x3"], x),
                Branch::Convs(&["branch3x3dbl_1", "branch3x3dbl_2", "branch3x3dbl_3"], x),
                Branch::MaxPool(x),
            ],
        )
    }

    fn block_c(&self, p: &str, x: &Act) -> Act {
        let pooled = pool(x, self.avg_kind(), POOL3X3_SAME);
        self.cat(
            p,
            x,
            (x.s.h, x.s.w),
            &[
                Branch::Convs(&["branch1x1"], x),
                Branch::Convs(&["branch7x7_1", "branch7x7_2", "branch7x7_3"], x),
                Branch::Convs(
                    &["branch7x7dbl_1", "branch7x7dbl_2", "branch7x7dbl_3", "branch7x7dbl_4", "branch7x7dbl_5"],
                    x,
                ),
                Branch::Convs(&["branch_pool"], &pooled),
            ],
        )
    }

    fn block_d(&self, p: &str, x: &Act) -> Act {
        self.cat(
            p,
            x,
            Self::reduced(x),
            &[
                Branch::Convs(&["branch3x3_1", "branch3x3_2"], x),
                Branch::Convs(&["branch7x7x3_1", "branch7x7x3_2", "branch7x7x3_3", "branch7x7x3_4"], x),
                Branch::MaxPool(x),
            ],
        )
    }

    fn block_e(&self, p: &str, x: &Act, branch_pool: BranchPool) -> Act {
        // The stems of the split branches, side by side like the branches (see `cat`).
        let ((t, d), pooled) = rayon::join(
            || {
                rayon::join(
                    || self.chain(p, &["branch3x3_1"], x),
                    || self.chain(p, &["branch3x3dbl_1", "branch3x3dbl_2"], x),
                )
            },
            || pool(x, branch_pool, POOL3X3_SAME),
        );
        self.cat(
            p,
            x,
            (x.s.h, x.s.w),
            &[
                Branch::Convs(&["branch1x1"], x),
                Branch::Convs(&["branch3x3_2a"], &t),
                Branch::Convs(&["branch3x3_2b"], &t),
                Branch::Convs(&["branch3x3dbl_3a"], &d),
                Branch::Convs(&["branch3x3dbl_3b"], &d),
                Branch::Convs(&["branch_pool"], &pooled),
            ],
        )
    }

    /// pool3 features of a CNHW batch of 3-channel images already at network resolution (any
    /// side >= 75; 299 for FID): [N, 2048] row-major.
    pub fn forward(&self, x: &[f32], xs: Shape4) -> Result<Vec<f32>, EvalError> {
        self.forward_observed(x, xs, &mut |_, _| {})
    }

    /// `forward`, calling `done(stage, output shape)` as each of `STAGES` ends, in that order, so
    /// that a caller can time where a pass goes (`pad bench --inception`). The calls sit between
    /// the stages and see no values: the features are the same bytes as `forward`'s.
    pub fn forward_observed(
        &self,
        x: &[f32],
        xs: Shape4,
        done: &mut dyn FnMut(&'static str, Shape4),
    ) -> Result<Vec<f32>, EvalError> {
        if xs.c != 3 || xs.h < MIN_SIDE || xs.w < MIN_SIDE || x.len() != xs.len() {
            return Err(EvalError::Input(format!(
                "the network takes 3 x H x W images with H, W >= {MIN_SIDE}; got {xs:?} with {} values",
                x.len()
            )));
        }
        let mut a = Act { v: x.to_vec(), s: xs };
        for n in ["Conv2d_1a_3x3", "Conv2d_2a_3x3", "Conv2d_2b_3x3"] {
            a = self.conv(n, &a);
            done(n, a.s);
        }
        a = pool(&a, BranchPool::Max, POOL3X3_DOWN);
        done("maxpool1", a.s);
        for n in ["Conv2d_3b_1x1", "Conv2d_4a_3x3"] {
            a = self.conv(n, &a);
            done(n, a.s);
        }
        a = pool(&a, BranchPool::Max, POOL3X3_DOWN);
        done("maxpool2", a.s);
        for p in ["Mixed_5b", "Mixed_5c", "Mixed_5d"] {
            a = self.block_a(p, &a);
            done(p, a.s);
        }
        a = self.block_b("Mixed_6a", &a);
        done("Mixed_6a", a.s);
        for p in ["Mixed_6b", "Mixed_6c", "Mixed_6d", "Mixed_6e"] {
            a = self.block_c(p, &a);
            done(p, a.s);
        }
        a = self.block_d("Mixed_7a", &a);
        done("Mixed_7a", a.s);
        a = self.block_e("Mixed_7b", &a, self.avg_kind());
        done("Mixed_7b", a.s);
        let last = if self.layout == Layout::Fid { BranchPool::Max } else { self.avg_kind() };
        a = self.block_e("Mixed_7c", &a, last);
        done("Mixed_7c", a.s);
        // [2048, N] -> [N, 2048]
        let features = swap_leading_axes(&global_avg_pool(&a.v, a.s), DIM, xs.n, 1);
        done("avgpool", Shape4 { c: DIM, n: xs.n, h: 1, w: 1 });
        Ok(features)
    }

    /// pool3 features of NCHW images in [-1, 1] with 1 (grey, replicated) or 3 channels at any
    /// size: each batch is resized to 299 x 299 as torch's bilinear F.interpolate does
    /// (align_corners=False) and run through the network. [N, 2048] row-major.
    pub fn pool3(&self, images: &[f32], n: usize, c: usize, h: usize, w: usize) -> Result<Vec<f32>, EvalError> {
        if images.len() != n * c * h * w {
            return Err(EvalError::Input(format!("{} values are not {n} images of {c} x {h} x {w}", images.len())));
        }
        let per = c * h * w;
        let mut out = Vec::with_capacity(n * DIM);
        for start in (0..n).step_by(BATCH) {
            let b = BATCH.min(n - start);
            let cnhw = swap_leading_axes(&images[start * per..(start + b) * per], b, c, h * w);
            out.extend(self.pool3_cnhw(&cnhw, Shape4 { c, n: b, h, w })?);
        }
        Ok(out)
    }

    /// pool3 of CNHW images in [-1, 1] (1 or 3 channels, any size): grey replicated, resized
    /// to 299, forward, `BATCH` images at a time. [N, 2048] row-major.
    pub fn pool3_cnhw(&self, x: &[f32], xs: Shape4) -> Result<Vec<f32>, EvalError> {
        if (xs.c != 1 && xs.c != 3) || xs.h == 0 || xs.w == 0 || x.len() != xs.len() {
            return Err(EvalError::Input(format!(
                "expected 1 or 3 channel images; got {xs:?} with {} values",
                x.len()
            )));
        }
        let mut out = Vec::with_capacity(xs.n * DIM);
        for start in (0..xs.n).step_by(BATCH) {
            let b = BATCH.min(xs.n - start);
            let part = Shape4 { n: b, ..xs };
            let sub = cnhw_images(x, xs, start, b);
            out.extend(self.forward(&to_network_input(&sub, part), Shape4 { c: 3, n: b, h: SIDE, w: SIDE })?);
        }
        Ok(out)
    }
}

/// Images start..start+len of a CNHW tensor, as a CNHW tensor of their own.
fn cnhw_images(x: &[f32], xs: Shape4, start: usize, len: usize) -> Vec<f32> {
    let plane = xs.h * xs.w;
    (0..xs.c).flat_map(|c| &x[(c * xs.n + start) * plane..(c * xs.n + start + len) * plane]).copied().collect()
}

/// CNHW images (1 or 3 channels) -> CNHW 3 x N x 299 x 299: resized bilinearly, grey replicated.
pub fn to_network_input(x: &[f32], xs: Shape4) -> Vec<f32> {
    let resized = if (xs.h, xs.w) == (SIDE, SIDE) { x.to_vec() } else { resize_bilinear(x, xs, SIDE, SIDE).0 };
    if xs.c == 3 {
        resized
    } else {
        // Channel-major: replication is three copies of the single channel block.
        resized.repeat(3)
    }
}

/// Everything wrong with a weights file, collected so one error lists it all.
#[derive(Default)]
struct TensorProblems {
    missing: Vec<String>,
    unexpected: Vec<String>,
    shape: Vec<String>,
    dtype: Vec<String>,
}

impl TensorProblems {
    fn check(&mut self, tensors: &BTreeMap<String, (Vec<usize>, Vec<f32>)>, expected: &[(String, Vec<usize>)]) {
        let want: BTreeSet<&String> = expected.iter().map(|(n, _)| n).collect();
        for (name, shape) in expected {
            match tensors.get(name) {
                None if !self.dtype.iter().any(|d| d.starts_with(&format!("{name} "))) => {
                    self.missing.push(name.clone())
                }
                Some((found, _)) if found != shape => {
                    self.shape.push(format!("{name}: expected {shape:?}, found {found:?}"))
                }
                _ => {}
            }
        }
        self.unexpected.extend(tensors.keys().filter(|k| !want.contains(k)).cloned());
    }

    fn is_empty(&self) -> bool {
        self.missing.is_empty() && self.unexpected.is_empty() && self.shape.is_empty() && self.dtype.is_empty()
    }
}

impl std::fmt::Display for TensorProblems {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        let parts = [
            ("missing", &self.missing),
            ("unexpected", &self.unexpected),
            ("wrong shape", &self.shape),
            ("not f32", &self.dtype),
        ];
        let listed: Vec<String> = parts
            .iter()
            .filter(|(_, v)| !v.is_empty())
            .map(|(what, v)| format!("{what} ({}): {}", v.len(), v.join(", ")))
            .collect();
        f.write_str(&listed.join("; "))
    }
}

/// Deterministic synthetic weights for tests and benchmarks, generated identically by
/// tests/golden/make_fid_fixture.py (exact integer hashing, then f64 arithmetic, then f32), so
/// golden features can be checked without shipping a weights file.
pub mod synthetic {
    use std::collections::BTreeMap;

    fn fnv1a32(s: &str) -> u32 {
        s.bytes().fold(0x811c_9dc5u32, |h, b| (h ^ b as u32).wrapping_mul(0x0100_0193))
    }

    /// u_i = ((i * 2654435761 + fnv1a32(name)) mod 2^32) / 2^32, in [0, 1).
    pub fn uniform(name: &str, n: usize) -> Vec<f64> {
        let seed = fnv1a32(name);
        (0..n).map(|i| (i as u32).wrapping_mul(2_654_435_761).wrapping_add(seed) as f64 / 4_294_967_296.0).collect()
    }

    /// The value formula by tensor kind: He-uniform conv weights (activations keep their scale
    /// through the 94 layers), batch-norm parameters near the identity.
    fn value(name: &str, fan_in: usize, u: f64) -> f64 {
        let sym = 2.0 * u - 1.0;
        if name.ends_with("conv.weight") {
            sym * (6.0 / fan_in as f64).sqrt()
        } else if name.ends_with("bn.weight") {
            0.8 + 0.4 * u
        } else if name.ends_with("bn.bias") {
            0.2 * sym
        } else if name.ends_with("bn.running_mean") {
            0.1 * sym
        } else if name.ends_with("bn.running_var") {
            0.5 + u
        } else {
            0.01 * sym
        }
    }

    /// One tensor of the synthetic state dict.
    pub fn tensor(name: &str, shape: &[usize]) -> Vec<f32> {
        let fan_in: usize = shape.iter().skip(1).product();
        uniform(name, shape.iter().product()).into_iter().map(|u| value(name, fan_in, u) as f32).collect()
    }

    /// Every tensor the network needs, by name.
    pub fn state_dict() -> BTreeMap<String, (Vec<usize>, Vec<f32>)> {
        super::expected_tensors().into_iter().map(|(n, s)| (n.clone(), (s.clone(), tensor(&n, &s)))).collect()
    }

    /// Values 2u - 1 in [-1, 1): synthetic images.
    pub fn image(name: &str, n: usize) -> Vec<f32> {
        uniform(name, n).into_iter().map(|u| (2.0 * u - 1.0) as f32).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::Layout;

    #[test]
    fn layout_names_parse_and_display_round_trips() {
        for name in Layout::NAMES {
            let l: Layout = name.parse().unwrap();
            assert_eq!(l.to_string().parse::<Layout>(), Ok(l));
        }
        assert_eq!("fid".parse::<Layout>(), Ok(Layout::Fid));
        assert!("Fid".parse::<Layout>().unwrap_err().contains("torchvision"));
    }
}
