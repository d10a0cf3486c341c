//! The energy net with its weights frozen, as plain channels-last arrays: one forward that
//! keeps what the backward needs (activations' slopes) and one hand-written backward to the
//! input. During Langevin the weights never change, so the autodiff graph, the weight
//! gradients and the per-operation tensor bookkeeping of the general path are all avoidable.

use burn::nn::Linear;
use burn::nn::conv::Conv2d;
use burn::prelude::*;

use super::conv::{Conv, matmul};
use super::fast_math::{swish_with_slope, times};
use crate::model::ConvNet;

/// A dense layer `y = x · weight + bias` with `weight` as `[inputs, outputs]` (burn's layout).
#[derive(Clone, Debug)]
pub struct Dense {
    pub inputs: usize,
    pub outputs: usize,
    pub weight: Vec<f32>,
    pub bias: Vec<f32>,
}

impl Dense {
    fn forward(&self, images: usize, x: &[f32], out: &mut [f32]) {
        for row in out[..images * self.outputs].chunks_exact_mut(self.outputs) {
            row.copy_from_slice(&self.bias);
        }
        matmul(images, self.outputs, self.inputs, out, true, &x[..images * self.inputs], &self.weight, false);
    }

    fn input_grad(&self, images: usize, grad_out: &[f32], grad_in: &mut [f32]) {
        matmul(images, self.inputs, self.outputs, grad_in, false, &grad_out[..images * self.outputs], &self.weight, true);
    }
}

/// Which energy the chains descend.
#[derive(Clone, Copy, Debug)]
pub enum Target<'a> {
    /// E(x): the single output, or −logsumexp of the class logits; a class-conditional level
    /// net's "any class" row.
    Marginal,
    /// E(x, y) = −logit_y(x), one label per image; a class-conditional level net's class rows.
    Class(&'a [i32]),
}

/// The net's weights in the layouts the CPU chains use.
#[derive(Clone, Debug)]
pub struct FrozenNet {
    pub convs: [Conv; 4],
    /// First dense layer with its input rows reordered from burn's NCHW flattening to NHWC.
    pub fc1: Dense,
    pub fc2: Dense,
    /// Class logits of the last layer ([`ConvNet::head_classes`]); 0 = one output.
    pub classes: usize,
    /// The noise-level conditioning of a recovery-recipe net.
    pub levels: Option<FrozenEmbedding>,
    /// A class-conditional level net's class conditioning (classes + 1 rows, the last "any class").
    pub labels: Option<FrozenEmbedding>,
}

/// A level-conditioned net's per-level or per-class parts ([`crate::model::Embedding`]).
#[derive(Clone, Debug)]
pub struct FrozenEmbedding {
    /// Number of rows: levels T, or classes + 1.
    pub rows: usize,
    /// [rows, channels] shifts of conv1…conv4 and fc1's pre-activations.
    pub shifts: [Vec<f32>; 5],
    /// [rows, features]: each row's part of the output weights.
    pub head: Vec<f32>,
}

impl FrozenEmbedding {
    fn of(embedding: &crate::model::Embedding) -> Self {
        let values = |t: Tensor<1>| t.into_data().convert::<f32>().try_into_vec::<f32>().expect("weights are floats");
        FrozenEmbedding {
            rows: embedding.rows(),
            shifts: std::array::from_fn(|i| values(embedding.shifts[i].val().flatten(0, 1))),
            head: values(embedding.head.val().flatten(0, 1)),
        }
    }

    /// The row of image `i` for each of `images` images (checked against the table).
    fn check(&self, rows: &[u32], images: usize, what: &str) {
        assert!(
            rows.len() >= images && rows[..images].iter().all(|&r| (r as usize) < self.rows),
            "a {what} outside the net's {}",
            self.rows
        );
    }

    /// dE/dh gains −head_row for each image's row (f gains ⟨h, head_row⟩).
    fn head_grad(&self, grad: &mut [f32], rows: &[u32], width: usize) {
        for (g, &r) in grad.chunks_exact_mut(width).zip(rows) {
            g.iter_mut().zip(&self.head[r as usize * width..(r as usize + 1) * width]).for_each(|(g, w)| *g -= w);
        }
    }
}

impl FrozenNet {
    /// `net`'s weights, read out into these layouts, for images of side `image_side` (a sync
    /// read: only for a net on the `flex` device, where reading never waits).
    pub fn of(net: &ConvNet, image_side: usize) -> FrozenNet {
        // The weights as used: spectral normalisation done once.
        let baked;
        let net = if net.has_spectral_norm() {
            baked = net.baked();
            &baked
        } else {
            net
        };
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
        let c1 = conv(&net.conv1, image_side, 4);
        let c2 = conv(&net.conv2, c1.out_side, 1);
        let c3 = conv(&net.conv3, c2.out_side, 1);
        let c4 = conv(&net.conv4, c3.out_side, 1);
        // burn flattens [N, C, H, W] channel-major; the CPU path keeps channels last.
        let mut fc1 = dense(&net.fc1);
        let (s, c) = (c4.out_side, c4.cout);
        let mut reordered = vec![0.0; fc1.weight.len()];
        for ch in 0..c {
            for p in 0..s * s {
                let (from, to) = ((ch * s * s + p) * fc1.outputs, (p * c + ch) * fc1.outputs);
                reordered[to..to + fc1.outputs].copy_from_slice(&fc1.weight[from..from + fc1.outputs]);
            }
        }
        fc1.weight = reordered;
        FrozenNet {
            convs: [c1, c2, c3, c4],
            fc1,
            fc2: dense(&net.fc2),
            classes: net.head_classes(),
            levels: net.levels.as_ref().map(FrozenEmbedding::of),
            labels: net.labels.as_ref().map(FrozenEmbedding::of),
        }
    }
}

/// Adds each image's row of `shifts` (its level's, or its class's) to its pre-activations `z` (`images` × `pixels` × `channels`).
fn add_level_shift(z: &mut [f32], shifts: &[f32], levels: &[u32], pixels: usize, channels: usize) {
    for (image, &level) in z.chunks_exact_mut(pixels * channels).zip(levels) {
        let shift = &shifts[level as usize * channels..(level as usize + 1) * channels];
        for pixel in image.chunks_exact_mut(channels) {
            pixel.iter_mut().zip(shift).for_each(|(v, s)| *v += s);
        }
    }
}

/// Scratch space for a tile of images, reused across steps so the loop allocates nothing.
pub struct Workspace {
    images: usize,
    cols: Vec<f32>,
    /// Activations after each layer (conv1..4, fc1) and the logits.
    acts: [Vec<f32>; 5],
    slopes: [Vec<f32>; 5],
    logits: Vec<f32>,
    grad_a: Vec<f32>,
    grad_b: Vec<f32>,
}

impl FrozenNet {
    /// Scratch space for up to `images` images at once.
    pub fn workspace(&self, images: usize) -> Workspace {
        let sizes = [self.convs[0].out_len(), self.convs[1].out_len(), self.convs[2].out_len(), self.convs[3].out_len(), self.fc1.outputs];
        let cols = self.convs.iter().map(|c| c.cols_len(images)).max().unwrap_or(0);
        let widest = sizes.iter().copied().chain([self.convs[0].in_len(), self.fc2.outputs]).max().unwrap_or(0);
        Workspace {
            images,
            cols: vec![0.0; cols],
            acts: sizes.map(|s| vec![0.0; s * images]),
            slopes: sizes.map(|s| vec![0.0; s * images]),
            logits: vec![0.0; self.fc2.outputs * images],
            grad_a: vec![0.0; widest * images],
            grad_b: vec![0.0; widest * images],
        }
    }

    /// Classes a chain's label may name: the head's logits, or a class-conditional level net's
    /// class rows (without "any class"); 0 = unconditional.
    pub fn label_classes(&self) -> usize {
        self.labels.as_ref().map_or(self.classes, |c| c.rows - 1)
    }

    /// Values of one input image (NHWC).
    pub fn image_len(&self) -> usize {
        self.convs[0].in_len()
    }

    /// ∇ₓE for `images` NHWC images `x`, written to `grad` (same layout), at each image's noise
    /// level for a level-conditioned net (`levels`: one per image; `None` = level 0); returns
    /// nothing else so the loop does no readback-like work it does not need.
    pub fn energy_grad(&self, images: usize, x: &[f32], target: Target, levels: Option<&[u32]>, ws: &mut Workspace, grad: &mut [f32]) {
        assert!(images <= ws.images, "workspace made for {} images, asked for {images}", ws.images);
        let clean: Vec<u32>;
        let level_of: Option<(&FrozenEmbedding, &[u32])> = match (&self.levels, levels) {
            (Some(l), Some(levels)) => Some((l, levels)),
            (Some(l), None) => {
                clean = vec![0; images];
                Some((l, &clean))
            }
            (None, _) => None,
        };
        if let Some((l, levels)) = level_of {
            l.check(levels, images, "level");
        }
        // A class-conditional level net: each image's class row ("any class" for E(x)).
        let class_rows: Vec<u32>;
        let class_of: Option<(&FrozenEmbedding, &[u32])> = match &self.labels {
            Some(c) => {
                class_rows = match target {
                    Target::Class(labels) => labels[..images].iter().map(|&k| k as u32).collect(),
                    Target::Marginal => vec![(c.rows - 1) as u32; images],
                };
                c.check(&class_rows, images, "class");
                Some((c, &class_rows))
            }
            None => None,
        };
        // Forward, keeping each activation's slope.
        for (layer, conv) in self.convs.iter().enumerate() {
            let (done, rest) = ws.acts.split_at_mut(layer);
            let input: &[f32] = if layer == 0 { x } else { &done[layer - 1] };
            conv.forward(images, input, &mut ws.cols, &mut rest[0]);
            let values = images * conv.out_len();
            for (e, rows) in level_of.iter().chain(&class_of) {
                add_level_shift(&mut rest[0][..values], &e.shifts[layer], rows, conv.out_side * conv.out_side, conv.cout);
            }
            swish_with_slope(&mut rest[0][..values], &mut ws.slopes[layer][..values]);
        }
        let (convs, fc) = ws.acts.split_at_mut(4);
        self.fc1.forward(images, &convs[3], &mut fc[0]);
        let hidden = images * self.fc1.outputs;
        for (e, rows) in level_of.iter().chain(&class_of) {
            add_level_shift(&mut fc[0][..hidden], &e.shifts[4], rows, 1, self.fc1.outputs);
        }
        swish_with_slope(&mut fc[0][..hidden], &mut ws.slopes[4][..hidden]);
        self.fc2.forward(images, &fc[0], &mut ws.logits);

        // dE/dlogits.
        let k = self.fc2.outputs;
        let g = &mut ws.grad_a[..images * k];
        for (i, (row, logits)) in g.chunks_exact_mut(k).zip(ws.logits.chunks_exact(k)).enumerate() {
            match target {
                Target::Class(labels) if self.classes > 0 => {
                    row.fill(0.0);
                    row[labels[i] as usize] = -1.0;
                }
                _ if self.classes == 0 => row[0] = -1.0,
                _ => {
                    // E = −logsumexp(logits) → dE/dlogit = −softmax.
                    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
                    let mut sum = 0.0;
                    for (r, &l) in row.iter_mut().zip(logits) {
                        *r = (l - max).exp();
                        sum += *r;
                    }
                    for r in row.iter_mut() {
                        *r = -*r / sum;
                    }
                }
            }
        }

        // Backward to the input.
        self.fc2.input_grad(images, &ws.grad_a, &mut ws.grad_b);
        for (e, rows) in level_of.iter().chain(&class_of) {
            e.head_grad(&mut ws.grad_b[..hidden], rows, self.fc1.outputs);
        }
        times(&mut ws.grad_b[..images * self.fc1.outputs], &ws.slopes[4]);
        self.fc1.input_grad(images, &ws.grad_b, &mut ws.grad_a);
        for layer in (0..4).rev() {
            let conv = &self.convs[layer];
            times(&mut ws.grad_a[..images * conv.out_len()], &ws.slopes[layer]);
            if layer == 0 {
                conv.input_grad(images, &ws.grad_a, &mut ws.cols, grad);
            } else {
                conv.input_grad(images, &ws.grad_a, &mut ws.cols, &mut ws.grad_b);
                std::mem::swap(&mut ws.grad_a, &mut ws.grad_b);
            }
        }
    }
}
