//! The energy network of UvA DL tutorial 8 (the contrastive and recovery recipes): four stride-2
//! convolutions with Swish, then two linear layers. The net outputs -E(x), so a high output
//! means a likely image.
//!
//! Class-conditional (JEM, Grathwohl et al. 2020): the last layer gives one logit per class,
//! E(x, y) = −logit_y(x), and the unconditional energy is E(x) = −logsumexp_y logit_y(x);
//! softmax of the logits is the classifier p(y | x).
//!
//! Level-conditioned (the recovery recipe, [`crate::recovery`]): one energy f(y, t) per noise
//! level t, from a learned shift of every layer's pre-activations per level and a per-level
//! part of the last layer ([`Embedding`]); f(x, 0) is the energy of a clean image. A
//! class-conditional one adds a second embedding of the same form beside it, one row per class
//! and one for "any class": f(y, t, k), and f(y, t) is its "any class" row (trained on a share
//! of the images with their label dropped, so one net samples both ways).

use burn::module::Param;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::{Linear, LinearConfig, PaddingConfig2d};
use burn::prelude::*;
use burn::tensor::activation::{log_softmax, silu};
use burn::tensor::{Int, TensorData};

use super::{Labels, Levels, NetShape, spectral};

#[derive(Module, Debug)]
pub struct ConvNet {
    /// 0 = unconditional; else the number of class logits.
    pub(crate) classes: usize,
    pub(crate) conv1: Conv2d,
    pub(crate) conv2: Conv2d,
    pub(crate) conv3: Conv2d,
    pub(crate) conv4: Conv2d,
    pub(crate) fc1: Linear,
    pub(crate) fc2: Linear,
    /// The noise-level conditioning of a recovery-recipe net; `None` for one energy.
    pub(crate) levels: Option<Embedding>,
    /// A class-conditional recovery-recipe net's class conditioning: `classes` + 1 rows, the
    /// last one "any class". `None` otherwise (a conditional net without levels has one logit
    /// per class instead).
    pub(crate) labels: Option<Embedding>,
    /// conv1…conv4 and fc1 are used divided by their largest singular value ([`spectral`]).
    pub(crate) spectral_norm: bool,
}

/// What makes the energy depend on a condition — the noise level t (of T), or the class: a
/// learned shift of each layer's pre-activations per row (the prototype's per-level embedding;
/// it starts at 0, so every level, every class, begins as the same energy) and a per-row vector
/// added to the last layer's weights (f(h, t) = fc2(h) + ⟨h, head_t⟩, also 0 at first).
#[derive(Module, Debug)]
pub struct Embedding {
    /// [rows, channels] shifts of conv1…conv4 and fc1, in that order.
    pub(crate) shifts: Vec<Param<Tensor<2>>>,
    /// [rows, features]: each row's part of the output weights.
    pub(crate) head: Param<Tensor<2>>,
}

impl Embedding {
    fn new(rows: usize, widths: [usize; 5], device: &Device) -> Self {
        let zeros = |c: usize| Param::from_tensor(Tensor::zeros([rows, c], device));
        Self { shifts: widths.iter().map(|&c| zeros(c)).collect(), head: zeros(widths[4]) }
    }

    /// Number of rows (levels T, or classes + 1).
    pub fn rows(&self) -> usize {
        self.head.dims()[0]
    }

    /// Layer `layer`'s shift for each image's row: [N, channels].
    fn shift(&self, layer: usize, rows: &Tensor<1, Int>) -> Tensor<2> {
        self.shifts[layer].val().select(0, rows.clone())
    }

    /// ⟨h, head_row⟩ for each image: [N].
    fn head_term(&self, h: Tensor<2>, rows: &Tensor<1, Int>) -> Tensor<1> {
        let n = h.dims()[0];
        (h * self.head.val().select(0, rows.clone())).sum_dim(1).reshape([n])
    }
}

/// The conditions of each image of a level-conditioned net: its level, and its class when the
/// net is class-conditional (`None`: "any class").
#[derive(Clone, Copy)]
struct Rows<'a> {
    levels: &'a Levels,
    labels: Option<&'a Labels>,
}

impl ConvNet {
    pub fn new(shape: NetShape, device: &Device) -> Self {
        let (c1, c2, c3) = (shape.width / 2, shape.width, shape.feature_width());
        let conv = |cin: usize, cout: usize, k: usize, pad: usize| {
            Conv2dConfig::new([cin, cout], [k, k])
                .with_stride([2, 2])
                .with_padding(PaddingConfig2d::Explicit(pad, pad, pad, pad))
                .init(device)
        };
        let side = shape.final_side();
        let widths = [c1, c2, c3, c3, c3];
        let levels = (shape.levels > 0).then(|| Embedding::new(shape.levels, widths, device));
        let labels = (shape.levels > 0 && shape.classes > 0).then(|| Embedding::new(shape.classes + 1, widths, device));
        let net = Self {
            classes: shape.classes,
            // Padding 4 on the first layer turns 28×28 into 16×16, as in the reference.
            conv1: conv(shape.channels, c1, 5, 4),
            conv2: conv(c1, c2, 3, 1),
            conv3: conv(c2, c3, 3, 1),
            conv4: conv(c3, c3, 3, 1),
            fc1: LinearConfig::new(c3 * side * side, c3).init(device),
            fc2: LinearConfig::new(c3, head_outputs(&shape)).init(device),
            levels,
            labels,
            spectral_norm: shape.spectral_norm,
        };
        super::initialise_now(&net);
        net
    }

    /// A class-conditional net that starts where this unconditional one is: every class logit
    /// begins as the single output (a level-conditioned net: every class row of the new class
    /// embedding begins at 0), so E(x, y) = E(x) for all y at first and training only has to
    /// learn what tells the classes apart (a warm start for conditional fine-tuning).
    pub fn into_conditional(self, classes: usize) -> ConvNet {
        assert!(self.classes == 0 && classes >= 2, "needs an unconditional net and at least 2 classes");
        if self.levels.is_some() {
            let device = self.fc2.weight.device();
            let widths = [
                self.conv1.weight.dims()[0],
                self.conv2.weight.dims()[0],
                self.conv3.weight.dims()[0],
                self.conv4.weight.dims()[0],
                self.fc1.weight.dims()[1],
            ];
            return ConvNet { classes, labels: Some(Embedding::new(classes + 1, widths, &device)), ..self };
        }
        let fc2 = Linear {
            weight: Param::from_tensor(self.fc2.weight.val().repeat_dim(1, classes)),
            bias: self.fc2.bias.map(|b| Param::from_tensor(b.val().repeat_dim(0, classes))),
        };
        ConvNet { classes, fc2, ..self }
    }

    /// The last layer: the class logits of a conditional net (the single output otherwise).
    pub fn head(&self) -> &Linear {
        &self.fc2
    }

    /// Classes the net is conditioned on; 0 for an unconditional net.
    pub fn classes(&self) -> usize {
        self.classes
    }

    /// Class logits of the last layer, the classifier p(y | x) of a conditional net without
    /// levels (JEM); 0 otherwise — a level-conditioned net's classes are an embedding, and a
    /// linear probe classifies for it.
    pub fn head_classes(&self) -> usize {
        if self.levels.is_some() { 0 } else { self.classes }
    }

    /// `layer` as used: spectrally normalised when the net is (the normalised weight keeps the
    /// parameter's graph, so its gradient reaches the parameter).
    fn conv(&self, layer: &Conv2d) -> Conv2d {
        if !self.spectral_norm {
            return layer.clone();
        }
        Conv2d { weight: Param::initialized(layer.weight.id, spectral::normalised(layer.weight.val())), ..layer.clone() }
    }

    /// `layer` as used: spectrally normalised when the net is.
    fn dense(&self, layer: &Linear) -> Linear {
        if !self.spectral_norm {
            return layer.clone();
        }
        Linear { weight: Param::initialized(layer.weight.id, spectral::normalised(layer.weight.val())), ..layer.clone() }
    }

    /// Whether the net is spectrally normalised.
    pub fn has_spectral_norm(&self) -> bool {
        self.spectral_norm
    }

    /// The same energy with the normalisation done once: a net whose weights are the normalised
    /// ones (parameter ids kept, no gradient), for Langevin chains, which then pay nothing per
    /// step for it. A net without spectral norm is returned as it is.
    pub fn baked(&self) -> ConvNet {
        if !self.spectral_norm {
            return self.clone();
        }
        let conv = |layer: &Conv2d| Conv2d {
            weight: Param::initialized(layer.weight.id, spectral::normalised(layer.weight.val()).detach()),
            ..layer.clone()
        };
        let dense = |layer: &Linear| Linear {
            weight: Param::initialized(layer.weight.id, spectral::normalised(layer.weight.val()).detach()),
            ..layer.clone()
        };
        ConvNet {
            conv1: conv(&self.conv1),
            conv2: conv(&self.conv2),
            conv3: conv(&self.conv3),
            conv4: conv(&self.conv4),
            fc1: dense(&self.fc1),
            spectral_norm: false,
            ..self.clone()
        }
    }

    /// Noise levels of a level-conditioned net; 0 for one energy.
    pub fn levels(&self) -> usize {
        self.levels.as_ref().map_or(0, Embedding::rows)
    }

    /// Level 0 for each of `n` images: what a level-conditioned net scores clean images at.
    fn clean(&self, n: usize, device: &Device) -> Option<Levels> {
        self.levels.as_ref().map(|_| Tensor::zeros([n], device))
    }

    /// The penultimate layer's activations for images in [-1, 1], shape [N, C, H, W] →
    /// [N, 2·width]: what the last layer (the energy, the class logits) reads linearly, and
    /// what a [`ClassProbe`] is fitted on. A level-conditioned net gives those of level 0 (for
    /// any class).
    pub fn features(&self, x: Tensor<4>) -> Tensor<2> {
        let n = x.dims()[0];
        let Some(levels) = self.clean(n, &x.device()) else { return self.features_at(x, None) };
        let any = self.class_rows(n, None, &x.device());
        self.features_at(x, Some(Rows { levels: &levels, labels: any.as_ref() }))
    }

    /// [`Self::features`] under each image's conditions (`None`: a net without levels; the
    /// labels already resolved by [`Self::class_rows`]).
    fn features_at(&self, x: Tensor<4>, rows: Option<Rows>) -> Tensor<2> {
        let shift = |layer: usize| -> Option<Tensor<2>> {
            let (Some(levels), Some(rows)) = (&self.levels, rows) else { return None };
            let by_level = levels.shift(layer, rows.levels);
            Some(match (&self.labels, rows.labels) {
                (Some(classes), Some(k)) => by_level + classes.shift(layer, k),
                _ => by_level,
            })
        };
        let shift_map = |layer: usize, x: Tensor<4>| match shift(layer) {
            Some(s) => {
                let [n, c, _, _] = x.dims();
                x + s.reshape([n, c, 1, 1])
            }
            None => x,
        };
        let x = silu(shift_map(0, self.conv(&self.conv1).forward(x)));
        let x = silu(shift_map(1, self.conv(&self.conv2).forward(x)));
        let x = silu(shift_map(2, self.conv(&self.conv3).forward(x)));
        let x = silu(shift_map(3, self.conv(&self.conv4).forward(x)));
        let [n, c, h, w] = x.dims();
        let h = self.dense(&self.fc1).forward(x.reshape([n, c * h * w]));
        silu(match shift(4) {
            Some(s) => h + s,
            None => h,
        })
    }

    /// The class rows of `n` images of a class-conditional level net: `labels`, or the "any
    /// class" row when there are none; `None` for any other net.
    fn class_rows(&self, n: usize, labels: Option<&Labels>, device: &Device) -> Option<Labels> {
        self.labels.as_ref()?;
        Some(match labels {
            Some(k) => k.clone(),
            None => Tensor::from_data(TensorData::new(vec![self.classes as i32; n], [n]), device),
        })
    }

    /// The last layer's outputs for images in [-1, 1], shape [N, C, H, W] → [N, max(classes, 1)].
    pub fn logits(&self, x: Tensor<4>) -> Tensor<2> {
        self.fc2.forward(self.features(x))
    }

    /// The network's output -E(x), shape [N]: the single output, or logsumexp of the logits;
    /// for a level-conditioned net, f(x, 0).
    pub fn forward(&self, x: Tensor<4>) -> Tensor<1> {
        if self.levels.is_some() {
            let levels = self.clean(x.dims()[0], &x.device()).expect("a level-conditioned net");
            return self.forward_at(x, &levels);
        }
        let logits = self.logits(x);
        let n = logits.dims()[0];
        if self.classes == 0 { logits.reshape([n]) } else { log_sum_exp(logits) }
    }

    /// f(y, t) of a level-conditioned net for each image and its level (a net without levels
    /// ignores them and gives [`Self::forward`]); a class-conditional one gives its "any class"
    /// energy.
    pub fn forward_at(&self, x: Tensor<4>, levels: &Levels) -> Tensor<1> {
        self.forward_at_given(x, levels, None)
    }

    /// f(y, t, k) of a class-conditional level net for each image, its level and its class
    /// (`labels` `None`, or a net without classes: f(y, t)).
    pub fn forward_at_given(&self, x: Tensor<4>, levels: &Levels, labels: Option<&Labels>) -> Tensor<1> {
        let Some(embedding) = &self.levels else { return self.forward(x) };
        let n = x.dims()[0];
        let classes = self.class_rows(n, labels, &x.device());
        let h = self.features_at(x, Some(Rows { levels, labels: classes.as_ref() }));
        let out = self.fc2.forward(h.clone()).reshape([n]) + embedding.head_term(h.clone(), levels);
        match (&self.labels, &classes) {
            (Some(embedding), Some(k)) => out + embedding.head_term(h, k),
            _ => out,
        }
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
        if let Some(levels) = self.clean(x.dims()[0], &x.device()) {
            return self.forward_at_given(x, &levels, Some(&labels));
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

/// Outputs of the last layer: one per class for a conditional net without levels, else one.
fn head_outputs(shape: &NetShape) -> usize {
    if shape.levels > 0 { 1 } else { shape.classes.max(1) }
}

/// log Σ exp over dim 1 of [N, K] → [N], shifted by the (constant) row maximum for stability.
fn log_sum_exp(logits: Tensor<2>) -> Tensor<1> {
    let n = logits.dims()[0];
    let max = logits.clone().max_dim(1).detach();
    (logits - max.clone()).exp().sum_dim(1).log().add(max).reshape([n])
}
