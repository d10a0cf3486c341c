//! The energy networks, one type for every recipe ([`EnergyNet`]): the small CNN of UvA DL
//! tutorial 8 ([`ConvNet`], the contrastive and recovery recipes) and the residual energy of the
//! denoising recipe ([`ResidualNet`]). What every caller asks of a net — its energy of clean
//! images, its features, its classes — each answers in its own terms; what only one can do
//! (a level-conditioned walk, a denoiser) is reached through [`EnergyNet::conv`] or
//! [`EnergyNet::residual`].

use burn::module::{ModuleVisitor, Param};
use burn::nn::Linear;
use burn::prelude::*;
use burn::store::ModuleRecord;
use burn::tensor::{Int, TensorData};

use crate::config::EbmConfig;
use crate::denoising::SCORE_SIGMA;

mod average;
mod conv;
pub mod probe;
pub mod residual;
pub mod spectral;
mod widen;
pub use average::{AverageError, averaged};
pub use conv::{ConvNet, Embedding};
pub use probe::{ClassProbe, ProbeError};
pub use residual::{ResidualNet, ResidualShape};
pub use widen::{SYMMETRY_NOISE, WidenError};

/// The level of each image, for a level-conditioned net.
pub type Levels = Tensor<1, Int>;

/// The class of each image (a class-conditional net).
pub type Labels = Tensor<1, Int>;

/// Shape of the network; kept separate from [`EbmConfig`] so that weights files can say which
/// architecture they hold.
#[derive(serde::Serialize, serde::Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
pub struct NetShape {
    pub channels: usize,
    pub image_size: usize,
    pub width: usize,
    /// Logits of a class-conditional energy; 0 = unconditional (one output). Older weights
    /// files have no such field and are unconditional.
    #[serde(default)]
    pub classes: usize,
    /// Noise levels of a level-conditioned energy (the recovery recipe); 0 = one energy. Older
    /// weights files have no such field and hold one energy.
    #[serde(default)]
    pub levels: usize,
    /// The convolutions and the hidden dense layer are spectrally normalised ([`spectral`]).
    #[serde(default)]
    pub spectral_norm: bool,
    /// The residual energy of the denoising recipe; `None` (every older file): the CNN.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub residual: Option<ResidualShape>,
}

impl From<&EbmConfig> for NetShape {
    fn from(c: &EbmConfig) -> Self {
        Self {
            channels: c.channels,
            image_size: c.image_size,
            width: c.width,
            classes: c.classes,
            levels: c.levels(),
            spectral_norm: c.spectral_norm && !c.is_denoising(),
            residual: c.is_denoising().then(|| ResidualShape::from(c)),
        }
    }
}

impl NetShape {
    /// Side of the feature map after the CNN's four convolutions.
    pub fn final_side(&self) -> usize {
        let conv = |s: usize, k: usize, p: usize| (s + 2 * p - k) / 2 + 1;
        let s = conv(self.image_size, 5, 4);
        let s = conv(s, 3, 1);
        let s = conv(s, 3, 1);
        conv(s, 3, 1)
    }

    /// Length of the penultimate feature vector ([`EnergyNet::features`]): the last layer's input.
    pub fn feature_width(&self) -> usize {
        match self.residual {
            Some(shape) => residual::Layout::new(self.channels, self.image_size, self.width, shape).features(),
            None => 2 * self.width,
        }
    }
}

/// burn initialises parameters lazily, on first use; this does it now, so the initial weights
/// come from the random stream as seeded at construction, not whenever the net first runs.
pub(crate) fn initialise_now<M: Module>(net: &M) {
    struct Touch;
    impl ModuleVisitor for Touch {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            let _ = param.val();
        }
    }
    net.visit(&mut Touch);
}

/// An energy net of either architecture.
// The variants differ in size; burn's Module derive takes no Box, and a net is a handful of
// tensor handles moved a few times per call, never held in bulk.
#[allow(clippy::large_enum_variant)]
#[derive(Module, Debug)]
pub enum EnergyNet {
    Conv(ConvNet),
    Residual(ResidualNet),
}

impl EnergyNet {
    pub fn new(shape: NetShape, device: &Device) -> Self {
        match shape.residual {
            Some(residual) => {
                EnergyNet::Residual(ResidualNet::new(shape.channels, shape.image_size, shape.width, shape.classes, residual, device))
            }
            None => EnergyNet::Conv(ConvNet::new(shape, device)),
        }
    }

    /// The CNN, when this net is one.
    pub fn conv(&self) -> Option<&ConvNet> {
        match self {
            EnergyNet::Conv(net) => Some(net),
            EnergyNet::Residual(_) => None,
        }
    }

    /// The denoising recipe's residual energy, when this net is one.
    pub fn residual(&self) -> Option<&ResidualNet> {
        match self {
            EnergyNet::Residual(net) => Some(net),
            EnergyNet::Conv(_) => None,
        }
    }

    /// The net's parameters as a burn record, without the variant's name in the paths (files
    /// written before there were two architectures hold the CNN's record as it is).
    pub fn into_record(self) -> ModuleRecord {
        match self {
            EnergyNet::Conv(net) => net.into_record(),
            EnergyNet::Residual(net) => net.into_record(),
        }
    }

    /// Loads a record of [`Self::into_record`]'s form.
    pub fn try_load_record(self, record: ModuleRecord) -> Result<Self, burn::store::RecordError> {
        Ok(match self {
            EnergyNet::Conv(net) => EnergyNet::Conv(net.try_load_record(record)?),
            EnergyNet::Residual(net) => EnergyNet::Residual(net.try_load_record(record)?),
        })
    }

    /// A class-conditional net that starts where this unconditional one is (every class's
    /// energy begins as the single energy).
    pub fn into_conditional(self, classes: usize) -> EnergyNet {
        match self {
            EnergyNet::Conv(net) => EnergyNet::Conv(net.into_conditional(classes)),
            EnergyNet::Residual(net) => {
                assert!(net.classes() == 0 && classes >= 2, "needs an unconditional net and at least 2 classes");
                EnergyNet::Residual(net.into_conditional(classes))
            }
        }
    }

    /// The last layer: the class logits of a conditional CNN, the single output otherwise (the
    /// residual net's readout). Its input width is the features' ([`Self::features`]).
    pub fn head(&self) -> &Linear {
        match self {
            EnergyNet::Conv(net) => net.head(),
            EnergyNet::Residual(net) => net.readout(),
        }
    }

    /// Classes the net is conditioned on; 0 for an unconditional net.
    pub fn classes(&self) -> usize {
        match self {
            EnergyNet::Conv(net) => net.classes(),
            EnergyNet::Residual(net) => net.classes(),
        }
    }

    /// Class logits of the last layer, the classifier p(y | x) of a conditional CNN without
    /// levels (JEM); 0 otherwise (a linear probe classifies for the others).
    pub fn head_classes(&self) -> usize {
        match self {
            EnergyNet::Conv(net) => net.head_classes(),
            EnergyNet::Residual(_) => 0,
        }
    }

    /// Whether the net is spectrally normalised.
    pub fn has_spectral_norm(&self) -> bool {
        self.conv().is_some_and(ConvNet::has_spectral_norm)
    }

    /// The same energy with any normalisation done once ([`ConvNet::baked`]).
    pub fn baked(&self) -> EnergyNet {
        match self {
            EnergyNet::Conv(net) => EnergyNet::Conv(net.baked()),
            EnergyNet::Residual(_) => self.clone(),
        }
    }

    /// Noise levels of a level-conditioned CNN; 0 otherwise (the residual net's levels are
    /// continuous).
    pub fn levels(&self) -> usize {
        self.conv().map_or(0, ConvNet::levels)
    }

    /// Hidden width: the CNN's second convolution's channels, the residual net's stem's.
    pub fn width(&self) -> usize {
        match self {
            EnergyNet::Conv(net) => net.width(),
            EnergyNet::Residual(net) => net.width(),
        }
    }

    /// σ = [`SCORE_SIGMA`] for each of `n` images.
    fn score_sigma(n: usize, device: &Device) -> Tensor<1> {
        Tensor::from_data(TensorData::new(vec![SCORE_SIGMA; n], [n]), device)
    }

    /// The penultimate layer's activations for images in [-1, 1] → [N, features]: what the
    /// last layer reads linearly and a [`ClassProbe`] is fitted on (a recovery net's at level 0,
    /// a denoising net's at σ_min; any class).
    pub fn features(&self, x: Tensor<4>) -> Tensor<2> {
        match self {
            EnergyNet::Conv(net) => net.features(x),
            EnergyNet::Residual(net) => {
                let sigma = Self::score_sigma(x.dims()[0], &x.device());
                net.energy_and_features(x, sigma, None).1
            }
        }
    }

    /// The last layer's outputs, [N, max(head classes, 1)].
    pub fn logits(&self, x: Tensor<4>) -> Tensor<2> {
        match self {
            EnergyNet::Conv(net) => net.logits(x),
            EnergyNet::Residual(_) => self.forward(x).unsqueeze_dim(1),
        }
    }

    /// The network's output −E(x), shape [N]: a recovery net's f(x, 0), a denoising net's
    /// −E(x, σ_min).
    pub fn forward(&self, x: Tensor<4>) -> Tensor<1> {
        match self {
            EnergyNet::Conv(net) => net.forward(x),
            EnergyNet::Residual(net) => {
                let sigma = Self::score_sigma(x.dims()[0], &x.device());
                net.energy(x, sigma, None).neg()
            }
        }
    }

    /// f(y, t) of a level-conditioned CNN for each image and its level (any other net ignores
    /// the levels and gives [`Self::forward`]).
    pub fn forward_at(&self, x: Tensor<4>, levels: &Levels) -> Tensor<1> {
        self.forward_at_given(x, levels, None)
    }

    /// f(y, t, k) of a class-conditional level CNN (`labels` `None`: any class).
    pub fn forward_at_given(&self, x: Tensor<4>, levels: &Levels, labels: Option<&Labels>) -> Tensor<1> {
        match self {
            EnergyNet::Conv(net) => net.forward_at_given(x, levels, labels),
            EnergyNet::Residual(_) => match labels {
                Some(labels) => self.forward_given(x, labels.clone()),
                None => self.forward(x),
            },
        }
    }

    /// Energy E(x) = −forward(x): lower means more likely.
    pub fn energy(&self, x: Tensor<4>) -> Tensor<1> {
        self.forward(x).neg()
    }

    /// −E(x, y) for one label per image; an unconditional net ignores the labels.
    pub fn forward_given(&self, x: Tensor<4>, labels: Tensor<1, Int>) -> Tensor<1> {
        match self {
            EnergyNet::Conv(net) => net.forward_given(x, labels),
            EnergyNet::Residual(net) if net.classes() > 0 => {
                let sigma = Self::score_sigma(x.dims()[0], &x.device());
                net.energy(x, sigma, Some(&labels)).neg()
            }
            EnergyNet::Residual(_) => self.forward(x),
        }
    }

    /// Energy E(x, y) of images under their labels.
    pub fn energy_given(&self, x: Tensor<4>, labels: Tensor<1, Int>) -> Tensor<1> {
        self.forward_given(x, labels).neg()
    }

    /// log p(y | x) for every class, [N, classes] (a conditional CNN without levels; a net
    /// without a head classifier gives one column of zeros).
    pub fn class_log_probs(&self, x: Tensor<4>) -> Tensor<2> {
        match self {
            EnergyNet::Conv(net) => net.class_log_probs(x),
            EnergyNet::Residual(_) => Tensor::zeros([x.dims()[0], 1], &x.device()),
        }
    }
}
