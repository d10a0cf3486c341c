//! The energy network of UvA DL tutorial 8: four stride-2 convolutions with Swish, then two
//! linear layers. The net outputs -E(x), so a high output means a likely image.

use burn::module::{ModuleVisitor, Param};
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::{Linear, LinearConfig, PaddingConfig2d};
use burn::prelude::*;
use burn::tensor::activation::silu;

use crate::config::EbmConfig;

/// Shape of the network; kept separate from [`EbmConfig`] so that weights files can say which
/// architecture they hold.
#[derive(serde::Serialize, serde::Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
pub struct NetShape {
    pub channels: usize,
    pub image_size: usize,
    pub width: usize,
}

impl From<&EbmConfig> for NetShape {
    fn from(c: &EbmConfig) -> Self {
        Self { channels: c.channels, image_size: c.image_size, width: c.width }
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
}

#[derive(Module, Debug)]
pub struct EnergyNet {
    conv1: Conv2d,
    conv2: Conv2d,
    conv3: Conv2d,
    conv4: Conv2d,
    fc1: Linear,
    fc2: Linear,
}

impl EnergyNet {
    pub fn new(shape: NetShape, device: &Device) -> Self {
        let (c1, c2, c3) = (shape.width / 2, shape.width, shape.width * 2);
        let conv = |cin: usize, cout: usize, k: usize, pad: usize| {
            Conv2dConfig::new([cin, cout], [k, k])
                .with_stride([2, 2])
                .with_padding(PaddingConfig2d::Explicit(pad, pad, pad, pad))
                .init(device)
        };
        let side = shape.final_side();
        let net = Self {
            // Padding 4 on the first layer turns 28×28 into 16×16, as in the reference.
            conv1: conv(shape.channels, c1, 5, 4),
            conv2: conv(c1, c2, 3, 1),
            conv3: conv(c2, c3, 3, 1),
            conv4: conv(c3, c3, 3, 1),
            fc1: LinearConfig::new(c3 * side * side, c3).init(device),
            fc2: LinearConfig::new(c3, 1).init(device),
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

    /// The network's output -E(x) for images in [-1, 1], shape [N, C, H, W] → [N].
    pub fn forward(&self, x: Tensor<4>) -> Tensor<1> {
        let x = silu(self.conv1.forward(x));
        let x = silu(self.conv2.forward(x));
        let x = silu(self.conv3.forward(x));
        let x = silu(self.conv4.forward(x));
        let [n, c, h, w] = x.dims();
        let x = silu(self.fc1.forward(x.reshape([n, c * h * w])));
        self.fc2.forward(x).reshape([n])
    }

    /// Energy E(x) = -forward(x): lower means more likely.
    pub fn energy(&self, x: Tensor<4>) -> Tensor<1> {
        self.forward(x).neg()
    }
}
