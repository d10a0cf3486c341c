//! The energy net with its weights frozen, as plain channels-last arrays: one forward that
//! keeps what the backward needs (activations' slopes) and one hand-written backward to the
//! input. During Langevin the weights never change, so the autodiff graph, the weight
//! gradients and the per-operation tensor bookkeeping of the general path are all avoidable.

use super::conv::{Conv, matmul};
use super::fast_math::{swish_with_slope, times};

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
    /// E(x): the single output, or −logsumexp of the class logits.
    Marginal,
    /// E(x, y) = −logit_y(x), one label per image.
    Class(&'a [i32]),
}

/// The net's weights in the layouts the CPU chains use.
#[derive(Clone, Debug)]
pub struct FrozenNet {
    pub convs: [Conv; 4],
    /// First dense layer with its input rows reordered from burn's NCHW flattening to NHWC.
    pub fc1: Dense,
    pub fc2: Dense,
    /// 0 = unconditional.
    pub classes: usize,
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

    /// Values of one input image (NHWC).
    pub fn image_len(&self) -> usize {
        self.convs[0].in_len()
    }

    /// ∇ₓE for `images` NHWC images `x`, written to `grad` (same layout); returns nothing else
    /// so the loop does no readback-like work it does not need.
    pub fn energy_grad(&self, images: usize, x: &[f32], target: Target, ws: &mut Workspace, grad: &mut [f32]) {
        assert!(images <= ws.images, "workspace made for {} images, asked for {images}", ws.images);
        // Forward, keeping each activation's slope.
        for (layer, conv) in self.convs.iter().enumerate() {
            let (done, rest) = ws.acts.split_at_mut(layer);
            let input: &[f32] = if layer == 0 { x } else { &done[layer - 1] };
            conv.forward(images, input, &mut ws.cols, &mut rest[0]);
            let values = images * conv.out_len();
            swish_with_slope(&mut rest[0][..values], &mut ws.slopes[layer][..values]);
        }
        let (convs, fc) = ws.acts.split_at_mut(4);
        self.fc1.forward(images, &convs[3], &mut fc[0]);
        swish_with_slope(&mut fc[0][..images * self.fc1.outputs], &mut ws.slopes[4][..images * self.fc1.outputs]);
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
