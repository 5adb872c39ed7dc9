//! Named parameters, their gradients, and the PyTorch initialisation the authors used.
use crate::engine::conv2d::ConvSpec;
use crate::engine::rng::Stream;

/// One learnable tensor with the authors' state-dict name and PyTorch's shape.
#[derive(Clone, Debug)]
pub struct Param {
    pub name: String,
    pub shape: Vec<usize>,
    pub value: Vec<f32>,
    pub grad: Vec<f32>,
    /// Whether autograd has ever written a gradient for it (PyTorch: `p.grad is not None`).
    /// Optimizer steps update exactly these (see engine::adam).
    pub has_grad: bool,
}

impl Param {
    pub fn zeros(name: &str, shape: &[usize]) -> Self {
        let n = shape.iter().product();
        Param {
            name: name.to_string(),
            shape: shape.to_vec(),
            value: vec![0.0; n],
            grad: vec![0.0; n],
            has_grad: false,
        }
    }
    /// PyTorch 1.x zero_grad(): zero the gradient but keep it.
    pub fn zero_grad(&mut self) {
        self.grad.fill(0.0);
    }
}

/// A convolution layer (`<name>.0.weight`, `<name>.0.bias`, as in the authors' nn.Sequential blocks).
#[derive(Clone, Debug)]
pub struct ConvLayer {
    pub weight: Param,
    pub bias: Param,
    pub spec: ConvSpec,
}

impl ConvLayer {
    /// Conv2d(cin -> cout): weight [cout, cin, k, k].
    pub fn conv(name: &str, cin: usize, cout: usize, spec: ConvSpec) -> Self {
        let k = spec.k;
        ConvLayer {
            weight: Param::zeros(&format!("{name}.0.weight"), &[cout, cin, k, k]),
            bias: Param::zeros(&format!("{name}.0.bias"), &[cout]),
            spec,
        }
    }
    /// ConvTranspose2d(cin -> cout): weight [cin, cout, k, k].
    pub fn conv_transpose(name: &str, cin: usize, cout: usize, spec: ConvSpec) -> Self {
        let k = spec.k;
        ConvLayer {
            weight: Param::zeros(&format!("{name}.0.weight"), &[cin, cout, k, k]),
            bias: Param::zeros(&format!("{name}.0.bias"), &[cout]),
            spec,
        }
    }
    /// The authors' weights_init (weight ~ N(0, 0.02)) and PyTorch's default bias init
    /// U(-1/sqrt(fan_in), 1/sqrt(fan_in)), where fan_in = shape[1] * k * k for both Conv2d and
    /// ConvTranspose2d weights (for the latter that is out_channels * k * k, as torch computes it).
    pub fn init(&mut self, rng: &mut Stream) {
        rng.fill_normal(&mut self.weight.value, 0.0, 0.02);
        let fan_in = self.weight.shape[1..].iter().product::<usize>() as f64;
        let bound = 1.0 / fan_in.sqrt();
        for b in self.bias.value.iter_mut() {
            *b = ((rng.uniform() * 2.0 - 1.0) * bound) as f32;
        }
    }
    /// Whether engine::direct computes this layer: k4 s2 p1 with both channel counts multiples of
    /// its 16-channel blocks (the paper's middle layers; the small networks of the tests are not),
    /// on a CPU with AVX-512 or AVX2 (elsewhere only the plain-Rust tiles exist, the reference
    /// the vector ones are tested against, far slower than the GEMM path).
    pub fn is_direct(&self) -> bool {
        let s = &self.weight.shape;
        crate::engine::direct::Isa::detect().is_vector()
            && self.spec == crate::engine::conv2d::ConvSpec { k: 4, stride: 2, pad: 1 }
            && s[0].is_multiple_of(crate::engine::direct::layout::LANES)
            && s[1].is_multiple_of(crate::engine::direct::layout::LANES)
    }
    /// (weight, dweight, dbias) for a backward pass; marks both parameters as having gradients.
    pub fn for_backward(&mut self) -> (&[f32], &mut [f32], &mut [f32]) {
        self.weight.has_grad = true;
        self.bias.has_grad = true;
        (&self.weight.value, &mut self.weight.grad, &mut self.bias.grad)
    }
    pub fn params(&self) -> [&Param; 2] {
        [&self.weight, &self.bias]
    }
    pub fn params_mut(&mut self) -> [&mut Param; 2] {
        [&mut self.weight, &mut self.bias]
    }
}

/// A network as an ordered list of parameters (state-dict order).
pub trait Network {
    fn layers(&self) -> Vec<&ConvLayer>;
    fn layers_mut(&mut self) -> Vec<&mut ConvLayer>;

    fn params(&self) -> Vec<&Param> {
        self.layers().into_iter().flat_map(|l| l.params()).collect()
    }
    fn params_mut(&mut self) -> Vec<&mut Param> {
        self.layers_mut().into_iter().flat_map(|l| l.params_mut()).collect()
    }
    fn zero_grad(&mut self) {
        self.params_mut().into_iter().for_each(Param::zero_grad);
    }
    fn init(&mut self, rng: &mut Stream) {
        self.layers_mut().into_iter().for_each(|l| l.init(rng));
    }
}
