//! A wider copy of a trained energy net that computes (almost) the same energy: Net2WiderNet
//! (Chen, Goodfellow & Shlens, *Net2Net*, ICLR 2016).
//!
//! Why: a wider net from scratch costs as many updates again as the one it replaces (on this
//! project's CPUs, hours), while a widened copy starts where the trained net is and only has to
//! put the new capacity to use. Each new hidden unit copies an existing one (its incoming
//! weights and bias); the next layer's weights from a unit and its copies are divided by how
//! many there are, so the sum they feed forward is unchanged. Swish acts unit by unit, so the
//! whole net computes the same function. Copies with identical incoming weights would get
//! identical updates for ever (Adam normalises away the split), so the copies' incoming weights
//! get a little noise to break the symmetry.

use burn::module::Param;
use burn::nn::Linear;
use burn::nn::conv::Conv2d;
use burn::prelude::*;
use burn::tensor::TensorData;
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use rand_distr::{Distribution as _, StandardNormal};

use super::{ConvNet, EnergyNet};

/// The copies' symmetry-breaking noise, relative to the standard deviation of the layer's
/// weights: small enough that the energy barely moves, large enough that the copies' gradients
/// differ from the first update on.
pub const SYMMETRY_NOISE: f32 = 0.01;

/// Which old unit each new unit of a widened layer copies.
struct Copies {
    /// New unit → old unit; the first `old` units keep their place.
    source: Vec<usize>,
    /// How many new units copy each old unit (≥ 1).
    count: Vec<usize>,
}

impl Copies {
    fn new(old: usize, new: usize, rng: &mut StdRng) -> Self {
        let source: Vec<usize> = (0..new).map(|j| if j < old { j } else { rng.random_range(0..old) }).collect();
        let mut count = vec![0; old];
        for &s in &source {
            count[s] += 1;
        }
        Self { source, count }
    }

    fn old(&self) -> usize {
        self.count.len()
    }

    fn new_units(&self) -> usize {
        self.source.len()
    }

    /// Indices into the old units, each repeated over `block` consecutive inputs (the spatial
    /// positions of one channel after flattening).
    fn index(&self, block: usize, device: &Device) -> Tensor<1, Int> {
        let idx: Vec<i32> = self.source.iter().flat_map(|&s| (0..block).map(move |p| (s * block + p) as i32)).collect();
        Tensor::from_data(TensorData::new(idx, [self.new_units() * block]), device)
    }

    /// The share of an old unit's outgoing weight each of its copies carries, per new input.
    fn share(&self, block: usize, device: &Device) -> Tensor<1> {
        let share: Vec<f32> = self.source.iter().flat_map(|&s| std::iter::repeat_n(1.0 / self.count[s] as f32, block)).collect();
        Tensor::from_data(TensorData::new(share, [self.new_units() * block]), device)
    }
}

/// Noise on the copies' rows (`dim` indexes the units; rows below `copies.old()` stay exact).
fn symmetry_noise<const D: usize>(weight: &Tensor<D>, dim: usize, copies: &Copies, scale: f32, rng: &mut StdRng) -> Tensor<D> {
    let dims = weight.dims();
    let std = weight.clone().flatten::<1>(0, D - 1).var(0).sqrt().into_scalar::<f32>();
    let inner: usize = dims[dim + 1..].iter().product();
    let mut noise = vec![0.0f32; dims.iter().product()];
    for (i, v) in noise.iter_mut().enumerate() {
        if (i / inner) % dims[dim] >= copies.old() {
            let z: f32 = StandardNormal.sample(rng);
            *v = scale * std * z;
        }
    }
    Tensor::from_data(TensorData::new(noise, dims), &weight.device())
}

/// A convolution reading the widened `inputs` and writing the widened `outputs`.
fn widen_conv(layer: &Conv2d, inputs: Option<&Copies>, outputs: &Copies, noise: f32, rng: &mut StdRng) -> Conv2d {
    let device = layer.weight.device();
    let mut weight = layer.weight.val();
    if let Some(inputs) = inputs {
        let share = inputs.share(1, &device).reshape([1, inputs.new_units() as i32, 1, 1]);
        weight = weight.select(1, inputs.index(1, &device)) * share;
    }
    weight = weight.select(0, outputs.index(1, &device));
    let weight = weight.clone() + symmetry_noise(&weight, 0, outputs, noise, rng);
    let bias = layer.bias.as_ref().map(|b| Param::from_tensor(b.val().select(0, outputs.index(1, &device))));
    Conv2d { weight: Param::from_tensor(weight), bias, ..layer.clone() }
}

/// A linear layer (weights [inputs, outputs]) reading the widened `inputs`, each unit spread
/// over `block` flattened positions, and writing the widened `outputs` (or its own outputs).
fn widen_linear(layer: &Linear, inputs: &Copies, block: usize, outputs: Option<&Copies>, noise: f32, rng: &mut StdRng) -> Linear {
    let device = layer.weight.device();
    let share = inputs.share(block, &device).reshape([(inputs.new_units() * block) as i32, 1]);
    let mut weight = layer.weight.val().select(0, inputs.index(block, &device)) * share;
    let mut bias = layer.bias.as_ref().map(|b| b.val());
    if let Some(outputs) = outputs {
        weight = weight.select(1, outputs.index(1, &device));
        // Units are the columns here: noise goes on the copies' columns of the transpose.
        let transposed = weight.clone().transpose();
        weight = (transposed.clone() + symmetry_noise(&transposed, 0, outputs, noise, rng)).transpose();
        bias = bias.map(|b| b.select(0, outputs.index(1, &device)));
    }
    Linear { weight: Param::from_tensor(weight), bias: bias.map(Param::from_tensor) }
}

/// Why a net cannot be widened to the asked width.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "cannot widen a width-{from} net to width {to}: the new width must be even and at least the current one, and the net not level-conditioned"
)]
pub struct WidenError {
    pub from: usize,
    pub to: usize,
}

impl EnergyNet {
    /// This net widened to `width` ([`ConvNet::widened`]); a residual net is not widened.
    pub fn widened(&self, width: usize, seed: u64) -> Result<EnergyNet, WidenError> {
        match self {
            EnergyNet::Conv(net) => Ok(EnergyNet::Conv(net.widened(width, seed)?)),
            EnergyNet::Residual(net) => Err(WidenError { from: net.width(), to: width }),
        }
    }

    /// [`Self::widened`] with the noise's relative scale given.
    pub fn widened_with_noise(&self, width: usize, noise: f32, seed: u64) -> Result<EnergyNet, WidenError> {
        match self {
            EnergyNet::Conv(net) => Ok(EnergyNet::Conv(net.widened_with_noise(width, noise, seed)?)),
            EnergyNet::Residual(net) => Err(WidenError { from: net.width(), to: width }),
        }
    }
}

impl ConvNet {
    /// Hidden width (the second convolution's channels; see [`super::NetShape::width`]).
    pub fn width(&self) -> usize {
        self.conv2.weight.dims()[0]
    }

    /// This net widened to `width`, computing the same energy up to the symmetry-breaking
    /// noise ([`SYMMETRY_NOISE`]); `seed` picks which units are copied and the noise.
    pub fn widened(&self, width: usize, seed: u64) -> Result<ConvNet, WidenError> {
        self.widened_with_noise(width, SYMMETRY_NOISE, seed)
    }

    /// [`Self::widened`] with the noise's relative scale given (0: exactly the same function).
    pub fn widened_with_noise(&self, width: usize, noise: f32, seed: u64) -> Result<ConvNet, WidenError> {
        let from = self.width();
        // Level-conditioned and spectrally normalised nets are not widened: their shifts would
        // need copying too, and copies change a layer's singular values.
        if width < from || !width.is_multiple_of(2) || self.levels.is_some() || self.spectral_norm {
            return Err(WidenError { from, to: width });
        }
        let mut rng = StdRng::seed_from_u64(seed);
        let c1 = Copies::new(from / 2, width / 2, &mut rng);
        let c2 = Copies::new(from, width, &mut rng);
        let c3 = Copies::new(2 * from, 2 * width, &mut rng);
        let c4 = Copies::new(2 * from, 2 * width, &mut rng);
        let f1 = Copies::new(2 * from, 2 * width, &mut rng);
        // fc1 reads conv4's channels flattened channel-major, `block` positions each.
        let block = self.fc1.weight.dims()[0] / (2 * from);
        Ok(ConvNet {
            classes: self.classes,
            conv1: widen_conv(&self.conv1, None, &c1, noise, &mut rng),
            conv2: widen_conv(&self.conv2, Some(&c1), &c2, noise, &mut rng),
            conv3: widen_conv(&self.conv3, Some(&c2), &c3, noise, &mut rng),
            conv4: widen_conv(&self.conv4, Some(&c3), &c4, noise, &mut rng),
            fc1: widen_linear(&self.fc1, &c4, block, Some(&f1), noise, &mut rng),
            fc2: widen_linear(&self.fc2, &f1, 1, None, noise, &mut rng),
            levels: None,
            labels: None,
            spectral_norm: false,
        })
    }
}
