//! The denoising recipe's energy ([`crate::denoising`]): a residual CNN H(u, c_noise) with one
//! number out, and around it the preconditioned energy E(x, σ) and its denoiser D(x; σ).
//!
//! H: a 3×3 stem, then stages of pre-activation residual blocks (SiLU, conv, the level's shift,
//! SiLU, conv whose weights start at 0; a 1×1 skip where the width changes), each stage after
//! the first average-pooled by 2; then SiLU, a sum over positions, a gate of the level and a
//! readout to one number. The level enters as random Fourier features of c_noise = ln σ/4
//! through a two-layer MLP; a class-conditional net adds a row of a class table (its last row
//! "any class") to that embedding.
//!
//! The input gradient ∇ᵤH is written here as burn operations — each layer's transpose in reverse
//! order ([`ResidualNet::energy_and_gradient`]) — not taken from autodiff: training's loss is a
//! function of ∇ᵤH, and burn has no second-order autodiff, but differentiating these forward
//! operations once is exact. The same function samples on every device without an autodiff graph.
//! The layout is described once ([`Layout`]); the module, the safetensors names and the checks
//! of a loaded file derive from it.

use burn::module::{Module, Param};
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::{Initializer, Linear, LinearConfig, PaddingConfig2d};
use burn::prelude::*;
use burn::tensor::activation::{sigmoid, silu};
use burn::tensor::module::{avg_pool2d, conv_transpose2d};
use burn::tensor::ops::{AvgPoolOptions, ConvTransposeOptions};
use burn::tensor::{Int, TensorData};
use rand::SeedableRng;
use rand::rngs::StdRng;
use rand_distr::{Distribution as _, StandardNormal};

use crate::config::EbmConfig;
use crate::denoising::DataStatistics;

/// The shape of a residual energy net, the one description everything else derives from.
#[derive(serde::Serialize, serde::Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
pub struct ResidualShape {
    pub stages: usize,
    pub blocks: usize,
    pub embedding: usize,
}

impl From<&EbmConfig> for ResidualShape {
    fn from(c: &EbmConfig) -> Self {
        Self { stages: c.denoising.stages, blocks: c.denoising.blocks, embedding: c.denoising.embedding }
    }
}

/// One residual block as laid out: its input and output channels, whether the stage starts
/// (pooled by 2 before it, for every stage but the first) and its side in pixels.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BlockLayout {
    pub stage: usize,
    pub channels_in: usize,
    pub channels_out: usize,
    pub pool_before: bool,
    pub side: usize,
}

/// The blocks of a net of `width` channels for `image_size` images.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Layout {
    pub channels: usize,
    pub width: usize,
    pub embedding: usize,
    pub blocks: Vec<BlockLayout>,
}

impl Layout {
    pub fn new(channels: usize, image_size: usize, width: usize, shape: ResidualShape) -> Self {
        let mut blocks = Vec::new();
        let mut c = width;
        let mut side = image_size;
        for stage in 0..shape.stages {
            let out = width * (stage + 1).min(2);
            for b in 0..shape.blocks {
                let pool_before = stage > 0 && b == 0;
                if pool_before {
                    side /= 2;
                }
                blocks.push(BlockLayout { stage, channels_in: c, channels_out: out, pool_before, side });
                c = out;
            }
        }
        Self { channels, width, embedding: shape.embedding, blocks }
    }

    /// Channels of the last block: the features the readout reads.
    pub fn features(&self) -> usize {
        self.blocks.last().map_or(self.width, |b| b.channels_out)
    }
}

#[derive(Module, Debug)]
pub struct Block {
    pub(crate) conv1: Conv2d,
    pub(crate) conv2: Conv2d,
    /// The level's (and class's) shift of conv1's output channels.
    pub(crate) level: Linear,
    /// A 1×1 convolution without bias where the width changes.
    pub(crate) skip: Option<Conv2d>,
    pub(crate) pool_before: bool,
}

#[derive(Module, Debug)]
pub struct ResidualNet {
    pub(crate) stem: Conv2d,
    pub(crate) blocks: Vec<Block>,
    /// The level's embedding: Fourier features → `embed_in` → SiLU → `embed_out`.
    pub(crate) embed_in: Linear,
    pub(crate) embed_out: Linear,
    /// [classes + 1, embedding]: added to the level's embedding (the last row is "any class").
    pub(crate) class_table: Option<Param<Tensor<2>>>,
    /// The level's gate of the features (1 + gate(e)) and the readout to one number.
    pub(crate) gate: Linear,
    pub(crate) readout: Linear,
    /// μ (per channel) and σ_d of the training images: fixed, stored with the weights.
    pub(crate) data_mean: Param<Tensor<1>>,
    pub(crate) data_std: Param<Tensor<1>>,
    pub(crate) classes: usize,
}

/// The seed of the random Fourier frequencies: fixed, so every net of a shape has the same and
/// they need not be stored.
const FOURIER_SEED: u64 = 0x5eed_f00d;

/// Scale of the Fourier frequencies (the prototype's randn·4).
const FOURIER_SCALE: f32 = 4.0;

/// The embedding's `embedding / 4` frequencies.
pub fn fourier_frequencies(embedding: usize) -> Vec<f32> {
    let mut rng = StdRng::seed_from_u64(FOURIER_SEED);
    (0..embedding / 4).map(|_| StandardNormal.sample(&mut rng)).map(|v: f32| v * FOURIER_SCALE).collect()
}

fn conv(cin: usize, cout: usize, k: usize, bias: bool, zero: bool, device: &Device) -> Conv2d {
    let pad = k / 2;
    let mut config = Conv2dConfig::new([cin, cout], [k, k]).with_padding(PaddingConfig2d::Explicit(pad, pad, pad, pad)).with_bias(bias);
    if zero {
        config = config.with_initializer(Initializer::Zeros);
    }
    config.init(device)
}

fn fixed<const D: usize>(t: Tensor<D>) -> Param<Tensor<D>> {
    Param::from_tensor(t).set_require_grad(false)
}

/// SiLU and its slope from one sigmoid: silu(x) = x·s and silu'(x) = s + silu(x)·(1 − s), s =
/// sigmoid(x) (the backward pass then differentiates one sigmoid, not two).
fn silu_and_slope(x: Tensor<4>) -> (Tensor<4>, Tensor<4>) {
    let s = sigmoid(x.clone());
    let y = x * s.clone();
    let slope = s.clone() + y.clone() * (s.neg() + 1.0);
    (y, slope)
}

/// The transpose of a stride-1, same-padding convolution applied to an output gradient.
fn transposed(layer: &Conv2d, grad: Tensor<4>) -> Tensor<4> {
    let k = layer.weight.dims()[2];
    let pad = k / 2;
    conv_transpose2d(grad, layer.weight.val(), None, ConvTransposeOptions::new([1, 1], [pad, pad], [0, 0], [1, 1], 1))
}

fn pool(x: Tensor<4>) -> Tensor<4> {
    avg_pool2d(x, AvgPoolOptions::new([2, 2]))
}

/// The transpose of [`pool`]: each value spread over its 2×2 block, a quarter each.
fn unpool(g: Tensor<4>) -> Tensor<4> {
    let [n, c, h, w] = g.dims();
    g.reshape([n, c, h, 1, w, 1]).expand([n, c, h, 2, w, 2]).reshape([n, c, 2 * h, 2 * w]) * 0.25
}

/// What the walk, scoring and training need of one batch at its levels: c_in, c_skip, c_out,
/// σ_d/σ and the net's level input, each [N] (from σ and the net's σ_d).
pub struct Preconditioned {
    pub c_in: Tensor<1>,
    pub c_skip: Tensor<1>,
    pub c_out: Tensor<1>,
    pub energy_scale: Tensor<1>,
    pub c_noise: Tensor<1>,
}

fn per_image(t: Tensor<1>) -> Tensor<4> {
    let n = t.dims()[0];
    t.reshape([n, 1, 1, 1])
}

impl ResidualNet {
    pub fn new(channels: usize, image_size: usize, width: usize, classes: usize, shape: ResidualShape, device: &Device) -> Self {
        let layout = Layout::new(channels, image_size, width, shape);
        let e = shape.embedding;
        let blocks = layout
            .blocks
            .iter()
            .map(|b| Block {
                conv1: conv(b.channels_in, b.channels_out, 3, true, false, device),
                conv2: conv(b.channels_out, b.channels_out, 3, true, true, device),
                level: LinearConfig::new(e, b.channels_out).init(device),
                skip: (b.channels_in != b.channels_out).then(|| conv(b.channels_in, b.channels_out, 1, false, false, device)),
                pool_before: b.pool_before,
            })
            .collect();
        let features = layout.features();
        let net = Self {
            stem: conv(channels, width, 3, true, false, device),
            blocks,
            embed_in: LinearConfig::new(e / 2, e).init(device),
            embed_out: LinearConfig::new(e, e).init(device),
            class_table: (classes > 0).then(|| Param::from_tensor(Tensor::zeros([classes + 1, e], device))),
            gate: LinearConfig::new(e, features).init(device),
            readout: LinearConfig::new(features, 1).init(device),
            data_mean: fixed(Tensor::zeros([channels], device)),
            data_std: fixed(Tensor::from_data(TensorData::new(vec![0.5f32], [1]), device)),
            classes,
        };
        super::initialise_now(&net);
        net
    }

    /// The same net with the training images' statistics (a new run sets them from its data).
    pub fn with_data_statistics(self, stats: &DataStatistics) -> Self {
        let device = self.data_std.val().device();
        let channels = self.data_mean.dims()[0];
        assert_eq!(stats.mean.len(), channels, "one mean per channel");
        let id_mean = self.data_mean.id;
        let id_std = self.data_std.id;
        Self {
            data_mean: Param::initialized(id_mean, Tensor::from_data(TensorData::new(stats.mean.clone(), [channels]), &device))
                .set_require_grad(false),
            data_std: Param::initialized(id_std, Tensor::from_data(TensorData::new(vec![stats.std], [1]), &device)).set_require_grad(false),
            ..self
        }
    }

    pub fn classes(&self) -> usize {
        self.classes
    }

    /// The shape this net was built from (read off its layers).
    pub fn shape(&self) -> ResidualShape {
        let stages = 1 + self.blocks.iter().filter(|b| b.pool_before).count();
        ResidualShape { stages, blocks: self.blocks.len() / stages, embedding: self.embedding() }
    }

    /// The layout of this net's blocks for images of side `side`.
    pub fn layout_blocks(&self, side: usize) -> Vec<BlockLayout> {
        Layout::new(self.stem.weight.dims()[1], side, self.width(), self.shape()).blocks
    }

    pub fn width(&self) -> usize {
        self.stem.weight.dims()[0]
    }

    /// Width of the level embedding.
    pub fn embedding(&self) -> usize {
        self.embed_out.weight.dims()[1]
    }

    /// The readout (features → one number): what a linear probe's width is read from.
    pub fn readout(&self) -> &Linear {
        &self.readout
    }

    /// The same net with a class table of `classes` + 1 zero rows: every class starts as the
    /// unconditional energy.
    pub fn into_conditional(self, classes: usize) -> Self {
        let device = self.data_std.val().device();
        let e = self.embedding();
        Self { class_table: Some(Param::from_tensor(Tensor::zeros([classes + 1, e], &device))), classes, ..self }
    }

    /// The preconditioning of each image's level σ ([N]).
    pub fn preconditioned(&self, sigma: Tensor<1>) -> Preconditioned {
        let n = sigma.dims()[0];
        let sd = self.data_std.val().expand([n]);
        let total = sigma.clone().square() + sd.clone().square();
        let root = total.clone().sqrt();
        Preconditioned {
            c_in: root.clone().recip(),
            c_skip: sd.clone().square() / total,
            c_out: sigma.clone() * sd.clone() / root,
            energy_scale: sd / sigma.clone(),
            c_noise: sigma.log() / 4.0,
        }
    }

    /// The embedding of each image's level (c_noise, [N]) and class (`labels`; `None`: "any
    /// class"): [N, embedding].
    pub fn embed(&self, c_noise: Tensor<1>, labels: Option<&Tensor<1, Int>>) -> Tensor<2> {
        let n = c_noise.dims()[0];
        let device = c_noise.device();
        let e = self.embedding();
        let freqs = fourier_frequencies(e);
        let freqs = Tensor::<2>::from_data(TensorData::new(freqs, [1, e / 4]), &device);
        let angles = c_noise.reshape([n, 1]) * freqs;
        let features = Tensor::cat(vec![angles.clone().sin(), angles.cos()], 1);
        let embedded = self.embed_out.forward(silu(self.embed_in.forward(features)));
        match &self.class_table {
            Some(table) => {
                let rows = match labels {
                    Some(k) => k.clone(),
                    None => Tensor::from_data(TensorData::new(vec![self.classes as i32; n], [n]), &device),
                };
                embedded + table.val().select(0, rows)
            }
            None => embedded,
        }
    }

    /// H(u, e) for each image and its input gradient ∇ᵤH, both by forward operations (the
    /// gradient: every layer's transpose, last to first).
    pub fn energy_and_gradient(&self, u: Tensor<4>, e: Tensor<2>) -> (Tensor<1>, Tensor<4>) {
        let n = u.dims()[0];
        let mut h = self.stem.forward(u);
        let mut slopes = Vec::with_capacity(self.blocks.len());
        for block in &self.blocks {
            if block.pool_before {
                h = pool(h);
            }
            let c = block.conv1.weight.dims()[0];
            let shift = block.level.forward(e.clone()).reshape([n, c, 1, 1]);
            let (a, slope_in) = silu_and_slope(h.clone());
            let (b, slope_mid) = silu_and_slope(block.conv1.forward(a) + shift);
            let t2 = block.conv2.forward(b);
            let skipped = match &block.skip {
                Some(skip) => skip.forward(h),
                None => h,
            };
            slopes.push((slope_in, slope_mid));
            h = skipped + t2;
        }
        let c = h.dims()[1];
        let gate = self.gate.forward(e) + 1.0;
        let (activated, slope_out) = silu_and_slope(h);
        let pooled = activated.sum_dim(3).sum_dim(2).reshape([n, c]);
        let out = self.readout.forward(pooled * gate.clone()).reshape([n]);

        // ∂H/∂silu(h) is the same at every position: the gated readout weight.
        let weight = self.readout.weight.val().reshape([1, c]);
        let mut g = slope_out * (gate * weight).reshape([n, c, 1, 1]);
        for (block, (slope_in, slope_mid)) in self.blocks.iter().zip(slopes).rev() {
            let g_t1 = transposed(&block.conv2, g.clone()) * slope_mid;
            let through = transposed(&block.conv1, g_t1) * slope_in;
            let skipped = match &block.skip {
                Some(skip) => transposed(skip, g),
                None => g,
            };
            let g_x = through + skipped;
            g = if block.pool_before { unpool(g_x) } else { g_x };
        }
        (out, transposed(&self.stem, g))
    }

    /// H(u, e) alone (no gradient): scoring.
    pub fn h(&self, u: Tensor<4>, e: Tensor<2>) -> (Tensor<1>, Tensor<2>) {
        let n = u.dims()[0];
        let mut h = self.stem.forward(u);
        for block in &self.blocks {
            if block.pool_before {
                h = pool(h);
            }
            let c = block.conv1.weight.dims()[0];
            let shift = block.level.forward(e.clone()).reshape([n, c, 1, 1]);
            let t1 = block.conv1.forward(silu(h.clone())) + shift;
            let t2 = block.conv2.forward(silu(t1));
            let skipped = match &block.skip {
                Some(skip) => skip.forward(h.clone()),
                None => h,
            };
            h = skipped + t2;
        }
        let c = h.dims()[1];
        let features = silu(h).sum_dim(3).sum_dim(2).reshape([n, c]) * (self.gate.forward(e) + 1.0);
        (self.readout.forward(features.clone()).reshape([n]), features)
    }

    /// x − μ, per channel.
    fn centred(&self, x: Tensor<4>) -> Tensor<4> {
        let c = self.data_mean.dims()[0];
        x - self.data_mean.val().reshape([1, c, 1, 1])
    }

    /// E(x, σ) of each image at its level (`sigma` [N]) and class.
    pub fn energy(&self, x: Tensor<4>, sigma: Tensor<1>, labels: Option<&Tensor<1, Int>>) -> Tensor<1> {
        let (energy, _) = self.energy_and_features(x, sigma, labels);
        energy
    }

    /// [`Self::energy`] and the gated features the readout reads ([N, features]).
    pub fn energy_and_features(&self, x: Tensor<4>, sigma: Tensor<1>, labels: Option<&Tensor<1, Int>>) -> (Tensor<1>, Tensor<2>) {
        let n = x.dims()[0];
        let p = self.preconditioned(sigma.clone());
        let centred = self.centred(x);
        let sd = self.data_std.val().expand([n]);
        let quadratic = centred.clone().square().sum_dim(3).sum_dim(2).sum_dim(1).reshape([n]) / ((sigma.square() + sd.square()) * 2.0);
        let e = self.embed(p.c_noise, labels);
        let (h, features) = self.h(centred * per_image(p.c_in), e);
        (quadratic + p.energy_scale * h, features)
    }

    /// D(x; σ) = μ + c_skip·(x − μ) − c_out·∇ᵤH: the denoised image at each image's level.
    pub fn denoised(&self, x: Tensor<4>, sigma: Tensor<1>, labels: Option<&Tensor<1, Int>>) -> Tensor<4> {
        let p = self.preconditioned(sigma);
        let centred = self.centred(x.clone());
        let e = self.embed(p.c_noise, labels);
        let (_, grad) = self.energy_and_gradient(centred.clone() * per_image(p.c_in), e);
        x - centred * (per_image(p.c_skip).neg() + 1.0) - grad * per_image(p.c_out)
    }

    /// ∇ₓE(x, σ) = (x − D(x; σ))/σ².
    pub fn energy_gradient(&self, x: Tensor<4>, sigma: Tensor<1>, labels: Option<&Tensor<1, Int>>) -> Tensor<4> {
        let d = self.denoised(x.clone(), sigma.clone(), labels);
        (x - d) / per_image(sigma.square())
    }

    /// Denoising score matching on clean images `x0` at levels `sigma` with Gaussian `noise`:
    /// per image, the mean over values of ‖−∇ᵤH − (x₀ − c_skip·x̃)/c_out‖² (centred x₀, x̃ =
    /// x₀ + σ·noise) — EDM's weighted loss λ(σ)‖D(x̃; σ) − x₀‖².
    pub fn score_matching_loss(&self, x0: Tensor<4>, sigma: Tensor<1>, noise: Tensor<4>, labels: Option<&Tensor<1, Int>>) -> Tensor<1> {
        let n = x0.dims()[0];
        let p = self.preconditioned(sigma.clone());
        let clean = self.centred(x0);
        let noisy = clean.clone() + noise * per_image(sigma);
        let target = (clean - noisy.clone() * per_image(p.c_skip)) / per_image(p.c_out);
        let e = self.embed(p.c_noise, labels);
        let (_, grad) = self.energy_and_gradient(noisy * per_image(p.c_in), e);
        (grad.neg() - target).square().flatten::<2>(1, 3).mean_dim(1).reshape([n])
    }

    /// The training images' statistics stored in the net.
    pub fn data_statistics_tensors(&self) -> (Tensor<1>, Tensor<1>) {
        (self.data_mean.val(), self.data_std.val())
    }
}
