//! The energy network of UvA DL tutorial 8: four stride-2 convolutions with Swish, then two
//! linear layers. The net outputs -E(x), so a high output means a likely image.
//!
//! Class-conditional (JEM, Grathwohl et al. 2020): the last layer gives one logit per class,
//! E(x, y) = −logit_y(x), and the unconditional energy is E(x) = −logsumexp_y logit_y(x);
//! softmax of the logits is the classifier p(y | x).

use burn::module::{ModuleVisitor, Param};
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::{Linear, LinearConfig, PaddingConfig2d};
use burn::prelude::*;
use burn::tensor::activation::{log_softmax, silu};

use crate::config::EbmConfig;
use crate::cpu_chains::{Conv, Dense, FrozenNet};

mod average;
pub mod probe;
mod widen;
pub use average::{AverageError, averaged};
pub use probe::{ClassProbe, ProbeError};
pub use widen::{SYMMETRY_NOISE, WidenError};

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
}

impl From<&EbmConfig> for NetShape {
    fn from(c: &EbmConfig) -> Self {
        Self { channels: c.channels, image_size: c.image_size, width: c.width, classes: c.classes }
    }
}

impl NetShape {
    /// Side of the feature map after the four convolutions.
    pub fn final_side(&self) -> usize {
        let conv = |s: usize, k: usize, p: usize| (s + 2 * p - k) / 2 + 1;
        let s = conv(self.image_size, 5, 4);
        let s = conv(s, 3, 1);
        let s = conv(s, 3, 1);
        conv(s, 3, 1)
    }

    /// Length of the penultimate feature vector ([`EnergyNet::features`]): the last layer's input.
    pub fn feature_width(&self) -> usize {
        2 * self.width
    }
}

#[derive(Module, Debug)]
pub struct EnergyNet {
    /// 0 = unconditional; else the number of class logits.
    classes: usize,
    conv1: Conv2d,
    conv2: Conv2d,
    conv3: Conv2d,
    conv4: Conv2d,
    fc1: Linear,
    fc2: Linear,
}

impl EnergyNet {
    pub fn new(shape: NetShape, device: &Device) -> Self {
        let (c1, c2, c3) = (shape.width / 2, shape.width, shape.feature_width());
        let conv = |cin: usize, cout: usize, k: usize, pad: usize| {
            Conv2dConfig::new([cin, cout], [k, k])
                .with_stride([2, 2])
                .with_padding(PaddingConfig2d::Explicit(pad, pad, pad, pad))
                .init(device)
        };
        let side = shape.final_side();
        let net = Self {
            classes: shape.classes,
            // Padding 4 on the first layer turns 28×28 into 16×16, as in the reference.
            conv1: conv(shape.channels, c1, 5, 4),
            conv2: conv(c1, c2, 3, 1),
            conv3: conv(c2, c3, 3, 1),
            conv4: conv(c3, c3, 3, 1),
            fc1: LinearConfig::new(c3 * side * side, c3).init(device),
            fc2: LinearConfig::new(c3, shape.classes.max(1)).init(device),
        };
        // burn initialises parameters lazily, on first use; do it now so the initial weights
        // come from the random stream as seeded at construction, not whenever the net first runs.
        net.initialise_now();
        net
    }

    fn initialise_now(&self) {
        struct Touch;
        impl ModuleVisitor for Touch {
            fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
                let _ = param.val();
            }
        }
        self.visit(&mut Touch);
    }

    /// A class-conditional net that starts where this unconditional one is: every class logit
    /// begins as the single output, so E(x, y) = E(x) for all y at first and training only has
    /// to learn what tells the classes apart (a warm start for conditional fine-tuning).
    pub fn into_conditional(self, classes: usize) -> EnergyNet {
        assert!(self.classes == 0 && classes >= 2, "needs an unconditional net and at least 2 classes");
        let fc2 = Linear {
            weight: Param::from_tensor(self.fc2.weight.val().repeat_dim(1, classes)),
            bias: self.fc2.bias.map(|b| Param::from_tensor(b.val().repeat_dim(0, classes))),
        };
        EnergyNet { classes, fc2, ..self }
    }

    /// The weights, read out into the layouts of the CPU Langevin path, for images of side
    /// `image_side` (a sync read: only for a net on the `flex` device, where reading never waits).
    pub fn frozen(&self, image_side: usize) -> FrozenNet {
        let values = |t: Tensor<1>| t.into_data().convert::<f32>().try_into_vec::<f32>().expect("weights are floats");
        let conv = |layer: &Conv2d, in_side: usize, pad: usize| {
            let [cout, cin, k, _] = layer.weight.dims();
            let bias = layer.bias.as_ref().map_or(vec![0.0; cout], |b| values(b.val()));
            Conv::from_burn(&values(layer.weight.val().flatten(0, 3)), &bias, cin, cout, k, pad, in_side)
        };
        let dense = |layer: &Linear| {
            let [inputs, outputs] = layer.weight.dims();
            let bias = layer.bias.as_ref().map_or(vec![0.0; outputs], |b| values(b.val()));
            Dense { inputs, outputs, weight: values(layer.weight.val().flatten(0, 1)), bias }
        };
        let c1 = conv(&self.conv1, image_side, 4);
        let c2 = conv(&self.conv2, c1.out_side, 1);
        let c3 = conv(&self.conv3, c2.out_side, 1);
        let c4 = conv(&self.conv4, c3.out_side, 1);
        // burn flattens [N, C, H, W] channel-major; the CPU path keeps channels last.
        let mut fc1 = dense(&self.fc1);
        let (s, c) = (c4.out_side, c4.cout);
        let mut reordered = vec![0.0; fc1.weight.len()];
        for ch in 0..c {
            for p in 0..s * s {
                let (from, to) = ((ch * s * s + p) * fc1.outputs, (p * c + ch) * fc1.outputs);
                reordered[to..to + fc1.outputs].copy_from_slice(&fc1.weight[from..from + fc1.outputs]);
            }
        }
        fc1.weight = reordered;
        FrozenNet { convs: [c1, c2, c3, c4], fc1, fc2: dense(&self.fc2), classes: self.classes }
    }

    /// The last layer: the class logits of a conditional net (the single output otherwise).
    pub fn head(&self) -> &Linear {
        &self.fc2
    }

    /// Number of class logits; 0 for an unconditional net.
    pub fn classes(&self) -> usize {
        self.classes
    }

    /// The penultimate layer's activations for images in [-1, 1], shape [N, C, H, W] →
    /// [N, 2·width]: what the last layer (the energy, the class logits) reads linearly, and
    /// what a [`ClassProbe`] is fitted on.
    pub fn features(&self, x: Tensor<4>) -> Tensor<2> {
        let x = silu(self.conv1.forward(x));
        let x = silu(self.conv2.forward(x));
        let x = silu(self.conv3.forward(x));
        let x = silu(self.conv4.forward(x));
        let [n, c, h, w] = x.dims();
        silu(self.fc1.forward(x.reshape([n, c * h * w])))
    }

    /// The last layer's outputs for images in [-1, 1], shape [N, C, H, W] → [N, max(classes, 1)].
    pub fn logits(&self, x: Tensor<4>) -> Tensor<2> {
        self.fc2.forward(self.features(x))
    }

    /// The network's output -E(x), shape [N]: the single output, or logsumexp of the logits.
    pub fn forward(&self, x: Tensor<4>) -> Tensor<1> {
        let logits = self.logits(x);
        let n = logits.dims()[0];
        if self.classes == 0 { logits.reshape([n]) } else { log_sum_exp(logits) }
    }

    /// Energy E(x) = -forward(x): lower means more likely.
    pub fn energy(&self, x: Tensor<4>) -> Tensor<1> {
        self.forward(x).neg()
    }

    /// −E(x, y) = logit_y(x) for one label per image; an unconditional net ignores the labels.
    pub fn forward_given(&self, x: Tensor<4>, labels: Tensor<1, Int>) -> Tensor<1> {
        if self.classes == 0 {
            return self.forward(x);
        }
        let n = labels.dims()[0];
        self.logits(x).gather(1, labels.reshape([n, 1])).reshape([n])
    }

    /// Energy E(x, y) of images under their labels.
    pub fn energy_given(&self, x: Tensor<4>, labels: Tensor<1, Int>) -> Tensor<1> {
        self.forward_given(x, labels).neg()
    }

    /// log p(y | x) for every class, shape [N, classes] (conditional nets only).
    pub fn class_log_probs(&self, x: Tensor<4>) -> Tensor<2> {
        log_softmax(self.logits(x), 1)
    }
}

/// log Σ exp over dim 1 of [N, K] → [N], shifted by the (constant) row maximum for stability.
fn log_sum_exp(logits: Tensor<2>) -> Tensor<1> {
    let n = logits.dims()[0];
    let max = logits.clone().max_dim(1).detach();
    (logits - max.clone()).exp().sum_dim(1).log().add(max).reshape([n])
}
